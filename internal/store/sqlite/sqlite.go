// Package sqlite is the embedded store.Store: one SQLite file, pure Go
// (modernc.org/sqlite), for a bridge that runs as a single process.
//
// The file is opened twice: one writer connection through which every
// change is serialised (transactions start with BEGIN IMMEDIATE, so a
// read-modify-write never has to upgrade its lock and fail with
// SQLITE_BUSY), and a small pool of read-only connections that WAL lets run
// beside the writer. A second process on the same file (say, `scim-bridge
// token` next to a running server) waits up to Options.BusyTimeout for the
// write lock.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/scimbridge/scim-bridge/internal/store"
)

// Options tune a Store. The zero value is ready to use.
type Options struct {
	// BusyTimeout is how long a statement waits for a lock held by another
	// connection or process before failing with store.ErrUnavailable.
	// Default 5s.
	BusyTimeout time.Duration
	// MaxReaders bounds the read-only connection pool. Default 4.
	MaxReaders int
	// Now is the store's clock for times the caller did not give.
	// Default time.Now.
	Now func() time.Time
	// Logger receives migration notices. Default: discard.
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 5 * time.Second
	}
	if o.MaxReaders <= 0 {
		o.MaxReaders = 4
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Store is a store.Store on one SQLite file.
type Store struct {
	w      *sql.DB // exactly one connection: all writes
	r      *sql.DB // read-only connections
	hot    hotReads
	opts   Options
	path   string
	closed atomic.Bool
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the SQLite database at path, switches it
// to WAL and applies pending schema migrations. The file is created with
// mode 0600 because it holds token hashes and the audit trail.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	opts.setDefaults()
	if path == "" {
		return nil, errors.New("open sqlite store: empty path")
	}
	if strings.ContainsRune(path, '?') || strings.HasPrefix(path, "file:") || path == ":memory:" {
		// The driver reads '?' as the start of its parameters, and a
		// memory database would not be shared by the two pools.
		return nil, fmt.Errorf("open sqlite store %q: path must be a plain file name", path)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err) // *PathError names the path
	}
	_ = f.Close()

	ms := opts.BusyTimeout.Milliseconds()
	common := url.Values{}
	common.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", ms))
	common.Add("_pragma", "foreign_keys(1)")

	wq := url.Values{}
	for k, v := range common {
		wq[k] = append([]string(nil), v...)
	}
	wq.Add("_pragma", "journal_mode(WAL)")
	// FULL: a committed token or audit entry survives power loss too, not
	// only a crash of the process. The bridge writes rarely enough that the
	// extra fsync per commit does not matter.
	wq.Add("_pragma", "synchronous(FULL)")
	wq.Set("_txlock", "immediate")
	w, err := sql.Open("sqlite", path+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %q: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)

	s := &Store{w: w, opts: opts, path: path}
	if err := s.migrate(ctx); err != nil {
		_ = w.Close()
		return nil, err
	}

	rq := common
	rq.Add("_pragma", "query_only(1)")
	r, err := sql.Open("sqlite", path+"?"+rq.Encode())
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open sqlite store %q: %w", path, err)
	}
	r.SetMaxOpenConns(opts.MaxReaders)
	r.SetMaxIdleConns(opts.MaxReaders)
	s.r = r
	if err := s.Ping(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("open sqlite store %q: %w", path, err)
	}
	if err := s.hot.prepare(ctx, r); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("open sqlite store %q: %w", path, s.mapErr("prepare reads", err))
	}
	return s, nil
}

// hotReads are the store reads of every SCIM lookup, prepared once on the
// read pool (database/sql keeps each one prepared on every connection it
// runs on): the driver otherwise compiles the SQL on each call, which was
// a tenth of the bridge's CPU under a userName lookup load.
type hotReads struct {
	resource, resourceByUserName *sql.Stmt
}

const (
	resourceQuery           = `SELECT ` + store.ResourceColumns + ` FROM resources WHERE kind = ? AND id = ?`
	resourceByUserNameQuery = `SELECT ` + store.ResourceColumns + ` FROM resources
		WHERE kind = ? AND user_name_fold = ? AND tombstoned = 0`
)

func (h *hotReads) prepare(ctx context.Context, r *sql.DB) error {
	var err error
	if h.resource, err = r.PrepareContext(ctx, resourceQuery); err != nil {
		return err
	}
	h.resourceByUserName, err = r.PrepareContext(ctx, resourceByUserNameQuery)
	return err
}

func (h *hotReads) close() {
	for _, st := range []*sql.Stmt{h.resource, h.resourceByUserName} {
		if st != nil {
			_ = st.Close()
		}
	}
}

// Close closes both pools. Calls after Close return store.ErrUnavailable.
// Close is idempotent.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	var errs []error
	s.hot.close()
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	// Closing the last connection checkpoints the WAL into the main file.
	errs = append(errs, s.w.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close sqlite store: %w", err)
	}
	return nil
}

// Ping reports store.ErrUnavailable when the store is closed or its file
// cannot be read.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.check("ping sqlite store"); err != nil {
		return err
	}
	var v int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&v); err != nil {
		return s.mapErr("ping sqlite store", err)
	}
	return nil
}

// IntegrityCheck runs PRAGMA integrity_check and returns nil only when
// SQLite answers "ok". It reads the whole file; use it in tests and in an
// operator's `check`, not per request.
func (s *Store) IntegrityCheck(ctx context.Context) error {
	if err := s.check("sqlite integrity check"); err != nil {
		return err
	}
	rows, err := s.r.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return s.mapErr("sqlite integrity check", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return s.mapErr("sqlite integrity check", err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return s.mapErr("sqlite integrity check", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("sqlite integrity check: %s", strings.Join(problems, "; "))
	}
	return nil
}

// check returns ErrUnavailable once the store is closed.
func (s *Store) check(op string) error {
	if s.closed.Load() {
		return fmt.Errorf("%s: %w: closed", op, store.ErrUnavailable)
	}
	return nil
}

// mapErr turns driver errors into the store's sentinels. Driver text is
// kept only for errors that are not one of the sentinels; SQLite messages
// carry no secrets.
func (s *Store) mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, err)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	if s.closed.Load() || errors.Is(err, sql.ErrConnDone) || strings.Contains(err.Error(), "sql: database is closed") {
		return fmt.Errorf("%s: %w: closed", op, store.ErrUnavailable)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		code := se.Code()
		switch code {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%s: %w", op, store.ErrConflict)
		}
		switch code & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return fmt.Errorf("%s: %w: database is locked", op, store.ErrUnavailable)
		case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL,
			sqlite3.SQLITE_READONLY, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
			return fmt.Errorf("%s: %w: %s", op, store.ErrUnavailable, sqlite.ErrorCodeString[code])
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// now returns the store clock's time at the precision kept on disk.
func (s *Store) now() time.Time { return s.opts.Now().UTC().Truncate(time.Microsecond) }

// tx runs fn in a write transaction (BEGIN IMMEDIATE on the single writer
// connection) and commits when fn returns nil.
func (s *Store) tx(ctx context.Context, op string, fn func(*sql.Tx) error) error {
	if err := s.check(op); err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.mapErr(op, err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return s.mapErr(op, err)
	}
	return nil
}

// Times are stored as INTEGER microseconds since the Unix epoch, NULL for
// the zero time, so that they sort and compare in SQL.

func dbTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func goTime(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

func nullString(v string) any {
	if v == "" {
		return nil
	}
	return v
}
