// Package pgtest gives tests a fresh PostgreSQL database each, on the server named by
// PERSONA_TEST_POSTGRES_URL. It is imported by tests only, so the binary never links package
// testing.
package pgtest

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
	"golang.org/x/crypto/bcrypt"

	"github.com/persona-runner/persona-runner/store/postgres"
)

// URLEnv names the environment variable that points tests at a PostgreSQL server.
const URLEnv = "PERSONA_TEST_POSTGRES_URL"

// DSN creates a fresh, empty database with a random name on the server named by
// PERSONA_TEST_POSTGRES_URL and returns its URL; the database is dropped when the test ends. The
// test is skipped when the variable is unset, and fails when CI is set too. Use it to test code that opens the store itself
// (a CLI given --db); most tests want NewDB.
func DSN(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(URLEnv)
	if base == "" {
		if os.Getenv("CI") != "" {
			// CI must run them: a skipped store test would pass a change PostgreSQL refuses.
			tb.Fatalf("CI is set but %s is not: the PostgreSQL tests would be skipped (.ci/run sets it)", URLEnv)
		}
		tb.Skipf("PostgreSQL tests skipped: set %s (e.g. postgres://postgres@127.0.0.1:5432/persona_test?sslmode=disable)", URLEnv)
	}
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("%s: %v", URLEnv, err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "persona_t_" + hex.EncodeToString(b[:])

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("connect to %s: %v", URLEnv, err)
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

// NewDB opens the store on a fresh database (see DSN) with migrations applied and the cheapest
// bcrypt cost (opts may override it), and closes it when the test ends, before the database is
// dropped. Without PERSONA_TEST_POSTGRES_URL the test is skipped, or fails under CI.
func NewDB(tb testing.TB, opts ...postgres.Option) *postgres.DB {
	tb.Helper()
	dsn := DSN(tb)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts = append([]postgres.Option{postgres.WithPasswordCost(bcrypt.MinCost)}, opts...)
	db, err := postgres.Open(ctx, dsn, opts...)
	if err != nil {
		tb.Fatal(fmt.Errorf("open test store: %w", err))
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}
