package authapi

import (
	"errors"
	"net/http"

	"github.com/persona-runner/persona-runner/httpjson"
	"github.com/persona-runner/persona-runner/persona"
)

// errorTable is the one table between the error vocabulary and HTTP, read both ways. The server
// answers an error with the status and code (the body's "error") of the first entry it matches
// (statusOf, writeStoreError); anything not listed is a 500. The client turns an answer back into
// the errors it matches (Error.Is): every entry of the answer's status, and where the entry is
// exact, only with its code (ErrNotPersona shares 400 with ErrInvalid).
var errorTable = []struct {
	err    error
	status int
	code   string
	exact  bool
}{
	{persona.ErrNotFound, http.StatusNotFound, msgPersonaNotFound, false},
	{persona.ErrConflict, http.StatusConflict, codeConflict, false},
	{persona.ErrNotPersona, http.StatusBadRequest, codeNotPersona, true},
	{persona.ErrInvalid, http.StatusBadRequest, msgValidation, false},
	{ErrUnauthorized, http.StatusUnauthorized, codeUnauthorized, false},
	{ErrForbidden, http.StatusForbidden, codeForbidden, false},
	{ErrLocked, http.StatusTooManyRequests, codeAccountLocked, false},
}

// statusOf returns the HTTP status for an error of the vocabulary, 500 for any other.
func statusOf(err error) int {
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			return e.status
		}
	}
	return http.StatusInternalServerError
}

// codeOf returns the body's code for an error of the vocabulary, "" for any other.
func codeOf(err error) string {
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			return e.code
		}
	}
	return ""
}

// answerIs reports whether an answer with status and code stands for target (see errorTable).
func answerIs(status int, code string, target error) bool {
	for _, e := range errorTable {
		if e.err == target && e.status == status && (!e.exact || e.code == code) {
			return true
		}
	}
	return false
}

// IsMissingRoute reports whether err is the auth API answering that it has no such route (the
// original Mana service lacks our extensions): a 404 that is not about a persona, whose 404
// always carries the code of persona.ErrNotFound.
func IsMissingRoute(err error) bool {
	var ae *Error
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound && ae.Code != msgPersonaNotFound
}

// The bodies SPEC §4 fixes exactly.
const (
	msgPersonaNotFound = "Persona not found"
	msgInvalidJSON     = "Invalid JSON"
	msgValidation      = "ValidationError"
)

// errorBody is the general error body of every route but login and refresh.
type errorBody struct {
	Error   string        `json:"error"`
	Message string        `json:"message,omitempty"`
	Details []FieldDetail `json:"details,omitempty"`
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

// Codes of the general error body.
const (
	codeConflict     = "Conflict"
	codeNotPersona   = "Not a persona"
	codeUnauthorized = "Unauthorized"
	codeForbidden    = "Forbidden"
)

func writeError(w http.ResponseWriter, status int, code, message string) {
	httpjson.Write(w, status, errorBody{Error: code, Message: message})
}

func writeValidation(w http.ResponseWriter, details []FieldDetail) {
	httpjson.Write(w, http.StatusBadRequest, errorBody{Error: msgValidation, Details: details})
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
	status, code := statusOf(err), codeOf(err)
	switch {
	case status == http.StatusNotFound:
		httpjson.Write(w, status, errorBody{Error: code})
	case errors.Is(err, persona.ErrInvalid):
		writeValidation(w, detailsOf(err))
	case errors.Is(err, persona.ErrNotPersona):
		writeError(w, status, code, "the user is not a persona; only personas can be deleted here")
	case status == http.StatusConflict:
		writeError(w, status, code, conflictMessage(err))
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
