package authapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"time"

	"github.com/persona-runner/persona-runner/httpjson"
	"github.com/persona-runner/persona-runner/persona"
)

// handleDue lists due personas (read-only). An optional ?limit=N caps the list.
func (s *Server) handleDue(w http.ResponseWriter, r *http.Request) {
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeValidation(w, []FieldDetail{{Field: "limit", Message: fmt.Sprintf("must be a positive integer (got %q)", v)}})
			return
		}
		limit = n
	}
	due, at, err := s.store.DuePersonas(r.Context(), limit)
	if err != nil {
		s.writeStoreError(w, r, "due personas", err)
		return
	}
	if due == nil {
		due = []persona.DuePersona{}
	}
	httpjson.Write(w, http.StatusOK, DueResponse{Personas: due, ServerTime: at})
}

// handleClaim leases due personas to a runner.
func (s *Server) handleClaim(w http.ResponseWriter, r *http.Request) {
	var req ClaimRequest
	if derr := decodeBody(r, &req, true); derr != nil {
		writeDecodeError(w, derr)
		return
	}
	if req.Limit == 0 {
		req.Limit = DefaultClaimLimit
	}
	if req.LeaseSeconds == 0 {
		req.LeaseSeconds = DefaultLeaseSeconds
	}
	var es persona.FieldErrors
	if req.RunnerID == "" {
		es.Add("runnerId", "is required")
	} else if len(req.RunnerID) > 200 {
		es.Add("runnerId", "must be at most 200 characters")
	} else {
		es.Text("runnerId", req.RunnerID)
	}
	if req.Limit < 1 || req.Limit > MaxClaimLimit {
		es.Add("limit", "must be from 1 to %d (got %d)", MaxClaimLimit, req.Limit)
	}
	if req.LeaseSeconds < 1 || req.LeaseSeconds > MaxLeaseSeconds {
		es.Add("leaseSeconds", "must be from 1 to %d (got %d)", MaxLeaseSeconds, req.LeaseSeconds)
	}
	if err := es.Err(); err != nil {
		writeValidation(w, detailsOf(err))
		return
	}
	got, err := s.store.ClaimPersonas(r.Context(), req.RunnerID, req.Limit, time.Duration(req.LeaseSeconds)*time.Second)
	if err != nil {
		s.writeStoreError(w, r, "claim personas", err)
		return
	}
	if got == nil {
		got = []persona.DuePersona{}
	}
	httpjson.Write(w, http.StatusOK, DueResponse{Personas: got, ServerTime: s.now().UTC()})
}

// batchBody describes the body of a batch route, {"<key>": [row, …]}, once per route.
type batchBody[R, T any] struct {
	key  string       // "actions" or "feedback"
	max  int          // rows a batch may hold
	fast reflect.Type // struct{ Rows *[]*R `json:"<key>"` }: the whole batch in one pass
	slow reflect.Type // struct{ Rows *[]json.RawMessage `json:"<key>"` }: each row on its own
}

func newBatchBody[R, T any](key string, max int) batchBody[R, T] {
	envelope := func(rows reflect.Type) reflect.Type {
		return reflect.StructOf([]reflect.StructField{{Name: "Rows", Type: rows, Tag: reflect.StructTag(`json:"` + key + `"`)}})
	}
	return batchBody[R, T]{key: key, max: max,
		fast: envelope(reflect.TypeFor[*[]*R]()), slow: envelope(reflect.TypeFor[*[]json.RawMessage]())}
}

var (
	actionsBody  = newBatchBody[ActionRow, persona.Action]("actions", persona.MaxActionsPerBatch)
	feedbackBody = newBatchBody[FeedbackRow, persona.Feedback]("feedback", persona.MaxFeedbackPerBatch)
)

