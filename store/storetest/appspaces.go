package storetest

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/persona-runner/persona-runner/persona"
)

// appSpaceTests hold the store to what the demo app asks about spaces beyond membership (the
// app's Store interface; before issue 12.2 the app read and wrote the store's spaces table with
// SQL of its own).
var appSpaceTests = []suiteTest{
	{"AppSpaces/ListGetAdd", testAppSpaces},
}

// appSpaces is the part of a store the demo app uses for spaces beyond membership.
type appSpaces interface {
	AllSpaces(ctx context.Context, limit int) ([]persona.Space, error)
	Space(ctx context.Context, id string) (persona.Space, error)
	AddSpace(ctx context.Context, s persona.Space) (bool, error)
}

func testAppSpaces(e *env) {
	s, ok := e.s.(appSpaces)
	if !ok {
		e.t.Fatalf("%T does not implement AllSpaces, Space and AddSpace", e.s)
	}
	id := e.upsert(input("zoe@example.com"))
	e.upsert(input("adam@example.com"))
	if _, _, err := e.s.UpsertSpace(e.ctx, persona.SpaceInput{Slug: "m-team", Name: "M", Type: persona.SpaceTeam,
		Members: []string{"zoe@example.com"}}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := s.Space(e.ctx, "no-such-space"); !errors.Is(err, persona.ErrNotFound) {
		e.t.Errorf("Space(unknown) = %v, want ErrNotFound", err)
	}
	e.clock.Advance(time.Hour)
	added, err := s.AddSpace(e.ctx, persona.Space{ID: "issuer-space-1", Name: "From the issuer", Slug: "issuer-abc", Type: persona.SpaceTeam})
	if err != nil || !added {
		e.t.Fatalf("AddSpace = %v, %v; want added", added, err)
	}
	got, err := s.Space(e.ctx, "issuer-space-1")
	want := persona.Space{ID: "issuer-space-1", Name: "From the issuer", Slug: "issuer-abc", Type: persona.SpaceTeam, CreatedAt: e.clock.Now()}
	if err != nil || got != want {
		e.t.Errorf("Space = %+v, %v; want %+v", got, err, want)
	}
	// A taken id or slug adds nothing and changes nothing.
	for _, again := range []persona.Space{
		{ID: "issuer-space-1", Name: "Other", Slug: "issuer-other", Type: persona.SpaceTeam},
		{ID: "issuer-space-2", Name: "Other", Slug: "issuer-abc", Type: persona.SpaceTeam},
	} {
		if added, err := s.AddSpace(e.ctx, again); err != nil || added {
			e.t.Errorf("AddSpace(%+v) again = %v, %v; want not added", again, added, err)
		}
	}
	if got, err := s.Space(e.ctx, "issuer-space-1"); err != nil || got != want {
		e.t.Errorf("after the second AddSpace, Space = %+v, %v; want %+v", got, err, want)
	}
	if _, err := s.Space(e.ctx, "issuer-space-2"); !errors.Is(err, persona.ErrNotFound) {
		e.t.Errorf("Space(issuer-space-2) = %v, want ErrNotFound: its slug was taken", err)
	}
	// A space added so has no members.
	if ok, err := e.s.IsMember(e.ctx, "issuer-space-1", id); err != nil || ok {
		e.t.Errorf("IsMember(added space) = %v, %v; want false", ok, err)
	}

	all, err := s.AllSpaces(e.ctx, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	var slugs []string
	for _, sp := range all {
		slugs = append(slugs, sp.Slug)
	}
	if !slices.IsSorted(slugs) || len(slugs) != 4 || !slices.Contains(slugs, "m-team") || !slices.Contains(slugs, "issuer-abc") {
		e.t.Errorf("AllSpaces slugs = %q; want the two personal spaces, m-team and issuer-abc, by slug", slugs)
	}
	two, err := s.AllSpaces(e.ctx, 2)
	if err != nil || len(two) != 2 || two[0] != all[0] || two[1] != all[1] {
		e.t.Errorf("AllSpaces(2) = %+v, %v; want the first two of %+v", two, err, all)
	}
}
