package findings

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Formats are the names Write and WriteOne accept.
var Formats = []string{"table", "json", "markdown"}

// Write renders the list of findings.
func Write(w io.Writer, r *Result, format string) error {
	switch format {
	case "table", "":
		return WriteTable(w, r.Findings)
	case "json":
		return writeJSON(w, r)
	case "markdown", "md":
		return WriteMarkdown(w, r.Findings, 2)
	}
	return fmt.Errorf("format: must be one of %s (got %q)", strings.Join(Formats, ", "), format)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// flags are the markers of a finding in one word each: new, regression, resolved.
func flags(f Finding) string {
	var out []string
	if f.Status == StatusResolved {
		out = append(out, "resolved")
	}
	if f.Regression {
		out = append(out, "regression")
	}
	if f.New {
		out = append(out, "new")
	}
	return strings.Join(out, ",")
}

// WriteTable writes one line per finding.
func WriteTable(w io.Writer, fs []Finding) error {
	if len(fs) == 0 {
		_, err := fmt.Fprintln(w, "no findings")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSEVERITY\tSTATUS\tKIND\tSEEN\tPERSONAS\tLAST SEEN\tTITLE")
	for _, f := range fs {
		st := string(f.Status)
		if fl := flags(f); fl != "" && fl != "resolved" {
			st += " (" + strings.TrimPrefix(strings.TrimPrefix(fl, "resolved"), ",") + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", f.ID, f.Severity, st, f.Kind, f.Occurrences, len(f.Personas),
			when(f.LastSeen), oneLine(f.Title, 90))
	}
	return tw.Flush()
}

func when(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

// WriteOne writes one finding in full: what, since when, who, versions, and the sample calls.
func WriteOne(w io.Writer, f Finding, format string) error {
	switch format {
	case "json":
		return writeJSON(w, f)
	case "markdown", "md":
		return WriteMarkdown(w, []Finding{f}, 2)
	case "table", "":
	default:
		return fmt.Errorf("format: must be one of %s (got %q)", strings.Join(Formats, ", "), format)
	}
	fmt.Fprintf(w, "%s  %s\n", f.ID, f.Title)
	fmt.Fprintf(w, "kind %s · severity %s · status %s", f.Kind, f.Severity, f.Status)
	if fl := flags(f); fl != "" {
		fmt.Fprintf(w, " · %s", fl)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, f.Detail)
	if f.Cause != "" {
		fmt.Fprintf(w, "cause: %s\n", f.Cause)
	}
	if f.Target != "" {
		fmt.Fprintf(w, "target: %s\n", f.Target)
	}
	if f.Signature != "" {
		fmt.Fprintf(w, "signature: %s\n", f.Signature)
	}
	fmt.Fprintf(w, "first seen %s · last seen %s · %d occurrence(s)\n", when(f.FirstSeen), when(f.LastSeen), f.Occurrences)
	fmt.Fprintf(w, "personas: %s\n", list(f.Personas))
	fmt.Fprintf(w, "app versions: %s\n", list(f.Versions))
	for _, n := range f.Notes {
		fmt.Fprintf(w, "  “%s”\n", n)
	}
	if len(f.Samples) > 0 {
		fmt.Fprintln(w, "samples (the repro):")
	}
	for i, s := range f.Samples {
		fmt.Fprintf(w, "  %d. %s  %s  tick %s", i+1, when(s.At), s.Persona, s.TickID)
		if s.Version != "" {
			fmt.Fprintf(w, "  version %s", s.Version)
		}
		fmt.Fprintln(w)
		if s.Tool != "" {
			args := string(s.Arguments)
			if args == "" {
				args = "(arguments not recorded)"
			}
			fmt.Fprintf(w, "     call %s %s\n", s.Tool, oneLine(args, 300))
		}
		if s.LatencyMs > 0 {
			fmt.Fprintf(w, "     latency %s\n", ms(s.LatencyMs))
		}
		if s.Error != "" {
			fmt.Fprintf(w, "     → %s\n", oneLine(s.Error, 300))
		}
	}
	return nil
}

func list(xs []string) string {
	if len(xs) == 0 {
		return "–"
	}
	return strings.Join(xs, ", ")
}

// WriteMarkdown writes findings as a Markdown list under headings of the given level, ready to
// paste into an issue or a pull request.
func WriteMarkdown(w io.Writer, fs []Finding, level int) error {
	h := strings.Repeat("#", level)
	if len(fs) == 0 {
		_, err := fmt.Fprintln(w, "No findings.")
		return err
	}
	for _, f := range fs {
		fmt.Fprintf(w, "%s `%s` %s\n\n", h, f.ID, md(f.Title))
		fmt.Fprintf(w, "**%s** · %s · %s", f.Severity, f.Kind, f.Status)
		if fl := flags(f); fl != "" {
			fmt.Fprintf(w, " · %s", fl)
		}
		fmt.Fprintf(w, " · seen %d× from %s to %s · personas: %s · versions: %s\n\n", f.Occurrences, when(f.FirstSeen),
			when(f.LastSeen), md(list(f.Personas)), md(list(f.Versions)))
		fmt.Fprintf(w, "%s\n\n", md(f.Detail))
		for _, n := range f.Notes {
			fmt.Fprintf(w, "> %s\n>\n", md(n))
		}
		if len(f.Notes) > 0 {
			fmt.Fprintln(w)
		}
		for _, s := range f.Samples {
			if s.Tool == "" {
				continue
			}
			fmt.Fprintf(w, "- `%s` by %s (tick `%s`): `%s`", s.Tool, md(s.Persona), s.TickID, code(string(s.Arguments)))
			if s.Error != "" {
				fmt.Fprintf(w, " → %s", md(oneLine(s.Error, 200)))
			} else if s.LatencyMs > 0 {
				fmt.Fprintf(w, " → %s", ms(s.LatencyMs))
			}
			fmt.Fprintln(w)
		}
		if len(f.Samples) > 0 && f.Samples[0].Tool != "" {
			fmt.Fprintln(w)
		}
	}
	return nil
}

// md escapes the characters that would turn text into Markdown markup.
func md(s string) string {
	return strings.NewReplacer("|", `\|`, "*", `\*`, "_", `\_`, "`", "'", "<", "&lt;", ">", "&gt;", "\n", " ").Replace(s)
}

func code(s string) string {
	if s == "" {
		return "–"
	}
	return strings.ReplaceAll(oneLine(s, 300), "`", "'")
}
