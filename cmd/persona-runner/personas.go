package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store"
)

// PersonasCmd groups the read-only persona commands.
type PersonasCmd struct {
	List PersonasListCmd `cmd:"" help:"List the personas with their schedule and recent activity."`
	Show PersonasShowCmd `cmd:"" help:"Show one persona: details, recent actions and ratings per module."`
}

// PersonasListCmd lists every persona.
type PersonasListCmd struct {
	StoreFlags `embed:""`
	Format     string `enum:"table,json" default:"table" help:"Output format: table or json."`
}

// Run prints the list; json is {"personas":[…]} like the admin API's list.
func (c *PersonasListCmd) Run(env *Env) error {
	db, err := c.OpenExisting(env.Ctx, env)
	if err != nil {
		return err
	}
	defer db.Close()
	list, err := db.ListPersonas(env.Ctx, time.Now().Add(-7*24*time.Hour))
	if err != nil {
		return fmt.Errorf("list personas: %w", err)
	}
	if c.Format == "json" {
		if list == nil {
			list = []persona.PersonaSummary{}
		}
		return writeJSON(env.Stdout, map[string]any{"personas": list})
	}
	if len(list) == 0 {
		_, err := fmt.Fprintln(env.Stdout, "no personas yet; run `persona-runner seed` to create the catalog's")
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "EMAIL\tNAME\tARCHETYPE\tCADENCE\tTIMEZONE\tLAST ACTIVE\tACTIONS 7D\tFAILURES")
	for _, p := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\n", p.Email, p.Name, p.Archetype, p.TickCadence,
			p.Timezone, formatTime(p.LastActiveAt, "never"), p.Actions7d, p.FailureCount)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(env.Stdout, "%d personas\n", len(list))
	return err
}

// PersonasShowCmd shows one persona.
type PersonasShowCmd struct {
	StoreFlags `embed:""`
	Persona    string `arg:"" name:"email-or-id" help:"The persona's email or user id."`
	Format     string `enum:"table,json" default:"table" help:"Output format: table or json."`
	Actions    int    `default:"20" help:"How many recent actions to show."`
}

// personaView is a persona as JSON, camelCase like every JSON of the project.
type personaView struct {
	UserID         string            `json:"userId"`
	Email          string            `json:"email"`
	Name           string            `json:"name"`
	Archetype      string            `json:"archetype"`
	SystemPrompt   string            `json:"systemPrompt"`
	ModuleMix      persona.ModuleMix `json:"moduleMix"`
	TickCadence    persona.Cadence   `json:"tickCadence"`
	Timezone       string            `json:"timezone"`
	LastActiveAt   *time.Time        `json:"lastActiveAt"`
	CreatedAt      time.Time         `json:"createdAt"`
	NextDueAt      *time.Time        `json:"nextDueAt"`
	LeaseOwner     string            `json:"leaseOwner,omitempty"`
	LeaseExpiresAt *time.Time        `json:"leaseExpiresAt,omitempty"`
	FailureCount   int               `json:"failureCount"`
	LastError      string            `json:"lastError"`
	Spaces         []spaceView       `json:"spaces"`
}

type spaceView struct {
	ID   string            `json:"id"`
	Name string            `json:"name"`
	Slug string            `json:"slug"`
	Type persona.SpaceType `json:"type"`
}

// personaDetail is the shape of the admin API's GET /personas/:id (SPEC §4).
type personaDetail struct {
	Persona          personaView            `json:"persona"`
	RecentActions    []persona.Action       `json:"recentActions"`
	FeedbackByModule []persona.ModuleRating `json:"feedbackByModule"`
}

