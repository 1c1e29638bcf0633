package runner

import (
	"time"

	"github.com/persona-runner/persona-runner/retry"
)

// SetTimeouts shortens the runner's internal timeouts for tests.
func SetTimeouts(r *Runner, connect, call time.Duration) {
	r.connectTimeout, r.callTimeout = connect, call
}

// SetRetry shortens persistence retries for tests.
func SetRetry(r *Runner, attempts int, base time.Duration) {
	r.retry = retry.Policy{Attempts: attempts, Base: base, Max: base * 4}
}

// SetPersistBudget shortens how long a finished run's rows are retried before the outbox.
func SetPersistBudget(r *Runner, d time.Duration) {
	r.persistTimeout = d
	r.persistRetry = retry.Policy{Base: time.Millisecond, Max: 5 * time.Millisecond}
}
