package app_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/app"
	"github.com/persona-runner/persona-runner/store/postgres/pgtest"
)

// fuzzAppHeaders are the headers a fuzzed value replaces; the others keep a valid token and space.
var fuzzAppHeaders = []string{app.SpaceHeader, "Authorization", "Mcp-Session-Id", "Mcp-Protocol-Version",
	"Accept", "Content-Type", "Last-Event-ID"}

// FuzzGateway sends any method, path, header value and body to the app, on SQLite and (when
// PERSONA_TEST_POSTGRES_URL is set) PostgreSQL, with Anna's valid token and personal space
// unless the fuzzed header replaces one ("{space}" in a value stands for her personal space):
// never a server error, and the same status from both stores.
func FuzzGateway(f *testing.F) {
	for _, s := range []struct {
		method, path string
		header       uint8
		value, body  string
	}{
		{"POST", "/mcp", 0, "{space}", initializeMsg},
		{"POST", "/mcp", 0, "a\x00b", initializeMsg},
		{"POST", "/mcp", 0, "\xff\xfe", initializeMsg},
		{"POST", "/mcp", 0, "{space}\x00", initializeMsg},
		{"POST", "/mcp", 0, "", initializeMsg},
		{"POST", "/mcp", 1, "Bearer \x00\xff", initializeMsg},
		{"POST", "/mcp", 2, "\x00", `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`},
		{"POST", "/mcp", 3, "\xff", `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`},
		{"POST", "/mcp", 4, "text/event-stream", initializeMsg},
		{"POST", "/mcp", 5, "text/plain\x00", initializeMsg},
		{"DELETE", "/mcp", 2, "nope", ``},
		{"GET", "/mcp", 6, "\x00", ``},
		{"GET", "/health", 0, "\x00", ``},
		{"GET", "/metrics", 0, "", ``},
		{"GET", "/\x00\xff", 0, "", ``},
		{"POST", "/mcp", 0, "{space}", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"notes.create","arguments":{"title":"\u0000"}}}`},
	} {
		f.Add(s.method, s.path, s.header, s.value, s.body)
	}
	bundles := []*bundle{setup(f, options{})}
	if os.Getenv(pgtest.URLEnv) != "" {
		bundles = append(bundles, setup(f, options{postgres: true}))
	}
	tokens := make([]string, len(bundles))
	for i, b := range bundles {
		tokens[i] = b.token(f, b.anna)
	}
	f.Fuzz(func(t *testing.T, method, path string, header uint8, value, body string) {
		if method == "" || strings.ContainsAny(method, " \t\r\n\x00()<>@,;:\\\"/[]?={}") {
			return // not an HTTP method token: no server sees it
		}
		hdr := fuzzAppHeaders[int(header)%len(fuzzAppHeaders)]
		first := 0
		for i, b := range bundles {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			u := &url.URL{Path: "/" + strings.TrimPrefix(path, "/")}
			req := httptest.NewRequestWithContext(ctx, method, "/", strings.NewReader(body))
			req.URL, req.RequestURI = u, u.RequestURI()
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Authorization", "Bearer "+tokens[i])
			req.Header.Set(app.SpaceHeader, b.anna.Personal)
			req.Header.Set(hdr, strings.ReplaceAll(value, "{space}", b.anna.Personal))
			rec := httptest.NewRecorder()
			b.app.Handler().ServeHTTP(rec, req)
			cancel()
			if rec.Code >= 500 {
				t.Fatalf("store %d: %s %s (%s: %q): %d %s", i, method, u.RequestURI(), hdr, value, rec.Code, rec.Body)
			}
			if i == 0 {
				first = rec.Code
			} else if rec.Code != first {
				t.Fatalf("%s %s (%s: %q, body %q): SQLite answers %d, PostgreSQL %d: %s", method, u.RequestURI(), hdr, value, body,
					first, rec.Code, rec.Body)
			}
		}
	})
}
