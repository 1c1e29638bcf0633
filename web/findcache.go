package web

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/persona-runner/persona-runner/findings"
)

// The overview's top findings come from findings.Build, which reads the window and its baseline
// (up to a second over a million action rows). They are kept per window and persona for a short
// while: a load within the TTL reuses them; a later load, or one after a run finished (Publish),
// shows them with the time they were computed and recomputes them in the background. A load
// that finds none (or only ones older than maxAge) starts their computation in the background
// and waits for it at most the cache's wait: past it the page answers without them (it says
// they are being computed, lists the failing tools meanwhile, and its script fetches them when
// ready), so no page waits on findings.Build. The page always says when they were computed.

// DefaultFindingsWait is how long a load waits for a first computation when Config.FindingsWait
// is 0: a small store's findings come within it, a large one's are fetched by the page's script.
const DefaultFindingsWait = 25 * time.Millisecond

// DefaultFindingsTTL is how long the overview reuses its findings when Config.FindingsTTL is 0.
const DefaultFindingsTTL = time.Minute

// findingsMaxAge is the oldest computation a load still shows (while a newer one runs): past it
// the load waits for a new one.
const findingsMaxAge = 10 * time.Minute

type findingsKey struct {
	since   time.Duration
	persona string
}

// foundSet is one computation of a key's open findings.
type foundSet struct {
	open []findings.Finding
	at   time.Time // the computation's now: the window ends there
	gen  uint64    // the cache's generation when it started
}

type findingsEntry struct {
	ready      chan struct{} // closed when the first computation ended
	set        *foundSet     // nil until then, and after it failed
	err        error
	refreshing bool
	started    time.Time // the first computation's now
}

type findingsCache struct {
	ttl time.Duration // ≤ 0: no cache
	// wait is how long a load waits for a first computation before it answers without it
	// (foundView.Pending); 0 waits until it ends.
	wait  time.Duration
	now   func() time.Time
	build func(ctx context.Context, key findingsKey, now time.Time) ([]findings.Finding, error)
	log   *slog.Logger

	ctx    context.Context // background computations; cancelled by close
	cancel context.CancelFunc
	bg     sync.WaitGroup

	mu      sync.Mutex
	gen     uint64 // bumped when runs finished: sets of an older generation are stale
	entries map[findingsKey]*findingsEntry
}

func newFindingsCache(ttl time.Duration, now func() time.Time, log *slog.Logger,
	build func(ctx context.Context, key findingsKey, now time.Time) ([]findings.Finding, error)) *findingsCache {
	ctx, cancel := context.WithCancel(context.Background())
	return &findingsCache{ttl: ttl, now: now, build: build, log: log, ctx: ctx, cancel: cancel, entries: map[findingsKey]*findingsEntry{}}
}

// invalidate marks every set stale: the next load of each shows it and recomputes it.
func (c *findingsCache) invalidate() {
	c.mu.Lock()
	c.gen++
	c.mu.Unlock()
}

// warm starts key's first computation in the background unless it has a set or one under way.
func (c *findingsCache) warm(key findingsKey, now time.Time) {
	if c.ttl <= 0 || c.wait <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[key] != nil || c.ctx.Err() != nil {
		return
	}
	e := &findingsEntry{ready: make(chan struct{}), started: now}
	c.entries[key] = e
	c.first(key, e, c.gen, now)
}

// close stops the background computations and waits for them.
func (c *findingsCache) close() {
	c.cancel()
	c.bg.Wait()
}

// foundView is what the overview shows of a set.
type foundView struct {
	Open     []findings.Finding
	At       time.Time
	Stale    bool // older than the TTL or than the last finished run; a newer one is being computed
	Computed bool // computed for this load
	// Pending: none to show yet; their computation started at At and goes on in the background.
	Pending bool
	TTL     time.Duration
}

// get returns key's open findings as of now, or a recent set while a newer one is computed.
func (c *findingsCache) get(ctx context.Context, key findingsKey, now time.Time) (foundView, error) {
	if c.ttl <= 0 {
		open, err := c.build(ctx, key, now)
		return foundView{Open: open, At: now, Computed: true}, err
	}
	v, err := c.lookup(ctx, key, now)
	v.TTL = c.ttl
	return v, err
}

