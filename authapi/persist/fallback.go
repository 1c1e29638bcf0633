package persist

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/persona-runner/persona-runner/authapi"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/runner"
)

// LocalStore is the runner's local store as a Fallback uses it: mirrors of the personas, their tick
// records, rows and memory. Each method is persona.Store's of the same name, with its errors;
// store/sqlite implements it.
type LocalStore interface {
	UpsertPersona(ctx context.Context, in persona.PersonaInput) (userID string, out persona.Outcome, err error)
	Persona(ctx context.Context, userID string) (persona.Persona, error)
	InsertActions(ctx context.Context, personaID string, rows []persona.Action) (written, duplicates int, err error)
	InsertFeedback(ctx context.Context, personaID string, rows []persona.Feedback) (written, duplicates int, err error)
	RecordTick(ctx context.Context, t persona.Tick) error
	History(ctx context.Context, personaID string, runs int) ([]persona.RunHistory, error)
	Close() error
}

// Fallback is the HTTP persistence for auth services that may lack our extension
// endpoints (the original Mana service has due, actions and feedback, but no claim, ticks or
// history; issue 14.5). Each extension is tried on first use; a 404 that is not "Persona not
// found" means the route is missing, and from then on:
//   - claim falls back to the due list, leased in this process only — so only ONE runner replica
//     may run against such a service (said in the log and in /health);
//   - tick records go to a local store beside the runner, whose schedule (last run, back-off)
//     keeps a persona from rerunning every tick when the service has no record of its runs;
//   - the memory digest comes from the local store, which also keeps a copy of the rows.
//
// A missing extension never fails a run.
type Fallback struct {
	http      *HTTP
	openLocal func(context.Context) (LocalStore, error)
	log       *slog.Logger
	now       func() time.Time

	mu       sync.Mutex
	missing  map[string]bool      // extension endpoint → missing
	local    LocalStore           // opened on first need
	localErr error                // why it could not be opened
	localID  map[string]string    // remote persona id → local mirror id
	mirrored map[string]string    // remote persona id → fingerprint of the mirrored fields
	leases   map[string]time.Time // remote persona id → lease end (due fallback)
	password string               // of the local mirrors, which never log in
	saidTZ   bool
}

// Extension endpoints a fallback can replace.
const (
	extClaim   = "claim"
	extTicks   = "ticks"
	extHistory = "history"
)

// NewFallback returns the Persistence that uses the auth API's internal endpoints
// through client (which must carry the service key) and falls back, per missing extension
// endpoint, to the due list and a local store that openLocal opens on first need (see the type).
func NewFallback(client *authapi.Client, openLocal func(context.Context) (LocalStore, error), log *slog.Logger) *Fallback {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Fallback{
		http: New(client), openLocal: openLocal, log: log, now: time.Now,
		missing: map[string]bool{}, localID: map[string]string{}, mirrored: map[string]string{},
		leases: map[string]time.Time{}, password: rand.Text(),
	}
}

// Fallback says which extension endpoints the auth service lacks and what the runner does
// instead (nil when none is missing); the runner's /health shows it.
func (f *Fallback) Fallback() *runner.FallbackStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.missing) == 0 {
		return nil
	}
	st := &runner.FallbackStatus{}
	for ext := range f.missing {
		st.MissingEndpoints = append(st.MissingEndpoints, ext)
	}
	sort.Strings(st.MissingEndpoints)
	var notes []string
	if f.missing[extClaim] {
		st.SingleReplica = true
		notes = append(notes, "personas come from the due list, leased in this process only: run ONE runner replica")
	}
	if f.missing[extTicks] || f.missing[extHistory] {
		notes = append(notes, "tick records and the memory digest are kept in the runner's local store")
	}
	st.Note = strings.Join(notes, "; ")
	return st
}

// markMissing records that ext is missing and says what that means, once.
func (f *Fallback) markMissing(ext string, err error) {
	f.mu.Lock()
	first := !f.missing[ext]
	f.missing[ext] = true
	f.mu.Unlock()
	if !first {
		return
	}
	switch ext {
	case extClaim:
		f.log.Warn("the auth service has no claim endpoint (the original Mana service?): falling back to its due list, leased in this process only — run ONE runner replica against it", "err", err)
	case extTicks:
		f.log.Warn("the auth service has no ticks endpoint: tick records and run schedules are kept in the runner's local store", "err", err)
	case extHistory:
		f.log.Warn("the auth service has no history endpoint: the memory digest comes from the runner's local store", "err", err)
	}
}