// decode parses a batch body and validates each row with check (which returns the row
// normalised, or its problems): either rows, or a body-level error (bad JSON, wrong type), or the
// field problems of every bad row. Nothing is written unless all rows are good.
func (b batchBody[R, T]) decode(body []byte, check func(i int, row R) (T, []FieldDetail)) ([]T, *decodeError, []FieldDetail) {
	// The fast path decodes the whole batch in one pass; only a batch that fails to decode is
	// decoded again row by row, to name the bad row and field.
	fast := reflect.New(b.fast)
	if decodeInto(body, fast.Interface(), true, "", "") == nil {
		if in := fast.Elem().Field(0).Interface().(*[]*R); in != nil {
			if d := b.count(len(*in)); d != nil {
				return nil, nil, d
			}
			return checkRows(*in, func(i int, row *R) (T, []FieldDetail) {
				if row == nil {
					var zero T
					return zero, []FieldDetail{{Field: fmt.Sprintf("%s[%d]", b.key, i), Message: "must be a JSON object"}}
				}
				return check(i, *row)
			})
		}
	}
	slow := reflect.New(b.slow)
	if derr := decodeInto(body, slow.Interface(), true, "", ""); derr != nil {
		return nil, derr, nil
	}
	raw := slow.Elem().Field(0).Interface().(*[]json.RawMessage)
	if raw == nil {
		return nil, nil, []FieldDetail{{Field: b.key, Message: "is required"}}
	}
	if d := b.count(len(*raw)); d != nil {
		return nil, nil, d
	}
	return checkRows(*raw, func(i int, m json.RawMessage) (T, []FieldDetail) {
		var zero T
		prefix := fmt.Sprintf("%s[%d]", b.key, i)
		var row R
		if derr := decodeInto(m, &row, true, prefix, prefix+".createdAt"); derr != nil {
			if derr.kind != decodeField {
				derr = &decodeError{kind: decodeField, field: prefix, message: "must be a JSON object"}
			}
			return zero, []FieldDetail{{Field: derr.field, Message: derr.message}}
		}
		if !isObject(m) {
			return zero, []FieldDetail{{Field: prefix, Message: "must be a JSON object"}}
		}
		return check(i, row)
	})
}

// count refuses a batch of n rows when n is outside 1..max.
func (b batchBody[R, T]) count(n int) []FieldDetail {
	if n < 1 || n > b.max {
		return []FieldDetail{{Field: b.key, Message: fmt.Sprintf("must have 1 to %d rows (got %d)", b.max, n)}}
	}
	return nil
}

// checkRows checks every row and returns them all, or the problems of every bad row.
func checkRows[E, T any](in []E, check func(i int, row E) (T, []FieldDetail)) ([]T, *decodeError, []FieldDetail) {
	rows := make([]T, 0, len(in))
	var details []FieldDetail
	for i, row := range in {
		t, d := check(i, row)
		if d != nil {
			details = append(details, d...)
			continue
		}
		rows = append(rows, t)
	}
	if len(details) > 0 {
		return nil, nil, details
	}
	return rows, nil, nil
}

// decodeActions parses and validates the body of POST …/{id}/actions into normalised rows for
// personaID (see batchBody.decode).
func decodeActions(body []byte, personaID string, tools persona.ToolNameMap) ([]persona.Action, *decodeError, []FieldDetail) {
	return actionsBody.decode(body, func(i int, row ActionRow) (persona.Action, []FieldDetail) {
		return checkAction(i, row, personaID, tools)
	})
}

// decodeFeedback is decodeActions for POST …/{id}/feedback.
func decodeFeedback(body []byte, personaID string) ([]persona.Feedback, *decodeError, []FieldDetail) {
	return feedbackBody.decode(body, func(i int, row FeedbackRow) (persona.Feedback, []FieldDetail) {
		return checkFeedback(i, row, personaID)
	})
}

// handleActions stores a batch of action rows: all or nothing, duplicates skipped.
func (s *Server) handleActions(w http.ResponseWriter, r *http.Request) {
	storeBatch(s, w, r, "insert actions", func(body []byte, id string) ([]persona.Action, *decodeError, []FieldDetail) {
		return decodeActions(body, id, s.tools)
	}, s.store.InsertActions)
}

// handleFeedback stores a batch of feedback rows: all or nothing, duplicates skipped.
func (s *Server) handleFeedback(w http.ResponseWriter, r *http.Request) {
	storeBatch(s, w, r, "insert feedback", decodeFeedback, s.store.InsertFeedback)
}

