package main

import (
	"database/sql"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/persona-runner/persona-runner/gate"
)

// check's exit status for each case: 0 passed, 1 a threshold failed, 2 usage error, 3 could not
// run.
func TestCheckExitCodes(t *testing.T) {
	t.Parallel()
	clean := writeRuns(t, storeCase{})
	for _, c := range []struct {
		name string
		dir  string
		args []string
		code int
		want string // in stderr
	}{
		{"clean week passes", clean, nil, 0, ""},
		{"low rating", writeRuns(t, storeCase{lowRating: 2}), []string{"--fail-on", "none"}, 1, "failed: min-rating"},
		{"low rating under a lower threshold", writeRuns(t, storeCase{lowRating: 3}), []string{"--fail-on", "none", "--min-rating", "3"}, 0, ""},
		{"error rate", writeRuns(t, storeCase{toolErrors: true}), []string{"--fail-on", "none"}, 1, "failed: max-error-rate"},
		{"error rate within the limit", writeRuns(t, storeCase{toolErrors: true}), []string{"--fail-on", "none", "--max-error-rate", "15%"}, 0, ""},
		{"new findings", writeRuns(t, storeCase{toolErrors: true}), []string{"--max-error-rate", "100%", "--fail-on", "new-findings"}, 1, "failed: new-findings"},
		{"unusable ratings", writeRuns(t, storeCase{unusable: true}), []string{"--fail-on", "none"}, 1, "failed: max-unusable-ratings"},
		{"unusable ratings allowed", writeRuns(t, storeCase{unusable: true}), []string{"--fail-on", "none", "--max-unusable-ratings", "1"}, 0, ""},
		{"failed run", writeRuns(t, storeCase{failedRun: true}), []string{"--fail-on", "failed-runs"}, 1, "failed: failed-runs"},
		{"bad rate", clean, []string{"--max-error-rate", "lots"}, 2, "--max-error-rate: must be a percentage"},
		{"bad fail-on", clean, []string{"--fail-on", "flaky"}, 2, `--fail-on: must be a comma-separated list`},
		{"bad min-rating", clean, []string{"--min-rating", "7"}, 2, "--min-rating: must be from 0 to 5"},
		{"bad format", clean, []string{"--format", "pdf"}, 2, "--format"},
		{"bad since", clean, []string{"--since", "soon"}, 2, "--since"},
		{"unknown persona", clean, []string{"--persona", "nobody@mana.test"}, 2, "--persona"},
		{"missing store", filepath.Join(t.TempDir(), "nothing-here"), nil, 3, "cannot open the store"},
	} {
		code, out, errOut := run(t, nil, append([]string{"check", "--data", c.dir}, c.args...)...)
		if code != c.code || (c.want != "" && !strings.Contains(errOut, c.want)) {
			t.Errorf("%s: exit %d, want %d with %q\nstdout:\n%s\nstderr: %s", c.name, code, c.code, c.want, out, errOut)
		}
	}
	// An empty window proves nothing: it fails.
	code, out, errOut := run(t, nil, "check", "--data", clean, "--since", "1h")
	if code != 1 || !strings.Contains(out, "runs                  FAIL") {
		t.Errorf("empty window: exit %d\n%s\n%s", code, out, errOut)
	}
	// An unreachable PostgreSQL server cannot be read: 3.
	code, _, errOut = run(t, nil, "check", "--db", "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if code != 3 {
		t.Errorf("unreachable postgres: exit %d, stderr %q", code, errOut)
	}
}