// Run prints the persona's details, its recent actions and its ratings per module.
func (c *PersonasShowCmd) Run(env *Env) error {
	db, err := c.OpenExisting(env.Ctx, env)
	if err != nil {
		return err
	}
	defer db.Close()
	p, err := findPersona(env, db, c.Persona)
	if err != nil {
		return err
	}
	spaces, err := db.SpacesOfUser(env.Ctx, p.UserID)
	if err != nil {
		return fmt.Errorf("show persona %s: spaces: %w", p.Email, err)
	}
	actions, err := db.RecentActions(env.Ctx, p.UserID, max(c.Actions, 0))
	if err != nil {
		return fmt.Errorf("show persona %s: recent actions: %w", p.Email, err)
	}
	ratings, err := db.FeedbackByModule(env.Ctx, p.UserID)
	if err != nil {
		return fmt.Errorf("show persona %s: ratings: %w", p.Email, err)
	}
	d := personaDetail{
		Persona: personaView{UserID: p.UserID, Email: p.Email, Name: p.Name, Archetype: p.Archetype,
			SystemPrompt: p.SystemPrompt, ModuleMix: p.ModuleMix, TickCadence: p.TickCadence, Timezone: p.Timezone,
			LastActiveAt: p.LastActiveAt, CreatedAt: p.CreatedAt, NextDueAt: p.NextDueAt, LeaseOwner: p.LeaseOwner,
			LeaseExpiresAt: p.LeaseExpiresAt, FailureCount: p.FailureCount, LastError: p.LastError, Spaces: []spaceView{}},
		RecentActions:    actions,
		FeedbackByModule: ratings,
	}
	for _, s := range spaces {
		d.Persona.Spaces = append(d.Persona.Spaces, spaceView{ID: s.ID, Name: s.Name, Slug: s.Slug, Type: s.Type})
	}
	if d.RecentActions == nil {
		d.RecentActions = []persona.Action{}
	}
	if d.FeedbackByModule == nil {
		d.FeedbackByModule = []persona.ModuleRating{}
	}
	if c.Format == "json" {
		return writeJSON(env.Stdout, d)
	}
	return printPersonaDetail(env.Stdout, d)
}

// findPersona looks the persona up by email when the argument looks like one, else by user id.
func findPersona(env *Env, db store.DB, key string) (persona.Persona, error) {
	var p persona.Persona
	var err error
	if strings.Contains(key, "@") {
		p, err = db.PersonaByEmail(env.Ctx, key)
	} else {
		p, err = db.Persona(env.Ctx, key)
	}
	if errors.Is(err, persona.ErrNotFound) {
		return p, fmt.Errorf("no persona with email or id %q (see `persona-runner personas list`)", key)
	}
	if err != nil {
		return p, fmt.Errorf("find persona %q: %w", key, err)
	}
	return p, nil
}

func printPersonaDetail(w io.Writer, d personaDetail) error {
	p := d.Persona
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("Email", p.Email)
	row("Name", p.Name)
	row("User ID", p.UserID)
	row("Archetype", p.Archetype)
	row("Cadence", string(p.TickCadence))
	row("Timezone", p.Timezone)
	row("Modules", formatMix(p.ModuleMix))
	var spaces []string
	for _, s := range p.Spaces {
		spaces = append(spaces, fmt.Sprintf("%s (%s)", s.Slug, s.Type))
	}
	row("Spaces", strings.Join(spaces, ", "))
	row("Created", formatTime(&p.CreatedAt, ""))
	row("Last active", formatTime(p.LastActiveAt, "never"))
	row("Next due", formatTime(p.NextDueAt, "by cadence"))
	row("Failures", strconv.Itoa(p.FailureCount))
	if p.LastError != "" {
		row("Last error", p.LastError)
	}
	if p.LeaseOwner != "" {
		row("Lease", p.LeaseOwner+" until "+formatTime(p.LeaseExpiresAt, "?"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nSystem prompt:\n%s\n", indent(strings.TrimSpace(p.SystemPrompt), "  "))

	fmt.Fprintf(w, "\nRecent actions (%d):\n", len(d.RecentActions))
	if len(d.RecentActions) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  TIME\tTICK\tTOOL\tRESULT\tLATENCY\tERROR")
		for _, a := range d.RecentActions {
			latency := "–" // not measured (the original runner sends no latency)
			if a.LatencyMs != nil {
				latency = fmt.Sprintf("%dms", *a.LatencyMs)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", formatTime(&a.CreatedAt, ""), shortID(a.TickID),
				a.ToolName, a.Result, latency, persona.Truncate(a.ErrorMessage, 80))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	fmt.Fprintf(w, "\nRatings by module (%d):\n", len(d.FeedbackByModule))
	if len(d.FeedbackByModule) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  MODULE\tAVG\tCOUNT")
		for _, r := range d.FeedbackByModule {
			fmt.Fprintf(tw, "  %s\t%.2f\t%d\n", r.Module, r.AvgRating, r.Count)
		}
		return tw.Flush()
	}
	return nil
}

// formatMix writes a module mix heaviest first: "todo 0.4, notes 0.3".
func formatMix(m persona.ModuleMix) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + strconv.FormatFloat(m[k], 'g', -1, 64)
	}
	return strings.Join(parts, ", ")
}

// formatTime writes t in UTC to the second, or none when t is nil or zero.
func formatTime(t *time.Time, none string) string {
	if t == nil || t.IsZero() {
		return none
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// shortID keeps the first 8 characters of a UUID, enough to tell ticks apart in a table.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
