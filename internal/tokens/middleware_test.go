package tokens

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// okHandler answers 200 with the authenticated token name.
var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	fmt.Fprint(w, NameFrom(r.Context()))
})

func do(h http.Handler, addr, authorization string, extra ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "/scim/v2/Users", nil)
	r.RemoteAddr = addr
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		r.Header.Add(extra[i], extra[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestMiddlewareFailures(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	svc, reg, logs := newService(t, openSQLite(t), c, Options{FailureBurst: 1000})
	expired := mustCreate(t, svc, "short-lived", time.Hour)
	revoked := mustCreate(t, svc, "gone", 0)
	if err := svc.Revoke(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	valid := mustCreate(t, svc, "okta-prod", 0)
	c.Add(2 * time.Hour)
	unknown, _, _, _ := newSecret(DefaultPrefix)
	badSum := valid[:len(valid)-1] + map[bool]string{true: "A", false: "B"}[valid[len(valid)-1] != 'A']
	h := svc.Middleware(okHandler)

	const invalidToken = `Bearer realm="scim-bridge", error="invalid_token"`
	tests := []struct {
		name, header string
		reason       Reason
		challenge    string
		detail       string
	}{
		{"no header", "", ReasonMissing, `Bearer realm="scim-bridge"`,
			"missing bearer token; send the header `Authorization: Bearer <token>` with a token issued by `scim-bridge token create`"},
		{"empty bearer", "Bearer ", ReasonMalformed, invalidToken, "malformed bearer token"},
		{"basic scheme", "Basic " + valid, ReasonMalformed, invalidToken, "malformed bearer token"},
		{"no scheme", valid, ReasonMalformed, invalidToken, "malformed bearer token"},
		{"wrong prefix", "Bearer ghp_0123456789", ReasonMalformed, invalidToken, "malformed bearer token"},
		{"truncated", "Bearer " + valid[:30], ReasonMalformed, invalidToken, "malformed bearer token"},
		{"bad checksum", "Bearer " + badSum, ReasonMalformed, invalidToken, "malformed bearer token"},
		{"unknown", "Bearer " + unknown, ReasonUnknown, invalidToken,
			"unknown bearer token; check the token configured in the identity provider, or issue one with `scim-bridge token create --name NAME`"},
		{"expired", "Bearer " + expired, ReasonExpired, invalidToken,
			"bearer token expired; rotate it with `scim-bridge token rotate short-lived`"},
		{"revoked", "Bearer " + revoked, ReasonRevoked, invalidToken,
			"bearer token revoked; issue a new one with `scim-bridge token create --name gone`"},
	}
	counts := map[Reason]float64{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := do(h, "192.0.2.7:5000", tc.header)
			if w.Code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", w.Code)
			}
			if got := w.Header().Get("Content-Type"); got != "application/scim+json" {
				t.Errorf("Content-Type %q", got)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, tc.challenge)
			}
			var body struct {
				Schemas []string `json:"schemas"`
				Status  string   `json:"status"`
				Detail  string   `json:"detail"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", w.Body, err)
			}
			if len(body.Schemas) != 1 || body.Schemas[0] != "urn:ietf:params:scim:api:messages:2.0:Error" || body.Status != "401" {
				t.Errorf("body %s is not a SCIM 401 error", w.Body)
			}
			if !strings.HasPrefix(body.Detail, tc.detail) {
				t.Errorf("detail %q, want it to start with %q", body.Detail, tc.detail)
			}
			for _, s := range []string{valid, expired, revoked, unknown, badSum} {
				if strings.Contains(w.Body.String(), s) || strings.Contains(fmt.Sprint(w.Header()), s) {
					t.Fatalf("response echoes a token")
				}
			}
			counts[tc.reason]++
		})
	}
	for _, r := range allReasons {
		if got := testutil.ToFloat64(svc.m.failures.WithLabelValues(string(r))); got != counts[r] {
			t.Errorf("scim_bridge_auth_failures_total{reason=%q} = %v, want %v", r, got, counts[r])
		}
	}
	if n, err := testutil.GatherAndCount(reg, "scim_bridge_auth_failures_total"); err != nil || n != len(allReasons) {
		t.Errorf("auth failure series: %d (%v), want %d", n, err, len(allReasons))
	}

	w := do(h, "192.0.2.7:5000", "bearer "+valid) // scheme is case-insensitive
	if w.Code != http.StatusOK || w.Body.String() != "okta-prod" {
		t.Fatalf("valid token: %d %q, want 200 with the token name in the context", w.Code, w.Body)
	}
	for _, s := range []string{valid, expired, revoked, unknown, badSum} {
		if strings.Contains(logs.String(), s) {
			t.Fatalf("a token appears in the logs")
		}
	}
}

func TestMiddlewareLimitsFailingAddresses(t *testing.T) {
	c := newClock()
	svc, _, _ := newService(t, openSQLite(t), c, Options{FailureBurst: 3, FailureInterval: 10 * time.Second})
	valid := mustCreate(t, svc, "okta", 0)
	bad, _, _, _ := newSecret(DefaultPrefix)
	h := svc.Middleware(okHandler)
	const attacker = "198.51.100.9:4444"
	if w := do(h, "192.0.2.50:1", "Bearer "+valid); w.Code != http.StatusOK {
		t.Fatalf("valid token: %d", w.Code)
	}
	other := mustCreate(t, svc, "entra", 0)

	for i := range 3 {
		if w := do(h, attacker, "Bearer "+bad); w.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d, want 401 within the burst", i+1, w.Code)
		}
	}
	for range 20 {
		w := do(h, attacker, "Bearer "+bad)
		if w.Code != http.StatusTooManyRequests {
			t.Fatalf("after the burst: status %d, want 429", w.Code)
		}
		if got := w.Header().Get("Retry-After"); got != "10" {
			t.Fatalf("Retry-After %q, want 10", got)
		}
		if w.Header().Get("Content-Type") != "application/scim+json" || !strings.Contains(w.Body.String(), `"status":"429"`) {
			t.Fatalf("429 body %q is not a SCIM error", w.Body)
		}
		// A valid token this process has verified before is not limited.
		if w := do(h, attacker, "Bearer "+valid); w.Code != http.StatusOK {
			t.Fatalf("known valid token from a limited address: status %d, want 200", w.Code)
		}
	}
	// One it has never verified is, like any other token: telling it
	// apart would take the store lookup the limiter exists to save.
	if w := do(h, attacker, "Bearer "+other); w.Code != http.StatusTooManyRequests {
		t.Fatalf("new valid token from a limited address: %d, want 429", w.Code)
	}
	// Missing credentials from a limited address are limited too.
	if w := do(h, attacker, ""); w.Code != http.StatusTooManyRequests {
		t.Fatalf("no token from a limited address: %d, want 429", w.Code)
	}
	if got := testutil.ToFloat64(svc.m.limited); got != 22 {
		t.Errorf("scim_bridge_auth_rate_limited_total = %v, want 22", got)
	}
	// Other addresses are unaffected, also from the same port range.
	if w := do(h, "198.51.100.10:4444", "Bearer "+bad); w.Code != http.StatusUnauthorized {
		t.Fatalf("another address: %d, want 401", w.Code)
	}
	// X-Forwarded-For is not trusted by default.
	if w := do(h, attacker, "Bearer "+bad, "X-Forwarded-For", "203.0.113.1"); w.Code != http.StatusTooManyRequests {
		t.Fatalf("spoofed X-Forwarded-For escaped the limit: %d", w.Code)
	}
	// Once the bucket refills by one, one more failure is let through.
	c.Add(3 * time.Second)
	if w := do(h, attacker, "Bearer "+bad); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "7" {
		t.Fatalf("3s later: %d Retry-After %q, want 429 and 7", w.Code, w.Header().Get("Retry-After"))
	}
	c.Add(7 * time.Second)
	if w := do(h, attacker, "Bearer "+bad); w.Code != http.StatusUnauthorized {
		t.Fatalf("after Retry-After: %d, want 401", w.Code)
	}
	if w := do(h, attacker, "Bearer "+bad); w.Code != http.StatusTooManyRequests {
		t.Fatalf("then limited again: %d, want 429", w.Code)
	}
}

func TestMiddlewareTrustForwardedFor(t *testing.T) {
	c := newClock()
	svc, _, _ := newService(t, openSQLite(t), c, Options{FailureBurst: 1, TrustForwardedFor: true})
	h := svc.Middleware(okHandler)
	const proxy = "10.0.0.1:80"
	if w := do(h, proxy, "", "X-Forwarded-For", "spoofed, 203.0.113.1"); w.Code != http.StatusUnauthorized {
		t.Fatal(w.Code)
	}
	if w := do(h, proxy, "", "X-Forwarded-For", "other-spoof, 203.0.113.1"); w.Code != http.StatusTooManyRequests {
		t.Fatalf("same last hop, different spoofed first entry: %d, want 429", w.Code)
	}
	if w := do(h, proxy, "", "X-Forwarded-For", "203.0.113.2"); w.Code != http.StatusUnauthorized {
		t.Fatalf("another client behind the proxy: %d, want 401", w.Code)
	}
}

func TestLimiterMemoryIsBounded(t *testing.T) {
	c := newClock()
	svc, _, _ := newService(t, openSQLite(t), c, Options{FailureBurst: 2, MaxTrackedAddrs: 50})
	h := svc.Middleware(okHandler)
	for i := range 1000 {
		do(h, fmt.Sprintf("10.1.%d.%d:1", i/256, i%256), "")
	}
	if n := svc.lim.len(); n != 50 {
		t.Fatalf("limiter tracks %d addresses, want the bound 50", n)
	}
}

func TestClientAddr(t *testing.T) {
	tests := []struct{ remote, xff, want string }{
		{"192.0.2.1:1234", "", "192.0.2.1"},
		{"[2001:db8:1:2:3:4:5:6]:443", "", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:443", "", "2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.1]:1", "", "192.0.2.1"},
		{"192.0.2.1:1234", "203.0.113.5", "192.0.2.1"},
	}
	for _, tc := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := clientAddr(r, false); got != tc.want {
			t.Errorf("clientAddr(%s) = %q, want %q", tc.remote, got, tc.want)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Add("X-Forwarded-For", "1.1.1.1, 2.2.2.2")
	r.Header.Add("X-Forwarded-For", "203.0.113.5:999")
	if got := clientAddr(r, true); got != "203.0.113.5" {
		t.Errorf("trusted X-Forwarded-For: %q, want the last entry", got)
	}
}

// TestMiddlewareStoreUnavailable: with the store gone, a cached token still
// passes (no store round trip), an uncached one gets 503 — not 401, which
// would tell the IdP its token is bad — and the failure is not counted
// against the client's address.
func TestMiddlewareStoreUnavailable(t *testing.T) {
	c := newClock()
	st := openSQLite(t)
	svc, _, _ := newService(t, st, c, Options{FailureBurst: 1})
	valid := mustCreate(t, svc, "okta", 0)
	other := mustCreate(t, svc, "entra", 0)
	h := svc.Middleware(okHandler)
	if w := do(h, "192.0.2.1:1", "Bearer "+valid); w.Code != http.StatusOK {
		t.Fatal(w.Code)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if w := do(h, "192.0.2.1:1", "Bearer "+valid); w.Code != http.StatusOK {
		t.Fatalf("cached token with the store down: %d, want 200", w.Code)
	}
	for range 3 {
		w := do(h, "192.0.2.1:1", "Bearer "+other)
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" ||
			!strings.Contains(w.Body.String(), `"status":"503"`) {
			t.Fatalf("uncached token with the store down: %d %s, want a SCIM 503 with Retry-After", w.Code, w.Body)
		}
	}
	for _, r := range allReasons {
		if n := testutil.ToFloat64(svc.m.failures.WithLabelValues(string(r))); n != 0 {
			t.Errorf("store outage counted as auth failure %s", r)
		}
	}
}

func TestCacheDisabled(t *testing.T) {
	st := &counting{Store: openSQLite(t)}
	svc, _, _ := newService(t, st, newClock(), Options{CacheTTL: -1})
	secret := mustCreate(t, svc, "okta", 0)
	for range 3 {
		mustVerify(t, svc, secret)
	}
	if n := st.byHash.Load(); n != 3 {
		t.Fatalf("with the cache off, 3 verifications read the store %d times", n)
	}
}
