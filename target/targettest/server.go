// Package targettest is an MCP app for tests of targets (the real go-sdk server over streamable
// HTTP and legacy SSE): a kitchen app whose every request needs a static bearer token, one per
// persona, and which records every credential it receives. A wrong or missing token gets 401
// with the server's own JSON message, as many real apps answer. It is imported by tests only.
package targettest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Name and Version are what the server says in initialize.
const (
	Name    = "kitchen-test"
	Version = "0.3.1"
)

// Unauthorized is the message of the server's 401 answers.
const Unauthorized = "kitchen: token not recognised"

// Call is one tool call the server received.
type Call struct {
	Tool  string
	Token string // the bearer token it came with
}

// Server is a running test app.
type Server struct {
	*httptest.Server
	// URL of the streamable HTTP endpoint and of the legacy SSE endpoint.
	MCPURL, SSEURL string

	mu      sync.Mutex
	tokens  map[string]bool
	headers []http.Header // every request's headers
	calls   []Call
}

// Tools are the tools the app lists, with the annotations it sends.
var Tools = []string{"recipes.find", "recipes.add", "pantry_add", "pantry_clear", "admin.wipe", "echo"}

// New starts the app; tokens are the bearer tokens it accepts.
func New(tokens ...string) *Server {
	s := &Server{tokens: map[string]bool{}}
	for _, t := range tokens {
		s.tokens[t] = true
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: Name, Version: Version}, nil)
	yes, no := true, false
	add := func(name, desc string, ann *mcp.ToolAnnotations) {
		srv.AddTool(&mcp.Tool{Name: name, Description: desc, Annotations: ann,
			InputSchema: json.RawMessage(`{"type":"object","properties":{"text":{"type":"string"}}}`)},
			func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf(`{"ok":true,"tool":%q}`, name)}}}, nil
			})
	}
	add("recipes.find", "Find recipes.", &mcp.ToolAnnotations{Title: "Find recipes", ReadOnlyHint: true})
	add("recipes.add", "Add a recipe.", &mcp.ToolAnnotations{DestructiveHint: &no})
	add("pantry_add", "Add to the pantry.", nil)
	add("pantry_clear", "Empty the pantry.", &mcp.ToolAnnotations{DestructiveHint: &yes})
	add("admin.wipe", "Wipe everything.", &mcp.ToolAnnotations{DestructiveHint: &yes})
	add("echo", "Echo the text.", &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: &no})

	mux := http.NewServeMux()
	mux.Handle("/mcp", mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	mux.Handle("/sse", mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	s.Server = httptest.NewServer(s.auth(mux))
	s.MCPURL, s.SSEURL = s.URL+"/mcp", s.URL+"/sse"
	return s
}

func (s *Server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		// Tool calls are recorded from the request itself (with the token they came with), so
		// that both transports are seen alike and refused calls too.
		var call *Call
		if r.Method == http.MethodPost && r.Body != nil {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			var msg struct {
				Method string `json:"method"`
				Params struct {
					Name string `json:"name"`
				} `json:"params"`
			}
			if json.Unmarshal(body, &msg) == nil && msg.Method == "tools/call" {
				call = &Call{Tool: msg.Params.Name, Token: token}
			}
		}
		s.mu.Lock()
		s.headers = append(s.headers, r.Header.Clone())
		ok := s.tokens[token]
		if call != nil {
			s.calls = append(s.calls, *call)
		}
		s.mu.Unlock()
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("WWW-Authenticate", `Bearer realm="kitchen"`)
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"error":"invalid_token","message":%q}`, Unauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Calls returns the tool calls received so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Seen reports whether any request so far carried a header whose value contains needle (a
// token that must never arrive), and which header.
func (s *Server) Seen(needle string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.headers {
		for k, vs := range h {
			for _, v := range vs {
				if strings.Contains(v, needle) {
					return k, true
				}
			}
		}
	}
	return "", false
}

// Headers returns the headers of every request so far.
func (s *Server) Headers() []http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]http.Header(nil), s.headers...)
}
