// Package sqlite is the embedded default persona.Store: one SQLite file (pure-Go driver
// modernc.org/sqlite) in WAL mode with foreign keys on, migrated by goose from embedded SQL files.
//
// Every write goes through one writer connection whose transactions start with BEGIN IMMEDIATE, so
// writes inside the process are serialised without SQLITE_BUSY and a claim is atomic; reads use a
// separate pool of read-only connections, which WAL lets run next to the writer. Another process
// writing the same file (a CLI seed next to a running server) waits up to the busy timeout.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store/internal/appline"
	"github.com/persona-runner/persona-runner/store/sqlitelock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Compile-time check that DB implements the store interface.
var _ persona.Store = (*DB)(nil)

// DB is the SQLite store. It is safe for concurrent use.
type DB struct {
	w    *sql.DB // exactly one connection: every write transaction of the store
	ck   *sql.DB // one connection that checkpoints the WAL in the background (checkpointer)
	r    *sql.DB // read-only connections
	app  *sql.DB // read-write connections for the demo app's own tables (SQL)
	now  func() time.Time
	path string
	// passwordCost is the bcrypt cost of the hashes the store writes.
	passwordCost int

	stmts  stmtCache // statements of write transactions, prepared once on the writer connection
	rstmts stmtCache // the runner's frequent reads (History, due), prepared on the read pool

	runs        chan *runRequest // RecordRun calls for the run writer (runs.go)
	checkpoints chan struct{}    // a write was committed: the checkpointer has work
	closing     chan struct{}    // closed by Close: the background goroutines stop
	closeOnce   sync.Once
	background  sync.WaitGroup                   // the run writer and the checkpointer
	ckLast      atomic.Pointer[checkpointResult] // the last checkpoint's outcome (tests)
	walFrames   int                              // walLimitFrames, or withWALLimit's
}

// checkpointResult is what one PRAGMA wal_checkpoint reported; each attempt stores a new one.
type checkpointResult struct {
	truncated           bool // a TRUNCATE checkpoint (walTruncate), not a PASSIVE one
	busy, frames, moved int
	err                 error
}

type config struct {
	now          func() time.Time
	readers      int
	passwordCost int
	existing     bool
	walFrames    int // the WAL length past which the checkpointer truncates it (walLimitFrames)
}

// Option configures Open.
type Option func(*config)

// WithNow sets the store's clock (default time.Now). Every timestamp the store writes and every
// due or lease decision uses it.
func WithNow(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// WithMaxConns sets the number of read connections and of SQL's connections (default 4 each).
// The store's own writes always use one connection.
func WithMaxConns(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.readers = n
		}
	}
}

// WithPasswordCost sets the bcrypt cost of the password hashes the store writes (default
// persona.DefaultPasswordCost).
func WithPasswordCost(cost int) Option {
	return func(c *config) { c.passwordCost = cost }
}

// WithExisting opens the store read-only: a missing file is an error naming the path, and the file
// is neither created nor migrated (an error asks for persona-runner migrate when its schema is
// behind), so a file the process may not write opens too. Read-only commands (report, personas,
// seed --dry-run) open their store this way.
func WithExisting() Option {
	return func(c *config) { c.existing = true }
}

// withWALLimit sets the WAL length past which the checkpointer truncates it (tests).
func withWALLimit(frames int) Option {
	return func(c *config) { c.walFrames = frames }
}

// walLimitFrames: a WAL of more frames than this (64 MiB of 4 KiB pages) is truncated by the
// checkpointer (walTruncate).
const walLimitFrames = 16384

// busyTimeout is how long a connection waits for another process's write lock.
const busyTimeout = 10 * time.Second

