// Package sim is the offline simulator: a model.Provider that plays a persona without any
// language model, so that the whole loop runs on a machine with no API key and no network.
//
// It is not a model and never pretends to be one. Name() is "sim", every text it writes starts
// with "[simulated]", and it reports zero tokens because it reads and writes none. It plays from
// the request alone: the tool list and each tool's JSON Schema, the persona (archetype and module
// weights), the tick id and the conversation so far. It picks tools by module weight, builds
// arguments that satisfy each schema with small archetype-flavoured word lists, chains calls by
// reusing ids returned in earlier tool results, closes with a one-line summary and, in the rating
// turn, rates each module it used from the results it saw.
//
// Complete is a pure function of (seed, persona, tick id, request): every random choice comes
// from a generator derived from the seed, the persona's email, the tick id and the step, never
// from shared mutable state, so concurrent runs do not disturb each other and the same
// conversation always gets the same answer.
package sim

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/persona-runner/persona-runner/model"
)

// DefaultModel is the name the simulator reports as its model.
const DefaultModel = "persona-sim-v1"

// Label starts every text the simulator writes, so no reader mistakes it for a model's words.
const Label = "[simulated]"

// Sim is the offline simulator. It holds only its configuration and is safe for concurrent use.
type Sim struct {
	seed     int64
	model    string
	minCalls int
	maxCalls int
}

// Parsed tool schemas and loaded time zones are cached for the process. They are immutable once
// stored and keyed by their full input, so sharing them cannot influence any choice; the tool
// lists of an app are few and stable, so the caches stay small.
var (
	toolCache     sync.Map // tool name + schema → *tool
	locationCache sync.Map // IANA name → *time.Location
)

var _ model.Provider = (*Sim)(nil)

// Option configures a Sim.
type Option func(*Sim)

// WithModel sets the model name the simulator reports (default DefaultModel).
func WithModel(name string) Option {
	return func(s *Sim) {
		if name != "" {
			s.model = name
		}
	}
}

// WithCalls sets how many tool calls a persona plans per run (default 3 to 8, as SPEC §5.3 asks
// of every persona). Values are clamped so that 1 ≤ lo ≤ hi ≤ 12, below the runner's turn limit.
func WithCalls(lo, hi int) Option {
	return func(s *Sim) {
		lo = min(max(lo, 1), 12)
		hi = min(max(hi, lo), 12)
		s.minCalls, s.maxCalls = lo, hi
	}
}

// New returns a simulator whose choices are all derived from seed.
func New(seed int64, opts ...Option) *Sim {
	s := &Sim{seed: seed, model: DefaultModel, minCalls: 3, maxCalls: 8}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Name returns "sim".
func (s *Sim) Name() string { return "sim" }

// Model returns the configured simulator name, "persona-sim-v1" by default.
func (s *Sim) Model() string { return s.model }

// Complete plays one turn. In the main phase it answers with tool calls until its planned number
// of calls is made, then with a one-line summary; in the rating phase (or whenever no tools are
// offered after calls were made) it answers with the ratings JSON of SPEC §5.3.
func (s *Sim) Complete(ctx context.Context, req model.Request) (model.Response, error) {
	if err := ctx.Err(); err != nil {
		return model.Response{}, fmt.Errorf("sim complete: %w", err)
	}
	h := readHistory(req.Messages, knownModules(req.Persona))
	var resp model.Response
	switch {
	case req.Phase == model.PhaseRating:
		resp = s.rate(req, h)
	case req.Phase == model.PhaseSampling:
		resp = s.sample(req)
	case req.Phase == model.PhaseElicitation:
		resp = s.elicit(req)
	case len(req.Tools) == 0:
		resp = s.summarize(req, h, "no tools were offered")
	default:
		resp = s.play(req, h)
	}
	resp.Model = s.model
	// The simulator reads and writes no tokens, so it reports none rather than an estimate that
	// could be mistaken for model usage.
	resp.Usage = model.Usage{}
	return resp, nil
}

// runKey identifies a run for the simulator's choices: the opening user message, which carries
// the persona's date and the digest of its earlier runs. The tick id is not used on purpose: it is
// a fresh random UUID every run, and keying on it would make the same --seed play differently
// each time (two fresh data directories must replay the same day). Runs on different days or
// after different histories still differ, because their opening messages do.
func runKey(req model.Request) string {
	for _, m := range req.Messages {
		if m.Role == model.User && m.Text != "" {
			return m.Text
		}
	}
	return req.TickID
}

// rng returns a generator derived from the seed, the persona, the run (runKey) and a purpose,
// so that each decision has its own reproducible stream.
func (s *Sim) rng(p model.Persona, run string, purpose ...any) *rand.Rand {
	h := sha256.New()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(s.seed))
	h.Write(b[:])
	for _, part := range append([]any{p.Email, run}, purpose...) {
		h.Write([]byte{0})
		switch v := part.(type) {
		case string:
			h.Write([]byte(v))
		case int:
			h.Write([]byte(strconv.Itoa(v)))
		default:
			fmt.Fprint(h, v)
		}
	}
	sum := h.Sum(nil)
	return rand.New(rand.NewPCG(binary.LittleEndian.Uint64(sum[:8]), binary.LittleEndian.Uint64(sum[8:16])))
}

