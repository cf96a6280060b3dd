package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scim-bridge/internal/config"
)

// testConfig is a valid configuration on loopback ports chosen by the OS.
func testConfig(t *testing.T) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.AdminListen = "127.0.0.1:0"
	cfg.Store = "sqlite:" + t.TempDir() + "/state.db"
	cfg.Sigma.APIURL = "http://127.0.0.1:1"
	cfg.Sigma.ClientID = "id"
	cfg.Sigma.ClientSecret = "secret"
	cfg.HTTP.ShutdownTimeout = config.Duration(10 * time.Second)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// startApp serves a in the background and returns a stop function that
// cancels it and waits for Serve to return.
func startApp(t *testing.T, cfg config.Config, opts ...Option) (*App, func() error) {
	t.Helper()
	opts = append([]Option{WithLogger(slog.New(slog.NewTextHandler(t.Output(), nil)))}, opts...)
	a, err := New(t.Context(), cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	var stopped bool
	var serveErr error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			serveErr = <-done
		}
		return serveErr
	}
	t.Cleanup(func() { _ = stop() })
	return a, stop
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAdminEndpoints(t *testing.T) {
	a, _ := startApp(t, testConfig(t))
	admin := "http://" + a.AdminAddr()

	if code, body := get(t, admin+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	code, body := get(t, admin+"/metrics")
	if code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics = %d, missing go_goroutines", code)
	}
	a.addCheck("fake-part", func(context.Context) error { return io.ErrUnexpectedEOF })
	code, body = get(t, admin+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "fake-part: not ready: unexpected EOF") {
		t.Errorf("/readyz = %d %q; want 503 naming the part", code, body)
	}
}

func TestReadyzAllOK(t *testing.T) {
	a, _ := startApp(t, testConfig(t))
	a.mu.Lock()
	a.checks = []ReadyCheck{{Name: "x", Func: func(context.Context) error { return nil }}}
	a.mu.Unlock()
	if code, body := get(t, "http://"+a.AdminAddr()+"/readyz"); code != 200 || body != "x: ok\n" {
		t.Errorf("/readyz = %d %q", code, body)
	}
}

func TestRequestBodyLimit(t *testing.T) {
	cfg := testConfig(t)
	cfg.HTTP.MaxBodyBytes = 2048
	var readErr error
	a, _ := startApp(t, cfg, func(o *options) {
		o.wrapSCIM = func(http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, readErr = io.ReadAll(r.Body)
				w.WriteHeader(http.StatusRequestEntityTooLarge)
			})
		}
	})
	url := a.SCIMBaseURL() + "/Users"
	// Declared too large: refused before any handler runs.
	resp, err := http.Post(url, "application/scim+json", strings.NewReader(strings.Repeat("x", 4096)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || resp.Header.Get("Content-Type") != "application/scim+json" {
		t.Errorf("status %d %q, want 413 SCIM error", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// Chunked (no Content-Length): the handler's read fails at the limit.
	req, _ := http.NewRequest("POST", url, io.MultiReader(strings.NewReader(strings.Repeat("y", 4096))))
	req.ContentLength = -1
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var mbe *http.MaxBytesError
	if readErr == nil || !asMaxBytes(readErr, &mbe) {
		t.Errorf("handler read %v, want *http.MaxBytesError", readErr)
	}
}

func TestGracefulShutdownDrainsInFlight(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	a, stop := startApp(t, testConfig(t), func(o *options) {
		o.wrapSCIM = func(http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(started)
				<-release
				io.WriteString(w, "finished")
			})
		}
	})
	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get(a.SCIMBaseURL() + "/Users")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	<-started
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	// Shutdown must wait for the in-flight request...
	select {
	case err := <-stopped:
		t.Fatalf("Serve returned (%v) while a request was in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	// ...and new connections are refused meanwhile.
	if _, err := http.Get("http://" + a.SCIMAddr() + "/scim/v2/Users"); err == nil {
		t.Error("a new request was accepted during shutdown")
	}
	close(release)
	if r := <-got; r.err != nil || r.body != "finished" {
		t.Errorf("in-flight request: %q, %v", r.body, r.err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func TestShutdownTimeoutBoundsTheDrain(t *testing.T) {
	cfg := testConfig(t)
	cfg.HTTP.ShutdownTimeout = config.Duration(100 * time.Millisecond)
	started := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	a, stop := startApp(t, cfg, func(o *options) {
		o.wrapSCIM = func(http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(started)
				<-release
			})
		}
	})
	go http.Get(a.SCIMBaseURL() + "/Users")
	<-started
	if err := stop(); err == nil || !strings.Contains(err.Error(), "graceful shutdown") {
		t.Errorf("Serve = %v; want a graceful-shutdown timeout error", err)
	}
}

func asMaxBytes(err error, target **http.MaxBytesError) bool {
	for e := err; e != nil; {
		if m, ok := e.(*http.MaxBytesError); ok {
			*target = m
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}
