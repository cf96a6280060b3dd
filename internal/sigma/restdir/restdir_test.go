package restdir_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/directory/directorytest"
	"github.com/scimbridge/scim-bridge/internal/secret"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/restdir"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmatest"
	"github.com/scimbridge/scim-bridge/internal/store"
	"github.com/scimbridge/scim-bridge/internal/store/postgres"
	"github.com/scimbridge/scim-bridge/internal/store/postgres/pgtest"
)

// env is one emulated org, one store and a directory over them.
type env struct {
	srv   *sigmafake.Server
	store store.Store
	dir   *restdir.Directory
	reg   *prometheus.Registry
}

type envOpts struct {
	fake       sigmafake.Options
	dir        restdir.Options
	maxRetries int
}

func newClient(t testing.TB, srv *sigmafake.Server, maxRetries int) *sigma.Client {
	t.Helper()
	// maxRetries 0 is the client's default, as in production; negative
	// retries nothing, reads included; more gives reads a budget of at
	// least that many retries.
	return sigmatest.REST(t, srv, nil, func(c *sigma.Config) {
		c.MaxRetries = maxRetries
		switch {
		case maxRetries < 0:
			c.ReadRetryBudget = -1
		case maxRetries > 0:
			c.ReadRetryBudget = max(sigmatest.ReadRetryBudget, time.Duration(maxRetries)*20*time.Millisecond)
		}
	})
}

// newDir builds a loaded directory over srv and st.
func newDir(t testing.TB, srv *sigmafake.Server, st store.Store, o envOpts) (*restdir.Directory, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	d := restdir.New(newClient(t, srv, o.maxRetries), st, o.dir, reg, nil)
	if err := d.Load(context.Background()); err != nil {
		t.Fatalf("load: %v", err)
	}
	return d, reg
}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	srv := sigmatest.Fake(t, o.fake)
	st := sigmatest.OpenStore(t)
	d, reg := newDir(t, srv, st, o)
	srv.ResetRequests()
	return &env{srv: srv, store: st, dir: d, reg: reg}
}

func TestConformance(t *testing.T) {
	directorytest.Run(t, func(t *testing.T) directorytest.Harness {
		e := newEnv(t, envOpts{fake: sigmafake.Options{Members: 5, Teams: 2}})
		return sigmatest.Harness(e.srv, e.store, e.dir, "Pro", "Analyst Creator")
	})
}

// TestDryRunConformance: the dry-run cases over REST.
func TestDryRunConformance(t *testing.T) {
	directorytest.RunDryRun(t, func(t *testing.T) directorytest.Harness {
		e := newEnv(t, envOpts{fake: sigmafake.Options{Members: 3, Teams: 1}, dir: restdir.Options{DryRun: true}})
		return sigmatest.Harness(e.srv, e.store, e.dir, "Pro", "Analyst Creator")
	})
}

// TestConformancePostgres runs the suite with the store on PostgreSQL
// (skipped unless SCIM_BRIDGE_TEST_POSTGRES is set).
func TestConformancePostgres(t *testing.T) {
	pgtest.DSN(t)
	directorytest.Run(t, func(t *testing.T) directorytest.Harness {
		st, err := postgres.Open(context.Background(), pgtest.NewSchema(t), postgres.Options{})
		if err != nil {
			t.Fatalf("open store: %v", err)
		}
		t.Cleanup(func() { _ = st.Close() })
		srv := sigmatest.Fake(t, sigmafake.Options{Members: 5, Teams: 2})
		d, _ := newDir(t, srv, st, envOpts{})
		return sigmatest.Harness(srv, st, d, "Pro", "Analyst Creator")
	})
}

func mustCreate(t *testing.T, ctx context.Context, d directory.Directory, email string) directory.User {
	t.Helper()
	u, err := d.CreateUser(ctx, directory.User{UserName: email, GivenName: "Test", FamilyName: "User", Active: true})
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", email, err)
	}
	return u
}

