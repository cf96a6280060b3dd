package sigma_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmatest"
)

// TestPacingFollowsTheEmulatorsCapacity: a client started at ten times an
// org's capacity, over real HTTP, is cut back by the bare 429s, and every
// read still succeeds. Asserted on counts and state, not on timing: the
// first 16 parallel reads leave together (the pacer's burst at 400/s is 20)
// and the emulator's bucket holds 4, so some of them meet a 429 on any
// machine that sends 16 requests within 300 ms.
func TestPacingFollowsTheEmulatorsCapacity(t *testing.T) {
	const capacity = 40
	srv := sigmatest.Fake(t, sigmafake.Options{Members: 5, Seed: 41, Capacity: capacity})
	e := newEnv(t, srv, func(c *sigma.Config) { c.RequestsPerSecond = 5000; c.MaxConcurrent = 32 })
	sigma.SetPacingStart(e.c, 10*capacity)
	if err := e.c.Ping(ctxT(t)); err != nil { // the token first: its wait is not the point
		t.Fatal(err)
	}
	ctx := ctxT(t)
	id := srv.Members()[1].MemberID
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []error
	for range 16 {
		wg.Go(func() {
			for range 5 {
				if _, err := e.c.GetMember(ctx, id); err != nil {
					mu.Lock()
					failures = append(failures, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d reads failed, first: %v", len(failures), failures[0])
	}
	var ok, limited int
	for _, r := range srv.Requests() {
		switch {
		case r.Path == "/v2/auth/token":
		case r.Status == http.StatusTooManyRequests:
			limited++
		default:
			ok++
		}
	}
	rate, _ := sigma.PacingLimits(e.c)
	t.Logf("%d answered, %d answered 429; rate now %.1f req/s", ok, limited, rate)
	if ok != 16*5 {
		t.Errorf("%d reads answered, want %d", ok, 16*5)
	}
	if limited == 0 {
		t.Fatal("no 429 at ten times the capacity: the capacity option did nothing")
	}
	if rate >= 10*capacity {
		t.Errorf("rate %.1f after %d 429s, want it cut below the start %d", rate, limited, 10*capacity)
	}
	// Usually the cause is rate_limited; on a starved machine a latency
	// cut may come first and absorb the 429s of the same burst.
	if got := counter(t, e.reg, "scim_bridge_sigma_pacing_backoffs_total", map[string]string{"path": "rest"}); got < 1 {
		t.Errorf("pacing backoffs = %v, want at least 1", got)
	}
	if got := counter(t, e.reg, "scim_bridge_sigma_requests_total", map[string]string{"path": "rest", "reason": "rate_limited"}); int(got) != limited {
		t.Errorf("429s counted %v, the emulator answered %d", got, limited)
	}
}
