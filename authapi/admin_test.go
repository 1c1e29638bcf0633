package authapi_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/authapi"
	"github.com/persona-runner/persona-runner/persona"
)

func TestAdminAuth(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, b *bundle) {
		b.mustPersona(t, "persona.anna@mana.test")
		user, err := b.client.Login(b.ctx, "persona.anna@mana.test", "pw-persona.anna@mana.test")
		if err != nil {
			t.Fatal(err)
		}
		forged := foreignToken(t, b, "u-admin", persona.RoleAdmin)
		routes := []struct{ method, path, body string }{
			{"POST", authapi.PathAdminPersona, `{}`},
			{"GET", authapi.PathAdminPersona, ""},
			{"GET", authapi.PathAdminPersona + "/x", ""},
			{"DELETE", authapi.PathAdminPersona + "/x", ""},
			{"POST", authapi.PathAdminSpaces, `{}`},
		}
		for _, rt := range routes {
			name := rt.method + " " + rt.path
			if r := b.do(t, rt.method, rt.path, rt.body); r.status != 401 {
				t.Errorf("%s without token: %d %s", name, r.status, r.body)
			}
			if r := b.do(t, rt.method, rt.path, rt.body, bearerHeader(forged)); r.status != 401 {
				t.Errorf("%s with a forged admin token: %d %s", name, r.status, r.body)
			}
			wantBody(t, b.do(t, rt.method, rt.path, rt.body, bearerHeader(user.AccessToken)), 403,
				`{"error":"Forbidden","message":"admin role required"}`)
		}
		b.clock.Advance(16 * time.Minute)
		if r := b.do(t, "GET", authapi.PathAdminPersona, "", b.admin()); r.status != 401 {
			t.Errorf("expired admin token: %d %s", r.status, r.body)
		}
	})
}

func TestAdminUpsert(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, b *bundle) {
		in := personaInput("persona.maya@mana.test")
		in.TickCadence = persona.Hourly
		in.Timezone = "Europe/Berlin"
		body, _ := json.Marshal(in)
		r := b.do(t, "POST", authapi.PathAdminPersona, string(body), b.admin())
		if r.status != 200 {
			t.Fatalf("upsert: %d %s", r.status, r.body)
		}
		var got authapi.UpsertPersonaResponse
		json.Unmarshal(r.body, &got)
		if !got.OK || got.UserID == "" || got.Email != in.Email || got.Outcome != persona.Created {
			t.Fatalf("upsert = %s", r.body)
		}
		// Re-seeding the same entry changes nothing.
		if res, err := b.client.UpsertPersona(b.ctx, in); err != nil || res.Outcome != persona.Unchanged || res.UserID != got.UserID {
			t.Fatalf("re-upsert = %+v, %v", res, err)
		}
		// A new password takes effect; an omitted cadence keeps the stored one.
		in2 := in
		in2.Password = "a-brand-new-password"
		in2.TickCadence = ""
		in2.Timezone = ""
		if res, err := b.client.UpsertPersona(b.ctx, in2); err != nil || res.Outcome != persona.Updated {
			t.Fatalf("password update = %+v, %v", res, err)
		}
		if _, err := b.client.Login(b.ctx, in.Email, "a-brand-new-password"); err != nil {
			t.Fatalf("login with the new password: %v", err)
		}
		if _, err := b.client.Login(b.ctx, in.Email, in.Password); !errors.Is(err, authapi.ErrUnauthorized) {
			t.Fatalf("login with the old password: %v", err)
		}
		d, err := b.client.GetPersona(b.ctx, got.UserID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Persona.TickCadence != persona.Hourly || d.Persona.Timezone != "Europe/Berlin" {
			t.Fatalf("cadence/timezone after update = %s/%s, want kept", d.Persona.TickCadence, d.Persona.Timezone)
		}

		// Every bad field is listed at once.
		r = b.do(t, "POST", authapi.PathAdminPersona,
			`{"email":"not an email","moduleMix":{},"tickCadence":"yearly","timezone":"Mars/Olympus"}`, b.admin())
		wantValidation(t, r, "email", "password", "archetype", "systemPrompt", "moduleMix", "tickCadence", "timezone")
		wantValidation(t, b.do(t, "POST", authapi.PathAdminPersona, `{"email":"a@b.c","moduleMix":"lots"}`, b.admin()), "moduleMix")
		wantBody(t, b.do(t, "POST", authapi.PathAdminPersona, `{"email":`, b.admin()), 400, `{"error":"Invalid JSON"}`)
		nul := in
		nul.Archetype = "tes\x00ter"
		body2, _ := json.Marshal(nul)
		wantValidation(t, b.do(t, "POST", authapi.PathAdminPersona, string(body2), b.admin()), "archetype")
		r = b.do(t, "POST", authapi.PathAdminPersona, string(body), b.admin(), "Content-Type: text/plain")
		if r.status != 415 {
			t.Fatalf("text/plain: %d %s", r.status, r.body)
		}

		// A human account is never turned into a persona.
		human := personaInput(adminEmail)
		body, _ = json.Marshal(human)
		r = b.do(t, "POST", authapi.PathAdminPersona, string(body), b.admin())
		if m := r.json(t); r.status != 409 || m["error"] != "Conflict" || m["message"] == "" {
			t.Fatalf("upsert over a human: %d %s, want 409", r.status, r.body)
		}
		if _, err := b.client.Login(b.ctx, adminEmail, adminPassword); err != nil {
			t.Fatalf("the human's password changed: %v", err)
		}
		if _, err := b.client.UpsertPersona(b.ctx, human); !errors.Is(err, persona.ErrConflict) {
			t.Fatalf("client upsert over a human: %v, want ErrConflict", err)
		}
	})
}