func TestLookupUpstreamCalls(t *testing.T) {
	e := newEnv(t, envOpts{fake: sigmafake.Options{Members: 30, Teams: 3}})
	ctx := sigmatest.ActorCtx()
	known := e.srv.Members()[7]
	u := mustCreate(t, ctx, e.dir, "known@example.org")
	if _, err := e.dir.ReplaceUser(ctx, directory.User{ID: u.ID, UserName: u.UserName, ExternalID: "ext-known", Active: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.dir.CreateUser(ctx, directory.User{UserName: "kj@example.org", IdPUserName: "kjohnson", Active: true}); err != nil {
		t.Fatal(err)
	}
	team := e.srv.Teams()[1]

	for _, tc := range []struct {
		name  string
		do    func() (int, error)
		want  int
		calls []string // exact upstream calls, nil: none
	}{
		{"userName hit", func() (int, error) {
			us, err := e.dir.LookupUsers(ctx, directory.AttrUserName, strings.ToUpper(known.Email))
			return len(us), err
		}, 1, nil},
		{"email hit", func() (int, error) {
			us, err := e.dir.LookupUsers(ctx, directory.AttrEmail, known.Email)
			return len(us), err
		}, 1, nil},
		{"id hit", func() (int, error) {
			us, err := e.dir.LookupUsers(ctx, directory.AttrID, known.MemberID)
			return len(us), err
		}, 1, nil},
		{"externalId hit", func() (int, error) {
			us, err := e.dir.LookupUsers(ctx, directory.AttrExternalID, "ext-known")
			return len(us), err
		}, 1, nil},
		{"IdP userName hit", func() (int, error) {
			us, err := e.dir.LookupUsers(ctx, directory.AttrUserName, "KJohnson")
			return len(us), err
		}, 1, nil},
		{"IdP userName miss: not an email, so Sigma is not asked", func() (int, error) {
			us, err := e.dir.LookupUsers(ctx, directory.AttrUserName, "3f0c6b1e-5a4e-4c8e-9e55-0f1c1d2e3f40")
			return len(us), err
		}, 0, nil},
		{"IdP userName is not an email", func() (int, error) {
			us, err := e.dir.LookupUsers(ctx, directory.AttrEmail, "kjohnson")
			return len(us), err
		}, 0, nil},
		{"externalId miss", func() (int, error) {
			us, err := e.dir.LookupUsers(ctx, directory.AttrExternalID, "ext-nobody")
			return len(us), err
		}, 0, nil},
		{"userName miss", func() (int, error) {
			us, err := e.dir.LookupUsers(ctx, directory.AttrUserName, "nobody@example.org")
			return len(us), err
		}, 0, []string{"GET /v2/members?email=nobody%40example.org&includeArchived=true&includeInactive=true&limit=1000"}},
		{"id miss", func() (int, error) {
			us, err := e.dir.LookupUsers(ctx, directory.AttrID, "NoSuchMember")
			return len(us), err
		}, 0, []string{"GET /v2/members/NoSuchMember"}},
		{"group name hit", func() (int, error) {
			gs, err := e.dir.LookupGroups(ctx, directory.AttrDisplayName, strings.ToLower(team.Name))
			return len(gs), err
		}, 1, nil},
		{"group name miss", func() (int, error) {
			gs, err := e.dir.LookupGroups(ctx, directory.AttrDisplayName, "No Such Team")
			return len(gs), err
		}, 0, []string{"GET /v2/teams?limit=1000&name=No+Such+Team"}},
		{"group id hit", func() (int, error) {
			gs, err := e.dir.LookupGroups(ctx, directory.AttrID, team.TeamID)
			return len(gs), err
		}, 1, nil},
		{"list users", func() (int, error) {
			us, err := e.dir.ListUsers(ctx)
			return len(us), err
		}, 32, nil},
		{"list groups", func() (int, error) {
			gs, err := e.dir.ListGroups(ctx)
			return len(gs), err
		}, 3, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.srv.ResetRequests()
			n, err := tc.do()
			if err != nil {
				t.Fatal(err)
			}
			if n != tc.want {
				t.Errorf("got %d results, want %d", n, tc.want)
			}
			if got := sigmatest.APICalls(e.srv); !slices.Equal(got, tc.calls) {
				t.Errorf("upstream calls = %q, want %q", got, tc.calls)
			}
		})
	}
}

// TestTwoReplicas runs two directories, as two bridge processes would,
// over one org and one database opened twice.
func TestTwoReplicas(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "shared.db")
		open := func() store.Store { return sigmatest.OpenStoreAt(t, path) }
		testTwoReplicas(t, open(), open())
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.NewSchema(t)
		open := func() store.Store {
			st, err := postgres.Open(context.Background(), dsn, postgres.Options{})
			if err != nil {
				t.Fatalf("open store: %v", err)
			}
			t.Cleanup(func() { _ = st.Close() })
			return st
		}
		testTwoReplicas(t, open(), open())
	})
}

