package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"sort"

	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/persona"
)

// transcript is the conversation as the runner stores it in the tick record.
type transcript struct {
	Model        string          `json:"model"`
	System       string          `json:"system"`
	Tools        []string        `json:"tools"`
	Messages     []model.Message `json:"messages"`
	RatingTurnAt *int            `json:"ratingTurnAt"`
}

// turn is one message of the conversation as the run page shows it.
type turn struct {
	N     int
	Who   string // persona, runner, rating request
	Kind  string // persona, runner, rating
	Text  string
	Calls []callView
}

// callView is one tool call with its result and its action row (latency, MCP name).
type callView struct {
	Name      string
	Args      string
	Result    string
	IsError   bool
	HasResult bool
	Latency   string
	Seq       int
}

type runPage struct {
	Run       persona.RunRow
	Turns     []turn
	System    string
	Tools     []string
	Feedback  []persona.Feedback
	Actions   []persona.Action
	Duration  string
	Unreadble string
}

func (s *Server) runPage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	run, err := s.cfg.Store.Run(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	actions, err := s.cfg.Store.Actions(ctx, persona.ActionQuery{TickID: run.TickID})
	if err != nil {
		return err
	}
	sort.Slice(actions, func(i, j int) bool { return actions[i].Seq < actions[j].Seq })
	feedback, err := s.cfg.Store.Feedback(ctx, persona.FeedbackQuery{TickID: run.TickID})
	if err != nil {
		return err
	}
	p := &runPage{Run: run, Feedback: feedback, Actions: actions}
	if run.FinishedAt != nil {
		p.Duration = run.FinishedAt.Sub(run.StartedAt).Round(1e6).String()
	}
	if len(run.Transcript) > 0 {
		var tr transcript
		if err := json.Unmarshal(run.Transcript, &tr); err != nil {
			p.Unreadble = "The transcript of this run could not be read: " + err.Error()
		} else {
			p.System, p.Tools = tr.System, tr.Tools
			p.Turns = turns(tr, actions)
		}
	}
	f := filter{Since: defaultWindow}
	v := s.newView(r, "Run "+run.TickID, "runs", f)
	v.Page = p
	s.render(w, r, "run", http.StatusOK, v)
	return nil
}

// turns pairs each tool call with its result (by call id) and with its action row (the k-th
// call of the run is the action with the k-th sequence number), and marks the rating turn.
func turns(tr transcript, actions []persona.Action) []turn {
	results := map[string]model.ToolResult{}
	for _, m := range tr.Messages {
		for _, res := range m.ToolResults {
			results[res.CallID] = res
		}
	}
	var out []turn
	k := 0
	for i, m := range tr.Messages {
		if len(m.ToolResults) > 0 && m.Text == "" {
			continue // shown with their calls
		}
		t := turn{N: i + 1, Text: m.Text}
		switch {
		case m.Role == model.Assistant:
			t.Who, t.Kind = "Persona", "persona"
		case tr.RatingTurnAt != nil && i == *tr.RatingTurnAt:
			t.Who, t.Kind = "Runner: rating request", "rating"
		case i == 0:
			t.Who, t.Kind = "Runner: the day's brief", "runner"
		default:
			t.Who, t.Kind = "Runner", "runner"
		}
		if tr.RatingTurnAt != nil && i > *tr.RatingTurnAt && m.Role == model.Assistant {
			t.Who, t.Kind = "Persona: ratings", "rating"
		}
		for _, c := range m.ToolCalls {
			cv := callView{Name: c.Name, Args: prettyJSON(c.Input), Seq: k}
			if res, ok := results[c.ID]; ok {
				cv.Result, cv.IsError, cv.HasResult = res.Content, res.IsError, true
			}
			if k < len(actions) {
				a := actions[k]
				cv.Name = a.ToolName
				cv.Latency = "–" // not measured (the original runner sends no latency)
				if a.LatencyMs != nil {
					cv.Latency = fmt.Sprintf("%d ms", *a.LatencyMs)
				}
				if a.Result == persona.ResultError {
					cv.IsError = true
					if !cv.HasResult {
						cv.Result, cv.HasResult = a.ErrorMessage, true
					}
				}
			}
			k++
			t.Calls = append(t.Calls, cv)
		}
		out = append(out, t)
	}
	return out
}

func prettyJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "{}"
	}
	var b bytes.Buffer
	if json.Indent(&b, raw, "", "  ") != nil {
		return string(raw)
	}
	return b.String()
}

type personaPage struct {
	Persona persona.Persona
	NextDue string
	Mix     []string
	Days    []dayCounts
	Totals  runTotals
	Runs    template.HTML
	Recent  []persona.RunRow
	Modules []moduleTrend
	Digest  string
	Memory  int
}

func (s *Server) personaPage(w http.ResponseWriter, r *http.Request) error {
	f, err := s.parseFilter(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	p, err := s.cfg.Store.Persona(ctx, r.PathValue("id"))
	if errors.Is(err, persona.ErrNotFound) {
		p, err = s.cfg.Store.PersonaByEmail(ctx, r.PathValue("id"))
	}
	if err != nil {
		return err
	}
	sf := f.stats()
	sf.PersonaID = p.UserID
	pg := &personaPage{Persona: p, Memory: s.cfg.MemoryRuns}
	if at := persona.NextDue(p, s.now()); at.After(s.now()) {
		pg.NextDue = at.UTC().Format("2006-01-02 15:04 UTC")
	} else {
		pg.NextDue = "due now"
	}
	for _, m := range p.ModuleMix.Modules() {
		pg.Mix = append(pg.Mix, fmt.Sprintf("%s %.0f%%", m, p.ModuleMix[m]*100/mixTotal(p.ModuleMix)))
	}
	days, err := s.cfg.Store.RunsByDay(ctx, sf)
	if err != nil {
		return err
	}
	pg.Days, pg.Totals = foldDays(days, f.From, f.To)
	pg.Runs = runsChart("persona-runs", pg.Days)
	if pg.Recent, err = s.cfg.Store.RecentRuns(ctx, sf, 30); err != nil {
		return err
	}
	wf := sf
	wf.Since = f.To.Truncate(day).Add(day - sparkWeeks*week)
	ratings, err := s.cfg.Store.RatingsByDay(ctx, wf)
	if err != nil {
		return err
	}
	pg.Modules = foldWeeks(ratings, sparkWeeks, f.To)
	if s.cfg.Digest != nil {
		hist, err := s.cfg.Store.History(ctx, p.UserID, s.cfg.MemoryRuns)
		if err != nil {
			return err
		}
		pg.Digest = s.cfg.Digest(hist, p.Timezone)
	}
	v := s.newView(r, p.Email, "personas", f)
	v.Page = pg
	s.render(w, r, "persona", http.StatusOK, v)
	return nil
}

func mixTotal(m persona.ModuleMix) float64 {
	t := 0.0
	for _, w := range m {
		t += w
	}
	if t == 0 {
		return 1
	}
	return t
}
