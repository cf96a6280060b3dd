package modes_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/modes"
	"github.com/scimbridge/scim-bridge/internal/sigma/restdir"
	"github.com/scimbridge/scim-bridge/internal/sigma/scimdir"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmatest"
	"github.com/scimbridge/scim-bridge/internal/store"
)

// env is one emulated org with both paths, one store, and a Selector.
type env struct {
	srv  *sigmafake.Server
	st   store.Store
	rest *sigma.Client
	scim *scimdir.Directory
	rdir *restdir.Directory
	sel  *modes.Selector
	reg  *prometheus.Registry
}

func newEnv(t *testing.T, mode string, fake sigmafake.Options) *env {
	t.Helper()
	srv := sigmatest.Fake(t, fake)
	st := sigmatest.OpenStore(t)
	rest := sigmatest.REST(t, srv, nil, nil)
	sc := sigmatest.SCIM(t, srv, nil, nil)
	e := &env{srv: srv, st: st, rest: rest, reg: prometheus.NewRegistry()}
	// Warnings go to the test output: a failure then says what went wrong.
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	e.scim = scimdir.New(sc, rest, st, scimdir.Options{}, nil, logger)
	e.rdir = restdir.New(rest, st, restdir.Options{}, nil, logger)
	e.sel = modes.New(modes.Options{
		Mode: mode,
		SCIM: e.scim, SCIMProbe: e.scim.Probe,
		REST: e.rdir, RESTProbe: rest.Ping,
		ProbeInterval: time.Hour, // tests probe with ProbeNow
	}, st, e.reg, logger)
	return e
}

func ctx(t *testing.T) context.Context {
	return directory.WithActor(t.Context(), directory.Actor{RequestID: "req-modes", TokenName: "okta"})
}

func wantLive(t *testing.T, e *env, mode string) {
	t.Helper()
	got, why := e.sel.Live()
	if got != mode {
		t.Fatalf("live = %s (%s), want %s", got, why, mode)
	}
	for _, p := range []string{modes.ModeSCIM, modes.ModeREST} {
		want := 0.0
		if p == mode {
			want = 1
		}
		if v := metric(t, e, "scim_bridge_sigma_mode", p); v != want {
			t.Errorf("scim_bridge_sigma_mode{mode=%q} = %v, want %v", p, v, want)
		}
	}
}

