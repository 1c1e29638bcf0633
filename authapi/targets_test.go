package authapi_test

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/authapi"
	"github.com/persona-runner/persona-runner/persona"
)

// TestPersonaOfAnotherTarget: a persona seeded through the admin API with its target, its
// secret references and no login keeps the target and the references for the runner that claims
// it (the internal claim and due routes), and has no usable password: login refuses it like
// wrong credentials, whatever password is tried, and no token is minted for it.
func TestPersonaOfAnotherTarget(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, b *bundle) {
		in := personaInput("anna@kitchen.example")
		in.Password, in.NoLogin, in.Target = "", true, "kitchen"
		in.Secrets = map[string]persona.SecretRef{"token": {Env: "ANNA_TOKEN"}}
		res, err := b.client.UpsertPersona(b.ctx, in)
		if err != nil || res.Outcome != persona.Created {
			t.Fatalf("upsert = %+v, %v", res, err)
		}
		for _, pw := range []string{"pw-anna@kitchen.example", "x"} {
			wantBody(t, b.do(t, "POST", authapi.PathLogin, `{"email":"anna@kitchen.example","password":"`+pw+`"}`),
				401, `{"error":"INVALID_CREDENTIALS","message":"Invalid email or password","status":401}`)
		}
		r := b.do(t, "POST", authapi.PathInternal+"/"+res.UserID+"/token", "", "X-Service-Key: "+serviceKey)
		if r.status != http.StatusConflict || !strings.Contains(string(r.body), "has no login") {
			t.Errorf("mint for a persona without login: %d %s", r.status, r.body)
		}

		due, _, err := b.client.Due(b.ctx, 0)
		if err != nil || len(due) != 1 || due[0].Target != "kitchen" || !reflect.DeepEqual(due[0].Secrets, in.Secrets) {
			t.Errorf("due = %+v, %v", due, err)
		}
		claimed, err := b.client.Claim(b.ctx, "r1", 10, time.Minute)
		if err != nil || len(claimed) != 1 || claimed[0].Target != "kitchen" || !reflect.DeepEqual(claimed[0].Secrets, in.Secrets) {
			t.Errorf("claim = %+v, %v", claimed, err)
		}

		// A password with noLogin is refused naming the field, and changes nothing.
		bad := personaInput("ben@kitchen.example")
		bad.NoLogin = true
		if _, err := b.client.UpsertPersona(b.ctx, bad); err == nil || !strings.Contains(err.Error(), "password") {
			t.Errorf("noLogin with a password: %v", err)
		}
		if _, err := b.store.UserByEmail(b.ctx, bad.Email); err == nil {
			t.Error("a refused persona was stored")
		}
	})
}
