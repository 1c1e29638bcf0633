package authapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/persona-runner/persona-runner/persona"
)

// Client is a typed client of the auth API. Internal calls send ServiceKey; admin calls send
// AdminToken as a Bearer token; Spaces takes the caller's own access token. A Client is safe for
// concurrent use as long as its fields are not changed.
type Client struct {
	BaseURL    string // e.g. http://localhost:3001, without a trailing slash
	HTTP       *http.Client
	ServiceKey string
	AdminToken string
}

// NewClient returns a client of the auth API at baseURL. hc nil means a client with a 30-second
// timeout.
func NewClient(baseURL string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), HTTP: hc}
}

// Error is a non-2xx answer of the auth API. Code is the body's "error" (ACCOUNT_LOCKED,
// ValidationError, "Persona not found", …); Details lists field problems of a ValidationError.
// It matches persona.ErrNotFound (404), persona.ErrConflict (409), persona.ErrInvalid (400),
// ErrUnauthorized (401), ErrForbidden (403) and ErrLocked (429) with errors.Is, so a caller can
// treat the HTTP API and a local store alike.
type Error struct {
	Status     int
	Code       string
	Message    string
	Details    []FieldDetail
	RetryAfter time.Duration
	RequestID  string
}

// Errors a client call can match besides the persona vocabulary.
var (
	ErrUnauthorized = errors.New("unauthorized")
	ErrForbidden    = errors.New("forbidden")
	ErrLocked       = errors.New("account locked")
)

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "auth api: status %d", e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	for i, d := range e.Details {
		if i == 0 {
			b.WriteString(":")
		} else {
			b.WriteString(";")
		}
		if d.Field != "" {
			b.WriteString(" " + d.Field + ":")
		}
		b.WriteString(" " + d.Message)
	}
	return b.String()
}

// Is maps the answer to the error vocabulary through the table the server answers with
// (errorTable).
func (e *Error) Is(target error) bool { return answerIs(e.Status, e.Code, target) }

// auth says which credential a request carries.
type auth struct {
	header, value string
}

func (c *Client) serviceAuth() auth { return auth{HeaderServiceKey, c.ServiceKey} }
func (c *Client) adminAuth() auth   { return auth{"Authorization", "Bearer " + c.AdminToken} }
func bearerAuth(tok string) auth    { return auth{"Authorization", "Bearer " + tok} }

// do sends one request and decodes a 2xx body into out (when out is not nil).
func (c *Client) do(ctx context.Context, method, path string, a auth, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if id := RequestID(ctx); id != "" {
		req.Header.Set(HeaderRequestID, id)
	}
	if a.header != "" && a.value != "" {
		req.Header.Set(a.header, a.value)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read response: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s %s: %w", method, path, parseError(resp, data))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", method, path, err)
	}
	return nil
}

// parseError reads any of the API's error shapes.
func parseError(resp *http.Response, data []byte) *Error {
	e := &Error{Status: resp.StatusCode, RequestID: resp.Header.Get(HeaderRequestID)}
	var body struct {
		Error         string        `json:"error"`
		Message       string        `json:"message"`
		Details       []FieldDetail `json:"details"`
		RetryAfterSec int           `json:"retryAfterSec"`
	}
	if json.Unmarshal(data, &body) == nil {
		e.Code, e.Message, e.Details = body.Error, body.Message, body.Details
		if body.RetryAfterSec > 0 {
			e.RetryAfter = time.Duration(body.RetryAfterSec) * time.Second
		}
	} else {
		e.Message = persona.Truncate(strings.TrimSpace(string(data)), 200)
	}
	if e.RetryAfter == 0 {
		if sec, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && sec > 0 {
			e.RetryAfter = time.Duration(sec) * time.Second
		}
	}
	return e
}

