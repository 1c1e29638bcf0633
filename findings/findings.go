// Package findings turns what the personas did into findings: what went wrong, since when, for
// whom, in which app versions, with the calls that reproduce it. It is a read model: Build is a
// function over a small Source (a part of persona.Store), so the CLI, the report and the
// dashboard show the same findings.
//
// Kinds of finding: tool errors grouped by (target, tool, error class, message signature); slow
// tools (p95 latency above a threshold, or well above the baseline's); low or falling module
// ratings (mean below a threshold, or a drop against the baseline that a one-sided Mann–Whitney U
// test finds significant); unusable rating replies; runs that failed or timed out.
package findings

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/persona-runner/persona-runner/persona"
)

// Source is the part of persona.Store findings read.
type Source interface {
	ListPersonas(ctx context.Context, actionsSince time.Time) ([]persona.PersonaSummary, error)
	Actions(ctx context.Context, q persona.ActionQuery) ([]persona.Action, error)
	Feedback(ctx context.Context, q persona.FeedbackQuery) ([]persona.Feedback, error)
	Ticks(ctx context.Context, q persona.TickQuery) ([]persona.Tick, error)
}

// Kind is what a finding is about.
type Kind string

const (
	KindToolError        Kind = "tool-error"
	KindSlowTool         Kind = "slow-tool"
	KindLowRating        Kind = "low-rating"
	KindFallingRating    Kind = "falling-rating"
	KindUnusableRatings  Kind = "unusable-ratings"
	KindFailedRuns       Kind = "failed-runs"
	causePersonaMistake       = "persona-mistake"
	causeConfusingSchema      = "confusing-schema"
)

// Severity orders findings: high first.
type Severity string

const (
	SeverityHigh   Severity = "high"
	SeverityMedium Severity = "medium"
	SeverityLow    Severity = "low"
)

func (s Severity) rank() int {
	switch s {
	case SeverityHigh:
		return 0
	case SeverityMedium:
		return 1
	}
	return 2
}

// Status says whether a finding still happens.
type Status string

const (
	StatusOpen     Status = "open"
	StatusResolved Status = "resolved"
)

// Finding is one thing that went wrong, with its evidence. ID is stable: the same problem gets
// the same id in every run of Build (a hash of its kind and grouping key).
type Finding struct {
	ID          string    `json:"id"`
	Kind        Kind      `json:"kind"`
	Severity    Severity  `json:"severity"`
	Status      Status    `json:"status"`
	Title       string    `json:"title"`
	Detail      string    `json:"detail"`
	Target      string    `json:"target,omitempty"`
	Tool        string    `json:"tool,omitempty"`
	Module      string    `json:"module,omitempty"`
	ErrorClass  string    `json:"errorClass,omitempty"`
	Signature   string    `json:"signature,omitempty"`
	Cause       string    `json:"cause,omitempty"` // invalid-input: persona-mistake or confusing-schema
	FirstSeen   time.Time `json:"firstSeen"`
	LastSeen    time.Time `json:"lastSeen"`
	Occurrences int       `json:"occurrences"`
	Personas    []string  `json:"personas"`
	Versions    []string  `json:"versions"`
	New         bool      `json:"new"`        // first seen inside the window
	Regression  bool      `json:"regression"` // worse than the baseline
	Metrics     *Metrics  `json:"metrics,omitempty"`
	Notes       []string  `json:"notes,omitempty"` // the personas' words (ratings)
	Samples     []Sample  `json:"samples"`
}

// Metrics are the figures behind a slow-tool or rating finding.
type Metrics struct {
	P95Ms         int64    `json:"p95Ms,omitempty"`
	BaselineP95Ms int64    `json:"baselineP95Ms,omitempty"`
	Mean          float64  `json:"mean,omitempty"`
	BaselineMean  *float64 `json:"baselineMean,omitempty"`
	N             int      `json:"n"`
	BaselineN     int      `json:"baselineN,omitempty"`
	PValue        *float64 `json:"pValue,omitempty"`
}

