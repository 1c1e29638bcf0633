package web

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/persona-runner/persona-runner/persona"
)

// windows are the time windows the filter offers, by their URL value.
var windows = []struct {
	Value string
	Label string
	D     time.Duration
}{
	{"24h", "last 24 hours", 24 * time.Hour},
	{"7d", "last 7 days", 7 * 24 * time.Hour},
	{"30d", "last 30 days", 30 * 24 * time.Hour},
	{"90d", "last 90 days", 90 * 24 * time.Hour},
}

const defaultWindow = "7d"

// filter is what the URL selects: ?since=7d&target=&persona=&module=. Every page reads it, and
// every link keeps it, so any view can be linked.
type filter struct {
	Since   string
	Target  string
	Persona string // as given: an email or a user id
	Module  string
	From    time.Time
	To      time.Time

	personaID string
}

func (f filter) stats() persona.StatsFilter {
	return persona.StatsFilter{Since: f.From, Until: f.To, PersonaID: f.personaID, Module: f.Module, Target: f.Target}
}

// window is the length of the selected window.
func (f filter) window() time.Duration { return f.To.Sub(f.From) }

// Query is the filter as a query string ("?since=…"), with changes applied: pairs of name and
// value; an empty value drops the parameter.
func (f filter) Query(changes ...string) template.URL {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	if f.Since != defaultWindow {
		set("since", f.Since)
	}
	set("target", f.Target)
	set("persona", f.Persona)
	set("module", f.Module)
	for i := 0; i+1 < len(changes); i += 2 {
		v.Del(changes[i])
		set(changes[i], changes[i+1])
	}
	if len(v) == 0 {
		return ""
	}
	return template.URL("?" + v.Encode())
}

// windowOf is the length of a window choice (0 for none).
func windowOf(value string) time.Duration {
	for _, w := range windows {
		if w.Value == value {
			return w.D
		}
	}
	return 0
}

// Active reports whether any filter besides the window is set.
func (f filter) Active() bool { return f.Target != "" || f.Persona != "" || f.Module != "" }

// parseFilter reads the filter from the URL. A bad value is a 400 naming the parameter.
func (s *Server) parseFilter(r *http.Request) (filter, error) {
	q := r.URL.Query()
	f := filter{Since: strings.TrimSpace(q.Get("since")), Target: strings.TrimSpace(q.Get("target")),
		Persona: strings.TrimSpace(q.Get("persona")), Module: strings.TrimSpace(q.Get("module"))}
	if f.Since == "" {
		f.Since = defaultWindow
	}
	i := slices.IndexFunc(windows, func(w struct {
		Value string
		Label string
		D     time.Duration
	}) bool {
		return w.Value == f.Since
	})
	if i < 0 {
		return f, &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf("since: must be one of 24h, 7d, 30d, 90d (got %q)", f.Since)}
	}
	f.To = s.now().UTC()
	f.From = f.To.Add(-windows[i].D)
	if f.Persona != "" {
		p, err := s.cfg.Store.PersonaByEmail(r.Context(), f.Persona)
		if errors.Is(err, persona.ErrNotFound) {
			p, err = s.cfg.Store.Persona(r.Context(), f.Persona)
		}
		if errors.Is(err, persona.ErrNotFound) {
			return f, &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf("persona: no persona with the email or id %q", f.Persona)}
		}
		if err != nil {
			return f, err
		}
		f.personaID = p.UserID
	}
	return f, nil
}

// view is what the layout needs besides the page's own data.
type view struct {
	Title    string
	Nav      string
	F        filter
	Windows  any
	Targets  []string
	Modules  []string
	CSRF     string
	User     string
	Open     bool
	Controls bool
	Paused   bool
	Live     Live
	Here     string // the request URI, for the controls' return
	Version  string
	Filters  bool // the page shows the filter form
	Page     any
}

