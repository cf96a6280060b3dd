package sigma_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimbridge/scim-bridge/internal/secret"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmatest"
)

// fakeClock is a movable clock for the emulator.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func collectMembers(t *testing.T, c *sigma.Client, opts sigma.ListMembersOptions) []sigma.Member {
	t.Helper()
	var out []sigma.Member
	for m, err := range c.Members(ctxT(t), opts) {
		if err != nil {
			t.Fatalf("Members: %v", err)
		}
		out = append(out, m)
	}
	return out
}

func TestMembersPaginatesWithLimitAndPageCursor(t *testing.T) {
	srv := sigmatest.StartFake(t, sigmafake.Options{Members: 250, Seed: 1})
	e := newEnv(t, srv, nil)

	got := collectMembers(t, e.c, sigma.ListMembersOptions{Limit: 100})
	if len(got) != 250 {
		t.Fatalf("iterated %d members, want 250", len(got))
	}
	seen := map[string]bool{}
	for _, m := range got {
		if m.MemberID == "" || m.Email == "" || m.OrganizationID != srv.OrganizationID() || m.CreatedAt.IsZero() {
			t.Fatalf("member not fully decoded: %+v", m)
		}
		if seen[m.MemberID] {
			t.Fatalf("member %s yielded twice", m.MemberID)
		}
		seen[m.MemberID] = true
	}
	var lists []sigmafake.Request
	for _, r := range srv.Requests() {
		if r.Method == http.MethodGet && r.Path == "/v2/members" {
			lists = append(lists, r)
		}
	}
	if len(lists) != 3 {
		t.Fatalf("made %d list requests for 250 members at limit 100, want 3", len(lists))
	}
	for i, r := range lists {
		if r.Query.Get("limit") != "100" {
			t.Errorf("request %d: limit=%q, want 100", i, r.Query.Get("limit"))
		}
		if (i == 0) != (r.Query.Get("page") == "") {
			t.Errorf("request %d: page=%q (only the first request has no cursor)", i, r.Query.Get("page"))
		}
		if r.Query.Has("page_token") {
			t.Errorf("request %d sent page_token", i)
		}
	}
	// Stopping early stops fetching.
	before := srv.CountRequests(http.MethodGet, "/v2/members")
	n := 0
	for _, err := range e.c.Members(ctxT(t), sigma.ListMembersOptions{Limit: 100}) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 5 {
			break
		}
	}
	if d := srv.CountRequests(http.MethodGet, "/v2/members") - before; d != 1 {
		t.Errorf("breaking out after 5 members made %d requests, want 1", d)
	}
}

func TestMembersDefaultLimitAndFilters(t *testing.T) {
	srv := sigmatest.StartFake(t, sigmafake.Options{Members: 5, Seed: 2})
	arch := srv.AddMember(sigmafake.Member{Email: "gone@example.com", FirstName: "G", LastName: "One", IsArchived: true})
	inact := srv.AddMember(sigmafake.Member{Email: "idle@example.com", FirstName: "I", LastName: "Dle", IsInactive: true})
	e := newEnv(t, srv, nil)

	if got := collectMembers(t, e.c, sigma.ListMembersOptions{}); len(got) != 5 {
		t.Errorf("default listing gave %d members, want the 5 active ones", len(got))
	}
	if r := srv.Requests(); r[len(r)-1].Query.Get("limit") != "1000" {
		t.Errorf("default limit sent = %q, want 1000", r[len(r)-1].Query.Get("limit"))
	}
	all := collectMembers(t, e.c, sigma.ListMembersOptions{IncludeArchived: true, IncludeInactive: true, Limit: 5000})
	if len(all) != 7 {
		t.Errorf("listing with archived and inactive gave %d members, want 7", len(all))
	}
	for _, m := range all {
		if m.MemberID == arch.MemberID && !m.IsArchived || m.MemberID == inact.MemberID && !m.IsInactive {
			t.Errorf("flags not decoded: %+v", m)
		}
	}
	only := collectMembers(t, e.c, sigma.ListMembersOptions{Email: "idle@example.com", IncludeInactive: true})
	if len(only) != 1 || only[0].MemberID != inact.MemberID {
		t.Errorf("email filter gave %+v", only)
	}
	m, ok, err := e.c.FindMemberByEmail(ctxT(t), "GONE@example.com")
	if err != nil || !ok || m.MemberID != arch.MemberID {
		t.Errorf("FindMemberByEmail(archived) = %+v, %v, %v", m, ok, err)
	}
	if _, ok, err := e.c.FindMemberByEmail(ctxT(t), "nobody@example.com"); ok || err != nil {
		t.Errorf("FindMemberByEmail(missing) = %v, %v", ok, err)
	}
}

