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
			if _, err := svc.Verify(ctx, secret); err != nil {
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
		_, _ = svc.Verify(ctx, secrets[i%len(secrets)])
		i++
	}
}
