package sim

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/persona-runner/persona-runner/model"
)

// kind is what a tool does, guessed from its verb, which decides how a person would use it.
type kind int

const (
	kindOther kind = iota
	kindRead
	kindCreate
	kindUpdate
	kindDelete
)

// Verb prefixes, checked in this order. "log" and "checkin" create entries; "set" changes things.
var verbKinds = []struct {
	kind     kind
	prefixes []string
}{
	{kindRead, []string{"list", "get", "search", "find", "read", "show", "view", "stats", "summary", "overview",
		"query", "history", "today", "count", "recent", "browse", "export", "streak", "report", "upcoming"}},
	{kindCreate, []string{"create", "add", "new", "log", "write", "record", "start", "track", "save", "post",
		"capture", "checkin", "schedule", "import", "quick"}},
	{kindUpdate, []string{"update", "edit", "complete", "done", "toggle", "rename", "set", "archive", "move",
		"tag", "finish", "mark", "pin", "reorder", "stop", "undo", "uncomplete", "reopen"}},
	{kindDelete, []string{"delete", "remove", "clear", "purge"}},
}

// verbOf is the tool name after its module, lowercased without separators: todo_list_today →
// "listtoday", habit_tracker_log with module habit_tracker → "log".
func verbOf(tool, module string) string {
	rest, ok := strings.CutPrefix(tool, module+"_")
	if !ok {
		_, rest, _ = strings.Cut(tool, "_")
	}
	return strings.ToLower(dropSeparators.Replace(rest))
}

func kindOf(verb string) kind {
	for _, vk := range verbKinds {
		for _, p := range vk.prefixes {
			if strings.HasPrefix(verb, p) {
				return vk.kind
			}
		}
	}
	return kindOther
}

// tool is a model.Tool with its schema parsed and its id-like properties found.
type tool struct {
	name   string
	module string
	kind   kind
	schema *jsonschema.Schema
	ids    []idProp
}

// idProp is a top-level property that names an entity: "id", "todoId", "habit_id".
type idProp struct {
	name     string
	typ      string
	required bool
}

func parseTools(ts []model.Tool, known []string) []*tool {
	out := make([]*tool, 0, len(ts))
	for _, mt := range ts {
		module := moduleOf(mt.Name, known)
		key := module + "\x00" + mt.Name + "\x00" + string(mt.InputSchema)
		if t, ok := toolCache.Load(key); ok {
			out = append(out, t.(*tool))
			continue
		}
		t := &tool{name: mt.Name, module: module, kind: kindOf(verbOf(mt.Name, module))}
		var sch jsonschema.Schema
		if err := json.Unmarshal(mt.InputSchema, &sch); err != nil || len(mt.InputSchema) == 0 {
			// An unreadable schema is played as an object with no known properties; the app
			// will say what it wanted, as it would to a person.
			sch = jsonschema.Schema{Type: "object"}
		}
		t.schema = &sch
		g := &gen{root: t.schema}
		if root := g.resolve(t.schema); root != nil {
			for _, name := range sortedKeys(root.Properties) {
				if !isIDName(name) {
					continue
				}
				typ := norm(idPrefix(name))
				if name == "id" || name == "ID" {
					typ = norm(t.module)
				}
				t.ids = append(t.ids, idProp{name: name, typ: typ, required: contains(root.Required, name)})
			}
		}
		toolCache.Store(key, t)
		out = append(out, t)
	}
	return out
}

// player holds what one turn of one persona knows and decides.
type player struct {
	s       *Sim
	req     model.Request
	h       *history
	tools   []*tool
	modules []string // modules on offer, sorted
	r       *rand.Rand
	newbie  bool
	power   bool
	today   time.Time
	used    map[string]bool // tool name + "\x00" + id: pairs already acted on
	called  map[string]int  // tool name → calls so far
}

// planned is one tool call the persona is about to make.
type planned struct {
	tool   *tool
	target *entity // the entity this call follows up on, if any
	intent string
}

