package sim

import (
	"fmt"
	"strings"
	"time"
)

// singular names an array's items after the array: tags → tag, so that items get the same
// plausible content as a single field of that name would.
func singular(name string) string {
	if strings.HasSuffix(name, "s") && len(name) > 3 {
		return name[:len(name)-1]
	}
	return name
}

// plausibleRange is the range a person would pick from for a number called name.
func plausibleRange(name string, today time.Time) (float64, float64) {
	n := strings.ToLower(name)
	switch {
	case containsAny(n, "minute", "duration"):
		return 5, 90
	case containsAny(n, "hour"):
		return 1, 8
	case containsAny(n, "rating", "mood", "score", "energy", "level", "stars", "intensity", "priority"):
		return 1, 5
	case containsAny(n, "limit", "count", "days", "size"):
		return 1, 20
	case containsAny(n, "amount", "price", "cost", "budget"):
		return 1, 120
	case containsAny(n, "year"):
		y := float64(today.Year())
		return y, y
	case containsAny(n, "page", "offset"):
		return 0, 3
	case containsAny(n, "km", "distance"):
		return 3, 21
	case containsAny(n, "weight"):
		return 50, 90
	}
	return 1, 10
}

// plausible is text a person of this archetype would type into a field called name.
func (g *gen) plausible(name string) string {
	n := strings.ToLower(name)
	mod := strings.ToLower(g.module)
	switch {
	case containsAny(n, "email"):
		return g.emailAddress()
	case containsAny(n, "url", "link", "website"):
		return "https://example.com/" + slug(pick(g.r, g.w.notes))
	case containsAny(n, "color", "colour"):
		return pick(g.r, []string{"#4a90d9", "#e94e77", "#50c878", "#f5a623"})
	case containsAny(n, "timezone", "tz"):
		return cmpString(g.tz, "UTC")
	case containsAny(n, "emoji", "icon"):
		return pick(g.r, []string{"🙂", "📚", "🏃", "✅"})
	case containsAny(n, "lang", "locale"):
		return "en"
	case containsAny(n, "tag", "categor", "label", "list", "folder", "project"):
		return pick(g.r, g.w.tags)
	case containsAny(n, "location", "place", "where", "venue"):
		return pick(g.r, g.w.places)
	case containsAny(n, "query", "search", "filter", "keyword") || n == "q":
		return pick(g.r, g.w.tags)
	case containsAny(n, "mood", "feeling"):
		return pick(g.r, []string{"calm", "tired", "good", "stressed", "content"})
	case containsAny(n, "content", "body", "text", "description", "note", "entry", "detail", "comment",
		"reflection", "message", "summary", "reason", "journal"):
		if g.r.IntN(3) == 0 {
			return pick(g.r, g.w.sentences) + " " + pick(g.r, g.w.sentences)
		}
		return pick(g.r, g.w.sentences)
	case containsAny(n, "phone", "mobile"):
		return fmt.Sprintf("+49 151 %07d", g.r.IntN(10_000_000))
	case containsAny(n, "person", "contact", "attendee", "firstname", "lastname", "fullname", "friend") ||
		(containsAny(n, "name") && containsAny(mod, "contact", "people", "person", "friend", "member")):
		return pick(g.r, people)
	case containsAny(n, "title", "name", "subject", "task", "habit", "goal", "heading"):
		switch {
		case containsAny(mod, "habit", "goal", "routine") || containsAny(n, "habit", "goal"):
			return pick(g.r, g.w.habits)
		case containsAny(mod, "todo", "task", "remind", "calendar", "event"):
			return pick(g.r, g.w.tasks)
		}
		return pick(g.r, g.w.notes)
	case isIDName(name):
		return fmt.Sprintf("%s-%d", norm(idPrefix(name)), 1+g.r.IntN(999))
	}
	if containsAny(mod, "todo", "task") {
		return pick(g.r, g.w.tasks)
	}
	return pick(g.r, g.w.tags)
}

func cmpString(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func slug(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b.WriteRune(c)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

func (g *gen) emailAddress() string {
	friends := []string{"sam", "alex", "mia", "jonas", "lea", "noah"}
	return pick(g.r, friends) + "@example.com"
}

func (g *gen) format(f, name string) (string, bool) {
	switch f {
	case "date":
		return g.date(name).Format(time.DateOnly), true
	case "date-time":
		d := g.date(name)
		t := time.Date(d.Year(), d.Month(), d.Day(), 7+g.r.IntN(15), 5*g.r.IntN(12), 0, 0, d.Location())
		return t.Format(time.RFC3339), true
	case "time":
		return fmt.Sprintf("%02d:%02d:00Z", 7+g.r.IntN(15), 5*g.r.IntN(12)), true
	case "uuid":
		return g.uuid(), true
	case "email", "idn-email":
		return g.emailAddress(), true
	case "uri", "iri", "url":
		return "https://example.com/" + slug(pick(g.r, g.w.notes)), true
	case "uri-reference", "iri-reference":
		return "/" + slug(pick(g.r, g.w.notes)), true
	case "hostname", "idn-hostname":
		return "example.com", true
	case "ipv4":
		return fmt.Sprintf("192.0.2.%d", 1+g.r.IntN(254)), true
	case "ipv6":
		return fmt.Sprintf("2001:db8::%x", 1+g.r.IntN(0xfffe)), true
	case "duration":
		return fmt.Sprintf("PT%dM", 5*(1+g.r.IntN(12))), true
	}
	return "", false
}

// date is a day a person would enter into a field called name: ahead for due dates and
// reminders, today otherwise. A power user sometimes picks an edge instead.
func (g *gen) date(name string) time.Time {
	t := g.today
	if g.power && g.r.IntN(2) == 0 {
		leap := t.Year()
		for !(leap%4 == 0 && (leap%100 != 0 || leap%400 == 0)) || !time.Date(leap, 2, 29, 0, 0, 0, 0, t.Location()).After(t.AddDate(0, 0, -1)) {
			leap++
		}
		edges := []struct {
			d    time.Time
			what string
		}{
			{time.Date(leap, 2, 29, 0, 0, 0, 0, t.Location()), "a leap day"},
			{time.Date(t.Year(), 12, 31, 0, 0, 0, 0, t.Location()), "the last day of the year"},
			{time.Date(2099, 12, 31, 0, 0, 0, 0, t.Location()), "the far future"},
		}
		e := pick(g.r, edges)
		g.probe("%s on %s (%s)", name, e.what, e.d.Format(time.DateOnly))
		return e.d
	}
	n := strings.ToLower(name)
	switch {
	case containsAny(n, "birth"):
		return t.AddDate(-20-g.r.IntN(30), -g.r.IntN(12), -g.r.IntN(28))
	case containsAny(n, "due", "deadline", "until", "end", "remind", "start", "schedul", "plan", "when", "next"):
		return t.AddDate(0, 0, g.r.IntN(15))
	}
	return t
}

func (g *gen) uuid() string {
	var b [16]byte
	for i := range 2 {
		u := g.r.Uint64()
		for j := range 8 {
			b[i*8+j] = byte(u >> (8 * j))
		}
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// people are names a person keeps in contacts.
var people = []string{"Sam Berg", "Mia Schulz", "Jonas Weber", "Lea Fischer", "Dr. Patel", "Grandma Rosa", "Noah Klein"}
