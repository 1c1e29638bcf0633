package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/persona-runner/persona-runner/persona"
)

// CleanupCmd deletes personas that are not in the catalog (or all of them) with all their data.
type CleanupCmd struct {
	StoreFlags `embed:""`
	All        bool   `help:"Delete every persona, not only those missing from the catalog."`
	Catalog    string `placeholder:"FILE" help:"Catalog whose personas to keep (default: the catalog built into the binary)."`
	DryRun     bool   `help:"List what would be deleted and delete nothing."`
}

// Run lists the personas to delete and deletes them one by one; each deletion is one
// transaction of the store, so an interrupted cleanup leaves whole personas, never half of one.
func (c *CleanupCmd) Run(env *Env) error {
	keep := map[string]bool{}
	if !c.All {
		cat, err := loadCatalog(c.Catalog)
		if err != nil {
			return err
		}
		for _, email := range cat.Emails() {
			keep[email] = true
		}
	}
	db, err := c.Open(env.Ctx, env)
	if err != nil {
		return err
	}
	defer db.Close()
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
	if len(victims) == 0 {
		_, err := fmt.Fprintf(env.Stdout, "nothing to delete: all %d personas are in the catalog\n", len(all))
		return err
	}
	outcome := "deleted"
	if c.DryRun {
		outcome = "would delete"
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "EMAIL\tNAME\tUSER ID\tOUTCOME")
	deleted := 0
	for _, p := range victims {
		if !c.DryRun {
			if err := db.DeletePersona(env.Ctx, p.UserID); err != nil {
				tw.Flush()
				return fmt.Errorf("cleanup: delete persona %s: %w (%d deleted before it)", p.Email, err, deleted)
			}
		}
		deleted++
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Email, p.Name, p.UserID, outcome)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	kept := len(all) - deleted
	if c.DryRun {
		_, err = fmt.Fprintf(env.Stdout, "dry run: would delete %d, keep %d\n", deleted, kept)
		return err
	}
	_, err = fmt.Fprintf(env.Stdout, "deleted %d, kept %d\n", deleted, kept)
	return err
}
