package scimserver_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/scimbridge/scim-bridge/internal/scimserver/scimtest"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
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
	ts.do(t, "PATCH", "/Groups/"+group, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"`+id+`"}]}]}`).want(t, http.StatusNoContent)
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

// onboardByLogin is onboard for an IdP whose userName is a login, not an
// email (JumpCloud): lookup by userName, create with a work email, the
// IdP's next lookup (which must find the user), group add.
func onboardByLogin(t testing.TB, ts *testServer, group string, i int) []string {
	login := fmt.Sprintf("jc.user%d", i)
	ts.Fake.ResetRequests()
	q := "/Users?filter=" + urlq(`userName eq "`+login+`"`) + "&startIndex=1&count=100"
	if r := ts.do(t, "GET", q, nil).want(t, http.StatusOK); r.Body["totalResults"] != float64(0) {
		t.Fatalf("user exists: %s", r.Raw)
	}
	body := newUser(fmt.Sprintf("jc.user%d@example.com", i))
	body["userName"] = login
	id := ts.do(t, "POST", "/Users", body).want(t, http.StatusCreated).Body["id"].(string)
	if r := ts.do(t, "GET", q, nil).want(t, http.StatusOK); r.Body["totalResults"] != float64(1) {
		t.Fatalf("user not found by its login after create: %s", r.Raw)
	}
	ts.do(t, "PATCH", "/Groups/"+group, `{"Operations":[{"op":"add","path":"members","value":[{"value":"`+id+`"}]}]}`).want(t, http.StatusNoContent)
	return scimtest.Calls(ts.Fake)
}

// TestOnboardingCostByLogin pins the upstream cost of onboarding a user the
// IdP names by a login: both lookups are answered from the store, so only
// the create and the team PATCH reach Sigma.
func TestOnboardingCostByLogin(t *testing.T) {
	ts := newTestServer(t)
	group := ts.createGroup(t, "Onboarding")
	for i := range 3 {
		if calls := onboardByLogin(t, ts, group, i); len(calls) != 2 {
			t.Fatalf("user %d cost %d upstream calls, want 2: %q", i, len(calls), calls)
		}
	}
}

// BenchmarkJumpCloudOnboarding reports upstream calls and time per user
// onboarded by login.
func BenchmarkJumpCloudOnboarding(b *testing.B) {
	ts := newTestServer(b)
	group := ts.createGroup(b, "Onboarding")
	calls := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		calls += len(onboardByLogin(b, ts, group, i))
	}
	b.ReportMetric(float64(calls)/float64(b.N), "sigma-calls/user")
}

// BenchmarkListPage times one Okta import page (count=100) over an org of
// 5000 members: every list request renders and orders the whole index.
func BenchmarkListPage(b *testing.B) {
	ts := newTestServer(b, withFake(func(o *sigmafake.Options) { o.Members = 5000 }))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := ts.do(b, "GET", fmt.Sprintf("/Users?startIndex=%d&count=100", 1+(i%50)*100), nil).want(b, http.StatusOK)
		if r.Body["itemsPerPage"] != float64(100) {
			b.Fatalf("page: %v", r.Body["itemsPerPage"])
		}
	}
}

// BenchmarkFilterScan times a filter no index answers (userName sw) over
// 5000 members.
func BenchmarkFilterScan(b *testing.B) {
	ts := newTestServer(b, withFake(func(o *sigmafake.Options) { o.Members = 5000 }))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ts.do(b, "GET", "/Users?filter="+urlq(`userName sw "zz" or emails[type eq "home"]`), nil).want(b, http.StatusOK)
	}
}