// Login logs in with email and password.
func (c *Client) Login(ctx context.Context, email, password string) (*LoginResponse, error) {
	var out LoginResponse
	if err := c.do(ctx, http.MethodPost, PathLogin, auth{}, LoginRequest{Email: email, Password: password}, &out); err != nil {
		return nil, fmt.Errorf("login %s: %w", email, err)
	}
	return &out, nil
}

// Refresh trades a session (refresh) token for a new access token.
func (c *Client) Refresh(ctx context.Context, refreshToken string) (*RefreshResponse, error) {
	var out RefreshResponse
	if err := c.do(ctx, http.MethodPost, PathRefresh, auth{}, RefreshRequest{RefreshToken: refreshToken}, &out); err != nil {
		return nil, fmt.Errorf("refresh: %w", err)
	}
	return &out, nil
}

// JWKS returns the raw JWKS document.
func (c *Client) JWKS(ctx context.Context) (json.RawMessage, error) {
	var out json.RawMessage
	if err := c.do(ctx, http.MethodGet, PathJWKS, auth{}, nil, &out); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	return out, nil
}

// Spaces lists the spaces of the user the access token belongs to.
func (c *Client) Spaces(ctx context.Context, accessToken string) ([]Space, error) {
	var out []Space
	if err := c.do(ctx, http.MethodGet, PathOrgList, bearerAuth(accessToken), nil, &out); err != nil {
		return nil, fmt.Errorf("list spaces: %w", err)
	}
	return out, nil
}

// Due lists due personas (limit ≤ 0: all) and the server's time.
func (c *Client) Due(ctx context.Context, limit int) ([]persona.DuePersona, time.Time, error) {
	path := PathInternal + "/due"
	if limit > 0 {
		path += "?limit=" + strconv.Itoa(limit)
	}
	var out DueResponse
	if err := c.do(ctx, http.MethodGet, path, c.serviceAuth(), nil, &out); err != nil {
		return nil, time.Time{}, fmt.Errorf("due personas: %w", err)
	}
	return out.Personas, out.ServerTime, nil
}

// Claim leases up to limit due personas to runnerID for lease (rounded up to whole seconds).
func (c *Client) Claim(ctx context.Context, runnerID string, limit int, lease time.Duration) ([]persona.DuePersona, error) {
	sec := int((lease + time.Second - 1) / time.Second)
	var out DueResponse
	req := ClaimRequest{RunnerID: runnerID, Limit: limit, LeaseSeconds: sec}
	if err := c.do(ctx, http.MethodPost, PathInternal+"/claim", c.serviceAuth(), req, &out); err != nil {
		return nil, fmt.Errorf("claim personas: %w", err)
	}
	return out.Personas, nil
}

// PostActions sends one batch of action rows (1–500; the caller chunks). Row ids are derived by
// the server from tickId, seq and toolName, so a retried batch only reports duplicates.
func (c *Client) PostActions(ctx context.Context, personaID string, rows []persona.Action) (BatchResult, error) {
	req := ActionsRequest{Actions: make([]ActionRow, len(rows))}
	for i, a := range rows {
		req.Actions[i] = rowFromAction(a)
	}
	var out batchAnswer
	if err := c.do(ctx, http.MethodPost, personaPath(personaID, "actions"), c.serviceAuth(), req, &out); err != nil {
		return BatchResult{}, fmt.Errorf("post %d actions for %s: %w", len(rows), personaID, err)
	}
	res, err := out.check(len(rows))
	if err != nil {
		return res, fmt.Errorf("post %d actions for %s: %w", len(rows), personaID, err)
	}
	return res, nil
}

// batchAnswer is the answer to an actions or feedback POST as any server gives it: ours always
// counts duplicates, the original Mana server answers {ok, written} only.
type batchAnswer struct {
	OK         *bool `json:"ok"`
	Written    int   `json:"written"`
	Duplicates *int  `json:"duplicates"`
}