// Open opens (creating it and its parent directories when missing) the SQLite file at path and
// applies the migrations.
func Open(ctx context.Context, path string, opts ...Option) (*DB, error) {
	cfg := config{now: time.Now, readers: 4, passwordCost: persona.DefaultPasswordCost, walFrames: walLimitFrames}
	for _, o := range opts {
		o(&cfg)
	}
	if path == "" {
		return nil, errors.New("open sqlite store: empty database path")
	}
	// The driver reads everything after '?' as connection parameters, so such a path would be
	// silently cut; refuse it rather than open a different file.
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("open sqlite store %q: the path must not contain '?'", path)
	}
	readOnly := false
	if cfg.existing {
		fi, err := os.Stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("open sqlite store %q: no such file (up, seed and migrate create it; or name another with --db or --data)", path)
		case err != nil:
			return nil, fmt.Errorf("open sqlite store %q: %w", path, err)
		case fi.IsDir():
			return nil, fmt.Errorf("open sqlite store %q: is a directory, not a SQLite file (--data names the directory, --db the file)", path)
		}
		readOnly = true
	} else if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("open sqlite store %q: create directory: %w", path, err)
		}
	}
	params := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)", busyTimeout.Milliseconds())
	writerParams := "&_pragma=journal_mode(WAL)&_pragma=wal_autocheckpoint(0)"
	name := path
	if readOnly {
		// Every connection is read-only, and the journal mode (a write) is left as the file
		// has it: a read-only command neither creates, migrates nor changes the store. SQLite
		// reads mode=ro only from a file: URI, in which % and # are escaped.
		name = "file:" + strings.NewReplacer("%", "%25", "#", "%23").Replace(path)
		params += "&mode=ro"
		writerParams = ""
	}
	// temp_store MEMORY keeps the writer's statement journals (multi-row inserts inside a
	// transaction) in memory rather than in a temporary file written page by page.
	w, err := sql.Open("sqlite", name+"?"+params+writerParams+"&_pragma=temp_store(MEMORY)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %q: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := ping(ctx, w, path, readOnly); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite store %q: %w", path, err)
	}
	if readOnly {
		err = checkMigrated(ctx, w)
	} else {
		err = Migrate(ctx, w)
	}
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite store %q: %w", path, err)
	}
	r, err := sql.Open("sqlite", name+"?"+params+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite store %q: %w", path, err)
	}
	r.SetMaxOpenConns(cfg.readers)
	r.SetMaxIdleConns(cfg.readers)
	app, err := sql.Open("sqlite", name+"?"+params+"&_txlock=immediate")
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open sqlite store %q: %w", path, err)
	}
	app.SetMaxOpenConns(cfg.readers)
	app.SetMaxIdleConns(cfg.readers)
	ck, err := sql.Open("sqlite", name+"?"+params)
	if err != nil {
		w.Close()
		r.Close()
		app.Close()
		return nil, fmt.Errorf("open sqlite store %q: %w", path, err)
	}
	ck.SetMaxOpenConns(1)
	db := &DB{w: w, r: r, app: app, ck: ck, now: cfg.now, path: path, passwordCost: cfg.passwordCost, walFrames: cfg.walFrames,
		runs: make(chan *runRequest), closing: make(chan struct{}), checkpoints: make(chan struct{}, 1)}
	db.background.Go(db.runWriter)
	db.background.Go(db.checkpointer)
	return db, nil
}

