package authapi_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/authapi"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store/storetest"
)

const badKeyBody = `{"statusCode":401,"message":"Invalid or missing service key"}`

func TestServiceKey(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, b *bundle) {
		id := b.mustPersona(t, "persona.anna@mana.test")
		routes := []struct{ method, path, body string }{
			{"GET", authapi.PathInternal + "/due", ""},
			{"POST", authapi.PathInternal + "/claim", `{"runnerId":"r1"}`},
			{"POST", authapi.PathInternal + "/" + id + "/actions", actionsBody("t1", 1)},
			{"POST", authapi.PathInternal + "/" + id + "/feedback", `{"feedback":[{"tickId":"t1","module":"todo","rating":4}]}`},
			{"POST", authapi.PathInternal + "/" + id + "/ticks", `{"tickId":"t1","status":"running"}`},
			{"GET", authapi.PathInternal + "/" + id + "/history", ""},
		}
		for _, rt := range routes {
			wantBody(t, b.do(t, rt.method, rt.path, rt.body), 401, badKeyBody)
			wantBody(t, b.do(t, rt.method, rt.path, rt.body, "X-Service-Key: "+serviceKey+"x"), 401, badKeyBody)
			wantBody(t, b.do(t, rt.method, rt.path, rt.body, "X-Service-Key: "+serviceKey[:10]), 401, badKeyBody)
			// An admin token is no service key.
			wantBody(t, b.do(t, rt.method, rt.path, rt.body, b.admin()), 401, badKeyBody)
		}
		// Nothing was written by the refused requests.
		if n := b.countActions(t, id); n != 0 {
			t.Fatalf("refused requests wrote %d actions", n)
		}
	})
}

func TestServiceKeyRequired(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock(storetest.Start)
	// A server without a configured key refuses every internal request, an empty header included.
	b := serve(t, newStore(t, "sqlite", clock), clock, "", "")
	wantBody(t, b.do(t, "GET", authapi.PathInternal+"/due", ""), 401, badKeyBody)
	wantBody(t, b.do(t, "GET", authapi.PathInternal+"/due", "", "X-Service-Key: "), 401, badKeyBody)
}

func TestDueAndClaim(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, b *bundle) {
		anna := b.mustPersona(t, "persona.anna@mana.test")
		ben := b.mustPersona(t, "persona.ben@mana.test")
		r := b.do(t, "GET", authapi.PathInternal+"/due", "", b.svc())
		if r.status != 200 {
			t.Fatalf("due: %d %s", r.status, r.body)
		}
		var raw struct {
			Personas   []map[string]any `json:"personas"`
			ServerTime string           `json:"serverTime"`
		}
		json.Unmarshal(r.body, &raw)
		if len(raw.Personas) != 2 || raw.ServerTime == "" {
			t.Fatalf("due = %s", r.body)
		}
		for _, k := range []string{"userId", "email", "archetype", "systemPrompt", "moduleMix", "tickCadence", "lastActiveAt", "personalSpaceId"} {
			if _, ok := raw.Personas[0][k]; !ok {
				t.Errorf("due persona lacks %q", k)
			}
		}
		if _, ok := raw.Personas[0]["leaseExpiresAt"]; ok {
			t.Errorf("due persona has leaseExpiresAt (claim only)")
		}
		due, at, err := b.client.Due(b.ctx, 1)
		if err != nil || len(due) != 1 || !at.Equal(b.clock.Now()) {
			t.Fatalf("Due(limit 1) = %v, %v, %v", due, at, err)
		}
		spaces, err := b.store.SpacesOfUser(b.ctx, due[0].UserID)
		if err != nil || due[0].PersonalSpaceID != spaces[0].ID {
			t.Fatalf("personalSpaceId = %q, spaces %v, %v", due[0].PersonalSpaceID, spaces, err)
		}

		got, err := b.client.Claim(b.ctx, "runner-1", 1, 10*time.Minute)
		if err != nil || len(got) != 1 || got[0].LeaseExpiresAt == nil || !got[0].LeaseExpiresAt.Equal(b.clock.Now().Add(10*time.Minute)) {
			t.Fatalf("Claim = %+v, %v", got, err)
		}
		claimed := got[0].UserID
		// The claimed persona is no longer due; the other one still is.
		due, _, _ = b.client.Due(b.ctx, 0)
		if len(due) != 1 || due[0].UserID == claimed {
			t.Fatalf("due after claim = %v", due)
		}
		if got, err := b.client.Claim(b.ctx, "runner-2", 10, time.Minute); err != nil || len(got) != 1 || got[0].UserID == claimed {
			t.Fatalf("second claim = %v, %v", got, err)
		}
		if got, err := b.client.Claim(b.ctx, "runner-3", 10, time.Minute); err != nil || len(got) != 0 {
			t.Fatalf("third claim = %v, %v, want none", got, err)
		}
		// An empty answer is [], not null.
		r = b.do(t, "POST", authapi.PathInternal+"/claim", `{"runnerId":"runner-3"}`, b.svc())
		if !strings.Contains(string(r.body), `"personas":[]`) {
			t.Fatalf("empty claim = %s", r.body)
		}
		_ = anna
		_ = ben

		wantValidation(t, b.do(t, "POST", authapi.PathInternal+"/claim", `{"limit":-1,"leaseSeconds":999999}`, b.svc()),
			"runnerId", "limit", "leaseSeconds")
		wantValidation(t, b.do(t, "POST", authapi.PathInternal+"/claim", `{"runnerId":"r","lease":60}`, b.svc()), "lease")
		wantValidation(t, b.do(t, "POST", authapi.PathInternal+"/claim", `{"runnerId":"r","limit":"ten"}`, b.svc()), "limit")
		wantBody(t, b.do(t, "POST", authapi.PathInternal+"/claim", `{"runnerId":`, b.svc()), 400, `{"error":"Invalid JSON"}`)
		wantValidation(t, b.do(t, "GET", authapi.PathInternal+"/due?limit=x", "", b.svc()), "limit")
	})
}

