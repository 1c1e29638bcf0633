package app

import (
	"sync"
	"time"
)

// rateLimiter allows at most limit calls of one tool per user in any window (a sliding window
// over the times of the allowed calls). Refused calls are not counted, so a caller that keeps
// trying is let in again as soon as its oldest call leaves the window. It is safe for concurrent
// use.
type rateLimiter struct {
	limit  int
	window time.Duration
	now    func() time.Time

	mu        sync.Mutex
	calls     map[rateKey][]time.Time // allowed calls in the window, oldest first
	lastSweep time.Time
}

type rateKey struct{ user, tool string }

func newRateLimiter(limit int, window time.Duration, now func() time.Time) *rateLimiter {
	return &rateLimiter{limit: limit, window: window, now: now, calls: map[rateKey][]time.Time{}}
}

// allow records a call of tool by user and reports whether it is within the limit; when it is not,
// retryAfter is how long until the next call would be allowed.
func (l *rateLimiter) allow(user, tool string) (ok bool, retryAfter time.Duration) {
	if l.limit <= 0 {
		return true, 0
	}
	now := l.now()
	cutoff := now.Add(-l.window)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now, cutoff)
	k := rateKey{user, tool}
	times := l.calls[k]
	drop := 0
	for drop < len(times) && !times[drop].After(cutoff) {
		drop++
	}
	times = times[drop:]
	if len(times) >= l.limit {
		l.calls[k] = times
		return false, times[0].Add(l.window).Sub(now)
	}
	l.calls[k] = append(times, now)
	return true, 0
}

// sweep forgets the users and tools with no call in the window, at most once per window, so the
// map does not grow with every user ever seen.
func (l *rateLimiter) sweep(now, cutoff time.Time) {
	if now.Sub(l.lastSweep) < l.window {
		return
	}
	l.lastSweep = now
	for k, times := range l.calls {
		if len(times) == 0 || !times[len(times)-1].After(cutoff) {
			delete(l.calls, k)
		}
	}
}
