package sim

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/persona-runner/persona-runner/model"
)

// sample answers an app's sampling request (model.PhaseSampling): one labelled line that says
// what it was asked, so a reader of the app's result sees the simulator took part, and nothing
// that could pass for a model's words.
func (s *Sim) sample(req model.Request) model.Response {
	asked := ""
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if m := req.Messages[i]; m.Role == model.User && strings.TrimSpace(m.Text) != "" {
			asked = strings.Join(strings.Fields(m.Text), " ")
			break
		}
	}
	if r := []rune(asked); len(r) > 120 {
		asked = string(r[:120]) + "…"
	}
	text := fmt.Sprintf("%s %s was asked by the app to write a reply to %q; the simulator writes no text of its own.",
		Label, shortName(req.Persona.Email), asked)
	if asked == "" {
		text = fmt.Sprintf("%s %s was asked by the app to write a reply; the request held no text.", Label, shortName(req.Persona.Email))
	}
	return model.Response{Text: text, StopReason: model.StopEnd}
}

// private matches form fields a person would not type into an app that merely asks: secrets,
// payment and identity numbers.
var private = regexp.MustCompile(`(?i)pass(word|code|phrase)|\bpin\b|secret|token|credit.?card|card.?number|\bcvc\b|\bcvv\b|\biban\b|\bssn\b|social.?security|api.?key`)

// elicit answers an app's form (model.PhaseElicitation): it declines when the form asks for a
// secret or a payment or identity number (no persona gives those to a form that pops up), and
// otherwise fills every field with values that satisfy the form's schema, chosen from the seed,
// the persona and the run like every other choice.
func (s *Sim) elicit(req model.Request) model.Response {
	var answer *model.Tool
	for i := range req.Tools {
		if req.Tools[i].Name == model.AnswerTool {
			answer = &req.Tools[i]
		}
	}
	decline := func(why string) model.Response {
		return model.Response{
			Text:       fmt.Sprintf("%s %s declines: %s.", Label, shortName(req.Persona.Email), why),
			ToolCalls:  []model.ToolCall{{ID: "sim_decline", Name: model.DeclineTool, Input: json.RawMessage(`{}`)}},
			StopReason: model.StopToolUse,
		}
	}
	if answer == nil {
		return decline("the app offered no form to fill in")
	}
	var sch jsonschema.Schema
	if err := json.Unmarshal(answer.InputSchema, &sch); err != nil {
		return decline("the form could not be read")
	}
	for name, p := range sch.Properties {
		if p == nil {
			continue
		}
		if private.MatchString(name + " " + p.Title + " " + p.Description) {
			return decline(fmt.Sprintf("the form asks for %s, which is private", name))
		}
	}
	run := runKey(req)
	asked := ""
	if len(req.Messages) > 0 {
		asked = req.Messages[len(req.Messages)-1].Text
	}
	r := s.rng(req.Persona, run, "elicit", asked, string(answer.InputSchema))
	g := &gen{r: r, w: wordsFor(req.Persona.Archetype), today: s.today(req), email: req.Persona.Email,
		tz: req.Persona.Timezone, root: &sch}
	args, _ := g.value(&sch, "", true, 0).(map[string]any)
	if args == nil {
		args = map[string]any{}
	}
	b, err := json.Marshal(args)
	if err != nil {
		return decline("the form could not be filled in")
	}
	return model.Response{
		Text:       fmt.Sprintf("%s %s fills in the form.", Label, shortName(req.Persona.Email)),
		ToolCalls:  []model.ToolCall{{ID: "sim_answer", Name: model.AnswerTool, Input: b}},
		StopReason: model.StopToolUse,
	}
}
