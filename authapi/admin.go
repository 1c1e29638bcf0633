package authapi

import (
	"fmt"
	"net/http"
	"time"

	"github.com/persona-runner/persona-runner/httpjson"
	"github.com/persona-runner/persona-runner/persona"
)

// RecentActionsLimit is how many actions the persona detail shows.
const RecentActionsLimit = 20

// handleAdminUpsert creates or updates a persona by email. Unknown fields are ignored here (not
// on internal routes) so the entries of Mana's catalog.json can be posted as they are.
func (s *Server) handleAdminUpsert(w http.ResponseWriter, r *http.Request) {
	var in persona.PersonaInput
	if derr := decodeBody(r, &in, false); derr != nil {
		writeDecodeError(w, derr)
		return
	}
	if err := in.Validate(); err != nil {
		writeValidation(w, detailsOf(err))
		return
	}
	id, outcome, err := s.store.UpsertPersona(r.Context(), in)
	if err != nil {
		s.writeStoreError(w, r, "upsert persona", err)
		return
	}
	httpjson.Write(w, http.StatusOK, UpsertPersonaResponse{OK: true, UserID: id, Email: in.Email, Outcome: outcome})
}

// handleAdminUpsertSpace creates or updates a shared space by slug (our extension, so a catalog
// can be seeded over HTTP completely).
func (s *Server) handleAdminUpsertSpace(w http.ResponseWriter, r *http.Request) {
	var in persona.SpaceInput
	if derr := decodeBody(r, &in, false); derr != nil {
		writeDecodeError(w, derr)
		return
	}
	var es persona.FieldErrors
	if in.Slug == "" {
		es.Add("slug", "is required")
	}
	if in.Name == "" {
		es.Add("name", "is required")
	}
	if in.Type == persona.SpacePersonal {
		es.Add("type", "personal spaces are created with their user, not here")
	} else if !in.Type.Valid() {
		es.Add("type", "must be one of brand, club, family, team, practice (got %q)", in.Type)
	}
	// Text the stores cannot keep alike (NUL) is refused here, as persona validation refuses it
	// in the other admin and internal routes.
	for i, m := range in.Members {
		es.Text(fmt.Sprintf("members[%d]", i), m)
	}
	es.Text("slug", in.Slug)
	es.Text("name", in.Name)
	if err := es.Err(); err != nil {
		writeValidation(w, detailsOf(err))
		return
	}
	id, outcome, err := s.store.UpsertSpace(r.Context(), in)
	if err != nil {
		s.writeStoreError(w, r, "upsert space", err)
		return
	}
	httpjson.Write(w, http.StatusOK, UpsertSpaceResponse{OK: true, SpaceID: id, Slug: in.Slug, Outcome: outcome})
}

// handleAdminList lists personas with their action count of the last seven days.
func (s *Server) handleAdminList(w http.ResponseWriter, r *http.Request) {
	list, err := s.store.ListPersonas(r.Context(), s.now().Add(-7*24*time.Hour))
	if err != nil {
		s.writeStoreError(w, r, "list personas", err)
		return
	}
	if list == nil {
		list = []persona.PersonaSummary{}
	}
	httpjson.Write(w, http.StatusOK, PersonaList{Personas: list})
}

// handleAdminGet shows one persona with its newest actions and its ratings per module.
func (s *Server) handleAdminGet(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	p, err := s.store.Persona(ctx, id)
	if err != nil {
		s.writeStoreError(w, r, "get persona", err)
		return
	}
	actions, err := s.store.RecentActions(ctx, id, RecentActionsLimit)
	if err != nil {
		s.writeStoreError(w, r, "recent actions", err)
		return
	}
	ratings, err := s.store.FeedbackByModule(ctx, id)
	if err != nil {
		s.writeStoreError(w, r, "feedback by module", err)
		return
	}
	out := PersonaDetail{
		Persona:          personaView(p),
		RecentActions:    make([]ActionView, len(actions)),
		FeedbackByModule: ratings,
	}
	for i, a := range actions {
		out.RecentActions[i] = actionView(a)
	}
	if out.FeedbackByModule == nil {
		out.FeedbackByModule = []persona.ModuleRating{}
	}
	httpjson.Write(w, http.StatusOK, out)
}

// handleAdminDelete deletes a persona's user and everything of theirs.
func (s *Server) handleAdminDelete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.store.DeletePersona(r.Context(), id); err != nil {
		s.writeStoreError(w, r, "delete persona", err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"ok": true, "userId": id})
}
