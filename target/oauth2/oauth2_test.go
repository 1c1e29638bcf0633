package oauth2_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/target"
	"github.com/persona-runner/persona-runner/target/strategy"
	"github.com/persona-runner/persona-runner/target/targettest"
)

// tokenEndpoint is an authorization server's token endpoint for the client credentials grant
// as RFC 6749 specifies it: client authentication by HTTP Basic with form-encoded id and
// secret (§2.3.1), grant_type=client_credentials (§4.4.2), a JSON access token response
// (§5.1) and a JSON error response with 401 invalid_client (§5.2).
type tokenEndpoint struct {
	*httptest.Server
	id, secret string
	expiresIn  int

	mu       sync.Mutex
	issued   int
	requests []url.Values
}

func newTokenEndpoint(id, secret string, expiresIn int) *tokenEndpoint {
	e := &tokenEndpoint{id: id, secret: secret, expiresIn: expiresIn}
	e.Server = httptest.NewServer(http.HandlerFunc(e.serve))
	return e
}

func (e *tokenEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	fail := func(status int, code, desc string) {
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="kitchen-auth"`)
		}
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		fail(http.StatusBadRequest, "invalid_request", "POST a form")
		return
	}
	id, secret, ok := r.BasicAuth()
	if ok { // §2.3.1: both are form-urlencoded before Basic encoding
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	e.mu.Lock()
	e.requests = append(e.requests, r.PostForm)
	e.mu.Unlock()
	if id != e.id || secret != e.secret {
		fail(http.StatusUnauthorized, "invalid_client", "Client authentication failed")
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		fail(http.StatusBadRequest, "unsupported_grant_type", "only client_credentials")
		return
	}
	e.mu.Lock()
	e.issued++
	tok := fmt.Sprintf("at-%d", e.issued)
	e.mu.Unlock()
	json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "bearer", "expires_in": e.expiresIn, "scope": r.PostForm.Get("scope")})
}

func (e *tokenEndpoint) Requests() []url.Values {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]url.Values(nil), e.requests...)
}

func kitchen(tokenURL, appURL string) target.Config {
	return target.Config{Name: "kitchen", Default: true, URL: appURL, Auth: target.AuthConfig{
		Strategy: target.AuthOAuth2,
		OAuth2: &target.OAuth2Config{TokenURL: tokenURL, ClientID: "persona-runner", ClientSecret: "${KITCHEN_SECRET}",
			Scopes: []string{"recipes:read", "pantry:write"}, Params: map[string]string{"audience": "https://kitchen.example"}},
	}}
}

func set(t *testing.T, c target.Config, env map[string]string) *target.Set {
	t.Helper()
	s, err := strategy.Set([]target.Config{c}, strategy.Options{Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var (
	anna = persona.DuePersona{UserID: "u-anna", Email: "anna@kitchen.example"}
	ben  = persona.DuePersona{UserID: "u-ben", Email: "ben@kitchen.example"}
)

// TestClientCredentialsReachTheApp: the token endpoint issues one access token for the
// target's client, which every persona's requests carry; the secret comes from ${ENV}.
func TestClientCredentialsReachTheApp(t *testing.T) {
	t.Parallel()
	auth := newTokenEndpoint("persona-runner", "s3cret/+&", 3600)
	t.Cleanup(auth.Close)
	app := targettest.New("at-1")
	t.Cleanup(app.Close)
	ts := set(t, kitchen(auth.URL+"/oauth/token", app.MCPURL), map[string]string{"KITCHEN_SECRET": "s3cret/+&"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, p := range []persona.DuePersona{anna, ben} {
		s, err := ts.Open(ctx, p, target.OpenOptions{})
		if err != nil {
			t.Fatalf("%s: %v", p.Email, err)
		}
		if _, err := s.CallTool(ctx, "echo", []byte(`{"text":"hi"}`)); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	reqs := auth.Requests()
	if len(reqs) != 1 {
		t.Fatalf("token requests %v, want one shared by both personas", reqs)
	}
	if r := reqs[0]; r.Get("grant_type") != "client_credentials" || r.Get("scope") != "recipes:read pantry:write" || r.Get("audience") != "https://kitchen.example" {
		t.Errorf("token request %v", r)
	}
	calls := app.Calls()
	if len(calls) != 2 || calls[0].Token != "at-1" || calls[1].Token != "at-1" {
		t.Errorf("calls %+v", calls)
	}
	if h, seen := app.Seen("s3cret"); seen {
		t.Errorf("the client secret reached the app in %s", h)
	}
}

// TestTokenRenewedBeforeExpiry: a token about to expire is not sent; a new one is fetched.
func TestTokenRenewedBeforeExpiry(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		expiresIn int
		want      []string
	}{
		{3600, []string{"Bearer at-1", "Bearer at-1"}},
		// Within x/oauth2's 10 s early expiry: Begin's at-1 is not sent, each request fetches.
		{5, []string{"Bearer at-2", "Bearer at-3"}},
	} {
		auth := newTokenEndpoint("persona-runner", "pw", tc.expiresIn)
		t.Cleanup(auth.Close)
		tg, _ := set(t, kitchen(auth.URL, "http://127.0.0.1:1/mcp"), map[string]string{"KITCHEN_SECRET": "pw"}).Get("")
		c, err := tg.Strategy.Begin(context.Background(), anna)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for range 2 {
			req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:1/mcp", nil)
			if err := c.Apply(req); err != nil {
				t.Fatal(err)
			}
			got = append(got, req.Header.Get("Authorization"))
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("expires_in %d: %v, want %v", tc.expiresIn, got, tc.want)
		}
	}
}

// TestRefusedClient: the token endpoint's 401 invalid_client is a permanent login failure in
// its own words, without the secret; an unset variable fails at stage secrets; a token endpoint
// that is down is named as such.
func TestRefusedClient(t *testing.T) {
	t.Parallel()
	auth := newTokenEndpoint("persona-runner", "right", 3600)
	t.Cleanup(auth.Close)
	app := targettest.New("at-1")
	t.Cleanup(app.Close)
	ctx := context.Background()

	_, err := set(t, kitchen(auth.URL+"/token", app.MCPURL), map[string]string{"KITCHEN_SECRET": "wrong-secret"}).Open(ctx, anna, target.OpenOptions{})
	why, permanent := target.Why(err)
	want := "login: oauth2 token endpoint " + auth.URL + "/token refused the client credentials: 401 Unauthorized: invalid_client: Client authentication failed"
	if why != want || !permanent {
		t.Errorf("refused client: %q (permanent %v), want %q", why, permanent, want)
	}
	if strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("the error shows the secret: %v", err)
	}
	if len(app.Headers()) != 0 {
		t.Error("the app was called without a token")
	}

	_, err = set(t, kitchen(auth.URL, app.MCPURL), nil).Open(ctx, anna, target.OpenOptions{})
	if target.StageOf(err, "") != target.StageSecrets || !strings.Contains(err.Error(), "auth.oauth2.clientSecret: environment variable KITCHEN_SECRET is not set") {
		t.Errorf("unset secret: %v", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String() + "/token"
	ln.Close()
	_, err = set(t, kitchen(down, app.MCPURL), map[string]string{"KITCHEN_SECRET": "right"}).Open(ctx, anna, target.OpenOptions{})
	if why, permanent := target.Why(err); !strings.HasPrefix(why, "login: oauth2 token endpoint "+down+": ") || !strings.Contains(why, "connection refused") || permanent {
		t.Errorf("token endpoint down: %q (permanent %v)", why, permanent)
	}
}

// TestConfigProblems: the file must not hold the client secret itself.
func TestConfigProblems(t *testing.T) {
	t.Parallel()
	c := kitchen("http://127.0.0.1:1/token", "http://127.0.0.1:1/mcp")
	c.Auth.OAuth2.ClientSecret = "plain-text"
	c.Auth.OAuth2.Params = map[string]string{"scope": "x"}
	got := strings.Join(c.Problems("targets[1]"), "\n")
	for _, want := range []string{
		`targets[1].auth.oauth2.clientSecret must not be written in the file: write "${VARIABLE}"`,
		`targets[1].auth.oauth2.params must not set "scope"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
}
