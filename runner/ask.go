package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/target/ask"
)

// nextSeq hands out the seq of a call that begins now (SPEC §5.3: seq is the call order).
func (rn *run) nextSeq() int {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	rn.lastSeq++
	return rn.lastSeq
}

// addAction records a finished call's row; its id is made from its seq.
func (rn *run) addAction(a persona.Action) {
	a.ID = persona.ActionID(rn.tickID, a.Seq, a.ToolName)
	rn.mu.Lock()
	defer rn.mu.Unlock()
	rn.actions = append(rn.actions, a)
}

func (rn *run) setCalling(tool string) {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	rn.calling = tool
}

func (rn *run) currentCall() string {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	return rn.calling
}

// asker answers what the app asks of the persona during its run (MCP sampling/createMessage and
// elicitation/create) with the persona's own provider, its tokens counted in the run, and
// records each request as an action row: tool "sampling" or "elicitation", module the same, so
// that reports show which apps ask their users for input and how that went.
type asker struct {
	rn   *run
	life context.Context // the run's context: an answer never outlives the run
}

var _ ask.Answerer = (*asker)(nil)

// bound is ctx, also ended when the run ends.
func (a *asker) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(a.life, func() { cancel(context.Cause(a.life)) })
	return ctx, func() { stop(); cancel(nil) }
}

// row starts the action row of one request.
func (a *asker) row(tool string, raw json.RawMessage) persona.Action {
	rn := a.rn
	args := compactArgs(raw)
	act := persona.Action{PersonaID: rn.p.UserID, TickID: rn.tickID, ToolName: tool, Module: tool,
		InputHash: persona.InputHash(args), Seq: rn.nextSeq(), CreatedAt: rn.r.now()}
	if rn.r.cfg.RecordArguments {
		act.Arguments = persona.EvidenceArguments(args)
	}
	return act
}

// finish completes and records the row: ok with preview, or the error.
func (a *asker) finish(act persona.Action, t0 time.Time, preview string, err error) {
	rn := a.rn
	act.LatencyMs = persona.Latency(latencyMs(time.Since(t0)))
	if err != nil {
		act.Result = persona.ResultError
		act.ErrorMessage = cleanText(err.Error(), persona.MaxErrorMessage)
		act.ErrorClass = persona.ClassifyError(act.ErrorMessage)
		rn.r.metrics.errors.WithLabelValues(stageTool).Inc()
	} else {
		act.Result = persona.ResultOK
	}
	if rn.r.cfg.RecordArguments && preview != "" {
		act.ResultPreview = persona.EvidencePreview(cleanText(preview, persona.MaxEvidence))
	}
	rn.addAction(act)
	rn.r.metrics.toolCalls.WithLabelValues(act.Module, string(act.Result)).Inc()
}

// during names the tool call a request came in, for the model's prompt.
func (a *asker) during() string {
	if c := a.rn.currentCall(); c != "" {
		return fmt.Sprintf(" while you were using %s", c)
	}
	return ""
}

// Sample answers a sampling request: the app's own messages and system prompt, written by the
// persona's provider with no tools, at most as many tokens as the app asked for.
func (a *asker) Sample(ctx context.Context, req ask.Sampling) (ask.Sample, error) {
	rn := a.rn
	t0 := time.Now()
	act := a.row(ask.SamplingTool, req.Raw)
	ctx, cancel := a.bound(ctx)
	defer cancel()
	out, err := a.sample(ctx, req)
	a.finish(act, t0, out.Text, err)
	if err != nil {
		rn.r.log.Info("sampling request not answered", "persona", rn.p.Email, "tick", rn.tickID, "err", err)
	}
	return out, err
}