// Sample is one occurrence: the call (or run) that reproduces the finding.
type Sample struct {
	TickID    string          `json:"tickId"`
	Persona   string          `json:"persona"`
	At        time.Time       `json:"at"`
	Version   string          `json:"version,omitempty"`
	Tool      string          `json:"tool,omitempty"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
	Error     string          `json:"error,omitempty"`
	LatencyMs int64           `json:"latencyMs,omitempty"`
	Rating    int             `json:"rating,omitempty"`
}

// Options set the window and the thresholds. Zero values take the defaults.
type Options struct {
	Now   time.Time     // end of the window (exclusive); zero: time.Now()
	Since time.Duration // the window findings are drawn from (default 7 days)
	// Baseline is the length of the window before Since that "falling" and "slower" compare
	// with (default: the same length as Since).
	Baseline time.Duration
	// Versions, when set (V1..V2), compares the runs on app version To with those on From
	// instead of the two windows; both read from the whole span Baseline+Since.
	Versions *VersionRange
	Persona  string        // only this persona (email or id)
	SlowP95  time.Duration // p95 latency above which a tool is slow (default 2s)
	// SlowFactor: a p95 this many times the baseline's is a regression (default 2).
	SlowFactor  float64
	MinRating   float64 // mean rating below which a module is rated low (default 3.0)
	MinSample   int     // ratings (or calls) each side needs before a comparison counts (default 5)
	Alpha       float64 // significance level of the rating test (default 0.05)
	ResolveRuns int     // runs that used the tool without it, after a newer version, to resolve (default 3)
	Samples     int     // sample calls per finding (default 3)
	// Readers bounds how many of a store's aggregates are read at once (0: all of them, for
	// the shortest wall time; 1: one after another, to leave the other cores to a server's
	// requests while it computes in the background).
	Readers int
}

// VersionRange names the two app versions of --compare V1..V2.
type VersionRange struct{ From, To string }

func (o *Options) defaults() error {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Since == 0 {
		o.Since = 7 * 24 * time.Hour
	}
	if o.Since < 0 {
		return &persona.FieldError{Field: "since", Message: "must be a positive duration such as 7d or 24h"}
	}
	if o.Baseline <= 0 {
		o.Baseline = o.Since
	}
	if o.SlowP95 <= 0 {
		o.SlowP95 = 2 * time.Second
	}
	if o.SlowFactor <= 1 {
		o.SlowFactor = 2
	}
	if o.MinRating <= 0 {
		o.MinRating = 3.0
	}
	if o.MinSample <= 0 {
		o.MinSample = 5
	}
	if o.Alpha <= 0 || o.Alpha >= 1 {
		o.Alpha = 0.05
	}
	if o.ResolveRuns <= 0 {
		o.ResolveRuns = 3
	}
	if o.Samples <= 0 {
		o.Samples = 3
	}
	return nil
}

// Result is what Build found, with the window it looked at.
type Result struct {
	From         time.Time     `json:"from"`
	To           time.Time     `json:"to"`
	BaselineFrom time.Time     `json:"baselineFrom"`
	Compare      *VersionRange `json:"compare,omitempty"`
	Findings     []Finding     `json:"findings"`
}

// Open returns the open findings.
func (r *Result) Open() []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Status == StatusOpen {
			out = append(out, f)
		}
	}
	return out
}

// Find returns the finding with id (a prefix of at least 4 characters is enough when unique).
func (r *Result) Find(id string) (Finding, error) {
	id = strings.ToUpper(strings.TrimSpace(id))
	var hits []Finding
	for _, f := range r.Findings {
		if f.ID == id {
			return f, nil
		}
		if len(id) >= 4 && strings.HasPrefix(f.ID, id) {
			hits = append(hits, f)
		}
	}
	if len(hits) == 1 {
		return hits[0], nil
	}
	if len(hits) > 1 {
		return Finding{}, fmt.Errorf("finding %q: %d findings start with it; give more of the id: %w", id, len(hits), persona.ErrInvalid)
	}
	return Finding{}, fmt.Errorf("finding %q: %w", id, persona.ErrNotFound)
}

// id is the stable id of a finding: F- and 8 hex characters of a hash of its key.
func id(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x1f")))
	return "F-" + strings.ToUpper(hex.EncodeToString(sum[:4]))
}

// sortFindings puts open before resolved, then by severity, regressions and new ones first,
// then most occurrences, then id.
func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Status != b.Status {
			return a.Status == StatusOpen
		}
		if a.Severity != b.Severity {
			return a.Severity.rank() < b.Severity.rank()
		}
		if a.Regression != b.Regression {
			return a.Regression
		}
		if a.Occurrences != b.Occurrences {
			return a.Occurrences > b.Occurrences
		}
		return a.ID < b.ID
	})
}
