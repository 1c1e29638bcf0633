package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/report"
)

// RunsCmd groups the run inspection commands.
type RunsCmd struct {
	List RunsListCmd `cmd:"" help:"List the persona runs (newest first) with status, calls, tokens, cost and app version."`
	Show RunsShowCmd `cmd:"" help:"Show one run turn by turn: the persona's words, each tool call with arguments, result or error and latency, the rating turn, tokens, cost, model and app version."`
}

// RunsListCmd lists runs.
type RunsListCmd struct {
	StoreFlags `embed:""`
	Persona    string `placeholder:"EMAIL|ID" help:"Only this persona's runs."`
	Status     string `placeholder:"S" help:"Only runs with this status: running, ok, degraded, failed, timeout or cancelled."`
	Since      string `default:"7d" help:"Runs started within this window, e.g. 7d, 36h."`
	Limit      int    `default:"100" help:"At most this many runs (newest first; 0: all)."`
	Format     string `enum:"table,json" default:"table" help:"Output format: table or json."`
}

// runRow is a run as runs list shows it: the tick record without its transcript.
type runRow struct {
	persona.Tick
	Persona    string          `json:"persona"`
	Transcript json.RawMessage `json:"transcript,omitempty"` // shadows the tick's: never listed
	Seconds    *float64        `json:"durationSeconds"`
}

// Run prints the runs.
func (c *RunsListCmd) Run(env *Env) error {
	since, err := report.ParseSince(c.Since)
	if err != nil {
		return usageError{fmt.Errorf("--since: %w", err)}
	}
	status := persona.TickStatus(strings.TrimSpace(c.Status))
	if status != "" && !status.Valid() {
		return usageError{fmt.Errorf("--status: must be one of running, ok, degraded, failed, timeout, cancelled (got %q)", c.Status)}
	}
	if c.Limit < 0 {
		return usageError{fmt.Errorf("--limit: must be 0 or more (got %d)", c.Limit)}
	}
	db, err := c.OpenExisting(env.Ctx, env)
	if err != nil {
		return err
	}
	defer db.Close()
	people, err := db.ListPersonas(env.Ctx, time.Time{})
	if err != nil {
		return fmt.Errorf("list personas: %w", err)
	}
	emails := map[string]string{}
	personaID := ""
	for _, p := range people {
		emails[p.UserID] = p.Email
		if c.Persona != "" && (p.Email == c.Persona || p.UserID == c.Persona) {
			personaID = p.UserID
		}
	}
	if c.Persona != "" && personaID == "" {
		return usageError{fmt.Errorf("--persona: no persona %q in the store", c.Persona)}
	}
	ticks, err := db.Ticks(env.Ctx, persona.TickQuery{PersonaID: personaID, Status: status, Since: time.Now().Add(-since), Limit: c.Limit})
	if err != nil {
		return fmt.Errorf("read runs: %w", err)
	}
	rows := make([]runRow, 0, len(ticks))
	for _, t := range ticks {
		r := runRow{Tick: t, Persona: emails[t.PersonaID]}
		if t.FinishedAt != nil {
			s := t.FinishedAt.Sub(t.StartedAt).Seconds()
			r.Seconds = &s
		}
		rows = append(rows, r)
	}
	if c.Format == "json" {
		return writeJSON(env.Stdout, map[string]any{"runs": rows})
	}
	if len(rows) == 0 {
		_, err := fmt.Fprintf(env.Stdout, "no runs in the last %s\n", c.Since)
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TICK\tPERSONA\tSTATUS\tSTARTED\tDURATION\tCALLS\tERRORS\tTOKENS\tCOST\tMODEL\tAPP VERSION")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\n", r.TickID, r.Persona, r.Status, formatTime(&r.StartedAt, "–"),
			duration(r.Tick), r.ToolCalls, r.Errors, r.InputTokens+r.OutputTokens, usd(r.CostUSD), dashIf(r.Model), appVersion(r.Tick))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(env.Stdout, "%d runs (persona-runner runs show TICK for one turn by turn)\n", len(rows))
	return err
}

func duration(t persona.Tick) string {
	if t.FinishedAt == nil {
		return "–"
	}
	return t.FinishedAt.Sub(t.StartedAt).Round(time.Second).String()
}

func usd(v float64) string { return fmt.Sprintf("$%.4f", v) }

