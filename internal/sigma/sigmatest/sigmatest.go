// Package sigmatest is the test environment the Sigma packages share: the
// emulator on loopback, REST and SCIM clients with fast retries, a SQLite
// store in the test's directory, a metrics registry and a log buffer. It
// is a normal package (tests of several packages import it) but only tests
// use it; everything it starts is closed with the test.
package sigmatest

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/directory/directorytest"
	"github.com/scimbridge/scim-bridge/internal/secret"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
	"github.com/scimbridge/scim-bridge/internal/store"
	"github.com/scimbridge/scim-bridge/internal/store/sqlite"
)

// The fast-retry settings every directory test uses: retries that cost
// milliseconds, pacing that never waits.
const (
	MaxRetries        = 2
	ReadRetryBudget   = 100 * time.Millisecond // reads that always fail end fast (at least MaxRetries retries)
	RetryBaseDelay    = time.Millisecond
	RetryMaxDelay     = 5 * time.Millisecond
	RequestsPerSecond = 100000
	MaxConcurrent     = 32
)

// StartFake starts an emulated org exactly as o says (the emulator's
// defaults are Sigma's: a token endpoint limited to 1 request a second)
// and closes it with the test.
func StartFake(t testing.TB, o sigmafake.Options) *sigmafake.Server {
	t.Helper()
	srv, err := sigmafake.Start(o)
	if err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// Fake is StartFake for tests of what sits above the clients: the token
// endpoint is not rate-limited (every test's first call would otherwise
// share one token a second with the tests running beside it).
func Fake(t testing.TB, o sigmafake.Options) *sigmafake.Server {
	t.Helper()
	o.TokenRatePerSecond = -1
	return StartFake(t, o)
}

// OpenStore opens a SQLite store in the test's temporary directory.
func OpenStore(t testing.TB) store.Store {
	t.Helper()
	return OpenStoreAt(t, filepath.Join(t.TempDir(), "bridge.db"))
}

// OpenStoreAt opens the SQLite store at path (replicas sharing one file
// each open it) and closes it with the test.
func OpenStoreAt(t testing.TB, path string) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// REST returns a REST client for srv with the fast-retry settings; mutate,
// if set, adjusts the configuration first.
func REST(t testing.TB, srv *sigmafake.Server, reg prometheus.Registerer, mutate func(*sigma.Config)) *sigma.Client {
	t.Helper()
	cfg := sigma.Config{
		BaseURL:           srv.URL(),
		ClientID:          sigmafake.DefaultClientID,
		ClientSecret:      secret.NewStatic(secret.Value(sigmafake.DefaultClientSecret)),
		RequestsPerSecond: RequestsPerSecond,
		MaxConcurrent:     MaxConcurrent,
		MaxRetries:        MaxRetries,
		ReadRetryBudget:   ReadRetryBudget,
		RetryBaseDelay:    RetryBaseDelay,
		RetryMaxDelay:     RetryMaxDelay,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := sigma.NewClient(cfg, reg)
	if err != nil {
		t.Fatalf("new sigma client: %v", err)
	}
	return c
}

// SCIM returns a client of srv's Enterprise SCIM endpoint with the
// fast-retry settings and the emulator's token; mutate, if set, adjusts
// the configuration first.
func SCIM(t testing.TB, srv *sigmafake.Server, reg prometheus.Registerer, mutate func(*sigma.SCIMConfig)) *sigma.SCIMClient {
	t.Helper()
	cfg := sigma.SCIMConfig{
		BaseURL:           srv.SCIMURL(),
		Token:             secret.NewStatic(secret.Value(sigmafake.DefaultSCIMToken)),
		RequestsPerSecond: RequestsPerSecond,
		MaxConcurrent:     MaxConcurrent,
		MaxRetries:        MaxRetries,
		ReadRetryBudget:   ReadRetryBudget,
		RetryBaseDelay:    RetryBaseDelay,
		RetryMaxDelay:     RetryMaxDelay,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := sigma.NewSCIMClient(cfg, reg)
	if err != nil {
		t.Fatalf("new sigma scim client: %v", err)
	}
	return c
}

// LogBuffer is a goroutine-safe log sink.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything logged so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Logger returns a text logger writing to l at level and above.
func (l *LogBuffer) Logger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: level}))
}

// Env is one emulated org, one store, both clients, a registry and a log
// buffer (debug and up).
type Env struct {
	Fake  *sigmafake.Server
	Store store.Store
	REST  *sigma.Client
	SCIM  *sigma.SCIMClient
	Reg   *prometheus.Registry
	Log   *LogBuffer
}

