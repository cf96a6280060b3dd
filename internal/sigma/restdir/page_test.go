package restdir_test

import (
	"testing"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmatest"
)

// TestPageUsersIsListUsersCut: every page is exactly the slice of
// ListUsers at that position, with tombstoned users skipped and counted
// out of the total, and paging costs no Sigma call.
func TestPageUsersIsListUsersCut(t *testing.T) {
	e := newEnv(t, envOpts{fake: sigmafake.Options{Members: 250, Seed: 3}})
	ctx := sigmatest.ActorCtx()
	before, err := e.dir.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 1, 57, 120, len(before) - 1} {
		if err := e.dir.DeleteUser(ctx, before[i].ID); err != nil {
			t.Fatal(err)
		}
	}
	all, err := e.dir.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(before)-5 {
		t.Fatalf("%d users after 5 deletes of %d", len(all), len(before))
	}
	e.srv.ResetRequests()
	for _, pg := range []struct{ start, count int }{
		{0, 100}, {100, 100}, {200, 100}, {0, 0}, {5, 1}, {55, 3}, {len(all) - 1, 10}, {len(all), 10}, {-3, 5},
	} {
		got, total, err := e.dir.PageUsers(ctx, pg.start, pg.count)
		if err != nil {
			t.Fatal(err)
		}
		s := min(max(pg.start, 0), len(all))
		want := all[s:min(s+pg.count, len(all))]
		if total != len(all) || !sameUsers(got, want) {
			t.Errorf("PageUsers(%d, %d) = %d users of %d, want %d of %d (%v…)", pg.start, pg.count, len(got), total, len(want), len(all), ids(got))
		}
	}
	if calls := sigmatest.APICalls(e.srv); len(calls) != 0 {
		t.Errorf("paging made Sigma calls: %v", calls)
	}
}

// TestPageUsersCostsThePageNotTheOrg: a page of 100 allocates about as
// much in an org of 5,000 members as in one of 500 (ListUsers builds
// every member). Allocation counts, not time.
func TestPageUsersCostsThePageNotTheOrg(t *testing.T) {
	allocs := func(members int) float64 {
		e := newEnv(t, envOpts{fake: sigmafake.Options{Members: members, Seed: 5}})
		ctx := sigmatest.ActorCtx()
		if _, _, err := e.dir.PageUsers(ctx, 0, 100); err != nil { // sorts the ids once
			t.Fatal(err)
		}
		return testing.AllocsPerRun(10, func() { _, _, _ = e.dir.PageUsers(ctx, members/2, 100) })
	}
	small, large := allocs(500), allocs(5000)
	t.Logf("allocations per page of 100: %.0f at 500 members, %.0f at 5,000", small, large)
	if large > 1.5*small {
		t.Errorf("a page at 5,000 members allocates %.0f times, at 500 %.0f: the cost follows the org", large, small)
	}
}

func sameUsers(a, b []directory.User) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].Version != b[i].Version || a[i].UserName != b[i].UserName {
			return false
		}
	}
	return true
}

func ids(us []directory.User) []string {
	out := make([]string, 0, min(3, len(us)))
	for _, u := range us[:min(3, len(us))] {
		out = append(out, u.ID)
	}
	return out
}
