package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
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
	a.addCheck(ReadyCheck{Name: "fake-part", Required: true, Func: func(context.Context) error { return io.ErrUnexpectedEOF }})
	code, rep := readyz(t, admin)
	if c := rep.check("fake-part"); code != http.StatusServiceUnavailable || rep.Ready || c.State != StateFailed || c.Error != "unexpected EOF" || c.LastError != "unexpected EOF" {
		t.Errorf("/readyz = %d %+v; want 503 naming the failed part", code, rep)
	}
	// The gauge is the same report: the failed part and the whole are 0,
	// the store 1.
	ready := scrape(t, admin, "scim_bridge_ready")
	for labels, want := range map[string]float64{`{check="fake-part",required="true"}`: 0, `{check="overall",required="true"}`: 0, `{check="store",required="true"}`: 1} {
		if got, ok := ready[labels]; !ok || got != want {
			t.Errorf("scim_bridge_ready%s = %v (present %t), want %v; all: %v", labels, got, ok, want, ready)
		}
	}
}

func TestReadyzAllOK(t *testing.T) {
	a, _ := startApp(t, testConfig(t))
	a.mu.Lock()
	a.checks = []ReadyCheck{
		{Name: "x", Required: true, Func: func(context.Context) error { return nil }, Info: func() string { return "fine" }},
		{Name: "optional", Func: func(context.Context) error { return io.ErrUnexpectedEOF }},
		{Name: "off", Func: func(context.Context) error { return errNotConfigured }},
	}
	a.mu.Unlock()
	code, rep := readyz(t, "http://"+a.AdminAddr())
	if code != 200 || !rep.Ready {
		t.Errorf("/readyz = %d %+v; a failed optional check must not make the bridge unready", code, rep)
	}
	if c := rep.check("x"); c.State != StateOK || c.Detail != "fine" || !c.Required {
		t.Errorf("x = %+v", c)
	}
	if c := rep.check("optional"); c.State != StateFailed || c.Required {
		t.Errorf("optional = %+v", c)
	}
	if c := rep.check("off"); c.State != StateOff {
		t.Errorf("off = %+v", c)
	}
	// A failed optional check is 0 and the whole still 1; a part that is
	// off has no series.
	want := map[string]float64{`{check="x",required="true"}`: 1, `{check="optional",required="false"}`: 0, `{check="overall",required="true"}`: 1}
	if got := scrape(t, "http://"+a.AdminAddr(), "scim_bridge_ready"); !maps.Equal(got, want) {
		t.Errorf("scim_bridge_ready = %v, want %v", got, want)
	}
}

// readyz GETs /readyz and decodes its JSON report.
func readyz(t *testing.T, admin string) (int, ReadyReport) {
	t.Helper()
	resp, err := http.Get(admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("/readyz Content-Type %q", ct)
	}
	var rep ReadyReport
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		t.Fatalf("/readyz: %d, not a JSON report: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, rep
}

// waitCheck polls /readyz until check name has state, for up to 10 s.
func waitCheck(t *testing.T, admin, name, state string) CheckReport {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, rep := readyz(t, admin)
		c := rep.check(name)
		if c.State == state {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz check %s = %+v after 10s; want state %s", name, c, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r ReadyReport) check(name string) CheckReport {
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	return CheckReport{Name: name, State: "missing"}
}

// TestRequestBodyLimit: http.max_body_bytes reaches the SCIM server, which
// answers a SCIM 413 on every endpoint that takes a body, whether the size
// is declared or only found while reading (chunked).
func TestRequestBodyLimit(t *testing.T) {
	cfg := testConfig(t)
	cfg.HTTP.MaxBodyBytes = 2048
	a, _ := startApp(t, cfg)
	token, _, err := a.Tokens().Create(t.Context(), "limit", 0)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"big@example.com","displayName":"` + strings.Repeat("x", 4096) + `"}`
	for _, c := range []struct{ method, path string }{{"POST", "/Users"}, {"PUT", "/Users/abc"}, {"PATCH", "/Groups/g1"}, {"POST", "/Users/.search"}} {
		for _, chunked := range []bool{false, true} {
			req, _ := http.NewRequest(c.method, a.SCIMBaseURL()+c.path, io.MultiReader(strings.NewReader(body)))
			if !chunked {
				req, _ = http.NewRequest(c.method, a.SCIMBaseURL()+c.path, strings.NewReader(body))
			}
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/scim+json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var e map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&e)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge || e["scimType"] != "invalidValue" ||
				!strings.Contains(fmt.Sprint(e["detail"]), "2048 bytes") {
				t.Errorf("%s %s chunked=%v: %d %v; want a SCIM 413 naming the limit", c.method, c.path, chunked, resp.StatusCode, e)
			}
		}
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
