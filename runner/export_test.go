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