func (a *asker) sample(ctx context.Context, req ask.Sampling) (ask.Sample, error) {
	rn := a.rn
	if len(req.Messages) == 0 {
		return ask.Sample{}, errors.New("sampling request without messages")
	}
	if rn.budgetSpent() {
		return ask.Sample{}, fmt.Errorf("sampling refused: the run's token budget of %d is spent", rn.r.cfg.TokenBudget)
	}
	maxTokens := rn.r.cfg.MaxTokens
	if req.MaxTokens > 0 && (maxTokens <= 0 || req.MaxTokens < maxTokens) {
		maxTokens = req.MaxTokens
	}
	resp, err := rn.ask(ctx, model.Request{System: req.System, Messages: req.Messages, MaxTokens: maxTokens, Phase: model.PhaseSampling})
	if err != nil {
		return ask.Sample{}, fmt.Errorf("sampling: the persona's model failed: %w", err)
	}
	text := strings.TrimSpace(resp.Text)
	if text == "" {
		return ask.Sample{}, errors.New("sampling: the persona's model wrote nothing")
	}
	name := resp.Model
	if name == "" {
		name = rn.r.provider.Model()
	}
	return ask.Sample{Text: text, Model: name, StopReason: resp.StopReason}, nil
}

// declineSchema is the input of the decline tool of an elicitation.
var declineSchema = json.RawMessage(`{"type":"object","properties":{"reason":{"type":"string","description":"why you would rather not answer"}}}`)

// Elicit answers a form the app shows the persona, in character: the persona's model gets the
// persona's system prompt, the app's message and two tools, answer (whose input is the form)
// and decline. An answer that does not fit the form is an error row and cancels the form (the
// SDK would refuse to send it); a URL the app asks the persona to visit is declined, there is
// no browser in a run.
func (a *asker) Elicit(ctx context.Context, req ask.Elicitation) (ask.Reply, error) {
	t0 := time.Now()
	act := a.row(ask.ElicitationTool, req.Raw)
	ctx, cancel := a.bound(ctx)
	defer cancel()
	reply, preview, err := a.elicit(ctx, req)
	a.finish(act, t0, preview, err)
	if err != nil && reply.Action == "" {
		return ask.Reply{}, err
	}
	return reply, nil
}

func (a *asker) elicit(ctx context.Context, req ask.Elicitation) (ask.Reply, string, error) {
	rn := a.rn
	if len(req.Schema) == 0 {
		if req.URL != "" {
			return ask.Reply{Action: ask.Decline}, "declined: the app asked to open " + req.URL + ", which a persona run cannot", nil
		}
		return ask.Reply{Action: ask.Decline}, "declined: the app asked for input without a form", nil
	}
	if rn.budgetSpent() {
		return ask.Reply{Action: ask.Cancel}, "", fmt.Errorf("elicitation cancelled: the run's token budget of %d is spent", rn.r.cfg.TokenBudget)
	}
	prompt := fmt.Sprintf("The app shows you a form%s. It says:\n\n%s\n\nStay in character. Fill in the form with the %s tool as you really would, or use the %s tool if you would not give the app this.",
		a.during(), strings.TrimSpace(req.Message), model.AnswerTool, model.DeclineTool)
	tools := []model.Tool{
		{Name: model.AnswerTool, Description: "Submit the form with your answers.", InputSchema: req.Schema},
		{Name: model.DeclineTool, Description: "Decline to fill in the form.", InputSchema: declineSchema},
	}
	resp, err := rn.ask(ctx, model.Request{System: rn.system, Messages: []model.Message{{Role: model.User, Text: prompt}},
		Tools: tools, MaxTokens: rn.r.cfg.MaxTokens, Phase: model.PhaseElicitation})
	if err != nil {
		return ask.Reply{Action: ask.Cancel}, "", fmt.Errorf("elicitation: the persona's model failed: %w", err)
	}
	for _, c := range resp.ToolCalls {
		switch c.Name {
		case model.AnswerTool:
			content, err := c.Args()
			if err != nil {
				return ask.Reply{Action: ask.Cancel}, "", fmt.Errorf("elicitation: the persona's answer is not a JSON object: %w", err)
			}
			if err := ask.Check(req.Schema, content); err != nil {
				return ask.Reply{Action: ask.Cancel}, "", fmt.Errorf("elicitation: the persona's answer does not fit the form: %w", err)
			}
			b, _ := json.Marshal(content)
			return ask.Reply{Action: ask.Accept, Content: content}, "accepted: " + string(b), nil
		case model.DeclineTool:
			return ask.Reply{Action: ask.Decline}, "declined: " + strings.TrimSpace(resp.Text+" "+string(compactArgs(c.Input))), nil
		}
	}
	return ask.Reply{Action: ask.Decline}, "declined without a tool call: " + strings.TrimSpace(resp.Text), nil
}
