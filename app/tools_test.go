package app_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/persona-runner/persona-runner/app"
)

// exposedTools is every tool a persona may see: the user-space read and write tools.
var exposedTools = []string{
	"todo.create", "todo.list", "todo.complete", "todo.update",
	"notes.create", "notes.search", "notes.update",
	"journal.add", "journal.list",
	"habits.create", "habits.list", "habits.log", "habits.recentLogs",
	"mood.log", "mood.today", "mood.recent",
	"calendar.createEvent", "calendar.listEvents",
	"contacts.create", "contacts.search",
	"spaces.list",
}

// hiddenTools exist in the registry but must never be listed nor callable.
var hiddenTools = []string{"notes.purgeAll", "spaces.listAll"}

func bothStores(t *testing.T, f func(t *testing.T, pg bool)) {
	for _, pg := range []bool{false, true} {
		name := "sqlite"
		if pg {
			name = "postgres"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, pg)
		})
	}
}

func TestListToolsIsExactlyTheExposedTools(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	c := b.connect(t, b.anna, b.anna.Personal)
	res, err := c.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
		if tool.Description == "" {
			t.Errorf("%s has no description", tool.Name)
		}
		schema, ok := tool.InputSchema.(map[string]any)
		if !ok || schema["type"] != "object" {
			t.Errorf("%s: input schema is not an object schema: %v", tool.Name, tool.InputSchema)
			continue
		}
		// OpenAI refuses function schemas without properties, even for tools without input.
		if _, ok := schema["properties"].(map[string]any); !ok {
			t.Errorf("%s: input schema has no properties object: %v", tool.Name, schema)
		}
		if tool.Annotations == nil || tool.Annotations.DestructiveHint == nil || *tool.Annotations.DestructiveHint {
			t.Errorf("%s: want annotations with destructiveHint false, got %+v", tool.Name, tool.Annotations)
		}
	}
	// The SDK lists tools by name.
	if diff := cmp.Diff(slices.Sorted(slices.Values(exposedTools)), names); diff != "" {
		t.Errorf("listed tools (-want +got):\n%s", diff)
	}
	var infos []string
	for _, info := range b.app.Tools() {
		infos = append(infos, info.Name)
	}
	if diff := cmp.Diff(exposedTools, infos); diff != "" {
		t.Errorf("App.Tools (-want +got):\n%s", diff)
	}

	for _, name := range hiddenTools {
		if !slices.ContainsFunc(b.app.AllTools(), func(i app.ToolInfo) bool { return i.Name == name }) {
			t.Errorf("%s is missing from the registry", name)
		}
		_, err := c.try(name, map[string]any{"confirm": "DELETE ALL NOTES"})
		if err == nil || !strings.Contains(err.Error(), "unknown tool") {
			t.Errorf("call %s: err = %v, want an unknown tool error", name, err)
		}
	}
}

