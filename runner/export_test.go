package runner

import "time"

// SetTimeouts shortens the runner's internal timeouts for tests.
func SetTimeouts(r *Runner, connect, call time.Duration) {
	r.connectTimeout, r.callTimeout = connect, call
}

// SetRetry shortens persistence retries for tests.
func SetRetry(r *Runner, attempts int, base time.Duration) {
	r.retry = retryPolicy{attempts: attempts, base: base, max: base * 4}
}

// SetPersistBudget shortens how long a finished run's rows are retried before the outbox.
func SetPersistBudget(r *Runner, d time.Duration) {
	r.persistTimeout = d
	r.persistRetry = retryPolicy{base: time.Millisecond, max: 5 * time.Millisecond}
}
