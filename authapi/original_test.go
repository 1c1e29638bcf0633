package authapi_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/persona-runner/persona-runner/authapi"
	"github.com/persona-runner/persona-runner/persona"
)

// The original TypeScript runner posts action rows with neither seq nor module nor latencyMs,
// names tools as the Claude Agent SDK reports them (mcp__<server>__<tool>), and never posts tick
// records. These tests post exactly its payloads (SPEC §4) and check what is kept.

const originalTick = "7b0c2d5e-8f41-4a53-9d6e-2c1f0a9b8e77"

// originalActions is one tick of the original runner: todo.create called twice, a failing
// notes.create, and a tool the app's tool list does not have.
const originalActions = `{"actions":[
	{"tickId":"` + originalTick + `","toolName":"mcp__mana__todo_create","inputHash":"3f2a9c1d0b8e7f65","result":"ok"},
	{"tickId":"` + originalTick + `","toolName":"mcp__mana__todo_create","inputHash":"91aa0c7d2e4b5f10","result":"ok"},
	{"tickId":"` + originalTick + `","toolName":"mcp__mana__notes_create","inputHash":"0c1d2e3f40516273","result":"error","errorMessage":"title: is required"},
	{"tickId":"` + originalTick + `","toolName":"mcp__mana__weather_lookup","inputHash":"aabbccddeeff0011","result":"ok"}]}`

func TestOriginalRunnerActions(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, b *bundle) {
		id := b.mustPersona(t, "persona.anna@mana.test")
		other := b.mustPersona(t, "persona.ben@mana.test")
		path := authapi.PathInternal + "/" + id + "/actions"
		if due := b.dueIDs(t); !due[id] || !due[other] {
			t.Fatalf("due before = %v, want both personas", due)
		}

		wantBody(t, b.do(t, "POST", path, originalActions, b.svc()), 200, `{"ok":true,"written":4,"duplicates":0}`)
		// The original retries a batch as it is: nothing is written twice.
		wantBody(t, b.do(t, "POST", path, originalActions, b.svc()), 200, `{"ok":true,"written":0,"duplicates":4}`)

		rows, err := b.store.Actions(b.ctx, persona.ActionQuery{PersonaID: id})
		if err != nil {
			t.Fatal(err)
		}
		type row struct {
			ID, Tool, Module string
			Seq              int
			Result           persona.Result
			Latency          *int64
		}
		var got []row
		for _, a := range rows {
			got = append(got, row{a.ID, a.ToolName, a.Module, a.Seq, a.Result, a.LatencyMs})
		}
		want := []row{
			{originalTick + "-0-mcp__mana__todo_create", "todo.create", "todo", 0, persona.ResultOK, nil},
			{originalTick + "-1-mcp__mana__todo_create", "todo.create", "todo", 1, persona.ResultOK, nil},
			{originalTick + "-2-mcp__mana__notes_create", "notes.create", "notes", 2, persona.ResultError, nil},
			{originalTick + "-3-mcp__mana__weather_lookup", "mcp__mana__weather_lookup", "weather", 3, persona.ResultOK, nil},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("stored rows (-want +got):\n%s", diff)
		}

		// The accepted POST marked the persona active: it is no longer due, the other one is.
		if due := b.dueIDs(t); due[id] || !due[other] {
			t.Errorf("due after the POST = %v, want only %s", due, other)
		}
		detail := b.do(t, "GET", authapi.PathAdminPersona+"/"+id, "", b.admin()).json(t)
		if p := detail["persona"].(map[string]any); p["lastActiveAt"] != b.clock.Now().Format("2006-01-02T15:04:05Z07:00") {
			t.Errorf("lastActiveAt = %v, want the POST's time %v", p["lastActiveAt"], b.clock.Now())
		}
		for _, a := range detail["recentActions"].([]any) {
			if v, ok := a.(map[string]any)["latencyMs"]; !ok || v != nil {
				t.Errorf("recent action latencyMs = %v (present %v), want null", v, ok)
			}
		}

		// Coverage and failing tools count the rows under the app's tool names.
		b.clock.Advance(time.Minute)
		rep, err := b.client.Report(b.ctx, "7d", "", "")
		if err != nil {
			t.Fatal(err)
		}
		if rep.Runs.ToolCalls != 4 || rep.Runs.Errors != 1 {
			t.Errorf("report calls %d errors %d, want 4, 1", rep.Runs.ToolCalls, rep.Runs.Errors)
		}
		if len(rep.FailingTools) != 1 || rep.FailingTools[0].Tool != "notes.create" || rep.FailingTools[0].Module != "notes" {
			t.Errorf("failing tools = %+v, want notes.create", rep.FailingTools)
		}
		for _, never := range rep.Coverage.NeverUsed {
			if never == "todo.create" || never == "notes.create" {
				t.Errorf("coverage lists %s as never used", never)
			}
		}
	})
}

