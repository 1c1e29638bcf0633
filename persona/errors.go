package persona

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// The error vocabulary. Storage says what went wrong; the HTTP layer maps these to statuses in
// one table (authapi). Wrap them with %w and test with errors.Is.
var (
	ErrNotFound   = errors.New("not found")
	ErrConflict   = errors.New("conflict")
	ErrInvalid    = errors.New("invalid input")
	ErrNotPersona = errors.New("user is not a persona")
)

// FieldError is invalid input in one named field. It matches ErrInvalid with errors.Is.
type FieldError struct {
	Field   string // JSON name, with an index where it helps: "actions[3].result"
	Message string // "must be ok or error"
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// FieldErrors is every problem found in one input. It matches ErrInvalid with errors.Is.
type FieldErrors []*FieldError

func (es FieldErrors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrInvalid) true.
func (es FieldErrors) Is(target error) bool { return target == ErrInvalid }

// Add records a problem; format follows fmt.Sprintf.
func (es *FieldErrors) Add(field, format string, args ...any) {
	*es = append(*es, &FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err returns nil when there are no problems, else es itself.
func (es FieldErrors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// Text records a problem when s is text the stores cannot keep alike: PostgreSQL refuses NUL
// characters and invalid UTF-8 in text columns, where SQLite would store them. Both stores
// refuse such input through the domain's validation instead.
func (es *FieldErrors) Text(field, s string) {
	if msg := TextProblem(s); msg != "" {
		es.Add(field, "%s", msg)
	}
}

// TextProblem says what makes s unfit for a text field ("must not contain NUL characters"), or
// "" when it is fine. Validation that reports problems its own way (the catalog) uses it.
func TextProblem(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		return "must not contain NUL characters"
	}
	if !utf8.ValidString(s) {
		return "must be valid UTF-8"
	}
	return ""
}
