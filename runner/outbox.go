package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/persona-runner/persona-runner/persona"
)

// outbox keeps finished runs whose rows the store would not take within the persist budget (an
// outage of the auth API or the database): one JSON file per run in a directory beside the
// runner, written atomically (temporary file, fsync, rename), replayed until the store takes it
// and then removed. Replays are safe to repeat: action and feedback ids are deterministic and the
// tick record is an upsert. A run the store refuses for good on replay (its persona deleted, a
// row it calls invalid) moves to the failed/ subdirectory, where it stays for a person to read.
type outbox struct {
	dir string

	mu        sync.Mutex
	byPersona map[string]int // pending runs per persona id
	pending   int
	failed    int
}

// outboxEntry is one run in the outbox.
type outboxEntry struct {
	Version  int                `json:"version"`
	Email    string             `json:"email"`
	Tick     persona.Tick       `json:"tick"`
	Actions  []persona.Action   `json:"actions"`
	Feedback []persona.Feedback `json:"feedback"`
}

func (e outboxEntry) record() persona.RunRecord {
	return persona.RunRecord{Tick: e.Tick, Actions: e.Actions, Feedback: e.Feedback}
}

const outboxVersion = 1

// openOutbox opens the outbox in dir and counts what waits in it. The directory is created by
// the first run put in it, so a runner that never needs it leaves nothing behind.
func openOutbox(dir string) (*outbox, error) {
	o := &outbox{dir: dir, byPersona: map[string]int{}}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return o, nil
	} else if err != nil {
		return nil, fmt.Errorf("outbox %s: %w", dir, err)
	}
	names, err := o.names()
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		e, err := o.read(n)
		if err != nil {
			return nil, err
		}
		o.byPersona[e.Tick.PersonaID]++
		o.pending++
	}
	failed, err := filepath.Glob(filepath.Join(dir, "failed", "*.json"))
	if err != nil {
		return nil, fmt.Errorf("outbox %s: %w", dir, err)
	}
	o.failed = len(failed)
	return o, nil
}

// names lists the pending runs' file names, oldest first (tick ids are UUID v7, ordered by time).
func (o *outbox) names() ([]string, error) {
	ents, err := os.ReadDir(o.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("outbox %s: %w", o.dir, err)
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out, nil
}

func (o *outbox) read(name string) (outboxEntry, error) {
	var e outboxEntry
	b, err := os.ReadFile(filepath.Join(o.dir, name))
	if err != nil {
		return e, fmt.Errorf("outbox: %w", err)
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("outbox: %s is not a run: %w", filepath.Join(o.dir, name), err)
	}
	if e.Version != outboxVersion || e.Tick.TickID == "" || e.Tick.PersonaID == "" {
		return e, fmt.Errorf("outbox: %s is not a run of this version (version %d)", filepath.Join(o.dir, name), e.Version)
	}
	return e, nil
}

// fileName is the outbox file of a tick id. Tick ids are UUIDs; anything else is refused rather
// than turned into a path.
func fileName(tickID string) (string, error) {
	if tickID == "" || strings.ContainsAny(tickID, `/\`) || strings.HasPrefix(tickID, ".") {
		return "", fmt.Errorf("outbox: tick id %q cannot name a file", tickID)
	}
	return tickID + ".json", nil
}

// put keeps a run durably: when put returns nil the file is on disk under its final name.
func (o *outbox) put(email string, rec persona.RunRecord) error {
	name, err := fileName(rec.Tick.TickID)
	if err != nil {
		return err
	}
	b, err := json.Marshal(outboxEntry{Version: outboxVersion, Email: email, Tick: rec.Tick, Actions: rec.Actions, Feedback: rec.Feedback})
	if err != nil {
		return fmt.Errorf("outbox: encode run: %w", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	final := filepath.Join(o.dir, name)
	_, statErr := os.Stat(final)
	if err := writeFileSync(o.dir, name, b); err != nil {
		return err
	}
	if errors.Is(statErr, os.ErrNotExist) {
		o.byPersona[rec.Tick.PersonaID]++
		o.pending++
	}
	return nil
}

// writeFileSync writes name in dir atomically and durably: a temporary file, fsync, rename,
// fsync of the directory.
func writeFileSync(dir, name string, b []byte) error {
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("outbox: write %s: %w", filepath.Join(dir, name), err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// done removes a run the store has taken.
func (o *outbox) done(e outboxEntry) error {
	name, err := fileName(e.Tick.TickID)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := os.Remove(filepath.Join(o.dir, name)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil // another replay took it
		}
		return fmt.Errorf("outbox: %w", err)
	}
	o.forget(e.Tick.PersonaID)
	return nil
}

// fail moves a run the store refused for good to failed/.
func (o *outbox) fail(e outboxEntry) error {
	name, err := fileName(e.Tick.TickID)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := os.MkdirAll(filepath.Join(o.dir, "failed"), 0o700); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	if err := os.Rename(filepath.Join(o.dir, name), filepath.Join(o.dir, "failed", name)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("outbox: %w", err)
	}
	o.forget(e.Tick.PersonaID)
	o.failed++
	return nil
}

func (o *outbox) forget(personaID string) {
	o.pending--
	if o.byPersona[personaID]--; o.byPersona[personaID] <= 0 {
		delete(o.byPersona, personaID)
	}
}

// holds reports whether runs of personaID wait in the outbox.
func (o *outbox) holds(personaID string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.byPersona[personaID] > 0
}

// depth returns how many runs wait, and how many were refused for good.
func (o *outbox) depth() (pending, failed int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.pending, o.failed
}
