package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/persona-runner/persona-runner/findings"
)

// Formats are the names Write accepts.
var Formats = []string{"table", "json", "markdown"}

// Write renders r in the named format.
func Write(w io.Writer, r *Report, format string) error {
	switch format {
	case "table", "":
		return writeTable(w, r)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(r)
	case "markdown", "md":
		return writeMarkdown(w, r)
	}
	return fmt.Errorf("format: must be one of %s (got %q)", strings.Join(Formats, ", "), format)
}

func fmtTrend(s ModuleStat) string {
	switch {
	case s.Trend != nil && *s.Trend > 0:
		return fmt.Sprintf("↑ %+.2f", *s.Trend)
	case s.Trend != nil && *s.Trend < 0:
		return fmt.Sprintf("↓ %+.2f", *s.Trend)
	case s.Trend != nil:
		return "= 0.00"
	case s.Count > 0:
		return "new"
	}
	return "–"
}

func fmtAvg(s ModuleStat) string {
	if s.Count == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", s.AvgRating)
}

func fmtPrev(s ModuleStat) string {
	if s.PrevAvg == nil {
		return "–"
	}
	return fmt.Sprintf("%.2f", *s.PrevAvg)
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func statusLine(r *Report) string {
	keys := make([]string, 0, len(r.Runs.ByStatus))
	for k := range r.Runs.ByStatus {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, r.Runs.ByStatus[k]))
	}
	s := plural(r.Runs.Total, "run")
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	s += ", " + plural(r.Runs.ToolCalls, "tool call") + ", " + plural(r.Runs.Errors, "error")
	if r.Runs.InfraErrors > 0 {
		s += fmt.Sprintf(" (and %d call(s) cut by an outage of the app's connection, counted apart)", r.Runs.InfraErrors)
	}
	return s
}

// plural writes "1 error", "2 errors".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func scope(r *Report) string {
	s := fmt.Sprintf("%s → %s", r.From.Format("2006-01-02 15:04"), r.To.Format("2006-01-02 15:04 MST"))
	if r.Persona != "" {
		s += ", persona " + r.Persona
	}
	if r.Target != "" {
		s += ", target " + r.Target
	}
	if r.Module != "" {
		s += ", module " + r.Module
	}
	if r.Compare != nil {
		s += fmt.Sprintf(", findings compare app version %s with %s", r.Compare.To, r.Compare.From)
	}
	return s
}

