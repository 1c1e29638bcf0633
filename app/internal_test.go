package app

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store/sqlite"
)

// The destructive and admin tools are never reachable over MCP; these tests show that they are
// real tools all the same, which is what makes hiding them meaningful.
func TestHiddenToolsWork(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	id, _, err := st.UpsertPersona(ctx, persona.PersonaInput{Email: "p@mana.test", Password: "pw", Archetype: "a",
		SystemPrompt: "a persona for the hidden tools test", ModuleMix: persona.ModuleMix{"notes": 1}})
	if err != nil {
		t.Fatal(err)
	}
	spaces, err := st.SpacesOfUser(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	tables, name := st.AppTables()
	d, _ := dialectFor(name)
	reg := newRegistry(allTools(&deps{db: newSQLDB(tables, d), store: st, now: time.Now})...)
	cctx := WithCaller(ctx, Caller{UserID: id, SpaceID: spaces[0].ID})
	run := func(name, args string) map[string]any {
		t.Helper()
		tl := reg.byName[name]
		valid, err := validateArgs(tl.fields, json.RawMessage(args))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out, err := tl.run(cctx, valid)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		raw, _ := json.Marshal(out)
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		return m
	}
	run("notes.create", `{"title":"a"}`)
	run("notes.create", `{"title":"b"}`)
	if got := run("notes.purgeAll", `{"confirm":"DELETE ALL NOTES"}`)["deleted"]; got != 2.0 {
		t.Errorf("purgeAll deleted %v notes, want 2", got)
	}
	if got := run("notes.search", `{}`)["count"]; got != 0.0 {
		t.Errorf("%v notes left after purgeAll", got)
	}
	if got := run("spaces.listAll", `{}`)["count"]; got != 1.0 {
		t.Errorf("listAll: %v spaces, want 1", got)
	}
	if reg.byName["notes.purgeAll"].Exposed() || reg.byName["spaces.listAll"].Exposed() {
		t.Error("a hidden tool is exposed")
	}
}

func TestRateLimiterSlidingWindow(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newRateLimiter(3, time.Minute, func() time.Time { return now })
	for i := range 3 {
		if ok, _ := l.allow("u", "t"); !ok {
			t.Fatalf("call %d refused", i+1)
		}
		now = now.Add(10 * time.Second)
	}
	// Calls at 0s, 10s, 20s; now 30s: the fourth waits until the first leaves the window at 60s.
	ok, retry := l.allow("u", "t")
	if ok || retry != 30*time.Second {
		t.Errorf("4th call: ok=%v retry=%v, want refused, retry 30s", ok, retry)
	}
	if ok, _ := l.allow("v", "t"); !ok {
		t.Error("another user is limited")
	}
	now = now.Add(30*time.Second + time.Nanosecond)
	if ok, _ := l.allow("u", "t"); !ok {
		t.Error("call after the window refused")
	}
	// After a quiet window the sweep forgets idle keys.
	now = now.Add(2 * time.Minute)
	l.allow("w", "t")
	if _, kept := l.calls[rateKey{"u", "t"}]; kept {
		t.Error("idle key not swept")
	}
}

func FuzzValidateArgs(f *testing.F) {
	tl := newRegistry(allTools(&deps{})...).byName["calendar.createEvent"]
	for _, seed := range []string{`{}`, `null`, `{"title":"x","start":"2025-06-01T09:00:00Z","end":"2025-06-01T10:00:00Z"}`,
		`{"title":1}`, `[]`, `{"title":"x","limit":1e400}`, `"s"`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out, err := validateArgs(tl.fields, json.RawMessage(raw))
		if err != nil {
			if !strings.Contains(err.Error(), ": ") {
				t.Errorf("error %q names no field", err)
			}
			return
		}
		// Valid arguments, defaults applied, validate again to the same bytes.
		again, err := validateArgs(tl.fields, out)
		if err != nil || string(again) != string(out) {
			t.Errorf("revalidating %s: %s, %v", out, again, err)
		}
	})
}