// TestActionsSeq: a present seq keeps its meaning; rows without seq take their index in the batch,
// also when mixed with rows that have one.
func TestActionsSeq(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, b *bundle) {
		id := b.mustPersona(t, "persona.seq@mana.test")
		path := authapi.PathInternal + "/" + id + "/actions"
		body := `{"actions":[
			{"tickId":"s1","toolName":"todo.create","result":"ok","seq":7,"latencyMs":0},
			{"tickId":"s1","toolName":"todo.create","result":"ok","seq":null},
			{"tickId":"s1","toolName":"todo.create","result":"ok"}]}`
		wantBody(t, b.do(t, "POST", path, body, b.svc()), 200, `{"ok":true,"written":3,"duplicates":0}`)
		rows, err := b.store.Actions(b.ctx, persona.ActionQuery{PersonaID: id})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]*int64{}
		for _, a := range rows {
			got[a.ID] = a.LatencyMs
		}
		for _, want := range []string{"s1-7-todo.create", "s1-1-todo.create", "s1-2-todo.create"} {
			if _, ok := got[want]; !ok {
				t.Errorf("no row %s in %v", want, got)
			}
		}
		if l := got["s1-7-todo.create"]; l == nil || *l != 0 {
			t.Errorf("a measured 0 ms latency was stored as %v", l)
		}
		wantValidation(t, b.do(t, "POST", path, `{"actions":[{"tickId":"s2","toolName":"x","result":"ok","seq":-1}]}`, b.svc()), "actions[0].seq")
		wantValidation(t, b.do(t, "POST", path, `{"actions":[{"tickId":"s2","toolName":"x","result":"ok","latencyMs":-5}]}`, b.svc()), "actions[0].latencyMs")
	})
}

// TestActionsLeasedPersonaKeepsTickSchedule: rows posted for a persona a runner claimed leave its
// schedule to the tick record, as runs through ticks always did.
func TestActionsLeasedPersonaKeepsTickSchedule(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, b *bundle) {
		id := b.mustPersona(t, "persona.claimed@mana.test")
		claimed, err := b.client.Claim(b.ctx, "runner-a", 10, 10*time.Minute)
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim = %v, %v", claimed, err)
		}
		wantBody(t, b.do(t, "POST", authapi.PathInternal+"/"+id+"/actions", originalActions, b.svc()), 200, `{"ok":true,"written":4,"duplicates":0}`)
		p, err := b.store.Persona(b.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if p.LastActiveAt != nil {
			t.Errorf("a leased persona's rows set last_active_at to %v", p.LastActiveAt)
		}
	})
}

// dueIDs is the set of persona ids of GET …/due.
func (b *bundle) dueIDs(t testing.TB) map[string]bool {
	t.Helper()
	r := b.do(t, "GET", authapi.PathInternal+"/due", "", b.svc())
	if r.status != 200 {
		t.Fatalf("due: %d %s", r.status, r.body)
	}
	out := map[string]bool{}
	for _, p := range r.json(t)["personas"].([]any) {
		out[p.(map[string]any)["userId"].(string)] = true
	}
	return out
}