func writeTable(w io.Writer, r *Report) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "Persona report %s\n%s\n\n", scope(r), statusLine(r))

	open, resolved := splitFindings(r.Findings)
	fmt.Fprintf(b, "FINDINGS (%s; most urgent first; persona-runner findings show ID for the repro)\n", findingsCount(open, resolved))
	if len(open) == 0 {
		fmt.Fprintln(b, "(no open findings in this window)")
	} else if err := findings.WriteTable(b, open); err != nil {
		return err
	}
	if r.UnusableRatings > 0 {
		fmt.Fprintf(b, "\nUNUSABLE RATINGS %s (the runs are degraded; not ranked as a module)\n", plural(r.UnusableRatings, "rating reply"))
	}
	fmt.Fprintln(b)

	fmt.Fprintln(b, "MODULES (worst first; trend against the previous window)")
	if len(r.Modules) == 0 {
		fmt.Fprintln(b, "(no ratings in this window)")
	} else {
		tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "MODULE\tAVG\tRATINGS\tPREV\tTREND\tCALLS\tERRORS\tLATEST NOTE")
		for _, m := range r.Modules {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%d\t%d\t%s\n", m.Module, fmtAvg(m), m.Count, fmtPrev(m), fmtTrend(m), m.Calls, m.Errors, oneLine(m.LastNote, 60))
		}
		tw.Flush()
	}

	fmt.Fprintln(b, "\nFAILING TOOLS (most errors first)")
	if len(r.FailingTools) == 0 {
		fmt.Fprintln(b, "(no tool errors in this window)")
	} else {
		tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "TOOL\tERRORS\tCALLS\tRATE\tSAMPLE ERRORS")
		for _, f := range r.FailingTools {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f%%\t%s\n", f.Tool, f.Errors, f.Calls, f.ErrorRate*100, oneLine(strings.Join(f.Samples, " | "), 80))
		}
		tw.Flush()
	}

	fmt.Fprintf(b, "\nCOVERAGE %s\n", coverageLine(r.Coverage))
	if len(r.Coverage.NeverUsed) > 0 {
		fmt.Fprintf(b, "never used: %s\n", strings.Join(r.Coverage.NeverUsed, ", "))
	}

	writeCostTable(b, r.Cost)

	fmt.Fprintln(b, "\nPERSONAS (last run)")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PERSONA\tRUNS\tLAST RUN\tSTATUS\tCALLS\tERRORS\tSUMMARY")
	for _, p := range r.Personas {
		summary := p.Summary
		if p.LastStatus != "ok" && p.LastError != "" {
			summary = "error: " + p.LastError
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%d\t%s\n", p.Email, p.Runs, fmtTime(p.LastRunAt), dash(p.LastStatus), p.LastCalls, p.LastErrors, oneLine(summary, 70))
	}
	tw.Flush()
	if errs := lastErrors(r.Personas); len(errs) > 0 {
		// The table cuts an error to fit; here each is whole, its cause included.
		fmt.Fprintln(b, "\nLAST RUN ERRORS (whole)")
		for _, e := range errs {
			fmt.Fprintf(b, "  %s: %s\n", e.who, e.msg)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// usd writes dollars: four decimals below a dollar, two above.
func usd(v float64) string {
	if v < 1 {
		return fmt.Sprintf("$%.4f", v)
	}
	return fmt.Sprintf("$%.2f", v)
}

func costLine(c Cost) string {
	return fmt.Sprintf("%s · %d input tokens (%d cached), %d output tokens", usd(c.USD), c.InputTokens, c.CachedTokens, c.OutputTokens)
}

// costSections are the three breakdowns of a cost, with their titles.
func costSections(c Cost) []struct {
	title string
	rows  []CostRow
} {
	return []struct {
		title string
		rows  []CostRow
	}{{"day (UTC)", c.ByDay}, {"persona", c.ByPersona}, {"module (a run's cost shared by its calls)", c.ByModule}}
}

func writeCostTable(b *strings.Builder, c Cost) {
	fmt.Fprintf(b, "\nCOST %s\n", costLine(c))
	if len(c.ByDay) == 0 {
		return
	}
	for _, sec := range costSections(c) {
		fmt.Fprintf(b, "by %s\n", sec.title)
		tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
		for _, row := range sec.rows {
			fmt.Fprintf(tw, "  %s\t%s\t%d runs\t%d in\t%d out\n", row.Key, usd(row.USD), row.Runs, row.InputTokens, row.OutputTokens)
		}
		tw.Flush()
	}
}

func writeCostMarkdown(b *strings.Builder, c Cost) {
	fmt.Fprintf(b, "\n### Cost\n\n%s.\n", costLine(c))
	if len(c.ByDay) == 0 {
		return
	}
	for _, sec := range costSections(c) {
		fmt.Fprintf(b, "\n| By %s | Cost | Runs | Input tokens | Output tokens |\n|---|---:|---:|---:|---:|\n", sec.title)
		for _, row := range sec.rows {
			fmt.Fprintf(b, "| %s | %s | %d | %d | %d |\n", mdCell(row.Key), usd(row.USD), row.Runs, row.InputTokens, row.OutputTokens)
		}
	}
}

// splitFindings separates the open findings from the resolved ones.
func splitFindings(fs []findings.Finding) (open, resolved []findings.Finding) {
	for _, f := range fs {
		if f.Status == findings.StatusOpen {
			open = append(open, f)
		} else {
			resolved = append(resolved, f)
		}
	}
	return open, resolved
}

func findingsCount(open, resolved []findings.Finding) string {
	s := fmt.Sprintf("%d open", len(open))
	if len(resolved) > 0 {
		s += fmt.Sprintf(", %d resolved", len(resolved))
	}
	return s
}

func dash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func coverageLine(c Coverage) string {
	if c.Offered == 0 {
		return fmt.Sprintf("%d tools used", c.Used)
	}
	return fmt.Sprintf("%d of %d tools used (%.0f%%)", c.Used, c.Offered, 100*float64(c.Used)/float64(c.Offered))
}

// mdCell escapes a table cell for GitHub Markdown.
func mdCell(s string) string {
	s = strings.ReplaceAll(oneLine(s, 200), "|", `\|`)
	if s == "" {
		return " "
	}
	return s
}

func writeMarkdown(w io.Writer, r *Report) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "## Persona report\n\n%s — %s.\n\n", scope(r), statusLine(r))
	open, resolved := splitFindings(r.Findings)
	fmt.Fprintf(b, "### Findings (%s)\n\n", findingsCount(open, resolved))
	if err := findings.WriteMarkdown(b, open, 4); err != nil {
		return err
	}
	if r.UnusableRatings > 0 {
		fmt.Fprintf(b, "\n**Unusable ratings:** %s (the runs are degraded; not ranked as a module).\n", plural(r.UnusableRatings, "rating reply"))
	}
	fmt.Fprintln(b)
	fmt.Fprintln(b, "### Modules (worst first)")
	fmt.Fprintln(b)
	if len(r.Modules) == 0 {
		fmt.Fprintln(b, "_No ratings in this window._")
	} else {
		fmt.Fprintln(b, "| Module | Avg rating | Ratings | Previous | Trend | Calls | Errors | Latest note |")
		fmt.Fprintln(b, "|---|---:|---:|---:|---|---:|---:|---|")
		for _, m := range r.Modules {
			fmt.Fprintf(b, "| %s | %s | %d | %s | %s | %d | %d | %s |\n", mdCell(m.Module), fmtAvg(m), m.Count, fmtPrev(m), fmtTrend(m), m.Calls, m.Errors, mdCell(m.LastNote))
		}
	}
	fmt.Fprintln(b, "\n### Failing tools")
	fmt.Fprintln(b)
	if len(r.FailingTools) == 0 {
		fmt.Fprintln(b, "_No tool errors in this window._")
	} else {
		fmt.Fprintln(b, "| Tool | Errors | Calls | Error rate | Sample errors |")
		fmt.Fprintln(b, "|---|---:|---:|---:|---|")
		for _, f := range r.FailingTools {
			samples := make([]string, len(f.Samples))
			for i, s := range f.Samples {
				samples[i] = "`" + strings.ReplaceAll(oneLine(s, 120), "`", "'") + "`"
			}
			fmt.Fprintf(b, "| `%s` | %d | %d | %.0f%% | %s |\n", f.Tool, f.Errors, f.Calls, f.ErrorRate*100, mdCell(strings.Join(samples, "<br>")))
		}
	}
	fmt.Fprintf(b, "\n### Coverage\n\n%s.", coverageLine(r.Coverage))
	if len(r.Coverage.NeverUsed) > 0 {
		fmt.Fprintf(b, " Never used: `%s`.", strings.Join(r.Coverage.NeverUsed, "`, `"))
	}
	fmt.Fprintln(b)
	writeCostMarkdown(b, r.Cost)
	fmt.Fprintln(b, "\n### Personas")
	fmt.Fprintln(b)
	fmt.Fprintln(b, "| Persona | Runs | Last run | Status | Calls | Errors | Summary |")
	fmt.Fprintln(b, "|---|---:|---|---|---:|---:|---|")
	for _, p := range r.Personas {
		summary := p.Summary
		if p.LastStatus != "ok" && p.LastError != "" {
			summary = "error: " + p.LastError
		}
		fmt.Fprintf(b, "| %s | %d | %s | %s | %d | %d | %s |\n", mdCell(p.Email), p.Runs, fmtTime(p.LastRunAt), dash(p.LastStatus), p.LastCalls, p.LastErrors, mdCell(summary))
	}
	if errs := lastErrors(r.Personas); len(errs) > 0 {
		fmt.Fprintln(b, "\n### Last run errors (whole)")
		fmt.Fprintln(b)
		for _, e := range errs {
			fmt.Fprintf(b, "- %s: `%s`\n", e.who, strings.ReplaceAll(e.msg, "`", "'"))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ParseSince parses a window length: Go durations ("36h", "90m") plus days and weeks ("7d", "2w").
// Its error does not name the field: the caller knows whether it was a flag or a parameter.
func ParseSince(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("must be a duration such as 7d, 2w, 36h or 90m (got %q)", s)
	if s == "" {
		return 0, bad
	}
	unit := s[len(s)-1]
	if unit == 'd' || unit == 'w' {
		var n float64
		if _, err := fmt.Sscanf(s[:len(s)-1], "%g", &n); err != nil || n <= 0 || strings.ContainsAny(s[:len(s)-1], " \t") {
			return 0, bad
		}
		per := 24 * time.Hour
		if unit == 'w' {
			per *= 7
		}
		return time.Duration(n * float64(per)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, bad
	}
	return d, nil
}

// errorGroup is one distinct last-run error and the personas whose last run ended with it.
type errorGroup struct{ who, msg string }

// lastErrors groups the whole errors of the personas whose last run failed, in table order.
func lastErrors(ps []PersonaStat) []errorGroup {
	var order []string
	who := map[string][]string{}
	for _, p := range ps {
		if p.LastStatus == "ok" || p.LastError == "" {
			continue
		}
		msg := strings.Join(strings.Fields(p.LastError), " ")
		if _, seen := who[msg]; !seen {
			order = append(order, msg)
		}
		who[msg] = append(who[msg], p.Email)
	}
	out := make([]errorGroup, len(order))
	for i, msg := range order {
		names := who[msg]
		list := strings.Join(names, ", ")
		if len(names) > 3 {
			list = fmt.Sprintf("%d personas (%s, …)", len(names), strings.Join(names[:3], ", "))
		}
		out[i] = errorGroup{who: list, msg: msg}
	}
	return out
}
