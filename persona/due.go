package persona

import (
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

// Location loads an IANA zone once and caches it; unknown or empty names give UTC.
func Location(name string) *time.Location {
	if name == "" || name == "UTC" {
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

// ValidTimezone reports whether name is a loadable IANA zone.
func ValidTimezone(name string) bool {
	if name == "" {
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
