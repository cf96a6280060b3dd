package sigma_test

import (
	"net/http"
	"runtime"
	"testing"

	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmatest"
)

// BenchmarkIterate100kMembers iterates an org of 100,000 members and fails
// unless that costs exactly 100 list requests (limit=1000). It reports
// allocations and the peak heap seen while iterating (sampled every page;
// peak-heap-MiB includes the in-process emulator's org; peak-heap-over-idle
// is the growth over the heap measured after GC before iterating, i.e. the
// pages in flight on both sides plus garbage not yet collected).
func BenchmarkIterate100kMembers(b *testing.B) {
	const members = 100_000
	srv := sigmatest.StartFake(b, sigmafake.Options{Members: members, Seed: 99, TokenRatePerSecond: -1})
	e := newEnv(b, srv, func(c *sigma.Config) { c.RequestsPerSecond = 1e6 })
	ctx := ctxT(b)
	if err := e.c.Ping(ctx); err != nil {
		b.Fatal(err)
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapAlloc, ms.HeapAlloc
	b.ReportAllocs()
	for b.Loop() {
		before := srv.CountRequests(http.MethodGet, "/v2/members")
		n := 0
		for _, err := range e.c.Members(ctx, sigma.ListMembersOptions{}) {
			if err != nil {
				b.Fatal(err)
			}
			if n++; n%1000 == 0 {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
		}
		if n != members {
			b.Fatalf("iterated %d members, want %d", n, members)
		}
		if got := srv.CountRequests(http.MethodGet, "/v2/members") - before; got != 100 {
			b.Fatalf("iterating %d members made %d list requests, want exactly 100", members, got)
		}
		srv.ResetRequests()
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(peak-base)/(1<<20), "peak-heap-over-idle-MiB")
}
