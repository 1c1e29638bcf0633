package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/findings"
)

// fakeBuild counts its computations; each returns one finding naming its number and its now.
type fakeBuild struct {
	calls atomic.Int32
	fail  atomic.Bool
	gate  chan struct{} // when set, each computation waits for a receive
}

func (b *fakeBuild) build(ctx context.Context, k findingsKey, now time.Time) ([]findings.Finding, error) {
	n := b.calls.Add(1)
	if b.gate != nil {
		select {
		case <-b.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if b.fail.Load() {
		return nil, errors.New("store down")
	}
	return []findings.Finding{{ID: fmt.Sprintf("f%d", n), Title: k.persona, LastSeen: now}}, nil
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestFindingsCache(t *testing.T) {
	clock := &testClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	b := &fakeBuild{}
	c := newFindingsCache(time.Minute, clock.now, slog.New(slog.DiscardHandler), b.build)
	defer c.close()
	ctx := context.Background()
	key := findingsKey{since: 7 * 24 * time.Hour}
	get := func(want string, computed, stale bool) foundView {
		t.Helper()
		v, err := c.get(ctx, key, clock.now())
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Open) != 1 || v.Open[0].ID != want || v.Computed != computed || v.Stale != stale || v.TTL != time.Minute {
			t.Fatalf("got %+v, want %s computed=%v stale=%v", v, want, computed, stale)
		}
		return v
	}
	// Cold: computed for the load; within the TTL: reused, with the time it was computed.
	first := get("f1", true, false)
	clock.add(30 * time.Second)
	if v := get("f1", false, false); !v.At.Equal(first.At) {
		t.Fatalf("reused set at %s, computed at %s", v.At, first.At)
	}
	// Another window or persona is another set.
	if v, _ := c.get(ctx, findingsKey{since: time.Hour, persona: "p"}, clock.now()); v.Open[0].ID != "f2" || v.Open[0].Title != "p" {
		t.Fatalf("other key: %+v", v)
	}
	// A finished run: the set is shown as stale once while a newer one is computed.
	c.invalidate()
	get("f1", false, true)
	c.bg.Wait()
	v := get("f3", false, false)
	if !v.At.Equal(clock.now()) {
		t.Fatalf("recomputed at %s, want %s", v.At, clock.now())
	}
	// Past the TTL: the same.
	clock.add(61 * time.Second)
	get("f3", false, true)
	c.bg.Wait()
	get("f4", false, false)
	// A failed background computation keeps the older set, and the next stale load tries again.
	b.fail.Store(true)
	clock.add(61 * time.Second)
	get("f4", false, true)
	c.bg.Wait()
	get("f4", false, true)
	c.bg.Wait()
	b.fail.Store(false)
	// Past findingsMaxAge the load waits for a new set.
	clock.add(findingsMaxAge)
	get("f7", true, false)
	if n := b.calls.Load(); n != 7 {
		t.Fatalf("%d computations, want 7", n)
	}
	// A failed cold computation is not kept.
	b.fail.Store(true)
	if _, err := c.get(ctx, findingsKey{since: 24 * time.Hour}, clock.now()); err == nil {
		t.Fatal("no error from a failed computation")
	}
	b.fail.Store(false)
	if v, err := c.get(ctx, findingsKey{since: 24 * time.Hour}, clock.now()); err != nil || !v.Computed {
		t.Fatalf("after a failure: %+v, %v", v, err)
	}
}

// Concurrent cold loads of one key compute it once.
func TestFindingsCacheOneComputation(t *testing.T) {
	clock := &testClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	b := &fakeBuild{gate: make(chan struct{})}
	c := newFindingsCache(time.Minute, clock.now, slog.New(slog.DiscardHandler), b.build)
	defer c.close()
	var wg sync.WaitGroup
	got := make([]string, 4)
	for i := range got {
		wg.Go(func() {
			v, err := c.get(context.Background(), findingsKey{}, clock.now())
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = v.Open[0].ID
		})
	}
	for b.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // the others are waiting on the first
	close(b.gate)
	wg.Wait()
	for _, id := range got {
		if id != "f1" {
			t.Fatalf("loads got %v, want f1 each", got)
		}
	}
	if n := b.calls.Load(); n != 1 {
		t.Fatalf("%d computations, want 1", n)
	}
}

// Without a TTL every load computes.
func TestFindingsCacheOff(t *testing.T) {
	b := &fakeBuild{}
	c := newFindingsCache(-1, time.Now, slog.New(slog.DiscardHandler), b.build)
	defer c.close()
	for range 2 {
		if v, err := c.get(context.Background(), findingsKey{}, time.Now()); err != nil || !v.Computed {
			t.Fatalf("%+v, %v", v, err)
		}
	}
	if n := b.calls.Load(); n != 2 {
		t.Fatalf("%d computations, want 2", n)
	}
}

// With a wait, a cold load starts the computation in the background and answers Pending past
// the wait; the next load after it ended reuses it (one computation); a failed one is dropped
// and the next load starts another. warm starts one without a load.
func TestFindingsCacheWait(t *testing.T) {
	clock := &testClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	b := &fakeBuild{gate: make(chan struct{})}
	c := newFindingsCache(time.Minute, clock.now, slog.New(slog.DiscardHandler), b.build)
	c.wait = 5 * time.Millisecond
	defer c.close()
	ctx := context.Background()
	key := findingsKey{since: 7 * 24 * time.Hour}
	started := clock.now()
	for range 2 {
		v, err := c.get(ctx, key, clock.now())
		if err != nil || !v.Pending || !v.At.Equal(started) || len(v.Open) != 0 {
			t.Fatalf("load during the computation: %+v, %v", v, err)
		}
		clock.add(time.Second)
	}
	b.gate <- struct{}{}
	c.bg.Wait()
	if v, err := c.get(ctx, key, clock.now()); err != nil || v.Pending || len(v.Open) != 1 || v.Open[0].ID != "f1" || !v.At.Equal(started) {
		t.Fatalf("after the computation: %+v, %v", v, err)
	}
	// A failure: logged and dropped; the next load computes anew.
	b.fail.Store(true)
	other := findingsKey{since: time.Hour}
	go func() { b.gate <- struct{}{} }()
	if v, err := c.get(ctx, other, clock.now()); err == nil && !v.Pending {
		t.Fatalf("failed computation: %+v", v)
	}
	c.bg.Wait()
	b.fail.Store(false)
	go func() { b.gate <- struct{}{} }()
	c.bg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := c.get(ctx, other, clock.now())
		if err == nil && !v.Pending && len(v.Open) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no findings after a failure: %+v, %v", v, err)
		}
		time.Sleep(time.Millisecond)
	}
	// warm: the computation is under way before any load; the load reuses it.
	warm := findingsKey{since: 30 * 24 * time.Hour}
	n := b.calls.Load() + 1
	c.warm(warm, clock.now())
	b.gate <- struct{}{}
	c.bg.Wait()
	if v, err := c.get(ctx, warm, clock.now()); err != nil || v.Pending || len(v.Open) != 1 || b.calls.Load() != n {
		t.Fatalf("after warm: %+v, %v, %d computations (want %d)", v, err, b.calls.Load(), n)
	}
}