func (f *Fallback) isMissing(ext string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.missing[ext]
}

// store returns the local store, opening it on first need.
func (f *Fallback) store(ctx context.Context) (LocalStore, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.local != nil || f.localErr != nil {
		return f.local, f.localErr
	}
	if f.openLocal == nil {
		f.localErr = errors.New("no local store configured")
		return nil, f.localErr
	}
	f.local, f.localErr = f.openLocal(ctx)
	if f.localErr != nil {
		f.localErr = fmt.Errorf("open the runner's local store: %w", f.localErr)
		f.log.Error("the runner's local store cannot be opened: runs go on without local tick records and memory", "err", f.localErr)
	}
	return f.local, f.localErr
}

// Close closes the local store if it was opened.
func (f *Fallback) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.local != nil {
		return f.local.Close()
	}
	return nil
}

func (f *Fallback) Claim(ctx context.Context, runnerID string, limit int, lease time.Duration) ([]persona.DuePersona, error) {
	if !f.isMissing(extClaim) {
		ps, err := f.http.Claim(ctx, runnerID, limit, lease)
		if err == nil || !authapi.IsMissingRoute(err) {
			return ps, err
		}
		f.markMissing(extClaim, err)
	}
	return f.claimFromDue(ctx, limit, lease)
}

// claimFromDue takes up to limit personas of the due list that this process has not leased and
// whose local schedule (last ok run, back-off after failures) lets them run, and leases them here.
func (f *Fallback) claimFromDue(ctx context.Context, limit int, lease time.Duration) ([]persona.DuePersona, error) {
	due, err := f.http.due(ctx)
	if err != nil {
		return nil, err
	}
	now := f.now()
	var out []persona.DuePersona
	noTZ := 0
	for _, p := range due {
		if len(out) >= limit {
			break
		}
		if p.Timezone == "" {
			p.Timezone = "UTC"
			noTZ++
		}
		f.mu.Lock()
		end, leased := f.leases[p.UserID]
		f.mu.Unlock()
		if leased && end.After(now) {
			continue
		}
		if !f.localDue(ctx, p, now) {
			continue
		}
		end = now.Add(lease)
		f.mu.Lock()
		f.leases[p.UserID] = end
		f.mu.Unlock()
		p.LeaseExpiresAt = &end
		out = append(out, p)
	}
	if noTZ > 0 {
		f.mu.Lock()
		say := !f.saidTZ
		f.saidTZ = true
		f.mu.Unlock()
		if say {
			f.log.Info("the due list gives no timezone: personas without one live in UTC (dates in prompts, the weekdays cadence)", "personas", noTZ)
		}
	}
	return out, nil
}

// localDue mirrors p into the local store and applies the due rule to the local record, which
// knows the runs this runner recorded there. Without a usable local store every persona of the
// due list is due.
func (f *Fallback) localDue(ctx context.Context, p persona.DuePersona, now time.Time) bool {
	id, ok := f.mirror(ctx, p)
	if !ok {
		return true
	}
	st, _ := f.store(ctx)
	lp, err := st.Persona(ctx, id)
	if err != nil {
		f.log.Warn("read the local record of a persona", "persona", p.Email, "err", err)
		return true
	}
	lp.LeaseOwner, lp.LeaseExpiresAt = "", nil
	return persona.IsDue(lp, now)
}

