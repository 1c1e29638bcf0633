package fake

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/persona-runner/persona-runner/model"
)

// Step is what the server does for one request: reply (text and/or tool calls), fail with a
// status, or ask a function. Build one with Text, ToolCalls, Reply, Fault, Empty, Raw or Func and
// adjust it with the With… methods; a Step is a value, so adjusting returns a copy.
type Step struct {
	text    string
	calls   []model.ToolCall
	status  int    // 0 = 200 with a reply
	body    string // raw body for Raw, or the error message of a Fault
	raw     bool
	header  http.Header
	delay   time.Duration
	usage   *model.Usage
	stop    model.StopReason
	omitIDs bool
	fn      func(Request) Step
}

// Reply answers with text and tool calls (either may be empty).
func Reply(text string, calls ...model.ToolCall) Step {
	return Step{text: text, calls: calls}
}

// Text answers with text only; the stop reason is end_turn.
func Text(s string) Step { return Reply(s) }

// ToolCalls answers with tool calls only; the stop reason is tool_use.
func ToolCalls(calls ...model.ToolCall) Step { return Reply("", calls...) }

// Call is a tool call for ToolCalls. args is sent as the model would send it and may be invalid
// JSON on purpose (a malformed tool call); "" means {}. The server assigns an id unless the
// call has one.
func Call(name, args string) model.ToolCall {
	return model.ToolCall{Name: name, Input: json.RawMessage(args)}
}

// Empty answers with no text and no tool calls (end_turn): a model that said nothing.
func Empty() Step { return Step{} }

// Fault fails the request with status (429, 500, 529, …) and the API's error body. A positive
// retryAfter is sent as Retry-After in whole seconds (rounded up) and, when it is not a whole
// number of seconds, also as retry-after-ms.
func Fault(status int, retryAfter time.Duration) Step {
	s := Step{status: status, body: http.StatusText(status)}
	if status == 529 {
		s.body = "Overloaded"
	}
	if s.body == "" {
		s.body = "fake fault " + strconv.Itoa(status)
	}
	s.body = "fake: " + s.body
	if retryAfter > 0 {
		s.header = http.Header{}
		secs := (retryAfter + time.Second - 1) / time.Second
		s.header.Set("Retry-After", strconv.FormatInt(int64(secs), 10))
		if retryAfter%time.Second != 0 {
			s.header.Set("retry-after-ms", strconv.FormatInt(retryAfter.Milliseconds(), 10))
		}
	}
	return s
}

// Raw answers with status and body verbatim (Content-Type application/json), e.g. a broken JSON
// body or an error shape of your own.
func Raw(status int, body string) Step {
	return Step{status: status, body: body, raw: true}
}

// Func decides the step when the request arrives, from what the request says (its messages,
// whether tools are offered, …). It may return any step but another Func.
func Func(fn func(Request) Step) Step { return Step{fn: fn} }

// WithDelay makes the server wait d before answering this step (a slow response), on top of the
// server's latency. The wait ends early when the client goes away.
func (s Step) WithDelay(d time.Duration) Step { s.delay = d; return s }

// WithUsage reports u as the token usage instead of the server's estimate (about 4 bytes a
// token). CachedTokens become cache_read_input_tokens (Anthropic) or cached_tokens (OpenAI);
// InputTokens is the whole prompt, cached part included.
func (s Step) WithUsage(u model.Usage) Step { s.usage = &u; return s }

// WithStop overrides the stop reason (e.g. model.StopMaxTokens → max_tokens / length).
func (s Step) WithStop(r model.StopReason) Step { s.stop = r; return s }

// WithoutIDs sends the tool calls without ids, as some local OpenAI-compatible servers do. On
// the Anthropic format the ids are sent empty.
func (s Step) WithoutIDs() Step { s.omitIDs = true; return s }

// WithHeader adds a response header to this step.
func (s Step) WithHeader(key, value string) Step {
	h := s.header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Add(key, value)
	s.header = h
	return s
}