func TestConcurrentClaimsOverHTTP(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, b *bundle) {
		const n = 24
		for i := range n {
			b.mustPersona(t, fmt.Sprintf("persona.p%02d@mana.test", i))
		}
		const runners = 4
		results := make([][]persona.DuePersona, runners)
		errs := make([]error, runners)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range runners {
			c := authapi.NewClient(b.url, b.hc)
			c.ServiceKey = serviceKey
			wg.Go(func() {
				<-start
				results[i], errs[i] = c.Claim(b.ctx, fmt.Sprintf("runner-%d", i), n, time.Minute)
			})
		}
		close(start)
		wg.Wait()
		seen := map[string]int{}
		total := 0
		for i := range runners {
			if errs[i] != nil {
				t.Fatalf("runner %d: %v", i, errs[i])
			}
			for _, p := range results[i] {
				if prev, dup := seen[p.UserID]; dup {
					t.Fatalf("persona %s claimed by runner %d and runner %d", p.Email, prev, i)
				}
				seen[p.UserID] = i
				total++
			}
		}
		if total != n {
			t.Fatalf("claimed %d personas in all, want %d", total, n)
		}
	})
}

func TestActions(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, b *bundle) {
		id := b.mustPersona(t, "persona.anna@mana.test")
		path := authapi.PathInternal + "/" + id + "/actions"
		body := `{"actions":[
			{"tickId":"t1","toolName":"todo.create","inputHash":"ab12","result":"ok","latencyMs":40,"seq":0},
			{"tickId":"t1","toolName":"notes.add","result":"error","errorMessage":"` + strings.Repeat("e", 600) + `","seq":1},
			{"tickId":"t1","toolName":"mood.log","module":"wellbeing","result":"ok","seq":2,
				"arguments":{"mood":"calm","api_key":"k"},"resultPreview":"logged","errorClass":""}]}`
		wantBody(t, b.do(t, "POST", path, body, b.svc()), 200, `{"ok":true,"written":3,"duplicates":0}`)
		// A replayed batch writes nothing twice.
		wantBody(t, b.do(t, "POST", path, body, b.svc()), 200, `{"ok":true,"written":0,"duplicates":3}`)
		rows, err := b.store.Actions(b.ctx, persona.ActionQuery{PersonaID: id})
		if err != nil || len(rows) != 3 {
			t.Fatalf("stored rows = %v, %v", rows, err)
		}
		byID := map[string]persona.Action{}
		for _, a := range rows {
			byID[a.ID] = a
		}
		if a := byID["t1-0-todo.create"]; a.Module != "todo" || a.InputHash != "ab12" || a.LatencyMs == nil || *a.LatencyMs != 40 || a.Result != "ok" {
			t.Errorf("row 0 = %+v", a)
		}
		if a := byID["t1-1-notes.add"]; a.Module != "notes" || len([]rune(a.ErrorMessage)) != persona.MaxErrorMessage || a.Result != "error" {
			t.Errorf("row 1 = %+v (error message must be cut to 500)", a)
		}
		if a := byID["t1-2-mood.log"]; a.Module != "wellbeing" || string(a.Arguments) != `{"api_key":"[redacted]","mood":"calm"}` || a.ResultPreview != "logged" {
			t.Errorf("row 2 = %+v (explicit module kept, evidence kept with the secret redacted)", a)
		}
		if a := byID["t1-1-notes.add"]; a.ErrorClass != persona.ClassServerError || a.Arguments != nil {
			t.Errorf("row 1 without evidence: class %q arguments %s; want server-error from its message, none", a.ErrorClass, a.Arguments)
		}

		// Exactly 500 rows pass; 501 are refused with nothing written.
		wantBody(t, b.do(t, "POST", path, actionsBody("t500", 500), b.svc()), 200, `{"ok":true,"written":500,"duplicates":0}`)
		wantValidation(t, b.do(t, "POST", path, actionsBody("t501", 501), b.svc()), "actions")
		if n := b.countActions(t, id); n != 503 {
			t.Fatalf("after the 501-row batch: %d rows, want 503", n)
		}

		// A bad row is named by index and field, and the good rows of its batch are not written.
		for name, c := range map[string]struct{ body, field string }{
			"bad result":    {`{"actions":[{"tickId":"b","toolName":"todo.x","result":"ok"},{"tickId":"b","toolName":"todo.y","result":"maybe"}]}`, "actions[1].result"},
			"missing tool":  {`{"actions":[{"tickId":"b","result":"ok","seq":1},{"tickId":"b","toolName":"t","result":"ok"}]}`, "actions[0].toolName"},
			"unknown field": {`{"actions":[{"tickId":"b","toolName":"t","result":"ok","colour":"red"}]}`, "actions[0].colour"},
			"wrong type":    {`{"actions":[{"tickId":"b","toolName":"t","result":"ok"},{"tickId":"b","toolName":"u","result":"ok"},{"tickId":"b","toolName":"t","result":"ok","seq":"one"}]}`, "actions[2].seq"},
			"fraction":      {`{"actions":[{"tickId":"b","toolName":"t","result":"ok","latencyMs":1.5}]}`, "actions[0].latencyMs"},
			"negative":      {`{"actions":[{"tickId":"b","toolName":"t","result":"ok","seq":-1}]}`, "actions[0].seq"},
			"null row":      {`{"actions":[null]}`, "actions[0]"},
			"string row":    {`{"actions":["x"]}`, "actions[0]"},
			"bad time":      {`{"actions":[{"tickId":"b","toolName":"t","result":"ok","createdAt":"yesterday"}]}`, "actions[0].createdAt"},
			"NUL":           {`{"actions":[{"tickId":"b\u0000","toolName":"t","result":"ok"}]}`, "actions[0].tickId"},
			"empty":         {`{"actions":[]}`, "actions"},
			"missing":       {`{}`, "actions"},
			"not an array":  {`{"actions":{}}`, "actions"},
			"top unknown":   {`{"actions":[{"tickId":"b","toolName":"t","result":"ok"}],"extra":1}`, "extra"},
			"not an object": {`[1,2]`, "body"},
			"bad class":     {`{"actions":[{"tickId":"b","toolName":"t","result":"error","errorClass":"Oops!"}]}`, "actions[0].errorClass"},
			"preview NUL":   {`{"actions":[{"tickId":"b","toolName":"t","result":"ok","resultPreview":"a\u0000"}]}`, "actions[0].resultPreview"},
		} {
			r := b.do(t, "POST", path, c.body, b.svc())
			if r.status != 400 {
				t.Errorf("%s: %d %s, want 400", name, r.status, r.body)
				continue
			}
			wantValidation(t, r, c.field)
		}
		wantBody(t, b.do(t, "POST", path, `{"actions":[`, b.svc()), 400, `{"error":"Invalid JSON"}`)
		wantBody(t, b.do(t, "POST", path, `{"actions":[]} {}`, b.svc()), 400, `{"error":"Invalid JSON"}`)
		if n := b.countActions(t, id); n != 503 {
			t.Fatalf("rejected batches wrote rows: %d, want 503", n)
		}

		wantBody(t, b.do(t, "POST", authapi.PathInternal+"/no-such-persona/actions", actionsBody("t", 1), b.svc()), 404,
			`{"error":"Persona not found"}`)
		r := b.do(t, "POST", path, actionsBody("t", 1), b.svc(), "Content-Type: text/plain")
		if r.status != 415 || r.json(t)["error"] != "Unsupported Media Type" {
			t.Fatalf("text/plain: %d %s", r.status, r.body)
		}
		huge := `{"actions":[{"tickId":"t","toolName":"t","result":"ok","errorMessage":"` + strings.Repeat("x", authapi.MaxBodyBytes) + `"}]}`
		r = b.do(t, "POST", path, huge, b.svc())
		if r.status != 413 || r.json(t)["error"] != "Payload Too Large" {
			t.Fatalf("oversized: %d %s", r.status, r.body)
		}
		// The client reports duplicates the same way.
		res, err := b.client.PostActions(b.ctx, id, []persona.Action{{TickID: "t1", ToolName: "todo.create", Result: "ok", Seq: 0}})
		if err != nil || res != (authapi.BatchResult{OK: true, Written: 0, Duplicates: 1}) {
			t.Fatalf("client replay = %+v, %v", res, err)
		}
	})
}