func dashIf(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func appVersion(t persona.Tick) string {
	switch {
	case t.ServerVersion == "" && t.ServerName == "":
		return "–"
	case t.ServerName == "":
		return t.ServerVersion
	}
	return strings.TrimSpace(t.ServerName + " " + t.ServerVersion)
}

// RunsShowCmd shows one run.
type RunsShowCmd struct {
	StoreFlags `embed:""`
	TickID     string `arg:"" name:"TICK_ID" help:"The run's tick id (runs list shows them)."`
	Format     string `enum:"table,json" default:"table" help:"Output format: table or json."`
}

// storedTranscript is the transcript the runner keeps on a tick record.
type storedTranscript struct {
	Model        string          `json:"model"`
	System       string          `json:"system"`
	Tools        []string        `json:"tools"`
	Messages     []model.Message `json:"messages"`
	RatingTurnAt *int            `json:"ratingTurnAt"`
}

// Run prints the run.
func (c *RunsShowCmd) Run(env *Env) error {
	db, err := c.OpenExisting(env.Ctx, env)
	if err != nil {
		return err
	}
	defer db.Close()
	t, err := db.Tick(env.Ctx, strings.TrimSpace(c.TickID))
	if errors.Is(err, persona.ErrNotFound) {
		return fmt.Errorf("no run %q in the store (persona-runner runs list shows the tick ids)", c.TickID)
	}
	if err != nil {
		return err
	}
	actions, err := db.Actions(env.Ctx, persona.ActionQuery{TickID: t.TickID})
	if err != nil {
		return fmt.Errorf("read the run's calls: %w", err)
	}
	feedback, err := db.Feedback(env.Ctx, persona.FeedbackQuery{TickID: t.TickID})
	if err != nil {
		return fmt.Errorf("read the run's ratings: %w", err)
	}
	email := t.PersonaID
	if p, err := db.Persona(env.Ctx, t.PersonaID); err == nil {
		email = p.Email
	}
	if actions == nil {
		actions = []persona.Action{}
	}
	if feedback == nil {
		feedback = []persona.Feedback{}
	}
	if c.Format == "json" {
		return writeJSON(env.Stdout, map[string]any{"run": t, "persona": email, "actions": actions, "feedback": feedback})
	}
	return writeRun(env.Stdout, t, email, actions, feedback)
}

// writeRun writes a run turn by turn. The transcript's tool calls are paired in order with the
// action rows (which carry the result, error and latency); without a transcript the calls are
// listed from the rows alone.
func writeRun(w io.Writer, t persona.Tick, email string, actions []persona.Action, feedback []persona.Feedback) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "run %s · %s · %s\n", t.TickID, email, t.Status)
	fmt.Fprintf(b, "started %s · duration %s · %d turns · %d tool calls, %d errors\n", formatTime(&t.StartedAt, "–"), duration(t), t.Turns, t.ToolCalls, t.Errors)
	fmt.Fprintf(b, "model %s · tokens in %d, out %d, cached %d · cost %s\n", dashIf(t.Model), t.InputTokens, t.OutputTokens, t.CachedTokens, usd(t.CostUSD))
	fmt.Fprintf(b, "app %s · version %s\n", dashIf(t.Target), appVersion(t))
	if t.Summary != "" {
		fmt.Fprintf(b, "summary: %s\n", t.Summary)
	}
	if t.Error != "" {
		fmt.Fprintf(b, "error: %s\n", t.Error)
	}
	var tr storedTranscript
	hasTranscript := len(t.Transcript) > 0 && json.Unmarshal(t.Transcript, &tr) == nil && len(tr.Messages) > 0
	next := 0 // the next action row to pair with a tool call
	call := func(name string, input json.RawMessage) {
		if next < len(actions) {
			writeCall(b, actions[next])
			next++
			return
		}
		fmt.Fprintf(b, "    → %s %s   (no action row)\n", name, oneLine(string(input), 300))
	}
	if hasTranscript {
		fmt.Fprintln(b, "\nCONVERSATION")
		for i, m := range tr.Messages {
			if tr.RatingTurnAt != nil && i == *tr.RatingTurnAt {
				fmt.Fprintln(b, "\nRATING TURN")
			}
			switch m.Role {
			case model.Assistant:
				if strings.TrimSpace(m.Text) != "" {
					fmt.Fprintf(b, "  persona: %s\n", oneLine(m.Text, 600))
				}
				for _, tc := range m.ToolCalls {
					call(tc.Name, tc.Input)
				}
			default:
				if strings.TrimSpace(m.Text) != "" && i > 0 {
					fmt.Fprintf(b, "  runner:  %s\n", oneLine(m.Text, 300))
				}
			}
		}
	}
	if next < len(actions) {
		if hasTranscript {
			fmt.Fprintln(b, "\nCALLS NOT IN THE TRANSCRIPT")
		} else {
			fmt.Fprintln(b, "\nCALLS (no transcript stored)")
		}
		for ; next < len(actions); next++ {
			writeCall(b, actions[next])
		}
	}
	fmt.Fprintln(b, "\nRATINGS")
	if len(feedback) == 0 {
		fmt.Fprintln(b, "  (none)")
	}
	for _, f := range feedback {
		mod := f.Module
		if mod == "__parse" {
			mod = "(unusable reply)"
		}
		fmt.Fprintf(b, "  %-16s %d  %s\n", mod, f.Rating, oneLine(f.Notes, 200))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeCall(b *strings.Builder, a persona.Action) {
	args := string(a.Arguments)
	if args == "" {
		args = "(arguments not recorded)"
	}
	latency := "–" // not measured (the original runner sends no latency)
	if a.LatencyMs != nil {
		latency = fmt.Sprintf("%dms", *a.LatencyMs)
	}
	fmt.Fprintf(b, "    → %s %s   %s %s\n", a.ToolName, oneLine(args, 300), a.Result, latency)
	switch {
	case a.Result == persona.ResultError:
		fmt.Fprintf(b, "      error: %s\n", oneLine(a.ErrorMessage, 300))
	case a.ResultPreview != "":
		fmt.Fprintf(b, "      result: %s\n", oneLine(a.ResultPreview, 200))
	}
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