// storeBatch answers a batch route: the body decoded and every row checked, then all rows
// inserted or none, duplicates skipped.
func storeBatch[T any](s *Server, w http.ResponseWriter, r *http.Request, what string,
	decode func(body []byte, personaID string) ([]T, *decodeError, []FieldDetail),
	insert func(ctx context.Context, personaID string, rows []T) (written, duplicates int, err error)) {
	id := r.PathValue("id")
	body, derr := readBody(r)
	if derr != nil {
		writeDecodeError(w, derr)
		return
	}
	rows, derr, details := decode(body, id)
	if derr != nil {
		writeDecodeError(w, derr)
		return
	}
	if details != nil {
		writeValidation(w, details)
		return
	}
	written, dups, err := insert(r.Context(), id, rows)
	if err != nil {
		s.writeStoreError(w, r, what, err)
		return
	}
	httpjson.Write(w, http.StatusOK, BatchResult{OK: true, Written: written, Duplicates: dups})
}

// handleTick upserts a tick record; a terminal status releases the lease and reschedules.
func (s *Server) handleTick(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	body, derr := readBody(r)
	if derr != nil {
		writeDecodeError(w, derr)
		return
	}
	var t persona.Tick
	if derr := decodeInto(body, &t, true, "", "startedAt/finishedAt"); derr != nil {
		writeDecodeError(w, derr)
		return
	}
	if t.PersonaID != "" && t.PersonaID != id {
		writeValidation(w, []FieldDetail{{Field: "personaId", Message: "must match the persona in the path (or be omitted)"}})
		return
	}
	t.PersonaID = id
	if t.StartedAt.IsZero() {
		t.StartedAt = s.now().UTC()
	}
	if err := persona.ValidateTick(t); err != nil {
		writeValidation(w, detailsOf(err))
		return
	}
	if err := s.store.RecordTick(r.Context(), t); err != nil {
		if errors.Is(err, persona.ErrConflict) {
			// The tick id is already another persona's. Like every bad field of an internal
			// request this is a 400 naming the field (SPEC §4), on every store: SQLite reports it
			// as a conflict, PostgreSQL as a field error.
			writeValidation(w, []FieldDetail{{Field: "tickId", Message: "belongs to another persona"}})
			return
		}
		s.writeStoreError(w, r, "record tick", err)
		return
	}
	httpjson.Write(w, http.StatusOK, TickResponse{OK: true, TickID: t.TickID})
}

// handleHistory returns the persona's last finished runs with their rows (our extension; the
// runner builds its memory digest from it).
func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	runs := DefaultHistoryRuns
	if v := r.URL.Query().Get("runs"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxHistoryRuns {
			writeValidation(w, []FieldDetail{{Field: "runs", Message: fmt.Sprintf("must be an integer from 1 to %d (got %q)", MaxHistoryRuns, v)}})
			return
		}
		runs = n
	}
	if _, err := s.store.Persona(ctx, id); err != nil {
		s.writeStoreError(w, r, "get persona", err)
		return
	}
	h, err := s.store.History(ctx, id, runs)
	if err != nil {
		s.writeStoreError(w, r, "history", err)
		return
	}
	if h == nil {
		h = []persona.RunHistory{}
	}
	httpjson.Write(w, http.StatusOK, HistoryResponse{Runs: h})
}

// isObject reports whether a raw row is a JSON object (null decodes into a struct silently).
func isObject(m json.RawMessage) bool {
	m = bytes.TrimSpace(m)
	return len(m) > 0 && m[0] == '{'
}

// checkAction validates row i of a batch and returns it normalised, or its problems.
func checkAction(i int, row ActionRow, personaID string, tools persona.ToolNameMap) (persona.Action, []FieldDetail) {
	a := actionFromRow(i, row, tools)
	if err := persona.ValidateAction(i, a); err != nil {
		return a, detailsOf(err)
	}
	return persona.NormalizeAction(personaID, a), nil
}

// checkFeedback validates row i of a batch and returns it normalised, or its problems.
func checkFeedback(i int, row FeedbackRow, personaID string) (persona.Feedback, []FieldDetail) {
	fb := feedbackFromRow(row)
	if err := persona.ValidateFeedback(i, fb); err != nil {
		return fb, detailsOf(err)
	}
	return persona.NormalizeFeedback(personaID, fb), nil
}

