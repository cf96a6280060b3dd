package sigma_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scimbridge/scim-bridge/internal/secret"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmatest"
)

// AssertNoSecret fails t when secretText occurs in any of things: errors
// (formatted with %v, %+v and %#v), strings, byte slices, buffers and
// Stringers. Every client error path runs through it.
func AssertNoSecret(t testing.TB, secretText string, things ...any) {
	t.Helper()
	if secretText == "" {
		t.Fatal("AssertNoSecret: empty secret")
	}
	for i, x := range things {
		var s string
		switch v := x.(type) {
		case nil:
			continue
		case error:
			s = v.Error() + "\n" + fmt.Sprintf("%+v\n%#v", v, v)
		case string:
			s = v
		case []byte:
			s = string(v)
		case *bytes.Buffer:
			s = v.String()
		case fmt.Stringer:
			s = v.String()
		default:
			s = fmt.Sprintf("%+v", v)
		}
		if strings.Contains(s, secretText) {
			t.Errorf("secret leaked in item %d (%T): %s", i, x, s)
		}
	}
}

// env is a client wired to an emulator, with its registry, log and the
// backoff delays it asked for (never actually slept).
type env struct {
	srv    *sigmafake.Server
	c      *sigma.Client
	reg    *prometheus.Registry
	log    *sigmatest.LogBuffer
	mu     sync.Mutex
	sleeps []time.Duration
}

func (e *env) slept() []time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]time.Duration(nil), e.sleeps...)
}

// newEnv builds a Client against srv with instant backoff; mutate adjusts
// the Config first.
func newEnv(t testing.TB, srv *sigmafake.Server, mutate func(*sigma.Config)) *env {
	t.Helper()
	e := &env{srv: srv, reg: prometheus.NewRegistry(), log: &sigmatest.LogBuffer{}}
	cfg := sigma.Config{
		BaseURL:           srv.URL(),
		ClientID:          sigmafake.DefaultClientID,
		ClientSecret:      secret.NewStatic(sigmafake.DefaultClientSecret),
		RequestsPerSecond: 1000,
		MaxRetries:        6,
		Logger:            e.log.Logger(slog.LevelDebug),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := sigma.NewClient(cfg, e.reg)
	if err != nil {
		t.Fatal(err)
	}
	sigma.SetRetryHooks(c, func(ctx context.Context, d time.Duration) error {
		e.mu.Lock()
		e.sleeps = append(e.sleeps, d)
		e.mu.Unlock()
		return ctx.Err()
	}, func(d time.Duration) time.Duration { return d })
	e.c = c
	return e
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// counter reads a counter of the sigma metrics with the given labels.
func counter(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var sum float64
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			sum += m.GetCounter().GetValue()
		}
		return sum
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

var _ = testutil.ToFloat64 // keep the import for tests comparing whole metric families

// startHTTP serves h on 127.0.0.1 for the test's duration.
func startHTTP(t testing.TB, h http.Handler) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}