func TestAdminListGetDelete(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, b *bundle) {
		anna := b.mustPersona(t, "persona.anna@mana.test")
		ben := b.mustPersona(t, "persona.ben@mana.test")
		rows := make([]persona.Action, 25)
		for i := range rows {
			rows[i] = persona.Action{TickID: "t1", ToolName: "todo.create", Result: persona.ResultOK, Seq: i,
				CreatedAt: b.clock.Now().Add(time.Duration(i) * time.Second)}
		}
		if _, err := b.client.PostActions(b.ctx, anna, rows); err != nil {
			t.Fatal(err)
		}
		// An old action is outside the seven-day count.
		old := persona.Action{TickID: "t0", ToolName: "notes.add", Result: persona.ResultError, ErrorMessage: "boom",
			CreatedAt: b.clock.Now().Add(-8 * 24 * time.Hour)}
		if _, err := b.client.PostActions(b.ctx, anna, []persona.Action{old}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.client.PostFeedback(b.ctx, anna, []persona.Feedback{
			{TickID: "t1", Module: "todo", Rating: 4}, {TickID: "t2", Module: "todo", Rating: 5},
			{TickID: "t1", Module: "notes", Rating: 2, Notes: "slow"},
		}); err != nil {
			t.Fatal(err)
		}

		r := b.do(t, "GET", authapi.PathAdminPersona, "", b.admin())
		if r.status != 200 {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
		var raw struct {
			Personas []map[string]any `json:"personas"`
		}
		json.Unmarshal(r.body, &raw)
		if len(raw.Personas) != 2 {
			t.Fatalf("list = %s", r.body)
		}
		for _, k := range []string{"userId", "email", "name", "archetype", "tickCadence", "lastActiveAt", "createdAt", "actions7d"} {
			if _, ok := raw.Personas[0][k]; !ok {
				t.Errorf("list entry lacks %q", k)
			}
		}
		list, err := b.client.ListPersonas(b.ctx)
		if err != nil {
			t.Fatal(err)
		}
		counts := map[string]int{}
		for _, p := range list {
			counts[p.UserID] = p.Actions7d
		}
		if counts[anna] != 25 || counts[ben] != 0 {
			t.Fatalf("actions7d = %v, want anna 25, ben 0", counts)
		}

		r = b.do(t, "GET", authapi.PathAdminPersona+"/"+anna, "", b.admin())
		if r.status != 200 {
			t.Fatalf("get: %d %s", r.status, r.body)
		}
		var detail struct {
			Persona       map[string]any   `json:"persona"`
			RecentActions []map[string]any `json:"recentActions"`
			Feedback      []map[string]any `json:"feedbackByModule"`
		}
		json.Unmarshal(r.body, &detail)
		if detail.Persona["userId"] != anna || detail.Persona["email"] != "persona.anna@mana.test" {
			t.Fatalf("persona = %v", detail.Persona)
		}
		if len(detail.RecentActions) != authapi.RecentActionsLimit {
			t.Fatalf("recentActions has %d rows, want 20", len(detail.RecentActions))
		}
		wantKeys := []string{"id", "tickId", "toolName", "module", "inputHash", "result", "errorMessage", "latencyMs", "seq", "createdAt"}
		if len(detail.RecentActions[0]) != len(wantKeys) {
			t.Errorf("action keys = %v, want exactly %v", detail.RecentActions[0], wantKeys)
		}
		for _, k := range wantKeys {
			if _, ok := detail.RecentActions[0][k]; !ok {
				t.Errorf("action lacks %q", k)
			}
		}
		if detail.RecentActions[0]["seq"] != float64(24) || detail.RecentActions[0]["id"] != "t1-24-todo.create" {
			t.Errorf("newest action = %v, want seq 24 first", detail.RecentActions[0])
		}
		d, err := b.client.GetPersona(b.ctx, anna)
		if err != nil {
			t.Fatal(err)
		}
		want := []persona.ModuleRating{{Module: "notes", AvgRating: 2, Count: 1}, {Module: "todo", AvgRating: 4.5, Count: 2}}
		if fmt.Sprint(d.FeedbackByModule) != fmt.Sprint(want) {
			t.Fatalf("feedbackByModule = %v, want %v", d.FeedbackByModule, want)
		}

		wantBody(t, b.do(t, "GET", authapi.PathAdminPersona+"/nope", "", b.admin()), 404, `{"error":"Persona not found"}`)
		wantBody(t, b.do(t, "DELETE", authapi.PathAdminPersona+"/nope", "", b.admin()), 404, `{"error":"Persona not found"}`)
		admin, err := b.store.UserByEmail(b.ctx, adminEmail)
		if err != nil {
			t.Fatal(err)
		}
		r = b.do(t, "DELETE", authapi.PathAdminPersona+"/"+admin.ID, "", b.admin())
		if m := r.json(t); r.status != 400 || m["error"] != "Not a persona" {
			t.Fatalf("delete a human: %d %s, want 400", r.status, r.body)
		}
		wantBody(t, b.do(t, "DELETE", authapi.PathAdminPersona+"/"+anna, "", b.admin()), 200, `{"ok":true,"userId":"`+anna+`"}`)
		if _, err := b.client.GetPersona(b.ctx, anna); !errors.Is(err, persona.ErrNotFound) {
			t.Fatalf("get after delete: %v", err)
		}
		if _, err := b.client.Login(b.ctx, "persona.anna@mana.test", "pw-persona.anna@mana.test"); !errors.Is(err, authapi.ErrUnauthorized) {
			t.Fatalf("login after delete: %v", err)
		}
		if err := b.client.DeletePersona(b.ctx, ben); err != nil {
			t.Fatal(err)
		}
		if list, err := b.client.ListPersonas(b.ctx); err != nil || len(list) != 0 {
			t.Fatalf("list after deletes = %v, %v", list, err)
		}
		// An empty list is [], not null.
		wantBody(t, b.do(t, "GET", authapi.PathAdminPersona, "", b.admin()), 200, `{"personas":[]}`)
	})
}