// TokenResponse answers POST …/{id}/token (our extension): the persona's access token, minted
// without its password.
type TokenResponse struct {
	AccessToken string    `json:"accessToken"`
	ExpiresAt   time.Time `json:"expiresAt"`
	UserID      string    `json:"userId"`
}

// MintPersonaToken issues an access token for the persona userID without its password (no
// session, so no refresh token: mint again when it nears expiry). Only live personas get one:
// ErrNotFound for an unknown or deleted user, ErrNotPersona for any other kind of account.
// The runner in the same process (`up`) calls it directly; others go through POST …/{id}/token.
func (s *Server) MintPersonaToken(ctx context.Context, userID string) (TokenResponse, error) {
	u, err := s.store.User(ctx, userID)
	if err != nil {
		return TokenResponse{}, fmt.Errorf("mint token: %w", err)
	}
	if u.Kind != persona.KindPersona {
		return TokenResponse{}, fmt.Errorf("mint token: user %s: %w", userID, persona.ErrNotPersona)
	}
	if u.PasswordHash == "" {
		// A persona without a login tests a target whose auth is not mana: it has no auth-API
		// session, by password or minted.
		return TokenResponse{}, fmt.Errorf("persona %s has no login (its target's auth is not mana): no token is minted for it: %w", u.Email, persona.ErrConflict)
	}
	tok, exp, err := s.issuer.Issue(u, "")
	if err != nil {
		return TokenResponse{}, fmt.Errorf("mint token: %w", err)
	}
	return TokenResponse{AccessToken: tok, ExpiresAt: exp, UserID: u.ID}, nil
}

// handleMintToken mints a persona's access token for a runner holding the service key, so runs
// need no password login (and a locked-out password does not stop them).
func (s *Server) handleMintToken(w http.ResponseWriter, r *http.Request) {
	res, err := s.MintPersonaToken(r.Context(), r.PathValue("id"))
	if errors.Is(err, persona.ErrNotFound) || errors.Is(err, persona.ErrNotPersona) {
		httpjson.Write(w, http.StatusNotFound, errorBody{Error: msgPersonaNotFound})
		return
	}
	if err != nil {
		s.writeStoreError(w, r, "mint token", err)
		return
	}
	httpjson.Write(w, http.StatusOK, res)
}

// MintToken asks the auth API for a persona's access token with the service key (our
// extension); a server without the route (the original) answers 404 with ErrNotFound's
// wrapping, as an unknown persona does.
func (c *Client) MintToken(ctx context.Context, personaID string) (TokenResponse, error) {
	var out TokenResponse
	if err := c.do(ctx, http.MethodPost, personaPath(personaID, "token"), c.serviceAuth(), struct{}{}, &out); err != nil {
		return TokenResponse{}, fmt.Errorf("mint token for %s: %w", personaID, err)
	}
	return out, nil
}

// AbandonRequest is the body of POST /api/v1/internal/personas/abandon (ours, additive): a
// runner restarting under runnerId asks that the runs its previous process left running be
// marked abandoned and its leases released (persona.Store.AbandonRuns).
type AbandonRequest struct {
	RunnerID string `json:"runnerId"`
}

func (s *Server) handleAbandon(w http.ResponseWriter, r *http.Request) {
	var req AbandonRequest
	if derr := decodeBody(r, &req, true); derr != nil {
		writeDecodeError(w, derr)
		return
	}
	var es persona.FieldErrors
	if req.RunnerID == "" {
		es.Add("runnerId", "is required")
	} else if len(req.RunnerID) > 200 {
		es.Add("runnerId", "must be at most 200 characters")
	} else {
		es.Text("runnerId", req.RunnerID)
	}
	if err := es.Err(); err != nil {
		writeValidation(w, detailsOf(err))
		return
	}
	n, err := s.store.AbandonRuns(r.Context(), req.RunnerID)
	if err != nil {
		s.writeStoreError(w, r, "abandon runs", err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"ok": true, "abandoned": n})
}