func TestFeedback(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, b *bundle) {
		id := b.mustPersona(t, "persona.anna@mana.test")
		path := authapi.PathInternal + "/" + id + "/feedback"
		body := `{"feedback":[{"tickId":"t1","module":"todo","rating":4,"notes":"fine"},{"tickId":"t1","module":"notes","rating":1}]}`
		wantBody(t, b.do(t, "POST", path, body, b.svc()), 200, `{"ok":true,"written":2,"duplicates":0}`)
		wantBody(t, b.do(t, "POST", path, body, b.svc()), 200, `{"ok":true,"written":0,"duplicates":2}`)
		rows, err := b.store.Feedback(b.ctx, persona.FeedbackQuery{PersonaID: id, Module: "todo"})
		if err != nil || len(rows) != 1 || rows[0].ID != "t1-todo" || rows[0].Rating != 4 || rows[0].Notes != "fine" {
			t.Fatalf("stored = %+v, %v", rows, err)
		}
		var many strings.Builder
		many.WriteString(`{"feedback":[`)
		for i := range 101 {
			if i > 0 {
				many.WriteByte(',')
			}
			fmt.Fprintf(&many, `{"tickId":"m","module":"m%d","rating":3}`, i)
		}
		many.WriteString(`]}`)
		wantValidation(t, b.do(t, "POST", path, many.String(), b.svc()), "feedback")
		for name, c := range map[string]struct{ body, field string }{
			"too high":     {`{"feedback":[{"tickId":"x","module":"todo","rating":5},{"tickId":"x","module":"notes","rating":6}]}`, "feedback[1].rating"},
			"zero":         {`{"feedback":[{"tickId":"x","module":"todo","rating":0}]}`, "feedback[0].rating"},
			"fraction":     {`{"feedback":[{"tickId":"x","module":"todo","rating":4.5}]}`, "feedback[0].rating"},
			"string":       {`{"feedback":[{"tickId":"x","module":"todo","rating":"5"}]}`, "feedback[0].rating"},
			"no module":    {`{"feedback":[{"tickId":"x","rating":3}]}`, "feedback[0].module"},
			"long notes":   {`{"feedback":[{"tickId":"x","module":"todo","rating":3,"notes":"` + strings.Repeat("n", 1001) + `"}]}`, "feedback[0].notes"},
			"unknown":      {`{"feedback":[{"tickId":"x","module":"todo","rating":3,"stars":5}]}`, "feedback[0].stars"},
			"empty":        {`{"feedback":[]}`, "feedback"},
			"wrong batch":  {`{"actions":[]}`, "actions"},
			"NUL in notes": {`{"feedback":[{"tickId":"x","module":"todo","rating":3,"notes":"a\u0000"}]}`, "feedback[0].notes"},
		} {
			r := b.do(t, "POST", path, c.body, b.svc())
			if r.status != 400 {
				t.Errorf("%s: %d %s, want 400", name, r.status, r.body)
				continue
			}
			wantValidation(t, r, c.field)
		}
		wantBody(t, b.do(t, "POST", path, `{"feedback":`, b.svc()), 400, `{"error":"Invalid JSON"}`)
		wantBody(t, b.do(t, "POST", authapi.PathInternal+"/nope/feedback", body, b.svc()), 404, `{"error":"Persona not found"}`)
		if n := b.countFeedback(t, id); n != 2 {
			t.Fatalf("rejected batches wrote rows: %d, want 2", n)
		}
	})
}

