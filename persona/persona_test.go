package persona_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/persona-runner/persona-runner/persona"
)

func TestDerivePasswordVectors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ secret, email, want string }{
		{"dev-persona-seed-secret-rotate-in-prod", "persona.anna@mana.test", "1FJ7w8KbjK5CWVa8NqfobexAFNuQKxiA"},
		{"dev-persona-seed-secret-rotate-in-prod", "persona.maya@mana.test", "cGqE8D7hwpIKvyjBql7vJAXAvbBlepEZ"},
		{"s3cret", "persona.ben@mana.test", "2wV6ChpRD6kvHP76oHF0SBSCZuMLuhom"},
	} {
		got, err := persona.DerivePassword(tc.secret, tc.email)
		if err != nil || got != tc.want {
			t.Errorf("DerivePassword(%q, %q) = %q, %v; want %q", tc.secret, tc.email, got, err, tc.want)
		}
	}
	if _, err := persona.DerivePassword("", "a@b.c"); err == nil {
		t.Error("empty secret: want an error")
	}
}

func TestHashPassword(t *testing.T) {
	t.Parallel()
	h, err := persona.HashPassword("correct horse", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if h == "correct horse" || !persona.CheckPassword(h, "correct horse") || persona.CheckPassword(h, "wrong") {
		t.Fatalf("hash %q does not behave", h)
	}
	if cost, err := bcrypt.Cost([]byte(h)); err != nil || cost != bcrypt.MinCost {
		t.Errorf("cost of the hash = %d, %v; want the cost asked for, %d", cost, err, bcrypt.MinCost)
	}
	// Zero means the default cost, never a weaker one.
	h, err = persona.HashPassword("correct horse", 0)
	if err != nil {
		t.Fatal(err)
	}
	if cost, _ := bcrypt.Cost([]byte(h)); cost != 10 {
		t.Errorf("cost of a hash at cost 0 = %d, want 10 (bcrypt's default)", cost)
	}
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func ptr[T any](v T) *T { return &v }

func TestIsDue(t *testing.T) {
	t.Parallel()
	// 2026-11-27 is a Friday. 14:30 UTC is 23:30 Friday in Tokyo; 15:30 UTC is Saturday there.
	fri := ts("2026-11-27T14:30:00Z")
	sat := ts("2026-11-28T12:00:00Z")
	for _, tc := range []struct {
		name string
		p    persona.Persona
		now  time.Time
		want bool
	}{
		{"hourly never run", persona.Persona{TickCadence: persona.Hourly}, fri, true},
		{"hourly 59m ago", persona.Persona{TickCadence: persona.Hourly, LastActiveAt: ptr(fri.Add(-59 * time.Minute))}, fri, false},
		{"hourly exactly 1h ago", persona.Persona{TickCadence: persona.Hourly, LastActiveAt: ptr(fri.Add(-time.Hour))}, fri, true},
		{"daily 23h ago", persona.Persona{TickCadence: persona.Daily, LastActiveAt: ptr(fri.Add(-23 * time.Hour))}, fri, false},
		{"daily 24h ago", persona.Persona{TickCadence: persona.Daily, LastActiveAt: ptr(fri.Add(-24 * time.Hour))}, fri, true},
		{"weekdays Friday 23:30 Tokyo", persona.Persona{TickCadence: persona.Weekdays, Timezone: "Asia/Tokyo"}, fri, true},
		{"weekdays Saturday 00:30 Tokyo, Friday UTC", persona.Persona{TickCadence: persona.Weekdays, Timezone: "Asia/Tokyo"}, fri.Add(time.Hour), false},
		{"weekdays Friday UTC", persona.Persona{TickCadence: persona.Weekdays, Timezone: "UTC"}, fri.Add(time.Hour), true},
		{"weekdays Saturday", persona.Persona{TickCadence: persona.Weekdays}, sat, false},
		{"leased", persona.Persona{TickCadence: persona.Daily, LeaseOwner: "r1", LeaseExpiresAt: ptr(fri.Add(time.Minute))}, fri, false},
		{"lease expired", persona.Persona{TickCadence: persona.Daily, LeaseOwner: "r1", LeaseExpiresAt: ptr(fri.Add(-time.Minute))}, fri, true},
		{"backing off", persona.Persona{TickCadence: persona.Daily, NextDueAt: ptr(fri.Add(time.Minute))}, fri, false},
		{"back-off passed", persona.Persona{TickCadence: persona.Daily, NextDueAt: ptr(fri.Add(-time.Minute))}, fri, true},
	} {
		if got := persona.IsDue(tc.p, tc.now); got != tc.want {
			t.Errorf("%s: IsDue = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		c    persona.Cadence
		n    int
		want time.Duration
	}{
		{persona.Daily, 1, time.Minute}, {persona.Daily, 2, 2 * time.Minute}, {persona.Daily, 5, 16 * time.Minute},
		{persona.Hourly, 7, time.Hour}, {persona.Hourly, 60, time.Hour}, {persona.Daily, 100, 24 * time.Hour},
	} {
		if got := persona.Backoff(tc.c, tc.n); got != tc.want {
			t.Errorf("Backoff(%s, %d) = %v, want %v", tc.c, tc.n, got, tc.want)
		}
	}
}

func TestSlug(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"persona.anna@mana.test":                       "persona-anna",
		"Ünïcode__Name+tag@x.io":                       "n-code-name-tag",
		"a-very-long-local-part-that-goes-on-and-on@x": "a-very-long-local-part-that-go",
		"...@x": "space",
	} {
		if got := persona.SlugBase(in); got != want {
			t.Errorf("SlugBase(%q) = %q, want %q", in, got, want)
		}
	}
	if got := persona.SlugWithSuffix("a-very-long-local-part-that-go", 2); got != "a-very-long-local-part-that-2" {
		t.Errorf("SlugWithSuffix = %q", got)
	}
}

func TestPersonaInputValidate(t *testing.T) {
	t.Parallel()
	err := persona.PersonaInput{Email: "not an email", ModuleMix: persona.ModuleMix{"todo": -1}, TickCadence: "monthly", Timezone: "Mars/Olympus"}.Validate()
	var fes persona.FieldErrors
	if !errors.As(err, &fes) || !errors.Is(err, persona.ErrInvalid) {
		t.Fatalf("want FieldErrors, got %v", err)
	}
	fields := map[string]bool{}
	for _, fe := range fes {
		fields[fe.Field] = true
	}
	for _, f := range []string{"email", "password", "archetype", "systemPrompt", "moduleMix.todo", "moduleMix", "tickCadence", "timezone"} {
		if !fields[f] {
			t.Errorf("no error for field %s in %v", f, err)
		}
	}
	ok := persona.PersonaInput{Email: "persona.x@mana.test", Password: "pw", Archetype: "a", SystemPrompt: "You are X, a person who does things.", ModuleMix: persona.ModuleMix{"todo": 1}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid input rejected: %v", err)
	}
}

func TestValidTimezone(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"UTC": true, "Europe/Berlin": true, "America/Argentina/Buenos_Aires": true, "Etc/GMT+5": true, "EST5EDT": true,
		"": false, "Local": false, "localtime": false, "posixrules": false, "Factory": false,
		"posix/Europe/Berlin": false, "right/UTC": false, " UTC": false, "Europe/Atlantis": false, "../etc/passwd": false,
	} {
		if got := persona.ValidTimezone(name); got != want {
			t.Errorf("ValidTimezone(%q) = %v, want %v", name, got, want)
		}
	}
	// Old rows with Go's "Local" are judged in UTC, not in the machine's zone.
	if l := persona.Location("Local"); l != time.UTC {
		t.Errorf("Location(Local) = %v, want UTC", l)
	}
}

func TestSpaceInputValidate(t *testing.T) {
	t.Parallel()
	err := persona.SpaceInput{Slug: "a--b", Name: " ", Type: persona.SpacePersonal, Members: []string{"x@y.z", "x@y.z", "n\x00ul@y.z"}}.Validate()
	for _, f := range []string{"slug", "name", "type", "members[1]", "members[2]"} {
		if err == nil || !strings.Contains(err.Error(), f+":") {
			t.Errorf("error %v does not name %s", err, f)
		}
	}
	if err := (persona.SpaceInput{Slug: "berg-family", Name: "The Bergs", Type: persona.SpaceFamily, Members: []string{"a@b.c"}}).Validate(); err != nil {
		t.Errorf("valid space refused: %v", err)
	}
}
