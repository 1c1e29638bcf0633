package app_test

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestTodayIsTheUTCDateAndSaysSo: the app knows no user's time zone, so "today" is the UTC date
// (late on 2 June in UTC is already 3 June in Berlin, the date the runner tells a Berlin persona),
// and the server's instructions and the tools a model reads say so, so that a persona can pass
// its local date where a tool takes one.
func TestTodayIsTheUTCDateAndSaysSo(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	b.clock.Advance(14*time.Hour + 30*time.Minute) // 2025-06-02T23:30Z, 01:30 on 3 June in Berlin
	c := b.connect(t, b.anna, b.anna.Personal)

	if in := c.InitializeResult().Instructions; !strings.Contains(in, `"Today" in this app is the current date in UTC`) {
		t.Errorf("instructions do not say that today is the UTC date:\n%s", in)
	}
	res, err := c.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	says := map[string]string{} // what a model reads of each tool: its description and its date/days fields'
	for _, tool := range res.Tools {
		text := tool.Description
		if props, ok := tool.InputSchema.(map[string]any)["properties"].(map[string]any); ok {
			for _, name := range []string{"date", "days"} {
				if p, ok := props[name].(map[string]any); ok {
					text += " " + str(p["description"])
				}
			}
		}
		says[tool.Name] = text
	}
	for _, name := range []string{"journal.add", "habits.log", "habits.recentLogs", "mood.log", "mood.today", "mood.recent"} {
		if !strings.Contains(says[name], "UTC") {
			t.Errorf("%s does not say its today is the UTC date: %q", name, says[name])
		}
	}

	want(t, c.ok(t, "mood.log", map[string]any{"rating": 4})["entry"].(map[string]any), "date", "2025-06-02")
	want(t, c.ok(t, "journal.add", map[string]any{"body": "late"})["entry"].(map[string]any), "date", "2025-06-02")
	want(t, c.ok(t, "mood.today", nil), "date", "2025-06-02", "count", 1.0)
	// The local date, given explicitly, is taken as it is.
	want(t, c.ok(t, "journal.add", map[string]any{"body": "local", "date": "2025-06-03"})["entry"].(map[string]any), "date", "2025-06-03")
}