func TestTicksAndHistory(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, b *bundle) {
		id := b.mustPersona(t, "persona.anna@mana.test")
		path := authapi.PathInternal + "/" + id + "/ticks"
		if got, err := b.client.Claim(b.ctx, "runner-1", 1, 10*time.Minute); err != nil || len(got) != 1 {
			t.Fatalf("claim: %v %v", got, err)
		}
		start := b.clock.Now()
		wantBody(t, b.do(t, "POST", path, `{"tickId":"tick-1","runnerId":"runner-1","status":"running","startedAt":"`+start.Format(time.RFC3339Nano)+`"}`, b.svc()),
			200, `{"ok":true,"tickId":"tick-1"}`)
		if _, err := b.client.PostActions(b.ctx, id, []persona.Action{{TickID: "tick-1", ToolName: "todo.create", Result: "ok"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.client.PostFeedback(b.ctx, id, []persona.Feedback{{TickID: "tick-1", Module: "todo", Rating: 5}}); err != nil {
			t.Fatal(err)
		}
		b.clock.Advance(2 * time.Minute)
		fin := b.clock.Now()
		err := b.client.PostTick(b.ctx, persona.Tick{
			TickID: "tick-1", PersonaID: id, RunnerID: "runner-1", Status: persona.TickOK, StartedAt: start, FinishedAt: &fin,
			ToolCalls: 1, Turns: 3, InputTokens: 1200, OutputTokens: 300, CostUSD: 0.01, Model: "sim",
			Summary: "A calm day.", Transcript: json.RawMessage(`[{"role":"user","content":"hi"}]`),
		})
		if err != nil {
			t.Fatal(err)
		}
		d, err := b.client.GetPersona(b.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if d.Persona.LastActiveAt == nil || !d.Persona.LastActiveAt.Equal(fin) || d.Persona.LeaseOwner != "" {
			t.Fatalf("after ok tick: lastActiveAt %v, lease owner %q", d.Persona.LastActiveAt, d.Persona.LeaseOwner)
		}
		tk, err := b.store.Tick(b.ctx, "tick-1")
		if err != nil || tk.Summary != "A calm day." || tk.InputTokens != 1200 || string(tk.Transcript) != `[{"role":"user","content":"hi"}]` {
			t.Fatalf("stored tick = %+v, %v", tk, err)
		}

		hist, err := b.client.History(b.ctx, id, 3)
		if err != nil || len(hist) != 1 || hist[0].Tick.TickID != "tick-1" || len(hist[0].Actions) != 1 || len(hist[0].Feedback) != 1 {
			t.Fatalf("history = %+v, %v", hist, err)
		}
		r := b.do(t, "GET", authapi.PathInternal+"/"+id+"/history", "", b.svc())
		if r.status != 200 || !strings.HasPrefix(string(r.body), `{"runs":[{"tick":{"tickId":"tick-1"`) {
			t.Fatalf("raw history: %d %s", r.status, r.body)
		}
		wantValidation(t, b.do(t, "GET", authapi.PathInternal+"/"+id+"/history?runs=0", "", b.svc()), "runs")
		wantValidation(t, b.do(t, "GET", authapi.PathInternal+"/"+id+"/history?runs=51", "", b.svc()), "runs")
		wantBody(t, b.do(t, "GET", authapi.PathInternal+"/nope/history", "", b.svc()), 404, `{"error":"Persona not found"}`)

		// A failed run schedules a retry one minute later instead of the next tick.
		fail := b.clock.Now()
		if err := b.client.PostTick(b.ctx, persona.Tick{TickID: "tick-2", PersonaID: id, RunnerID: "runner-1",
			Status: persona.TickFailed, StartedAt: fail, FinishedAt: &fail, Error: "model timeout"}); err != nil {
			t.Fatal(err)
		}
		d, _ = b.client.GetPersona(b.ctx, id)
		if d.Persona.FailureCount != 1 || d.Persona.LastError != "model timeout" || d.Persona.NextDueAt == nil ||
			!d.Persona.NextDueAt.Equal(fail.Add(time.Minute)) {
			t.Fatalf("after failed tick: %+v", d.Persona)
		}

		wantValidation(t, b.do(t, "POST", path, `{"tickId":"t3","status":"exploded"}`, b.svc()), "status")
		wantValidation(t, b.do(t, "POST", path, `{"status":"ok"}`, b.svc()), "tickId")
		wantValidation(t, b.do(t, "POST", path, `{"tickId":"t3","status":"ok","mood":"great"}`, b.svc()), "mood")
		wantValidation(t, b.do(t, "POST", path, `{"tickId":"t3","status":"ok","personaId":"someone-else"}`, b.svc()), "personaId")
		wantValidation(t, b.do(t, "POST", path, `{"tickId":"t3","status":"ok","toolCalls":"many"}`, b.svc()), "toolCalls")
		wantValidation(t, b.do(t, "POST", path, `{"tickId":"t3","status":"ok","startedAt":"noon"}`, b.svc()), "startedAt/finishedAt")
		wantValidation(t, b.do(t, "POST", path, `{"tickId":"t3","status":"ok","summary":"a\u0000","error":"\u0000"}`, b.svc()), "summary", "error")
		wantBody(t, b.do(t, "POST", path, `{"tickId":`, b.svc()), 400, `{"error":"Invalid JSON"}`)
		wantBody(t, b.do(t, "POST", authapi.PathInternal+"/nope/ticks", `{"tickId":"t9","status":"ok"}`, b.svc()), 404,
			`{"error":"Persona not found"}`)
		if _, err := b.store.Tick(b.ctx, "t3"); !errors.Is(err, persona.ErrNotFound) {
			t.Fatalf("a refused tick was stored: %v", err)
		}
	})
}

// TestTickIDOfAnotherPersona: a tick id already recorded for one persona cannot be reused for
// another. Every store answers the same 400 naming tickId, and nothing changes.
func TestTickIDOfAnotherPersona(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, b *bundle) {
		anna := b.mustPersona(t, "persona.anna@mana.test")
		ben := b.mustPersona(t, "persona.ben@mana.test")
		wantBody(t, b.do(t, "POST", authapi.PathInternal+"/"+anna+"/ticks", `{"tickId":"tick-x","runnerId":"r1","status":"running"}`, b.svc()),
			200, `{"ok":true,"tickId":"tick-x"}`)
		r := b.do(t, "POST", authapi.PathInternal+"/"+ben+"/ticks", `{"tickId":"tick-x","runnerId":"r1","status":"ok"}`, b.svc())
		wantBody(t, r, 400, `{"error":"ValidationError","details":[{"field":"tickId","message":"belongs to another persona"}]}`)
		tk, err := b.store.Tick(b.ctx, "tick-x")
		if err != nil || tk.PersonaID != anna || tk.Status != persona.TickRunning {
			t.Fatalf("tick after the refused reuse = %+v, %v; want anna's running tick", tk, err)
		}
		if p, err := b.store.Persona(b.ctx, ben); err != nil || p.LastActiveAt != nil {
			t.Fatalf("ben after the refused tick: %+v, %v; want never active", p, err)
		}
		// The client sees it as invalid input, which the runner does not retry.
		err = b.client.PostTick(b.ctx, persona.Tick{TickID: "tick-x", PersonaID: ben, RunnerID: "r1", Status: persona.TickOK})
		if !errors.Is(err, persona.ErrInvalid) {
			t.Fatalf("PostTick(reused id) = %v; want ErrInvalid", err)
		}
	})
}