// TestEveryTool drives every exposed tool through the SDK client on both stores and checks what
// comes back.
func TestEveryTool(t *testing.T) {
	bothStores(t, func(t *testing.T, pg bool) {
		b := setup(t, options{postgres: pg})
		c := &trackedClient{client: b.connect(t, b.anna, b.anna.Personal), called: map[string]bool{}}

		// todo
		milk := c.ok(t, "todo.create", map[string]any{"title": "Buy milk", "dueDate": "2025-06-03", "priority": "high"})["todo"].(map[string]any)
		want(t, milk, "title", "Buy milk", "priority", "high", "dueDate", "2025-06-03", "done", false)
		mum := c.ok(t, "todo.create", map[string]any{"title": "Call mum"})["todo"].(map[string]any)
		want(t, mum, "priority", "normal") // the schema's default
		list := c.ok(t, "todo.list", nil)
		want(t, list, "count", 2.0, "status", "open")
		want(t, list["todos"].([]any)[0].(map[string]any), "id", milk["id"]) // dated first
		upd := c.ok(t, "todo.update", map[string]any{"id": milk["id"], "title": "Buy oat milk"})["todo"].(map[string]any)
		want(t, upd, "title", "Buy oat milk", "priority", "high", "dueDate", "2025-06-03")
		done := c.ok(t, "todo.complete", map[string]any{"id": milk["id"]})["todo"].(map[string]any)
		want(t, done, "done", true)
		want(t, c.ok(t, "todo.list", map[string]any{}), "count", 1.0)
		doneList := c.ok(t, "todo.list", map[string]any{"status": "done"})
		want(t, doneList, "count", 1.0)
		want(t, doneList["todos"].([]any)[0].(map[string]any), "id", milk["id"])
		want(t, c.ok(t, "todo.list", map[string]any{"status": "all", "dueBefore": "2025-06-02"}), "count", 0.0)

		// notes
		note := c.ok(t, "notes.create", map[string]any{"title": "Garden", "body": "Plant 100% tomatoes"})["note"].(map[string]any)
		c.ok(t, "notes.create", map[string]any{"title": "Books"})
		want(t, c.ok(t, "notes.search", map[string]any{"query": "TOMATO"}), "count", 1.0)
		want(t, c.ok(t, "notes.search", map[string]any{"query": "100%"}), "count", 1.0)
		want(t, c.ok(t, "notes.search", map[string]any{"query": "_"}), "count", 0.0) // wildcards are literal
		want(t, c.ok(t, "notes.search", nil), "count", 2.0)
		updNote := c.ok(t, "notes.update", map[string]any{"id": note["id"], "body": "Plant basil"})["note"].(map[string]any)
		want(t, updNote, "title", "Garden", "body", "Plant basil")

		// journal
		entry := c.ok(t, "journal.add", map[string]any{"body": "A good day."})["entry"].(map[string]any)
		want(t, entry, "date", "2025-06-02")
		c.ok(t, "journal.add", map[string]any{"body": "Rainy.", "date": "2025-05-30"})
		want(t, c.ok(t, "journal.list", map[string]any{"from": "2025-06-01"}), "count", 1.0)
		all := c.ok(t, "journal.list", nil)
		want(t, all, "count", 2.0)
		want(t, all["entries"].([]any)[0].(map[string]any), "date", "2025-06-02")

		// habits
		water := c.ok(t, "habits.create", map[string]any{"name": "Drink water"})["habit"].(map[string]any)
		want(t, water, "cadence", "daily")
		if msg := c.fails(t, "habits.create", map[string]any{"name": "drink WATER"}); !strings.Contains(msg, "name: a habit named") {
			t.Errorf("duplicate habit: %s", msg)
		}
		logged := c.ok(t, "habits.log", map[string]any{"habitId": water["id"], "count": 3})
		want(t, logged, "totalThatDay", 3.0)
		c.ok(t, "habits.log", map[string]any{"habitId": water["id"], "date": "2025-05-31"})
		habits := c.ok(t, "habits.list", nil)
		want(t, habits, "count", 1.0)
		want(t, habits["habits"].([]any)[0].(map[string]any), "loggedLast7Days", 4.0, "lastLoggedOn", "2025-06-02")
		want(t, c.ok(t, "habits.recentLogs", map[string]any{"days": 2}), "since", "2025-06-01")
		recent := c.ok(t, "habits.recentLogs", map[string]any{"habitId": water["id"]})
		if n := len(recent["logs"].([]any)); n != 2 {
			t.Errorf("recentLogs: %d logs, want 2", n)
		}
		want(t, recent["totals"].(map[string]any), "Drink water", 4.0)

		// mood
		c.ok(t, "mood.log", map[string]any{"rating": 4})
		c.ok(t, "mood.log", map[string]any{"rating": 2, "note": "tired"})
		want(t, c.ok(t, "mood.today", nil), "count", 2.0, "average", 3.0, "date", "2025-06-02")
		moods := c.ok(t, "mood.recent", map[string]any{"days": 3})
		want(t, moods["days"].([]any)[0].(map[string]any), "date", "2025-06-02", "average", 3.0, "entries", 2.0)

		// calendar
		first := c.ok(t, "calendar.createEvent", map[string]any{"title": "Dentist",
			"start": "2025-06-03T09:00:00+02:00", "end": "2025-06-03T10:00:00+02:00", "location": "Praxis Weiss"})
		if n := len(first["overlaps"].([]any)); n != 0 {
			t.Errorf("first event overlaps %d events", n)
		}
		want(t, first["event"].(map[string]any), "start", "2025-06-03T07:00:00Z")
		second := c.ok(t, "calendar.createEvent", map[string]any{"title": "Call",
			"start": "2025-06-03T07:30:00Z", "end": "2025-06-03T08:30:00Z"})
		if n := len(second["overlaps"].([]any)); n != 1 || second["warning"] == nil {
			t.Errorf("second event: overlaps %d, warning %v; want 1 and a warning", n, second["warning"])
		}
		adjacent := c.ok(t, "calendar.createEvent", map[string]any{"title": "Lunch",
			"start": "2025-06-03T08:30:00Z", "end": "2025-06-03T09:30:00Z"})
		if n := len(adjacent["overlaps"].([]any)); n != 0 {
			t.Errorf("an event starting when another ends overlaps %d events, want 0", n)
		}
		want(t, c.ok(t, "calendar.listEvents", map[string]any{"from": "2025-06-03", "to": "2025-06-03"}), "count", 3.0)
		want(t, c.ok(t, "calendar.listEvents", map[string]any{"from": "2025-06-04", "to": "2025-06-30"}), "count", 0.0)

		// contacts
		c.ok(t, "contacts.create", map[string]any{"name": "Dr. Weiss", "email": "weiss@praxis.example", "birthday": "1970-01-31"})
		c.ok(t, "contacts.create", map[string]any{"name": "Ben", "phone": "+49 30 1234"})
		want(t, c.ok(t, "contacts.search", map[string]any{"query": "PRAXIS"}), "count", 1.0)
		want(t, c.ok(t, "contacts.search", map[string]any{"query": "1234"}), "count", 1.0)
		want(t, c.ok(t, "contacts.search", nil), "count", 2.0)

		// spaces
		spaces := c.ok(t, "spaces.list", nil)
		want(t, spaces, "currentSpaceId", b.anna.Personal)
		if n := len(spaces["spaces"].([]any)); n != 2 {
			t.Errorf("anna has %d spaces, want 2 (personal and family)", n)
		}
		want(t, spaces["spaces"].([]any)[0].(map[string]any), "id", b.anna.Personal, "current", true)

		for _, name := range exposedTools {
			if !c.called[name] {
				t.Errorf("the test never calls %s", name)
			}
		}
	})
}

