package model_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/persona-runner/persona-runner/model"
)

func TestWireArgsAndArgs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		wire    string
		stored  string
		args    map[string]any
		errText string
		back    string
	}{
		{wire: `{"title":"milk"}`, stored: `{"title":"milk"}`, args: map[string]any{"title": "milk"}, back: `{"title":"milk"}`},
		{wire: ``, stored: `{}`, args: map[string]any{}, back: `{}`},
		{wire: `null`, stored: `{}`, args: map[string]any{}, back: `{}`},
		{wire: `{"title": "mi`, stored: `"{\"title\": \"mi"`, errText: `tool call todo_create: arguments are not a JSON object: "{\"title\": \"mi"`, back: `{"title": "mi`},
		{wire: `[1,2]`, stored: `"[1,2]"`, errText: "not a JSON object", back: `[1,2]`},
	} {
		stored := model.WireArgs([]byte(tc.wire))
		if string(stored) != tc.stored {
			t.Errorf("WireArgs(%q) = %s, want %s", tc.wire, stored, tc.stored)
		}
		if !json.Valid(stored) {
			t.Errorf("WireArgs(%q) = %s is not valid JSON", tc.wire, stored)
		}
		args, err := model.ToolCall{Name: "todo_create", Input: stored}.Args()
		if tc.errText != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errText) {
				t.Errorf("Args(%s) error = %v, want %q", stored, err, tc.errText)
			}
		} else if err != nil || !cmp.Equal(args, tc.args) {
			t.Errorf("Args(%s) = %v, %v; want %v", stored, args, err, tc.args)
		}
		if back := model.ArgsText(stored); back != tc.back {
			t.Errorf("ArgsText(%s) = %q, want %q", stored, back, tc.back)
		}
	}
}

func TestFillCallIDs(t *testing.T) {
	t.Parallel()
	calls := []model.ToolCall{
		{Name: "a", Input: json.RawMessage(`{}`)},
		{ID: "keep", Name: "b"},
		{ID: "keep", Name: "c"},
		{Name: "a", Input: json.RawMessage(`{}`)},
	}
	model.FillCallIDs(calls, "resp-1/3")
	ids := map[string]bool{}
	for _, c := range calls {
		if c.ID == "" || ids[c.ID] {
			t.Errorf("id %q empty or repeated in %+v", c.ID, calls)
		}
		ids[c.ID] = true
	}
	if calls[1].ID != "keep" || !strings.HasPrefix(calls[0].ID, "call_") {
		t.Errorf("ids = %v", calls)
	}
	again := []model.ToolCall{{Name: "a", Input: json.RawMessage(`{}`)}}
	model.FillCallIDs(again, "resp-1/3")
	if again[0].ID != calls[0].ID {
		t.Errorf("ids are not stable: %q vs %q", again[0].ID, calls[0].ID)
	}
	other := []model.ToolCall{{Name: "a", Input: json.RawMessage(`{}`)}}
	model.FillCallIDs(other, "resp-1/5")
	if other[0].ID == calls[0].ID {
		t.Errorf("a later turn got the same id %q", other[0].ID)
	}
}
