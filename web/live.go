package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/persona-runner/persona-runner/httpserver"
)

// EventKind names what happened in the runner.
type EventKind string

// Event kinds the live strip follows.
const (
	TickStarted  EventKind = "tick.started"
	RunFinished  EventKind = "run.finished"
	TickFinished EventKind = "tick.finished"
)

// Event is one step of a tick, as the runner reports it (up converts runner.Event).
type Event struct {
	Kind EventKind
	// TickStarted: the personas due at the start (0 when unknown).
	Due int
	// RunFinished: the persona and its run.
	Email     string
	Status    string
	ToolCalls int
	Errors    int
}

// Live is the state of the live strip, sent as the data of each server-sent event.
type Live struct {
	Running   bool      `json:"running"`
	Due       int       `json:"due"`
	Done      int       `json:"done"`
	Failed    int       `json:"failed"`
	Calls     int       `json:"calls"`
	Errors    int       `json:"errors"`
	Last      string    `json:"last,omitempty"` // the last persona that finished, and how
	StartedAt time.Time `json:"startedAt,omitzero"`
	EndedAt   time.Time `json:"endedAt,omitzero"`
}

// hub keeps the live state and fans it out to the open streams.
type hub struct {
	mu    sync.Mutex
	now   func() time.Time
	state Live
	subs  map[chan Live]struct{}
}

func newHub(now func() time.Time) *hub { return &hub{now: now, subs: map[chan Live]struct{}{}} }

func (h *hub) publish(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch e.Kind {
	case TickStarted:
		h.state = Live{Running: true, Due: e.Due, StartedAt: h.now().UTC()}
	case RunFinished:
		h.state.Done++
		h.state.Calls += e.ToolCalls
		h.state.Errors += e.Errors
		if e.Status != "ok" {
			h.state.Failed++
		}
		if h.state.Done > h.state.Due {
			h.state.Due = h.state.Done
		}
		h.state.Last = fmt.Sprintf("%s %s (%d calls, %d errors)", e.Email, e.Status, e.ToolCalls, e.Errors)
	case TickFinished:
		h.state.Running = false
		h.state.EndedAt = h.now().UTC()
	default:
		return
	}
	for ch := range h.subs {
		select {
		case ch <- h.state:
		default: // a slow stream skips an update; the next one carries the whole state
		}
	}
}

func (h *hub) snapshot() Live {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state
}

func (h *hub) subscribe() (chan Live, Live) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := make(chan Live, 8)
	h.subs[ch] = struct{}{}
	return ch, h.state
}

func (h *hub) unsubscribe(ch chan Live) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, ch)
}

// liveKeepAlive is how often an idle stream gets a comment, so proxies keep it open.
const liveKeepAlive = 25 * time.Second

// liveStream serves the live strip as server-sent events: the current state at once, then every
// change, until the client goes away.
func (s *Server) liveStream(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	// The stream outlives the server's read and write timeouts, which are meant for pages.
	httpserver.Stream(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	ch, cur := s.live.subscribe()
	defer s.live.unsubscribe(ch)
	send := func(l Live) bool {
		b, _ := json.Marshal(l)
		if _, err := fmt.Fprintf(w, "event: live\ndata: %s\n\n", b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send(cur) {
		return
	}
	keep := time.NewTicker(liveKeepAlive)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.closed:
			return
		case l := <-ch:
			if !send(l) {
				return
			}
		case <-keep.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}