// check turns the answer into a BatchResult. It fails only when the server said it did not
// accept the batch, or when its own counts leave rows unaccounted for (written + duplicates
// less than sent). An answer without duplicates is the original server's: every row it did not
// count as written is taken for a duplicate of an earlier attempt, so no alarm.
func (a batchAnswer) check(sent int) (BatchResult, error) {
	res := BatchResult{OK: a.OK == nil || *a.OK, Written: a.Written}
	if a.Duplicates != nil {
		res.Duplicates = *a.Duplicates
	} else if a.Written < sent {
		res.Duplicates = sent - a.Written
	}
	if !res.OK {
		return res, fmt.Errorf("the server answered ok: false (%d written)", a.Written)
	}
	if res.Written+res.Duplicates < sent {
		return res, fmt.Errorf("the server accounted for %d of %d rows (%d written, %d duplicates)", res.Written+res.Duplicates, sent, res.Written, res.Duplicates)
	}
	return res, nil
}

// PostFeedback sends one batch of feedback rows (1–100).
func (c *Client) PostFeedback(ctx context.Context, personaID string, rows []persona.Feedback) (BatchResult, error) {
	req := FeedbackRequest{Feedback: make([]FeedbackRow, len(rows))}
	for i, f := range rows {
		req.Feedback[i] = rowFromFeedback(f)
	}
	var out batchAnswer
	if err := c.do(ctx, http.MethodPost, personaPath(personaID, "feedback"), c.serviceAuth(), req, &out); err != nil {
		return BatchResult{}, fmt.Errorf("post %d feedback rows for %s: %w", len(rows), personaID, err)
	}
	res, err := out.check(len(rows))
	if err != nil {
		return res, fmt.Errorf("post %d feedback rows for %s: %w", len(rows), personaID, err)
	}
	return res, nil
}

// PostTick upserts a tick record (t.PersonaID names the persona); a terminal status releases the
// lease. The whole request, transcript included, must stay under MaxBodyBytes.
func (c *Client) PostTick(ctx context.Context, t persona.Tick) error {
	if t.PersonaID == "" {
		return errors.New("post tick: PersonaID is empty")
	}
	if err := c.do(ctx, http.MethodPost, personaPath(t.PersonaID, "ticks"), c.serviceAuth(), t, &TickResponse{}); err != nil {
		return fmt.Errorf("post tick %s for %s: %w", t.TickID, t.PersonaID, err)
	}
	return nil
}

// History returns the persona's last finished runs, newest first (runs ≤ 0: the server default).
func (c *Client) History(ctx context.Context, personaID string, runs int) ([]persona.RunHistory, error) {
	path := personaPath(personaID, "history")
	if runs > 0 {
		path += "?runs=" + strconv.Itoa(runs)
	}
	var out HistoryResponse
	if err := c.do(ctx, http.MethodGet, path, c.serviceAuth(), nil, &out); err != nil {
		return nil, fmt.Errorf("history of %s: %w", personaID, err)
	}
	return out.Runs, nil
}

// UpsertPersona creates or updates a persona by email (admin).
func (c *Client) UpsertPersona(ctx context.Context, in persona.PersonaInput) (UpsertPersonaResponse, error) {
	var out UpsertPersonaResponse
	if err := c.do(ctx, http.MethodPost, PathAdminPersona, c.adminAuth(), in, &out); err != nil {
		return UpsertPersonaResponse{}, fmt.Errorf("upsert persona %s: %w", in.Email, err)
	}
	return out, nil
}

// UpsertSpace creates or updates a shared space by slug (admin).
func (c *Client) UpsertSpace(ctx context.Context, in persona.SpaceInput) (UpsertSpaceResponse, error) {
	var out UpsertSpaceResponse
	if err := c.do(ctx, http.MethodPost, PathAdminSpaces, c.adminAuth(), in, &out); err != nil {
		return UpsertSpaceResponse{}, fmt.Errorf("upsert space %s: %w", in.Slug, err)
	}
	return out, nil
}