func (s *Sim) play(req model.Request, h *history) model.Response {
	n := s.plannedCalls(req.Persona, runKey(req))
	made := len(h.calls)
	// The runner allows 15 model turns (SPEC §5.3); close well before, whatever happened.
	if made >= n || h.turns >= 12 {
		return s.summarize(req, h, "")
	}
	p := &player{
		s: s, req: req, h: h, tools: parseTools(req.Tools, knownModules(req.Persona)),
		r:      s.rng(req.Persona, runKey(req), "step", made),
		newbie: isNewbie(req.Persona.Archetype), power: isPowerUser(req.Persona.Archetype),
		used: map[string]bool{}, called: map[string]int{}, today: s.today(req),
	}
	seen := map[string]bool{}
	for _, t := range p.tools {
		if !seen[t.module] {
			seen[t.module] = true
			p.modules = append(p.modules, t.module)
		}
	}
	slices.Sort(p.modules)
	for _, c := range h.calls {
		p.called[c.tool]++
		for k, v := range c.args {
			if isIDName(k) {
				p.used[c.tool+"\x00"+fmt.Sprint(v)] = true
			}
		}
	}

	first, _ := p.choose(true, "")
	batch := []planned{first}
	// Now and then a person does two unrelated things in one go.
	if made+1 < n && p.r.Float64() < 0.2 {
		if second, ok := p.choose(false, first.tool.name); ok {
			batch = append(batch, second)
		}
	}

	resp := model.Response{StopReason: model.StopToolUse}
	var lines []string
	for i, pc := range batch {
		seq := made + i
		id := fmt.Sprintf("sim_%d_%08x", seq, s.rng(req.Persona, runKey(req), "id", seq).Uint32())
		args, note := p.arguments(pc, seq)
		input, err := json.Marshal(args)
		if err != nil {
			// Generated values are plain JSON types; this cannot fail, but an empty object is
			// the honest fallback if it ever did.
			input = []byte("{}")
		}
		resp.ToolCalls = append(resp.ToolCalls, model.ToolCall{ID: id, Name: pc.tool.name, Input: input})
		lines = append(lines, fmt.Sprintf("%s %s %s: %s%s", Label, id, pc.tool.name, pc.intent, note))
	}
	resp.Text = strings.Join(lines, "\n")
	return resp
}

// arguments builds the call's input from its own random stream, so that one call's arguments do
// not depend on how many calls share its turn. note describes deliberate mistakes and probes.
func (p *player) arguments(pc planned, seq int) (map[string]any, string) {
	r := p.s.rng(p.req.Persona, runKey(p.req), "call", seq)
	g := &gen{
		r: r, w: wordsFor(p.req.Persona.Archetype), module: pc.tool.module,
		today: p.today, email: p.req.Persona.Email, tz: p.req.Persona.Timezone,
		root:  pc.tool.schema,
		power: p.power && r.Float64() < 0.75,
	}
	g.lookup = func(prop string) (any, bool) { return p.lookup(pc.tool, pc.target, prop) }
	args, _ := g.value(pc.tool.schema, "", true, 0).(map[string]any)
	if args == nil {
		args = map[string]any{}
	}
	if pc.tool.kind == kindUpdate {
		g.changeSomething(args)
	}
	var note string
	if p.newbie && r.Float64() < 0.25 {
		if what, ok := g.spoil(args); ok {
			note = "; deliberately invalid input: " + what
		}
	}
	if note == "" && len(g.probes) > 0 {
		note = "; probing boundaries: " + strings.Join(g.probes[:min(len(g.probes), 3)], ", ")
	}
	return args, note
}

// lookup finds an id for property prop of tool t: the followed-up entity when it fits, else
// the best entity of that kind not yet acted on with this tool, else any of that kind.
func (p *player) lookup(t *tool, target *entity, prop string) (any, bool) {
	typ := norm(idPrefix(prop))
	if prop == "id" || prop == "ID" {
		typ = norm(t.module)
	}
	if target != nil && sameKind(target.typ, typ) {
		return target.id, true
	}
	if e, ok := p.best(t.name, typ, true); ok {
		return e.id, true
	}
	if e, ok := p.best(t.name, typ, false); ok {
		return e.id, true
	}
	return nil, false
}