func testTwoReplicas(t *testing.T, stA, stB store.Store) {
	srv := sigmatest.Fake(t, sigmafake.Options{Members: 10, Teams: 2})
	a, _ := newDir(t, srv, stA, envOpts{})
	b, _ := newDir(t, srv, stB, envOpts{})
	ctx := sigmatest.ActorCtx()

	u, err := a.CreateUser(ctx, directory.User{UserName: "replica@example.org", GivenName: "Re", FamilyName: "Plica", ExternalID: "ext-r", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.ResetRequests()
	got, err := b.LookupUsers(ctx, directory.AttrUserName, "replica@example.org")
	if err != nil || len(got) != 1 || got[0].ID != u.ID {
		t.Fatalf("replica B LookupUsers = %v, %v; want %s", got, err, u.ID)
	}
	if got[0].Version != u.Version {
		t.Errorf("replica B Version %q, replica A %q", got[0].Version, u.Version)
	}
	if n := len(sigmatest.APICalls(srv)); n != 1 {
		t.Errorf("replica B made %d upstream calls, want 1: %q", n, sigmatest.APICalls(srv))
	}
	// B now answers from its index.
	srv.ResetRequests()
	if got, _ := b.LookupUsers(ctx, directory.AttrUserName, "replica@example.org"); len(got) != 1 || len(sigmatest.APICalls(srv)) != 0 {
		t.Errorf("second lookup on B: %d results, calls %q", len(got), sigmatest.APICalls(srv))
	}
	// externalId lives in the shared store.
	if got, err := b.LookupUsers(ctx, directory.AttrExternalID, "ext-r"); err != nil || len(got) != 1 {
		t.Errorf("B LookupUsers(externalId) = %v, %v", got, err)
	}
	// A second create on B of the same userName conflicts.
	if _, err := b.CreateUser(ctx, directory.User{UserName: "REPLICA@example.org", Active: true}); !errors.Is(err, directory.ErrConflict) {
		t.Errorf("B CreateUser duplicate: %v, want ErrConflict", err)
	}

	// A deletes; B hides it at once (tombstone in the shared store) and
	// revives it on create.
	if err := a.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetUser(ctx, u.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("B GetUser after A deleted: %v, want ErrNotFound", err)
	}
	if got, _ := b.LookupUsers(ctx, directory.AttrUserName, "replica@example.org"); len(got) != 0 {
		t.Errorf("B LookupUsers after A deleted: %v", got)
	}
	revived, err := b.CreateUser(ctx, directory.User{UserName: "replica@example.org", GivenName: "Re", FamilyName: "Vived", Active: true})
	if err != nil || revived.ID != u.ID || !revived.Active {
		t.Fatalf("B CreateUser after A deleted = %+v, %v; want member %s revived", revived, err, u.ID)
	}

	// The IdP's own userName lives in the shared store: B finds a user A
	// created by it (one GET of the member B has not seen), sees A change
	// it at once, and cannot give it to another user.
	ju, err := a.CreateUser(ctx, directory.User{UserName: "jdoe@example.org", IdPUserName: "jdoe", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.ResetRequests()
	got, err = b.LookupUsers(ctx, directory.AttrUserName, "JDoe")
	if err != nil || len(got) != 1 || got[0].ID != ju.ID || got[0].IdPUserName != "jdoe" {
		t.Fatalf("B LookupUsers(IdP userName) = %+v, %v; want %s with IdPUserName jdoe", got, err, ju.ID)
	}
	if got[0].Version != ju.Version {
		t.Errorf("B Version %q, A %q", got[0].Version, ju.Version)
	}
	if calls := sigmatest.APICalls(srv); !slices.Equal(calls, []string{"GET /v2/members/" + ju.ID}) {
		t.Errorf("B upstream calls = %q, want one GET of the member", calls)
	}
	if _, err := b.CreateUser(ctx, directory.User{UserName: "other@example.org", IdPUserName: "JDOE", Active: true}); !errors.Is(err, directory.ErrConflict) {
		t.Errorf("B CreateUser with A's user's IdP userName: %v, want ErrConflict", err)
	}
	ju.IdPUserName = "john.doe"
	if ju, err = a.ReplaceUser(ctx, ju); err != nil {
		t.Fatal(err)
	}
	if got, err := b.LookupUsers(ctx, directory.AttrUserName, "jdoe"); err != nil || len(got) != 0 {
		t.Errorf("B LookupUsers(old IdP userName) = %+v, %v; want none", got, err)
	}
	if got, err := b.GetUser(ctx, ju.ID); err != nil || got.IdPUserName != "john.doe" || got.Version != ju.Version {
		t.Errorf("B GetUser = %+v, %v; want IdPUserName john.doe, Version %s", got, err, ju.Version)
	}
	if us, err := b.ListUsers(ctx); err != nil || !slices.ContainsFunc(us, func(x directory.User) bool { return x.ID == ju.ID && x.IdPUserName == "john.doe" }) {
		t.Errorf("B ListUsers lacks %s with IdPUserName john.doe (%v)", ju.ID, err)
	}

	// Groups: created on A, found by name on B.
	g, err := a.CreateGroup(ctx, directory.Group{DisplayName: "Replicated", Members: []directory.Ref{{ID: u.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	gs, err := b.LookupGroups(ctx, directory.AttrDisplayName, "Replicated")
	if err != nil || len(gs) != 1 || gs[0].ID != g.ID || len(gs[0].Members) != 1 {
		t.Fatalf("B LookupGroups = %+v, %v", gs, err)
	}
	if gs[0].Version != g.Version {
		t.Errorf("group Version on B %q, on A %q", gs[0].Version, g.Version)
	}
	if _, err := b.CreateGroup(ctx, directory.Group{DisplayName: "replicated"}); !errors.Is(err, directory.ErrConflict) {
		t.Errorf("B CreateGroup duplicate: %v, want ErrConflict", err)
	}

	// A deletes the group; B, whose index still holds it, answers 404 at
	// once and lets the name be taken again.
	if err := a.DeleteGroup(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetGroup(ctx, g.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("B GetGroup after A deleted: %v, want ErrNotFound", err)
	}
	if gs, err := b.ListGroups(ctx); err != nil || slices.ContainsFunc(gs, func(x directory.Group) bool { return x.ID == g.ID }) {
		t.Errorf("B ListGroups after A deleted = %v, %v", gs, err)
	}
	again, err := a.CreateGroup(ctx, directory.Group{DisplayName: "Replicated"})
	if err != nil {
		t.Fatalf("A CreateGroup after deleting: %v", err)
	}
	if gs, err := b.LookupGroups(ctx, directory.AttrDisplayName, "Replicated"); err != nil || len(gs) != 1 || gs[0].ID != again.ID {
		t.Errorf("B LookupGroups(name) after A re-created = %+v, %v; want %s", gs, err, again.ID)
	}
	// B's stale index entry must not block B from re-creating a name A freed.
	h, err := a.CreateGroup(ctx, directory.Group{DisplayName: "Short Lived"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetGroup(ctx, h.ID); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteGroup(ctx, h.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateGroup(ctx, directory.Group{DisplayName: "Short Lived"}); err != nil {
		t.Errorf("B CreateGroup of a name A freed: %v", err)
	}
}

// TestIdPUserName: the userName a JumpCloud-style IdP sent (not an email)
// is kept in the store, returned on every read, found by LookupUsers, part
// of the Version, unique among live users, and freed by a delete.
func TestDryRunWritesNothing(t *testing.T) {
	e := newEnv(t, envOpts{fake: sigmafake.Options{Members: 5, Teams: 2}, dir: restdir.Options{DryRun: true}})
	ctx := sigmatest.ActorCtx()
	existing := e.srv.Members()[2]
	team := e.srv.Teams()[0]

	u, err := e.dir.CreateUser(ctx, directory.User{UserName: "dry@example.org", GivenName: "Dry", FamilyName: "Run", ExternalID: "ext-dry", Active: true})
	if err != nil || u.UserName != "dry@example.org" || !strings.HasPrefix(u.ID, "dryrun-") {
		t.Fatalf("dry-run CreateUser = %+v, %v", u, err)
	}
	r, err := e.dir.ReplaceUser(ctx, directory.User{ID: existing.MemberID, UserName: existing.Email, GivenName: "Changed", Active: false})
	if err != nil || r.GivenName != "Changed" || r.Active {
		t.Fatalf("dry-run ReplaceUser = %+v, %v", r, err)
	}
	if err := e.dir.DeleteUser(ctx, existing.MemberID); err != nil {
		t.Fatalf("dry-run DeleteUser: %v", err)
	}
	if _, err := e.dir.CreateGroup(ctx, directory.Group{DisplayName: "Dry Team", Members: []directory.Ref{{ID: existing.MemberID}}}); err != nil {
		t.Fatalf("dry-run CreateGroup: %v", err)
	}
	if _, err := e.dir.ModifyGroupMembers(ctx, team.TeamID, []string{existing.MemberID}, nil); err != nil {
		t.Fatalf("dry-run ModifyGroupMembers: %v", err)
	}
	if err := e.dir.DeleteGroup(ctx, team.TeamID); err != nil {
		t.Fatalf("dry-run DeleteGroup: %v", err)
	}
	// A member archived outside the bridge would be revived, not created.
	gone := e.srv.AddMember(sigmafake.Member{Email: "archived@example.org", FirstName: "Ar", LastName: "Chived", IsArchived: true})
	if r, err := e.dir.CreateUser(ctx, directory.User{UserName: "archived@example.org", Active: true}); err != nil || r.ID != gone.MemberID || !r.Active {
		t.Errorf("dry-run CreateUser of an archived member = %+v, %v; want %s active", r, err, gone.MemberID)
	}

	if n := sigmatest.Writes(e.srv); n != 0 {
		t.Errorf("dry run sent %d writes upstream", n)
	}
	if m, _ := e.srv.Member(existing.MemberID); m != existing {
		t.Errorf("member changed in dry run: %+v", m)
	}
	for _, k := range []store.Kind{store.KindUser, store.KindGroup} {
		if rs, err := e.store.ListResources(ctx, k); err != nil || len(rs) != 0 {
			t.Errorf("store %s records after dry run: %v, %v", k, rs, err)
		}
	}
	// Reads still answer from Sigma: nothing was deleted.
	if _, err := e.dir.GetUser(ctx, existing.MemberID); err != nil {
		t.Errorf("GetUser after dry-run delete: %v", err)
	}
	entries, err := e.store.ListAudit(ctx, store.AuditFilter{Outcome: store.OutcomeDryRun})
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, a := range entries {
		ops = append(ops, a.Operation)
		if a.RequestID != "req-1" || a.TokenName != "okta-prod" {
			t.Errorf("audit entry %s actor = %q/%q", a.Operation, a.RequestID, a.TokenName)
		}
	}
	sort.Strings(ops)
	want := []string{"group.create", "group.delete", "group.members", "user.create", "user.create", "user.delete", "user.replace"}
	if !slices.Equal(ops, want) {
		t.Errorf("dry-run audit operations = %q, want %q", ops, want)
	}
}

func TestAuditTrail(t *testing.T) {
	e := newEnv(t, envOpts{fake: sigmafake.Options{Members: 3}})
	ctx := sigmatest.ActorCtx()
	u := mustCreate(t, ctx, e.dir, "audited@example.org")
	if _, err := e.dir.CreateUser(ctx, directory.User{UserName: "other@example.org", AccountType: "Wizard"}); err == nil {
		t.Fatal("unknown account type accepted")
	}
	if _, err := e.dir.ReplaceUser(ctx, u); err != nil { // no change
		t.Fatal(err)
	}
	if err := e.dir.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	entries, err := e.store.ListAudit(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		op, id  string
		outcome store.Outcome
	}
	var got []row
	for i := len(entries) - 1; i >= 0; i-- { // oldest first
		a := entries[i]
		got = append(got, row{a.Operation, a.ResourceID, a.Outcome})
		if a.RequestID != "req-1" || a.TokenName != "okta-prod" || a.Kind != store.KindUser {
			t.Errorf("entry %+v: wrong actor or kind", a)
		}
	}
	want := []row{
		{"user.create", "", store.OutcomePending}, // the create's intent: no id yet
		{"user.create", u.ID, store.OutcomeOK},
		{"user.create", "", store.OutcomeFailed},
		{"user.replace", u.ID, store.OutcomeSkipped},
		{"user.delete", u.ID, store.OutcomePending}, // the intent before the write (issue 10.3)
		{"user.delete", u.ID, store.OutcomeOK},
	}
	if !slices.Equal(got, want) {
		t.Errorf("audit = %+v, want %+v", got, want)
	}
	if d := entries[3].Detail; !strings.Contains(d, "Wizard") {
		t.Errorf("failed create detail %q does not name the account type", d)
	}
}

func TestAmbiguousCreateYieldsOneMember(t *testing.T) {
	srv := sigmatest.Fake(t, sigmafake.Options{Members: 3, Seed: 7})
	st := sigmatest.OpenStore(t)
	d, _ := newDir(t, srv, st, envOpts{maxRetries: 12})
	ctx := sigmatest.ActorCtx()
	srv.ResetRequests()
	srv.SetFault("/v2/members", sigmafake.Fault{Ambiguous: 0.5})
	const n = 12
	for i := range n {
		email := fmt.Sprintf("ambiguous%d@example.org", i)
		u, err := d.CreateUser(ctx, directory.User{UserName: email, GivenName: "Am", FamilyName: "Biguous", Active: true})
		if err != nil {
			t.Fatalf("CreateUser(%s): %v", email, err)
		}
		if !u.Active || !strings.EqualFold(u.UserName, email) {
			t.Errorf("CreateUser(%s) = %+v", email, u)
		}
	}
	srv.ClearFaults()
	dropped := 0
	for _, r := range srv.Requests() {
		if r.Dropped && r.Method == http.MethodPost {
			dropped++
		}
	}
	if dropped == 0 {
		t.Fatal("no create was dropped; the fault did not exercise the ambiguous path")
	}
	count := map[string]int{}
	for _, m := range srv.Members() {
		count[strings.ToLower(m.Email)]++
	}
	for i := range n {
		if c := count[fmt.Sprintf("ambiguous%d@example.org", i)]; c != 1 {
			t.Errorf("ambiguous%d: %d members, want 1", i, c)
		}
	}
}

func TestUpstreamFailures(t *testing.T) {
	e := newEnv(t, envOpts{fake: sigmafake.Options{Members: 3, Teams: 1}, maxRetries: 1})
	ctx := sigmatest.ActorCtx()
	known := e.srv.Members()[1]
	e.srv.SetFault("/v2/", sigmafake.Fault{Status500: 1})
	check := func(what string, err error) {
		t.Helper()
		var ue *directory.UpstreamError
		if !errors.As(err, &ue) {
			t.Fatalf("%s: err = %v, want *directory.UpstreamError", what, err)
		}
		if !ue.Retryable || ue.Status != http.StatusInternalServerError {
			t.Errorf("%s: UpstreamError{Retryable %v, Status %d}, want retryable 500", what, ue.Retryable, ue.Status)
		}
		if strings.Contains(err.Error(), sigmafake.DefaultClientSecret) {
			t.Errorf("%s: error leaks the client secret: %v", what, err)
		}
	}
	_, err := e.dir.CreateUser(ctx, directory.User{UserName: "down@example.org", GivenName: "Down", FamilyName: "Time", Active: true})
	check("CreateUser", err)
	_, err = e.dir.LookupUsers(ctx, directory.AttrUserName, "down@example.org")
	check("LookupUsers miss", err)
	_, err = e.dir.ReplaceUser(ctx, directory.User{ID: known.MemberID, UserName: known.Email, Active: false})
	check("ReplaceUser", err)
	_, err = e.dir.CreateGroup(ctx, directory.Group{DisplayName: "Outage"})
	check("CreateGroup", err)
	// Index hits still answer during the outage.
	if us, err := e.dir.LookupUsers(ctx, directory.AttrUserName, known.Email); err != nil || len(us) != 1 {
		t.Errorf("LookupUsers hit during outage = %v, %v", us, err)
	}
	// And a resync failure keeps the directory ready on its last picture.
	if err := e.dir.Load(ctx); err == nil {
		t.Error("Load succeeded against a failing upstream")
	}
	if err := e.dir.Ready(ctx); err != nil {
		t.Errorf("Ready after failed resync: %v", err)
	}
	if got := testutil.ToFloat64(counter(t, e.reg, "scim_bridge_sigma_index_resyncs_total", "failed")); got != 1 {
		t.Errorf("failed resyncs = %v, want 1", got)
	}
}

// counter finds one series of a counter vector by its only label value.
func counter(t *testing.T, reg *prometheus.Registry, name, label string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == label {
				c := prometheus.NewCounter(prometheus.CounterOpts{Name: name})
				c.Add(m.GetCounter().GetValue())
				return c
			}
		}
	}
	t.Fatalf("metric %s{%s} not found", name, label)
	return nil
}

func TestReadyAndStart(t *testing.T) {
	srv := sigmatest.Fake(t, sigmafake.Options{Members: 4, Teams: 2})
	st := sigmatest.OpenStore(t)
	reg := prometheus.NewRegistry()
	d := restdir.New(newClient(t, srv, 0), st, restdir.Options{ResyncInterval: time.Hour}, reg, nil)
	err := d.Ready(context.Background())
	if !errors.Is(err, directory.ErrNotReady) || !strings.Contains(err.Error(), "index not loaded") {
		t.Fatalf("Ready before load = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Start(ctx) }()
	for d.Ready(ctx) != nil {
		select {
		case <-done:
			t.Fatal("Start returned before the first load")
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Start = %v, want nil after cancel", err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP scim_bridge_sigma_index_members Members in the Sigma index (archived and inactive included).
# TYPE scim_bridge_sigma_index_members gauge
scim_bridge_sigma_index_members 4
# HELP scim_bridge_sigma_index_teams Teams in the Sigma index.
# TYPE scim_bridge_sigma_index_teams gauge
scim_bridge_sigma_index_teams 2
`), "scim_bridge_sigma_index_members", "scim_bridge_sigma_index_teams"); err != nil {
		t.Error(err)
	}
	if v := testutil.ToFloat64(counter(t, reg, "scim_bridge_sigma_index_resyncs_total", "ok")); v != 1 {
		t.Errorf("ok resyncs = %v, want 1", v)
	}
}

func TestFirstLoadFailureIsReported(t *testing.T) {
	srv := sigmatest.Fake(t, sigmafake.Options{Members: 2})
	srv.SetFault("/v2/members", sigmafake.Fault{Status500: 1})
	d := restdir.New(newClient(t, srv, -1), sigmatest.OpenStore(t), restdir.Options{}, nil, nil)
	if err := d.Load(context.Background()); err == nil {
		t.Fatal("Load succeeded against a failing upstream")
	}
	err := d.Ready(context.Background())
	if !errors.Is(err, directory.ErrNotReady) || !strings.Contains(err.Error(), "500") {
		t.Errorf("Ready = %v, want not ready naming the upstream failure", err)
	}
}

func TestResyncPicksUpChangesMadeElsewhere(t *testing.T) {
	e := newEnv(t, envOpts{fake: sigmafake.Options{Members: 3, Teams: 1}})
	ctx := sigmatest.ActorCtx()
	added := e.srv.AddMember(sigmafake.Member{Email: "elsewhere@example.org", FirstName: "Else", LastName: "Where"})
	team := e.srv.AddTeam(sigmafake.Team{Name: "Made In Sigma", Members: []string{added.MemberID}})
	if err := e.dir.Load(ctx); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetRequests()
	us, err := e.dir.LookupUsers(ctx, directory.AttrUserName, "elsewhere@example.org")
	if err != nil || len(us) != 1 {
		t.Fatalf("LookupUsers = %v, %v", us, err)
	}
	if len(us[0].Groups) != 1 || us[0].Groups[0].ID != team.TeamID || us[0].Groups[0].Display != "Made In Sigma" {
		t.Errorf("Groups = %+v", us[0].Groups)
	}
	if calls := sigmatest.APICalls(e.srv); len(calls) != 0 {
		t.Errorf("upstream calls after resync: %q", calls)
	}
}

func TestAccountTypes(t *testing.T) {
	e := newEnv(t, envOpts{fake: sigmafake.Options{Members: 2}})
	ctx := sigmatest.ActorCtx()
	// No type and no default: memberType is omitted and Sigma's default applies.
	u := mustCreate(t, ctx, e.dir, "plain@example.org")
	if u.AccountType != sigmafake.DefaultAccountType {
		t.Errorf("AccountType = %q, want the org default %q", u.AccountType, sigmafake.DefaultAccountType)
	}
	if body := lastBody(t, e.srv, http.MethodPost, "/v2/members"); body["memberType"] != nil {
		t.Errorf("create sent memberType %v, want none", body["memberType"])
	}
	// Any spelling the resolver accepts is written canonically.
	u2, err := e.dir.CreateUser(ctx, directory.User{UserName: "cased@example.org", AccountType: "analyst creator", Active: true})
	if err != nil || u2.AccountType != "Analyst Creator" {
		t.Errorf("CreateUser(analyst creator) = %q, %v", u2.AccountType, err)
	}

	withDefault, _ := newDir(t, e.srv, e.store, envOpts{dir: restdir.Options{DefaultAccountType: "pro"}})
	u3, err := withDefault.CreateUser(ctx, directory.User{UserName: "defaulted@example.org", Active: true})
	if err != nil || u3.AccountType != "Pro" {
		t.Errorf("CreateUser with default = %q, %v; want Pro", u3.AccountType, err)
	}
	if u3.GivenName != "Defaulted" || u3.FamilyName != "Defaulted" {
		t.Errorf("completed names = %q %q", u3.GivenName, u3.FamilyName)
	}
}

// lastBody decodes the body of the last request with method and path.
func lastBody(t *testing.T, srv *sigmafake.Server, method, path string) map[string]any {
	t.Helper()
	reqs := srv.Requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if reqs[i].Method == method && reqs[i].Path == path {
			var m map[string]any
			if err := json.Unmarshal(reqs[i].Body, &m); err != nil {
				t.Fatalf("decode %s %s body: %v", method, path, err)
			}
			return m
		}
	}
	t.Fatalf("no %s %s request", method, path)
	return nil
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func TestReplaceSendsOnlyChanges(t *testing.T) {
	e := newEnv(t, envOpts{fake: sigmafake.Options{Members: 3}, dir: restdir.Options{}})
	ctx := sigmatest.ActorCtx()
	owner := e.srv.OwnerID()
	u := mustCreate(t, ctx, e.dir, "partial@example.org")
	u.GivenName = "Changed"
	e.srv.ResetRequests()
	if _, err := e.dir.ReplaceUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if got := keys(lastBody(t, e.srv, http.MethodPatch, "/v2/members/"+u.ID)); !slices.Equal(got, []string{"firstName"}) {
		t.Errorf("PATCH fields = %q, want [firstName]", got)
	}
	if n := sigmatest.Writes(e.srv); n != 1 {
		t.Errorf("%d writes, want 1", n)
	}

	// Deactivation hands documents to the configured owner.
	d2, _ := newDir(t, e.srv, e.store, envOpts{dir: restdir.Options{DeprovisionOwnerID: owner}})
	u.Active = false
	if _, err := d2.ReplaceUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	m, _ := e.srv.Member(u.ID)
	if !m.IsArchived || m.DocumentsTransferredTo != owner {
		t.Errorf("member after deactivate: archived %v, documents to %q; want archived, to %q", m.IsArchived, m.DocumentsTransferredTo, owner)
	}
}

func TestGroupMembershipDeltas(t *testing.T) {
	e := newEnv(t, envOpts{fake: sigmafake.Options{Members: 2}})
	ctx := sigmatest.ActorCtx()
	a := mustCreate(t, ctx, e.dir, "a@example.org")
	b := mustCreate(t, ctx, e.dir, "b@example.org")
	c := mustCreate(t, ctx, e.dir, "c@example.org")
	g, err := e.dir.CreateGroup(ctx, directory.Group{DisplayName: "Delta", Members: []directory.Ref{{ID: a.ID}, {ID: b.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	e.srv.ResetRequests()
	g.Members = []directory.Ref{{ID: b.ID}, {ID: c.ID}}
	if _, err := e.dir.ReplaceGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	var patches []map[string]any
	for _, r := range e.srv.Requests() {
		if r.Method == http.MethodPatch {
			var m map[string]any
			_ = json.Unmarshal(r.Body, &m)
			patches = append(patches, m)
		}
	}
	want := []map[string]any{{"add": []any{c.ID}, "remove": []any{a.ID}}}
	if fmt.Sprint(patches) != fmt.Sprint(want) {
		t.Errorf("PATCHes = %v, want %v", patches, want)
	}

	// A deactivated member is hidden from the group, and removing it is a
	// no-op rather than Sigma's 400.
	if _, err := e.dir.ReplaceUser(ctx, directory.User{ID: b.ID, UserName: b.UserName, Active: false}); err != nil {
		t.Fatal(err)
	}
	got, err := e.dir.GetGroup(ctx, g.ID)
	if err != nil || len(got.Members) != 1 || got.Members[0].ID != c.ID {
		t.Fatalf("group after deactivating b = %+v, %v", got.Members, err)
	}
	if _, err := e.dir.ModifyGroupMembers(ctx, g.ID, nil, []string{b.ID, "NoSuchMember"}); err != nil {
		t.Errorf("removing a deactivated member and an unknown id: %v", err)
	}
	var ive *directory.InvalidValueError
	if _, err := e.dir.ModifyGroupMembers(ctx, g.ID, []string{b.ID}, nil); !errors.As(err, &ive) || ive.Value != b.ID {
		t.Errorf("adding a deactivated member: %v, want *InvalidValueError", err)
	}

	// A full replace from the IdP (which never sees b) reads the team once
	// and sends one delta, leaving the hidden member alone.
	e.srv.ResetRequests()
	g.Members = []directory.Ref{{ID: c.ID}, {ID: a.ID}}
	got, err = e.dir.ReplaceGroup(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	wantCalls := []string{"GET /v2/teams/" + g.ID, "PATCH /v2/teams/" + g.ID + "/members"}
	if calls := sigmatest.APICalls(e.srv); !slices.Equal(calls, wantCalls) {
		t.Errorf("replace calls = %q, want %q", calls, wantCalls)
	}
	if body := lastBody(t, e.srv, http.MethodPatch, "/v2/teams/"+g.ID+"/members"); fmt.Sprint(body) != fmt.Sprint(map[string]any{"add": []any{a.ID}}) {
		t.Errorf("replace delta = %v, want add [%s] only", body, a.ID)
	}
	if team, _ := e.srv.Team(g.ID); !slices.Contains(team.Members, b.ID) || len(got.Members) != 2 {
		t.Errorf("upstream members %q, group members %+v", team.Members, got.Members)
	}
}

// BenchmarkOktaOnboarding measures one Okta-style onboarding per
// iteration: lookup userName (a miss), create the user, add it to a group.
// upstream_calls/user counts API requests (token requests left out).
func BenchmarkOktaOnboarding(b *testing.B) {
	srv := sigmatest.Fake(b, sigmafake.Options{Members: 200, Teams: 10})
	st := sigmatest.OpenStore(b)
	d, _ := newDir(b, srv, st, envOpts{})
	ctx := context.Background()
	g, err := d.CreateGroup(ctx, directory.Group{DisplayName: "Onboarded"})
	if err != nil {
		b.Fatal(err)
	}
	srv.ResetRequests()
	i := 0
	for b.Loop() {
		email := fmt.Sprintf("onboard%d@example.org", i)
		i++
		us, err := d.LookupUsers(ctx, directory.AttrUserName, email)
		if err != nil || len(us) != 0 {
			b.Fatalf("lookup %s: %v %v", email, us, err)
		}
		u, err := d.CreateUser(ctx, directory.User{UserName: email, GivenName: "On", FamilyName: "Board", Active: true})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := d.ModifyGroupMembers(ctx, g.ID, []string{u.ID}, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(len(sigmatest.APICalls(srv)))/float64(i), "upstream_calls/user")
}

func TestCreateMeetsMembersMadeElsewhere(t *testing.T) {
	e := newEnv(t, envOpts{fake: sigmafake.Options{Members: 2}})
	ctx := sigmatest.ActorCtx()
	// Added after the load: the index does not know them.
	archived := e.srv.AddMember(sigmafake.Member{Email: "gone@example.org", FirstName: "Gone", LastName: "Away", IsArchived: true})
	e.srv.AddMember(sigmafake.Member{Email: "here@example.org", FirstName: "Still", LastName: "Here"})

	e.srv.ResetRequests()
	u, err := e.dir.CreateUser(ctx, directory.User{UserName: "gone@example.org", GivenName: "Back", FamilyName: "Again", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != archived.MemberID || !u.Active || u.GivenName != "Back" {
		t.Errorf("CreateUser of an archived member made elsewhere = %+v, want %s revived", u, archived.MemberID)
	}
	want := []string{
		"POST /v2/members?sendInvite=false",
		"GET /v2/members?email=gone%40example.org&includeArchived=true&includeInactive=true&limit=1000",
		"PATCH /v2/members/" + archived.MemberID,
		"PATCH /v2/members/" + archived.MemberID,
	}
	if got := sigmatest.APICalls(e.srv); !slices.Equal(got, want) {
		t.Errorf("upstream calls = %q, want %q", got, want)
	}
	if _, err := e.dir.CreateUser(ctx, directory.User{UserName: "here@example.org", Active: true}); !errors.Is(err, directory.ErrConflict) {
		t.Errorf("CreateUser of an active member made elsewhere: %v, want ErrConflict", err)
	}
	if n := len(e.srv.Members()); n != 4 {
		t.Errorf("%d members upstream, want 4 (nothing created)", n)
	}
}

func TestWritesDuringResyncAreKept(t *testing.T) {
	e := newEnv(t, envOpts{fake: sigmafake.Options{Members: 3, Teams: 2}})
	ctx := sigmatest.ActorCtx()
	// Slow down the per-team member listings, the last phase of a load, so
	// that the create below lands while the load is in flight.
	e.srv.SetFault("/v2/teams/", sigmafake.Fault{Latency: 1, LatencyDuration: 300 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- e.dir.Load(ctx) }()
	for e.srv.CountRequests(http.MethodGet, "/v2/teams") == 0 {
		time.Sleep(time.Millisecond)
	}
	u := mustCreate(t, ctx, e.dir, "during@example.org")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	e.srv.ClearFaults()
	e.srv.ResetRequests()
	us, err := e.dir.LookupUsers(ctx, directory.AttrUserName, "during@example.org")
	if err != nil || len(us) != 1 || us[0].ID != u.ID {
		t.Fatalf("LookupUsers after resync = %v, %v", us, err)
	}
	if calls := sigmatest.APICalls(e.srv); len(calls) != 0 {
		t.Errorf("the write made during the resync was lost from the index: lookup called %q", calls)
	}
}

func TestRejectedCredentialsAreRetryableAndSecretFree(t *testing.T) {
	srv := sigmatest.Fake(t, sigmafake.Options{Members: 2})
	const wrong = "wrong-secret-value-1234"
	c, err := sigma.NewClient(sigma.Config{
		BaseURL: srv.URL(), ClientID: sigmafake.DefaultClientID,
		ClientSecret: secret.NewStatic(secret.Value(wrong)), MaxRetries: -1,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := restdir.New(c, sigmatest.OpenStore(t), restdir.Options{}, nil, nil)
	_, err = d.LookupUsers(context.Background(), directory.AttrUserName, "x@example.org")
	var ue *directory.UpstreamError
	if !errors.As(err, &ue) || !ue.Retryable {
		t.Fatalf("lookup with rejected credentials: %v, want a retryable *UpstreamError", err)
	}
	if strings.Contains(err.Error(), wrong) {
		t.Errorf("error leaks the secret: %v", err)
	}
	if err := d.Load(context.Background()); err == nil || strings.Contains(d.Ready(context.Background()).Error(), wrong) {
		t.Errorf("Load = %v; Ready = %v", err, d.Ready(context.Background()))
	}
}

// BenchmarkFullLoad measures one full load of an org of 5000 members and
// 50 teams; upstream_calls/load counts API requests.
func BenchmarkFullLoad(b *testing.B) {
	srv := sigmatest.Fake(b, sigmafake.Options{Members: 5000, Teams: 50})
	d := restdir.New(newClient(b, srv, 0), sigmatest.OpenStore(b), restdir.Options{}, nil, nil)
	ctx := context.Background()
	srv.ResetRequests()
	n := 0
	for b.Loop() {
		if err := d.Load(ctx); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(len(sigmatest.APICalls(srv)))/float64(n), "upstream_calls/load")
}

// TestLoadWaitingRespectsContext: a Load waiting behind another (a mode
// probe's) gives up when its context ends, so Start returns at shutdown.
func TestLoadWaitingRespectsContext(t *testing.T) {
	srv := sigmatest.Fake(t, sigmafake.Options{Members: 3})
	arrived := make(chan struct{}, 100)
	hold := make(chan struct{})
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/members" {
			arrived <- struct{}{}
			select {
			case <-hold:
			case <-r.Context().Done():
				return
			}
		}
		srv.Handler().ServeHTTP(w, r)
	}))
	defer front.Close()
	c, err := sigma.NewClient(sigma.Config{
		BaseURL: front.URL, ClientID: sigmafake.DefaultClientID,
		ClientSecret: secret.NewStatic(secret.Value(sigmafake.DefaultClientSecret)),
		MaxRetries:   -1,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := restdir.New(c, sigmatest.OpenStore(t), restdir.Options{}, nil, nil)

	slowCtx, cancelSlow := context.WithCancel(context.Background())
	defer cancelSlow()
	firstDone := make(chan error, 1)
	go func() { firstDone <- d.Load(slowCtx) }()
	<-arrived // the first load holds the slot, stuck upstream

	ctx, cancel := context.WithCancel(context.Background())
	secondDone := make(chan error, 1)
	go func() { secondDone <- d.Load(ctx) }()
	cancel()
	if err := <-secondDone; !errors.Is(err, context.Canceled) {
		t.Errorf("waiting Load = %v, want context.Canceled", err)
	}
	if len(arrived) != 0 {
		t.Error("the second Load reached Sigma while the first one held the slot")
	}
	close(hold)
	if err := <-firstDone; err != nil {
		t.Errorf("first Load: %v", err)
	}
}

// TestWriteLogsKeepEmailsAtDebug (issue 10.7): a write's log line names
// ids at info; the email appears only at debug.
func TestWriteLogsKeepEmailsAtDebug(t *testing.T) {
	srv := sigmatest.Fake(t, sigmafake.Options{Members: 2})
	for _, tc := range []struct {
		level     slog.Level
		wantEmail bool
	}{{slog.LevelInfo, false}, {slog.LevelDebug, true}} {
		logs := &sigmatest.LogBuffer{}
		d := restdir.New(newClient(t, srv, 0), sigmatest.OpenStore(t), restdir.Options{}, nil, logs.Logger(tc.level))
		if err := d.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		email := fmt.Sprintf("private.person.%d@example.org", tc.level)
		u := mustCreate(t, sigmatest.ActorCtx(), d, email)
		out := logs.String()
		if !strings.Contains(out, u.ID) {
			t.Errorf("level %v: the write's log line lacks the id %s:\n%s", tc.level, u.ID, out)
		}
		if strings.Contains(out, email) != tc.wantEmail {
			t.Errorf("level %v: email in the log = %v, want %v:\n%s", tc.level, !tc.wantEmail, tc.wantEmail, out)
		}
	}
}
