package authapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/persona-runner/persona-runner/httpjson"
)

// MaxBodyBytes is the largest request body accepted (SPEC §4 hygiene); more is a 413.
const MaxBodyBytes = 1 << 20

// decodeKind says why a body could not be decoded; each route turns it into its own error shape.
type decodeKind int

const (
	decodeTooLarge  decodeKind = iota + 1 // 413
	decodeMediaType                       // 415
	decodeSyntax                          // 400 Invalid JSON
	decodeField                           // 400 naming a field
)

// decodeError is a body that could not be decoded.
type decodeError struct {
	kind    decodeKind
	field   string // for decodeField: the JSON path, with row indexes
	message string
}

func (e *decodeError) Error() string {
	if e.field != "" {
		return e.field + ": " + e.message
	}
	return e.message
}

// readBody checks the Content-Type and reads the (size-limited) body.
func readBody(r *http.Request) ([]byte, *decodeError) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, &decodeError{kind: decodeMediaType, message: "Content-Type must be application/json"}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &decodeError{kind: decodeTooLarge, message: fmt.Sprintf("request body exceeds %d bytes", mbe.Limit)}
		}
		return nil, &decodeError{kind: decodeSyntax, message: "could not read request body"}
	}
	return body, nil
}

// decodeBody reads the request and decodes it into v. strict rejects unknown fields (internal
// routes), naming the field.
func decodeBody(r *http.Request, v any, strict bool) *decodeError {
	body, derr := readBody(r)
	if derr != nil {
		return derr
	}
	return decodeInto(body, v, strict, "", "")
}

// decodeInto decodes one JSON value into v; prefix is prepended to field names in errors
// ("actions[3]") and timeField names the time field(s) of v for time errors. Anything after the value is a syntax error.
func decodeInto(data []byte, v any, strict bool, prefix, timeField string) *decodeError {
	dec := json.NewDecoder(bytes.NewReader(data))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return classify(err, prefix, timeField)
	}
	if _, err := dec.Token(); err != io.EOF {
		return &decodeError{kind: decodeSyntax, message: "unexpected data after the JSON value"}
	}
	return nil
}

// classify turns an encoding/json error into a syntax error or a field error with the field's
// path.
func classify(err error, prefix, timeField string) *decodeError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = prefix
		} else if prefix != "" {
			field = prefix + "." + field
		}
		if field == "" {
			// The whole body has the wrong type (an array where an object belongs).
			return &decodeError{kind: decodeField, field: "body", message: "must be a JSON object"}
		}
		return &decodeError{kind: decodeField, field: field, message: fmt.Sprintf("must be %s (got %s)", jsonType(te.Type.String()), te.Value)}
	}
	// encoding/json reports unknown fields only as text: `json: unknown field "x"`.
	if msg := err.Error(); strings.HasPrefix(msg, `json: unknown field "`) {
		name := strings.TrimSuffix(strings.TrimPrefix(msg, `json: unknown field "`), `"`)
		if prefix != "" {
			name = prefix + "." + name
		}
		return &decodeError{kind: decodeField, field: name, message: "is not a known field"}
	}
	// time.Time reports its errors without the field's name; the callers know which fields hold
	// times (createdAt in rows; startedAt and finishedAt in a tick).
	var pe *time.ParseError
	if errors.As(err, &pe) || strings.Contains(err.Error(), "Time.UnmarshalJSON") {
		return &decodeError{kind: decodeField, field: timeField, message: "must be an RFC 3339 time string"}
	}
	return &decodeError{kind: decodeSyntax, message: msgInvalidJSON}
}

// jsonType names a Go type the way a JSON client thinks of it.
func jsonType(goType string) string {
	switch {
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "an integer"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "string", strings.HasSuffix(goType, "Result"), strings.HasSuffix(goType, "Cadence"),
		strings.HasSuffix(goType, "Status"), strings.HasSuffix(goType, "SpaceType"):
		return "a string"
	case goType == "bool":
		return "a boolean"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "map["), strings.HasSuffix(goType, "ModuleMix"):
		return "an object"
	case strings.HasSuffix(goType, "Time"):
		return "an RFC 3339 time string"
	}
	return "a JSON object"
}

// writeDecodeError answers an undecodable body on the general routes.
func writeDecodeError(w http.ResponseWriter, e *decodeError) {
	switch e.kind {
	case decodeTooLarge:
		writeError(w, http.StatusRequestEntityTooLarge, "Payload Too Large", e.message)
	case decodeMediaType:
		writeError(w, http.StatusUnsupportedMediaType, "Unsupported Media Type", e.message)
	case decodeField:
		writeValidation(w, []FieldDetail{{Field: e.field, Message: e.message}})
	default:
		httpjson.Write(w, http.StatusBadRequest, errorBody{Error: msgInvalidJSON})
	}
}

// writeAuthDecodeError answers an undecodable body on login and refresh, in their shape.
func writeAuthDecodeError(w http.ResponseWriter, e *decodeError) {
	switch e.kind {
	case decodeTooLarge:
		httpjson.WriteError(w, http.StatusRequestEntityTooLarge, codePayloadTooLarge, e.message)
	case decodeMediaType:
		httpjson.WriteError(w, http.StatusUnsupportedMediaType, codeUnsupportedMedia, e.message)
	case decodeField:
		httpjson.WriteError(w, http.StatusBadRequest, codeValidation, e.Error())
	default:
		httpjson.WriteError(w, http.StatusBadRequest, codeValidation, "request body is not valid JSON")
	}
}
