package web_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/persona-runner/persona-runner/web"
)

// browser starts Debian's chromium headless with a fresh profile, and returns a tab context and
// the console errors seen so far. Without chromium the test is skipped locally; .ci/run
// installs it, and under CI its absence fails the test.
func browser(t *testing.T, width, height int) (context.Context, func() []string) {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed; .ci/run installs Debian's chromium package")
		}
		t.Skip("browser tests skipped: chromium is not installed (apt-get install chromium, as .ci/run does)")
	}
	profile := t.TempDir()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(profile), chromedp.WindowSize(width, height))
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		// Chromium's helpers may still write into the profile for a moment after it stops.
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	var (
		mu   sync.Mutex
		errs []string
	)
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				errs = append(errs, m.String())
				mu.Unlock()
			}
		}
	}()
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), errs...)
	}
}

// run runs browser steps with a deadline (the first Run, which started the browser, had none).
func run(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, steps...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("browser: evaluate %s: %v", js, err)
	}
	return v
}

// waitFor polls a JavaScript condition until it holds (a page loaded after a click).
func waitFor(t *testing.T, ctx context.Context, cond string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := chromedp.Run(tctx, chromedp.Evaluate[bool](`document.readyState === "complete" && (`+cond+`)`))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("browser: waited in vain for %s (last error %v)", cond, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// screenshot saves the whole page as a PNG in the test's temp dir and logs its path.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	buf, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(t.TempDir(), name+".png")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s: %s", name, p)
	if dir := os.Getenv("PERSONA_SCREENSHOTS"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644)
	}
}