// Migrate applies every pending migration to db, each in its own transaction. It is idempotent,
// and processes opening a new file at once serialise on the file's migration lock
// (store/sqlitelock): the later ones wait and find the migrations applied.
func Migrate(ctx context.Context, db *sql.DB) error {
	locker, err := sqlitelock.ForDB(ctx, db)
	if err != nil {
		return fmt.Errorf("migrate sqlite store: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, mustSub(migrations, "migrations"),
		goose.WithDisableGlobalRegistry(true), goose.WithLocker(locker))
	if err != nil {
		return fmt.Errorf("migrate sqlite store: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate sqlite store: %w", err)
	}
	if _, err := appline.Migrate(ctx, db, appline.SQLite); err != nil {
		return fmt.Errorf("migrate sqlite store: %w", err)
	}
	return nil
}

// SchemaVersions returns the newest applied migration of the store's own line and of the demo
// app's line (store/internal/appline), which Open applies after it.
func (db *DB) SchemaVersions(ctx context.Context) (store, app int64, err error) {
	p, err := goose.NewProvider(goose.DialectSQLite3, db.r, mustSub(migrations, "migrations"),
		goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return 0, 0, fmt.Errorf("schema version: %w", err)
	}
	if store, err = p.GetDBVersion(ctx); err != nil {
		return 0, 0, fmt.Errorf("schema version: %w", err)
	}
	if app, err = appline.Version(ctx, db.r, appline.SQLite); err != nil {
		return 0, 0, err
	}
	return store, app, nil
}

// checkMigrated fails unless db has every migration applied: a read-only store cannot be migrated.
func checkMigrated(ctx context.Context, db *sql.DB) error {
	p, err := goose.NewProvider(goose.DialectSQLite3, db, mustSub(migrations, "migrations"),
		goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("check sqlite store schema: %w", err)
	}
	current, latest, err := p.GetVersions(ctx)
	if err != nil {
		return fmt.Errorf("check its schema: %w", err)
	}
	if current < latest {
		return fmt.Errorf("schema version %d, this build needs %d: run persona-runner migrate (read-only commands do not migrate)", current, latest)
	}
	return nil
}

// AppTables returns the demo app's handle on its own tables, which Open created and migrated
// next to the store's (the app's migration line, store/internal/appline): a read-write pool on
// the same file, prefixed app_, whose rows reference spaces(id) ON DELETE CASCADE, so deleting a
// persona's spaces deletes its app data. The app writes no SQL against the store's tables; it
// asks for spaces through the store's methods. The pool is separate from the store's single
// writer, so nested queries on it cannot starve each other. Its transactions begin IMMEDIATE and
// wait for the store's writer (up to the busy timeout) rather than fail; for the same reason, do
// not call a store method that writes while holding a transaction on it.
func (db *DB) AppTables() (*sql.DB, string) { return db.app, db.Dialect() }

// SQL returns the handle AppTables does, for tests and tools that look at the file's tables.
func (db *DB) SQL() *sql.DB { return db.app }

// Dialect names the SQL dialect: "sqlite".
func (db *DB) Dialect() string { return "sqlite" }

// Path is the database file.
func (db *DB) Path() string { return db.path }

// Close closes both connection pools.
func (db *DB) Close() error {
	db.closeOnce.Do(func() { close(db.closing) })
	db.background.Wait()
	return errors.Join(db.stmts.close(), db.rstmts.close(), db.ck.Close(), db.app.Close(), db.r.Close(), db.w.Close())
}

// The writer connection does not checkpoint the WAL itself (wal_autocheckpoint 0): a checkpoint
// writes pages back to the database file and syncs both files, and inside a commit it held up
// every write behind it (claims and runs waited 2–3 times longer). The checkpointer does it on
// a connection of its own, at most every checkpointEvery while there are writes; PASSIVE never
// waits for the writer or readers, and the writer starts the WAL over once it is checkpointed.
const checkpointEvery = 250 * time.Millisecond

// A checkpoint that could not copy every frame (a reader still needed an older snapshot, or it
// failed) is tried again after the interval even when no new write comes: otherwise the WAL
// would keep the tail of the last burst of writes until the next one.
func (db *DB) checkpointer() {
	unfinished := false
	for {
		if !unfinished {
			select {
			case <-db.checkpoints:
			case <-db.closing:
				return
			}
		}
		var busy, frames, done int
		err := db.ck.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &done)
		db.ckLast.Store(&checkpointResult{busy: busy, frames: frames, moved: done, err: err})
		unfinished = err != nil || busy != 0 || done < frames
		if err == nil && frames > db.walFrames {
			unfinished = !db.walTruncate()
		}
		t := time.NewTimer(checkpointEvery)
		select {
		case <-t.C:
		case <-db.closing:
			t.Stop()
			return
		}
	}
}

// walTruncate checkpoints a WAL grown past db.walFrames and truncates its file, and reports
// whether it did. A PASSIVE checkpoint copies the frames written before it began, and the writer
// starts the WAL over only when one copied every frame: under writes that never pause (a bulk
// import, a runner at full speed) none does, and the WAL grew without bound (7 GB while a
// million action rows were written), each reader walking it, and its file never shrank. A
// TRUNCATE checkpoint waits for the writer and readers to leave the WAL (writers queue behind
// it meanwhile), so its busy timeout is short: with a long read under way it gives up and is
// tried again at the next interval.
func (db *DB) walTruncate() bool {
	ctx := context.Background()
	c, err := db.ck.Conn(ctx)
	if err != nil {
		return false
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, `PRAGMA busy_timeout = 250`); err != nil {
		return false
	}
	var busy, frames, done int
	err = c.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &done)
	if _, rerr := c.ExecContext(ctx, fmt.Sprintf(`PRAGMA busy_timeout = %d`, busyTimeout.Milliseconds())); rerr != nil {
		// The connection keeps the short timeout: drop it, the next checkpoint opens another.
		_ = c.Raw(func(any) error { return driver.ErrBadConn })
	}
	db.ckLast.Store(&checkpointResult{truncated: true, busy: busy, frames: frames, moved: done, err: err})
	return err == nil && busy == 0
}

// clock returns the store's current time at the precision stored (microseconds), in UTC.
func (db *DB) clock() time.Time { return db.now().UTC().Truncate(time.Microsecond) }

