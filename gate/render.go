package gate

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/persona-runner/persona-runner/findings"
)

// Formats are the names Write accepts.
var Formats = []string{"table", "json", "markdown", "junit", "html"}

// Write renders the outcome in the named format.
func Write(w io.Writer, o *Outcome, format string) error {
	switch format {
	case "table", "":
		return writeTable(w, o)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(o)
	case "markdown", "md":
		return writeMarkdown(w, o)
	case "junit":
		return writeJUnit(w, o)
	case "html":
		return writeHTML(w, o)
	}
	return fmt.Errorf("format: must be one of %s (got %q)", strings.Join(Formats, ", "), format)
}

func verdict(o *Outcome) string {
	if o.Passed {
		return "PASSED"
	}
	return "FAILED"
}

func mark(ok bool) string {
	if ok {
		return "pass"
	}
	return "FAIL"
}

func window(o *Outcome) string {
	s := fmt.Sprintf("%s → %s", o.From.Format("2006-01-02 15:04"), o.To.Format("2006-01-02 15:04 MST"))
	if o.Compare != nil {
		s += fmt.Sprintf(", runs on app version %s against %s", o.Compare.To, o.Compare.From)
	}
	return s
}

func failedRunCount(o *Outcome) int {
	n := 0
	for _, r := range o.Runs {
		if len(r.Failures) > 0 {
			n++
		}
	}
	return n
}

func writeTable(w io.Writer, o *Outcome) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "persona-runner check %s: %s\n%d runs (%d with failures), %d tool calls, %d errors, %d open findings\n\n",
		verdict(o), window(o), len(o.Runs), failedRunCount(o), o.ToolCalls, o.ToolErrors, len(o.Findings))
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tRESULT\tVALUE\tLIMIT\tDETAIL")
	for _, c := range o.Checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Name, mark(c.Passed), c.Value, c.Limit, oneLine(c.Message, 100))
	}
	tw.Flush()
	if len(o.Findings) > 0 {
		fmt.Fprintln(b, "\nOPEN FINDINGS (persona-runner findings show ID for the repro)")
		if err := findings.WriteTable(b, o.Findings); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;").Replace(oneLine(s, 200))
}

func writeMarkdown(w io.Writer, o *Outcome) error {
	b := &strings.Builder{}
	icon := "✅"
	if !o.Passed {
		icon = "❌"
	}
	fmt.Fprintf(b, "## %s persona-runner check %s\n\n%s — %d runs (%d with failures), %d tool calls, %d errors, %d open findings.\n\n",
		icon, strings.ToLower(verdict(o)), window(o), len(o.Runs), failedRunCount(o), o.ToolCalls, o.ToolErrors, len(o.Findings))
	fmt.Fprintln(b, "| Check | Result | Value | Limit | Detail |")
	fmt.Fprintln(b, "|---|---|---:|---:|---|")
	for _, c := range o.Checks {
		res := "✅ pass"
		if !c.Passed {
			res = "❌ fail"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", c.Name, res, c.Value, c.Limit, mdCell(c.Message))
	}
	if len(o.Modules) > 0 {
		fmt.Fprintln(b, "\n### Module ratings\n\n| Module | Mean | Ratings |\n|---|---:|---:|")
		for _, m := range o.Modules {
			fmt.Fprintf(b, "| %s | %.2f | %d |\n", mdCell(m.Module), m.Mean, m.N)
		}
	}
	fmt.Fprintln(b, "\n### Open findings")
	fmt.Fprintln(b)
	if err := findings.WriteMarkdown(b, o.Findings, 4); err != nil {
		return err
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// The JUnit XML that GitHub (test reporters), GitLab (artifacts:reports:junit) and Jenkins
// (junit step) read: testsuites > testsuite > testcase > failure, with name, classname, time,
// tests, failures, errors, skipped and timestamp.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

func secs(f float64) string { return fmt.Sprintf("%.3f", f) }

func writeJUnit(w io.Writer, o *Outcome) error {
	stamp := o.To.UTC().Format("2006-01-02T15:04:05")
	runs := junitSuite{Name: "persona runs", Timestamp: stamp}
	var total float64
	for _, r := range o.Runs {
		c := junitCase{Name: fmt.Sprintf("%s run %s", r.Persona, r.TickID), Classname: "persona-runner.runs." + r.Persona, Time: secs(r.Seconds)}
		out := fmt.Sprintf("status %s · %d tool calls, %d errors · started %s", r.Status, r.ToolCalls, r.Errors, r.StartedAt.Format("2006-01-02T15:04:05Z"))
		if r.Version != "" {
			out += " · app version " + r.Version
		}
		if r.Summary != "" {
			out += "\n" + r.Summary
		}
		c.SystemOut = out
		if len(r.Failures) > 0 {
			typ := "tool-error"
			switch r.Status {
			case "failed", "timeout", "abandoned":
				typ = "run-" + r.Status
			case "degraded":
				typ = "unusable-ratings"
			}
			c.Failure = &junitFailure{Message: oneLine(r.Failures[0], 200), Type: typ, Text: strings.Join(r.Failures, "\n")}
			runs.Failures++
		}
		total += r.Seconds
		runs.Tests++
		runs.Cases = append(runs.Cases, c)
	}
	runs.Time = secs(total)
	checks := junitSuite{Name: "thresholds", Timestamp: stamp, Time: secs(0)}
	for _, ch := range o.Checks {
		c := junitCase{Name: ch.Name, Classname: "persona-runner.thresholds", Time: secs(0),
			SystemOut: fmt.Sprintf("value %s, limit %s: %s", ch.Value, ch.Limit, ch.Message)}
		if !ch.Passed {
			c.Failure = &junitFailure{Message: fmt.Sprintf("%s: %s (value %s, limit %s)", ch.Name, oneLine(ch.Message, 200), ch.Value, ch.Limit),
				Type: ch.Name, Text: checkText(ch, o)}
			checks.Failures++
		}
		checks.Tests++
		checks.Cases = append(checks.Cases, c)
	}
	all := junitSuites{Name: "persona-runner check", Tests: runs.Tests + checks.Tests, Failures: runs.Failures + checks.Failures,
		Time: runs.Time, Suites: []junitSuite{runs, checks}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(all); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// checkText is the failure text of a check: the findings behind it, in full.
func checkText(ch Check, o *Outcome) string {
	var b strings.Builder
	b.WriteString(ch.Message)
	for _, f := range o.Findings {
		if (ch.Name == FailNewFindings && f.New) || (ch.Name == FailRegressions && f.Regression) {
			fmt.Fprintf(&b, "\n\n")
			_ = findings.WriteOne(&b, f, "table")
		}
	}
	return b.String()
}
