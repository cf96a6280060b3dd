// Package postgres is the store.Store for several bridge replicas sharing
// one PostgreSQL database (github.com/jackc/pgx/v5, pooled).
//
// Correctness across processes rests on the database, never on
// read-then-write in Go: uniqueness is enforced by (partial) unique
// indexes, read-modify-writes lock the row they read (SELECT ... FOR
// UPDATE), and operations on one token name serialise on a
// transaction-scoped advisory lock. Migrations run under a session
// advisory lock so replicas starting together migrate once.
//
// The tables live in the connection's search_path (normally "public"); to
// use another schema, add search_path=NAME to the DSN.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scimbridge/scim-bridge/internal/store"
)

// Options tune a Store. The zero value is ready to use.
type Options struct {
	// MaxConns bounds the pool. Default: pgx's, the larger of 4 and the
	// number of CPUs.
	MaxConns int32
	// ConnectTimeout bounds each connection attempt. Default 10s.
	ConnectTimeout time.Duration
	// Now is the store's clock for times the caller did not give.
	// Default time.Now.
	Now func() time.Time
	// Logger receives migration notices. Default: discard.
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Store is a store.Store on a PostgreSQL database.
type Store struct {
	pool    *pgxpool.Pool
	opts    Options
	where   string   // host:port/database, for errors; no credentials
	secrets []string // strings scrubbed from every error text
	closed  atomic.Bool
}

var _ store.Store = (*Store)(nil)

// Open connects to the database named by dsn (a postgres:// URL or a
// key=value connection string), checks that it answers and applies
// pending schema migrations. Errors name the server and database but never
// the password.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	opts.setDefaults()
	secrets := dsnSecrets(dsn)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: invalid DSN: %s", scrub(err.Error(), secrets))
	}
	if cfg.ConnConfig.Password != "" {
		secrets = append(secrets, cfg.ConnConfig.Password)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	s := &Store{
		opts:    opts,
		where:   fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database),
		secrets: secrets,
	}
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, s.mapErr("open postgres store "+s.where, err)
	}
	if err := s.pool.Ping(ctx); err != nil {
		s.pool.Close()
		return nil, s.mapErr("open postgres store "+s.where, err)
	}
	if err := s.migrate(ctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the pool, waiting for connections in use to be returned.
// Calls after Close return store.ErrUnavailable. Close is idempotent.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.pool.Close()
	return nil
}

// Ping reports store.ErrUnavailable when the store is closed or the
// database does not answer.
func (s *Store) Ping(ctx context.Context) error {
	const op = "ping postgres store"
	if err := s.check(op); err != nil {
		return err
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		return s.mapErr(op, err)
	}
	return nil
}

func (s *Store) check(op string) error {
	if s.closed.Load() {
		return fmt.Errorf("%s: %w: closed", op, store.ErrUnavailable)
	}
	return nil
}

// now returns the store clock's time at the precision PostgreSQL keeps.
func (s *Store) now() time.Time { return s.opts.Now().UTC().Truncate(time.Microsecond) }

// maxAttempts bounds retries of a transaction that PostgreSQL aborted to
// resolve a deadlock or a serialization failure.
const maxAttempts = 5

// tx runs fn in a transaction and commits when fn returns nil. A
// transaction PostgreSQL aborted as a deadlock victim or for a
// serialization failure runs again, so fn may run more than once.
func (s *Store) tx(ctx context.Context, op string, fn func(pgx.Tx) error) error {
	if err := s.check(op); err != nil {
		return err
	}
	var err error
	for range maxAttempts {
		err = pgx.BeginFunc(ctx, s.pool, fn)
		if !retryable(err) {
			break
		}
	}
	if err == nil {
		return nil
	}
	if isMapped(err) {
		return err
	}
	return s.mapErr(op, err)
}

func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// isMapped reports whether err already went through mapErr.
func isMapped(err error) bool {
	var m *mappedError
	return errors.As(err, &m)
}

// mappedError marks an error that needs no further mapping.
type mappedError struct{ err error }

func (e *mappedError) Error() string { return e.err.Error() }
func (e *mappedError) Unwrap() error { return e.err }

// scrubbedError keeps a driver error reachable for errors.As while its
// text has every secret removed.
type scrubbedError struct {
	err     error
	secrets []string
}

func (e *scrubbedError) Error() string { return scrub(e.err.Error(), e.secrets) }
func (e *scrubbedError) Unwrap() error { return e.err }

// mapErr turns driver errors into the store's sentinels.
func (s *Store) mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if isMapped(err) {
		return err
	}
	wrap := func(format string, args ...any) error {
		return &mappedError{fmt.Errorf(op+": "+format, args...)}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return wrap("%w", err)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return wrap("%w", store.ErrNotFound)
	}
	if s.closed.Load() || strings.Contains(err.Error(), "closed pool") {
		return wrap("%w: closed", store.ErrUnavailable)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505" || pe.Code == "23P01": // unique_violation, exclusion_violation
			return wrap("%w", store.ErrConflict)
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			pe.Code == "53300",                                         // too_many_connections
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // shutdown, cannot connect now
			pe.Code == "28000", pe.Code == "28P01", // authentication
			pe.Code == "3D000": // database does not exist
			return wrap("%w: %s (SQLSTATE %s)", store.ErrUnavailable, scrub(pe.Message, s.secrets), pe.Code)
		}
		return wrap("%w", &scrubbedError{err, s.secrets})
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		pgconn.SafeToRetry(err) {
		return wrap("%w: %s", store.ErrUnavailable, scrub(err.Error(), s.secrets))
	}
	return wrap("%w", &scrubbedError{err, s.secrets})
}

var (
	urlPassword = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*://[^/@:]*:([^@/]*)@`)
	kvPassword  = regexp.MustCompile(`password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)
)

// dsnSecrets returns the passwords written in dsn, raw and unquoted, so
// that they can be scrubbed from any text.
func dsnSecrets(dsn string) []string {
	var out []string
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			out = append(out, p)
		}
	}
	if m := urlPassword.FindStringSubmatch(dsn); m != nil && m[1] != "" {
		out = append(out, m[1])
	}
	for _, m := range kvPassword.FindAllStringSubmatch(dsn, -1) {
		p := m[1]
		out = append(out, p)
		if strings.HasPrefix(p, "'") && len(p) >= 2 {
			out = append(out, strings.ReplaceAll(p[1:len(p)-1], `\'`, `'`))
		}
	}
	if u, err := url.Parse(dsn); err == nil {
		if p := u.Query().Get("password"); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func scrub(text string, secrets []string) string {
	for _, p := range secrets {
		if p != "" {
			text = strings.ReplaceAll(text, p, "xxxxx")
		}
	}
	return text
}

// RedactDSN returns dsn with any password replaced by "xxxxx", for logs
// and error messages.
func RedactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		if q := u.Query(); q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	return scrub(kvPassword.ReplaceAllString(dsn, "password=xxxxx"), dsnSecrets(dsn))
}

// dbTime encodes a time for a nullable timestamptz column.
func dbTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Truncate(time.Microsecond)
}

func goTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func nullString(v string) any {
	if v == "" {
		return nil
	}
	return v
}
