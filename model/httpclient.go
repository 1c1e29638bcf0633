package model

import (
	"net/http"
	"time"
)

// NewHTTPClient returns the HTTP client the providers use by default. Unlike
// http.DefaultTransport, which keeps two idle connections per host, its pool keeps enough for a
// large worker pool talking to one API, so concurrent runs reuse connections instead of opening
// (and leaving in TIME_WAIT) a new one per call. Timeouts are per attempt, set by the provider.
func NewHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 512
	t.IdleConnTimeout = 90 * time.Second
	return &http.Client{Transport: t}
}
