package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// runs list filters by persona, status and window; runs show tells one run turn by turn.
func TestRunsListAndShow(t *testing.T) {
	t.Parallel()
	dir := writeRuns(t, storeCase{toolErrors: true, failedRun: true})

	code, out, errOut := run(t, nil, "runs", "list", "--data", dir)
	if code != 0 || !strings.Contains(out, "failed-anna") || !strings.Contains(out, "mana 2.0.0") || !strings.Contains(out, "$0.0125") ||
		!strings.HasSuffix(out, "10 runs (persona-runner runs show TICK for one turn by turn)\n") {
		t.Fatalf("runs list: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = run(t, nil, "runs", "list", "--data", dir, "--status", "failed", "--format", "json")
	var list struct {
		Runs []map[string]any `json:"runs"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list.Runs) != 1 || list.Runs[0]["tickId"] != "failed-anna" ||
		list.Runs[0]["persona"] != "persona.anna@mana.test" {
		t.Fatalf("runs list --status failed --format json: exit %d\n%s", code, out)
	}
	if _, ok := list.Runs[0]["transcript"]; ok {
		t.Errorf("runs list carries transcripts")
	}
	code, out, _ = run(t, nil, "runs", "list", "--data", dir, "--persona", "persona.ben@mana.test", "--since", "36h")
	if code != 0 || strings.Count(out, "persona.ben@mana.test") != 1 || strings.Contains(out, "anna") {
		t.Errorf("runs list --persona ben --since 2d: exit %d\n%s", code, out)
	}
	for _, c := range []struct{ flag, value, want string }{
		{"--status", "broken", "--status: must be one of"},
		{"--since", "soon", "--since: must be a duration"},
		{"--persona", "nobody@mana.test", `--persona: no persona "nobody@mana.test"`},
		{"--format", "xml", "--format"},
	} {
		code, _, errOut := run(t, nil, "runs", "list", "--data", dir, c.flag, c.value)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("runs list %s %s: exit %d, stderr %q", c.flag, c.value, code, errOut)
		}
	}

	// Without a transcript the calls come from the action rows, with arguments and errors.
	code, out, errOut = run(t, nil, "runs", "show", "t1-ben", "--data", dir)
	for _, want := range []string{"run t1-ben · persona.ben@mana.test · ok", "model sim · tokens in 1200, out 300, cached 0 · cost $0.0125",
		"version mana 2.0.0", "CALLS (no transcript stored)", `→ notes.search {"query":"milk"}   error 40ms`,
		"error: internal error: search index unavailable", `result: {"ok":true}`, "RATINGS", "journal"} {
		if !strings.Contains(out, want) {
			t.Errorf("runs show lacks %q (exit %d):\n%s\n%s", want, code, out, errOut)
		}
	}
	code, out, _ = run(t, nil, "runs", "show", "t1-ben", "--data", dir, "--format", "json")
	var shown struct {
		Run      map[string]any   `json:"run"`
		Persona  string           `json:"persona"`
		Actions  []map[string]any `json:"actions"`
		Feedback []map[string]any `json:"feedback"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &shown) != nil || shown.Persona != "persona.ben@mana.test" || len(shown.Actions) != 3 || len(shown.Feedback) != 2 {
		t.Errorf("runs show --format json: exit %d\n%s", code, out)
	}
	code, _, errOut = run(t, nil, "runs", "show", "nope", "--data", dir)
	if code != 1 || !strings.Contains(errOut, `no run "nope" in the store`) {
		t.Errorf("unknown tick: exit %d, stderr %q", code, errOut)
	}
}

// A run of up has a transcript: runs show gives the persona's words and the rating turn.
func TestRunsShowTranscript(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if code, out, errOut := run(t, nil, upArgs(dir)...); code != 0 {
		t.Fatalf("up --once: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut := run(t, nil, "runs", "list", "--data", dir, "--since", "1000d", "--persona", "persona.ben@mana.test", "--format", "json")
	var list struct {
		Runs []struct {
			TickID string `json:"tickId"`
		} `json:"runs"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list.Runs) != 1 {
		t.Fatalf("runs list: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = run(t, nil, "runs", "show", list.Runs[0].TickID, "--data", dir)
	for _, want := range []string{"CONVERSATION", "  persona: ", "    → ", "ms\n", "RATING TURN", "RATINGS"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("runs show lacks %q (exit %d):\n%s\n%s", want, code, out, errOut)
		}
	}
	if strings.Contains(out, "no action row") || strings.Contains(out, "CALLS NOT IN THE TRANSCRIPT") {
		t.Errorf("transcript calls and action rows do not pair:\n%s", out)
	}
}
