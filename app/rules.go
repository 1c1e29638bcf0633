package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/mail"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/google/uuid"

	"github.com/persona-runner/persona-runner/persona"
)

// An input type's fields carry three tags:
//
//	json:"dueDate,omitempty"          the property name; omitempty makes it optional
//	jsonschema:"When it is due."      the description the model reads
//	schema:"format=date,default=x"    constraints, comma-separated key=value pairs:
//	    minLength=N, maxLength=N      string length in characters
//	    enum=a|b|c                    allowed string values
//	    format=date|date-time|uuid|email
//	    minimum=N, maximum=N          number range (inclusive)
//	    default=V                     value used when the property is absent
//
// The constraints go into the JSON Schema the clients see and are enforced by validateArgs, so
// the schema and the server-side checks cannot drift apart.

type fieldKind int

const (
	kindString fieldKind = iota
	kindInteger
	kindNumber
	kindBoolean
)

func (k fieldKind) String() string {
	return [...]string{"a string", "an integer", "a number", "a boolean"}[k]
}

// field is one property of a tool's input with its rules.
type field struct {
	name      string
	kind      fieldKind
	required  bool
	minLength *int
	maxLength *int
	enum      []string
	format    string
	minimum   *float64
	maximum   *float64
	def       any // the default, decoded; nil when none
}

var formats = []string{"date", "date-time", "uuid", "email"}

// deriveSchema returns the JSON Schema of the struct type t, with the constraints of its schema
// tags, and the fields validateArgs checks. Only flat structs of strings, integers, numbers and
// booleans are accepted: tool inputs a model fills in should stay that simple.
func deriveSchema(t reflect.Type) (*jsonschema.Schema, []*field, error) {
	if t.Kind() != reflect.Struct {
		return nil, nil, fmt.Errorf("input type %s is not a struct", t)
	}
	s, err := jsonschema.ForType(t, nil)
	if err != nil {
		return nil, nil, err
	}
	// OpenAI's function calling refuses an object schema without "properties", even when the
	// tool takes no input; a non-nil empty map is written as "properties": {}.
	if s.Properties == nil {
		s.Properties = map[string]*jsonschema.Schema{}
	}
	var fields []*field
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			return nil, nil, fmt.Errorf("field %s has no json name", sf.Name)
		}
		prop := s.Properties[name]
		if prop == nil {
			return nil, nil, fmt.Errorf("field %s: no schema property %q", sf.Name, name)
		}
		if prop.Description == "" {
			return nil, nil, fmt.Errorf("field %s: a jsonschema tag with a description is required", sf.Name)
		}
		f := &field{name: name, required: !slices.Contains(strings.Split(opts, ","), "omitempty")}
		switch sf.Type.Kind() {
		case reflect.String:
			f.kind = kindString
		case reflect.Int, reflect.Int32, reflect.Int64:
			f.kind = kindInteger
		case reflect.Float64:
			f.kind = kindNumber
		case reflect.Bool:
			f.kind = kindBoolean
		default:
			return nil, nil, fmt.Errorf("field %s: type %s is not supported in tool inputs", sf.Name, sf.Type)
		}
		if err := f.parseRules(sf.Tag.Get("schema")); err != nil {
			return nil, nil, fmt.Errorf("field %s: %w", sf.Name, err)
		}
		if err := f.applyTo(prop); err != nil {
			return nil, nil, fmt.Errorf("field %s: %w", sf.Name, err)
		}
		fields = append(fields, f)
	}
	return s, fields, nil
}

