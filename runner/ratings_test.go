package runner_test

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/persona-runner/persona-runner/runner"
)

func TestParseRatings(t *testing.T) {
	t.Parallel()
	used := []string{"todo", "notes"}
	for _, tc := range []struct {
		name, reply string
		want        []string // "module rating"
	}{
		{"plain", `{"ratings":[{"module":"todo","rating":4,"notes":"ok"},{"module":"notes","rating":2}]}`, []string{"todo 4", "notes 2"}},
		{"fenced with prose", "Sure!\n```json\n{\"ratings\":[{\"module\":\"Todo\",\"rating\":3.6}]}\n```\nBye {", []string{"todo 4"}},
		{"clamped", `{"ratings":[{"module":"todo","rating":0},{"module":"notes","rating":12}]}`, []string{"todo 1", "notes 5"}},
		{"numeric string", `{"ratings":[{"module":"todo","rating":"5"}]}`, []string{"todo 5"}},
		{"unused module ignored", `{"ratings":[{"module":"calendar","rating":5},{"module":"todo","rating":4},{"module":"todo","rating":1}]}`, []string{"todo 4"}},
		{"prose", "It was fine, I guess.", []string{"__parse 3"}},
		{"invalid json", `{"ratings":[{"module":"todo",}]}`, []string{"__parse 3"}},
		{"non-numeric", `{"ratings":[{"module":"todo","rating":"four"}]}`, []string{"__parse 3"}},
		{"missing ratings", `{"rating":4}`, []string{"__parse 3"}},
		{"empty list", `{"ratings":[]}`, []string{"__parse 3"}},
		{"one bad among good", `{"ratings":[{"module":"todo","rating":4},{"module":"notes","rating":null}]}`, []string{"todo 4", "__parse 3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := runner.ParseRatings(tc.reply, used)
			var short []string
			for _, r := range got {
				short = append(short, r.Module+" "+string(rune('0'+r.Rating)))
			}
			if diff := cmp.Diff(tc.want, short); diff != "" {
				t.Errorf("(-want +got):\n%s\n%+v", diff, got)
			}
		})
	}
	long := strings.Repeat("é", 1500)
	got := runner.ParseRatings(`{"ratings":[{"module":"todo","rating":4,"notes":"`+long+`"}]}`, used)
	if n := utf8.RuneCountInString(got[0].Notes); n != 1000 {
		t.Errorf("notes cut to %d characters, want 1000", n)
	}
}

func FuzzParseRatings(f *testing.F) {
	for _, s := range []string{
		`{"ratings":[{"module":"todo","rating":4,"notes":"ok"}]}`, "```json\n{\"ratings\":[]}\n```", "prose only",
		`{"ratings":[{"module":"notes","rating":"x"}]}`, `{"ratings":{}}`, `}{`, `{"ratings":[{"module":"todo","rating":1e308}]}`,
		"{\"ratings\":[{\"module\":\"todo\",\"rating\":2,\"notes\":\"\\u0000\xff\"}]}",
	} {
		f.Add(s)
	}
	used := []string{"todo", "notes"}
	f.Fuzz(func(t *testing.T, reply string) {
		got := runner.ParseRatings(reply, used)
		if len(got) == 0 {
			t.Fatal("no rows")
		}
		seen := map[string]bool{}
		for _, r := range got {
			if r.Rating < 1 || r.Rating > 5 {
				t.Errorf("rating %d out of range", r.Rating)
			}
			if utf8.RuneCountInString(r.Notes) > 1000 || !utf8.ValidString(r.Notes) || strings.ContainsRune(r.Notes, 0) {
				t.Errorf("notes %q", r.Notes)
			}
			if r.Module != runner.ParseModule && !slices.Contains(used, r.Module) {
				t.Errorf("module %q was not used", r.Module)
			}
			if seen[r.Module] {
				t.Errorf("module %q twice", r.Module)
			}
			seen[r.Module] = true
		}
	})
}