// TestBrowserPages: every page loads in a real browser without console errors (the content
// policy's refusals included) and shows the seeded data; a filter changes the URL and the
// content; the live strip follows a tick.
func TestBrowserPages(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite", nil)
	ctx, consoleErrors := browser(t, 1280, 900)
	for _, tc := range []struct {
		name, path string
		want       []string
	}{
		{"overview", "/", []string{"Runs per day", "notes.create", "4 of 5 tools used", "persona.cleo@mana.test", "Got my essay"}},
		{"modules", "/modules", []string{"My lecture note was refused", "worse"}},
		{"tools", "/tools", []string{"notes.search", "search timed out", "mood.log"}},
		{"personas", "/personas", []string{"3 personas", "tester-Cleo"}},
		{"persona", "/personas/" + b.anna, []string{"Europe/Berlin", "remembers 2026-11-24"}},
		{"run", "/runs/" + b.tickA, []string{"Let me jot down my homework first.", "12 ms", "mana 1.2.3", "Lists work, adding is quick."}},
	} {
		run(t, ctx, chromedp.Navigate(b.ts.URL+tc.path), chromedp.WaitVisible(chromedp.CSS("main")))
		text := eval[string](t, ctx, `document.querySelector("main").innerText`)
		for _, w := range tc.want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: no %q on the page", tc.path, w)
			}
		}
		if n := eval[int](t, ctx, `document.querySelectorAll("h1").length`); n != 1 {
			t.Errorf("%s: %d h1 headings, want 1", tc.path, n)
		}
		if unlabelled := eval[int](t, ctx, `[...document.querySelectorAll("input:not([type=hidden]),select")].filter(e => !e.labels || !e.labels.length).length`); unlabelled != 0 {
			t.Errorf("%s: %d form controls without a label", tc.path, unlabelled)
		}
		screenshot(t, ctx, tc.name)
	}

	// A filter: choosing a module reloads the page with it in the URL and narrows the content.
	// A person picks the module in the select (the page applies it on change).
	run(t, ctx, chromedp.Navigate(b.ts.URL+"/tools"), chromedp.WaitVisible(chromedp.CSS("main")))
	eval[bool](t, ctx, `(s => { s.value = "notes"; s.dispatchEvent(new Event("change", {bubbles: true})); return true })(document.querySelector('select[name="module"]'))`)
	waitFor(t, ctx, `location.search === "?module=notes"`)
	if sel := eval[string](t, ctx, `document.querySelector('select[name="module"]').value`); sel != "notes" {
		t.Errorf("the module select shows %q after the filter", sel)
	}
	if text := eval[string](t, ctx, `document.querySelector("main").innerText`); strings.Contains(text, "todo.create") || !strings.Contains(text, "notes.search") {
		t.Errorf("module filter: the tools page still shows todo.create, or lost notes.search:\n%s", text)
	}

	// The live strip during a tick: the button starts one; the runner's events come in while
	// the page is open.
	step := make(chan struct{})
	b.ctl.onTick = func() {
		b.srv.Publish(web.Event{Kind: web.TickStarted, Due: 2})
		<-step
		b.srv.Publish(web.Event{Kind: web.RunFinished, Email: "persona.anna@mana.test", Status: "ok", ToolCalls: 5, Errors: 1})
		<-step
		b.srv.Publish(web.Event{Kind: web.RunFinished, Email: "persona.ben@mana.test", Status: "failed", ToolCalls: 2})
		b.srv.Publish(web.Event{Kind: web.TickFinished})
	}
	run(t, ctx, chromedp.Navigate(b.ts.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#live-text")),
		chromedp.Click(chromedp.CSS(`form[action="/admin/tick"] button`)))
	waitText := func(want string) {
		t.Helper()
		waitFor(t, ctx, fmt.Sprintf(`((document.getElementById("live-text") || {}).textContent || "").includes(%q)`, want))
	}
	waitText("0 of 2 personas done")
	step <- struct{}{}
	waitText("1 of 2 personas done · 5 calls · 1 errors")
	screenshot(t, ctx, "live-tick")
	step <- struct{}{}
	waitText("Idle · last tick ended")
	waitText("2 personas, 7 calls, 1 errors")

	if errs := consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestBrowserNarrow: at 320 px wide nothing but the tables' own scroll areas is wider than the
// screen.
func TestBrowserNarrow(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite", nil)
	ctx, consoleErrors := browser(t, 320, 700)
	for _, p := range []string{"/", "/modules", "/tools", "/personas", "/personas/" + b.anna, "/runs/" + b.tickA} {
		run(t, ctx, chromedp.Navigate(b.ts.URL+p), chromedp.WaitVisible(chromedp.CSS("main")))
		if w := eval[int](t, ctx, `document.documentElement.scrollWidth`); w > 320 {
			t.Errorf("%s: the page is %d px wide at a 320 px screen", p, w)
		}
		name := "narrow" + strings.NewReplacer("/", "-").Replace(p)
		if p == "/" {
			name = "narrow-overview"
		}
		if strings.HasPrefix(p, "/personas/") {
			name = "narrow-persona"
		} else if strings.HasPrefix(p, "/runs/") {
			name = "narrow-run"
		}
		screenshot(t, ctx, name)
	}
	if errs := consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestBrowserPause: on a dashboard that is not open, an admin signs in and pauses the runner;
// a request without the session or without the CSRF token is refused and changes nothing.
func TestBrowserPause(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite", func(c *web.Config) { c.Open = false; c.Password = "a-long-dashboard-password" })
	ctx, consoleErrors := browser(t, 1280, 900)
	run(t, ctx, chromedp.Navigate(b.ts.URL+"/tools"), chromedp.WaitVisible(chromedp.CSS("#password")))
	if loc := eval[string](t, ctx, `location.pathname`); loc != "/login" {
		t.Fatalf("without a session /tools went to %q", loc)
	}
	screenshot(t, ctx, "login")
	run(t, ctx, chromedp.SetValue(chromedp.CSS("#password"), "a-long-dashboard-password"),
		chromedp.Click(chromedp.CSS(`form.login button`)))
	waitFor(t, ctx, `document.querySelector('form[action="/admin/pause"]') !== null`)
	if loc := eval[string](t, ctx, `location.pathname`); loc != "/tools" {
		t.Errorf("after sign-in the page is %q, want /tools", loc)
	}

	// Without the session cookie (credentials omitted) and without the token: refused.
	token := eval[string](t, ctx, `document.querySelector('form[action="/admin/pause"] input[name=csrf]').value`)
	noSession := eval[int](t, ctx, fmt.Sprintf(`fetch("/admin/pause", {method: "POST", credentials: "omit", body: new URLSearchParams({csrf: %q})}).then(r => r.status)`, token))
	noToken := eval[int](t, ctx, `fetch("/admin/pause", {method: "POST", body: new URLSearchParams({})}).then(r => r.status)`)
	if noSession != 401 || noToken != 403 || b.ctl.Paused() {
		t.Fatalf("pause without a session: %d, without a token: %d, paused %v; want 401, 403, not paused", noSession, noToken, b.ctl.Paused())
	}
	// The form without its token (removed from the page) is refused too.
	run(t, ctx, chromedp.Evaluate[chromedp.Void](`document.querySelector('form[action="/admin/pause"] input[name=csrf]').remove()`),
		chromedp.Click(chromedp.CSS(`form[action="/admin/pause"] button`)))
	waitFor(t, ctx, `document.querySelector("main").innerText.includes("CSRF")`)
	if b.ctl.Paused() {
		t.Fatal("the form without its token paused the runner")
	}
	// The admin pauses.
	run(t, ctx, chromedp.Navigate(b.ts.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`form[action="/admin/pause"] button`)),
		chromedp.Click(chromedp.CSS(`form[action="/admin/pause"] button`)))
	waitFor(t, ctx, `document.querySelector('form[action="/admin/resume"]') !== null`)
	if !b.ctl.Paused() {
		t.Fatal("the runner is not paused after the admin pressed Pause")
	}
	if state := eval[string](t, ctx, `document.getElementById("runner-state").textContent`); state != "⏸ paused" {
		t.Errorf("runner state %q", state)
	}
	screenshot(t, ctx, "paused")
	// The 401/403 answers of the refused fetches are logged by the browser as failed loads.
	for _, e := range consoleErrors() {
		if !strings.Contains(e, "status of 401") && !strings.Contains(e, "status of 403") {
			t.Errorf("console error: %s", e)
		}
	}
}

// TestBrowserFindingsArrive: the overview answered before its findings were computed; its script
// shows them in place once they are, without a reload.
func TestBrowserFindingsArrive(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	b := setup(t, "sqlite", func(c *web.Config) {
		c.Store = gatedFindings{Store: c.Store, gate: gate}
		c.FindingsWait = 0
	})
	t.Cleanup(b.srv.Close)
	ctx, consoleErrors := browser(t, 1280, 900)
	run(t, ctx, chromedp.Navigate(b.ts.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#found-pending")))
	run(t, ctx, chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`))
	screenshot(t, ctx, "findings-pending")
	close(gate)
	waitFor(t, ctx, `!document.getElementById("found-pending") && document.getElementById("found-at") !== null && document.body.textContent.includes("must be at most 200 characters")`)
	if !eval[bool](t, ctx, `window.notReloaded === true`) {
		t.Error("the page was reloaded instead of updated in place")
	}
	screenshot(t, ctx, "findings-arrived")
	if errs := consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}