func TestMemberLifecycle(t *testing.T) {
	srv := sigmatest.StartFake(t, sigmafake.Options{Members: 3, Teams: 2, Seed: 3})
	e := newEnv(t, srv, nil)
	ctx := ctxT(t)
	team := srv.Teams()[0]

	m, err := e.c.CreateMember(ctx, sigma.NewMember{Email: "ada@example.com", FirstName: "Ada", LastName: "Lovelace",
		MemberType: "Pro", AddToTeams: []sigma.TeamAssignment{{TeamID: team.TeamID}}})
	if err != nil {
		t.Fatal(err)
	}
	if m.MemberID == "" || m.MemberType != "Pro" || m.Email != "ada@example.com" {
		t.Fatalf("created %+v", m)
	}
	reqs := srv.Requests()
	if last := reqs[len(reqs)-1]; last.Query.Get("sendInvite") != "false" {
		t.Errorf("sendInvite=%q, want false by default", last.Query.Get("sendInvite"))
	}
	_, err = e.c.CreateMember(ctx, sigma.NewMember{Email: "ADA@example.com", FirstName: "A", LastName: "L"})
	var ae *sigma.APIError
	if !errors.Is(err, sigma.ErrDuplicate) || !errors.As(err, &ae) || ae.Status != 409 || ae.Code != "conflict" || ae.RequestID == "" {
		t.Errorf("duplicate create: %v (%+v)", err, ae)
	}
	_, err = e.c.CreateMember(ctx, sigma.NewMember{Email: "bob@example.com", FirstName: "B", LastName: "C", MemberType: "Wizard"})
	if !errors.Is(err, sigma.ErrUnknownMemberType) || errors.Is(err, sigma.ErrNotFound) {
		t.Errorf("unknown member type: %v", err)
	}

	got, err := e.c.GetMember(ctx, m.MemberID)
	if err != nil || got.MemberID != m.MemberID || got.FirstName != "Ada" {
		t.Errorf("GetMember = %+v, %v", got, err)
	}
	if _, err := e.c.GetMember(ctx, "no-such-member"); !errors.Is(err, sigma.ErrNotFound) {
		t.Errorf("GetMember(missing) = %v, want ErrNotFound", err)
	}

	first := "Augusta"
	upd, err := e.c.UpdateMember(ctx, m.MemberID, sigma.MemberPatch{FirstName: &first})
	if err != nil || upd.FirstName != "Augusta" || upd.LastName != "Lovelace" {
		t.Fatalf("UpdateMember = %+v, %v", upd, err)
	}
	reqs = srv.Requests()
	if body := string(reqs[len(reqs)-1].Body); body != `{"firstName":"Augusta"}` {
		t.Errorf("patch body %s, want only the changed field", body)
	}
	patches := srv.CountRequests(http.MethodPatch, "/v2/members")
	if _, err := e.c.UpdateMember(ctx, m.MemberID, sigma.MemberPatch{}); err != nil {
		t.Fatal(err)
	}
	if srv.CountRequests(http.MethodPatch, "/v2/members") != patches {
		t.Error("an empty patch was sent")
	}

	teams, err := e.c.MemberTeams(ctx, m.MemberID)
	if err != nil || len(teams) != 1 || teams[0].TeamID != team.TeamID {
		t.Errorf("MemberTeams = %+v, %v", teams, err)
	}

	owner := srv.OwnerID()
	d, err := e.c.DeactivateMember(ctx, m.MemberID, sigma.DeactivateOptions{NewOwnerID: owner})
	if err != nil || !d.IsArchived {
		t.Fatalf("DeactivateMember = %+v, %v", d, err)
	}
	if fm, _ := srv.Member(m.MemberID); fm.DocumentsTransferredTo != owner {
		t.Errorf("documents went to %q, want %q", fm.DocumentsTransferredTo, owner)
	}
	r, err := e.c.ReactivateMember(ctx, m.MemberID)
	if err != nil || r.IsArchived || r.IsInactive {
		t.Fatalf("ReactivateMember = %+v, %v", r, err)
	}
	in, err := e.c.DeactivateMember(ctx, m.MemberID, sigma.DeactivateOptions{Inactive: true, ArchiveDocuments: true})
	if err != nil || !in.IsInactive || in.IsArchived {
		t.Fatalf("DeactivateMember(inactive) = %+v, %v", in, err)
	}
	if fm, _ := srv.Member(m.MemberID); !fm.DocumentsArchived {
		t.Error("archiveDocuments not applied")
	}
	if _, err := e.c.ReactivateMember(ctx, m.MemberID); err != nil {
		t.Fatal(err)
	}
	if err := e.c.DeleteMember(ctx, m.MemberID); err != nil {
		t.Fatal(err)
	}
	if fm, ok := srv.Member(m.MemberID); !ok || !fm.IsArchived {
		t.Errorf("DELETE should deactivate, member now %+v (exists %v)", fm, ok)
	}
}

