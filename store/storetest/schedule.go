package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/persona-runner/persona-runner/persona"
)

// scheduleTests are the schedule cases of the suite (listed in Run).
var scheduleTests = []suiteTest{
	{"Due/Hourly", testDueHourly},
	{"Due/Daily", testDueDaily},
	{"Due/WeekdaysInPersonaTimezone", testDueWeekdaysTokyo},
	{"Due/Weekend", testDueWeekend},
	{"Due/Order", testDueOrder},
	{"Due/Fields", testDueFields},
	{"Due/MatchesReferenceRule", testDueMatchesReference},
	{"Due/DeletedAndNonPersonasNeverDue", testDueDeleted},
	{"Claim/LeaseAndLimit", testClaimLease},
	{"Claim/ConcurrentClaimsNeverOverlap", testClaimConcurrent},
	{"Claim/ExpiredLeaseClaimableAgain", testClaimExpired},
	{"Claim/Invalid", testClaimInvalid},
	{"RecordTick/OKSetsLastActive", testTickOK},
	{"RecordTick/FailureBackoff", testTickBackoff},
	{"RecordTick/BackoffCappedAtCadence", testTickBackoffCap},
	{"RecordTick/RetriedReportCountsOnce", testTickRetry},
	{"RecordTick/CancelledOnlyReleases", testTickCancelled},
	{"RecordTick/RunningKeepsLease", testTickRunning},
	{"RecordTick/ForeignLeaseKept", testTickForeignLease},
	{"Abandon/AtRestart", testAbandonAtRestart},
	{"Abandon/WhenLeaseExpires", testAbandonOnClaim},
	{"RecordTick/Invalid", testTickInvalid},
}

func testDueHourly(e *env) {
	id := e.persona("hourly@mana.test", persona.Hourly, "UTC")
	if !e.isDue(id) {
		e.t.Fatal("a never-run hourly persona is not due")
	}
	at := e.clock.Now()
	e.ran(id, at)
	e.clock.Set(at.Add(time.Hour - time.Microsecond))
	if e.isDue(id) {
		e.t.Error("hourly persona due before an hour passed")
	}
	e.clock.Set(at.Add(time.Hour))
	if !e.isDue(id) {
		e.t.Error("hourly persona not due an hour after its run")
	}
}

func testDueDaily(e *env) {
	id := e.persona("daily@mana.test", persona.Daily, "Europe/Berlin")
	if !e.isDue(id) {
		e.t.Fatal("a never-run daily persona is not due")
	}
	at := e.clock.Now()
	e.ran(id, at)
	for _, d := range []time.Duration{0, time.Hour, 23*time.Hour + 59*time.Minute} {
		e.clock.Set(at.Add(d))
		if e.isDue(id) {
			e.t.Errorf("daily persona due %v after its run", d)
		}
	}
	e.clock.Set(at.Add(24 * time.Hour))
	if !e.isDue(id) {
		e.t.Error("daily persona not due 24h after its run")
	}
}

func testDueWeekdaysTokyo(e *env) {
	tokyo := e.persona("tokyo@mana.test", persona.Weekdays, "Asia/Tokyo")
	utc := e.persona("utc@mana.test", persona.Weekdays, "UTC")
	// Friday 23:30 in Tokyo (14:30 UTC): a weekday in both zones.
	e.clock.Set(weekday(time.Friday, 14, 30))
	if !e.isDue(tokyo) || !e.isDue(utc) {
		e.t.Errorf("Friday 23:30 Tokyo: due tokyo=%v utc=%v; want both", e.isDue(tokyo), e.isDue(utc))
	}
	// Saturday 00:30 in Tokyo is still Friday 15:30 in UTC.
	e.clock.Set(weekday(time.Friday, 15, 30))
	if e.isDue(tokyo) {
		e.t.Error("Saturday 00:30 in Tokyo: the Tokyo persona is due")
	}
	if !e.isDue(utc) {
		e.t.Error("Friday 15:30 UTC: the UTC persona is not due")
	}
	// Monday 00:30 in Tokyo is Sunday in UTC.
	e.clock.Set(weekday(time.Sunday, 15, 30))
	if !e.isDue(tokyo) || e.isDue(utc) {
		e.t.Errorf("Monday 00:30 Tokyo: due tokyo=%v utc=%v; want tokyo only", e.isDue(tokyo), e.isDue(utc))
	}
}

