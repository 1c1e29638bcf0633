package persona

import (
	"regexp"
	"strings"
	"sync"
	"time"
)

// IsDue applies the due rule of SPEC §6 to one persona at time now. Stores implement the same rule
// in SQL where they can; this function is the reference they are tested against. Kind and
// deletion are the store's business (only live personas reach here).
func IsDue(p Persona, now time.Time) bool {
	if p.LeaseExpiresAt != nil && p.LeaseOwner != "" && p.LeaseExpiresAt.After(now) {
		return false
	}
	if p.NextDueAt != nil && p.NextDueAt.After(now) {
		return false
	}
	if p.TickCadence == Weekdays && !IsWeekday(now, p.Timezone) {
		return false
	}
	if p.LastActiveAt == nil {
		return true
	}
	return !p.LastActiveAt.After(now.Add(-p.TickCadence.Period()))
}

// IsWeekday reports whether now is Monday to Friday in the named IANA time zone. An unknown zone
// is judged in UTC (zones are validated on write, so this only guards old rows).
func IsWeekday(now time.Time, tz string) bool {
	d := now.In(Location(tz)).Weekday()
	return d != time.Saturday && d != time.Sunday
}

var locations sync.Map // name → *time.Location

// Location loads an IANA zone once and caches it. Empty, unknown and non-IANA names (Local,
// which Go maps to the machine's zone) give UTC, the zone PostgreSQL's migration gives such rows.
func Location(name string) *time.Location {
	if name == "" || name == "UTC" || name == "Local" {
		return time.UTC
	}
	if l, ok := locations.Load(name); ok {
		return l.(*time.Location)
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		l = time.UTC
	}
	locations.Store(name, l)
	return l
}

// tzName is the shape of an IANA zone name ("UTC", "EST5EDT", "Europe/Berlin",
// "America/Argentina/Buenos_Aires", "Etc/GMT+5").
var tzName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$`)

// notZones are names time.LoadLocation may accept that are no IANA zone: Go's own "Local" (the
// machine's zone, unknown to PostgreSQL, which judges a weekday in the persona's zone) and
// files some zoneinfo directories hold besides the zones.
var notZones = map[string]bool{"Local": true, "localtime": true, "posixrules": true, "Factory": true}

// ValidTimezone reports whether name is an IANA zone that both stores evaluate the same way: a
// zone name (not Go's "Local", not the posix/ and right/ variants of some zoneinfo directories)
// that Go can load.
func ValidTimezone(name string) bool {
	if !tzName.MatchString(name) || notZones[name] ||
		strings.HasPrefix(name, "posix/") || strings.HasPrefix(name, "right/") {
		return false
	}
	_, err := time.LoadLocation(name)
	return err == nil
}

// Backoff is the delay before a persona that failed failures times in a row is due again: one
// minute, doubling per failure, capped at the cadence period.
func Backoff(c Cadence, failures int) time.Duration {
	if failures < 1 {
		failures = 1
	}
	d := time.Minute
	for i := 1; i < failures && d < c.Period(); i++ {
		d *= 2
	}
	if d > c.Period() {
		d = c.Period()
	}
	return d
}
