package config_test

import (
	"testing"

	"github.com/persona-runner/persona-runner/config"
)

// TestRedactDSN pins the one redaction every message, log and hint uses. It replaced three that
// disagreed (%2A%2A%2A%2A, xxxxx and the clear password in up's "next:" hint).
func TestRedactDSN(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"postgres://app:s3cret@db.internal:5432/persona?sslmode=disable", "postgres://app:xxxxx@db.internal:5432/persona?sslmode=disable"},
		{"postgresql://app@db/persona", "postgresql://app@db/persona"},
		{"postgres://db/persona?password=s3cret&sslmode=require", "postgres://db/persona?password=xxxxx&sslmode=require"},
		{"postgres://app:pa%20ss@db/p", "postgres://app:xxxxx@db/p"},
		{"postgres://app:s3cret@db:notaport/p", "postgres://…"},
		{"./data/persona-runner.db", "./data/persona-runner.db"},
		{"/var/lib/pr/odd://name.db", "/var/lib/pr/odd://name.db"},
		{"", ""},
	} {
		if got := config.RedactDSN(tt.in); got != tt.want {
			t.Errorf("RedactDSN(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := config.DSN(tt.in).String(); got != tt.want {
			t.Errorf("DSN(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
	}
}
