package authapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/persona-runner/persona-runner/persona"
)

// storeErrors is the one table mapping the store's error vocabulary to HTTP statuses. The store
// says what went wrong; this table decides the status. Anything not listed is a 500.
var storeErrors = []struct {
	err    error
	status int
}{
	{persona.ErrNotFound, http.StatusNotFound},
	{persona.ErrConflict, http.StatusConflict},
	{persona.ErrInvalid, http.StatusBadRequest},
	{persona.ErrNotPersona, http.StatusBadRequest},
}

// statusOf returns the HTTP status for a store error.
func statusOf(err error) int {
	for _, e := range storeErrors {
		if errors.Is(err, e.err) {
			return e.status
		}
	}
	return http.StatusInternalServerError
}

// The bodies SPEC §4 fixes exactly.
const (
	msgPersonaNotFound = "Persona not found"
	msgInvalidJSON     = "Invalid JSON"
	msgValidation      = "ValidationError"
	msgBadServiceKey   = "Invalid or missing service key"
)

// errorBody is the general error body of every route but login and refresh.
type errorBody struct {
	Error   string        `json:"error"`
	Message string        `json:"message,omitempty"`
	Details []FieldDetail `json:"details,omitempty"`
}

// authErrorBody is the body of login and refresh errors (Mana's shape).
type authErrorBody struct {
	Error         string `json:"error"`
	Message       string `json:"message"`
	Status        int    `json:"status"`
	RetryAfterSec int    `json:"retryAfterSec,omitempty"`
}

// serviceKeyBody is the body of a refused internal request (NestJS's shape, kept for Mana clients).
type serviceKeyBody struct {
	StatusCode int    `json:"statusCode"`
	Message    string `json:"message"`
}

// Login error codes.
const (
	codeValidation          = "VALIDATION"
	codeInvalidCredentials  = "INVALID_CREDENTIALS"
	codeAccountLocked       = "ACCOUNT_LOCKED"
	codeInvalidRefreshToken = "INVALID_REFRESH_TOKEN"
	codePayloadTooLarge     = "PAYLOAD_TOO_LARGE"
	codeUnsupportedMedia    = "UNSUPPORTED_MEDIA_TYPE"
	codeInternal            = "INTERNAL"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Every value written here is one of our own types; failing to encode one is a bug.
		status = http.StatusInternalServerError
		body = []byte(`{"error":"Internal Server Error"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, errorBody{Error: code, Message: message})
}

func writeAuthError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, authErrorBody{Error: code, Message: message, Status: status})
}

func writeValidation(w http.ResponseWriter, details []FieldDetail) {
	writeJSON(w, http.StatusBadRequest, errorBody{Error: msgValidation, Details: details})
}

// detailsOf lists the field problems inside err (FieldErrors or a FieldError); other invalid
// input becomes one detail without a field.
func detailsOf(err error) []FieldDetail {
	var fes persona.FieldErrors
	if errors.As(err, &fes) {
		out := make([]FieldDetail, len(fes))
		for i, fe := range fes {
			out[i] = FieldDetail{Field: fe.Field, Message: fe.Message}
		}
		return out
	}
	var fe *persona.FieldError
	if errors.As(err, &fe) {
		return []FieldDetail{{Field: fe.Field, Message: fe.Message}}
	}
	return []FieldDetail{{Message: err.Error()}}
}

// writeStoreError answers a failed store call through the table above. Every route with an {id}
// addresses a persona, so not-found is always SPEC's "Persona not found".
func (s *Server) writeStoreError(w http.ResponseWriter, r *http.Request, op string, err error) {
	status := statusOf(err)
	switch {
	case status == http.StatusNotFound:
		writeJSON(w, status, errorBody{Error: msgPersonaNotFound})
	case errors.Is(err, persona.ErrInvalid):
		writeValidation(w, detailsOf(err))
	case errors.Is(err, persona.ErrNotPersona):
		writeError(w, status, "Not a persona", "the user is not a persona; only personas can be deleted here")
	case status == http.StatusConflict:
		writeError(w, status, "Conflict", conflictMessage(err))
	default:
		if r.Context().Err() != nil {
			// The client went away; there is nobody to answer and nothing to alarm about.
			s.log.DebugContext(r.Context(), op+" cancelled", "err", err)
		} else {
			s.log.ErrorContext(r.Context(), op+" failed", "err", err)
		}
		writeError(w, http.StatusInternalServerError, "Internal Server Error", "")
	}
}

// conflictMessage is the store's explanation of a conflict, which names the email or slug but
// never a secret.
func conflictMessage(err error) string { return err.Error() }
