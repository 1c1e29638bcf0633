package app_test

import (
	"strings"
	"testing"

	"github.com/persona-runner/persona-runner/app"
)

// Issue 16.5: with TrustIssuerSpaces a real Mana deployment's personas (users and spaces this
// app has never seen) work in their spaces; the app's own spaces keep the membership check.
func TestTrustIssuerSpaces(t *testing.T) {
	for _, pg := range []bool{false, true} {
		name := "sqlite"
		if pg {
			name = "postgres"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			stranger := user{ID: "mana-user-1", Email: "maya@mana.example"}
			sister := user{ID: "mana-user-2", Email: "lea@mana.example"}
			space := "0f6c2a9e-mana-space"

			off := setup(t, options{postgres: pg})
			if _, err := off.tryConnect(off.token(t, stranger), space); err == nil || !strings.Contains(err.Error(), "Forbidden") {
				t.Fatalf("without the option a space the app does not know is refused: err = %v", err)
			}

			b := setup(t, options{postgres: pg, cfg: func(c *app.Config) { c.TrustIssuerSpaces = true }})
			c := b.connect(t, stranger, space)
			c.ok(t, "todo.create", map[string]any{"title": "Water the plants"})
			// The issuer vouches for its space's other members too.
			c2 := b.connect(t, sister, space)
			if got := c2.ok(t, "todo.list", map[string]any{}); !strings.Contains(str(got), "Water the plants") {
				t.Fatalf("a second member of the issuer's space does not see its todo: %v", got)
			}
			// A space the app knows of its own is still checked: not carl's for the stranger or anna.
			for _, u := range []user{stranger, b.anna} {
				if _, err := b.tryConnect(b.token(t, u), b.carl.Personal); err == nil || !strings.Contains(err.Error(), "Forbidden") {
					t.Errorf("%s in carl's personal space: err = %v, want Forbidden", u.Email, err)
				}
			}
			if len(b.logs.lines(t, "space known only to the token issuer recorded (--trust-issuer-spaces)")) != 1 {
				t.Errorf("the recorded space is not logged once")
			}
		})
	}
}