func (f *field) parseRules(tag string) error {
	if tag == "" {
		return nil
	}
	var defText string
	hasDefault := false
	for _, part := range strings.Split(tag, ",") {
		key, val, ok := strings.Cut(part, "=")
		if !ok {
			return fmt.Errorf("schema tag %q: %q is not key=value", tag, part)
		}
		switch key {
		case "minLength", "maxLength":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 || f.kind != kindString {
				return fmt.Errorf("schema tag: %s needs a string field and a count (got %q)", key, val)
			}
			if key == "minLength" {
				f.minLength = &n
			} else {
				f.maxLength = &n
			}
		case "enum":
			if f.kind != kindString {
				return fmt.Errorf("schema tag: enum needs a string field")
			}
			f.enum = strings.Split(val, "|")
		case "format":
			if f.kind != kindString || !slices.Contains(formats, val) {
				return fmt.Errorf("schema tag: format needs a string field and one of %s (got %q)", strings.Join(formats, ", "), val)
			}
			f.format = val
		case "minimum", "maximum":
			v, err := strconv.ParseFloat(val, 64)
			if err != nil || (f.kind != kindInteger && f.kind != kindNumber) {
				return fmt.Errorf("schema tag: %s needs a numeric field and a number (got %q)", key, val)
			}
			if key == "minimum" {
				f.minimum = &v
			} else {
				f.maximum = &v
			}
		case "default":
			defText, hasDefault = val, true
		default:
			return fmt.Errorf("schema tag: unknown key %q", key)
		}
	}
	if hasDefault {
		if f.required {
			return fmt.Errorf("schema tag: a required field cannot have a default")
		}
		switch f.kind {
		case kindString:
			f.def = defText
		case kindInteger:
			n, err := strconv.ParseInt(defText, 10, 64)
			if err != nil {
				return fmt.Errorf("schema tag: default %q is not an integer", defText)
			}
			f.def = n
		case kindNumber:
			v, err := strconv.ParseFloat(defText, 64)
			if err != nil {
				return fmt.Errorf("schema tag: default %q is not a number", defText)
			}
			f.def = v
		case kindBoolean:
			b, err := strconv.ParseBool(defText)
			if err != nil {
				return fmt.Errorf("schema tag: default %q is not a boolean", defText)
			}
			f.def = b
		}
		// The default must itself pass the rules, or every call without the field would fail.
		if msg := f.check(f.def); msg != "" {
			return fmt.Errorf("schema tag: default %q %s", defText, msg)
		}
	}
	return nil
}

// applyTo writes the field's constraints into its schema property.
func (f *field) applyTo(p *jsonschema.Schema) error {
	p.MinLength, p.MaxLength, p.Minimum, p.Maximum = f.minLength, f.maxLength, f.minimum, f.maximum
	if f.required && f.kind == kindString && f.minLength == nil {
		one := 1
		p.MinLength = &one
	}
	p.Format = f.format
	for _, e := range f.enum {
		p.Enum = append(p.Enum, e)
	}
	if f.def != nil {
		raw, err := json.Marshal(f.def)
		if err != nil {
			return err
		}
		p.Default = raw
	}
	return nil
}

// validateArgs checks a call's JSON arguments against fields and returns them re-encoded with the
// defaults applied. Every problem is reported at once, each naming the field and the rule it
// breaks ("title: must be at most 200 characters"), as persona.FieldErrors.
func validateArgs(fields []*field, raw json.RawMessage) ([]byte, error) {
	args := map[string]any{}
	if trimmed := bytes.TrimSpace(raw); len(trimmed) > 0 && !bytes.Equal(trimmed, []byte("null")) {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.UseNumber()
		if err := dec.Decode(&args); err != nil {
			return nil, persona.FieldErrors{{Field: "arguments", Message: "must be a JSON object"}}
		}
	}
	var es persona.FieldErrors
	known := make(map[string]bool, len(fields))
	for _, f := range fields {
		known[f.name] = true
	}
	var unknown []string
	for k := range args {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		if len(fields) == 0 {
			es.Add(k, "is not a known field; this tool takes no input")
			continue
		}
		names := make([]string, len(fields))
		for i, f := range fields {
			names[i] = f.name
		}
		es.Add(k, "is not a known field; known fields are %s", strings.Join(names, ", "))
	}
	for _, f := range fields {
		v, present := args[f.name]
		if !present || v == nil {
			switch {
			case f.required:
				es.Add(f.name, "is required")
			case f.def != nil:
				args[f.name] = f.def
			default:
				delete(args, f.name) // an explicit null of an optional field means "not given"
			}
			continue
		}
		norm, msg := f.normalise(v)
		if msg == "" {
			msg = f.check(norm)
		}
		if msg != "" {
			es.Add(f.name, "%s", msg)
			continue
		}
		args[f.name] = norm
	}
	if err := es.Err(); err != nil {
		return nil, err
	}
	return json.Marshal(args)
}

