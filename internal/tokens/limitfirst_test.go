package tokens

import (
	"net/http"
	"testing"
	"time"
)

// TestBlockedAddressCostsNoStoreLookups pins issue 10.5: once an address
// has spent its failures, its requests are refused before a token is
// looked up, so a brute-force run costs the store nothing. A token this
// process has already verified keeps working from that address, also
// after its cache entry went stale.
func TestBlockedAddressCostsNoStoreLookups(t *testing.T) {
	c := newClock()
	st := &counting{Store: openSQLite(t)}
	svc, _, _ := newService(t, st, c, Options{FailureBurst: 3, FailureInterval: 10 * time.Second, NegativeCacheTTL: -1})
	valid := mustCreate(t, svc, "okta", 0)
	h := svc.Middleware(okHandler)
	const attacker = "198.51.100.9:4444"
	if w := do(h, attacker, "Bearer "+valid); w.Code != http.StatusOK {
		t.Fatalf("valid token: %d", w.Code)
	}
	for range 3 {
		bad, _, _, _ := newSecret(DefaultPrefix)
		if w := do(h, attacker, "Bearer "+bad); w.Code != http.StatusUnauthorized {
			t.Fatalf("within the burst: %d, want 401", w.Code)
		}
	}
	before := st.byHash.Load()
	for range 200 {
		bad, _, _, _ := newSecret(DefaultPrefix)
		if w := do(h, attacker, "Bearer "+bad); w.Code != http.StatusTooManyRequests {
			t.Fatalf("blocked address: %d, want 429", w.Code)
		}
	}
	if n := st.byHash.Load() - before; n != 0 {
		t.Fatalf("200 requests from a blocked address made %d store lookups, want 0", n)
	}
	// The token verified before still works: from the cache, and once the
	// cache entry is stale, with one store read.
	if w := do(h, attacker, "Bearer "+valid); w.Code != http.StatusOK {
		t.Fatalf("known valid token from a blocked address: %d, want 200", w.Code)
	}
	c.Add(DefaultCacheTTL + time.Second) // stale cache, bucket refilled by one
	for range 2 {
		bad, _, _, _ := newSecret(DefaultPrefix)
		do(h, attacker, "Bearer "+bad)
	}
	before = st.byHash.Load()
	if w := do(h, attacker, "Bearer "+valid); w.Code != http.StatusOK {
		t.Fatalf("known valid token, stale cache, blocked address: %d, want 200", w.Code)
	}
	if n := st.byHash.Load() - before; n != 1 {
		t.Fatalf("re-verifying a known token read the store %d times, want 1", n)
	}
}
