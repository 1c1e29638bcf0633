package config

import (
	"net/url"
	"strconv"
	"strings"
)

// DSN is a store location (a SQLite path or a postgres:// URL) that prints without its password.
type DSN string

// Value returns the DSN itself.
func (d DSN) Value() string { return string(d) }

// String is RedactDSN of the DSN.
func (d DSN) String() string { return RedactDSN(string(d)) }

// RedactDSN is the one way a store location is shown to people (messages, logs, hints): a
// database URL's password, in the user part or as a password query parameter, becomes xxxxx (the
// standard library's url.Redacted marker); a URL that cannot be parsed shows only its scheme, in
// case the rest holds a password. A SQLite path is shown as it is.
func RedactDSN(dsn string) string {
	scheme, _, isURL := strings.Cut(dsn, "://")
	if !isURL || strings.ContainsAny(scheme, `/\`) {
		return dsn // a file path (even one containing "://" further on)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return scheme + "://…"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// MarshalJSON writes the DSN without its password.
func (d DSN) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(d.String())), nil }
