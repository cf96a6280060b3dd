package tokens

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkVerifyCached is the hot path: a known token within CacheTTL.
func BenchmarkVerifyCached(b *testing.B) {
	svc, _, _ := newService(b, openSQLite(b), nil, Options{})
	secret := mustCreate(b, svc, "okta", 0)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := svc.Verify(ctx, secret, testAddr); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkMiddleware authenticates a request end to end (no network).
func BenchmarkMiddleware(b *testing.B) {
	svc, _, _ := newService(b, openSQLite(b), nil, Options{})
	secret := mustCreate(b, svc, "okta", 0)
	h := svc.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest(http.MethodGet, "/scim/v2/Users", nil)
	r.Header.Set("Authorization", "Bearer "+secret)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
}

// BenchmarkVerifyUnknownWellFormed is what an attacker with well-formed
// random tokens costs: one store lookup each (negative cache off).
func BenchmarkVerifyUnknownWellFormed(b *testing.B) {
	svc, _, _ := newService(b, openSQLite(b), nil, Options{NegativeCacheTTL: -1})
	ctx := context.Background()
	secrets := make([]string, 1024)
	for i := range secrets {
		secrets[i], _, _, _ = newSecret(DefaultPrefix)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_, _ = svc.Verify(ctx, secrets[i%len(secrets)], testAddr)
		i++
	}
}

// BenchmarkBlockedAddress is a brute-force run from one address after its
// burst is spent: distinct well-formed tokens, as a guessing attacker
// sends. It reports the store lookups each refused request costs.
func BenchmarkBlockedAddress(b *testing.B) {
	st := &counting{Store: openSQLite(b)}
	svc, _, _ := newService(b, st, nil, Options{FailureBurst: 1, NegativeCacheTTL: -1})
	h := svc.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	reqs := make([]*http.Request, 1024)
	for i := range reqs {
		secret, _, _, _ := newSecret(DefaultPrefix)
		reqs[i] = httptest.NewRequest(http.MethodGet, "/scim/v2/Users", nil)
		reqs[i].RemoteAddr = "198.51.100.9:4444"
		reqs[i].Header.Set("Authorization", "Bearer "+secret)
	}
	h.ServeHTTP(httptest.NewRecorder(), reqs[0]) // spends the burst
	before := st.byHash.Load()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), reqs[i%len(reqs)])
		i++
	}
	b.ReportMetric(float64(st.byHash.Load()-before)/float64(i), "lookups/op")
}
