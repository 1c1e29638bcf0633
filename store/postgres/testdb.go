package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestURLEnv names the environment variable that points tests at a PostgreSQL server.
const TestURLEnv = "PERSONA_TEST_POSTGRES_URL"

// TestDSN creates a fresh, empty database with a random name on the server named by
// PERSONA_TEST_POSTGRES_URL and returns its URL; the database is dropped when the test ends. The
// test is skipped when the variable is unset. Use it to test code that opens the store itself
// (a CLI given --db); most tests want NewTestDB.
func TestDSN(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(TestURLEnv)
	if base == "" {
		tb.Skipf("PostgreSQL tests skipped: set %s (e.g. postgres://postgres@127.0.0.1:5432/persona_test?sslmode=disable)", TestURLEnv)
	}
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("%s: %v", TestURLEnv, err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "persona_t_" + hex.EncodeToString(b[:])

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("connect to %s: %v", TestURLEnv, err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("create test database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		admin, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer admin.Close(context.Background())
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// NewTestDB opens the store on a fresh database (see TestDSN) with migrations applied, and closes
// it when the test ends, before the database is dropped. The test is skipped when
// PERSONA_TEST_POSTGRES_URL is unset.
func NewTestDB(tb testing.TB, opts ...Option) *DB {
	tb.Helper()
	dsn := TestDSN(tb)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := Open(ctx, dsn, opts...)
	if err != nil {
		tb.Fatal(fmt.Errorf("open test store: %w", err))
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}
