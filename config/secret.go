package config

import (
	"strconv"
)

// Secret is a string that prints masked. Use Value for the real thing.
type Secret string

// Value returns the secret itself.
func (s Secret) Value() string { return string(s) }

// String masks the secret: empty stays empty ("not set"), short secrets become ****, longer ones
// keep their last four characters so an operator can tell two keys apart.
func (s Secret) String() string {
	switch {
	case s == "":
		return ""
	case len(s) < 12:
		return "****"
	default:
		return "****" + string(s[len(s)-4:])
	}
}

// MarshalJSON writes the masked form.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.String())), nil }

// MarshalYAML writes the masked form.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }
