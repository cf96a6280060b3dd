package scimserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/scimserver"
	"github.com/scimbridge/scim-bridge/internal/scimserver/scimtest"
	"github.com/scimbridge/scim-bridge/internal/secret"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/restdir"
	"github.com/scimbridge/scim-bridge/internal/sigma/scimdir"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
	"github.com/scimbridge/scim-bridge/internal/store"
	"github.com/scimbridge/scim-bridge/internal/store/sqlite"
	"github.com/scimbridge/scim-bridge/internal/tokens"
)

// testServer is the real router over restdir, the Sigma emulator and a
// SQLite store, mounted at /scim/v2 behind the tokens middleware.
type testServer struct {
	URL    string // SCIM base URL
	Token  string
	Fake   *sigmafake.Server
	Dir    directory.Directory
	Store  store.Store
	Tokens *tokens.Service
	Reg    *prometheus.Registry
	Log    *syncBuffer
}

type config struct {
	fake    sigmafake.Options
	dir     restdir.Options
	scim    scimserver.Options
	wrapDir func(directory.Directory) directory.Directory
	retries int
	scimDir bool // Sigma's Enterprise SCIM directory (with REST) instead of restdir
}

type option func(*config)

func withScim(f func(*scimserver.Options)) option { return func(c *config) { f(&c.scim) } }
func withFake(f func(*sigmafake.Options)) option  { return func(c *config) { f(&c.fake) } }
func withDir(f func(*restdir.Options)) option     { return func(c *config) { f(&c.dir) } }
func withSCIMDirectory() option                   { return func(c *config) { c.scimDir = true } }
func withWrappedDir(f func(directory.Directory) directory.Directory) option {
	return func(c *config) { c.wrapDir = f }
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newTestServer(t testing.TB, opts ...option) *testServer {
	t.Helper()
	cfg := config{retries: 1}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.fake.TokenRatePerSecond = -1
	fake, err := sigmafake.Start(cfg.fake)
	if err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	t.Cleanup(func() { _ = fake.Close() })
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "bridge.db"), sqlite.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	client, err := sigma.NewClient(sigma.Config{
		BaseURL:           fake.URL(),
		ClientID:          sigmafake.DefaultClientID,
		ClientSecret:      secret.NewStatic(secret.Value(sigmafake.DefaultClientSecret)),
		RequestsPerSecond: 100000,
		MaxConcurrent:     16,
		MaxRetries:        cfg.retries,
		RetryBaseDelay:    time.Millisecond,
		RetryMaxDelay:     5 * time.Millisecond,
	}, nil)
	if err != nil {
		t.Fatalf("sigma client: %v", err)
	}
	reg := prometheus.NewRegistry()
	var dir directory.Directory
	if cfg.scimDir {
		sc, err := sigma.NewSCIMClient(sigma.SCIMConfig{
			BaseURL:           fake.SCIMURL(),
			Token:             secret.NewStatic(secret.Value(sigmafake.DefaultSCIMToken)),
			RequestsPerSecond: 100000,
			MaxConcurrent:     16,
			MaxRetries:        cfg.retries,
			RetryBaseDelay:    time.Millisecond,
			RetryMaxDelay:     5 * time.Millisecond,
		}, nil)
		if err != nil {
			t.Fatalf("sigma scim client: %v", err)
		}
		dir = scimdir.New(sc, client, st, scimdir.Options{DefaultAccountType: cfg.dir.DefaultAccountType}, nil, nil)
	} else {
		rd := restdir.New(client, st, cfg.dir, nil, nil)
		if err := rd.Load(ctx); err != nil {
			t.Fatalf("load directory: %v", err)
		}
		dir = rd
	}
	tok := tokens.New(st, tokens.Options{CacheTTL: -1, NegativeCacheTTL: -1}, nil, nil)
	t.Cleanup(func() { _ = tok.Close() })
	secretToken, _, err := tok.Create(ctx, "okta-test", 0)
	if err != nil {
		t.Fatalf("create token: %v", err)
	}
	logBuf := &syncBuffer{}
	so := cfg.scim
	so.Directory = dir
	if cfg.wrapDir != nil {
		so.Directory = cfg.wrapDir(dir)
	}
	so.Auth = tok.Middleware
	so.Registerer = reg
	so.Logger = slog.New(slog.NewJSONHandler(logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h, err := scimserver.New(so)
	if err != nil {
		t.Fatalf("scimserver.New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/scim/v2/", http.StripPrefix("/scim/v2", h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	fake.ResetRequests()
	return &testServer{URL: srv.URL + "/scim/v2", Token: secretToken, Fake: fake, Dir: dir, Store: st, Tokens: tok, Reg: reg, Log: logBuf}
}

type response struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

// do sends a request with the bridge token; body may be a string (sent
// as is) or a value (JSON-encoded).
func (ts *testServer) do(t testing.TB, method, path string, body any, hdr ...string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+ts.Token)
	if rd != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			t.Fatalf("%s %s: response is not a JSON object: %s", method, path, raw)
		}
	}
	return r
}

func (r response) want(t testing.TB, status int) response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Raw)
	}
	return r
}

// wantError checks a SCIM error response.
func (r response) wantError(t testing.TB, status int, scimType string) {
	t.Helper()
	r.want(t, status)
	if got, _ := r.Body["scimType"].(string); got != scimType {
		t.Fatalf("scimType %q, want %q; body %s", got, scimType, r.Raw)
	}
	if s, _ := r.Body["status"].(string); s != itoa(status) {
		t.Fatalf("status field %q, want %q", s, itoa(status))
	}
	if d, _ := r.Body["detail"].(string); d == "" {
		t.Fatalf("error without detail: %s", r.Raw)
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/scim+json") {
		t.Fatalf("Content-Type %q", r.Header.Get("Content-Type"))
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// restBackend is the golden-conversation backend over restdir.
func restBackend(t *testing.T) scimtest.Backend {
	ts := newTestServer(t)
	return scimtest.Backend{Name: "rest", URL: ts.URL, Token: ts.Token, Fake: ts.Fake}
}

// scimBackend runs the same conversations over Sigma's Enterprise SCIM
// endpoint (issue 6); its upstream calls are not pinned by the goldens.
func scimBackend(t *testing.T) scimtest.Backend {
	ts := newTestServer(t, withSCIMDirectory())
	return scimtest.Backend{Name: "scim", URL: ts.URL, Token: ts.Token, Fake: ts.Fake}
}

func TestGoldenConversations(t *testing.T) {
	t.Run("rest", func(t *testing.T) { scimtest.Run(t, "testdata", restBackend) })
	t.Run("scim", func(t *testing.T) { scimtest.Run(t, "testdata", scimBackend) })
}
