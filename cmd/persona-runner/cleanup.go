package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/persona-runner/persona-runner/catalog"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store"
)

// CleanupCmd deletes personas that are not in the catalog (or all of them) with all their data.
type CleanupCmd struct {
	StoreFlags `embed:""`
	All        bool   `xor:"keep" help:"Delete every persona, whatever any catalog says."`
	Catalog    string `xor:"keep" placeholder:"FILE" help:"Catalog whose personas to keep (default: the catalog the store was last seeded from)."`
	DryRun     bool   `help:"List what would be deleted and delete nothing."`
	Yes        bool   `short:"y" help:"Delete without asking (needed when stdin is not a terminal)."`
}

// seededCatalogKey is the store setting that records the catalog the store was last seeded
// from: cleanup's default keeps its personas.
const seededCatalogKey = "seed.catalog"

// seededCatalog is the record kept under seededCatalogKey. The emails are kept, not only the
// file's name, so that the default still means what was seeded after the file changed or moved.
type seededCatalog struct {
	Source   string    `json:"source"`
	Emails   []string  `json:"emails"`
	SeededAt time.Time `json:"seededAt"`
}

// recordSeedCatalog notes in the store that cat was just seeded into it.
func recordSeedCatalog(ctx context.Context, db store.Settings, cat *catalog.Catalog) error {
	b, err := json.Marshal(seededCatalog{Source: cat.Source, Emails: cat.Emails(), SeededAt: time.Now().UTC()})
	if err != nil {
		return err
	}
	if err := db.SetSetting(ctx, seededCatalogKey, string(b)); err != nil {
		return fmt.Errorf("record the seeded catalog: %w", err)
	}
	return nil
}

// Run lists the personas to delete, asks (or takes --yes), and deletes them one by one; each
// deletion is one transaction of the store, so an interrupted cleanup leaves whole personas,
// never half of one.
func (c *CleanupCmd) Run(env *Env) error {
	if c.All && c.Catalog != "" { // kong's xor says so too; kept for callers that build the struct
		return usageError{errors.New("--all and --catalog cannot be used together: --all deletes every persona, --catalog keeps that catalog's")}
	}
	var keepFrom string
	keep := map[string]bool{}
	if c.Catalog != "" {
		cat, err := loadCatalog(c.Catalog)
		if err != nil {
			return err
		}
		keepFrom = cat.Source
		for _, email := range cat.Emails() {
			keep[email] = true
		}
	}
	// Cleanup deletes from a store; it never makes one.
	if err := c.MustExist(env); err != nil {
		return err
	}
	db, err := c.Open(env.Ctx, env)
	if err != nil {
		return err
	}
	defer db.Close()
	if !c.All && c.Catalog == "" {
		rec, ok, err := seededFrom(env.Ctx, db)
		if err != nil {
			return err
		}
		if !ok {
			return usageError{errors.New("this store has no record of the catalog it was seeded from (seeded by an older version, or through --auth): name the catalog whose personas to keep with --catalog FILE, or delete every persona with --all")}
		}
		keepFrom = fmt.Sprintf("%s, last seeded %s", rec.Source, rec.SeededAt.Format(time.RFC3339))
		for _, email := range rec.Emails {
			keep[email] = true
		}
	}
	all, err := db.ListPersonas(env.Ctx, time.Now().Add(-7*24*time.Hour))
	if err != nil {
		return fmt.Errorf("cleanup: list personas: %w", err)
	}
	var victims []persona.PersonaSummary
	for _, p := range all {
		if !keep[p.Email] {
			victims = append(victims, p)
		}
	}
	if c.All {
		fmt.Fprintf(env.Stdout, "--all: every persona is deleted\n")
	} else {
		fmt.Fprintf(env.Stdout, "keeping the personas of the %s\n", keepFrom)
	}
	if len(victims) == 0 {
		_, err := fmt.Fprintf(env.Stdout, "nothing to delete: all %d personas are in the catalog\n", len(all))
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "EMAIL\tNAME\tUSER ID\tACTIONS 7D")
	for _, p := range victims {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", p.Email, p.Name, p.UserID, p.Actions7d)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	kept := len(all) - len(victims)
	if c.DryRun {
		_, err = fmt.Fprintf(env.Stdout, "dry run: would delete %d, keep %d\n", len(victims), kept)
		return err
	}
	if !c.Yes {
		if !isTerminal(env.Stdin) {
			return usageError{fmt.Errorf("cleanup would delete the %d personas above with all their data: confirm with --yes (stdin is not a terminal, so it cannot ask); nothing was deleted", len(victims))}
		}
		if !confirm(env.Stdin, env.Stdout, fmt.Sprintf("Delete these %d personas and all their data?", len(victims))) {
			_, err := fmt.Fprintln(env.Stdout, "cancelled: nothing was deleted")
			return err
		}
	}
	deleted := 0
	for _, p := range victims {
		if err := db.DeletePersona(env.Ctx, p.UserID); err != nil {
			return fmt.Errorf("cleanup: delete persona %s: %w (%d deleted before it)", p.Email, err, deleted)
		}
		deleted++
	}
	_, err = fmt.Fprintf(env.Stdout, "deleted %d, kept %d\n", deleted, kept)
	return err
}

// seededFrom reads the record of the catalog the store was last seeded from.
func seededFrom(ctx context.Context, db store.Settings) (seededCatalog, bool, error) {
	v, ok, err := db.Setting(ctx, seededCatalogKey)
	if err != nil || !ok {
		return seededCatalog{}, false, err
	}
	var rec seededCatalog
	if err := json.Unmarshal([]byte(v), &rec); err != nil {
		return seededCatalog{}, false, fmt.Errorf("the store's record of its seeded catalog is unreadable (%v): name the catalog with --catalog FILE", err)
	}
	return rec, true, nil
}

// confirm asks question on w and reads the answer from r: only y or yes (any case) agrees.
func confirm(r io.Reader, w io.Writer, question string) bool {
	fmt.Fprintf(w, "%s [y/N] ", question)
	line, _ := bufio.NewReader(r).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}
