package runner

import (
	"context"
	"fmt"
	"strings"

	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/persona"
)

// rate runs the rating turn in the same conversation, without tool use (SPEC §5.3 step 4): the
// tools stay defined, because the history holds calls of them and the APIs refuse tool calls in
// a request without tool definitions, but the tool choice is "none". A reply that calls a tool
// anyway (servers that ignore the tool choice) is asked once more without any tools, over the
// same conversation written out as text (ratingRetryMessages). A model failure here is noted and
// the run is degraded; only the end of the run context ends it.
func (rn *run) rate(ctx context.Context, used []string) error {
	r := rn.r
	rn.ratingAt = len(rn.messages)
	rn.messages = append(rn.messages, model.Message{Role: model.User, Text: ratingMessage(used)})
	fail := func(err error) error {
		if ctx.Err() != nil {
			return stageErr(stageRating, err)
		}
		r.metrics.errors.WithLabelValues(stageRating).Inc()
		rn.note("rating turn: %v", err)
		rn.ratingsUnusable = fmt.Sprintf("the rating turn failed: %v", err)
		return nil
	}
	resp, err := rn.complete(ctx, model.PhaseRating, model.ToolChoiceNone)
	if err != nil {
		return fail(err)
	}
	if len(resp.ToolCalls) > 0 {
		names := make([]string, len(resp.ToolCalls))
		for i, c := range resp.ToolCalls {
			names[i] = c.Name
		}
		rn.note("rating turn: the model called %s although tools were off; asked again without tools", strings.Join(names, ", "))
		// The refused calls are not run; the transcript keeps them as the reply's words.
		rn.messages = append(rn.messages, model.Message{Role: model.Assistant, Text: strings.TrimSpace(resp.Text + "\n" + calledText(resp.ToolCalls))})
		retry := ratingRetryMessages(rn.messages[:rn.ratingAt+1])
		if resp, err = rn.completeWith(ctx, model.PhaseRating, model.ToolChoiceNone, retry, nil); err != nil {
			return fail(err)
		}
		rn.messages = append(rn.messages, model.Message{Role: model.User, Text: retry[len(retry)-1].Text})
	}
	rn.messages = append(rn.messages, model.Message{Role: model.Assistant, Text: resp.Text})
	rn.ratings = ParseRatings(resp.Text, used)
	for _, rt := range rn.ratings {
		if rt.Module == ParseModule {
			r.metrics.errors.WithLabelValues(stageRating).Inc()
			rn.ratingsUnusable = rt.Notes
		}
	}
	return nil
}

// ratingRetryMessages writes a conversation out as plain text turns, without tool calls or tool
// results, for the rating request that carries no tools: what the persona did stays in it, and
// no API refuses it for holding calls of tools it does not define. The last message (the rating
// request) gains a reminder to answer in text.
func ratingRetryMessages(msgs []model.Message) []model.Message {
	out := make([]model.Message, 0, len(msgs))
	for _, m := range msgs {
		text := m.Text
		switch {
		case len(m.ToolCalls) > 0:
			text = strings.TrimSpace(text + "\n" + calledText(m.ToolCalls))
		case len(m.ToolResults) > 0:
			var b strings.Builder
			for _, res := range m.ToolResults {
				verb := "answered"
				if res.IsError {
					verb = "failed"
				}
				fmt.Fprintf(&b, "[call %s %s: %s]\n", res.CallID, verb, persona.Truncate(res.Content, 500))
			}
			text = strings.TrimSpace(b.String())
		}
		if text == "" {
			text = "…"
		}
		out = append(out, model.Message{Role: m.Role, Text: text})
	}
	if n := len(out); n > 0 {
		out[n-1].Text += "\n\nThe tools are closed now: answer with the JSON only, no tool calls."
	}
	return out
}

// calledText describes tool calls in words.
func calledText(calls []model.ToolCall) string {
	parts := make([]string, len(calls))
	for i, c := range calls {
		parts[i] = fmt.Sprintf("[call %s: %s %s]", c.ID, c.Name, persona.Truncate(string(compactArgs(c.Input)), 500))
	}
	return strings.Join(parts, "\n")
}