// trackedClient remembers which tools were called.
type trackedClient struct {
	*client
	called map[string]bool
}

func (c *trackedClient) ok(t *testing.T, name string, args any) map[string]any {
	t.Helper()
	c.called[name] = true
	return c.client.ok(t, name, args)
}

// want checks key/value pairs of a decoded JSON object.
func want(t *testing.T, got map[string]any, kv ...any) {
	t.Helper()
	for i := 0; i < len(kv); i += 2 {
		k := kv[i].(string)
		if diff := cmp.Diff(kv[i+1], got[k]); diff != "" {
			t.Errorf("%s (-want +got):\n%s\nin %v", k, diff, got)
		}
	}
}

func TestInvalidInputIsAToolErrorNamingFieldAndRule(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	c := b.connect(t, b.anna, b.anna.Personal)
	cases := []struct {
		rule, tool string
		args       map[string]any
		want       []string
	}{
		{"required", "todo.create", map[string]any{}, []string{"title: is required"}},
		{"required, blank", "todo.create", map[string]any{"title": "   "}, []string{"title: must not be empty"}},
		{"maxLength", "todo.create", map[string]any{"title": strings.Repeat("é", 201)}, []string{"title: must be at most 200 characters (got 201)"}},
		{"enum", "todo.create", map[string]any{"title": "x", "priority": "urgent"}, []string{`priority: must be one of low, normal, high (got "urgent")`}},
		{"format date", "todo.create", map[string]any{"title": "x", "dueDate": "tomorrow"}, []string{`dueDate: must be a date in the form YYYY-MM-DD (got "tomorrow")`}},
		{"format date, impossible day", "journal.add", map[string]any{"body": "x", "date": "2025-02-30"}, []string{"date: must be a date in the form YYYY-MM-DD"}},
		{"format date-time", "calendar.createEvent", map[string]any{"title": "x", "start": "9am", "end": "2025-06-03T10:00:00Z"}, []string{"start: must be a date-time in RFC 3339 form"}},
		{"format uuid", "todo.complete", map[string]any{"id": "123"}, []string{`id: must be a UUID`}},
		{"format email", "contacts.create", map[string]any{"name": "x", "email": "not-an-email"}, []string{"email: must be an email address"}},
		{"maximum", "mood.log", map[string]any{"rating": 6}, []string{"rating: must be at most 5 (got 6)"}},
		{"minimum", "mood.log", map[string]any{"rating": 0}, []string{"rating: must be at least 1 (got 0)"}},
		{"range on a default field", "todo.list", map[string]any{"limit": 1000}, []string{"limit: must be at most 100 (got 1000)"}},
		{"type integer", "mood.log", map[string]any{"rating": 3.5}, []string{"rating: must be an integer (got 3.5)"}},
		{"type string", "notes.create", map[string]any{"title": 42}, []string{"title: must be a string"}},
		{"unknown field", "todo.create", map[string]any{"title": "x", "colour": "red"}, []string{"colour: is not a known field; known fields are title, notes, dueDate, priority"}},
		{"unknown field, no input", "mood.today", map[string]any{"day": "today"}, []string{"day: is not a known field; this tool takes no input"}},
		{"several at once", "todo.create", map[string]any{"priority": "x", "dueDate": "x"}, []string{"title: is required", "dueDate: must be a date", "priority: must be one of"}},
		{"across fields", "calendar.createEvent", map[string]any{"title": "x", "start": "2025-06-03T10:00:00Z", "end": "2025-06-03T09:00:00Z"}, []string{"end: must be after start"}},
		{"range across fields", "calendar.listEvents", map[string]any{"from": "2025-06-03", "to": "2025-06-01"}, []string{"to: must not be before from"}},
		{"needs data", "todo.update", map[string]any{"id": "0b6c4f4e-3f6a-4d8e-9a51-2f1f8c7d9e10"}, []string{"id: give at least one of"}},
	}
	for _, tc := range cases {
		msg := c.fails(t, tc.tool, tc.args)
		if !strings.HasPrefix(msg, "invalid input: ") {
			t.Errorf("%s: %q does not start with \"invalid input: \"", tc.rule, msg)
		}
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: %q does not contain %q", tc.rule, msg, w)
			}
		}
	}
	// A record that is not in the space is "not found", not invalid.
	msg := c.fails(t, "todo.complete", map[string]any{"id": "0b6c4f4e-3f6a-4d8e-9a51-2f1f8c7d9e10"})
	if msg != "todo 0b6c4f4e-3f6a-4d8e-9a51-2f1f8c7d9e10 not found in this space" {
		t.Errorf("unknown todo: %q", msg)
	}
	_, metrics := b.get(t, "/metrics")
	if !hasLine(metrics, `mcp_tool_calls_total{result="invalid",tool="todo.create"} 7`) {
		t.Errorf("metrics do not count 7 invalid todo.create calls:\n%s", grep(metrics, "mcp_tool_calls_total"))
	}
}