// normalise checks the JSON type of v and returns it as string, int64, float64 or bool.
func (f *field) normalise(v any) (any, string) {
	wrong := "must be " + f.kind.String()
	switch f.kind {
	case kindString:
		if s, ok := v.(string); ok {
			return s, ""
		}
	case kindInteger:
		if n, ok := v.(json.Number); ok {
			x, err := n.Float64()
			if err == nil && x == math.Trunc(x) && math.Abs(x) < 1<<53 {
				return int64(x), ""
			}
			return nil, fmt.Sprintf("%s (got %s)", wrong, n)
		}
	case kindNumber:
		if n, ok := v.(json.Number); ok {
			if x, err := n.Float64(); err == nil {
				return x, ""
			}
		}
	case kindBoolean:
		if b, ok := v.(bool); ok {
			return b, ""
		}
	}
	return nil, wrong
}

// check returns what is wrong with the normalised value v ("" when nothing).
func (f *field) check(v any) string {
	switch x := v.(type) {
	case string:
		// PostgreSQL cannot store a NUL in text (SQLite can), so it is refused here, alike on
		// both engines, before it reaches either.
		if strings.IndexByte(x, 0) >= 0 {
			return `must not contain NUL characters (\u0000)`
		}
		n := utf8.RuneCountInString(x)
		if f.required && strings.TrimSpace(x) == "" {
			return "must not be empty"
		}
		if f.minLength != nil && n < *f.minLength {
			return fmt.Sprintf("must be at least %d characters (got %d)", *f.minLength, n)
		}
		if f.maxLength != nil && n > *f.maxLength {
			return fmt.Sprintf("must be at most %d characters (got %d)", *f.maxLength, n)
		}
		if len(f.enum) > 0 && !slices.Contains(f.enum, x) {
			return fmt.Sprintf("must be one of %s (got %q)", strings.Join(f.enum, ", "), x)
		}
		if f.format != "" {
			return checkFormat(f.format, x)
		}
	case int64:
		return f.checkRange(float64(x), strconv.FormatInt(x, 10))
	case float64:
		return f.checkRange(x, strconv.FormatFloat(x, 'g', -1, 64))
	}
	return ""
}

func (f *field) checkRange(x float64, text string) string {
	if f.minimum != nil && x < *f.minimum {
		return fmt.Sprintf("must be at least %s (got %s)", strconv.FormatFloat(*f.minimum, 'g', -1, 64), text)
	}
	if f.maximum != nil && x > *f.maximum {
		return fmt.Sprintf("must be at most %s (got %s)", strconv.FormatFloat(*f.maximum, 'g', -1, 64), text)
	}
	return ""
}

func checkFormat(format, s string) string {
	switch format {
	case "date":
		if _, err := time.Parse(dateLayout, s); err != nil {
			return fmt.Sprintf("must be a date in the form YYYY-MM-DD (got %q)", s)
		}
	case "date-time":
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			return fmt.Sprintf("must be a date-time in RFC 3339 form such as 2025-06-01T09:30:00Z (got %q)", s)
		}
	case "uuid":
		if len(s) != 36 || uuid.Validate(s) != nil {
			return fmt.Sprintf("must be a UUID such as 0b6c4f4e-3f6a-4d8e-9a51-2f1f8c7d9e10 (got %q)", s)
		}
	case "email":
		a, err := mail.ParseAddress(s)
		if err != nil || a.Address != s {
			return fmt.Sprintf("must be an email address such as ana@example.com (got %q)", s)
		}
	}
	return ""
}
