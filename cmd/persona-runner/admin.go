package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/persona-runner/persona-runner/authapi"
	"github.com/persona-runner/persona-runner/jwtauth"
	"github.com/persona-runner/persona-runner/persona"
)

// AdminCmd manages operator accounts: people with the admin role who use the admin API.
type AdminCmd struct {
	Create AdminCreateCmd `cmd:"" help:"Create an operator (a human with the admin role) or reset its password."`
	Token  AdminTokenCmd  `cmd:"" help:"Print a fresh access token (15 minutes) for an account, signed with the stored key."`
}

// AdminCreateCmd creates or resets an operator account.
type AdminCreateCmd struct {
	StoreFlags `embed:""`
	Email      string `arg:"" help:"The operator's email."`
	Name       string `name:"name" help:"Display name (default: the email's local part)."`
	Password   string `name:"password" help:"Password (at most 72 bytes; default: a generated one, printed once)."`
}

// minOperatorPassword is the shortest password an operator may choose: operators are people,
// and their accounts can read every persona's data.
const minOperatorPassword = 12

// Run upserts the operator and prints what it did (and a generated password).
func (c *AdminCreateCmd) Run(env *Env) error {
	if err := persona.ValidateEmail(c.Email); err != nil {
		return fmt.Errorf("admin create: %w", err)
	}
	name := c.Name
	if name == "" {
		name, _, _ = strings.Cut(c.Email, "@")
	}
	password, generated := c.Password, false
	if password != "" && utf8.RuneCountInString(password) < minOperatorPassword {
		return usageError{fmt.Errorf("admin create: --password: must be at least %d characters (leave it out to get a generated one)", minOperatorPassword)}
	}
	if password == "" {
		password, generated = rand.Text(), true
	}
	db, err := c.StoreFlags.Open(env.Ctx, env)
	if err != nil {
		return err
	}
	defer db.Close()
	u, outcome, err := db.UpsertUser(env.Ctx, persona.UserInput{
		Email: c.Email, Name: name, Password: password, Role: persona.RoleAdmin, Kind: persona.KindHuman,
	})
	if errors.Is(err, persona.ErrConflict) {
		return fmt.Errorf("admin create: %s belongs to an account that is not a human (a persona or system account); operators must be people: %w", c.Email, err)
	}
	if err != nil {
		return fmt.Errorf("admin create %s: %w", c.Email, err)
	}
	fmt.Fprintf(env.Stdout, "operator %s %s (id %s, role admin)\n", u.Email, outcome, u.ID)
	if generated {
		fmt.Fprintf(env.Stdout, "password: %s\n", password)
	}
	return nil
}

// AdminTokenCmd prints an access token for an account.
type AdminTokenCmd struct {
	StoreFlags `embed:""`
	Email      string `arg:"" help:"The account's email."`
	Issuer     string `name:"issuer" placeholder:"URL" help:"The auth service's public base URL, the token's iss (default AUTH_PUBLIC_URL, else http://localhost:3001)."`
}

// Run signs and prints the token, nothing else, so it can be captured: JWT=$(persona-runner admin token …).
func (c *AdminTokenCmd) Run(env *Env) error {
	issuer := c.Issuer
	if issuer == "" {
		issuer = env.Getenv("AUTH_PUBLIC_URL")
	}
	if issuer == "" {
		issuer = fmt.Sprintf("http://localhost:%d", defaultAuthPort)
	}
	db, err := c.StoreFlags.Open(env.Ctx, env)
	if err != nil {
		return err
	}
	defer db.Close()
	u, err := db.UserByEmail(env.Ctx, c.Email)
	if errors.Is(err, persona.ErrNotFound) {
		return fmt.Errorf("admin token: no account with email %s (create one with: persona-runner admin create %s)", c.Email, c.Email)
	}
	if err != nil {
		return fmt.Errorf("admin token %s: %w", c.Email, err)
	}
	key, err := authapi.EnsureKey(env.Ctx, db)
	if err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	iss, err := jwtauth.NewIssuer(key, strings.TrimRight(issuer, "/"))
	if err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	tok, _, err := iss.Issue(u, "")
	if err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	if u.Role != persona.RoleAdmin {
		fmt.Fprintf(env.Stderr, "note: %s has role %s, so this token cannot use the admin API\n", u.Email, u.Role)
	}
	_, err = fmt.Fprintln(env.Stdout, tok)
	return err
}
