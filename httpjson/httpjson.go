// Package httpjson is JSON over HTTP as every service of this module speaks it (the auth API,
// the demo app's gateway, the runner's control endpoints): the one writer of JSON answers and
// the one gate of the service key. The body shapes stay with each API, where SPEC §4 and Mana's
// clients fix them.
package httpjson

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
)

// Write answers with status and v as JSON. A value that cannot be encoded (a bug: every value
// written is one of our own types) becomes a 500 with a JSON body all the same.
func Write(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"error":"Internal Server Error"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// HeaderServiceKey carries the service key of internal and control requests (Mana's name).
const HeaderServiceKey = "X-Service-Key"

// BadServiceKeyBody is the answer to a request without the right service key: NestJS's shape,
// kept for Mana's clients.
type BadServiceKeyBody struct {
	StatusCode int    `json:"statusCode"`
	Message    string `json:"message"`
}

// MsgBadServiceKey is the message of BadServiceKeyBody.
const MsgBadServiceKey = "Invalid or missing service key"

// ServiceKey admits requests whose X-Service-Key equals key and answers every other with 401.
// Both sides are hashed before the constant-time compare, so that neither the key nor its
// length leaks through timing. Without a key nothing is admitted: an open internal endpoint is
// worse than a closed one.
func ServiceKey(key string) func(http.Handler) http.Handler {
	want := sha256.Sum256([]byte(key))
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got := sha256.Sum256([]byte(r.Header.Get(HeaderServiceKey)))
			if key == "" || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
				Write(w, http.StatusUnauthorized, BadServiceKeyBody{StatusCode: http.StatusUnauthorized, Message: MsgBadServiceKey})
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// Error is the error body with the status in it (Mana's shape): the demo app's gateway and the
// auth API's login and refresh routes answer with it.
type Error struct {
	Error         string `json:"error"`
	Message       string `json:"message"`
	Status        int    `json:"status"`
	RetryAfterSec int    `json:"retryAfterSec,omitempty"`
}

// WriteError answers with status and an Error body of code and message.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	Write(w, status, Error{Error: code, Message: message, Status: status})
}