func TestTeamLifecycleAndBatchedMembership(t *testing.T) {
	srv := sigmatest.StartFake(t, sigmafake.Options{Members: 260, Teams: 3, Seed: 4})
	e := newEnv(t, srv, nil)
	ctx := ctxT(t)
	ids := make([]string, 0, 250)
	for _, m := range srv.Members()[1:251] {
		ids = append(ids, m.MemberID)
	}

	tm, err := e.c.CreateTeam(ctx, sigma.NewTeam{Name: "Research", Description: "R&D", Visibility: "public", Members: ids[:2]})
	if err != nil || tm.TeamID == "" || tm.Name != "Research" || len(tm.Members) != 2 {
		t.Fatalf("CreateTeam = %+v, %v", tm, err)
	}
	if _, err := e.c.CreateTeam(ctx, sigma.NewTeam{Name: "Research"}); !errors.Is(err, sigma.ErrDuplicate) {
		t.Errorf("duplicate team: %v", err)
	}
	var names []string
	for tt, err := range e.c.Teams(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, tt.Name)
	}
	if len(names) != 4 || !slices.Contains(names, "Research") {
		t.Errorf("Teams = %v", names)
	}
	var byName []sigma.Team
	for tt, err := range e.c.Teams(ctx, "Research") {
		if err != nil {
			t.Fatal(err)
		}
		byName = append(byName, tt)
	}
	if len(byName) != 1 || byName[0].TeamID != tm.TeamID {
		t.Errorf("Teams(name) = %+v", byName)
	}

	newName, desc := "Research Lab", "Lab"
	up, err := e.c.UpdateTeam(ctx, tm.TeamID, sigma.TeamPatch{Name: &newName, Description: &desc})
	if err != nil || up.Name != newName || up.Description != desc {
		t.Errorf("UpdateTeam = %+v, %v", up, err)
	}

	before := srv.CountRequests(http.MethodPatch, "/v2/teams/")
	if err := e.c.ModifyTeamMembers(ctx, tm.TeamID, ids[2:], ids[:1]); err != nil {
		t.Fatal(err)
	}
	// 248 adds + 1 remove = 249 ids in batches of 100: 3 requests.
	if got := srv.CountRequests(http.MethodPatch, "/v2/teams/") - before; got != 3 {
		t.Errorf("ModifyTeamMembers made %d requests, want 3", got)
	}
	var members []string
	for tmm, err := range e.c.TeamMembers(ctx, tm.TeamID) {
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, tmm.UserID)
	}
	if len(members) != 249 || slices.Contains(members, ids[0]) || !slices.Contains(members, ids[249]) {
		t.Errorf("team has %d members after the change, want 249 without the removed one", len(members))
	}
	got, err := e.c.GetTeam(ctx, tm.TeamID)
	if err != nil || len(got.Members) != 249 {
		t.Errorf("GetTeam members = %d, %v", len(got.Members), err)
	}
	if err := e.c.ModifyTeamMembers(ctx, tm.TeamID, nil, nil); err != nil {
		t.Errorf("empty change: %v", err)
	}

	// Archived members cannot join: a final client error.
	arch := srv.AddMember(sigmafake.Member{Email: "old@example.com", FirstName: "O", LastName: "Ld", IsArchived: true})
	err = e.c.ModifyTeamMembers(ctx, tm.TeamID, []string{arch.MemberID}, nil)
	var ae *sigma.APIError
	if !errors.As(err, &ae) || ae.Status != 400 || ae.Retryable || ae.Reason != sigma.ReasonClient {
		t.Errorf("adding an archived member: %v", err)
	}

	if err := e.c.DeleteTeam(ctx, tm.TeamID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.GetTeam(ctx, tm.TeamID); !errors.Is(err, sigma.ErrNotFound) {
		t.Errorf("GetTeam after delete: %v", err)
	}
}

func TestTokenExpiringMidIteration(t *testing.T) {
	clock := newFakeClock()
	srv := sigmatest.StartFake(t, sigmafake.Options{Members: 350, TokenTTL: time.Hour, Now: clock.Now, Seed: 5})
	e := newEnv(t, srv, nil)

	n := 0
	for _, err := range e.c.Members(ctxT(t), sigma.ListMembersOptions{Limit: 100}) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 150 {
			clock.Advance(2 * time.Hour) // the emulator's token expires; the client's clock does not know
		}
	}
	if n != 350 {
		t.Errorf("iterated %d members, want 350", n)
	}
	if got := srv.CountRequests(http.MethodPost, "/v2/auth/token"); got != 2 {
		t.Errorf("token requests = %d, want 2 (one re-auth)", got)
	}
	// 4 pages + one page repeated after the 401.
	if got := srv.CountRequests(http.MethodGet, "/v2/members"); got != 5 {
		t.Errorf("list requests = %d, want 5", got)
	}
}

