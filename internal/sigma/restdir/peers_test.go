package restdir_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/sigma/restdir"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmatest"
	"github.com/scimbridge/scim-bridge/internal/store"
	"github.com/scimbridge/scim-bridge/internal/store/postgres"
	"github.com/scimbridge/scim-bridge/internal/store/postgres/pgtest"
)

// replicas is two Directories over one emulated org and one store (opened
// once per replica).
type replicas struct {
	srv        *sigmafake.Server
	a, b       *restdir.Directory
	regA, regB *prometheus.Registry
}

// forEachSharedStore runs f with two replicas over a SQLite file opened
// twice and, when SCIM_BRIDGE_TEST_POSTGRES is set, over one PostgreSQL
// schema opened twice.
func forEachSharedStore(t *testing.T, fake sigmafake.Options, f func(t *testing.T, r replicas)) {
	run := func(t *testing.T, open func() store.Store) {
		srv := sigmatest.Fake(t, fake)
		a, regA := newDir(t, srv, open(), envOpts{})
		b, regB := newDir(t, srv, open(), envOpts{})
		srv.ResetRequests()
		f(t, replicas{srv: srv, a: a, b: b, regA: regA, regB: regB})
	}
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "shared.db")
		run(t, func() store.Store { return sigmatest.OpenStoreAt(t, path) })
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.NewSchema(t)
		run(t, func() store.Store {
			st, err := postgres.Open(context.Background(), dsn, postgres.Options{})
			if err != nil {
				t.Fatalf("open store: %v", err)
			}
			t.Cleanup(func() { _ = st.Close() })
			return st
		})
	})
}

func poll(t *testing.T, d *restdir.Directory) {
	t.Helper()
	if err := d.PollPeers(context.Background()); err != nil {
		t.Fatalf("PollPeers: %v", err)
	}
}

func lookupOne(t *testing.T, d *restdir.Directory, userName string) directory.User {
	t.Helper()
	us, err := d.LookupUsers(sigmatest.ActorCtx(), directory.AttrUserName, userName)
	if err != nil || len(us) != 1 {
		t.Fatalf("LookupUsers(%s) = %+v, %v; want one user", userName, us, err)
	}
	return us[0]
}

func groupHas(g directory.Group, id string) bool {
	return slices.ContainsFunc(g.Members, func(r directory.Ref) bool { return r.ID == id })
}

