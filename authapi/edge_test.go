package authapi_test

import (
	"net/http"
	"testing"

	"github.com/persona-runner/persona-runner/authapi"
)

// TestBadTextAtTheEdge: a NUL or invalid UTF-8 in the login email, the claim's or abandon's
// runnerId, a persona id in an internal or admin path, or the report's query is refused with a
// 400 naming the field, the same on SQLite and PostgreSQL (PostgreSQL cannot compare such text
// and answered 500), and nothing reaches the store.
func TestBadTextAtTheEdge(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, b *bundle) {
		id := b.mustPersona(t, "persona.edge@mana.test")
		for _, bad := range []struct{ json, path string }{{`a\u0000b`, "a%00b"}, {"a\xffb", "a%FFb"}} {
			t.Run(bad.path, func(t *testing.T) {
				login := b.do(t, "POST", authapi.PathLogin, `{"email":"persona.edge@mana.test`+bad.json+`","password":"x"}`)
				if login.status != http.StatusBadRequest {
					if bad.path == "a%FFb" && login.status == http.StatusUnauthorized {
						// encoding/json turns invalid UTF-8 in a body into U+FFFD: valid text,
						// an email nobody has.
					} else {
						t.Errorf("login with %s in the email: %d %s, want 400", bad.path, login.status, login.body)
					}
				}
				for _, p := range []string{"claim", "abandon"} {
					r := b.do(t, "POST", authapi.PathInternal+"/"+p, `{"runnerId":"r`+bad.json+`"}`, b.svc())
					if bad.path == "a%FFb" {
						if r.status >= 500 {
							t.Errorf("%s with invalid UTF-8 in runnerId: %d %s", p, r.status, r.body)
						}
						continue
					}
					wantValidation(t, r, "runnerId")
				}
				for _, rt := range []struct{ method, path, body, auth string }{
					{"POST", authapi.PathInternal + "/" + bad.path + "/actions", actionsBody("t", 1), b.svc()},
					{"POST", authapi.PathInternal + "/" + bad.path + "/feedback", `{"feedback":[{"tickId":"t","module":"todo","rating":3}]}`, b.svc()},
					{"POST", authapi.PathInternal + "/" + bad.path + "/ticks", `{"tickId":"t","status":"ok"}`, b.svc()},
					{"GET", authapi.PathInternal + "/" + bad.path + "/history", "", b.svc()},
					{"POST", authapi.PathInternal + "/" + bad.path + "/token", `{}`, b.svc()},
					{"GET", authapi.PathAdminPersona + "/" + bad.path, "", b.admin()},
					{"DELETE", authapi.PathAdminPersona + "/" + bad.path, "", b.admin()},
				} {
					wantValidation(t, b.do(t, rt.method, rt.path, rt.body, rt.auth), "id")
				}
				for _, q := range []string{"module", "persona"} {
					wantValidation(t, b.do(t, "GET", authapi.PathAdminReport+"?"+q+"="+bad.path, "", b.admin()), q)
				}
			})
		}
		if n := b.countActions(t, id); n != 0 {
			t.Errorf("%d action rows after refused requests", n)
		}
	})
}
