// Package persist is the runner's persistence through the auth API (the runner as a separate
// process, SPEC §4): the Persistence of package runner, over the auth API's internal endpoints
// with the service key, and the fallback for auth services that lack our extension endpoints.
// The runner itself speaks no HTTP: this adapter tells it which failures are worth another try
// by marking them retry.Temporary (an answer 408, 429 or 5xx, with its Retry-After).
package persist

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/persona-runner/persona-runner/authapi"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/retry"
)

// HTTP is the runner's Persistence through the auth API's internal endpoints. Its client must
// carry the service key.
type HTTP struct{ c *authapi.Client }

// New returns the Persistence that uses the auth API's internal endpoints through client.
func New(client *authapi.Client) *HTTP { return &HTTP{client} }

// classify marks the auth API's answers that may pass when tried again (408, 429, 5xx)
// retry.Temporary, with the wait the API asked for. Transport failures (a refused or cut
// connection, a timeout) are left as they are: the runner knows those of every adapter.
func classify(err error) error {
	var ae *authapi.Error
	if errors.As(err, &ae) && (ae.Status == http.StatusRequestTimeout || ae.Status == http.StatusTooManyRequests || ae.Status >= 500) {
		return retry.Temporary(err, ae.RetryAfter)
	}
	return err
}

// Claim goes through POST /api/v1/internal/personas/claim.
func (p *HTTP) Claim(ctx context.Context, runnerID string, limit int, lease time.Duration) ([]persona.DuePersona, error) {
	ps, err := p.c.Claim(ctx, runnerID, limit, lease)
	return ps, classify(err)
}

// InsertActions goes through POST /api/v1/internal/personas/{id}/actions.
func (p *HTTP) InsertActions(ctx context.Context, personaID string, rows []persona.Action) error {
	_, err := p.c.PostActions(ctx, personaID, rows)
	return classify(err)
}

// InsertFeedback goes through POST /api/v1/internal/personas/{id}/feedback.
func (p *HTTP) InsertFeedback(ctx context.Context, personaID string, rows []persona.Feedback) error {
	_, err := p.c.PostFeedback(ctx, personaID, rows)
	return classify(err)
}

// RecordTick goes through POST /api/v1/internal/personas/{id}/ticks.
func (p *HTTP) RecordTick(ctx context.Context, t persona.Tick) error {
	return classify(p.c.PostTick(ctx, t))
}

// AbandonRuns goes through POST /api/v1/internal/personas/abandon.
func (p *HTTP) AbandonRuns(ctx context.Context, runnerID string) (int, error) {
	n, err := p.c.AbandonRuns(ctx, runnerID)
	return n, classify(err)
}

// History goes through GET /api/v1/internal/personas/{id}/history.
func (p *HTTP) History(ctx context.Context, personaID string, runs int) ([]persona.RunHistory, error) {
	h, err := p.c.History(ctx, personaID, runs)
	return h, classify(err)
}

// due is the due list (the fallback of a missing claim endpoint).
func (p *HTTP) due(ctx context.Context) ([]persona.DuePersona, error) {
	list, _, err := p.c.Due(ctx, 0)
	return list, classify(err)
}
