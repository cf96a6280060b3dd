package tokens

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimbridge/scim-bridge/internal/store"
	"github.com/scimbridge/scim-bridge/internal/store/sqlite"
)

// clock is a settable time source for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// backend is a real store implementation. newDB creates an empty database
// and returns a function opening a new handle to it; two handles on one
// database stand for two bridge replicas.
type backend struct {
	name  string
	newDB func(t testing.TB) func(t testing.TB) store.Store
}

func sqliteBackend() backend {
	return backend{name: "sqlite", newDB: func(t testing.TB) func(t testing.TB) store.Store {
		path := filepath.Join(t.TempDir(), "s.db")
		return func(t testing.TB) store.Store {
			st, err := sqlite.Open(context.Background(), path, sqlite.Options{})
			if err != nil {
				t.Fatalf("open sqlite: %v", err)
			}
			t.Cleanup(func() { _ = st.Close() })
			return st
		}
	}}
}

// backends are the stores the replica tests run against: sqlite always,
// PostgreSQL when SCIM_BRIDGE_TEST_POSTGRES is set (see postgres_test.go).
func backends() []backend {
	bs := []backend{sqliteBackend()}
	if pg, ok := postgresBackend(); ok {
		bs = append(bs, pg)
	}
	return bs
}

// openSQLite returns a handle to a fresh sqlite store.
func openSQLite(t testing.TB) store.Store { return sqliteBackend().newDB(t)(t) }

// logBuffer collects every log line (debug and up) so tests can assert
// that no secret was logged.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// counting wraps a real store and counts the calls the hot path must
// avoid; it changes no behaviour.
type counting struct {
	store.Store
	byHash  atomic.Int64
	touches atomic.Int64
}

func (c *counting) TokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	c.byHash.Add(1)
	return c.Store.TokenByHash(ctx, hash)
}

func (c *counting) TouchToken(ctx context.Context, id string, at time.Time) error {
	c.touches.Add(1)
	return c.Store.TouchToken(ctx, id, at)
}

// newService returns a Service over st with a fresh registry, the clock c
// (nil: real time), a log buffer, and Close at cleanup.
func newService(t testing.TB, st store.Store, c *clock, opts Options) (*Service, *prometheus.Registry, *logBuffer) {
	t.Helper()
	if c != nil {
		opts.Now = c.Now
	}
	reg := prometheus.NewRegistry()
	logs := &logBuffer{}
	svc := New(st, opts, reg, logs.logger())
	t.Cleanup(func() {
		if err := svc.Close(); err != nil {
			t.Errorf("close service: %v", err)
		}
	})
	return svc, reg, logs
}

func mustCreate(t testing.TB, svc *Service, name string, ttl time.Duration) string {
	t.Helper()
	secret, _, err := svc.Create(context.Background(), name, ttl)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return secret
}

// testAddr is the client address of verifications that are not about
// networks.
var testAddr = netip.MustParseAddr("192.0.2.1")
