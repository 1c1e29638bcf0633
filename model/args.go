package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// Args decodes the call's arguments as the JSON object a tool expects. Providers keep arguments a
// model got wrong (not JSON, or JSON but not an object) as a JSON string holding the text it
// sent, so that the conversation and its transcript stay valid JSON; Args then fails, naming the
// tool, and the runner answers the call with a tool error the model can correct. Missing
// arguments are an empty object.
func (c ToolCall) Args() (map[string]any, error) {
	in := bytes.TrimSpace(c.Input)
	if len(in) == 0 || string(in) == "null" {
		return map[string]any{}, nil
	}
	if in[0] != '{' {
		text := string(in)
		var s string
		if json.Unmarshal(in, &s) == nil {
			text = s
		}
		return nil, fmt.Errorf("tool call %s: arguments are not a JSON object: %.200q", c.Name, text)
	}
	var args map[string]any
	if err := json.Unmarshal(in, &args); err != nil {
		return nil, fmt.Errorf("tool call %s: arguments: %w", c.Name, err)
	}
	return args, nil
}

// WireArgs turns tool-call arguments as a provider received them into the form a ToolCall
// carries: the JSON object itself, {} for nothing, or, when they are not a valid JSON object,
// the raw text as a JSON string (see Args). Adapters use it so every provider treats malformed
// arguments the same way.
func WireArgs(raw []byte) json.RawMessage {
	in := bytes.TrimSpace(raw)
	if len(in) == 0 || string(in) == "null" {
		return json.RawMessage(`{}`)
	}
	if in[0] == '{' && json.Valid(in) {
		return json.RawMessage(bytes.Clone(in))
	}
	b, _ := json.Marshal(string(raw))
	return b
}

// ArgsText is the inverse of WireArgs for sending a call back to a provider: the object as
// JSON text, or the original malformed text when the arguments were kept as a JSON string.
func ArgsText(in json.RawMessage) string {
	t := bytes.TrimSpace(in)
	if len(t) == 0 || string(t) == "null" {
		return "{}"
	}
	if t[0] == '"' {
		var s string
		if json.Unmarshal(t, &s) == nil {
			return s
		}
	}
	return string(t)
}

// FillCallIDs gives every call that has no id, or repeats an id already used in calls, a made-up
// one, because the runner pairs results to calls by id and some local OpenAI-compatible servers
// omit or reuse them. The id is "call_" and 16 hex digits of a SHA-256 over seed, the call's
// index, name and arguments: stable for the same response, unique within it, and — with a seed
// that names the response and the conversation's length — unlikely to repeat across turns.
func FillCallIDs(calls []ToolCall, seed string) {
	seen := make(map[string]bool, len(calls))
	for i := range calls {
		c := &calls[i]
		if c.ID == "" || seen[c.ID] {
			h := sha256.New()
			fmt.Fprintf(h, "%s\x00%d\x00%s\x00", seed, i, c.Name)
			h.Write(c.Input)
			c.ID = "call_" + hex.EncodeToString(h.Sum(nil))[:16]
			for seen[c.ID] { // A clash of 64-bit hashes; keep the id unique regardless.
				c.ID += "x"
			}
		}
		seen[c.ID] = true
	}
}