// Every output format is written, to a file with --output, and parses as what it claims to be.
func TestCheckOutputs(t *testing.T) {
	t.Parallel()
	dir := writeRuns(t, storeCase{toolErrors: true, unusable: true, failedRun: true})
	out := t.TempDir()
	for _, format := range gate.Formats {
		file := filepath.Join(out, "check."+format)
		code, stdout, errOut := run(t, nil, "check", "--data", dir, "--format", format, "--output", file)
		if code != 1 || stdout != "" || !strings.Contains(errOut, "persona-runner check: failed: ") {
			t.Fatalf("%s: exit %d, stdout %q, stderr %q", format, code, stdout, errOut)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		switch format {
		case "json":
			var o gate.Outcome
			if err := json.Unmarshal(b, &o); err != nil || o.Passed || len(o.Runs) != 10 {
				t.Errorf("json: %v, passed %v, %d runs", err, o.Passed, len(o.Runs))
			}
		case "junit":
			var doc struct {
				XMLName xml.Name `xml:"testsuites"`
				Suites  []struct {
					Cases []struct {
						Name string `xml:"name,attr"`
					} `xml:"testcase"`
				} `xml:"testsuite"`
			}
			if err := xml.Unmarshal(b, &doc); err != nil || len(doc.Suites) != 2 || len(doc.Suites[0].Cases) != 10 {
				t.Errorf("junit: %v, %+v", err, doc)
			}
		case "html":
			if !strings.HasPrefix(string(b), "<!DOCTYPE html>") || strings.Contains(string(b), "<script") {
				t.Errorf("html: %.200s", b)
			}
		case "markdown":
			if !strings.HasPrefix(string(b), "## ❌ persona-runner check failed") {
				t.Errorf("markdown: %.200s", b)
			}
		case "table":
			if !strings.HasPrefix(string(b), "persona-runner check FAILED") {
				t.Errorf("table: %.200s", b)
			}
		}
	}
	code, _, errOut := run(t, nil, "check", "--data", dir, "--output", filepath.Join(out, "no", "such", "dir", "x.xml"))
	if code != 2 || !strings.Contains(errOut, "--output") {
		t.Errorf("--output in a missing directory: exit %d, stderr %q", code, errOut)
	}
}

// up --once --check runs one tick and gates its runs in one command; the JUnit file has a test
// case per persona run.
func TestUpOnceCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	junit := filepath.Join(t.TempDir(), "personas.xml")
	code, out, errOut := run(t, nil, upArgs(dir, "--check", "--min-rating", "1", "--max-error-rate", "100%", "--fail-on", "failed-runs",
		"--format", "junit", "--output", junit)...)
	if code != 0 || !strings.Contains(errOut, "persona-runner check: passed (10 runs") {
		t.Fatalf("up --once --check: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	b, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Suites []struct {
			Failures int `xml:"failures,attr"`
			Cases    []struct {
				Name string `xml:"name,attr"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil || len(doc.Suites) != 2 || len(doc.Suites[0].Cases) != 10 || doc.Suites[1].Failures != 0 {
		t.Fatalf("junit: %v\n%s", err, b)
	}

	// A second tick on the same day finds nobody due; a perfect-rating bar cannot be met by the
	// week's runs, so check over the store fails with 1.
	code, out, errOut = run(t, nil, "check", "--data", dir, "--since", "1000d", "--min-rating", "5", "--fail-on", "none", "--max-error-rate", "100%")
	if code != 1 || !strings.Contains(out, "min-rating            FAIL") {
		t.Errorf("check --min-rating 5: exit %d\n%s\n%s", code, out, errOut)
	}

	code, _, errOut = run(t, nil, "up", "--check", "--data", dir)
	if code != 2 || !strings.Contains(errOut, "--check gates one tick: use it with --once") {
		t.Errorf("up --check without --once: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = run(t, nil, upArgs(t.TempDir(), "--check", "--fail-on", "sometimes")...)
	if code != 2 || !strings.Contains(errOut, "--fail-on") {
		t.Errorf("up --once --check --fail-on sometimes: exit %d, stderr %q", code, errOut)
	}
}

// up --once --check exits 3 ("could not run") when the tick itself fails, not 1 as a failed
// threshold would: here the store refuses every claim (a trigger aborts the lease update).
func TestUpOnceCheckTickFails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if code, out, errOut := run(t, nil, upArgs(dir)...); code != 0 {
		t.Fatalf("first up --once: exit %d\n%s\n%s", code, out, errOut)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "persona-runner.db"))
	if err != nil {
		t.Fatal(err)
	}
	// Everyone due again, and the store refusing to lease them.
	for _, q := range []string{
		`UPDATE personas SET next_due_at = 0, last_active_at = NULL`,
		`CREATE TRIGGER refuse_claims BEFORE UPDATE OF lease_owner ON personas WHEN NEW.lease_owner IS NOT NULL
			BEGIN SELECT RAISE(ABORT, 'claims refused by the test'); END`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, nil, upArgs(dir, "--check", "--max-error-rate", "100%", "--fail-on", "none")...)
	if code != 3 || !strings.Contains(errOut, "tick:") || !strings.Contains(errOut, "claims refused by the test") {
		t.Fatalf("up --once --check with claims refused: exit %d (want 3)\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	// Without --check the same failure stays exit 1 (up's own status: the tick failed).
	code, _, errOut = run(t, nil, upArgs(dir)...)
	if code != 1 || !strings.Contains(errOut, "claims refused by the test") {
		t.Fatalf("up --once with claims refused: exit %d (want 1)\n%s", code, errOut)
	}
}
