package scimdir_test

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/secret"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/scimdir"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
	"github.com/scimbridge/scim-bridge/internal/store"
	"github.com/scimbridge/scim-bridge/internal/store/sqlite"
)

// env is one emulated org, one sqlite store and a SCIM directory over them.
type env struct {
	srv   *sigmafake.Server
	store store.Store
	scim  *sigma.SCIMClient
	rest  *sigma.Client // nil unless envOpts.rest
	dir   *scimdir.Directory
	reg   *prometheus.Registry
}

type envOpts struct {
	fake  sigmafake.Options
	dir   scimdir.Options
	rest  bool          // give the directory a REST client
	token secret.Source // default: the emulator's token, static
}

func startFake(t testing.TB, o sigmafake.Options) *sigmafake.Server {
	t.Helper()
	o.TokenRatePerSecond = -1
	srv, err := sigmafake.Start(o)
	if err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func openStore(t testing.TB) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "bridge.db"), sqlite.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func newREST(t testing.TB, srv *sigmafake.Server, aliases map[string]string) *sigma.Client {
	t.Helper()
	c, err := sigma.NewClient(sigma.Config{
		BaseURL:            srv.URL(),
		ClientID:           sigmafake.DefaultClientID,
		ClientSecret:       secret.NewStatic(secret.Value(sigmafake.DefaultClientSecret)),
		RequestsPerSecond:  100000,
		MaxConcurrent:      16,
		MaxRetries:         2,
		RetryBaseDelay:     time.Millisecond,
		RetryMaxDelay:      5 * time.Millisecond,
		AccountTypeAliases: aliases,
	}, nil)
	if err != nil {
		t.Fatalf("new sigma client: %v", err)
	}
	return c
}

func newSCIM(t testing.TB, srv *sigmafake.Server, tok secret.Source, reg prometheus.Registerer) *sigma.SCIMClient {
	t.Helper()
	if tok == nil {
		tok = secret.NewStatic(secret.Value(sigmafake.DefaultSCIMToken))
	}
	c, err := sigma.NewSCIMClient(sigma.SCIMConfig{
		BaseURL:           srv.SCIMURL(),
		Token:             tok,
		RequestsPerSecond: 100000,
		MaxConcurrent:     16,
		MaxRetries:        2,
		RetryBaseDelay:    time.Millisecond,
		RetryMaxDelay:     5 * time.Millisecond,
	}, reg)
	if err != nil {
		t.Fatalf("new sigma scim client: %v", err)
	}
	return c
}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	srv := startFake(t, o.fake)
	st := openStore(t)
	reg := prometheus.NewRegistry()
	e := &env{srv: srv, store: st, reg: reg, scim: newSCIM(t, srv, o.token, reg)}
	if o.rest {
		e.rest = newREST(t, srv, o.dir.AccountTypeAliases)
	}
	e.dir = scimdir.New(e.scim, e.rest, st, o.dir, reg, nil)
	return e
}

// writes counts the requests that change the org (token requests aside).
func writes(srv *sigmafake.Server) int {
	n := 0
	for _, r := range srv.Requests() {
		if r.Method != http.MethodGet && r.Path != "/v2/auth/token" {
			n++
		}
	}
	return n
}

// bodies returns the JSON bodies of the requests with method and path.
func bodies(srv *sigmafake.Server, method, path string) []string {
	var out []string
	for _, r := range srv.Requests() {
		if r.Method == method && r.Path == path {
			out = append(out, string(r.Body))
		}
	}
	return out
}

func actorCtx(t testing.TB) context.Context {
	return directory.WithActor(context.Background(), directory.Actor{RequestID: "req-1", TokenName: "okta-prod"})
}