// TestClientAcceptsTheOriginalsBatchAnswers (16.4): the original server answers {ok, written}
// without duplicates; the client takes that as accepted, also for a replay it counts as 0
// written, and alarms only when a server's own counts leave rows unaccounted for.
func TestClientAcceptsTheOriginalsBatchAnswers(t *testing.T) {
	t.Parallel()
	eachCompatStore(t, func(t *testing.T, b *bundle) {
		id := b.mustPersona(t, "persona.compat@mana.test")
		rows := []persona.Action{
			{TickID: "c1", ToolName: "todo.create", Result: persona.ResultOK, Seq: 0},
			{TickID: "c1", ToolName: "todo.create", Result: persona.ResultOK, Seq: 1},
		}
		for range 2 {
			res, err := b.client.PostActions(b.ctx, id, rows)
			if err != nil || !res.OK || res.Written+res.Duplicates != 2 {
				t.Fatalf("PostActions against the original's shapes = %+v, %v", res, err)
			}
		}
		res, err := b.client.PostFeedback(b.ctx, id, []persona.Feedback{{TickID: "c1", Module: "todo", Rating: 4}})
		if err != nil || res.Written != 1 {
			t.Fatalf("PostFeedback against the original's shapes = %+v, %v", res, err)
		}
	})
	for _, tc := range []struct{ answer, wantErr string }{
		{`{"ok":true,"written":2}`, ""},
		{`{"ok":true,"written":0}`, ""}, // a replay, as the original counts it
		{`{"ok":true,"written":1,"duplicates":1}`, ""},
		{`{"ok":true,"written":1,"duplicates":0}`, "accounted for 1 of 2 rows"},
		{`{"ok":false,"written":0}`, "ok: false"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, tc.answer)
		}))
		cl := authapi.NewClient(srv.URL, srv.Client())
		cl.ServiceKey = serviceKey
		_, err := cl.PostActions(context.Background(), "p", []persona.Action{
			{TickID: "c", ToolName: "a.b", Result: persona.ResultOK}, {TickID: "c", ToolName: "a.b", Result: persona.ResultOK, Seq: 1}})
		srv.Close()
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("answer %s: error %v, want %q", tc.answer, err, tc.wantErr)
		}
	}
}

// TestMintToken (14.6): the service-key route mints a live persona's access token without its
// password, and refuses a wrong key, an account that is not a persona and a deleted persona.
func TestMintToken(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, b *bundle) {
		id := b.mustPersona(t, "persona.mint@mana.test")
		path := authapi.PathInternal + "/" + id + "/token"
		r := b.do(t, "POST", path, "{}", b.svc())
		if r.status != 200 {
			t.Fatalf("mint: %d %s", r.status, r.body)
		}
		tok, _ := r.json(t)["accessToken"].(string)
		// The token works where a login's does: the persona's spaces.
		spaces, err := b.client.Spaces(b.ctx, tok)
		if err != nil || len(spaces) == 0 {
			t.Fatalf("spaces with a minted token = %v, %v", spaces, err)
		}
		if res, err := b.client.MintToken(b.ctx, id); err != nil || res.UserID != id || !res.ExpiresAt.After(b.clock.Now()) {
			t.Errorf("client MintToken = %+v, %v", res, err)
		}

		wantStatus := func(what string, r response, status int) {
			t.Helper()
			if r.status != status {
				t.Errorf("%s: status %d, want %d; %s", what, r.status, status, r.body)
			}
			if bytes := string(r.body); strings.Contains(bytes, "accessToken") {
				t.Errorf("%s: a refusal carries a token: %s", what, bytes)
			}
		}
		wantStatus("no key", b.do(t, "POST", path, "{}"), 401)
		wantStatus("wrong key", b.do(t, "POST", path, "{}", "X-Service-Key: "+serviceKey+"x"), 401)
		admin, err := b.store.UserByEmail(b.ctx, adminEmail)
		if err != nil {
			t.Fatal(err)
		}
		wantStatus("not a persona", b.do(t, "POST", authapi.PathInternal+"/"+admin.ID+"/token", "{}", b.svc()), 404)
		wantStatus("unknown", b.do(t, "POST", authapi.PathInternal+"/no-such-id/token", "{}", b.svc()), 404)
		if err := b.store.DeletePersona(b.ctx, id); err != nil {
			t.Fatal(err)
		}
		wantStatus("deleted", b.do(t, "POST", path, "{}", b.svc()), 404)
	})
}