func TestAdminSpaces(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, b *bundle) {
		b.mustPersona(t, "persona.anna@mana.test")
		r := b.do(t, "POST", authapi.PathAdminSpaces,
			`{"slug":"berg-family","name":"The Bergs","type":"family","members":["persona.anna@mana.test"]}`, b.admin())
		var got authapi.UpsertSpaceResponse
		json.Unmarshal(r.body, &got)
		if r.status != 200 || !got.OK || got.SpaceID == "" || got.Slug != "berg-family" || got.Outcome != persona.Created {
			t.Fatalf("upsert space: %d %s", r.status, r.body)
		}
		res, err := b.client.UpsertSpace(b.ctx, persona.SpaceInput{Slug: "berg-family", Name: "The Bergs", Type: "family",
			Members: []string{"persona.anna@mana.test"}})
		if err != nil || res.Outcome != persona.Unchanged || res.SpaceID != got.SpaceID {
			t.Fatalf("re-upsert = %+v, %v", res, err)
		}
		wantValidation(t, b.do(t, "POST", authapi.PathAdminSpaces, `{"type":"castle"}`, b.admin()), "slug", "name", "type")
		wantValidation(t, b.do(t, "POST", authapi.PathAdminSpaces, `{"slug":"x","name":"X","type":"personal"}`, b.admin()), "type")
		wantValidation(t, b.do(t, "POST", authapi.PathAdminSpaces,
			`{"slug":"nul","name":"N\u0000","type":"club","members":["persona.anna@mana.test","a\u0000"]}`, b.admin()), "name", "members[1]")
		r = b.do(t, "POST", authapi.PathAdminSpaces,
			`{"slug":"club","name":"Club","type":"club","members":["ghost@mana.test"]}`, b.admin())
		if r.status != http.StatusBadRequest || r.json(t)["error"] != "ValidationError" {
			t.Fatalf("unknown member: %d %s", r.status, r.body)
		}
		r = b.do(t, "POST", authapi.PathAdminSpaces, `{"slug":"persona-anna","name":"Mine","type":"team","members":["persona.anna@mana.test"]}`, b.admin())
		if r.status != http.StatusConflict {
			t.Fatalf("slug of a personal space: %d %s, want 409", r.status, r.body)
		}
	})
}