func TestUnauthorizedReauthenticatesExactlyOnce(t *testing.T) {
	srv := sigmatest.StartFake(t, sigmafake.Options{Members: 2, Seed: 6})
	e := newEnv(t, srv, nil)
	ctx := ctxT(t)
	id := srv.Members()[1].MemberID
	if _, err := e.c.GetMember(ctx, id); err != nil {
		t.Fatal(err)
	}
	srv.ExpireTokens()
	if _, err := e.c.GetMember(ctx, id); err != nil {
		t.Fatalf("after the token was revoked: %v", err)
	}
	if got := srv.CountRequests(http.MethodPost, "/v2/auth/token"); got != 2 {
		t.Errorf("token requests = %d, want 2", got)
	}
	if got := srv.CountRequests(http.MethodGet, "/v2/members/"+id); got != 3 {
		t.Errorf("member reads = %d, want 3 (ok, 401, ok)", got)
	}
	if got := counter(t, e.reg, "scim_bridge_sigma_token_refreshes_total", nil); got != 2 {
		t.Errorf("token_refreshes_total = %v, want 2", got)
	}
	if got := counter(t, e.reg, "scim_bridge_sigma_requests_total", map[string]string{"endpoint": "/v2/members/{memberId}", "reason": "auth", "status_class": "4xx"}); got != 1 {
		t.Errorf("auth-failed requests counted %v, want 1", got)
	}
}

func TestConcurrentCallersShareOneTokenRequest(t *testing.T) {
	srv := sigmatest.StartFake(t, sigmafake.Options{Members: 3, Seed: 7})
	e := newEnv(t, srv, func(c *sigma.Config) { c.MaxConcurrent = 50 })
	srv.SetFault("/v2/auth/token", sigmafake.Fault{Latency: 1, LatencyDuration: 100 * time.Millisecond})
	id := srv.Members()[1].MemberID
	ctx := ctxT(t)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	start := make(chan struct{})
	for range 50 {
		wg.Go(func() {
			<-start
			_, err := e.c.GetMember(ctx, id)
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.CountRequests(http.MethodPost, "/v2/auth/token"); got != 1 {
		t.Errorf("50 concurrent callers made %d token requests, want 1", got)
	}
	if got := srv.CountRequests(http.MethodGet, "/v2/members/"); got != 50 {
		t.Errorf("member reads = %d, want 50", got)
	}
}

func TestConcurrentCallersAfterRevocationShareOneReauth(t *testing.T) {
	srv := sigmatest.StartFake(t, sigmafake.Options{Members: 3, Seed: 8})
	e := newEnv(t, srv, func(c *sigma.Config) { c.MaxConcurrent = 50 })
	ctx := ctxT(t)
	if err := e.c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	srv.ExpireTokens()
	id := srv.Members()[1].MemberID
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range 50 {
		wg.Go(func() {
			if _, err := e.c.GetMember(ctx, id); err != nil {
				failed.Add(1)
				t.Log(err)
			}
		})
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d callers failed", failed.Load())
	}
	if got := srv.CountRequests(http.MethodPost, "/v2/auth/token"); got != 2 {
		t.Errorf("token requests = %d, want 2 (the first and one shared re-auth)", got)
	}
}

func TestRetriesRateLimitedWithoutBodyAndServerErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fault  sigmafake.Fault
		status int
		reason string
	}{
		{"429 without body", sigmafake.Fault{Status429: 1}, 429, sigma.ReasonRateLimited},
		{"500", sigmafake.Fault{Status500: 1}, 500, sigma.ReasonServer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := sigmatest.StartFake(t, sigmafake.Options{Members: 120, Seed: 9, TokenRatePerSecond: -1})
			e := newEnv(t, srv, func(c *sigma.Config) { c.MaxRetries = 3 })
			ctx := ctxT(t)
			if err := e.c.Ping(ctx); err != nil {
				t.Fatal(err)
			}
			// A read that always fails keeps trying for the read budget
			// (default 10 s, here with the jitter at its ceiling: 250 ms,
			// 500 ms, 1 s, 2 s, 4 s and the 2.25 s left), then the typed error.
			srv.SetFault("/v2/members", tc.fault)
			_, err := e.c.GetMember(ctx, srv.Members()[1].MemberID)
			var ae *sigma.APIError
			if !errors.As(err, &ae) || ae.Status != tc.status || !ae.Retryable || ae.Reason != tc.reason {
				t.Fatalf("err = %v (%+v)", err, ae)
			}
			want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 2250 * time.Millisecond}
			if s := e.slept(); !slices.Equal(s, want) {
				t.Errorf("read backoff %v, want %v (10 s in all)", s, want)
			}
			if got := srv.CountRequests(http.MethodGet, "/v2/members/"); got != 7 {
				t.Errorf("read attempts = %d, want 7", got)
			}
			if got := counter(t, e.reg, "scim_bridge_sigma_requests_total", map[string]string{"reason": tc.reason, "path": "rest"}); got != 7 {
				t.Errorf("%s requests counted %v, want 7", tc.reason, got)
			}

			// A write that always fails: 1 + MaxRetries attempts.
			w := newEnv(t, srv, func(c *sigma.Config) { c.MaxRetries = 3 })
			first := "New"
			_, err = w.c.UpdateMember(ctx, srv.Members()[1].MemberID, sigma.MemberPatch{FirstName: &first})
			if !errors.As(err, &ae) || ae.Status != tc.status || ae.Method != http.MethodPatch {
				t.Fatalf("write err = %v", err)
			}
			if got := srv.CountRequests(http.MethodPatch, "/v2/members/"); got != 4 {
				t.Errorf("write attempts = %d, want 4", got)
			}
			if s := w.slept(); !slices.Equal(s, want[:3]) {
				t.Errorf("write backoff %v, want %v", s, want[:3])
			}
			AssertNoSecret(t, sigmafake.DefaultClientSecret, err, e.log)

			// Failing half the time: a 2-page iteration still completes.
			srv.SetFault("/v2/members", sigmafake.Fault{Status429: tc.fault.Status429 / 2, Status500: tc.fault.Status500 / 2})
			e2 := newEnv(t, srv, func(c *sigma.Config) { c.MaxRetries = 20 })
			if got := collectMembers(t, e2.c, sigma.ListMembersOptions{Limit: 60}); len(got) != 120 {
				t.Errorf("iterated %d members under faults, want 120", len(got))
			}
		})
	}
}