// best ranks entities of kind typ: one this persona created in the module, then one named by an
// explicit "xId" field, then one it read; newer first.
func (p *player) best(toolName, typ string, fresh bool) (entity, bool) {
	var found entity
	score := -1
	for _, e := range p.h.entities {
		if !sameKind(e.typ, typ) || (fresh && p.used[toolName+"\x00"+fmt.Sprint(e.id)]) {
			continue
		}
		sc := 1
		switch {
		case e.created:
			sc = 3
		case e.literal:
			sc = 2
		}
		sc = sc*1000 + e.seq
		if sc > score {
			found, score = e, sc
		}
	}
	return found, score >= 0
}

// satisfiable reports whether every required id of t can be filled from what was seen.
func (p *player) satisfiable(t *tool) bool {
	for _, ip := range t.ids {
		if ip.required {
			if _, ok := p.best(t.name, ip.typ, false); !ok {
				return false
			}
		}
	}
	return true
}

func weighted[T any](r *rand.Rand, xs []T, weight func(T) float64) (T, bool) {
	total := 0.0
	for _, x := range xs {
		total += max(weight(x), 0)
	}
	var zero T
	if total <= 0 {
		return zero, false
	}
	v := r.Float64() * total
	for _, x := range xs {
		if w := max(weight(x), 0); w > 0 {
			if v < w {
				return x, true
			}
			v -= w
		}
	}
	return xs[len(xs)-1], true
}

// followUp is a call that acts on something seen earlier: complete the todo just created, log
// the habit just made, update the note just written.
type followUp struct {
	tool   *tool
	target entity
	weight float64
}

func (p *player) followUps() []followUp {
	var out []followUp
	for _, t := range p.tools {
		for _, ip := range t.ids {
			if !ip.required && t.kind != kindRead {
				continue
			}
			for i := len(p.h.entities) - 1; i >= 0; i-- {
				e := p.h.entities[i]
				if !sameKind(e.typ, ip.typ) || p.used[t.name+"\x00"+fmt.Sprint(e.id)] {
					continue
				}
				w := 1.5
				if e.created {
					w = 4
				}
				switch t.kind {
				case kindRead:
					w *= 0.3
				case kindDelete:
					w *= 0.1
				}
				out = append(out, followUp{tool: t, target: e, weight: w})
				break // the newest fitting entity stands for its kind
			}
		}
	}
	return out
}

// choose picks the next call, never the tool named exclude. A first call of a turn may follow up
// on earlier results; other picks start something new in a module chosen by the persona's
// weights. ok is false when the chosen module has no tool left to pick, which cannot happen
// without an exclusion.
func (p *player) choose(first bool, exclude string) (_ planned, ok bool) {
	if first && p.r.Float64() < 0.55 {
		if fu, ok := weighted(p.r, p.followUps(), func(f followUp) float64 { return f.weight }); ok {
			what := "I saw"
			if fu.target.created {
				what = "I just made"
			}
			return planned{tool: fu.tool, target: &fu.target,
				intent: fmt.Sprintf("following up on the %s %s (id %v)", fu.target.typ, what, fu.target.id)}, true
		}
	}
	m, offMix := p.pickModule()
	candidates := p.toolsIn(m, exclude)
	t, _ := weighted(p.r, candidates, func(t *tool) float64 {
		w := map[kind]float64{kindCreate: 3, kindRead: 2, kindUpdate: 1.5, kindOther: 1, kindDelete: 0.2}[t.kind]
		if !p.satisfiable(t) {
			w *= 0.3
		}
		// A person seldom reads the same list twice in a day; adding several things is normal.
		if n := p.called[t.name]; n > 0 && t.kind == kindRead {
			w /= float64(1 + 3*n)
		}
		return w
	})
	if t == nil {
		return planned{}, false
	}
	suffix := ""
	if offMix {
		suffix = fmt.Sprintf(" (wandered into %s, which I did not mean to use)", m)
	}
	if !p.satisfiable(t) {
		// A person who needs an id looks for it first; a newbie sometimes just tries.
		if rd := p.readTool(m, exclude); rd != nil && !(p.newbie && p.r.IntN(2) == 0) {
			return planned{tool: rd, intent: fmt.Sprintf("looking through my %s first, to find one to use with %s%s", m, t.name, suffix)}, true
		}
		if !p.newbie {
			var ok []*tool
			for _, c := range p.tools {
				if c.name != exclude && p.satisfiable(c) && c.module == m {
					ok = append(ok, c)
				}
			}
			if len(ok) > 0 {
				t = ok[p.r.IntN(len(ok))]
			}
		}
	}
	if (t.kind == kindCreate || t.kind == kindUpdate) && p.r.Float64() < 0.3 {
		if rd := p.readTool(m, exclude); rd != nil && p.called[rd.name] == 0 {
			return planned{tool: rd, intent: fmt.Sprintf("checking my %s before I change anything%s", m, suffix)}, true
		}
	}
	return planned{tool: t, intent: intentOf(t) + suffix}, true
}

