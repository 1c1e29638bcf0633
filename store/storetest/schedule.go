package storetest

import (
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