// retryAfterFront answers the first n requests to path with 429 and
// Retry-After, then passes everything to the emulator.
func retryAfterFront(t *testing.T, srv *sigmafake.Server, path string, n int, retryAfter string) string {
	t.Helper()
	var left atomic.Int32
	left.Store(int32(n))
	fs := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == path && left.Add(-1) >= 0 {
			w.Header().Set("Retry-After", retryAfter)
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		srv.Handler().ServeHTTP(w, r)
	}))
	return fs
}

func TestRetryAfterIsHonoured(t *testing.T) {
	srv := sigmatest.StartFake(t, sigmafake.Options{Members: 2, Seed: 10, TokenRatePerSecond: -1})
	front := retryAfterFront(t, srv, "/v2/accountTypes", 2, "4")
	e := newEnv(t, srv, func(c *sigma.Config) { c.BaseURL = front })
	if _, err := e.c.AccountTypes(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if s := e.slept(); len(s) != 2 || s[0] != 4*time.Second || s[1] != 4*time.Second {
		t.Errorf("slept %v, want the server's 4s twice", s)
	}
	// A Retry-After beyond what is left of the read budget (10 s) ends the
	// read at once, with the 429 and its Retry-After for the IdP.
	front1 := retryAfterFront(t, srv, "/v2/accountTypes", 3, "4")
	e1 := newEnv(t, srv, func(c *sigma.Config) { c.BaseURL = front1 })
	if _, err := e1.c.AccountTypes(ctxT(t)); err == nil {
		t.Error("three Retry-After: 4 (12 s) fitted into a 10 s read budget")
	}
	if s := e1.slept(); len(s) != 2 {
		t.Errorf("slept %v, want two 4 s waits and then the error", s)
	}
	// A Retry-After beyond the caller's deadline fails at once with the real cause.
	front2 := retryAfterFront(t, srv, "/v2/accountTypes", 1, "120")
	e2 := newEnv(t, srv, func(c *sigma.Config) { c.BaseURL = front2 })
	ctx, cancel := context.WithTimeout(ctxT(t), 5*time.Second)
	defer cancel()
	_, err := e2.c.AccountTypes(ctx)
	var ae *sigma.APIError
	if !errors.As(err, &ae) || ae.Status != 429 || ae.RetryAfter != 120*time.Second {
		t.Errorf("err = %v, want the 429 with its Retry-After", err)
	}
	if len(e2.slept()) != 0 {
		t.Errorf("slept %v although the deadline was nearer", e2.slept())
	}
}

func TestAmbiguousCreateEndsWithExactlyOneMember(t *testing.T) {
	srv := sigmatest.StartFake(t, sigmafake.Options{Members: 2, Seed: 11})
	e := newEnv(t, srv, func(c *sigma.Config) { c.MaxRetries = 12 })
	ctx := ctxT(t)
	if err := e.c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	srv.SetFault("/v2/members", sigmafake.Fault{Ambiguous: 0.5, Status500: 0.2})
	for i := range 20 {
		email := "person" + string(rune('a'+i)) + "@example.com"
		m, err := e.c.CreateMember(ctx, sigma.NewMember{Email: email, FirstName: "P", LastName: "Q"})
		if err != nil {
			t.Fatalf("create %s: %v", email, err)
		}
		if !strings.EqualFold(m.Email, email) || m.MemberID == "" {
			t.Fatalf("create %s returned %+v", email, m)
		}
	}
	srv.ClearFaults()
	count := map[string]int{}
	for _, m := range srv.Members() {
		count[strings.ToLower(m.Email)]++
	}
	for i := range 20 {
		email := "person" + string(rune('a'+i)) + "@example.com"
		if count[email] != 1 {
			t.Errorf("%s exists %d times, want exactly 1", email, count[email])
		}
	}
	dropped, posts := 0, 0
	for _, r := range srv.Requests() {
		if r.Method == http.MethodPost && r.Path == "/v2/members" {
			posts++
			if r.Dropped {
				dropped++
			}
		}
	}
	if dropped == 0 {
		t.Fatal("no create was dropped: the test exercised nothing")
	}
	t.Logf("%d creates, %d dropped after being performed", posts, dropped)
}

func TestBadSecretFailsWithoutLeaking(t *testing.T) {
	srv := sigmatest.StartFake(t, sigmafake.Options{Members: 1, Seed: 12})
	const bad = "wrong-secret-value-123"
	e := newEnv(t, srv, func(c *sigma.Config) { c.ClientSecret = secret.NewStatic(bad) })
	err := e.c.Ping(ctxT(t))
	if !errors.Is(err, sigma.ErrUnauthorized) {
		t.Fatalf("Ping with a bad secret: %v", err)
	}
	var ae *sigma.APIError
	if !errors.As(err, &ae) || ae.Retryable || ae.Endpoint != "/v2/auth/token" {
		t.Errorf("err = %+v", ae)
	}
	// One request, then one more after re-reading the source; no retry loop.
	if got := srv.CountRequests(http.MethodPost, "/v2/auth/token"); got != 2 {
		t.Errorf("token requests = %d, want 2", got)
	}
	_, gerr := e.c.GetMember(ctxT(t), "x")
	AssertNoSecret(t, bad, err, gerr, e.log)
}

func TestClientSecretRotatedThroughItsFile(t *testing.T) {
	srv := sigmatest.StartFake(t, sigmafake.Options{Members: 2, Seed: 13})
	path := filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(path, []byte(sigmafake.DefaultClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := secret.NewFile(path)
	src.CheckEvery = time.Hour // only Refresh (after the rejection) can pick the new value up
	e := newEnv(t, srv, func(c *sigma.Config) { c.ClientSecret = src })
	ctx := ctxT(t)
	id := srv.Members()[1].MemberID
	if _, err := e.c.GetMember(ctx, id); err != nil {
		t.Fatal(err)
	}

	const rotated = "rotated-secret-456"
	srv.SetClientSecret(rotated)
	srv.ExpireTokens()
	if err := os.WriteFile(path, []byte(rotated+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.GetMember(ctx, id); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	// first token, then the stale secret rejected, then the re-read one accepted
	if got := srv.CountRequests(http.MethodPost, "/v2/auth/token"); got != 3 {
		t.Errorf("token requests = %d, want 3", got)
	}
	var lastForm string
	for _, r := range srv.Requests() {
		if r.Path == "/v2/auth/token" {
			lastForm = string(r.Body)
		}
	}
	if !strings.Contains(lastForm, "client_secret="+rotated) || !strings.Contains(lastForm, "grant_type=client_credentials") {
		t.Errorf("last token request did not carry the rotated secret as a form field")
	}
	AssertNoSecret(t, rotated, e.log)
	AssertNoSecret(t, sigmafake.DefaultClientSecret, e.log)
}

func TestAccountTypesResolveAliasesAndListValidNames(t *testing.T) {
	types := []string{"Admin", "Pro", "Essential", "View", "Analyst Creator"}
	for i := range 1100 {
		types = append(types, "Custom "+strings.Repeat("x", 1+i%3)+string(rune('A'+i%26))+itoa(i))
	}
	srv := sigmatest.StartFake(t, sigmafake.Options{AccountTypes: types, Seed: 14})
	e := newEnv(t, srv, func(c *sigma.Config) {
		c.AccountTypeAliases = map[string]string{"Viewer": "View", "creator": "analyst creator"}
	})
	ctx := ctxT(t)
	list, err := e.c.AccountTypes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(types) {
		t.Fatalf("listed %d account types, want %d", len(list), len(types))
	}
	if got := srv.CountRequests(http.MethodGet, "/v2/accountTypes"); got != 2 {
		t.Errorf("account type pages = %d, want 2", got)
	}
	var sawToken bool
	for _, r := range srv.Requests() {
		if r.Path == "/v2/accountTypes" {
			if r.Query.Get("pageSize") != "1000" || r.Query.Has("limit") || r.Query.Has("page") {
				t.Errorf("account types queried with %v", r.Query)
			}
			sawToken = sawToken || r.Query.Get("pageToken") != ""
		}
	}
	if !sawToken {
		t.Error("second page not requested with pageToken")
	}
	if list[4].Name != "Analyst Creator" || !list[4].IsCustom || list[0].IsCustom || list[0].ID == "" {
		t.Errorf("decoded %+v %+v", list[0], list[4])
	}

	for in, want := range map[string]string{
		"view": "View", "VIEWER": "View", " Viewer ": "View", "analyst CREATOR": "Analyst Creator",
		"Creator": "Analyst Creator", "Admin": "Admin",
	} {
		got, err := e.c.ResolveAccountType(ctx, in)
		if err != nil || got != want {
			t.Errorf("ResolveAccountType(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if got := srv.CountRequests(http.MethodGet, "/v2/accountTypes"); got != 2 {
		t.Errorf("resolution did not use the cache: %d listing requests", got)
	}
	_, err = e.c.ResolveAccountType(ctx, "Boss")
	var ue *sigma.UnknownAccountTypeError
	if !errors.As(err, &ue) || ue.Name != "Boss" || len(ue.Valid) != len(types) || !slices.IsSorted(ue.Valid) || !slices.Contains(ue.Valid, "Analyst Creator") {
		t.Fatalf("ResolveAccountType(Boss) = %v", err)
	}
	if !strings.Contains(err.Error(), `"Boss"`) || !strings.Contains(err.Error(), "Essential") {
		t.Errorf("message %q should name the input and the valid names", err.Error())
	}
}

func TestAccountTypeCacheExpiresAndRechecksOnMiss(t *testing.T) {
	srv := sigmatest.StartFake(t, sigmafake.Options{Seed: 15})
	e := newEnv(t, srv, func(c *sigma.Config) { c.AccountTypeTTL = time.Minute })
	clock := newFakeClock()
	sigma.SetClock(e.c, clock.Now)
	ctx := ctxT(t)
	if _, err := e.c.AccountTypes(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.ResolveAccountType(ctx, "nope"); err == nil {
		t.Fatal("resolved an unknown name")
	}
	if got := srv.CountRequests(http.MethodGet, "/v2/accountTypes"); got != 1 {
		t.Errorf("a miss right after loading reloaded the list: %d requests", got)
	}
	clock.Advance(45 * time.Second)
	_, _ = e.c.ResolveAccountType(ctx, "nope")
	if got := srv.CountRequests(http.MethodGet, "/v2/accountTypes"); got != 2 {
		t.Errorf("a miss on an older list should reload once: %d requests", got)
	}
	clock.Advance(2 * time.Minute)
	if _, err := e.c.AccountTypes(ctx); err != nil {
		t.Fatal(err)
	}
	if got := srv.CountRequests(http.MethodGet, "/v2/accountTypes"); got != 3 {
		t.Errorf("expired cache not reloaded: %d requests", got)
	}
}

func TestPacingRespectsContextDeadline(t *testing.T) {
	srv := sigmatest.StartFake(t, sigmafake.Options{Members: 2, Seed: 16, TokenRatePerSecond: -1})
	id := srv.Members()[1].MemberID

	t.Run("rate", func(t *testing.T) {
		e := newEnv(t, srv, func(c *sigma.Config) { c.RequestsPerSecond = 0.01; c.MaxConcurrent = 1 })
		if _, err := e.c.GetMember(ctxT(t), id); err != nil { // uses the burst
			t.Fatal(err)
		}
		before := srv.CountRequests(http.MethodGet, "/v2/members/")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := e.c.GetMember(ctx, id)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want a deadline error", err)
		}
		if ctx.Err() != nil {
			t.Error("the caller waited for its deadline instead of failing at once")
		}
		if got := srv.CountRequests(http.MethodGet, "/v2/members/") - before; got != 0 {
			t.Errorf("%d requests sent past the pacing", got)
		}
	})
	t.Run("concurrency", func(t *testing.T) {
		e := newEnv(t, srv, func(c *sigma.Config) { c.MaxConcurrent = 1 })
		if err := e.c.Ping(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		srv.SetFault("/v2/members/"+id, sigmafake.Fault{Latency: 1, LatencyDuration: 3 * time.Second})
		defer srv.ClearFaults()
		slow := make(chan error, 1)
		go func() { _, err := e.c.GetMember(ctxT(t), id); slow <- err }()
		for srv.CountRequests(http.MethodGet, "/v2/members/"+id) == 0 {
			time.Sleep(5 * time.Millisecond) // wait until the slow call holds the only slot
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := e.c.GetMember(ctx, id)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want a deadline error while the slot is taken", err)
		}
		if err := <-slow; err != nil {
			t.Errorf("slow call: %v", err)
		}
	})
}

func TestTransportFailureNamesEndpointWithoutQuery(t *testing.T) {
	srv, err := sigmafake.Start(sigmafake.Options{Members: 2, Seed: 17})
	if err != nil {
		t.Fatal(err)
	}
	// A read budget of 750 ms: 250 ms and 500 ms waits, then the error.
	e := newEnv(t, srv, func(c *sigma.Config) { c.ReadRetryBudget = 750 * time.Millisecond })
	ctx := ctxT(t)
	if err := e.c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	_ = srv.Close()
	const email = "private.person@example.com"
	_, _, err = e.c.FindMemberByEmail(ctx, email)
	var ae *sigma.APIError
	if !errors.As(err, &ae) || ae.Reason != sigma.ReasonTransport || !ae.Retryable || ae.Status != 0 {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "/v2/members") {
		t.Errorf("error %q should name the endpoint", err)
	}
	if len(e.slept()) != 2 {
		t.Errorf("transport error retried %d times, want 2", len(e.slept()))
	}
	AssertNoSecret(t, email, err, e.log)
	AssertNoSecret(t, "private.person", err)
	AssertNoSecret(t, sigmafake.DefaultClientSecret, err, e.log)

	// Token endpoint unreachable from the start.
	e2 := newEnv(t, srv, func(c *sigma.Config) { c.MaxRetries = 1 })
	err = e2.c.Ping(ctx)
	if !errors.As(err, &ae) || ae.Reason != sigma.ReasonTransport || ae.Endpoint != "/v2/auth/token" {
		t.Errorf("Ping against a closed host: %v", err)
	}
	AssertNoSecret(t, sigmafake.DefaultClientSecret, err, e2.log)
}

func TestMetricsArePreCreated(t *testing.T) {
	srv := sigmatest.StartFake(t, sigmafake.Options{Seed: 18})
	e := newEnv(t, srv, nil)
	for _, reason := range []string{"ok", "auth", "rate_limited", "client", "server", "transport"} {
		// present at zero before any call
		if got := counter(t, e.reg, "scim_bridge_sigma_requests_total", map[string]string{"endpoint": "/v2/members/{memberId}", "method": "PATCH", "reason": reason}); got != 0 {
			t.Errorf("%s = %v before any call", reason, got)
		}
	}
	mfs, _ := e.reg.Gather()
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{"scim_bridge_sigma_requests_total", "scim_bridge_sigma_request_duration_seconds", "scim_bridge_sigma_token_refreshes_total"} {
		if !names[n] {
			t.Errorf("metric %s missing", n)
		}
	}
	// A second client on the same registry shares the collectors instead of panicking.
	if _, err := sigma.NewClient(sigma.Config{BaseURL: srv.URL(), ClientID: "x", ClientSecret: secret.NewStatic("y")}, e.reg); err != nil {
		t.Fatal(err)
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func TestAmbiguousCreateWithoutRetriesStillReportsTheCreatedMember(t *testing.T) {
	srv := sigmatest.StartFake(t, sigmafake.Options{Members: 1, Seed: 19})
	var posts atomic.Int32
	front := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v2/members" {
			posts.Add(1)
			srv.Handler().ServeHTTP(httptest.NewRecorder(), r) // performed...
			conn, _, err := w.(http.Hijacker).Hijack()         // ...then the connection drops
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		srv.Handler().ServeHTTP(w, r)
	}))
	e := newEnv(t, srv, func(c *sigma.Config) { c.BaseURL = front; c.MaxRetries = -1 })
	m, err := e.c.CreateMember(ctxT(t), sigma.NewMember{Email: "once@example.com", FirstName: "O", LastName: "Nce"})
	if err != nil {
		t.Fatalf("CreateMember: %v", err)
	}
	if fm, ok := srv.MemberByEmail("once@example.com"); !ok || fm.MemberID != m.MemberID {
		t.Errorf("returned %+v, emulator has %+v (%v)", m, fm, ok)
	}
	if posts.Load() != 1 {
		t.Errorf("POSTs = %d, want 1", posts.Load())
	}
}
