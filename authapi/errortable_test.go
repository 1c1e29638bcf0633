package authapi_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/persona-runner/persona-runner/authapi"
	"github.com/persona-runner/persona-runner/persona"
)

// TestClientErrorsMatchTheServersTable checks the error table both ways through a real server
// and client: each answer the server gives for an error of the vocabulary comes back as that
// error, and as no other — a validation error is not "not a persona", and the reverse is both
// (not a persona is invalid input).
func TestClientErrorsMatchTheServersTable(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite")
	vocabulary := []error{persona.ErrNotFound, persona.ErrConflict, persona.ErrInvalid, persona.ErrNotPersona,
		authapi.ErrUnauthorized, authapi.ErrForbidden, authapi.ErrLocked}
	anna := b.mustPersona(t, "persona.anna@mana.test")
	admin, _, err := b.store.UpsertUser(b.ctx, persona.UserInput{Email: "ops2@mana.test", Name: "Ops 2", Password: "pw-ops-2", Role: persona.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	user, _, err := b.store.UpsertUser(b.ctx, persona.UserInput{Email: "user@mana.test", Name: "User", Password: "pw-user-1"})
	if err != nil {
		t.Fatal(err)
	}
	login, err := b.client.Login(b.ctx, "user@mana.test", "pw-user-1")
	if err != nil {
		t.Fatal(err)
	}
	notAdmin := authapi.NewClient(b.url, b.hc)
	notAdmin.AdminToken = login.AccessToken
	noKey := authapi.NewClient(b.url, b.hc)
	invalid := personaInput("persona.bad@mana.test")
	invalid.SystemPrompt = "short"
	// 19 characters in 38 bytes: short by the rule's measure (characters, as the catalog counts).
	shortInBytes := personaInput("persona.umlaut@mana.test")
	shortInBytes.SystemPrompt = strings.Repeat("ü", 19)

	tests := []struct {
		name string
		call func() error
		want []error
	}{
		{"unknown persona", func() error { _, err := b.client.GetPersona(b.ctx, "no-such-id"); return err }, []error{persona.ErrNotFound}},
		{"invalid persona", func() error { _, err := b.client.UpsertPersona(b.ctx, invalid); return err }, []error{persona.ErrInvalid}},
		{"a prompt of 19 characters in 38 bytes", func() error { _, err := b.client.UpsertPersona(b.ctx, shortInBytes); return err }, []error{persona.ErrInvalid}},
		{"an account that is not a persona", func() error { return b.client.DeletePersona(b.ctx, user.ID) }, []error{persona.ErrNotPersona, persona.ErrInvalid}},
		{"another admin is not a persona either", func() error { return b.client.DeletePersona(b.ctx, admin.ID) }, []error{persona.ErrNotPersona, persona.ErrInvalid}},
		{"a persona over an account that is not one", func() error {
			_, err := b.client.UpsertPersona(b.ctx, personaInput("user@mana.test"))
			return err
		}, []error{persona.ErrConflict}},
		{"no service key", func() error { _, _, err := noKey.Due(b.ctx, 0); return err }, []error{authapi.ErrUnauthorized}},
		{"not an admin", func() error { _, err := notAdmin.GetPersona(b.ctx, anna); return err }, []error{authapi.ErrForbidden}},
	}
	for _, tt := range tests {
		err := tt.call()
		var ae *authapi.Error
		if !errors.As(err, &ae) {
			t.Fatalf("%s: want an *authapi.Error, got %v", tt.name, err)
		}
		for _, v := range vocabulary {
			want := false
			for _, w := range tt.want {
				want = want || w == v
			}
			if got := errors.Is(err, v); got != want {
				t.Errorf("%s: errors.Is(%q, %v) = %v, want %v", tt.name, err, v, got, want)
			}
		}
	}
}