func TestSpaceIsolation(t *testing.T) {
	bothStores(t, func(t *testing.T, pg bool) {
		b := setup(t, options{postgres: pg})
		anna := b.connect(t, b.anna, b.anna.Personal)
		secret := anna.ok(t, "todo.create", map[string]any{"title": "Anna's secret"})["todo"].(map[string]any)
		annaNote := anna.ok(t, "notes.create", map[string]any{"title": "Diary"})["note"].(map[string]any)

		// Ben cannot even open a session in Anna's personal space…
		if _, err := b.tryConnect(b.token(t, b.ben), b.anna.Personal); err == nil {
			t.Error("ben connected to anna's personal space")
		}
		// …and in his own space Anna's records do not exist.
		ben := b.connect(t, b.ben, b.ben.Personal)
		want(t, ben.ok(t, "todo.list", map[string]any{"status": "all"}), "count", 0.0)
		want(t, ben.ok(t, "notes.search", nil), "count", 0.0)
		if msg := ben.fails(t, "todo.complete", map[string]any{"id": secret["id"]}); !strings.Contains(msg, "not found in this space") {
			t.Errorf("ben completing anna's todo: %s", msg)
		}
		if msg := ben.fails(t, "notes.update", map[string]any{"id": annaNote["id"], "title": "mine"}); !strings.Contains(msg, "not found in this space") {
			t.Errorf("ben updating anna's note: %s", msg)
		}
		want(t, anna.ok(t, "todo.list", nil)["todos"].([]any)[0].(map[string]any), "title", "Anna's secret", "done", false)

		// The family space is shared by its two members.
		annaFam := b.connect(t, b.anna, b.family)
		groceries := annaFam.ok(t, "todo.create", map[string]any{"title": "Groceries"})["todo"].(map[string]any)
		benFam := b.connect(t, b.ben, b.family)
		famList := benFam.ok(t, "todo.list", nil)
		want(t, famList, "count", 1.0)
		want(t, famList["todos"].([]any)[0].(map[string]any), "id", groceries["id"], "createdBy", b.anna.ID)
		benFam.ok(t, "todo.complete", map[string]any{"id": groceries["id"]})
		want(t, annaFam.ok(t, "todo.list", map[string]any{"status": "done"}), "count", 1.0)
		// Family data stays out of the personal spaces.
		want(t, anna.ok(t, "todo.list", map[string]any{"status": "all"}), "count", 1.0)

		// Carl is not in the family.
		if r := b.post(t, b.token(t, b.carl), b.family, "", initializeMsg); r.status != 403 {
			t.Errorf("carl in the family space: status %d, want 403", r.status)
		}

		// Deleting a persona deletes its personal space and, by foreign key, the app data in it;
		// the shared space and its data stay.
		if err := b.store.DeletePersona(context.Background(), b.anna.ID); err != nil {
			t.Fatal(err)
		}
		prefix := "app_"
		if pg {
			prefix = "app."
		}
		tables, _ := b.store.AppTables()
		for table, wantRows := range map[string]int{"todos": 1, "notes": 0} {
			var n int
			if err := tables.QueryRow("SELECT count(*) FROM " + prefix + table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != wantRows {
				t.Errorf("%s: %d rows after deleting anna, want %d (the family todo only)", table, n, wantRows)
			}
		}
	})
}

func TestRateLimitTripsAtCall31(t *testing.T) {
	t.Parallel()
	for _, pg := range []bool{false, true} {
		t.Run(map[bool]string{false: "sqlite", true: "postgres"}[pg], func(t *testing.T) {
			t.Parallel()
			testRateLimitTripsAtCall31(t, setup(t, options{postgres: pg}))
		})
	}
}

func testRateLimitTripsAtCall31(t *testing.T, b *bundle) {
	c := b.connect(t, b.anna, b.anna.Personal)
	for i := 1; i <= 30; i++ {
		c.ok(t, "mood.today", nil)
	}
	msg := c.fails(t, "mood.today", nil)
	if !strings.Contains(msg, "rate limit: at most 30 calls of mood.today per 1m0s per user; try again in 60s") {
		t.Errorf("call 31: %q", msg)
	}
	// The limit is per tool and per user.
	c.ok(t, "todo.list", nil)
	b.connect(t, b.ben, b.family).ok(t, "mood.today", nil)
	// And per user across sessions and spaces.
	if msg := b.connect(t, b.anna, b.family).fails(t, "mood.today", nil); !strings.Contains(msg, "rate limit") {
		t.Errorf("anna in another session: %q", msg)
	}
	// Once the oldest call leaves the window, calls are allowed again.
	b.clock.Advance(61 * 1e9)
	c.ok(t, "mood.today", nil)
	_, metrics := b.get(t, "/metrics")
	if !hasLine(metrics, `mcp_tool_calls_total{result="rate_limited",tool="mood.today"} 2`) {
		t.Errorf("metrics:\n%s", grep(metrics, "mcp_tool_calls_total"))
	}
}

func TestOneLogLinePerCall(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	c := b.connect(t, b.anna, b.family)
	args := map[string]any{"title": "Log me", "priority": "low"}
	c.ok(t, "todo.create", args)
	c.fails(t, "todo.create", map[string]any{})
	lines := b.logs.lines(t, "tool call")
	if len(lines) != 2 {
		t.Fatalf("%d tool call log lines, want 2: %v", len(lines), lines)
	}
	// The hash of the arguments as the client sent them, {"priority":"low","title":"Log me"}.
	want(t, lines[0], "user", b.anna.ID, "space", b.family, "tool", "todo.create", "inputHash", "188bc4b8f528cdd7", "result", "ok")
	if _, ok := lines[0]["latencyMs"].(float64); !ok {
		t.Errorf("no latencyMs: %v", lines[0])
	}
	want(t, lines[1], "inputHash", "44136fa355b3678a", "result", "invalid", "error", "title: is required")
}

func grep(s, substr string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// hasLine reports whether text has line as one whole line, so a metric asserted at 1 is not
// matched by the same series at 10 or by a longer name that ends the same way.
func hasLine(text, line string) bool {
	return slices.Contains(strings.Split(text, "\n"), line)
}

// TestRateLimitAcrossReplicas (issue 13.6): two apps on one PostgreSQL database share the
// window: 30 calls of a tool in all, however they are spread over the replicas, then both refuse
// until the oldest call leaves the window.
func TestRateLimitAcrossReplicas(t *testing.T) {
	t.Parallel()
	one := setup(t, options{postgres: true})
	two := one.replica(t)
	c1 := one.connect(t, one.anna, one.anna.Personal)
	c2 := two.connect(t, two.anna, two.anna.Personal)
	for i := 1; i <= 30; i++ {
		c := c1
		if i%3 == 0 {
			c = c2
		}
		c.ok(t, "mood.today", nil)
	}
	for name, c := range map[string]*client{"replica one": c1, "replica two": c2} {
		if msg := c.fails(t, "mood.today", nil); !strings.Contains(msg, "rate limit: at most 30 calls of mood.today per 1m0s per user") {
			t.Errorf("%s, call 31: %q", name, msg)
		}
	}
	// Calls made at once on both replicas: exactly the limit is allowed.
	one.clock.Advance(61 * 1e9)
	var wg sync.WaitGroup
	var allowed atomic.Int32
	for i := range 40 {
		c := c1
		if i%2 == 1 {
			c = c2
		}
		wg.Go(func() {
			res, err := c.try("journal.list", nil)
			if err != nil {
				t.Errorf("journal.list: %v", err)
				return
			}
			if !res.IsError {
				allowed.Add(1)
			} else if text := res.Content[0].(*mcp.TextContent).Text; !strings.Contains(text, "rate limit") {
				t.Errorf("journal.list: %s", text)
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != 30 {
		t.Errorf("40 concurrent calls over two replicas: %d allowed, want 30", n)
	}
}