// plannedCalls is how many tool calls this persona makes in this run.
func (s *Sim) plannedCalls(p model.Persona, run string) int {
	r := s.rng(p, run, "plan")
	return s.minCalls + r.IntN(s.maxCalls-s.minCalls+1)
}

func location(name string) *time.Location {
	if name == "" {
		return time.UTC
	}
	if l, ok := locationCache.Load(name); ok {
		return l.(*time.Location)
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		l = time.UTC
	}
	locationCache.Store(name, l)
	return l
}

// fallbackToday is the day played when the conversation names no date. A fixed day, rather than
// the clock, keeps the simulator's output a function of its input.
var fallbackToday = time.Date(2026, time.January, 15, 0, 0, 0, 0, time.UTC)

// today finds the persona's date in the first user message (the runner writes it there, SPEC
// §5.3), as YYYY-MM-DD or with an English month name.
func (s *Sim) today(req model.Request) time.Time {
	loc := location(req.Persona.Timezone)
	for _, m := range req.Messages {
		if m.Role != model.User || m.Text == "" {
			continue
		}
		if d, ok := findDate(m.Text); ok {
			return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc)
		}
		break
	}
	d := fallbackToday
	return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc)
}

// findDate returns the first date written in text, as YYYY-MM-DD or with an English month name.
// The first one counts: the runner opens with today's date and may quote older dates later (the
// memory digest).
func findDate(text string) (time.Time, bool) {
	var found []dateAt
	for _, loc := range isoDate.FindAllStringIndex(text, 3) {
		if d, err := time.Parse(time.DateOnly, text[loc[0]:loc[1]]); err == nil {
			found = append(found, dateAt{loc[0], d})
		}
	}
	for _, loc := range longDate.FindAllStringIndex(text, 3) {
		m := strings.ReplaceAll(strings.TrimSpace(text[loc[0]:loc[1]]), ",", "")
		for _, layout := range []string{"January 2 2006", "2 January 2006", "Jan 2 2006", "2 Jan 2006"} {
			if d, err := time.Parse(layout, m); err == nil {
				found = append(found, dateAt{loc[0], d})
				break
			}
		}
	}
	if len(found) == 0 {
		return time.Time{}, false
	}
	first := found[0]
	for _, f := range found[1:] {
		if f.at < first.at {
			first = f
		}
	}
	return first.d, true
}

type dateAt struct {
	at int
	d  time.Time
}

// shortName is the persona's email local part without a "persona." prefix, for summaries.
func shortName(email string) string {
	local, _, _ := strings.Cut(email, "@")
	local = strings.TrimPrefix(local, "persona.")
	if local == "" {
		return "persona"
	}
	return local
}