// TestEndToEnd is the definition of done, through the client only: log a persona in,
// list its spaces, claim it, post actions, feedback and a tick record, and read them back through
// the admin API.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, b *bundle) {
		seed := persona.PersonaInput{
			Email: "persona.maya@mana.test", Name: "Maya", Password: "maya-password-1", Archetype: "busy-parent",
			SystemPrompt: "You are Maya, a parent of two who plans the week on Sunday evening.",
			ModuleMix:    persona.ModuleMix{"todo": 0.6, "calendar": 0.4}, TickCadence: persona.Daily, Timezone: "Europe/Berlin",
		}
		up, err := b.client.UpsertPersona(b.ctx, seed)
		if err != nil {
			t.Fatal(err)
		}
		claimed, err := b.client.Claim(b.ctx, "runner-e2e", 5, 10*time.Minute)
		if err != nil || len(claimed) != 1 || claimed[0].UserID != up.UserID {
			t.Fatalf("claim = %+v, %v", claimed, err)
		}
		login, err := b.client.Login(b.ctx, seed.Email, seed.Password)
		if err != nil {
			t.Fatal(err)
		}
		spaces, err := b.client.Spaces(b.ctx, login.AccessToken)
		if err != nil || len(spaces) != 1 || spaces[0].ID != claimed[0].PersonalSpaceID {
			t.Fatalf("spaces = %+v, %v (personal space %s)", spaces, err, claimed[0].PersonalSpaceID)
		}
		started := b.clock.Now()
		if err := b.client.PostTick(b.ctx, persona.Tick{TickID: "e2e-1", PersonaID: up.UserID, RunnerID: "runner-e2e",
			Status: persona.TickRunning, StartedAt: started}); err != nil {
			t.Fatal(err)
		}
		acts := []persona.Action{
			{TickID: "e2e-1", ToolName: "todo.create", InputHash: "0011223344556677", Result: "ok", LatencyMs: persona.Latency(30), Seq: 0},
			{TickID: "e2e-1", ToolName: "calendar.add", Result: "error", ErrorMessage: "date in the past", LatencyMs: persona.Latency(12), Seq: 1},
		}
		if res, err := b.client.PostActions(b.ctx, up.UserID, acts); err != nil || res.Written != 2 {
			t.Fatalf("actions = %+v, %v", res, err)
		}
		if res, err := b.client.PostFeedback(b.ctx, up.UserID, []persona.Feedback{
			{TickID: "e2e-1", Module: "todo", Rating: 4, Notes: "quick"}, {TickID: "e2e-1", Module: "calendar", Rating: 2, Notes: "confusing"},
		}); err != nil || res.Written != 2 {
			t.Fatalf("feedback = %+v, %v", res, err)
		}
		b.clock.Advance(time.Minute)
		fin := b.clock.Now()
		if err := b.client.PostTick(b.ctx, persona.Tick{TickID: "e2e-1", PersonaID: up.UserID, RunnerID: "runner-e2e",
			Status: persona.TickOK, StartedAt: started, FinishedAt: &fin, ToolCalls: 2, Errors: 1}); err != nil {
			t.Fatal(err)
		}
		d, err := b.client.GetPersona(b.ctx, up.UserID)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.RecentActions) != 2 || d.RecentActions[0].ToolName != "calendar.add" || d.RecentActions[0].ErrorMessage != "date in the past" {
			t.Fatalf("recentActions = %+v", d.RecentActions)
		}
		if len(d.FeedbackByModule) != 2 || d.FeedbackByModule[0] != (persona.ModuleRating{Module: "calendar", AvgRating: 2, Count: 1}) {
			t.Fatalf("feedbackByModule = %+v", d.FeedbackByModule)
		}
		if d.Persona.LastActiveAt == nil || !d.Persona.LastActiveAt.Equal(fin) {
			t.Fatalf("lastActiveAt = %v, want %v", d.Persona.LastActiveAt, fin)
		}
		if due, _, err := b.client.Due(b.ctx, 0); err != nil || len(due) != 0 {
			t.Fatalf("due after the run = %v, %v", due, err)
		}
	})
}
