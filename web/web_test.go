package web_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/web"
)

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestPages(t *testing.T) {
	t.Parallel()
	for _, dialect := range stores {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			b := setup(t, dialect, nil)
			c := client(t)
			for _, tc := range []struct {
				path string
				want []string
			}{
				{"/", []string{"<h1>Overview</h1>", "Top findings", "3 runs", "✓ 1 ok", "◐ 1 degraded", "✗ 1 failed", "notes.create", "must be at most 200 characters",
					"4 of 5 tools used", "mood.log", "persona.cleo@mana.test", `<svg class="chart"`, `class="spark"`, "Got my essay"}},
				{"/modules", []string{"<h2 id=\"m-notes\">notes</h2>", "My lecture note was refused", "Notes were great back then", "▼ −", "worse", "<code>mood.log</code>"}},
				{"/tools", []string{"notes.search", "5000 ms", "search timed out", "Never used", "mood.log"}},
				{"/personas", []string{"3 personas", "Anna", "tester-Cleo", "Asia/Tokyo", "◐ degraded", "notes 3.50"}},
				{"/personas/" + b.anna, []string{"persona.anna@mana.test", "Europe/Berlin", "todo 60%", "remembers 2026-11-24: 3 calls (Europe/Berlin)", "Got my essay"}},
				{"/runs/" + b.tickA, []string{"Let me jot down my homework first.", "todo.create", "12 ms", "Essay draft", "must be at most 200 characters",
					"claude-sonnet-4-5", "mana 1.2.3", "target demo", "1,200 in", "$0.0081", "Runner: rating request", "Lists work, adding is quick."}},
			} {
				code, body := get(t, c, b.ts.URL+tc.path)
				if code != http.StatusOK {
					t.Errorf("GET %s: status %d\n%s", tc.path, code, body)
					continue
				}
				for _, w := range tc.want {
					if !strings.Contains(body, w) {
						t.Errorf("GET %s: no %q in the page", tc.path, w)
					}
				}
			}
			for path, want := range map[string]int{
				"/runs/nope": 404, "/personas/nope": 404, "/nowhere": 404, "/?since=3w": 400, "/?persona=ghost@mana.test": 400, "/personas?page=x": 400,
			} {
				if code, body := get(t, c, b.ts.URL+path); code != want {
					t.Errorf("GET %s: status %d, want %d\n%s", path, code, want, body)
				}
			}
		})
	}
}

func TestFilters(t *testing.T) {
	t.Parallel()
	for _, dialect := range stores {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			b := setup(t, dialect, nil)
			c := client(t)
			_, all := get(t, c, b.ts.URL+"/tools")
			_, notes := get(t, c, b.ts.URL+"/tools?module=notes")
			if !strings.Contains(all, "todo.create") || strings.Contains(notes, "<code>todo.create</code>") || !strings.Contains(notes, "notes.search") {
				t.Errorf("module filter: todo.create should be in the unfiltered page only")
			}
			_, ben := get(t, c, b.ts.URL+"/?persona=persona.ben@mana.test")
			if !strings.Contains(ben, "2 runs") || strings.Contains(ben, "Got my essay") {
				t.Errorf("persona filter: want ben's 2 runs only")
			}
			_, kitchen := get(t, c, b.ts.URL+"/?target=kitchen")
			if !strings.Contains(kitchen, "1 runs") || !strings.Contains(kitchen, `<option selected>kitchen</option>`) {
				t.Errorf("target filter: want the one kitchen run and the target selected")
			}
			_, day := get(t, c, b.ts.URL+"/?since=24h")
			if !strings.Contains(day, "1 runs") {
				t.Errorf("since=24h: want the one run of the last day")
			}
			// Links keep the filter.
			if !strings.Contains(ben, `href="/tools?persona=persona.ben%40mana.test"`) {
				t.Errorf("nav links do not keep the filter")
			}
		})
	}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in the page")
	}
	return m[1]
}

