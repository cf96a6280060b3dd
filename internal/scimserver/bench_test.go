package scimserver_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/scimbridge/scim-bridge/internal/scimserver/scimtest"
)

// onboard does what Okta does for one new user assigned through a pushed
// group: existence check, create, group add. It returns the upstream calls
// it caused (token requests excluded).
func onboard(t testing.TB, ts *testServer, group string, i int) []string {
	userName := fmt.Sprintf("onboard.%d@example.com", i)
	ts.Fake.ResetRequests()
	r := ts.do(t, "GET", "/Users?filter="+urlq(`userName eq "`+userName+`"`)+"&startIndex=1&count=100", nil).want(t, http.StatusOK)
	if r.Body["totalResults"] != float64(0) {
		t.Fatalf("user exists: %s", r.Raw)
	}
	id := ts.createUser(t, userName)
	ts.do(t, "PATCH", "/Groups/"+group, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"`+id+`"}]}]}`).want(t, http.StatusOK)
	return scimtest.Calls(ts.Fake)
}

// TestOnboardingCost pins the upstream cost of an Okta-style onboarding:
// one email lookup, one create, one team PATCH.
func TestOnboardingCost(t *testing.T) {
	ts := newTestServer(t)
	group := ts.createGroup(t, "Onboarding")
	for i := range 3 {
		calls := onboard(t, ts, group, i)
		if len(calls) != 3 {
			t.Fatalf("user %d cost %d upstream calls, want 3: %q", i, len(calls), calls)
		}
	}
}

// BenchmarkOktaOnboarding reports upstream calls and time per onboarded user.
func BenchmarkOktaOnboarding(b *testing.B) {
	ts := newTestServer(b)
	group := ts.createGroup(b, "Onboarding")
	calls := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		calls += len(onboard(b, ts, group, i))
	}
	b.ReportMetric(float64(calls)/float64(b.N), "sigma-calls/user")
}