// TestPeerWritesReachIndexHits: what replica B writes, replica A's index
// answers after one PollPeers, re-reading only what is read, once.
func TestPeerWritesReachIndexHits(t *testing.T) {
	forEachSharedStore(t, sigmafake.Options{Members: 4, Teams: 1}, func(t *testing.T, r replicas) {
		ctx := sigmatest.ActorCtx()
		a, b, srv := r.a, r.b, r.srv
		u := mustCreate(t, ctx, a, "peer@example.org")
		g, err := a.CreateGroup(ctx, directory.Group{DisplayName: "Peers", Members: []directory.Ref{{ID: u.ID}}})
		if err != nil {
			t.Fatal(err)
		}

		// B deactivates the user. A's index does not know yet.
		off := u
		off.Active = false
		if _, err := b.ReplaceUser(ctx, off); err != nil {
			t.Fatal(err)
		}
		srv.ResetRequests()
		if got := lookupOne(t, a, "peer@example.org"); !got.Active {
			t.Fatal("A saw B's deactivation before any poll: the test shows nothing")
		}
		poll(t, a)
		if calls := sigmatest.APICalls(srv); len(calls) != 0 {
			t.Errorf("PollPeers made upstream calls: %q", calls)
		}
		got := lookupOne(t, a, "peer@example.org")
		if got.Active {
			t.Error("A LookupUsers after PollPeers: Active=true, want false")
		}
		if calls := sigmatest.APICalls(srv); !slices.Equal(calls, []string{"GET /v2/members/" + u.ID}) {
			t.Errorf("A upstream calls = %q, want one GET of the member", calls)
		}
		// Refreshed once: the next reads are index hits again, and so is
		// a second poll (the entry is handled).
		srv.ResetRequests()
		poll(t, a)
		lookupOne(t, a, "peer@example.org")
		if _, err := a.GetUser(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if calls := sigmatest.APICalls(srv); len(calls) != 0 {
			t.Errorf("calls after the refresh: %q", calls)
		}
		if v := readsCounter(t, r.regA, "user", "refreshed"); v != 1 {
			t.Errorf("refreshed reads = %v, want 1", v)
		}

		// A deletes the user (now hidden from the group), B revives it: A's
		// group views show it again after a poll.
		on := u
		on.Active = true
		if _, err := a.ReplaceUser(ctx, on); err != nil {
			t.Fatal(err)
		}
		if err := a.DeleteUser(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if gg, err := a.GetGroup(ctx, g.ID); err != nil || groupHas(gg, u.ID) {
			t.Fatalf("A GetGroup after delete = %+v, %v; want the user hidden", gg, err)
		}
		if _, err := b.CreateUser(ctx, directory.User{UserName: "peer@example.org", GivenName: "Test", FamilyName: "User", Active: true}); err != nil {
			t.Fatal(err)
		}
		srv.ResetRequests()
		if gg, _ := a.GetGroup(ctx, g.ID); groupHas(gg, u.ID) {
			t.Fatal("A showed the revived member before any poll: the test shows nothing")
		}
		poll(t, a)
		gg, err := a.GetGroup(ctx, g.ID)
		if err != nil || !groupHas(gg, u.ID) {
			t.Errorf("A GetGroup after PollPeers = %+v, %v; want the revived member", gg, err)
		}
		gs, err := a.LookupGroups(ctx, directory.AttrDisplayName, "Peers")
		if err != nil || len(gs) != 1 || !groupHas(gs[0], u.ID) || gs[0].Version != gg.Version {
			t.Errorf("A LookupGroups(displayName) = %+v, %v; want the revived member", gs, err)
		}
		if calls := sigmatest.APICalls(srv); !slices.Equal(calls, []string{"GET /v2/members/" + u.ID}) {
			t.Errorf("A upstream calls = %q, want one GET of the member", calls)
		}
		if bg, err := b.GetGroup(ctx, g.ID); err != nil || bg.Version != gg.Version {
			t.Errorf("group versions differ: A %q, B %q (%v)", gg.Version, bg.Version, err)
		}

		// B changes the team's members and renames it: A re-reads the team
		// once, by id or by its new name.
		v := mustCreate(t, ctx, b, "peer2@example.org")
		if _, err := b.ModifyGroupMembers(ctx, g.ID, []string{v.ID}, nil); err != nil {
			t.Fatal(err)
		}
		srv.ResetRequests()
		poll(t, a)
		gg, err = a.GetGroup(ctx, g.ID)
		if err != nil || !groupHas(gg, v.ID) {
			t.Errorf("A GetGroup after B added a member = %+v, %v", gg, err)
		}
		// The member B created is new to A (marked by B's create): read once
		// for its email.
		if calls := sigmatest.APICalls(srv); !slices.Equal(calls, []string{"GET /v2/teams/" + g.ID, "GET /v2/members/" + v.ID}) {
			t.Errorf("A upstream calls = %q, want one GET of the team and one of the new member", calls)
		}
		if i := slices.IndexFunc(gg.Members, func(r directory.Ref) bool { return r.ID == v.ID }); i < 0 || gg.Members[i].Display != "peer2@example.org" {
			t.Errorf("A GetGroup members = %+v, want %s shown as peer2@example.org", gg.Members, v.ID)
		}
		ren := gg
		ren.DisplayName = "Peers Renamed"
		if _, err := b.ReplaceGroup(ctx, ren); err != nil {
			t.Fatal(err)
		}
		poll(t, a)
		srv.ResetRequests()
		if gs, err := a.LookupGroups(ctx, directory.AttrDisplayName, "Peers"); err != nil || len(gs) != 0 {
			t.Errorf("A LookupGroups(old name) = %+v, %v; want none", gs, err)
		}
		if gs, err := a.LookupGroups(ctx, directory.AttrDisplayName, "peers renamed"); err != nil || len(gs) != 1 || gs[0].ID != g.ID {
			t.Errorf("A LookupGroups(new name) = %+v, %v", gs, err)
		}
		if calls := sigmatest.APICalls(srv); len(calls) == 0 || calls[0] != "GET /v2/teams/"+g.ID {
			t.Errorf("A upstream calls = %q, want the team re-read first", calls)
		}
	})
}

// TestOwnWritesAreNotStale: a poll after a replica's own writes (and after
// peers' decisions that changed nothing) marks nothing, so the next reads
// make no upstream call.
func TestOwnWritesAreNotStale(t *testing.T) {
	forEachSharedStore(t, sigmafake.Options{Members: 4, Teams: 1}, func(t *testing.T, r replicas) {
		ctx := sigmatest.ActorCtx()
		a, b, srv := r.a, r.b, r.srv
		u := mustCreate(t, ctx, a, "own@example.org")
		g, err := a.CreateGroup(ctx, directory.Group{DisplayName: "Own", Members: []directory.Ref{{ID: u.ID}}})
		if err != nil {
			t.Fatal(err)
		}
		off := u
		off.Active = false
		if _, err := a.ReplaceUser(ctx, off); err != nil {
			t.Fatal(err)
		}
		// B's decisions that change nothing are audited as skipped.
		bu, err := b.GetUser(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.ReplaceUser(ctx, bu); err != nil {
			t.Fatal(err)
		}
		if _, err := b.ModifyGroupMembers(ctx, g.ID, nil, []string{"no-such-member"}); err != nil {
			t.Fatal(err)
		}
		srv.ResetRequests()
		poll(t, a)
		if got := lookupOne(t, a, "own@example.org"); got.Active {
			t.Error("A's own deactivation is not in its index")
		}
		if _, err := a.GetGroup(ctx, g.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := a.LookupGroups(ctx, directory.AttrDisplayName, "Own"); err != nil {
			t.Fatal(err)
		}
		if calls := sigmatest.APICalls(srv); len(calls) != 0 {
			t.Errorf("upstream calls after A polled its own writes: %q", calls)
		}
		if v := testutil.ToFloat64(counter(t, r.regA, "scim_bridge_sigma_index_peer_polls_total", "ok")); v != 1 {
			t.Errorf("ok polls = %v, want 1", v)
		}
	})
}

// TestFullPeerPageReloads: a page of the trail as long as the limit may
// have left entries out, so the whole index is reloaded instead.
func TestFullPeerPageReloads(t *testing.T) {
	forEachSharedStore(t, sigmafake.Options{Members: 4, Teams: 1}, func(t *testing.T, r replicas) {
		ctx := sigmatest.ActorCtx()
		a, b, srv := r.a, r.b, r.srv
		restdir.SetPeerPageSize(a, 3)
		var users []directory.User
		for _, e := range []string{"full1@example.org", "full2@example.org", "full3@example.org"} {
			users = append(users, mustCreate(t, ctx, a, e))
		}
		for _, u := range users {
			off := u
			off.Active = false
			if _, err := b.ReplaceUser(ctx, off); err != nil {
				t.Fatal(err)
			}
		}
		srv.ResetRequests()
		poll(t, a)
		if v := testutil.ToFloat64(counter(t, r.regA, "scim_bridge_sigma_index_peer_polls_total", "reload")); v != 1 {
			t.Errorf("reload polls = %v, want 1", v)
		}
		if v := testutil.ToFloat64(counter(t, r.regA, "scim_bridge_sigma_index_resyncs_total", "ok")); v != 2 {
			t.Errorf("ok resyncs = %v, want 2 (the first load and the poll's)", v)
		}
		if !slices.ContainsFunc(sigmatest.APICalls(srv), func(c string) bool { return strings.HasPrefix(c, http.MethodGet+" /v2/members?") }) {
			t.Errorf("no member listing among %q", sigmatest.APICalls(srv))
		}
		srv.ResetRequests()
		for _, u := range users {
			if got := lookupOne(t, a, u.UserName); got.Active {
				t.Errorf("%s still active on A after the reload", u.UserName)
			}
		}
		if calls := sigmatest.APICalls(srv); len(calls) != 0 {
			t.Errorf("reads after the reload made calls: %q", calls)
		}
	})
}

// readsCounter is scim_bridge_sigma_index_reads_total{kind, result}.
func readsCounter(t *testing.T, reg *prometheus.Registry, kind, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "scim_bridge_sigma_index_reads_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["kind"] == kind && l["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("reads_total{kind=%s,result=%s} not found", kind, result)
	return 0
}

// TestStartPollsPeers: Start polls the trail on its own, while this
// replica writes too (run under -race).
func TestStartPollsPeers(t *testing.T) {
	srv := sigmatest.Fake(t, sigmafake.Options{Members: 4, Teams: 1})
	path := filepath.Join(t.TempDir(), "shared.db")
	open := func() store.Store { return sigmatest.OpenStoreAt(t, path) }
	a := restdir.New(newClient(t, srv, 0), open(), restdir.Options{ResyncInterval: time.Hour, PeerPollInterval: time.Millisecond}, prometheus.NewRegistry(), nil)
	b, _ := newDir(t, srv, open(), envOpts{})
	ctx, cancel := context.WithCancel(sigmatest.ActorCtx())
	done := make(chan error, 1)
	go func() { done <- a.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Start = %v", err)
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for a.Ready(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("A not ready")
		}
		time.Sleep(time.Millisecond)
	}
	u := mustCreate(t, ctx, a, "started@example.org")
	off := u
	off.Active = false
	if _, err := b.ReplaceUser(ctx, off); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		// A keeps writing meanwhile: its own entries must not confuse the poll.
		mustCreate(t, ctx, a, fmt.Sprintf("busy%d@example.org", i))
		if got := lookupOne(t, a, "started@example.org"); !got.Active {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("A never saw B's deactivation")
		}
		time.Sleep(time.Millisecond)
	}
}

// dyingStore is a replica's store whose process dies right after an
// upstream write: once dying is set, entries with a write's outcome are
// never appended. afterIntent runs once an intent is appended, before
// the write it announces is sent.
type dyingStore struct {
	store.Store
	dying       bool
	afterIntent func()
}

func (s *dyingStore) AppendAudit(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error) {
	if !s.dying {
		return s.Store.AppendAudit(ctx, e)
	}
	if e.Outcome != store.OutcomePending {
		return e, nil // died between the Sigma write and its audit entry
	}
	out, err := s.Store.AppendAudit(ctx, e)
	if s.afterIntent != nil {
		s.afterIntent()
	}
	return out, err
}

// TestWriterDiesBeforeItsAuditEntry (issue 10.3): replica A deactivates a
// user and dies before it can audit the write; replica B still learns of
// it from A's intent entry, even when B polled and re-read the user
// between the intent and the write.
func TestWriterDiesBeforeItsAuditEntry(t *testing.T) {
	srv := sigmatest.Fake(t, sigmafake.Options{Members: 3})
	path := filepath.Join(t.TempDir(), "shared.db")
	open := func() store.Store { return sigmatest.OpenStoreAt(t, path) }
	stA := &dyingStore{Store: open()}
	a, _ := newDir(t, srv, stA, envOpts{})
	b, _ := newDir(t, srv, open(), envOpts{})
	ctx := sigmatest.ActorCtx()
	u := mustCreate(t, ctx, a, "doomed.writer@example.org")
	poll(t, b)
	if err := b.Load(ctx); err != nil { // B holds the user, not stale
		t.Fatal(err)
	}
	if got := lookupOne(t, b, u.UserName); !got.Active {
		t.Fatalf("B reads %+v before the deactivation, want active", got)
	}

	stA.dying = true
	stA.afterIntent = func() {
		// B polls and re-reads while A is about to write: still active.
		poll(t, b)
		if got := lookupOne(t, b, u.UserName); !got.Active {
			t.Errorf("B reads %+v before A's write, want active", got)
		}
	}
	u.Active = false
	if _, err := a.ReplaceUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if m, _ := srv.Member(u.ID); !m.IsArchived {
		t.Fatalf("A's deactivation did not reach Sigma: %+v", m)
	}
	poll(t, b)
	if got := lookupOne(t, b, u.UserName); got.Active {
		t.Errorf("B still serves %s as active after A deactivated it and died before auditing", u.UserName)
	}
}

// TestPeerDeletesLeaveThePages: a user deleted through another replica
// leaves this replica's pages of users (and their total) after the next
// peer poll — and the page it falls on at once, whose records show it —
// and comes back after a revive there and the next poll. (Pages
// answer from the index: the revived member's attributes may lag until it
// is read or the next resync, so only ids are compared.)
func TestPeerDeletesLeaveThePages(t *testing.T) {
	forEachSharedStore(t, sigmafake.Options{Members: 250, Seed: 9}, func(t *testing.T, r replicas) {
		ctx := sigmatest.ActorCtx()
		pages := func(d *restdir.Directory) ([]directory.User, int) {
			t.Helper()
			var out []directory.User
			var total int
			for start := 0; ; start += 100 {
				got, n, err := d.PageUsers(ctx, start, 100)
				if err != nil {
					t.Fatal(err)
				}
				if start == 0 {
					total = n
				} else if n != total {
					t.Errorf("page at %d: total %d, the first page's %d", start, n, total)
				}
				out = append(out, got...)
				if len(got) < 100 {
					return out, total
				}
			}
		}
		before, total := pages(r.a) // builds A's sorted view
		x, y := before[170], before[20]
		for _, u := range []directory.User{x, y} {
			if err := r.b.DeleteUser(ctx, u.ID); err != nil {
				t.Fatal(err)
			}
		}
		// Before any poll, the page y falls on reads y's record: gone.
		first, n, err := r.a.PageUsers(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if n != total-1 || len(first) != 100 || slices.ContainsFunc(first, func(u directory.User) bool { return u.ID == y.ID }) {
			t.Errorf("before a poll, A's first page: %d users of %d (had %d), %s among them: %v", len(first), n, total,
				y.ID, slices.ContainsFunc(first, func(u directory.User) bool { return u.ID == y.ID }))
		}
		poll(t, r.a)
		want, err := r.b.ListUsers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got, n := pages(r.a)
		if n != total-2 || !sameIDs(got, want) {
			t.Errorf("after B's deletes and a poll, A pages %d users (total %d), B lists %d; A had %d", len(got), n, len(want), total)
		}
		if _, err := r.b.CreateUser(ctx, directory.User{UserName: x.UserName, GivenName: x.GivenName, FamilyName: x.FamilyName, Active: true}); err != nil {
			t.Fatal(err)
		}
		poll(t, r.a)
		want, err = r.b.ListUsers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got, n = pages(r.a)
		if n != total-1 || !sameIDs(got, want) || !slices.ContainsFunc(got, func(u directory.User) bool { return u.ID == x.ID }) {
			t.Errorf("after B revived %s and a poll, A pages %d users (total %d), B lists %d", x.ID, len(got), n, len(want))
		}
	})
}

func sameIDs(a, b []directory.User) bool {
	return slices.EqualFunc(a, b, func(x, y directory.User) bool { return x.ID == y.ID })
}
