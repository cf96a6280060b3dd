package restdir_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmatest"
	"github.com/scimbridge/scim-bridge/internal/store"
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

// countingStore counts the store calls that read resource records.
type countingStore struct {
	store.Store
	mu    sync.Mutex
	calls map[string]int
}

func (s *countingStore) count(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[name]++
}

func (s *countingStore) take() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.calls
	s.calls = map[string]int{}
	return out
}

func (s *countingStore) GetResource(ctx context.Context, kind store.Kind, id string) (store.Resource, error) {
	s.count("GetResource")
	return s.Store.GetResource(ctx, kind, id)
}

func (s *countingStore) ListResources(ctx context.Context, kind store.Kind) ([]store.Resource, error) {
	s.count("ListResources")
	return s.Store.ListResources(ctx, kind)
}

func (s *countingStore) ResourcesByID(ctx context.Context, kind store.Kind, ids []string) ([]store.Resource, error) {
	s.count(fmt.Sprintf("ResourcesByID(%d)", len(ids)))
	return s.Store.ResourcesByID(ctx, kind, ids)
}

func (s *countingStore) TombstonedIDs(ctx context.Context, kind store.Kind) ([]string, error) {
	s.count("TombstonedIDs")
	return s.Store.TombstonedIDs(ctx, kind)
}

// TestPageUsersReadsOnlyThePagesRecords: with users tombstoned (by this
// replica, and by a peer before this replica loaded), a page of 100 costs
// one store read of 100 records, whatever the number of records.
func TestPageUsersReadsOnlyThePagesRecords(t *testing.T) {
	srv := sigmatest.Fake(t, sigmafake.Options{Members: 600, Seed: 7})
	path := filepath.Join(t.TempDir(), "bridge.db")
	peer, _ := newDir(t, srv, sigmatest.OpenStoreAt(t, path), envOpts{})
	ctx := sigmatest.ActorCtx()
	all, err := peer.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range all[:300] { // a record for half the org
		if _, err := peer.ReplaceUser(ctx, directory.User{ID: u.ID, UserName: u.UserName, GivenName: u.GivenName, FamilyName: u.FamilyName,
			Active: u.Active, AccountType: u.AccountType, ExternalID: "ext-" + u.ID}); err != nil {
			t.Fatal(err)
		}
	}
	for _, i := range []int{3, 150, 420} {
		if err := peer.DeleteUser(ctx, all[i].ID); err != nil {
			t.Fatal(err)
		}
	}
	cs := &countingStore{Store: sigmatest.OpenStoreAt(t, path), calls: map[string]int{}}
	d, _ := newDir(t, srv, cs, envOpts{})
	if c := cs.take(); c["TombstonedIDs"] != 1 || c["ListResources"] != 0 {
		t.Errorf("load read the store: %v, want one TombstonedIDs", c)
	}
	for _, i := range []int{10, 500} {
		if err := d.DeleteUser(ctx, all[i].ID); err != nil {
			t.Fatal(err)
		}
	}
	want, err := d.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != len(all)-5 {
		t.Fatalf("%d users after 5 deletes of %d", len(want), len(all))
	}
	cs.take()
	for start := 0; start < len(want); start += 100 {
		got, total, err := d.PageUsers(ctx, start, 100)
		if err != nil {
			t.Fatal(err)
		}
		n := min(100, len(want)-start)
		if total != len(want) || !sameUsers(got, want[start:start+n]) {
			t.Errorf("PageUsers(%d, 100) = %d of %d, want %d of %d", start, len(got), total, n, len(want))
		}
		if c := cs.take(); len(c) != 1 || c[fmt.Sprintf("ResourcesByID(%d)", n)] != 1 {
			t.Errorf("PageUsers(%d, 100) read the store %v, want one ResourcesByID of %d ids", start, c, n)
		}
	}
}