// Logger is the environment's debug logger, writing to Log.
func (e *Env) Logger() *slog.Logger { return e.Log.Logger(slog.LevelDebug) }

// NewEnv starts an environment over an emulator started with o (by Fake). The
// clients are not registered on Reg (directories under test register
// their own metrics there).
func NewEnv(t testing.TB, o sigmafake.Options) *Env {
	t.Helper()
	srv := Fake(t, o)
	return &Env{Fake: srv, Store: OpenStore(t), REST: REST(t, srv, nil, nil), SCIM: SCIM(t, srv, nil, nil),
		Reg: prometheus.NewRegistry(), Log: &LogBuffer{}}
}

// Writes counts the requests srv received that change the org (token
// requests and reads left out).
func Writes(srv *sigmafake.Server) int {
	n := 0
	for _, r := range srv.Requests() {
		if r.Method != http.MethodGet && r.Path != "/v2/auth/token" {
			n++
		}
	}
	return n
}

// APICalls lists the API calls srv received (token requests left out) as
// "METHOD /path?query".
func APICalls(srv *sigmafake.Server) []string {
	var out []string
	for _, r := range srv.Requests() {
		if r.Path == "/v2/auth/token" {
			continue
		}
		s := r.Method + " " + r.Path
		if len(r.Query) > 0 {
			s += "?" + r.Query.Encode()
		}
		out = append(out, s)
	}
	return out
}

// Bodies returns the bodies of the requests with method and path.
func Bodies(srv *sigmafake.Server, method, path string) []string {
	var out []string
	for _, r := range srv.Requests() {
		if r.Method == method && r.Path == path {
			out = append(out, string(r.Body))
		}
	}
	return out
}

// ActorCtx is a context carrying the actor the directory tests audit as.
func ActorCtx() context.Context {
	return directory.WithActor(context.Background(), directory.Actor{RequestID: "req-1", TokenName: "okta-prod"})
}

// LoseNextGroupDeleteAnswer makes srv apply the next delete of a group,
// through REST (DELETE /v2/teams/{id}) or SCIM (DELETE /scim/v2/Groups/{id}),
// and then drop the connection before it answers.
func LoseNextGroupDeleteAnswer(srv *sigmafake.Server) {
	for _, prefix := range []string{"/v2/teams/", "/scim/v2/Groups/"} {
		srv.SetFault(prefix, sigmafake.Fault{Ambiguous: 1, Times: 1, Method: http.MethodDelete})
	}
}

// LoseNextCreateAnswer makes srv apply the next create of a user and the
// next of a group, through REST (POST /v2/members, /v2/teams) or SCIM
// (POST /scim/v2/Users, /Groups), drop the connection before it answers,
// and then fail every read of that resource (the lookups of the create's
// outcome) with 500 until heal is called.
func LoseNextCreateAnswer(srv *sigmafake.Server) (heal func()) {
	for _, prefix := range []string{"/v2/members", "/scim/v2/Users", "/v2/teams", "/scim/v2/Groups"} {
		srv.SetFault(prefix, sigmafake.Fault{Method: http.MethodPost, Ambiguous: 1, Times: 1,
			Then: &sigmafake.Fault{Method: http.MethodGet, Status500: 1}})
	}
	return srv.ClearFaults
}

// AuditOutcomes returns, for the conformance suite, the outcomes of st's
// audit entries of operation op about resource id, oldest first; intents
// (outcome pending) are left out.
func AuditOutcomes(st store.Store) func(op, id string) []string {
	return func(op, id string) []string {
		entries, err := st.ListAudit(context.Background(), store.AuditFilter{Operation: op, ResourceID: id, Limit: 1000})
		if err != nil {
			return []string{"list audit: " + err.Error()}
		}
		var out []string
		for i := len(entries) - 1; i >= 0; i-- {
			if entries[i].Outcome != store.OutcomePending {
				out = append(out, string(entries[i].Outcome))
			}
		}
		return out
	}
}

// Harness is the conformance suite's harness for dir, which talks to srv
// and keeps its records in st: the upstream counts and the fault hooks
// come from the emulator, the audit outcomes from st.
func Harness(srv *sigmafake.Server, st store.Store, dir directory.Directory, accountTypes ...string) directorytest.Harness {
	return directorytest.Harness{
		Dir:                  dir,
		AccountTypes:         accountTypes,
		UpstreamWrites:       func() int { return Writes(srv) },
		UpstreamCalls:        func() int { return len(APICalls(srv)) },
		LoseNextDeleteAnswer: func() { LoseNextGroupDeleteAnswer(srv) },
		LoseNextCreateAnswer: func() func() { return LoseNextCreateAnswer(srv) },
		AuditOutcomes:        AuditOutcomes(st),
	}
}
