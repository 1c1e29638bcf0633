package e2e_test

import (
	"context"
	"sync"
	"testing"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/runner"
)

// countingStore counts the store's write calls; refuseRuns makes RecordRun fail for good.
type countingStore struct {
	persona.Store
	refuseRuns bool

	mu                             sync.Mutex
	runs, actions, feedback, ticks int
}

func (s *countingStore) RecordRun(ctx context.Context, run persona.RunRecord) (persona.RunWritten, error) {
	s.mu.Lock()
	s.runs++
	s.mu.Unlock()
	if s.refuseRuns {
		return persona.RunWritten{}, &persona.FieldError{Field: "tick", Message: "refused by the test"}
	}
	return s.Store.RecordRun(ctx, run)
}

func (s *countingStore) InsertActions(ctx context.Context, id string, rows []persona.Action) (int, int, error) {
	s.mu.Lock()
	s.actions++
	s.mu.Unlock()
	return s.Store.InsertActions(ctx, id, rows)
}

func (s *countingStore) InsertFeedback(ctx context.Context, id string, rows []persona.Feedback) (int, int, error) {
	s.mu.Lock()
	s.feedback++
	s.mu.Unlock()
	return s.Store.InsertFeedback(ctx, id, rows)
}

func (s *countingStore) RecordTick(ctx context.Context, t persona.Tick) error {
	s.mu.Lock()
	s.ticks++
	s.mu.Unlock()
	return s.Store.RecordTick(ctx, t)
}

// TestStorePersistenceOneWritePerRun: with the store in the same process, a run's actions,
// feedback and tick record are one RecordRun call (one transaction) on both stores; when that
// call fails for good, the runner writes the parts separately and the run still lands whole.
func TestStorePersistenceOneWritePerRun(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, pg bool) {
		for _, refuse := range []bool{false, true} {
			emails := []string{"persona.anna@mana.test", "persona.ben@mana.test", "persona.cleo@mana.test"}
			s := newStack(t, pg, emails...)
			cs := &countingStore{Store: s.db, refuseRuns: refuse}
			r, err := runner.New(s.config("r1").Runner(), runner.Deps{
				Provider: inProcessAgent{calls: 2}, Persistence: runner.NewStorePersistence(cs),
				Targets: instantTools{},
			})
			if err != nil {
				t.Fatal(err)
			}
			res, err := r.Tick(context.Background())
			if err != nil || res.RanSuccessfully != len(emails) {
				t.Fatalf("refuse=%v: tick %+v, %v", refuse, res, err)
			}
			n := len(emails)
			// RecordRun, InsertActions, InsertFeedback, RecordTick; each run's running record
			// at its start is one RecordTick.
			want := [4]int{n, 0, 0, n}
			if refuse {
				want = [4]int{n, n, n, 2 * n}
			}
			if got := [4]int{cs.runs, cs.actions, cs.feedback, cs.ticks}; got != want {
				t.Errorf("refuse=%v: calls (RecordRun, InsertActions, InsertFeedback, RecordTick) = %v; want %v", refuse, got, want)
			}
			ctx := context.Background()
			for _, e := range emails {
				id := s.ids[e]
				acts, _ := s.db.Actions(ctx, persona.ActionQuery{PersonaID: id})
				fb, _ := s.db.Feedback(ctx, persona.FeedbackQuery{PersonaID: id})
				ticks, _ := s.db.Ticks(ctx, persona.TickQuery{PersonaID: id})
				p, err := s.db.Persona(ctx, id)
				if len(acts) != 2 || len(fb) == 0 || len(ticks) != 1 || ticks[0].Status != persona.TickOK ||
					err != nil || p.LeaseOwner != "" || p.LastActiveAt == nil {
					t.Errorf("refuse=%v, %s: %d actions, %d feedback rows, ticks %+v, persona %+v %v", refuse, e, len(acts), len(fb), ticks, p, err)
				}
			}
		}
	})
}
