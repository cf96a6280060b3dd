package sigmafake

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
)

// listAllRaw pages through /v2/members with limit=1000 and returns how many
// members and requests it took; it fails b/t on any error.
func listAllRaw(tb testing.TB, s *Server, token string) (members, requests int) {
	tb.Helper()
	cursor := ""
	for {
		q := url.Values{"limit": {"1000"}}
		if cursor != "" {
			q.Set("page", cursor)
		}
		req, _ := http.NewRequest(http.MethodGet, s.URL()+"/v2/members?"+q.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := httpClient.Do(req)
		if err != nil {
			tb.Fatal(err)
		}
		var p struct {
			Entries  []json.RawMessage `json:"entries"`
			NextPage *string           `json:"nextPage"`
		}
		err = json.NewDecoder(resp.Body).Decode(&p)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			tb.Fatalf("page %d: status %d, %v", requests, resp.StatusCode, err)
		}
		requests++
		members += len(p.Entries)
		if p.NextPage == nil {
			return members, requests
		}
		cursor = *p.NextPage
	}
}

// TestListingCostsExactlyCeilNOverLimitRequests seeds 100k members and
// lists them at limit=1000 in exactly 100 requests (20k in 20 under -race,
// where the 100k run takes ~15 s; BenchmarkList100kMembers covers 100k).
func TestListingCostsExactlyCeilNOverLimitRequests(t *testing.T) {
	n := 100_000
	if raceEnabled || testing.Short() {
		n = 20_000
	}
	s := startServer(t, Options{Members: n, Teams: 20, Seed: 1})
	if got := len(s.Members()); got != n {
		t.Fatalf("seeded %d members", got)
	}
	c := newREST(t, s)
	s.ResetRequests()
	members, requests := listAllRaw(t, s, c.token)
	if members != n || requests != n/1000 {
		t.Fatalf("listed %d members in %d requests, want %d in %d", members, requests, n, n/1000)
	}
	if got := s.CountRequests(http.MethodGet, "/v2/members"); got != n/1000 {
		t.Fatalf("emulator saw %d list requests", got)
	}
}

func BenchmarkSeed100k(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		New(Options{Members: 100_000, Teams: 20, Seed: 1})
	}
}

func BenchmarkList100kMembers(b *testing.B) {
	s, err := Start(Options{Members: 100_000, Teams: 20, Seed: 1, TokenRatePerSecond: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c := newREST(b, s)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		members, requests := listAllRaw(b, s, c.token)
		if members != 100_000 || requests != 100 {
			b.Fatalf("listed %d in %d requests", members, requests)
		}
		b.ReportMetric(float64(requests), "requests/op")
	}
}
