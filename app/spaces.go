package app

import (
	"context"
	"fmt"
)

type spacesListInput struct{}

type spacesListAllInput struct {
	Limit int `json:"limit,omitempty" jsonschema:"Maximum number of spaces to return." schema:"minimum=1,maximum=1000,default=100"`
}

type spaceItem struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Slug    string `json:"slug"`
	Type    string `json:"type"`
	Current bool   `json:"current"`
}

type spacesModule struct{ *deps }

func spacesTools(d *deps) []*tool {
	m := spacesModule{d}
	return []*tool{
		define("spaces.list", "List the spaces you belong to (your personal space first) and which one you are working in now. Everything you create goes into the current space.",
			ScopeUserSpace, PolicyRead, m.list),
		// listAll is an administrator's tool: it stays in the registry to show the policy at work,
		// and the gateway never lists it nor lets anyone call it.
		define("spaces.listAll", "List every space of every user (administrators only).",
			ScopeAdmin, PolicyRead, m.listAll),
	}
}

func (m spacesModule) list(ctx context.Context, _ spacesListInput) (any, error) {
	c, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	spaces, err := m.store.SpacesOfUser(ctx, c.UserID)
	if err != nil {
		return nil, fmt.Errorf("list spaces: %w", err)
	}
	out := make([]spaceItem, 0, len(spaces))
	for _, s := range spaces {
		out = append(out, spaceItem{ID: s.ID, Name: s.Name, Slug: s.Slug, Type: string(s.Type), Current: s.ID == c.SpaceID})
	}
	return map[string]any{"spaces": out, "currentSpaceId": c.SpaceID}, nil
}

func (m spacesModule) listAll(ctx context.Context, in spacesListAllInput) (any, error) {
	spaces, err := m.store.AllSpaces(ctx, in.Limit)
	if err != nil {
		return nil, fmt.Errorf("list all spaces: %w", err)
	}
	out := make([]spaceItem, 0, len(spaces))
	for _, s := range spaces {
		out = append(out, spaceItem{ID: s.ID, Name: s.Name, Slug: s.Slug, Type: string(s.Type)})
	}
	return map[string]any{"spaces": out, "count": len(out)}, nil
}