func testDueWeekend(e *env) {
	id := e.persona("weekdays@mana.test", persona.Weekdays, "Europe/Berlin")
	daily := e.persona("daily@mana.test", persona.Daily, "Europe/Berlin")
	thu := weekday(time.Thursday, 9, 0)
	e.clock.Set(thu)
	e.ran(id, thu)
	e.ran(daily, thu)
	e.clock.Set(thu.Add(24 * time.Hour)) // Friday
	if !e.isDue(id) {
		e.t.Error("weekdays persona not due on Friday, a day after its run")
	}
	for _, d := range []time.Duration{48 * time.Hour, 72 * time.Hour} { // Saturday, Sunday
		e.clock.Set(thu.Add(d))
		if e.isDue(id) {
			e.t.Errorf("weekdays persona due on %s", e.clock.Now().Weekday())
		}
		if !e.isDue(daily) {
			e.t.Errorf("daily persona not due on %s", e.clock.Now().Weekday())
		}
	}
	e.clock.Set(thu.Add(96 * time.Hour)) // Monday
	if !e.isDue(id) {
		e.t.Error("weekdays persona not due on Monday")
	}
}

func testDueOrder(e *env) {
	var all []string
	for i := range 6 {
		all = append(all, e.persona(fmt.Sprintf("p%d@mana.test", i), persona.Hourly, "UTC"))
	}
	// Two never run; two ran at the same time (a tie broken by user id); two ran earlier and later.
	t0 := e.clock.Now()
	e.ran(all[2], t0.Add(-3*time.Hour))
	e.ran(all[3], t0.Add(-5*time.Hour))
	e.ran(all[4], t0.Add(-4*time.Hour))
	e.ran(all[5], t0.Add(-4*time.Hour))
	never := []string{all[0], all[1]}
	sort.Strings(never)
	tied := []string{all[4], all[5]}
	sort.Strings(tied)
	want := append(append(append(never, all[3]), tied...), all[2])
	if diff := cmp.Diff(want, e.due(0)); diff != "" {
		e.t.Errorf("due order (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want[:3], e.due(3)); diff != "" {
		e.t.Errorf("due with limit 3 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want[:1], e.due(1)); diff != "" {
		e.t.Errorf("due with limit 1 (-want +got):\n%s", diff)
	}
}

func testDueFields(e *env) {
	in := input("persona.anna@mana.test")
	in.TickCadence, in.Timezone = persona.Hourly, "Europe/Berlin"
	id := e.upsert(in)
	spaces, err := e.s.SpacesOfUser(e.ctx, id)
	if err != nil || len(spaces) != 1 {
		e.t.Fatal(spaces, err)
	}
	at := e.clock.Now()
	e.ran(id, at)
	e.clock.Advance(2 * time.Hour)
	list, _, err := e.s.DuePersonas(e.ctx, 10)
	if err != nil {
		e.t.Fatal(err)
	}
	want := []persona.DuePersona{{UserID: id, Email: in.Email, Archetype: in.Archetype, SystemPrompt: in.SystemPrompt,
		ModuleMix: in.ModuleMix, TickCadence: persona.Hourly, Timezone: "Europe/Berlin", LastActiveAt: &at, PersonalSpaceID: spaces[0].ID}}
	if diff := cmp.Diff(want, list); diff != "" {
		e.t.Errorf("DuePersonas (-want +got):\n%s", diff)
	}
}

// testDueMatchesReference checks the store's due set against persona.IsDue over two weeks of
// clock times for personas in every cadence, several zones and every scheduling state.
func testDueMatchesReference(e *env) {
	zones := []string{"UTC", "Asia/Tokyo", "America/Los_Angeles", "Pacific/Kiritimati", "Europe/Berlin"}
	var all []string
	n := 0
	for _, c := range persona.Cadences {
		for _, z := range zones {
			all = append(all, e.persona(fmt.Sprintf("ref%02d@mana.test", n), c, z))
			n++
		}
	}
	// Vary the state: some ran at different times, one failed (back-off), one is leased.
	t0 := e.clock.Now()
	for i, id := range all {
		if i%3 != 0 {
			e.ran(id, t0.Add(-time.Duration(i*97)*time.Minute))
		}
	}
	e.tick(persona.Tick{TickID: "fail-1", PersonaID: all[1], RunnerID: "r", Status: persona.TickFailed, Error: "boom"})
	if _, err := e.s.ClaimPersonas(e.ctx, "holder", 1, 90*time.Minute); err != nil {
		e.t.Fatal(err)
	}
	for step := range 48 {
		e.clock.Set(t0.Add(time.Duration(step) * 7 * time.Hour))
		now := e.clock.Now()
		// In due order: never run first, then by last run; ties (and never-run ones) by user id.
		// The personas mix cadences and zones, so the order holds across all of them (SQLite
		// merges one index range per cadence group and zone).
		var due []persona.Persona
		for _, id := range all {
			if p := e.get(id); persona.IsDue(p, now) {
				due = append(due, p)
			}
		}
		slices.SortFunc(due, func(a, b persona.Persona) int {
			var ta, tb int64 = -1, -1
			if a.LastActiveAt != nil {
				ta = a.LastActiveAt.UnixMicro()
			}
			if b.LastActiveAt != nil {
				tb = b.LastActiveAt.UnixMicro()
			}
			if ta != tb {
				return int(min(max(ta-tb, -1), 1))
			}
			return strings.Compare(a.UserID, b.UserID)
		})
		want := make([]string, len(due))
		for i, p := range due {
			want[i] = p.UserID
		}
		if diff := cmp.Diff(want, e.due(0)); diff != "" {
			e.t.Errorf("at %s (%s): due list differs from persona.IsDue in due order (-want +got):\n%s", now.Format(time.RFC3339), now.Weekday(), diff)
		}
		if len(want) > 3 {
			if diff := cmp.Diff(want[:3], e.due(3)); diff != "" {
				e.t.Errorf("at %s: due with limit 3 (-want +got):\n%s", now.Format(time.RFC3339), diff)
			}
		}
	}
}

func testDueDeleted(e *env) {
	id := e.persona("gone@mana.test", persona.Hourly, "UTC")
	keep := e.persona("kept@mana.test", persona.Hourly, "UTC")
	if _, _, err := e.s.UpsertUser(e.ctx, persona.UserInput{Email: "ops@mana.test", Password: "ops-password", Role: persona.RoleAdmin}); err != nil {
		e.t.Fatal(err)
	}
	if err := e.s.DeletePersona(e.ctx, id); err != nil {
		e.t.Fatal(err)
	}
	if diff := cmp.Diff([]string{keep}, e.due(0)); diff != "" {
		e.t.Errorf("due after delete (-want +got):\n%s", diff)
	}
	if got := e.claim("r", 10, time.Minute); len(got) != 1 || got[0].UserID != keep {
		e.t.Errorf("claim after delete = %v; want only %s", ids(got), keep)
	}
}

func testClaimLease(e *env) {
	var all []string
	for i := range 5 {
		all = append(all, e.persona(fmt.Sprintf("c%d@mana.test", i), persona.Daily, "UTC"))
	}
	sort.Strings(all)
	now := e.clock.Now()
	got := e.claim("runner-a", 3, 10*time.Minute)
	if diff := cmp.Diff(all[:3], ids(got)); diff != "" {
		e.t.Fatalf("claimed (-want +got):\n%s", diff)
	}
	exp := now.Add(10 * time.Minute)
	for _, d := range got {
		if !equalTime(d.LeaseExpiresAt, &exp) {
			e.t.Errorf("lease of %s expires %v; want %v", d.UserID, d.LeaseExpiresAt, exp)
		}
		p := e.get(d.UserID)
		if p.LeaseOwner != "runner-a" || !equalTime(p.LeaseExpiresAt, &exp) {
			e.t.Errorf("persona %s lease = %q until %v; want runner-a until %v", d.UserID, p.LeaseOwner, p.LeaseExpiresAt, exp)
		}
	}
	if diff := cmp.Diff(all[3:], e.due(0)); diff != "" {
		e.t.Errorf("due while leased (-want +got):\n%s", diff)
	}
	if got := e.claim("runner-b", 10, time.Minute); !slices.Equal(ids(got), all[3:]) {
		e.t.Errorf("second claim = %v; want the two unleased %v", ids(got), all[3:])
	}
	if got := e.claim("runner-c", 10, time.Minute); len(got) != 0 {
		e.t.Errorf("third claim = %v; want none while leases hold", ids(got))
	}
}

func testClaimConcurrent(e *env) {
	const personas, claimers = 50, 20
	want := make([]string, 0, personas)
	for i := range personas {
		want = append(want, e.persona(fmt.Sprintf("many%02d@mana.test", i), persona.Hourly, "UTC"))
	}
	var (
		mu    sync.Mutex
		got   = map[string]string{} // persona → runner
		dupes []string
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	errs := make(chan error, claimers*personas)
	for r := range claimers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runner := fmt.Sprintf("runner-%02d", r)
			<-start
			// Each claimer keeps claiming small batches until nothing is left, so claims overlap.
			for {
				list, err := e.s.ClaimPersonas(e.ctx, runner, 2, time.Hour)
				if err != nil {
					errs <- err
					return
				}
				if len(list) == 0 {
					return
				}
				mu.Lock()
				for _, d := range list {
					if prev, ok := got[d.UserID]; ok {
						dupes = append(dupes, fmt.Sprintf("%s by %s and %s", d.UserID, prev, runner))
					}
					got[d.UserID] = runner
				}
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		e.t.Errorf("concurrent claim: %v", err)
	}
	if len(dupes) > 0 {
		e.t.Errorf("personas claimed twice while leased: %v", dupes)
	}
	claimed := make([]string, 0, len(got))
	for id := range got {
		claimed = append(claimed, id)
	}
	slices.Sort(claimed)
	slices.Sort(want)
	if diff := cmp.Diff(want, claimed); diff != "" {
		e.t.Errorf("claimed set (-want +got):\n%s", diff)
	}
}

func testClaimExpired(e *env) {
	id := e.persona("lease@mana.test", persona.Daily, "UTC")
	if got := e.claim("runner-a", 1, 5*time.Minute); len(got) != 1 {
		e.t.Fatalf("claim = %v", ids(got))
	}
	e.clock.Advance(5*time.Minute - time.Microsecond)
	if got := e.claim("runner-b", 1, 5*time.Minute); len(got) != 0 {
		e.t.Fatalf("claim before the lease ran out = %v; want none", ids(got))
	}
	e.clock.Advance(time.Microsecond)
	got := e.claim("runner-b", 1, 5*time.Minute)
	if len(got) != 1 || got[0].UserID != id {
		e.t.Fatalf("claim after the lease ran out = %v; want %s", ids(got), id)
	}
	if p := e.get(id); p.LeaseOwner != "runner-b" {
		e.t.Errorf("lease owner = %q; want runner-b", p.LeaseOwner)
	}
}

func testClaimInvalid(e *env) {
	e.persona("x@mana.test", persona.Daily, "UTC")
	_, err := e.s.ClaimPersonas(e.ctx, "", 1, time.Minute)
	wantErr(e.t, "ClaimPersonas(no runner)", err, persona.ErrInvalid)
	_, err = e.s.ClaimPersonas(e.ctx, "r", 1, 0)
	wantErr(e.t, "ClaimPersonas(no lease)", err, persona.ErrInvalid)
	if len(e.due(0)) != 1 {
		e.t.Error("a refused claim leased a persona")
	}
}

func testTickOK(e *env) {
	id := e.persona("ok@mana.test", persona.Hourly, "UTC")
	e.claim("runner-a", 1, time.Hour)
	// A failure first, so the success has back-off to clear.
	e.tick(persona.Tick{TickID: "t-fail", PersonaID: id, RunnerID: "runner-a", Status: persona.TickFailed, Error: "model down"})
	e.clock.Advance(time.Minute)
	e.claim("runner-a", 1, time.Hour)
	started := e.clock.Now()
	e.clock.Advance(3 * time.Minute)
	finished := e.clock.Now().Add(-time.Second)
	tk := persona.Tick{
		TickID: "t-ok", PersonaID: id, RunnerID: "runner-a", Status: persona.TickOK, StartedAt: started, FinishedAt: &finished,
		ToolCalls: 5, Errors: 1, Turns: 7, InputTokens: 1200, OutputTokens: 300, CachedTokens: 800, CostUSD: 0.0123,
		Model: "sim-1", Summary: "A fine day.", Transcript: []byte(`[{"role":"user","content":"hi"}]`),
	}
	e.tick(tk)
	p := e.get(id)
	if !equalTime(p.LastActiveAt, &finished) || p.NextDueAt != nil || p.FailureCount != 0 || p.LastError != "" ||
		p.LeaseOwner != "" || p.LeaseExpiresAt != nil {
		e.t.Errorf("after ok: last %v next %v failures %d error %q lease %q %v; want last=%v, no back-off, no lease",
			p.LastActiveAt, p.NextDueAt, p.FailureCount, p.LastError, p.LeaseOwner, p.LeaseExpiresAt, finished)
	}
	got, err := e.s.Tick(e.ctx, "t-ok")
	if err != nil {
		e.t.Fatal(err)
	}
	if !jsonEqual(tk.Transcript, got.Transcript) {
		e.t.Errorf("stored transcript = %s; want %s", got.Transcript, tk.Transcript)
	}
	got.Transcript = tk.Transcript
	if diff := cmp.Diff(tk, got); diff != "" {
		e.t.Errorf("stored tick (-want +got):\n%s", diff)
	}
	if _, err := e.s.Tick(e.ctx, "nope"); !errors.Is(err, persona.ErrNotFound) {
		e.t.Errorf("Tick(unknown) error = %v; want ErrNotFound", err)
	}
	// Without FinishedAt the store's time counts.
	e.clock.Set(finished.Add(2 * time.Hour))
	e.tick(persona.Tick{TickID: "t-ok-2", PersonaID: id, RunnerID: "runner-a", Status: persona.TickOK})
	now := e.clock.Now()
	if p := e.get(id); !equalTime(p.LastActiveAt, &now) {
		e.t.Errorf("last_active_at = %v; want now %v", p.LastActiveAt, now)
	}
	if tk, _ := e.s.Tick(e.ctx, "t-ok-2"); !tk.StartedAt.Equal(now) || !equalTime(tk.FinishedAt, &now) {
		e.t.Errorf("tick without times: started %v finished %v; want both %v", tk.StartedAt, tk.FinishedAt, now)
	}
}

func testTickBackoff(e *env) {
	id := e.persona("flaky@mana.test", persona.Daily, "UTC")
	for i, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute} {
		got := e.claim("runner-a", 1, time.Hour)
		if len(got) != 1 {
			e.t.Fatalf("failure %d: claim = %v; want the persona", i+1, ids(got))
		}
		status := persona.TickFailed
		if i%2 == 1 {
			status = persona.TickTimeout
		}
		e.tick(persona.Tick{TickID: fmt.Sprintf("t%d", i), PersonaID: id, RunnerID: "runner-a", Status: status, Error: fmt.Sprintf("error %d", i)})
		now := e.clock.Now()
		next := now.Add(want)
		p := e.get(id)
		if p.FailureCount != i+1 || !equalTime(p.NextDueAt, &next) || p.LeaseOwner != "" || p.LastActiveAt != nil {
			e.t.Fatalf("after failure %d: failures %d next %v lease %q last %v; want %d, %v, released, never active",
				i+1, p.FailureCount, p.NextDueAt, p.LeaseOwner, p.LastActiveAt, i+1, next)
		}
		if i%2 == 0 && p.LastError != fmt.Sprintf("error %d", i) {
			e.t.Errorf("last error = %q", p.LastError)
		}
		e.clock.Set(next.Add(-time.Microsecond))
		if e.isDue(id) {
			e.t.Errorf("after failure %d: due before its back-off of %v ended", i+1, want)
		}
		e.clock.Set(next)
		if !e.isDue(id) {
			e.t.Errorf("after failure %d: not due when its back-off of %v ended", i+1, want)
		}
	}
	e.claim("runner-a", 1, time.Hour)
	e.tick(persona.Tick{TickID: "t-ok", PersonaID: id, RunnerID: "runner-a", Status: persona.TickOK})
	if p := e.get(id); p.FailureCount != 0 || p.NextDueAt != nil || p.LastError != "" {
		e.t.Errorf("after success: failures %d next %v error %q; want all cleared", p.FailureCount, p.NextDueAt, p.LastError)
	}
}

func testTickBackoffCap(e *env) {
	id := e.persona("broken@mana.test", persona.Hourly, "UTC")
	var p persona.Persona
	for i := range 9 {
		e.tick(persona.Tick{TickID: fmt.Sprintf("t%d", i), PersonaID: id, RunnerID: "r", Status: persona.TickFailed, Error: "always"})
		p = e.get(id)
		e.clock.Set(*p.NextDueAt)
	}
	// 1, 2, 4, … 32 minutes, then capped at the hourly period.
	ticks, err := e.s.Ticks(e.ctx, persona.TickQuery{PersonaID: id})
	if err != nil || len(ticks) != 9 {
		e.t.Fatal(ticks, err)
	}
	if p.FailureCount != 9 || p.NextDueAt.Sub(ticks[0].StartedAt) != time.Hour {
		e.t.Errorf("after 9 failures: count %d, back-off %v; want 9, the 1h cap", p.FailureCount, p.NextDueAt.Sub(ticks[0].StartedAt))
	}
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour}
	for i, w := range want {
		older, newer := ticks[len(ticks)-1-i], ticks[len(ticks)-2-i]
		if gap := newer.StartedAt.Sub(older.StartedAt); gap != w {
			e.t.Errorf("back-off after failure %d = %v; want %v", i+1, gap, w)
		}
	}
}

func testTickRetry(e *env) {
	id := e.persona("retry@mana.test", persona.Daily, "UTC")
	e.claim("runner-a", 1, time.Hour)
	tk := persona.Tick{TickID: "t1", PersonaID: id, RunnerID: "runner-a", Status: persona.TickFailed, Error: "x"}
	e.tick(tk)
	e.tick(tk) // the runner retried a request whose response was lost
	if p := e.get(id); p.FailureCount != 1 {
		e.t.Errorf("failure count after a retried report = %d; want 1", p.FailureCount)
	}
	// running → terminal is the normal path and applies the schedule once.
	e.clock.Advance(time.Hour)
	e.tick(persona.Tick{TickID: "t2", PersonaID: id, RunnerID: "runner-a", Status: persona.TickRunning})
	e.tick(persona.Tick{TickID: "t2", PersonaID: id, RunnerID: "runner-a", Status: persona.TickFailed})
	if p := e.get(id); p.FailureCount != 2 {
		e.t.Errorf("failure count = %d; want 2", p.FailureCount)
	}
}

func testTickCancelled(e *env) {
	id := e.persona("cancel@mana.test", persona.Hourly, "UTC")
	at := e.clock.Now().Add(-2 * time.Hour)
	e.ran(id, at)
	e.claim("runner-a", 1, time.Hour)
	e.tick(persona.Tick{TickID: "t-c", PersonaID: id, RunnerID: "runner-a", Status: persona.TickCancelled})
	p := e.get(id)
	if p.LeaseOwner != "" || p.LeaseExpiresAt != nil || p.FailureCount != 0 || p.NextDueAt != nil || !equalTime(p.LastActiveAt, &at) {
		e.t.Errorf("after cancel: lease %q %v, failures %d, next %v, last %v; want only the lease released",
			p.LeaseOwner, p.LeaseExpiresAt, p.FailureCount, p.NextDueAt, p.LastActiveAt)
	}
	if !e.isDue(id) {
		e.t.Error("a cancelled persona is not due again at once")
	}
}

func testTickRunning(e *env) {
	id := e.persona("running@mana.test", persona.Hourly, "UTC")
	e.claim("runner-a", 1, time.Hour)
	e.tick(persona.Tick{TickID: "t-r", PersonaID: id, RunnerID: "runner-a", Status: persona.TickRunning})
	if p := e.get(id); p.LeaseOwner != "runner-a" {
		e.t.Errorf("lease owner after a running record = %q; want runner-a", p.LeaseOwner)
	}
	tk, err := e.s.Tick(e.ctx, "t-r")
	if err != nil || tk.Status != persona.TickRunning || tk.FinishedAt != nil || !tk.StartedAt.Equal(e.clock.Now()) {
		e.t.Errorf("running tick = %+v, %v", tk, err)
	}
}

func testTickForeignLease(e *env) {
	id := e.persona("slow@mana.test", persona.Hourly, "UTC")
	e.claim("runner-a", 1, time.Minute)
	e.clock.Advance(2 * time.Minute)
	if got := e.claim("runner-b", 1, time.Hour); len(got) != 1 {
		e.t.Fatalf("runner-b claim = %v", ids(got))
	}
	// runner-a finishes late: its run counts, but runner-b's live lease stays.
	e.tick(persona.Tick{TickID: "late", PersonaID: id, RunnerID: "runner-a", Status: persona.TickOK})
	p := e.get(id)
	if p.LeaseOwner != "runner-b" {
		e.t.Errorf("lease owner = %q; want runner-b's lease kept", p.LeaseOwner)
	}
	if p.LastActiveAt == nil {
		e.t.Error("the late run did not set last_active_at")
	}
}

func testTickInvalid(e *env) {
	id := e.persona("t@mana.test", persona.Hourly, "UTC")
	err := e.s.RecordTick(e.ctx, persona.Tick{TickID: "t", PersonaID: id, Status: "exploded"})
	wantErrMentions(e.t, "RecordTick(bad status)", err, persona.ErrInvalid, "status")
	err = e.s.RecordTick(e.ctx, persona.Tick{PersonaID: id, Status: persona.TickOK})
	wantErrMentions(e.t, "RecordTick(no tick id)", err, persona.ErrInvalid, "tickId")
	err = e.s.RecordTick(e.ctx, persona.Tick{TickID: "t", PersonaID: "no-such-persona", Status: persona.TickOK})
	wantErr(e.t, "RecordTick(unknown persona)", err, persona.ErrNotFound)
	if p := e.get(id); p.LastActiveAt != nil {
		e.t.Error("a refused tick changed the persona")
	}
}

// testAbandonAtRestart: a runner that restarts under the same id marks the runs its previous
// process left running abandoned, naming that runner, and the personas are due again at once.
func testAbandonAtRestart(e *env) {
	id := e.persona("crashed@mana.test", persona.Hourly, "UTC")
	e.claim("runner-a", 1, time.Hour)
	other := e.persona("other@mana.test", persona.Hourly, "UTC")
	e.tick(persona.Tick{TickID: "t-crash", PersonaID: id, RunnerID: "runner-a", Status: persona.TickRunning, StartedAt: e.clock.Now()})
	e.claim("runner-b", 1, time.Hour)
	e.tick(persona.Tick{TickID: "t-live", PersonaID: other, RunnerID: "runner-b", Status: persona.TickRunning, StartedAt: e.clock.Now()})
	e.clock.Advance(time.Minute)
	n, err := e.s.AbandonRuns(e.ctx, "runner-a")
	if err != nil || n != 1 {
		e.t.Fatalf("AbandonRuns = %d, %v; want 1", n, err)
	}
	tk, err := e.s.Tick(e.ctx, "t-crash")
	if err != nil || tk.Status != persona.TickAbandoned || tk.FinishedAt == nil || !strings.Contains(tk.Error, "runner-a") {
		e.t.Errorf("crashed run = %+v, %v; want abandoned naming runner-a", tk, err)
	}
	if live, _ := e.s.Tick(e.ctx, "t-live"); live.Status != persona.TickRunning {
		e.t.Errorf("another runner's run became %s", live.Status)
	}
	if p := e.get(id); p.LeaseOwner != "" || !e.isDue(id) || p.FailureCount != 0 {
		e.t.Errorf("after abandon: lease %q, due %v, failures %d; want free, due, no failure", p.LeaseOwner, e.isDue(id), p.FailureCount)
	}
	if p := e.get(other); p.LeaseOwner != "runner-b" {
		e.t.Errorf("runner-b's lease = %q", p.LeaseOwner)
	}
	if _, err := e.s.AbandonRuns(e.ctx, ""); !errors.Is(err, persona.ErrInvalid) {
		e.t.Errorf("AbandonRuns without a runner id: %v; want ErrInvalid", err)
	}
}

// testAbandonOnClaim: claiming a persona whose lease ran out marks its running record abandoned,
// naming the runner that lost it and the one that claimed.
func testAbandonOnClaim(e *env) {
	id := e.persona("lost@mana.test", persona.Hourly, "UTC")
	e.claim("runner-a", 1, time.Minute)
	e.tick(persona.Tick{TickID: "t-lost", PersonaID: id, RunnerID: "runner-a", Status: persona.TickRunning, StartedAt: e.clock.Now()})
	e.clock.Advance(2 * time.Minute)
	if got := e.claim("runner-b", 1, time.Hour); len(got) != 1 {
		e.t.Fatalf("runner-b claim = %v", ids(got))
	}
	tk, err := e.s.Tick(e.ctx, "t-lost")
	if err != nil || tk.Status != persona.TickAbandoned || !strings.Contains(tk.Error, "runner-a") || !strings.Contains(tk.Error, "runner-b") {
		e.t.Errorf("lost run = %+v, %v; want abandoned naming runner-a and runner-b", tk, err)
	}
}
