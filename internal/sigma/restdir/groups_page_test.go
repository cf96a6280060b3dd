package restdir_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmatest"
)

// addTeams adds n teams of size members each (the org's members from the
// second on, wrapping) to srv.
func addTeams(srv *sigmafake.Server, n, size int) {
	ms := srv.Members()[1:]
	for i := range n {
		var ids []string
		for j := range size {
			ids = append(ids, ms[(i*size+j)%len(ms)].MemberID)
		}
		srv.AddTeam(sigmafake.Team{Name: "Team " + string(rune('A'+i)), Members: ids})
	}
}

// versions returns each group's Version, from ListGroups under ctx.
func groupVersions(t *testing.T, ctx context.Context, d directory.Directory) map[string]string {
	t.Helper()
	gs, err := d.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, g := range gs {
		if directory.MembersUnused(ctx) && g.Members != nil {
			t.Errorf("group %s listed WithoutMembers has %d members", g.ID, len(g.Members))
		}
		out[g.ID] = g.Version
	}
	return out
}

// TestGroupsWithoutMembersKeepTheirVersion: a group's Version is the same
// listed with its members, listed WithoutMembers, and read by id (fresh,
// with and without members), after the changes that alter what its member
// list shows: adds and removes, a member deactivated, renamed, deleted,
// and a resync.
func TestGroupsWithoutMembersKeepTheirVersion(t *testing.T) {
	srv := sigmatest.Fake(t, sigmafake.Options{Members: 120, Seed: 11})
	addTeams(srv, 3, 40)
	st := sigmatest.OpenStore(t)
	d, _ := newDir(t, srv, st, envOpts{})
	ctx := sigmatest.ActorCtx()
	lean := directory.WithoutMembers(ctx)

	check := func(step string) {
		t.Helper()
		full, bare := groupVersions(t, ctx, d), groupVersions(t, lean, d)
		if len(full) != 3 && len(full) != 4 {
			t.Fatalf("%s: %d groups", step, len(full))
		}
		for id, v := range full {
			if bare[id] != v {
				t.Errorf("%s: group %s lists with version %s with members, %s without", step, id, v, bare[id])
			}
			for _, c := range []context.Context{directory.WithFreshRead(ctx), directory.WithFreshRead(lean)} {
				g, err := d.GetGroup(c, id)
				if err != nil {
					t.Fatal(err)
				}
				if g.Version != v {
					t.Errorf("%s: GetGroup(%s) (without members: %v) has version %s, the list %s", step, id, directory.MembersUnused(c), g.Version, v)
				}
			}
		}
	}
	check("loaded")
	gs, err := d.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	g0, g1 := gs[0], gs[1]
	users, err := d.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.ModifyGroupMembers(ctx, g0.ID, []string{users[100].ID, users[101].ID}, []string{g0.Members[0].ID}); err != nil {
		t.Fatal(err)
	}
	check("members added and removed")

	deact := g1.Members[3].ID
	u, err := d.GetUser(directory.WithFreshRead(ctx), deact)
	if err != nil {
		t.Fatal(err)
	}
	u.Active = false
	if _, err := d.ReplaceUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	check("a member deactivated")

	u, err = d.GetUser(directory.WithFreshRead(ctx), g1.Members[5].ID)
	if err != nil {
		t.Fatal(err)
	}
	u.UserName, u.Emails = "renamed.member@example.com", nil
	if _, err := d.ReplaceUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	check("a member renamed")

	if err := d.DeleteUser(ctx, g1.Members[7].ID); err != nil {
		t.Fatal(err)
	}
	check("a member deleted")

	u.Active = true
	u, err = d.GetUser(directory.WithFreshRead(ctx), deact)
	if err == nil {
		u.Active = true
		if _, err := d.ReplaceUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.CreateGroup(ctx, directory.Group{DisplayName: "New", Members: []directory.Ref{{ID: users[2].ID}}}); err != nil {
		t.Fatal(err)
	}
	check("a member reactivated, a group created")

	if err := d.Load(ctx); err != nil {
		t.Fatal(err)
	}
	check("resynced")
}

// TestGroupsPageWithoutMembersCostsNoMemberWork: listing groups
// WithoutMembers allocates as many bytes with teams of 2,000 members as
// with teams of 10 (with members it grows with them: a member list of
// 10,000 refs). Allocated bytes, not time.
func TestGroupsPageWithoutMembersCostsNoMemberWork(t *testing.T) {
	bytesPerList := func(size int, ctx context.Context) uint64 {
		e := newEnv(t, envOpts{fake: sigmafake.Options{Members: 2100, Seed: 5}})
		addTeams(e.srv, 5, size)
		if err := e.dir.Load(ctx); err != nil {
			t.Fatal(err)
		}
		e.srv.ResetRequests()
		const runs = 20
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range runs {
			if gs, err := e.dir.ListGroups(ctx); err != nil || len(gs) != 5 {
				t.Fatalf("ListGroups: %d groups, %v", len(gs), err)
			}
		}
		runtime.ReadMemStats(&after)
		if calls := sigmatest.APICalls(e.srv); len(calls) != 0 {
			t.Errorf("listing groups made Sigma calls: %v", calls)
		}
		return (after.TotalAlloc - before.TotalAlloc) / runs
	}
	ctx := sigmatest.ActorCtx()
	lean := directory.WithoutMembers(ctx)
	small, large := bytesPerList(10, lean), bytesPerList(2000, lean)
	full := bytesPerList(2000, ctx)
	t.Logf("bytes allocated per list of 5 teams without members: %d (10 members each), %d (2,000 each); with members %d", small, large, full)
	if large > 2*small+4096 {
		t.Errorf("a list without members allocates %d bytes with teams of 2,000, %d with teams of 10: it walks the members", large, small)
	}
	if full < 10000*32 { // 10,000 refs of two strings each
		t.Errorf("with members %d bytes: the test does not see member work", full)
	}
}
