package sigma_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmatest"
)

// TestPacingFollowsTheEmulatorsCapacity: a client started at four times an
// org's capacity, over real HTTP, is cut back by the bare 429s, and every
// read still succeeds. Asserted on counts and state, not on timing.
func TestPacingFollowsTheEmulatorsCapacity(t *testing.T) {
	const capacity = 200
	srv := sigmatest.Fake(t, sigmafake.Options{Members: 5, Seed: 41, Capacity: capacity})
	e := newEnv(t, srv, func(c *sigma.Config) { c.RequestsPerSecond = 5000; c.MaxConcurrent = 32 })
	sigma.SetPacingStart(e.c, 4*capacity)
	ctx := ctxT(t)
	id := srv.Members()[1].MemberID
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []error
	for range 16 {
		wg.Go(func() {
			for range 25 {
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
	if ok != 16*25 {
		t.Errorf("%d reads answered, want %d", ok, 16*25)
	}
	if limited == 0 {
		t.Fatal("no 429 at four times the capacity: the capacity option did nothing")
	}
	if rate >= 4*capacity {
		t.Errorf("rate %.1f after %d 429s, want it cut below the start %d", rate, limited, 4*capacity)
	}
	if got := counter(t, e.reg, "scim_bridge_sigma_pacing_backoffs_total", map[string]string{"path": "rest", "cause": "rate_limited"}); got < 1 {
		t.Errorf("backoffs on 429 = %v, want at least 1", got)
	}
	if got := counter(t, e.reg, "scim_bridge_sigma_requests_total", map[string]string{"path": "rest", "reason": "rate_limited"}); int(got) != limited {
		t.Errorf("429s counted %v, the emulator answered %d", got, limited)
	}
}