func intentOf(t *tool) string {
	switch t.kind {
	case kindRead:
		return "looking at my " + t.module
	case kindCreate:
		return "adding something to " + t.module
	case kindUpdate:
		return "changing something in " + t.module
	case kindDelete:
		return "removing something from " + t.module
	}
	return "trying " + t.name
}

// pickModule draws a module by the persona's weights among the modules on offer (all equally
// when none of its modules are). A newbie sometimes strays into a module outside its mix.
func (p *player) pickModule() (string, bool) {
	mix := p.req.Persona.ModuleMix
	var in, out []string
	for _, m := range p.modules {
		if mix[m] > 0 {
			in = append(in, m)
		} else {
			out = append(out, m)
		}
	}
	if p.newbie && len(out) > 0 && len(in) > 0 && p.r.Float64() < 0.15 {
		return out[p.r.IntN(len(out))], true
	}
	if len(in) == 0 {
		return p.modules[p.r.IntN(len(p.modules))], false
	}
	m, _ := weighted(p.r, in, func(m string) float64 { return mix[m] })
	return m, false
}

func (p *player) toolsIn(m, exclude string) []*tool {
	var out []*tool
	for _, t := range p.tools {
		if t.module == m && t.name != exclude {
			out = append(out, t)
		}
	}
	return out
}

// readTool is a listing or search tool of module m that needs no id, preferring lists.
func (p *player) readTool(m, exclude string) *tool {
	var best *tool
	for _, t := range p.tools {
		if t.module != m || t.kind != kindRead || t.name == exclude || !p.satisfiable(t) {
			continue
		}
		if best == nil || (strings.HasPrefix(verbOf(t.name, t.module), "list") && !strings.HasPrefix(verbOf(best.name, best.module), "list")) {
			best = t
		}
	}
	return best
}

// summarize closes the main turn with one line saying what the persona did.
func (s *Sim) summarize(req model.Request, h *history, why string) model.Response {
	name := fmt.Sprintf("%s (%s)", shortName(req.Persona.Email), cmpString(req.Persona.Archetype, "persona"))
	if len(h.calls) == 0 {
		return model.Response{StopReason: model.StopEnd,
			Text: fmt.Sprintf("%s %s made no tool calls today: %s.", Label, name, cmpString(why, "nothing to do"))}
	}
	var mods []string
	failed := 0
	var firstFail *call
	for _, c := range h.calls {
		if !slices.Contains(mods, c.module) {
			mods = append(mods, c.module)
		}
		if c.isError || !c.answered {
			failed++
			if firstFail == nil {
				firstFail = c
			}
		}
	}
	text := fmt.Sprintf("%s %s used %s: %d tool calls, %d worked, %d failed", Label, name,
		strings.Join(mods, ", "), len(h.calls), len(h.calls)-failed, failed)
	if firstFail != nil {
		text += fmt.Sprintf(" (%s: %s)", firstFail.tool, errorText(firstFail))
	}
	text = strings.Join(strings.Fields(text+"."), " ")
	return model.Response{Text: text, StopReason: model.StopEnd}
}