// ListPersonas lists every persona with its action count of the last seven days (admin).
func (c *Client) ListPersonas(ctx context.Context) ([]persona.PersonaSummary, error) {
	var out PersonaList
	if err := c.do(ctx, http.MethodGet, PathAdminPersona, c.adminAuth(), nil, &out); err != nil {
		return nil, fmt.Errorf("list personas: %w", err)
	}
	return out.Personas, nil
}

// GetPersona returns one persona with its recent actions and ratings (admin).
func (c *Client) GetPersona(ctx context.Context, userID string) (*PersonaDetail, error) {
	var out PersonaDetail
	if err := c.do(ctx, http.MethodGet, PathAdminPersona+"/"+url.PathEscape(userID), c.adminAuth(), nil, &out); err != nil {
		return nil, fmt.Errorf("get persona %s: %w", userID, err)
	}
	return &out, nil
}

// DeletePersona deletes a persona and everything of theirs (admin).
func (c *Client) DeletePersona(ctx context.Context, userID string) error {
	if err := c.do(ctx, http.MethodDelete, PathAdminPersona+"/"+url.PathEscape(userID), c.adminAuth(), nil, nil); err != nil {
		return fmt.Errorf("delete persona %s: %w", userID, err)
	}
	return nil
}

func personaPath(id, what string) string {
	return PathInternal + "/" + url.PathEscape(id) + "/" + what
}

// SignInEmail signs in at Better Auth's POST /api/auth/sign-in/email (the original Mana service,
// and our compat mode) and returns the session cookies it set, as a Cookie header value: the
// original accepts nothing else at organization/list and refresh.
func (c *Client) SignInEmail(ctx context.Context, email, password string) (string, error) {
	b, err := json.Marshal(LoginRequest{Email: email, Password: password})
	if err != nil {
		return "", fmt.Errorf("sign in %s: %w", email, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+PathSignInEmail, bytes.NewReader(b))
	if err != nil {
		return "", fmt.Errorf("sign in %s: %w", email, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return "", fmt.Errorf("sign in %s: POST %s: %w", email, PathSignInEmail, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", fmt.Errorf("sign in %s: POST %s: %w", email, PathSignInEmail, parseError(resp, data))
	}
	var parts []string
	for _, ck := range resp.Cookies() {
		if ck.Value != "" {
			parts = append(parts, ck.Name+"="+ck.Value)
		}
	}
	if len(parts) == 0 {
		return "", fmt.Errorf("sign in %s: POST %s set no session cookie", email, PathSignInEmail)
	}
	return strings.Join(parts, "; "), nil
}

// SpacesByCookie lists the spaces of the session whose cookies (from SignInEmail) are sent.
func (c *Client) SpacesByCookie(ctx context.Context, cookie string) ([]Space, error) {
	var out []Space
	if err := c.do(ctx, http.MethodGet, PathOrgList, auth{"Cookie", cookie}, nil, &out); err != nil {
		return nil, fmt.Errorf("list spaces: %w", err)
	}
	return out, nil
}

// RefreshByCookie trades the session cookies (from SignInEmail) for a new access token, as the
// original Mana service's refresh does.
func (c *Client) RefreshByCookie(ctx context.Context, cookie string) (*RefreshResponse, error) {
	var out RefreshResponse
	if err := c.do(ctx, http.MethodPost, PathRefresh, auth{"Cookie", cookie}, nil, &out); err != nil {
		return nil, fmt.Errorf("refresh: %w", err)
	}
	return &out, nil
}

// AbandonRuns asks that the runs runnerID's previous process left running be marked abandoned
// and its leases released; it returns how many runs were.
func (c *Client) AbandonRuns(ctx context.Context, runnerID string) (int, error) {
	var out struct {
		Abandoned int `json:"abandoned"`
	}
	if err := c.do(ctx, http.MethodPost, PathInternal+"/abandon", c.serviceAuth(), AbandonRequest{RunnerID: runnerID}, &out); err != nil {
		return 0, fmt.Errorf("abandon runs: %w", err)
	}
	return out.Abandoned, nil
}