func (s *Server) newView(r *http.Request, title, nav string, f filter) *view {
	sess := sessionOf(r)
	v := &view{Title: title, Nav: nav, F: f, Windows: windows, CSRF: s.csrf(sess), Open: s.cfg.Open,
		Controls: s.cfg.Controller != nil, Live: s.live.snapshot(), Here: r.URL.RequestURI(), Version: s.cfg.Version}
	if sess != nil {
		v.User = sess.User
	}
	if s.cfg.Controller != nil {
		v.Paused = s.cfg.Controller.Paused()
	}
	return v
}

// withFilters fills the choices of the filter form: targets seen in the store and modules.
func (s *Server) withFilters(r *http.Request, v *view, modules []string) error {
	targets, err := s.cfg.Store.Targets(r.Context())
	if err != nil {
		return err
	}
	v.Targets = slices.DeleteFunc(targets, func(t string) bool { return t == "" })
	seen := map[string]bool{}
	for _, t := range s.cfg.Tools {
		seen[persona.ModuleOf(t)] = true
	}
	for _, m := range modules {
		seen[m] = true
	}
	if v.F.Module != "" {
		seen[v.F.Module] = true
	}
	delete(seen, "__parse")
	for m := range seen {
		v.Modules = append(v.Modules, m)
	}
	slices.Sort(v.Modules)
	v.Filters = true
	return nil
}

// render executes a page into a buffer first, so that a template error becomes a clean 500.
func (s *Server) render(w http.ResponseWriter, r *http.Request, name string, status int, page any) {
	v, ok := page.(*view)
	if !ok {
		v = s.newView(r, "", "", filter{Since: defaultWindow})
		v.Page = page
		switch p := page.(type) {
		case *errorPage:
			v.Title = http.StatusText(p.Status)
		case *loginPage:
			v.Title = "Sign in"
		}
	}
	t := s.tmpl[name]
	var buf bytes.Buffer
	if err := t.Execute(&buf, v); err != nil {
		s.log.Error("dashboard template", "page", name, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if status != 0 && status != http.StatusOK {
		w.WriteHeader(status)
	}
	_, _ = w.Write(buf.Bytes())
}

var funcs = template.FuncMap{
	"when": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return "–"
			}
			return v.UTC().Format("2006-01-02 15:04")
		case *time.Time:
			if v == nil || v.IsZero() {
				return "never"
			}
			return v.UTC().Format("2006-01-02 15:04")
		}
		return ""
	},
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"pct": func(part, whole int) string {
		if whole == 0 {
			return "–"
		}
		return fmt.Sprintf("%.0f%%", float64(part)*100/float64(whole))
	},
	"rating": func(v float64) string { return fmt.Sprintf("%.2f", v) },
	"usd":    func(v float64) string { return fmt.Sprintf("$%.4f", v) },
	"num": func(v any) string {
		var n int64
		switch x := v.(type) {
		case int:
			n = int64(x)
		case int64:
			n = x
		}
		s := fmt.Sprint(n)
		var out []byte
		for i, c := range []byte(s) {
			if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
				out = append(out, ',')
			}
			out = append(out, c)
		}
		return string(out)
	},
	"statusClass": statusClass,
	"statusIcon":  statusIcon,
	"short": func(s string, n int) string {
		if r := []rune(s); len(r) > n {
			return string(r[:n-1]) + "…"
		}
		return s
	},
	"add":      func(a, b int) int { return a + b },
	"add64":    func(a, b int64) int64 { return a + b },
	"deref":    func(p *float64) float64 { return *p },
	"moduleOf": persona.ModuleOf,
}

// statusGroup folds a run status into what the charts count: ok, degraded, failed (failed,
// timeout, abandoned) and other (running, cancelled).
func statusGroup(s persona.TickStatus) string {
	switch s {
	case persona.TickOK, "degraded":
		return string(s)
	case persona.TickFailed, persona.TickTimeout, "abandoned":
		return "failed"
	}
	return "other"
}

func statusClass(s persona.TickStatus) string { return "st-" + statusGroup(s) }

// statusIcon is the status's symbol, so that a status is never told by colour alone.
func statusIcon(s persona.TickStatus) string {
	switch statusGroup(s) {
	case "ok":
		return "✓"
	case "degraded":
		return "◐"
	case "failed":
		return "✗"
	}
	return "…"
}
