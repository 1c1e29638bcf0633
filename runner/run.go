package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/target"
	"github.com/persona-runner/persona-runner/target/ask"
)

// maxToolResult bounds the text of one tool result sent back to the model, so that one chatty
// tool cannot blow up every later turn's prompt.
const maxToolResult = 8 << 10

// errDeadline is the cause of a run context that ran out of its per-run deadline.
var errDeadline = errors.New("run deadline exceeded")

// stageError is a run-ending error with the stage it happened in (for metrics and records).
type stageError struct {
	stage string
	err   error
}

func (e *stageError) Error() string { return e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

func stageErr(stage string, err error) error { return &stageError{stage: stage, err: err} }

// runOutcome is what the tick loop needs to know about a finished run.
type runOutcome struct {
	status persona.TickStatus
	err    string
}

// run is one persona run in progress (SPEC §5.3).
type run struct {
	r       *Runner
	p       persona.DuePersona
	tickID  string
	started time.Time

	target string            // the target's name
	server target.ServerInfo // what its server said in initialize

	system     string
	modelTools []model.Tool // the tools as the model sees them, sent in every turn; nil until listed
	messages   []model.Message
	ratingAt   int // index of the rating request in messages, -1 without a rating turn
	usage      model.Usage
	turns      int
	modelName  string
	summary    string
	notes      []string // problems that did not end the run, kept in the tick record's error

	// session is the run's connection to its target, kept after it closed for its stderr.
	session ToolSession

	// mu guards what an app's sampling and elicitation requests (answered on the MCP client's
	// goroutines, during a tool call) add to the run: rows, their seq, and tokens.
	mu      sync.Mutex
	lastSeq int    // the last seq handed out: seq is the order in which calls began
	calling string // the MCP name of the tool being called, for the rows of what it asks

	tools   map[string]ToolSpec // every tool the target listed, offered or hidden, by MCP name
	actions []persona.Action
	used    []string // modules of the app's tools called, in order of first use
	ratings []Rating
	// ratingsUnusable says why the rating turn gave no usable ratings (a reply nobody could
	// read, or a model failure); empty when they were fine or not asked for.
	ratingsUnusable string
}

// runPersona runs one persona end to end and writes its rows and tick record. It never panics on
// bad input from the model or the app; every way a run can end becomes a status.
func (r *Runner) runPersona(parent context.Context, p persona.DuePersona) runOutcome {
	begin := time.Now()
	r.metrics.running.Inc()
	defer r.metrics.running.Dec()
	rn := &run{r: r, p: p, tickID: newTickID(), started: r.now(), ratingAt: -1, system: p.SystemPrompt, modelName: r.provider.Model(),
		target: r.targets.TargetOf(p)}
	r.emit(Event{Kind: RunStarted, TickID: rn.tickID, PersonaID: p.UserID, Email: p.Email})

	// A record `running` from the start: if this process dies mid-run, the next one (or the
	// next claim, once the lease ran out) finds it and marks it abandoned. A store that does not
	// take it now still gets the final record; the run goes on. It is written while the run
	// starts, not before: a store may commit it with other runs' writes (the SQLite store's
	// group commit), and waiting for that commit put a batch in front of every run's first
	// model turn (+10 to +15 % wall time over ideal at concurrency 256, issue 15). A model turn
	// takes far longer than a commit, so a run that dies mid-run has left its record behind
	// all the same. The final record waits for it, so that it is never overwritten by it.
	startTick := persona.Tick{TickID: rn.tickID, PersonaID: p.UserID, RunnerID: r.cfg.RunnerID, Status: persona.TickRunning,
		StartedAt: rn.started, Model: rn.modelName, Target: rn.target}
	recorded := make(chan struct{})
	go func() {
		defer close(recorded)
		if err := r.retry.Do(parent, transient, func(ctx context.Context) error { return r.store.RecordTick(ctx, startTick) }); err != nil {
			r.log.Warn("running record not written; the run goes on", "persona", p.Email, "tick", rn.tickID, "err", err)
		}
	}()

	ctx, cancel := context.WithTimeoutCause(parent, r.cfg.RunDeadline, errDeadline)
	err := rn.execute(ctx)
	<-recorded
	status, errText, stage := persona.TickOK, "", ""
	if err != nil {
		stage = stageModel
		var se *stageError
		if errors.As(err, &se) {
			stage = se.stage
		}
		switch {
		case parent.Err() != nil:
			status, errText = persona.TickCancelled, fmt.Sprintf("cancelled during %s: the runner stopped", stage)
		case ctx.Err() != nil && errors.Is(context.Cause(ctx), errDeadline):
			status, errText = persona.TickTimeout, fmt.Sprintf("run deadline of %s exceeded during %s", r.cfg.RunDeadline, stage)
		default:
			status, errText = persona.TickFailed, fmt.Sprintf("%s: %v", stage, err)
			r.metrics.errors.WithLabelValues(stage).Inc()
		}
	}
	cancel()
	if status == persona.TickOK && rn.ratingsUnusable != "" {
		// The calls worked, the ratings did not: the run is degraded, shown apart everywhere.
		status, errText, stage = persona.TickDegraded, "rating: "+rn.ratingsUnusable, stageRating
	}

	// The run's context may be over (deadline, stop); the rows still get written, on a context
	// that keeps the parent's values but not its cancellation, within persistTimeout.
	pctx, pcancel := context.WithTimeout(context.WithoutCancel(parent), r.persistTimeout)
	defer pcancel()
	rn.mu.Lock() // a late request of the app (its session is closed by now) adds nothing more
	slices.SortFunc(rn.actions, func(a, b persona.Action) int { return a.Seq - b.Seq })
	rec := persona.RunRecord{Tick: rn.record(status, errText), Actions: slices.Clone(rn.actions), Feedback: rn.feedback()}
	rec.Tick.Stage = stage
	rn.mu.Unlock()
	perr := r.writeRun(pctx, r.persistRetry, p.Email, &rec)
	tick := rec.Tick
	if perr != nil && errors.Is(perr, errUnsaved) {
		// The store is unreachable for longer than the budget: the run is kept in the outbox and
		// replayed until the store takes it; its lease holds until then.
		if oerr := r.keep(p.Email, rec); oerr != nil {
			perr = fmt.Errorf("%w; and it could not be kept in the outbox: %v", perr, oerr)
		} else {
			r.log.Warn("the store did not take the run in time; kept in the outbox for replay", "persona", p.Email, "tick", rn.tickID, "err", perr)
			perr = nil
		}
	}
	if perr != nil {
		// Rows that were not written make the run a failure wherever it is reported (result,
		// events, metrics), not only in the tick record persist marked failed, whose back-off
		// the store then applies.
		r.metrics.errors.WithLabelValues(stagePersist).Inc()
		r.log.Error("persist run", "persona", p.Email, "tick", rn.tickID, "err", perr)
		if status == persona.TickOK {
			status, errText = persona.TickFailed, fmt.Sprintf("%s: %v", stagePersist, perr)
		} else {
			errText = fmt.Sprintf("%s; %s: %v", errText, stagePersist, perr)
		}
	}
	r.metrics.ticks.WithLabelValues(string(status)).Inc()
	r.metrics.runDuration.Observe(time.Since(begin).Seconds())
	r.log.Info("persona run", "persona", p.Email, "tick", rn.tickID, "status", status, "calls", tick.ToolCalls,
		"errors", tick.Errors, "turns", tick.Turns, "tokens", tick.InputTokens+tick.OutputTokens, "err", errText)
	r.emit(Event{Kind: RunFinished, TickID: rn.tickID, PersonaID: p.UserID, Email: p.Email, Status: status,
		ToolCalls: tick.ToolCalls, Errors: tick.Errors, Turns: tick.Turns, CostUSD: tick.CostUSD, Error: errText,
		InputTokens: tick.InputTokens, OutputTokens: tick.OutputTokens,
		Duration: time.Since(begin), Ratings: rn.ratings})
	return runOutcome{status: status, err: errText}
}

func (rn *run) note(format string, args ...any) {
	rn.notes = append(rn.notes, fmt.Sprintf(format, args...))
}

func (rn *run) execute(ctx context.Context) error {
	r, p := rn.r, rn.p
	var digest string
	if r.cfg.MemoryRuns > 0 {
		hist, err := r.store.History(ctx, p.UserID, r.cfg.MemoryRuns)
		if err != nil {
			// Memory makes a run better, not possible: go on without it.
			r.metrics.errors.WithLabelValues(stageHistory).Inc()
			r.log.Warn("memory digest unavailable", "persona", p.Email, "err", err)
		} else {
			digest = Digest(hist, p.Timezone)
		}
	}

	tools, err := rn.openTools(ctx)
	if err != nil {
		return stageErr(target.StageOf(err, stageMCP), err)
	}
	rn.session = tools
	defer tools.Close()
	rn.server = tools.Server()
	specs, err := tools.ListTools(ctx)
	if err != nil {
		return stageErr(stageMCP, fmt.Errorf("list tools: %w", err))
	}
	// Hidden tools get model names too, so that a call of one (a model guessing a name) is
	// recognised, recorded under its module and refused without reaching the app; only the
	// offered ones are in the list the model sees (SPEC §10).
	mcpNames := make([]string, len(specs))
	offered := make([]ToolSpec, 0, len(specs))
	rn.tools = make(map[string]ToolSpec, len(specs))
	for i, s := range specs {
		mcpNames[i] = s.Name
		rn.tools[s.Name] = s
		if s.Offered() {
			offered = append(offered, s)
		}
	}
	names := mapToolNames(mcpNames)
	rn.modelTools = modelTools(offered, names)

	rn.messages = append(rn.messages, model.Message{Role: model.User, Text: userMessage(p, r.now(), digest)})
	stoppedEarly := false
	for turn := 1; turn <= r.cfg.MaxTurns; turn++ {
		if rn.overBudget() {
			stoppedEarly = true
			break
		}
		resp, err := rn.complete(ctx, model.PhaseMain, model.ToolChoiceAuto)
		if err != nil {
			if errors.Is(err, model.ErrBudget) {
				rn.note("the provider's token budget ran out: %v", err)
				r.metrics.errors.WithLabelValues(stageBudget).Inc()
				stoppedEarly = true
				break
			}
			return stageErr(stageModel, fmt.Errorf("turn %d: %w", turn, err))
		}
		calls := resp.ToolCalls
		for i := range calls {
			if calls[i].ID == "" {
				// Results are paired to calls by id; a server that sends none gets one made up.
				calls[i].ID = fmt.Sprintf("call_%d_%d", turn, i+1)
			}
			if !json.Valid(calls[i].Input) {
				// Arguments that are not JSON at all are kept as a JSON string (as the adapters
				// do), so the transcript stays valid JSON; callTool answers them with an error.
				calls[i].Input = model.WireArgs(calls[i].Input)
			}
		}
		rn.messages = append(rn.messages, model.Message{Role: model.Assistant, Text: resp.Text, ToolCalls: calls})
		if len(calls) == 0 {
			// The summary is the persona's closing words (SPEC §3): the text of the turn that
			// ends the day, never narration said along with tool calls ("Let me check.").
			rn.summary = strings.TrimSpace(resp.Text)
			break
		}
		results := make([]model.ToolResult, 0, len(calls))
		for _, c := range calls {
			res, err := rn.callTool(ctx, tools, names, c)
			if err != nil {
				// The run is over; the result goes into the transcript all the same.
				results = append(results, res)
				rn.messages = append(rn.messages, model.Message{Role: model.User, ToolResults: results})
				var se *stageError
				if errors.As(err, &se) {
					return err
				}
				return stageErr(stageTool, err)
			}
			results = append(results, res)
		}
		rn.messages = append(rn.messages, model.Message{Role: model.User, ToolResults: results})
		if turn == r.cfg.MaxTurns {
			rn.note("stopped after the maximum of %d model turns", r.cfg.MaxTurns)
		}
	}

	used := rn.used
	switch {
	case len(used) == 0:
		// Nothing used, nothing to rate.
	case stoppedEarly || rn.overBudget():
		rn.mu.Lock()
		spent := rn.usage.InputTokens + rn.usage.OutputTokens
		rn.mu.Unlock()
		rn.note("rating turn skipped: token budget of %d spent (%d tokens used)", r.cfg.TokenBudget, spent)
		r.metrics.errors.WithLabelValues(stageBudget).Inc()
	default:
		if err := rn.rate(ctx, used); err != nil {
			return err
		}
	}
	return nil
}

// openTools connects to the MCP server under our own timer: the SDK's connect can overrun its
// context when a server accepts the connection and never answers.
func (rn *run) openTools(ctx context.Context) (ToolSession, error) {
	cctx, cancel := context.WithTimeout(ctx, rn.r.connectTimeout)
	defer cancel()
	type opened struct {
		s   ToolSession
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		// The session lives as long as the run: a stdio server is ended at the run's deadline
		// or the runner's stop even when nothing else closes it.
		// The app may ask the persona for input during a call (sampling, elicitation): the
		// persona's own model answers, and each request is an action row (ask.go).
		s, err := rn.r.targets.Open(cctx, rn.p, target.OpenOptions{Lifetime: ctx, Client: ask.ClientOptions(&asker{rn: rn, life: ctx})})
		ch <- opened{s, err}
	}()
	select {
	case o := <-ch:
		if o.err != nil {
			if target.StageOf(o.err, "") != target.StageConnect {
				return nil, o.err // the strategy's own error says what failed (login, secrets, …)
			}
			return nil, fmt.Errorf("connect to %s: %w", rn.target, o.err)
		}
		return o.s, nil
	case <-cctx.Done():
		go func() {
			if o := <-ch; o.s != nil {
				o.s.Close()
			}
		}()
		return nil, fmt.Errorf("connect to %s: no answer within %s: %w", rn.target, rn.r.connectTimeout, context.Cause(cctx))
	}
}

func (rn *run) overBudget() bool {
	b := rn.r.cfg.TokenBudget
	if b <= 0 || !rn.budgetSpent() {
		return false
	}
	rn.mu.Lock()
	defer rn.mu.Unlock()
	if len(rn.notes) == 0 || !strings.HasPrefix(rn.notes[len(rn.notes)-1], "token budget") {
		rn.note("token budget of %d spent after %d tokens; the run was stopped early", b, rn.usage.InputTokens+rn.usage.OutputTokens)
	}
	return true
}

// budgetSpent reports whether the run's token budget (if any) is used up.
func (rn *run) budgetSpent() bool {
	b := rn.r.cfg.TokenBudget
	rn.mu.Lock()
	defer rn.mu.Unlock()
	return b > 0 && rn.usage.InputTokens+rn.usage.OutputTokens >= b
}

func (rn *run) complete(ctx context.Context, phase model.Phase, choice model.ToolChoice) (model.Response, error) {
	return rn.completeWith(ctx, phase, choice, rn.messages, rn.modelTools)
}

// completeWith is complete with the messages and tools given instead of the run's.
func (rn *run) completeWith(ctx context.Context, phase model.Phase, choice model.ToolChoice, msgs []model.Message, tools []model.Tool) (model.Response, error) {
	return rn.ask(ctx, model.Request{System: rn.system, Messages: msgs, Tools: tools, ToolChoice: choice, MaxTokens: rn.r.cfg.MaxTokens, Phase: phase})
}

// ask sends one request to the persona's provider and counts its tokens in the run. The main
// and rating turns count as turns; an app's sampling and elicitation requests do not.
func (rn *run) ask(ctx context.Context, req model.Request) (model.Response, error) {
	r := rn.r
	resp, err := r.provider.Complete(ctx, model.Request{
		System:     req.System,
		Messages:   req.Messages,
		Tools:      req.Tools,
		ToolChoice: req.ToolChoice,
		MaxTokens:  req.MaxTokens,
		Phase:      req.Phase,
		Persona:    model.Persona{Email: rn.p.Email, Archetype: rn.p.Archetype, ModuleMix: rn.p.ModuleMix, Timezone: rn.p.Timezone},
		TickID:     rn.tickID,
	})
	if err != nil {
		return resp, err
	}
	rn.mu.Lock()
	if req.Phase == model.PhaseMain || req.Phase == model.PhaseRating {
		rn.turns++
	}
	rn.usage = rn.usage.Add(resp.Usage)
	if resp.Model != "" {
		rn.modelName = resp.Model
	}
	rn.mu.Unlock()
	r.metrics.tokens.WithLabelValues("input").Add(float64(resp.Usage.InputTokens))
	r.metrics.tokens.WithLabelValues("output").Add(float64(resp.Usage.OutputTokens))
	r.metrics.tokens.WithLabelValues("cached").Add(float64(resp.Usage.CachedTokens))
	return resp, nil
}

// callTool makes one tool call and records it as one action row (SPEC §5.3 step 3). The row is
// built here, for this call, so its result can only ever be this call's. It returns an error only
// when the run itself is over (deadline, stop) during the call; the call still gets its error
// row, saying it was cut off. A failing tool or transport is an error action and the loop goes on.
func (rn *run) callTool(ctx context.Context, tools ToolSession, names toolNames, c model.ToolCall) (model.ToolResult, error) {
	r := rn.r
	seq := rn.nextSeq()
	mcpName, known := names.toMCP[c.Name]
	spec := rn.tools[mcpName]
	toolName, module := mcpName, spec.Module
	if !known {
		// A name the model made up is kept for the record, cleaned so the row is always valid
		// (a row the store refuses would take its whole batch with it); its module is the one
		// fixed "unknown" bucket, so made-up names cannot grow the metric's label set.
		toolName, module = unknownToolName(c.Name), UnknownModule
	}
	args := compactArgs(c.Input)
	a := persona.Action{
		PersonaID: rn.p.UserID,
		TickID:    rn.tickID,
		ToolName:  toolName,
		Module:    module,
		InputHash: persona.InputHash(args),
		Seq:       seq,
		CreatedAt: r.now(),
	}
	a.ID = persona.ActionID(rn.tickID, seq, toolName)
	if r.cfg.RecordArguments {
		a.Arguments = persona.EvidenceArguments(args)
	}
	if known && spec.Offered() && !slices.Contains(rn.used, a.Module) {
		rn.used = append(rn.used, a.Module)
	}
	var (
		out     ToolOutput
		callErr error
	)
	_, argsErr := c.Args()
	switch {
	case !known:
		out = ToolOutput{IsError: true, Text: fmt.Sprintf("unknown tool %.80q: use one of the tools listed", c.Name)}
	case !spec.Offered():
		// Refused here, never sent to the app: the target's policy hides the tool.
		out = ToolOutput{IsError: true, Text: fmt.Sprintf("tool %s is not available: the target's tool policy hides it (%s)", mcpName, spec.Hidden)}
	case argsErr != nil:
		// Providers keep arguments that are not a JSON object as a JSON string, which is valid
		// JSON: what matters is whether they decode to the object a tool takes.
		detail := strings.TrimPrefix(argsErr.Error(), "tool call "+c.Name+": ")
		out = ToolOutput{IsError: true, Text: "malformed tool call: " + detail + "; send the arguments as one JSON object"}
	default:
		cctx, cancel := context.WithTimeout(ctx, r.callTimeout)
		rn.setCalling(mcpName)
		t0 := time.Now()
		out, callErr = tools.CallTool(cctx, mcpName, args)
		rn.setCalling("")
		a.LatencyMs = persona.Latency(latencyMs(time.Since(t0)))
		cancel()
		if ctx.Err() != nil {
			// The run ended during the call: its outcome is unknown, and it is not the app's
			// fault, but the call was made, so it keeps its audit row (not counted as a tool
			// error in the metrics: the run's own status says what happened).
			a.Result = persona.ResultError
			a.ErrorMessage = cleanText(fmt.Sprintf("cut off: the run ended during the call (%v); its outcome is unknown", context.Cause(ctx)), persona.MaxErrorMessage)
			a.ErrorClass = persona.ClassTimeout
			rn.addAction(a)
			r.metrics.toolCalls.WithLabelValues(a.Module, string(a.Result)).Inc()
			return model.ToolResult{CallID: c.ID, Content: a.ErrorMessage, IsError: true}, fmt.Errorf("call %s: %w", mcpName, context.Cause(ctx))
		}
	}
	content := out.Text
	switch {
	case callErr != nil:
		a.Result = persona.ResultError
		a.ErrorMessage = cleanText("transport: "+callErr.Error(), persona.MaxErrorMessage)
		content = "The call failed before the app answered: " + callErr.Error()
	case out.IsError:
		a.Result = persona.ResultError
		a.ErrorMessage = cleanText(out.Text, persona.MaxErrorMessage)
		if a.ErrorMessage == "" {
			a.ErrorMessage = "the tool reported an error without a message"
		}
	default:
		a.Result = persona.ResultOK
	}
	if a.Result == persona.ResultError {
		a.ErrorClass = persona.ClassifyError(a.ErrorMessage)
	}
	if r.cfg.RecordArguments {
		a.ResultPreview = persona.EvidencePreview(cleanText(content, persona.MaxEvidence))
	}
	if callErr != nil {
		// The connection to the app failed, or the app refused the persona's credentials: an
		// outage of the infrastructure, not a result of the tool. The call keeps its audit row,
		// classed transport (or auth) so that reports leave it out of the tool's error rate, and
		// the run ends failed at stage mcp: a day without its app is no day to rate.
		if a.ErrorClass != persona.ClassAuth {
			a.ErrorClass = persona.ClassTransport
		}
		rn.addAction(a)
		r.metrics.toolCalls.WithLabelValues(a.Module, string(a.Result)).Inc()
		return model.ToolResult{CallID: c.ID, Content: content, IsError: true},
			stageErr(stageMCP, fmt.Errorf("the connection to %s failed during call %s: %w", rn.target, mcpName, callErr))
	}
	rn.addAction(a)
	r.metrics.toolCalls.WithLabelValues(a.Module, string(a.Result)).Inc()
	if a.Result == persona.ResultError {
		r.metrics.errors.WithLabelValues(stageTool).Inc()
	}
	if len(content) > maxToolResult {
		content = persona.Truncate(content[:maxToolResult], maxToolResult) + " …(cut)"
	}
	return model.ToolResult{CallID: c.ID, Content: content, IsError: a.Result == persona.ResultError}, nil
}

func (rn *run) feedback() []persona.Feedback {
	out := make([]persona.Feedback, len(rn.ratings))
	now := rn.r.now()
	for i, rt := range rn.ratings {
		out[i] = persona.Feedback{
			ID:        persona.FeedbackID(rn.tickID, rt.Module),
			PersonaID: rn.p.UserID,
			TickID:    rn.tickID,
			Module:    rt.Module,
			Rating:    rt.Rating,
			Notes:     rt.Notes,
			CreatedAt: now,
		}
	}
	return out
}

// UnknownModule is the module of an action whose tool name is not one the app listed.
const UnknownModule = "unknown"

// unknownToolName is the tool_name kept for a call of a tool the app did not list: the name as
// the model sent it, as valid UTF-8 without control characters and at most 64 characters, or
// "unknown" when nothing is left.
func unknownToolName(name string) string {
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, strings.ToValidUTF8(name, ""))
	name = persona.Truncate(strings.TrimSpace(name), 64)
	if name == "" {
		return UnknownModule
	}
	return name
}

// compactArgs returns a call's arguments as compact JSON ({} when empty), the form they are
// hashed and sent in. Invalid JSON is returned as it is.
func compactArgs(in json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(in)) == 0 {
		return json.RawMessage("{}")
	}
	var b bytes.Buffer
	if err := json.Compact(&b, in); err != nil {
		return in
	}
	return b.Bytes()
}

// latencyMs rounds a measured call duration up to whole milliseconds, so that a call that took
// any time at all never reads as 0 ms.
func latencyMs(d time.Duration) int64 {
	if d <= 0 {
		return 1
	}
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

// newTickID returns a UUID (version 7) for a run's tick id.
func newTickID() string { return uuid.Must(uuid.NewV7()).String() }