func post(t *testing.T, c *http.Client, u string, form url.Values, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAccess(t *testing.T) {
	t.Parallel()
	for _, dialect := range stores {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			b := setup(t, dialect, func(c *web.Config) { c.Open = false; c.Password = "a-long-dashboard-password"; c.SecureCookies = true })
			c := client(t)
			// Pages need a session.
			resp, err := c.Get(b.ts.URL + "/tools?module=notes")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Ftools%3Fmodule%3Dnotes" {
				t.Fatalf("GET /tools without a session: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			if code, _ := post(t, c, b.ts.URL+"/admin/pause", url.Values{}, nil); code != http.StatusUnauthorized || b.ctl.Paused() {
				t.Fatalf("pause without a session: %d, paused %v", code, b.ctl.Paused())
			}
			_, login := get(t, c, b.ts.URL+"/login?next=/tools")
			token := csrfOf(t, login)
			if code, _ := post(t, c, b.ts.URL+"/login", url.Values{"password": {"a-long-dashboard-password"}}, nil); code != http.StatusForbidden {
				t.Fatalf("sign-in without the CSRF token: %d", code)
			}
			if code, body := post(t, c, b.ts.URL+"/login", url.Values{"csrf": {token}, "password": {"wrong"}}, nil); code != http.StatusUnauthorized || !strings.Contains(body, "Wrong email or password") {
				t.Fatalf("wrong password: %d", code)
			}
			req, _ := http.NewRequest(http.MethodPost, b.ts.URL+"/login", strings.NewReader(url.Values{"csrf": {token}, "password": {"a-long-dashboard-password"}, "next": {"/tools"}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err = c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/tools" {
				t.Fatalf("sign-in: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			cookie := resp.Header.Get("Set-Cookie")
			for _, w := range []string{"HttpOnly", "SameSite=Lax", "Secure"} {
				if !strings.Contains(cookie, w) {
					t.Errorf("session cookie %q lacks %s", cookie, w)
				}
			}
			code, page := get(t, c, b.ts.URL+"/")
			if code != http.StatusOK || !strings.Contains(page, "Run a tick now") {
				t.Fatalf("overview after sign-in: %d", code)
			}
			token = csrfOf(t, page)
			if code, _ := post(t, c, b.ts.URL+"/admin/pause", url.Values{}, nil); code != http.StatusForbidden || b.ctl.Paused() {
				t.Fatalf("pause without the CSRF token: %d, paused %v", code, b.ctl.Paused())
			}
			if code, _ := post(t, c, b.ts.URL+"/admin/pause", url.Values{"csrf": {token + "x"}}, nil); code != http.StatusForbidden || b.ctl.Paused() {
				t.Fatalf("pause with a wrong CSRF token: %d", code)
			}
			if code, _ := post(t, c, b.ts.URL+"/admin/pause", url.Values{"csrf": {token}}, map[string]string{"Sec-Fetch-Site": "cross-site"}); code != http.StatusForbidden || b.ctl.Paused() {
				t.Fatalf("cross-site pause: %d", code)
			}
			if code, _ := post(t, c, b.ts.URL+"/admin/pause", url.Values{"csrf": {token}, "next": {"/tools"}}, nil); code != http.StatusSeeOther || !b.ctl.Paused() {
				t.Fatalf("pause: %d, paused %v", code, b.ctl.Paused())
			}
			if _, page := get(t, c, b.ts.URL+"/"); !strings.Contains(page, "⏸ paused") || !strings.Contains(page, ">Resume</button>") {
				t.Errorf("the page does not show the paused runner")
			}
			if code, _ := post(t, c, b.ts.URL+"/admin/resume", url.Values{"csrf": {token}}, nil); code != http.StatusSeeOther || b.ctl.Paused() {
				t.Fatalf("resume: %d", code)
			}
			if code, _ := post(t, c, b.ts.URL+"/admin/tick", url.Values{"csrf": {token}}, nil); code != http.StatusSeeOther || b.ctl.ticks != 1 {
				t.Fatalf("tick: %d, ticks %d", code, b.ctl.ticks)
			}
			// GET never acts.
			if code, _ := get(t, c, b.ts.URL+"/admin/pause"); code != http.StatusMethodNotAllowed && code != http.StatusNotFound || b.ctl.Paused() {
				t.Errorf("GET /admin/pause: %d", code)
			}
		})
	}
}

func TestSignInWithAccount(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite", func(c *web.Config) { c.Open = false; c.Accounts = accounts{"ops@example.com": "s3cret-passphrase"} })
	c := client(t)
	_, login := get(t, c, b.ts.URL+"/login")
	token := csrfOf(t, login)
	for i := 0; i < 5; i++ {
		post(t, c, b.ts.URL+"/login", url.Values{"csrf": {token}, "email": {"ops@example.com"}, "password": {"guess"}}, nil)
	}
	if code, body := post(t, c, b.ts.URL+"/login", url.Values{"csrf": {token}, "email": {"ops@example.com"}, "password": {"s3cret-passphrase"}}, nil); code != http.StatusTooManyRequests {
		t.Fatalf("sign-in after 5 failures: %d %s", code, body)
	}
	if code, _ := post(t, c, b.ts.URL+"/login", url.Values{"csrf": {token}, "email": {"other@example.com"}, "password": {"s3cret-passphrase"}}, nil); code != http.StatusUnauthorized {
		t.Fatalf("unknown account: %d", code)
	}
	b2 := setup(t, "sqlite", func(c *web.Config) { c.Open = false; c.Accounts = accounts{"ops@example.com": "s3cret-passphrase"} })
	_, login = get(t, c, b2.ts.URL+"/login")
	if code, _ := post(t, c, b2.ts.URL+"/login", url.Values{"csrf": {csrfOf(t, login)}, "email": {"ops@example.com"}, "password": {"s3cret-passphrase"}}, nil); code != http.StatusSeeOther {
		t.Fatalf("sign-in with an admin account: %d", code)
	}
	if code, body := get(t, c, b2.ts.URL+"/"); code != http.StatusOK || !strings.Contains(body, "ops@example.com") || strings.Contains(body, "Run a tick now") == false {
		t.Fatalf("overview as ops: %d", code)
	}
}

type accounts map[string]string

func (a accounts) Authenticate(_ context.Context, email, password string) (string, error) {
	if pw, ok := a[email]; ok && pw == password {
		return email, nil
	}
	return "", web.ErrBadCredentials
}

func TestLiveStream(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite", nil)
	c := client(t)
	get(t, c, b.ts.URL+"/") // the open dashboard's session
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.ts.URL+"/live", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	lines := bufio.NewScanner(resp.Body)
	next := func() string {
		for lines.Scan() {
			if l := lines.Text(); strings.HasPrefix(l, "data: ") {
				return strings.TrimPrefix(l, "data: ")
			}
		}
		t.Fatalf("stream ended: %v", lines.Err())
		return ""
	}
	if first := next(); !strings.Contains(first, `"running":false`) {
		t.Fatalf("first state %s", first)
	}
	b.srv.Publish(web.Event{Kind: web.TickStarted, Due: 3})
	if s := next(); !strings.Contains(s, `"running":true`) || !strings.Contains(s, `"due":3`) {
		t.Fatalf("after tick.started: %s", s)
	}
	b.srv.Publish(web.Event{Kind: web.RunFinished, Email: "persona.anna@mana.test", Status: "ok", ToolCalls: 4, Errors: 1})
	if s := next(); !strings.Contains(s, `"done":1`) || !strings.Contains(s, `"calls":4`) || !strings.Contains(s, `"errors":1`) {
		t.Fatalf("after run.finished: %s", s)
	}
	b.srv.Publish(web.Event{Kind: web.TickFinished})
	if s := next(); !strings.Contains(s, `"running":false`) || !strings.Contains(s, `"endedAt"`) {
		t.Fatalf("after tick.finished: %s", s)
	}
}

// The overview's findings are computed once, reused with the time they were computed, and shown
// as stale after a run finished until the newer computation is done.
func TestOverviewFindingsReuse(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite", nil)
	t.Cleanup(b.srv.Close)
	c := client(t)
	if _, body := get(t, c, b.ts.URL+"/"); !strings.Contains(body, "Computed for this page.") || !strings.Contains(body, "must be at most 200 characters") {
		t.Fatalf("first load: no findings computed for the page:\n%s", body)
	}
	if _, body := get(t, c, b.ts.URL+"/"); !strings.Contains(body, `Computed at <time datetime="2026-11-25T12:00:00Z">12:00:00 UTC</time> and reused for up to 1m0s.`) ||
		!strings.Contains(body, "must be at most 200 characters") {
		t.Fatalf("second load: findings not reused:\n%s", body)
	}
	// Another window is computed for itself.
	if _, body := get(t, c, b.ts.URL+"/?since=30d"); !strings.Contains(body, "Computed for this page.") {
		t.Fatalf("30d: not computed for the page:\n%s", body)
	}
	b.srv.Publish(web.Event{Kind: web.RunFinished, Email: "persona.anna@mana.test", Status: "ok"})
	if _, body := get(t, c, b.ts.URL+"/"); !strings.Contains(body, "a newer computation is under way") {
		t.Fatalf("after a finished run: findings not shown as stale")
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, body := get(t, c, b.ts.URL+"/")
		if !strings.Contains(body, "a newer computation is under way") && strings.Contains(body, "must be at most 200 characters") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the findings were not recomputed:\n%s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// gatedFindings holds the overview's findings back: ListPersonas, which only findings.Build
// reads (the store is wrapped, so it is not an aggregating one), waits for the gate.
type gatedFindings struct {
	web.Store
	gate chan struct{}
}

func (g gatedFindings) ListPersonas(ctx context.Context, since time.Time) ([]persona.PersonaSummary, error) {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.Store.ListPersonas(ctx, since)
}

// With the default wait the overview never waits for long findings: it answers with the failing
// tools and says the findings are being computed; once they are, a load shows them. Warm starts
// them before the first load.
func TestOverviewAnswersBeforeFindings(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	b := setup(t, "sqlite", func(c *web.Config) {
		c.Store = gatedFindings{Store: c.Store, gate: gate}
		c.FindingsWait = 0 // the default
	})
	t.Cleanup(b.srv.Close)
	b.srv.Warm()
	c := client(t)
	for range 2 {
		code, body := get(t, c, b.ts.URL+"/")
		if code != http.StatusOK || !strings.Contains(body, `id="found-pending"`) ||
			!strings.Contains(body, `are being computed (started at <time datetime="2026-11-25T12:00:00Z">`) ||
			!strings.Contains(body, "<code>notes.create</code></a>: 1 failed of") || strings.Contains(body, "Computed for this page") {
			t.Fatalf("load while the findings are computed: %d\n%s", code, body)
		}
	}
	close(gate)
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, body := get(t, c, b.ts.URL+"/")
		if strings.Contains(body, "must be at most 200 characters") && !strings.Contains(body, `id="found-pending"`) {
			// Computed in the background, or, when it ended within this load's wait, for it.
			if !strings.Contains(body, `Computed at <time datetime="2026-11-25T12:00:00Z">12:00:00 UTC</time>`) &&
				!strings.Contains(body, "Computed for this page.") {
				t.Fatalf("findings shown without when they were computed:\n%s", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the findings never came:\n%s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
