package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/persona-runner/persona-runner/findings"
	"github.com/persona-runner/persona-runner/report"
)

// findings list names what went wrong; show gives the repro; report starts with the findings and
// keeps unusable ratings apart from the modules.
func TestFindingsListShowAndReport(t *testing.T) {
	t.Parallel()
	dir := writeRuns(t, storeCase{toolErrors: true, unusable: true, failedRun: true})

	code, out, errOut := run(t, nil, "findings", "list", "--data", dir)
	if code != 0 || !strings.Contains(out, "notes.search fails with server-error") || !strings.Contains(out, "unusable-ratings") ||
		!strings.Contains(out, "failed-runs") {
		t.Fatalf("findings list: code %d\n%s\nstderr %s", code, out, errOut)
	}

	code, out, errOut = run(t, nil, "findings", "list", "--data", dir, "--format", "json")
	var res findings.Result
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil {
		t.Fatalf("findings list --format json: code %d\n%s\nstderr %s", code, out, errOut)
	}
	var search findings.Finding
	for _, f := range res.Findings {
		if f.Tool == "notes.search" {
			search = f
		}
	}
	if search.ID == "" || search.Occurrences != 3 || len(search.Personas) != 1 || search.Personas[0] != "persona.ben@mana.test" ||
		len(search.Samples) == 0 || compact(search.Samples[0].Arguments) != `{"query":"milk"}` {
		t.Fatalf("notes.search finding = %+v", search)
	}

	code, out, errOut = run(t, nil, "findings", "show", search.ID[:6], "--data", dir)
	if code != 0 || !strings.Contains(out, search.ID) || !strings.Contains(out, `call notes.search {"query":"milk"}`) ||
		!strings.Contains(out, "internal error: search index unavailable") || !strings.Contains(out, "app versions: 2.0.0") {
		t.Fatalf("findings show: code %d\n%s\nstderr %s", code, out, errOut)
	}
	code, out, _ = run(t, nil, "findings", "show", search.ID, "--data", dir, "--format", "markdown")
	if code != 0 || !strings.HasPrefix(out, "## `"+search.ID+"`") {
		t.Fatalf("findings show --format markdown: code %d\n%s", code, out)
	}
	code, _, errOut = run(t, nil, "findings", "show", "F-00000000", "--data", dir)
	if code != 1 || !strings.Contains(errOut, `no finding "F-00000000"`) {
		t.Errorf("unknown id: code %d, stderr %q", code, errOut)
	}

	// The report starts with the findings; __parse is not a module.
	code, out, errOut = run(t, nil, "report", "--data", dir)
	if code != 0 || !strings.HasPrefix(strings.SplitN(out, "\n\n", 2)[1], "FINDINGS (") ||
		!strings.Contains(out, "UNUSABLE RATINGS 1 rating reply") || strings.Contains(out, "__parse  ") {
		t.Fatalf("report: code %d\n%s\nstderr %s", code, out, errOut)
	}
	code, out, _ = run(t, nil, "report", "--data", dir, "--format", "json")
	var r report.Report
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || len(r.Findings) == 0 || r.UnusableRatings != 1 {
		t.Fatalf("report json: code %d, findings %d, unusable %d", code, len(r.Findings), r.UnusableRatings)
	}
	for _, m := range r.Modules {
		if m.Module == "__parse" {
			t.Errorf("report ranks __parse as a module: %+v", m)
		}
	}

	// --compare 1.0.0..2.0.0 compares versions: the search errors are new in 2.0.0.
	code, out, errOut = run(t, nil, "findings", "list", "--data", dir, "--compare", "1.0.0..2.0.0", "--format", "json")
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Compare == nil || res.Compare.To != "2.0.0" {
		t.Fatalf("--compare: code %d\n%s\nstderr %s", code, out, errOut)
	}
}

// Bad flags are usage errors (exit 2) naming the flag; a missing store is never created.
func TestFindingsUsageErrors(t *testing.T) {
	t.Parallel()
	dir := writeRuns(t, storeCase{})
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--since", "soon"}, "--since: must be a duration"},
		{[]string{"--baseline", "a week"}, "--baseline: must be a duration"},
		{[]string{"--compare", "2.0.0"}, "--compare: must be two different app versions"},
		{[]string{"--persona", "nobody@mana.test"}, `--persona: no persona "nobody@mana.test"`},
		{[]string{"--format", "yaml"}, "--format"},
	} {
		code, _, errOut := run(t, nil, append([]string{"findings", "list", "--data", dir}, c.args...)...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: code %d, stderr %q; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
	missing := filepath.Join(t.TempDir(), "none")
	code, _, errOut := run(t, nil, "findings", "list", "--data", missing)
	if code != 3 || !strings.Contains(errOut, "cannot open the store") {
		t.Errorf("missing store: code %d, stderr %q", code, errOut)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("findings created %s", missing)
	}
}

func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// Regressions across app versions: ben's notes.search worked on 1.0.0 and fails on 2.0.0.
func TestRegressionsAcrossVersions(t *testing.T) {
	t.Parallel()
	dir := writeRuns(t, storeCase{toolErrors: true})
	code, out, errOut := run(t, nil, "report", "--data", dir, "--since", "30d", "--compare", "1.0.0..2.0.0")
	if code != 0 || !strings.Contains(out, "findings compare app version 2.0.0 with 1.0.0") ||
		!regexp.MustCompile(`open \(regression,new\)\s+tool-error\s+3\s+1 .*notes\.search fails`).MatchString(out) {
		t.Fatalf("report --compare: exit %d\n%s\n%s", code, out, errOut)
	}
	// The same week against the one before it: the window had no error of notes.search before.
	code, out, _ = run(t, nil, "report", "--data", dir, "--since", "7d", "--baseline", "14d", "--format", "json")
	var r report.Report
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || r.To.Sub(r.PrevFrom).Hours() != 21*24 {
		t.Fatalf("report --baseline 14d: exit %d, previous from %v to %v", code, r.PrevFrom, r.To)
	}
	regression := false
	for _, f := range r.Findings {
		regression = regression || (f.Tool == "notes.search" && f.Regression)
	}
	if !regression {
		t.Errorf("report --baseline 14d: no regression of notes.search in %+v", r.Findings)
	}
	// check --fail-on regressions fails on it; the clean store passes.
	code, _, errOut = run(t, nil, "check", "--data", dir, "--since", "30d", "--compare", "1.0.0..2.0.0", "--fail-on", "regressions", "--max-error-rate", "100%")
	if code != 1 || !strings.Contains(errOut, "failed: regressions") {
		t.Errorf("check --compare --fail-on regressions: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = run(t, nil, "check", "--data", writeRuns(t, storeCase{}), "--since", "30d", "--compare", "1.0.0..2.0.0", "--fail-on", "regressions")
	if code != 0 {
		t.Errorf("clean store, check --compare: exit %d, stderr %q", code, errOut)
	}
}