// tx is one write transaction with the one time it runs at. Its ExecContext, QueryContext and
// QueryRowContext use the statements the writer connection keeps prepared (the driver has no
// statement cache of its own: parsing was a fifth of the store's CPU time per persona run).
type tx struct {
	*sql.Tx
	now    time.Time
	db     *DB
	missed []string // statements to prepare once the transaction is over
	sums   *rollups // the rollups of the action rows written, written just before the commit
}

// write runs fn in a write transaction and commits it when fn returns nil.
func (db *DB) write(ctx context.Context, fn func(*tx) error) error {
	t, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	x := &tx{Tx: t, now: db.clock(), db: db}
	if err = fn(x); err == nil && x.sums != nil {
		err = x.sums.write(ctx, x)
	}
	if err != nil {
		_ = t.Rollback()
	} else if err = t.Commit(); err == nil {
		select {
		case db.checkpoints <- struct{}{}:
		default: // one is due already
		}
	}
	// A statement can only be prepared for all later transactions while the one writer
	// connection is free, so the ones this transaction met first are prepared now.
	db.stmts.prepare(context.WithoutCancel(ctx), db.w, x.missed)
	return err
}

// stmt returns the prepared statement for query bound to the transaction, or nil when it is
// not prepared yet (it will be after the transaction).
func (t *tx) stmt(ctx context.Context, query string) *sql.Stmt {
	if s := t.db.stmts.get(query); s != nil {
		return t.StmtContext(ctx, s)
	}
	t.missed = append(t.missed, query)
	return nil
}

func (t *tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := t.stmt(ctx, query); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, query, args...)
}

func (t *tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := t.stmt(ctx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, query, args...)
}

func (t *tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := t.stmt(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
}

// stmtCache keeps statements prepared on the writer pool by query text. Write transactions'
// queries are constant text (placeholders for every value), so the cache stays small; it stops
// growing at maxCachedStmts all the same.
type stmtCache struct {
	mu sync.Mutex
	m  sync.Map // query → *sql.Stmt
	n  int
}

const maxCachedStmts = 512

func (c *stmtCache) get(query string) *sql.Stmt {
	if s, ok := c.m.Load(query); ok {
		return s.(*sql.Stmt)
	}
	return nil
}

func (c *stmtCache) prepare(ctx context.Context, db *sql.DB, queries []string) {
	for _, q := range queries {
		c.mu.Lock()
		if _, ok := c.m.Load(q); ok || c.n >= maxCachedStmts {
			c.mu.Unlock()
			continue
		}
		s, err := db.PrepareContext(ctx, q)
		if err == nil {
			c.m.Store(q, s)
			c.n++
		}
		c.mu.Unlock()
	}
}

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	c.m.Range(func(k, v any) bool {
		errs = append(errs, v.(*sql.Stmt).Close())
		c.m.Delete(k)
		return true
	})
	c.n = 0
	return errors.Join(errs...)
}

// prepared reads through statements kept prepared on the read pool (database/sql prepares each
// on a connection the first time it runs there), for the queries a runner makes once a run:
// parsing was most of their cost. Only constant query texts belong here.
type prepared struct{ db *DB }

func (p prepared) stmt(ctx context.Context, query string) *sql.Stmt {
	if s := p.db.rstmts.get(query); s != nil {
		return s
	}
	p.db.rstmts.prepare(ctx, p.db.r, []string{query})
	return p.db.rstmts.get(query)
}

func (p prepared) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := p.stmt(ctx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return p.db.r.QueryContext(ctx, query, args...)
}

func (p prepared) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := p.stmt(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return p.db.r.QueryRowContext(ctx, query, args...)
}

// queryer is what both pools and transactions offer for reads.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Times are stored as unix microseconds.

func micro(t time.Time) int64 { return t.UnixMicro() }

func fromMicro(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicro(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func ptrTime(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromMicro(n.Int64)
	return &t
}

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return sub
}

// ping opens the writer's connection. Its first connection switches a new file to WAL, which
// SQLite answers with SQLITE_BUSY at once (no busy wait) when another process is doing the same
// to the same file; stores opened at once on a new data directory take turns on the file's
// migration lock for it (the lock is released before Migrate takes it again).
func ping(ctx context.Context, w *sql.DB, path string, readOnly bool) error {
	if readOnly {
		return w.PingContext(ctx)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	l := sqlitelock.ForPath(abs)
	if err := l.Lock(ctx, nil); err != nil {
		return err
	}
	defer l.Unlock(ctx, nil)
	return w.PingContext(ctx)
}
