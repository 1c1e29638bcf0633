package persona_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/persona-runner/persona-runner/persona"
)

func TestClassifyError(t *testing.T) {
	t.Parallel()
	for msg, want := range map[string]persona.ErrorClass{
		"invalid input: title: must be at most 200 characters (got 201)":              persona.ClassInvalidInput,
		"malformed tool call: not an object; send the arguments as one JSON object":   persona.ClassInvalidInput,
		`unknown tool "todo_delete": use one of the tools listed`:                     persona.ClassInvalidInput,
		"todo 7f3e not found in this space":                                           persona.ClassNotFound,
		"internal error: notes.create failed; try again later":                        persona.ClassServerError,
		"something odd happened":                                                      persona.ClassServerError,
		"transport: context deadline exceeded":                                        persona.ClassTimeout,
		"cut off: the run ended during the call (run deadline exceeded)":              persona.ClassTimeout,
		"transport: connection refused":                                               persona.ClassTransport,
		"transport: calling \"tools/call\": EOF":                                      persona.ClassTransport,
		"transport: 401 Unauthorized":                                                 persona.ClassAuth,
		"rate limit: at most 30 calls of todo.create per 1m0s per user; try again in": persona.ClassRateLimited,
	} {
		if got := persona.ClassifyError(msg); got != want {
			t.Errorf("ClassifyError(%q) = %s, want %s", msg, got, want)
		}
	}
}

func TestEvidenceArguments(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		``:                                      ``,
		`{}`:                                    `{}`,
		`{"Authorization":"Bearer x","q":"a"}`:  `{"Authorization":"[redacted]","q":"a"}`,
		`{"client-secret":{"a":1},"api_key":2}`: `{"api_key":"[redacted]","client-secret":"[redacted]"}`,
		`[{"refreshToken":"r"},{"title":"ok"}]`: `[{"refreshToken":"[redacted]"},{"title":"ok"}]`,
		`{"n":12345678901234567890}`:            `{"n":12345678901234567890}`,
		`not json`:                              `"not json"`,
	} {
		if got := string(persona.EvidenceArguments(json.RawMessage(in))); got != want {
			t.Errorf("EvidenceArguments(%s) = %s, want %s", in, got, want)
		}
	}
	// Escapes make the encoding longer than the text; the cut still fits.
	big := json.RawMessage(`"` + strings.Repeat(`\u0001`, persona.MaxEvidence) + `"`)
	got := persona.EvidenceArguments(big)
	if len(got) > persona.MaxEvidence || !json.Valid(got) {
		t.Errorf("escaped arguments: %d bytes, valid %v", len(got), json.Valid(got))
	}
}

// TestInputHash pins the hash to literal vectors (SHA-256 of the exact bytes, first 16 hex
// characters), so the runner's rows and the app's log lines agree with any other implementation.
func TestInputHash(t *testing.T) {
	for in, want := range map[string]string{
		`{}`:                    "44136fa355b3678a",
		`{"title":"Buy milk"}`:  "6330399f2342cfc9",
		`{"title": "Buy milk"}`: "a9e2d8817ada5875", // the bytes as sent: spacing changes the hash
		``:                      "e3b0c44298fc1c14",
	} {
		if got := persona.InputHash([]byte(in)); got != want {
			t.Errorf("InputHash(%q) = %s, want %s", in, got, want)
		}
	}
}
