package appline

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/pressly/goose/v3"
)

// searchKeysVersion is the migration that adds the folded search keys (see fold) of the texts
// notes.search and contacts.search look in. It is a Go migration because the keys of the rows
// already there must be folded by Go, exactly as new rows are.
const searchKeysVersion = 2

// searchKeyColumns lists, per table, the texts that get a key: column c gets c_key.
var searchKeyColumns = []struct {
	table   string
	columns []string
}{
	{"notes", []string{"title", "body"}},
	{"contacts", []string{"name", "email", "phone", "notes"}},
}

// backfillBatch is how many rows one statement of the backfill reads.
const backfillBatch = 500

func searchKeysMigration(d Dialect) *goose.Migration {
	return goose.NewGoMigration(searchKeysVersion,
		&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error { return addSearchKeys(ctx, tx, d) }},
		&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error { return dropSearchKeys(ctx, tx, d) }})
}

func addSearchKeys(ctx context.Context, tx *sql.Tx, d Dialect) error {
	for _, t := range searchKeyColumns {
		table := d.TablePrefix + t.table
		for _, c := range t.columns {
			if _, err := tx.ExecContext(ctx, fmt.Sprintf(`ALTER TABLE %s ADD COLUMN %s_key text NOT NULL DEFAULT ''`, table, c)); err != nil {
				return fmt.Errorf("add %s.%s_key: %w", table, c, err)
			}
		}
		if err := backfillSearchKeys(ctx, tx, table, t.columns); err != nil {
			return fmt.Errorf("fill the search keys of %s: %w", table, err)
		}
	}
	return nil
}

// backfillSearchKeys sets the keys of every row of table, a batch of rows at a time (the rows of a
// batch are read before they are written: a transaction has one connection).
func backfillSearchKeys(ctx context.Context, tx *sql.Tx, table string, columns []string) error {
	sets := make([]string, len(columns))
	for i, c := range columns {
		sets[i] = fmt.Sprintf("%s_key = $%d", c, i+2)
	}
	selectBatch := fmt.Sprintf(`SELECT id, %s FROM %s WHERE id > $1 ORDER BY id LIMIT %d`,
		strings.Join(columns, ", "), table, backfillBatch)
	update := fmt.Sprintf(`UPDATE %s SET %s WHERE id = $1`, table, strings.Join(sets, ", "))
	type keyed struct {
		id   string
		keys []any
	}
	after := ""
	for {
		rows, err := tx.QueryContext(ctx, selectBatch, after)
		if err != nil {
			return err
		}
		var batch []keyed
		for rows.Next() {
			texts := make([]sql.NullString, len(columns))
			dest := []any{new(string)}
			for i := range texts {
				dest = append(dest, &texts[i])
			}
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return err
			}
			k := keyed{id: *dest[0].(*string)}
			for _, t := range texts {
				k.keys = append(k.keys, fold(t.String))
			}
			batch = append(batch, k)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, k := range batch {
			if _, err := tx.ExecContext(ctx, update, append([]any{k.id}, k.keys...)...); err != nil {
				return err
			}
		}
		if len(batch) < backfillBatch {
			return nil
		}
		after = batch[len(batch)-1].id
	}
}

func dropSearchKeys(ctx context.Context, tx *sql.Tx, d Dialect) error {
	for _, t := range searchKeyColumns {
		table := d.TablePrefix + t.table
		for _, c := range t.columns {
			if _, err := tx.ExecContext(ctx, fmt.Sprintf(`ALTER TABLE %s DROP COLUMN %s_key`, table, c)); err != nil {
				return fmt.Errorf("drop %s.%s_key: %w", table, c, err)
			}
		}
	}
	return nil
}

// fold is the app's fold (app/sqldb.go): the folded form its searches compare, lower case by Go's
// Unicode tables. The keys of the rows written before the keys existed must be what the app
// writes for new rows (TestSearchKeysBackfilledAsTheAppFolds in app).
func fold(s string) string { return strings.ToLower(s) }
