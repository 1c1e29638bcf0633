// Package fake is a scriptable fake model server for tests and benchmarks. It listens on a
// loopback port and speaks both wire formats the providers use — Anthropic Messages
// (POST /v1/messages) and OpenAI Chat Completions (POST /v1/chat/completions) — so the real
// adapters, SDKs included, run against it.
//
// A test scripts the replies in order:
//
//	srv := fake.New(t)
//	srv.Script(
//		fake.ToolCalls(fake.Call("todo_create", `{"title":"milk"}`)),
//		fake.Fault(429, 2*time.Second),
//		fake.Text("Done for today."),
//	)
//	p, _ := anthropic.New(anthropic.Config{APIKey: "k", BaseURL: srv.URL()})
//	// or: openai.New(openai.Config{BaseURL: srv.OpenAIURL()})
//
// Malformed tool-call arguments are scripted as such (fake.Call("todo_create", `{"title":`)),
// an empty reply is fake.Empty(), a slow one fake.Text("…").WithDelay(d). Benchmarks drive any
// number of personas without a script: fake.New(b, fake.WithHandler(fake.Agent(5)),
// fake.WithLatency(50*time.Millisecond), fake.WithoutRecording()).
//
// A request the real APIs refuse because its history has tool calls or results but it defines no
// tools is answered 400, as they do, and fails the test. Each request takes the next step; when the script is used up the handler (WithHandler or
// Handle) answers, and without one the request fails with 400 and the test with it. Every request
// is recorded in a provider-neutral form (Requests) unless recording is switched off for long
// benchmarks. The server is safe for concurrent use.
package fake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/model"
)

// Server is a running fake model server. Create it with New.
type Server struct {
	tb     testing.TB
	srv    *httptest.Server
	closed chan struct{}
	once   sync.Once

	mu       sync.Mutex
	script   []Step
	handler  func(Request) Step
	latency  time.Duration
	record   bool
	requests []Request

	count   atomic.Int64
	bytesIn atomic.Int64
	callSeq atomic.Int64
}

// Option configures a Server.
type Option func(*Server)

// WithLatency makes every request wait d before it is answered, like a model thinking.
func WithLatency(d time.Duration) Option { return func(s *Server) { s.latency = d } }

// WithHandler answers every request that the script does not (all of them when there is no
// script) — the way to drive many personas at once, e.g. with Agent.
func WithHandler(fn func(Request) Step) Option { return func(s *Server) { s.handler = fn } }

// WithoutRecording keeps no requests (Requests returns none); Count and BytesIn still count.
// Benchmarks with many runs use it so memory stays flat.
func WithoutRecording() Option { return func(s *Server) { s.record = false } }

// New starts a server on 127.0.0.1 with a random port; it is closed when tb's test ends.
func New(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s := &Server{tb: tb, record: true, closed: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/messages", func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, Anthropic) })
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, OpenAI) })
	// Some clients are configured with a base URL that already ends in /v1 and some without.
	mux.HandleFunc("POST /chat/completions", func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, OpenAI) })
	s.srv = httptest.NewServer(mux)
	tb.Cleanup(s.Close)
	return s
}

// URL is the server's root, http://127.0.0.1:port — the Anthropic base URL.
func (s *Server) URL() string { return s.srv.URL }

// OpenAIURL is the OpenAI-compatible base URL, URL()+"/v1".
func (s *Server) OpenAIURL() string { return s.srv.URL + "/v1" }

// Client is an HTTP client for the server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Script appends steps; requests take them in order of arrival.
func (s *Server) Script(steps ...Step) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, steps...)
}

// Handle sets the handler that answers requests the script does not.
func (s *Server) Handle(fn func(Request) Step) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handler = fn
}

// SetLatency changes the wait before every answer.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Pending is the number of scripted steps not yet taken.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.script)
}

// Requests returns a copy of the requests recorded so far, in order of arrival.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Count is the number of requests received, recorded or not.
func (s *Server) Count() int { return int(s.count.Load()) }

// BytesIn is the total size of the request bodies received: the prompt bytes sent.
func (s *Server) BytesIn() int64 { return s.bytesIn.Load() }

// Close stops the server; waits in progress end at once. It is called at the end of the test
// and may be called earlier.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.closed)
		s.srv.Close()
	})
}