// mirror makes sure the local store has p (by email, with the due list's fields) and returns its
// local id.
func (f *Fallback) mirror(ctx context.Context, p persona.DuePersona) (string, bool) {
	st, err := f.store(ctx)
	if err != nil {
		return "", false
	}
	fp := fingerprint(p)
	f.mu.Lock()
	id, known := f.localID[p.UserID]
	same := f.mirrored[p.UserID] == fp
	f.mu.Unlock()
	if known && same {
		return id, true
	}
	name, _, _ := strings.Cut(p.Email, "@")
	id, _, err = st.UpsertPersona(ctx, persona.PersonaInput{
		Email: p.Email, Name: name, Password: f.password, Archetype: p.Archetype,
		SystemPrompt: p.SystemPrompt, ModuleMix: p.ModuleMix, TickCadence: p.TickCadence, Timezone: p.Timezone,
	})
	if err != nil {
		f.log.Warn("keep a local record of a persona", "persona", p.Email, "err", err)
		return "", false
	}
	f.mu.Lock()
	f.localID[p.UserID], f.mirrored[p.UserID] = id, fp
	f.mu.Unlock()
	return id, true
}

func fingerprint(p persona.DuePersona) string {
	b, _ := json.Marshal([]any{p.Email, p.Archetype, p.SystemPrompt, p.ModuleMix, p.TickCadence, p.Timezone})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// local returns the local store and p's local id when a fallback needs them.
func (f *Fallback) localOf(ctx context.Context, remoteID string) (LocalStore, string, bool) {
	f.mu.Lock()
	id, ok := f.localID[remoteID]
	f.mu.Unlock()
	if !ok {
		return nil, "", false
	}
	st, err := f.store(ctx)
	if err != nil {
		return nil, "", false
	}
	return st, id, true
}

// keepsLocal reports whether rows are copied to the local store (for the memory digest).
func (f *Fallback) keepsLocal() bool {
	return f.isMissing(extHistory) || f.isMissing(extTicks) || f.isMissing(extClaim)
}

func (f *Fallback) InsertActions(ctx context.Context, personaID string, rows []persona.Action) error {
	if err := f.http.InsertActions(ctx, personaID, rows); err != nil {
		return err
	}
	if f.keepsLocal() {
		if st, id, ok := f.localOf(ctx, personaID); ok {
			if _, _, err := st.InsertActions(ctx, id, clearIDs(rows)); err != nil {
				f.log.Warn("keep a local copy of action rows", "persona", personaID, "err", err)
			}
		}
	}
	return nil
}

func (f *Fallback) InsertFeedback(ctx context.Context, personaID string, rows []persona.Feedback) error {
	if err := f.http.InsertFeedback(ctx, personaID, rows); err != nil {
		return err
	}
	if f.keepsLocal() {
		if st, id, ok := f.localOf(ctx, personaID); ok {
			local := make([]persona.Feedback, len(rows))
			for i, r := range rows {
				r.ID, r.PersonaID = "", ""
				local[i] = r
			}
			if _, _, err := st.InsertFeedback(ctx, id, local); err != nil {
				f.log.Warn("keep a local copy of feedback rows", "persona", personaID, "err", err)
			}
		}
	}
	return nil
}

func clearIDs(rows []persona.Action) []persona.Action {
	out := make([]persona.Action, len(rows))
	for i, r := range rows {
		r.ID, r.PersonaID = "", ""
		out[i] = r
	}
	return out
}

func (f *Fallback) RecordTick(ctx context.Context, t persona.Tick) error {
	if t.Status != persona.TickRunning {
		defer func() {
			f.mu.Lock()
			delete(f.leases, t.PersonaID)
			f.mu.Unlock()
		}()
	}
	if !f.isMissing(extTicks) {
		err := f.http.RecordTick(ctx, t)
		if err == nil || !authapi.IsMissingRoute(err) {
			return err
		}
		f.markMissing(extTicks, err)
	}
	st, id, ok := f.localOf(ctx, t.PersonaID)
	if !ok {
		f.log.Warn("tick record not kept: no local record of the persona", "persona", t.PersonaID, "tick", t.TickID)
		return nil
	}
	t.PersonaID = id
	return st.RecordTick(ctx, t)
}

func (f *Fallback) History(ctx context.Context, personaID string, runs int) ([]persona.RunHistory, error) {
	if !f.isMissing(extHistory) {
		h, err := f.http.History(ctx, personaID, runs)
		if err == nil || !authapi.IsMissingRoute(err) {
			return h, err
		}
		f.markMissing(extHistory, err)
	}
	st, id, ok := f.localOf(ctx, personaID)
	if !ok {
		return nil, nil
	}
	return st.History(ctx, id, runs)
}