// metric reads the value of name (with label mode=p when p is not "")
// from the env's registry.
func metric(t *testing.T, e *env, name, p string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if p != "" && (len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() != p) {
				continue
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("%s{%s} not exported", name, p)
	return 0
}

func switches(t *testing.T, e *env) []string {
	t.Helper()
	entries, err := e.st.ListAudit(context.Background(), store.AuditFilter{Operation: "mode.switch", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(entries) - 1; i >= 0; i-- {
		from, _, _ := strings.Cut(entries[i].Detail, ":")
		out = append(out, from)
	}
	return out
}

func TestAutoFallsBackAndReturns(t *testing.T) {
	e := newEnv(t, modes.ModeAuto, sigmafake.Options{Members: 3, Teams: 1})
	c := ctx(t)
	if mode, _ := e.sel.Live(); mode != modes.ModeNone {
		t.Fatalf("live before any probe = %s, want none", mode)
	}
	e.sel.ProbeNow(c)
	wantLive(t, e, modes.ModeSCIM)
	if err := e.sel.Ready(c); err != nil {
		t.Errorf("Ready: %v", err)
	}

	u, err := e.sel.CreateUser(c, directory.User{UserName: "switch@example.org", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := e.srv.CountRequests("POST", "/scim/v2/Users"); n != 1 {
		t.Errorf("create went %d times through SCIM, want 1", n)
	}

	e.srv.SetSCIMEnabled(false)
	e.sel.ProbeNow(c)
	wantLive(t, e, modes.ModeREST)
	if _, why := e.sel.Live(); !strings.Contains(why, "SCIM probe failed") {
		t.Errorf("why = %q, want it to say the SCIM probe failed", why)
	}
	if err := e.sel.Ready(c); err != nil {
		t.Errorf("Ready on REST: %v", err)
	}
	e.srv.ResetRequests()
	got, err := e.sel.GetUser(c, u.ID)
	if err != nil || got.UserName != u.UserName {
		t.Fatalf("GetUser on REST = %+v, %v", got, err)
	}
	if got.Version != u.Version {
		t.Errorf("ETag changed with the path: %s via SCIM, %s via REST\n%+v\n%+v", u.Version, got.Version, u, got)
	}
	if n := e.srv.CountRequests("", "/scim/v2"); n != 0 {
		t.Errorf("%d SCIM requests while REST is live", n)
	}

	e.srv.SetSCIMEnabled(true)
	e.sel.ProbeNow(c)
	wantLive(t, e, modes.ModeSCIM)
	if got := switches(t, e); strings.Join(got, ",") != "none -> scim,scim -> rest,rest -> scim" {
		t.Errorf("audited switches = %q", got)
	}
	if v := metric(t, e, "scim_bridge_sigma_mode_switches_total", ""); v != 3 {
		t.Errorf("switches_total = %v, want 3", v)
	}
}

// TestFirstRequestProbes: in auto mode a request before any probe probes
// instead of failing.
func TestFirstRequestProbes(t *testing.T) {
	e := newEnv(t, modes.ModeAuto, sigmafake.Options{SCIMDisabled: true})
	if _, err := e.sel.ListUsers(ctx(t)); err != nil {
		t.Fatalf("ListUsers before any probe: %v", err)
	}
	wantLive(t, e, modes.ModeREST)
}

func TestForcedModes(t *testing.T) {
	t.Run("scim", func(t *testing.T) {
		e := newEnv(t, modes.ModeSCIM, sigmafake.Options{SCIMDisabled: true})
		c := ctx(t)
		e.sel.ProbeNow(c)
		wantLive(t, e, modes.ModeSCIM)
		_, err := e.sel.ListUsers(c)
		if !errors.Is(err, directory.ErrNotReady) {
			t.Errorf("ListUsers with forced SCIM off: %v, want ErrNotReady", err)
		}
		err = e.sel.Ready(c)
		if err == nil || !strings.Contains(err.Error(), "scim") || !strings.Contains(err.Error(), "404") {
			t.Errorf("Ready = %v, want it to name the forced scim path and the 404", err)
		}
		if n := e.srv.CountRequests("", "/v2/members"); n != 0 {
			t.Errorf("%d REST member calls in forced scim mode", n)
		}
	})
	t.Run("rest", func(t *testing.T) {
		e := newEnv(t, modes.ModeREST, sigmafake.Options{})
		c := ctx(t)
		if err := e.rdir.Load(c); err != nil {
			t.Fatal(err)
		}
		e.sel.ProbeNow(c)
		wantLive(t, e, modes.ModeREST)
		if _, err := e.sel.CreateUser(c, directory.User{UserName: "forced@example.org", Active: true}); err != nil {
			t.Fatal(err)
		}
		if n := e.srv.CountRequests("", "/scim/v2"); n != 0 {
			t.Errorf("%d SCIM calls in forced rest mode", n)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		sel := modes.New(modes.Options{Mode: "both"}, nil, nil, nil)
		if err := sel.Ready(context.Background()); err == nil || !strings.Contains(err.Error(), `"both"`) {
			t.Errorf("Ready = %v", err)
		}
		if _, err := sel.ListUsers(context.Background()); !errors.Is(err, directory.ErrNotReady) {
			t.Errorf("ListUsers = %v", err)
		}
	})
}

// TestNothingAnswers: with both paths down the live one is kept (a blip
// must not fail every request), and Ready says neither answered.
func TestNothingAnswers(t *testing.T) {
	e := newEnv(t, modes.ModeAuto, sigmafake.Options{})
	c := ctx(t)
	e.sel.ProbeNow(c)
	wantLive(t, e, modes.ModeSCIM)
	e.srv.SetSCIMEnabled(false)
	e.srv.SetClientSecret("rotated-elsewhere")
	e.srv.ExpireTokens()
	e.sel.ProbeNow(c)
	wantLive(t, e, modes.ModeSCIM)
	err := e.sel.Ready(c)
	if !errors.Is(err, directory.ErrNotReady) || !strings.Contains(err.Error(), "no Sigma path answered") {
		t.Errorf("Ready = %v", err)
	}
}

// TestSwitchUnderLoad: ten IdP clients keep provisioning through the
// Selector while Sigma's SCIM endpoint goes away and comes back twice. No
// request fails: those caught on the dying path are repeated on the new one.
func TestSwitchUnderLoad(t *testing.T) {
	e := newEnv(t, modes.ModeAuto, sigmafake.Options{Members: 20, Teams: 2})
	c := ctx(t)
	e.sel.ProbeNow(c)
	wantLive(t, e, modes.ModeSCIM)
	team, err := e.sel.CreateGroup(c, directory.Group{DisplayName: "Load"})
	if err != nil {
		t.Fatal(err)
	}

	const workers = 10
	var (
		done     atomic.Int64
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, fmt.Sprintf(format, args...))
	}
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				email := fmt.Sprintf("w%d.u%d@load.example.org", w, i)
				u, err := e.sel.CreateUser(c, directory.User{UserName: email, Active: true})
				if err != nil {
					fail("create %s: %v", email, err)
					continue
				}
				if _, err := e.sel.GetUser(c, u.ID); err != nil {
					fail("get %s: %v", email, err)
				}
				if us, err := e.sel.LookupUsers(c, directory.AttrUserName, email); err != nil || len(us) != 1 {
					fail("lookup %s: %d, %v", email, len(us), err)
				}
				if _, err := e.sel.ModifyGroupMembers(c, team.ID, []string{u.ID}, nil); err != nil {
					fail("add %s to team: %v", email, err)
				}
				u.GivenName = "Renamed"
				if _, err := e.sel.ReplaceUser(c, u); err != nil {
					fail("replace %s: %v", email, err)
				}
				done.Add(1)
			}
		})
	}
	// progress waits until the workers have finished n more rounds, so
	// every phase sees traffic; it does not measure time.
	progress := func(n int64) {
		t.Helper()
		target := done.Load() + n
		for done.Load() < target {
			mu.Lock()
			bad := len(failures)
			mu.Unlock()
			if bad > 0 {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	progress(10)
	for range 2 {
		e.srv.SetSCIMEnabled(false)
		progress(5) // requests meet the dead endpoint before the probe
		e.sel.ProbeNow(c)
		wantLive(t, e, modes.ModeREST)
		progress(10)
		e.srv.SetSCIMEnabled(true)
		e.sel.ProbeNow(c)
		wantLive(t, e, modes.ModeSCIM)
		progress(10)
	}
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(failures) > 0 {
		t.Fatalf("%d failed requests across the switches (%d rounds done); first: %s", len(failures), done.Load(), failures[0])
	}
	// Every user the workers created is in the team, whichever path did it.
	g, err := e.sel.GetGroup(c, team.ID)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(g.Members)) < done.Load() {
		t.Errorf("team has %d members, want at least %d", len(g.Members), done.Load())
	}
	// Requests did meet the dead endpoint (the workers ran on after it went
	// away, before the test probed) and were repeated on REST.
	if v := metric(t, e, "scim_bridge_sigma_mode_path_failures_total", modes.ModeSCIM); v < 2 {
		t.Errorf("path_failures_total{scim} = %v, want at least one per outage", v)
	}
	if v := metric(t, e, "scim_bridge_sigma_mode_requests_repeated_total", modes.ModeSCIM); v < 2 {
		t.Errorf("requests_repeated_total{from=scim} = %v, want at least one per outage", v)
	}
	t.Logf("%d rounds of five requests across four switches", done.Load())
}

// TestTypedNilIsNotConfigured: a nil *scimdir.Directory passed as SCIM
// (what wiring code does when no SCIM URL is set) counts as not
// configured instead of panicking.
func TestTypedNilIsNotConfigured(t *testing.T) {
	e := newEnv(t, modes.ModeAuto, sigmafake.Options{})
	var none *scimdir.Directory
	sel := modes.New(modes.Options{SCIM: none, REST: e.rdir}, e.st, nil, nil)
	if mode, why := sel.ProbeNow(context.Background()); mode != modes.ModeREST || !strings.Contains(why, "not configured") {
		t.Errorf("live = %s (%s), want rest because SCIM is not configured", mode, why)
	}
}

// TestDefaultProbes: wired without probe functions (as the app does), the
// Selector probes SCIM with the directory's own Probe (not its cached
// Ready) and REST with a reload plus Ready, and still follows the endpoint.
func TestDefaultProbes(t *testing.T) {
	e := newEnv(t, modes.ModeAuto, sigmafake.Options{Members: 2})
	sel := modes.New(modes.Options{SCIM: e.scim, REST: e.rdir}, e.st, nil, nil)
	c := ctx(t)
	if mode, why := sel.ProbeNow(c); mode != modes.ModeSCIM {
		t.Fatalf("live = %s (%s), want scim", mode, why)
	}
	if err := sel.Ready(c); err != nil { // a fresh success: Ready may now answer from it
		t.Fatal(err)
	}
	e.srv.SetSCIMEnabled(false)
	if mode, why := sel.ProbeNow(c); mode != modes.ModeREST {
		t.Fatalf("live = %s (%s), want rest", mode, why)
	}
	e.srv.SetSCIMEnabled(true)
	if mode, why := sel.ProbeNow(c); mode != modes.ModeSCIM {
		t.Fatalf("live = %s (%s), want scim", mode, why)
	}
}