// wait sleeps d unless the client leaves or the server closes first; it reports whether to go on.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-s.closed:
	}
	return false
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, api API) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "fake: read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	n := int(s.count.Add(1))
	s.bytesIn.Add(int64(len(body)))

	var req Request
	if api == Anthropic {
		req, err = decodeAnthropic(body)
	} else {
		req, err = decodeOpenAI(body)
	}
	if err != nil {
		s.tb.Errorf("fake model server: request %d: %v", n, err)
		writeError(w, api, http.StatusBadRequest, "fake: "+err.Error())
		return
	}
	req.N = n
	req.Header = r.Header.Clone()
	req.Body = body

	s.mu.Lock()
	if s.record {
		s.requests = append(s.requests, req)
	}
	if msg := req.invalid(); msg != "" {
		// The real API answers 400; the test fails too, since the adapter sent what it refuses.
		s.mu.Unlock()
		s.tb.Errorf("fake model server: request %d (%s) would be refused: %s", n, api, msg)
		writeError(w, api, http.StatusBadRequest, msg)
		return
	}
	latency := s.latency
	var step Step
	found := true
	switch {
	case len(s.script) > 0:
		step = s.script[0]
		s.script = s.script[1:]
	case s.handler != nil:
		step = Func(s.handler)
	default:
		found = false
	}
	s.mu.Unlock()

	if !found {
		msg := fmt.Sprintf("fake: no step scripted for request %d (%s) and no handler", n, api)
		s.tb.Errorf("fake model server: %s", msg)
		writeError(w, api, http.StatusBadRequest, msg)
		return
	}
	for i := 0; step.fn != nil; i++ {
		if i == 10 {
			s.tb.Errorf("fake model server: request %d: Func steps nested too deep", n)
			writeError(w, api, http.StatusBadRequest, "fake: Func steps nested too deep")
			return
		}
		step = step.fn(req)
	}

	if !s.wait(r.Context(), latency+step.delay) {
		return
	}
	for k, vs := range step.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	switch {
	case step.raw:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(step.status)
		io.WriteString(w, step.body)
	case step.status != 0 && step.status != http.StatusOK:
		writeError(w, api, step.status, step.body)
	default:
		var out any
		if api == Anthropic {
			out = s.anthropicReply(req, body, step)
		} else {
			out = s.openaiReply(req, body, step)
		}
		writeJSON(w, http.StatusOK, out)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		http.Error(w, "fake: encode reply: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// writeError sends the error body of the API's format.
func writeError(w http.ResponseWriter, api API, status int, msg string) {
	if api == Anthropic {
		typ := map[int]string{400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
			404: "not_found_error", 408: "timeout_error", 413: "request_too_large", 429: "rate_limit_error",
			500: "api_error", 529: "overloaded_error"}[status]
		if typ == "" {
			typ = "api_error"
		}
		writeJSON(w, status, map[string]any{"type": "error", "error": map[string]string{"type": typ, "message": msg}})
		return
	}
	typ := "server_error"
	switch {
	case status == 429:
		typ = "rate_limit_exceeded"
	case status < 500:
		typ = "invalid_request_error"
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": nil}})
}

// usage is the step's usage, or an estimate of about four bytes a token.
func usage(body []byte, step Step) model.Usage {
	if step.usage != nil {
		return *step.usage
	}
	out := len(step.text)
	for _, c := range step.calls {
		out += len(c.Name) + len(c.Input)
	}
	return model.Usage{InputTokens: int64(len(body)/4 + 1), OutputTokens: int64(out/4 + 1)}
}

func (s *Server) callID(prefix string, c model.ToolCall, step Step) string {
	if step.omitIDs {
		return ""
	}
	if c.ID != "" {
		return c.ID
	}
	return fmt.Sprintf("%s%d", prefix, s.callSeq.Add(1))
}

func stopReason(step Step) model.StopReason {
	switch {
	case step.stop != "":
		return step.stop
	case len(step.calls) > 0:
		return model.StopToolUse
	default:
		return model.StopEnd
	}
}

func modelName(req Request) string {
	if req.Model != "" {
		return req.Model
	}
	return "fake-model"
}

func (s *Server) anthropicReply(req Request, body []byte, step Step) any {
	content := []map[string]any{}
	if step.text != "" {
		content = append(content, map[string]any{"type": "text", "text": step.text})
	}
	for _, c := range step.calls {
		content = append(content, map[string]any{"type": "tool_use", "id": s.callID("toolu_fake_", c, step), "name": c.Name, "input": argsJSON(string(c.Input))})
	}
	u := usage(body, step)
	stop := stopReason(step)
	if stop == model.StopOther {
		stop = "stop_sequence"
	}
	return map[string]any{
		"id": fmt.Sprintf("msg_fake_%d", req.N), "type": "message", "role": "assistant",
		"model": modelName(req), "content": content, "stop_reason": stop, "stop_sequence": nil,
		"usage": map[string]any{
			// Anthropic counts cache reads apart from input_tokens.
			"input_tokens":                max(u.InputTokens-u.CachedTokens, 0),
			"output_tokens":               u.OutputTokens,
			"cache_read_input_tokens":     u.CachedTokens,
			"cache_creation_input_tokens": 0,
		},
	}
}

func (s *Server) openaiReply(req Request, body []byte, step Step) any {
	msg := map[string]any{"role": "assistant", "content": nil}
	if step.text != "" || len(step.calls) == 0 {
		msg["content"] = step.text
	}
	if len(step.calls) > 0 {
		var calls []map[string]any
		for _, c := range step.calls {
			call := map[string]any{"type": "function", "function": map[string]any{"name": c.Name, "arguments": openaiArgs(c.Input)}}
			if id := s.callID("call_fake_", c, step); id != "" {
				call["id"] = id
			}
			calls = append(calls, call)
		}
		msg["tool_calls"] = calls
	}
	finish := map[model.StopReason]string{model.StopEnd: "stop", model.StopToolUse: "tool_calls",
		model.StopMaxTokens: "length", model.StopOther: "content_filter"}[stopReason(step)]
	u := usage(body, step)
	return map[string]any{
		"id": fmt.Sprintf("chatcmpl-fake-%d", req.N), "object": "chat.completion", "created": 0,
		"model":   modelName(req),
		"choices": []map[string]any{{"index": 0, "message": msg, "finish_reason": finish}},
		"usage": map[string]any{
			"prompt_tokens": u.InputTokens, "completion_tokens": u.OutputTokens,
			"total_tokens":          u.InputTokens + u.OutputTokens,
			"prompt_tokens_details": map[string]any{"cached_tokens": u.CachedTokens},
		},
	}
}

// openaiArgs is the arguments string as scripted, "{}" for none; broken JSON stays broken.
func openaiArgs(in json.RawMessage) string {
	if len(bytes.TrimSpace(in)) == 0 {
		return "{}"
	}
	return string(in)
}
