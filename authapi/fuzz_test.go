package authapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/persona-runner/persona-runner/authapi"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store/storetest"
)

// fuzzTarget is an in-process server (no sockets: the fuzzer runs it thousands of times a second)
// on a SQLite store with one persona.
type fuzzTarget struct {
	h     http.Handler
	store persona.Store
	id    string
}

func newFuzzTarget(f *testing.F) *fuzzTarget {
	f.Helper()
	clock := storetest.NewClock(storetest.Start)
	st := newStore(f, "sqlite", clock)
	s, err := authapi.New(context.Background(), authapi.Config{Store: st, Issuer: "http://auth.test", ServiceKey: serviceKey, Now: clock.Now, PasswordCost: bcrypt.MinCost})
	if err != nil {
		f.Fatal(err)
	}
	id, _, err := st.UpsertPersona(context.Background(), personaInput("persona.fuzz@mana.test"))
	if err != nil {
		f.Fatal(err)
	}
	return &fuzzTarget{h: s, store: st, id: id}
}

func (ft *fuzzTarget) post(what, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", authapi.PathInternal+"/"+ft.id+"/"+what, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Service-Key", serviceKey)
	rec := httptest.NewRecorder()
	ft.h.ServeHTTP(rec, req)
	return rec
}

// checkBatch asserts the endpoint's contract for any input: never a server error, a JSON body,
// nothing written when refused, and exactly `written` new rows when accepted.
func checkBatch(t *testing.T, rec *httptest.ResponseRecorder, before, after int) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("status %d with a non-JSON body %q", rec.Code, rec.Body)
	}
	if rec.Code != http.StatusOK {
		if after != before {
			t.Fatalf("refused request (%d %s) wrote %d rows", rec.Code, rec.Body, after-before)
		}
		if rec.Code != http.StatusBadRequest && rec.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("unexpected status %d: %s", rec.Code, rec.Body)
		}
		return
	}
	var res authapi.BatchResult
	json.Unmarshal(rec.Body.Bytes(), &res)
	if !res.OK || after-before != res.Written || res.Written+res.Duplicates < 1 {
		t.Fatalf("accepted: %s but %d rows were added", rec.Body, after-before)
	}
}

func FuzzActionsRequest(f *testing.F) {
	for _, seed := range []string{
		actionsBody("seed", 3),
		`{"actions":[{"tickId":"t","toolName":"todo.create","result":"ok"},{"tickId":"t","toolName":"x","result":"maybe"}]}`,
		`{"actions":[{"tickId":"t","toolName":"a.b","result":"error","errorMessage":"é\u0000","seq":2,"latencyMs":5,"createdAt":"2026-03-04T10:00:00Z"}]}`,
		`{"actions":[null,1,"x",[],{}]}`,
		`{"actions":[{"tickId":"t","toolName":"t","result":"ok","seq":1e3,"latencyMs":-1}]}`,
		`{"actions":[{"tickId":"t","toolName":"t","result":"ok","inputHash":"` + strings.Repeat("f", 65) + `"}]}`,
		`{"actions":[]}`, `{"actions":{}}`, `{}`, `[]`, `null`, `{"actions":[`, `{"actions":[]} x`, ``,
		`{"actions":[{"tickId":"t","toolName":"t","result":"ok","TICKID":"u"}]}`,
		// The original runner's rows: no seq, module or latencyMs, Claude Agent SDK names, one
		// tool twice.
		`{"actions":[{"tickId":"o","toolName":"mcp__mana__todo_create","inputHash":"ab","result":"ok"},{"tickId":"o","toolName":"mcp__mana__todo_create","result":"ok"},{"tickId":"o","toolName":"mcp__x__","result":"ok","seq":null}]}`,
		`{"actions":[{"tickId":"o","toolName":"mcp__mana__todo_create","result":"ok","seq":1},{"tickId":"o","toolName":"mcp__mana__todo_create","result":"ok"}]}`,
	} {
		f.Add(seed)
	}
	ft := newFuzzTarget(f)
	f.Fuzz(func(t *testing.T, body string) {
		ctx := context.Background()
		rows, _ := ft.store.Actions(ctx, persona.ActionQuery{PersonaID: ft.id})
		rec := ft.post("actions", body)
		after, _ := ft.store.Actions(ctx, persona.ActionQuery{PersonaID: ft.id})
		checkBatch(t, rec, len(rows), len(after))
		if rec.Code == http.StatusOK {
			checkActionIDs(t, body, after)
		}
	})
}

// checkActionIDs asserts that every row of an accepted batch is stored under the id the original
// runner would give it: {tickId}-{seq, or the row's index when absent}-{toolName as sent}.
func checkActionIDs(t *testing.T, body string, stored []persona.Action) {
	t.Helper()
	var req struct {
		Actions []struct {
			TickID   string `json:"tickId"`
			ToolName string `json:"toolName"`
			Seq      *int   `json:"seq"`
		} `json:"actions"`
	}
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		return // the server's decoder is stricter about case than this one; nothing to compare
	}
	have := make(map[string]bool, len(stored))
	for _, a := range stored {
		have[a.ID] = true
	}
	for i, r := range req.Actions {
		seq := i
		if r.Seq != nil {
			seq = *r.Seq
		}
		if id := persona.ActionID(r.TickID, seq, r.ToolName); !have[id] {
			t.Fatalf("accepted row %d has no stored row %q", i, id)
		}
	}
}

func FuzzFeedbackRequest(f *testing.F) {
	for _, seed := range []string{
		`{"feedback":[{"tickId":"t","module":"todo","rating":4,"notes":"fine"}]}`,
		`{"feedback":[{"tickId":"t","module":"todo","rating":4},{"tickId":"t","module":"notes","rating":9}]}`,
		`{"feedback":[{"tickId":"t","module":"todo","rating":4.5}]}`,
		`{"feedback":[{"tickId":"t","module":"todo","rating":"4"}]}`,
		`{"feedback":[{"tickId":"t","module":"todo","rating":3,"notes":"\u0000"}]}`,
		`{"feedback":[{"tickId":"t","module":"todo","rating":3,"createdAt":"never"}]}`,
		`{"feedback":[null]}`, `{"feedback":[]}`, `{"feedback":null}`, `{"actions":[]}`, `{`, ``,
	} {
		f.Add(seed)
	}
	ft := newFuzzTarget(f)
	f.Fuzz(func(t *testing.T, body string) {
		ctx := context.Background()
		rows, _ := ft.store.Feedback(ctx, persona.FeedbackQuery{PersonaID: ft.id})
		rec := ft.post("feedback", body)
		after, _ := ft.store.Feedback(ctx, persona.FeedbackQuery{PersonaID: ft.id})
		checkBatch(t, rec, len(rows), len(after))
	})
}