func (c *findingsCache) lookup(ctx context.Context, key findingsKey, now time.Time) (foundView, error) {
	for {
		c.mu.Lock()
		e := c.entries[key]
		if e == nil {
			e = &findingsEntry{ready: make(chan struct{}), started: now}
			c.entries[key] = e
			gen := c.gen
			if c.wait > 0 && c.ctx.Err() == nil {
				c.first(key, e, gen, now)
				c.mu.Unlock()
				return c.await(ctx, e)
			}
			c.mu.Unlock()
			open, err := c.build(ctx, key, now)
			c.mu.Lock()
			if err != nil {
				delete(c.entries, key)
				e.err = err
			} else {
				e.set = &foundSet{open: open, at: now, gen: gen}
			}
			close(e.ready)
			c.mu.Unlock()
			return foundView{Open: open, At: now, Computed: true}, err
		}
		select {
		case <-e.ready:
		default:
			// Another load computes it: wait for that one.
			c.mu.Unlock()
			if c.wait > 0 {
				return c.await(ctx, e)
			}
			select {
			case <-e.ready:
			case <-ctx.Done():
				return foundView{}, ctx.Err()
			}
			continue
		}
		if e.set == nil { // the computation failed and its entry is gone: try again
			c.mu.Unlock()
			continue
		}
		set, age := e.set, c.now().Sub(e.set.at)
		if age > findingsMaxAge || age < 0 || c.ctx.Err() != nil && (age >= c.ttl || set.gen != c.gen) {
			// Too old to show (or closed, so none is computed in the background): compute anew.
			delete(c.entries, key)
			c.mu.Unlock()
			continue
		}
		if age < c.ttl && set.gen == c.gen {
			c.mu.Unlock()
			return foundView{Open: set.open, At: set.at}, nil
		}
		if !e.refreshing {
			e.refreshing = true
			c.refresh(key, e, c.gen)
		}
		c.mu.Unlock()
		return foundView{Open: set.open, At: set.at, Stale: true}, nil
	}
}

// first computes a new entry's set in the background; c.mu is held. A failed computation is
// dropped (and logged), so the next load starts another.
func (c *findingsCache) first(key findingsKey, e *findingsEntry, gen uint64, now time.Time) {
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		open, err := c.build(c.ctx, key, now)
		c.mu.Lock()
		defer c.mu.Unlock()
		if err != nil {
			if c.entries[key] == e {
				delete(c.entries, key)
			}
			e.err = err
			c.log.Warn("dashboard: computing the overview's findings failed", "window", key.since, "persona", key.persona, "err", err)
		} else {
			e.set = &foundSet{open: open, at: now, gen: gen}
		}
		close(e.ready)
	}()
}

// await waits up to c.wait for e's first computation: its set, its error, or Pending.
func (c *findingsCache) await(ctx context.Context, e *findingsEntry) (foundView, error) {
	t := time.NewTimer(c.wait)
	defer t.Stop()
	select {
	case <-e.ready:
		c.mu.Lock()
		set, err := e.set, e.err
		c.mu.Unlock()
		if set == nil {
			return foundView{}, err
		}
		return foundView{Open: set.open, At: set.at, Computed: true}, nil
	case <-t.C:
		return foundView{Pending: true, At: e.started}, nil
	case <-ctx.Done():
		return foundView{}, ctx.Err()
	}
}

// refresh recomputes e's set in the background; c.mu is held.
func (c *findingsCache) refresh(key findingsKey, e *findingsEntry, gen uint64) {
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		now := c.now()
		open, err := c.build(c.ctx, key, now)
		c.mu.Lock()
		defer c.mu.Unlock()
		e.refreshing = false
		if err != nil {
			// The older set stays; the next load tries again.
			c.log.Warn("dashboard: recomputing the overview's findings failed", "window", key.since, "persona", key.persona, "err", err)
			return
		}
		e.set = &foundSet{open: open, at: now, gen: gen}
	}()
}
