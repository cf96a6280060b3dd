package scimdir_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/secret"
	"github.com/scimbridge/scim-bridge/internal/sigma/restdir"
	"github.com/scimbridge/scim-bridge/internal/sigma/scimdir"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmatest"
	"github.com/scimbridge/scim-bridge/internal/store"
)

// sentUserTypes returns the userType of every user POSTed to Sigma's SCIM,
// as the raw JSON value (so a null shows as "null").
func sentUserTypes(t *testing.T, srv *sigmafake.Server) []string {
	t.Helper()
	var out []string
	for _, b := range sigmatest.Bodies(srv, http.MethodPost, "/scim/v2/Users") {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(b), &m); err != nil {
			t.Fatalf("decode POST body: %v", err)
		}
		v, ok := m["userType"]
		if !ok {
			v = json.RawMessage("null")
		}
		out = append(out, string(v))
	}
	return out
}

func TestAccountTypeMapping(t *testing.T) {
	for _, mode := range []struct {
		name  string
		opts  envOpts
		canon map[string]string // Sigma SCIM userType -> what the directory reports
	}{
		{"with REST", envOpts{rest: true, dir: scimdir.Options{AccountTypeAliases: map[string]string{"Viewer": "View"}}},
			map[string]string{"view": "View", "pro": "Pro", "essential": "Essential", "Analyst Creator": "Analyst Creator"}},
		{"SCIM only", envOpts{dir: scimdir.Options{AccountTypes: []string{"Analyst Creator"}, AccountTypeAliases: map[string]string{"Viewer": "view"}}},
			map[string]string{"view": "view", "pro": "pro", "essential": "essential", "Analyst Creator": "Analyst Creator"}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			e := newEnv(t, mode.opts)
			ctx := sigmatest.ActorCtx()
			for i, tc := range []struct {
				sent     string // what the IdP sent
				wantSCIM string // the userType Sigma's SCIM must receive
				wantREST string // the member's type as Sigma's REST shows it
			}{
				{"Viewer", "view", "View"},
				{"VIEW", "view", "View"},
				{"", "view", "View"}, // none: the default, never null
				{"pro", "pro", "Pro"},
				{"analyst CREATOR", "Analyst Creator", "Analyst Creator"},
			} {
				e.srv.ResetRequests()
				u, err := e.dir.CreateUser(ctx, directory.User{UserName: fmt.Sprintf("at%d@example.org", i), AccountType: tc.sent, Active: true})
				if err != nil {
					t.Fatalf("CreateUser(userType %q): %v", tc.sent, err)
				}
				if got := sentUserTypes(t, e.srv); !slices.Equal(got, []string{`"` + tc.wantSCIM + `"`}) {
					t.Errorf("userType %q: Sigma's SCIM received %s, want %q", tc.sent, got, tc.wantSCIM)
				}
				if m, _ := e.srv.Member(u.ID); m.MemberType != tc.wantREST {
					t.Errorf("userType %q: member type %q, want %q", tc.sent, m.MemberType, tc.wantREST)
				}
				if want := mode.canon[tc.wantSCIM]; u.AccountType != want {
					t.Errorf("userType %q: directory reports %q, want %q", tc.sent, u.AccountType, want)
				}
			}

			// A change of type on replace goes out as one replace of userType.
			u, err := e.dir.LookupUsers(ctx, directory.AttrUserName, "at0@example.org")
			if err != nil || len(u) != 1 {
				t.Fatalf("lookup: %v %v", u, err)
			}
			e.srv.ResetRequests()
			change := u[0]
			change.AccountType = "ESSENTIAL"
			got, err := e.dir.ReplaceUser(ctx, change)
			if err != nil {
				t.Fatalf("ReplaceUser: %v", err)
			}
			if got.AccountType != mode.canon["essential"] {
				t.Errorf("after replace: %q, want %q", got.AccountType, mode.canon["essential"])
			}
			patches := sigmatest.Bodies(e.srv, http.MethodPatch, "/scim/v2/Users/"+u[0].ID)
			if len(patches) != 1 || !strings.Contains(patches[0], `"path":"userType","value":"essential"`) {
				t.Errorf("PATCH bodies = %q, want one replacing userType with \"essential\"", patches)
			}
		})
	}
}

// TestNullUserTypeGone: Sigma's SCIM refuses a user without userType with
// "Expecting string at userType but instead got: null"; through the bridge
// the same user (no account type from the IdP) is created with the default.
func TestNullUserTypeGone(t *testing.T) {
	e := newEnv(t, envOpts{})
	req, err := http.NewRequest(http.MethodPost, e.srv.SCIMURL()+"/Users",
		strings.NewReader(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"direct@example.org","name":{"givenName":"D","familyName":"Irect"}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+sigmafake.DefaultSCIMToken)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(fmt.Sprint(body["detail"]), "Expecting string at userType but instead got: null") {
		t.Fatalf("direct POST without userType: %d %v; the emulator no longer shows the failure this test guards against", resp.StatusCode, body)
	}

	u, err := e.dir.CreateUser(sigmatest.ActorCtx(), directory.User{UserName: "okta.user@example.org", GivenName: "Okta", FamilyName: "User", Active: true})
	if err != nil {
		t.Fatalf("CreateUser without account type: %v", err)
	}
	if u.AccountType != scimdir.DefaultAccountType {
		t.Errorf("AccountType = %q, want the default %q", u.AccountType, scimdir.DefaultAccountType)
	}
	if got := sentUserTypes(t, e.srv); len(got) != 2 || got[1] != `"view"` {
		t.Errorf("userTypes sent = %q, want the direct null then \"view\"", got)
	}
}

func TestConfiguredDefaultAccountType(t *testing.T) {
	e := newEnv(t, envOpts{rest: true, dir: scimdir.Options{DefaultAccountType: "essential"}})
	u, err := e.dir.CreateUser(sigmatest.ActorCtx(), directory.User{UserName: "def@example.org", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	if u.AccountType != "Essential" {
		t.Errorf("AccountType = %q, want Essential", u.AccountType)
	}
	if got := sentUserTypes(t, e.srv); !slices.Equal(got, []string{`"essential"`}) {
		t.Errorf("userType sent = %q", got)
	}
}

func TestUnknownAccountTypeListsValid(t *testing.T) {
	e := newEnv(t, envOpts{dir: scimdir.Options{AccountTypes: []string{"Analyst Creator"}}})
	_, err := e.dir.CreateUser(sigmatest.ActorCtx(), directory.User{UserName: "x@example.org", AccountType: "Wizard", Active: true})
	var ive *directory.InvalidValueError
	if !errors.As(err, &ive) {
		t.Fatalf("err = %v, want *InvalidValueError", err)
	}
	want := []string{"Analyst Creator", "admin", "essential", "pro", "view"}
	if ive.Attribute != "userType" || ive.Value != "Wizard" || !slices.Equal(ive.Valid, want) {
		t.Errorf("got %+v, want userType Wizard valid %q", ive, want)
	}
	if n := sigmatest.Writes(e.srv); n != 0 {
		t.Errorf("%d writes upstream, want none", n)
	}
}

// TestTokenFileRotated: the token lives in a file; Sigma issues a new one
// and the operator replaces the file. The next call gets a 401, re-reads
// the file once and succeeds.
func TestTokenFileRotated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scim-token")
	if err := os.WriteFile(path, []byte(sigmafake.DefaultSCIMToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := secret.NewFile(path)
	src.CheckEvery = time.Hour // only the 401 may make it look again
	e := newEnv(t, envOpts{token: src})
	ctx := sigmatest.ActorCtx()
	u, err := e.dir.CreateUser(ctx, directory.User{UserName: "rot@example.org", Active: true})
	if err != nil {
		t.Fatal(err)
	}

	const next = "rotated-scim-token-2"
	e.srv.SetSCIMToken(next)
	if err := os.WriteFile(path, []byte(next+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetRequests()
	got, err := e.dir.GetUser(ctx, u.ID)
	if err != nil {
		t.Fatalf("GetUser after rotation: %v", err)
	}
	if got.ID != u.ID {
		t.Errorf("GetUser = %s, want %s", got.ID, u.ID)
	}
	var statuses []int
	for _, r := range e.srv.Requests() {
		statuses = append(statuses, r.Status)
	}
	if !slices.Equal(statuses, []int{401, 200}) {
		t.Errorf("upstream statuses = %v, want [401 200] (one rejection, one retry with the new token)", statuses)
	}
	if err := e.dir.Ready(ctx); err != nil {
		t.Errorf("Ready after rotation: %v", err)
	}
	if v := metricValue(t, e, "scim_bridge_sigma_scim_token_rejected"); v != 0 {
		t.Errorf("token rejected gauge = %v, want 0", v)
	}
}

// metricValue reads an unlabelled gauge or counter from the env's registry.
func metricValue(t *testing.T, e *env, name string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		if g := m.GetGauge(); g != nil {
			return g.GetValue()
		}
		return m.GetCounter().GetValue()
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

func TestTokenRejected(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := sigmatest.ActorCtx()
	u, err := e.dir.CreateUser(ctx, directory.User{UserName: "tok@example.org", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.dir.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}

	e.srv.SetSCIMToken("a-token-the-bridge-does-not-have")
	_, err = e.dir.GetUser(ctx, u.ID)
	var ue *directory.UpstreamError
	if !errors.As(err, &ue) || !ue.Retryable || !errors.Is(err, directory.ErrNotReady) {
		t.Fatalf("GetUser with a rejected token: err = %v, want a retryable *UpstreamError matching ErrNotReady", err)
	}
	if errors.Is(err, directory.ErrNotFound) {
		t.Errorf("GetUser with a rejected token claims the user is gone: %v", err)
	}
	err = e.dir.Ready(ctx)
	if err == nil || !strings.Contains(err.Error(), "Sigma SCIM token was rejected (401)") || !errors.Is(err, directory.ErrNotReady) {
		t.Fatalf("Ready = %v, want ErrNotReady saying the Sigma SCIM token was rejected (401)", err)
	}
	if strings.Contains(err.Error(), sigmafake.DefaultSCIMToken) {
		t.Errorf("Ready error carries the token: %v", err)
	}
	if v := metricValue(t, e, "scim_bridge_sigma_scim_token_rejected"); v != 1 {
		t.Errorf("token rejected gauge = %v, want 1", v)
	}

	e.srv.SetSCIMToken(sigmafake.DefaultSCIMToken)
	if err := e.dir.Ready(ctx); err != nil {
		t.Errorf("Ready once the token is accepted again: %v", err)
	}
	if v := metricValue(t, e, "scim_bridge_sigma_scim_token_rejected"); v != 0 {
		t.Errorf("token rejected gauge = %v, want 0", v)
	}
}

// TestEndpointDisabled: an org whose Enterprise SCIM is switched off
// answers 404 everywhere. The bridge must not tell the IdP that users are
// gone: reads by id fail as not ready.
func TestEndpointDisabled(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := sigmatest.ActorCtx()
	u, err := e.dir.CreateUser(ctx, directory.User{UserName: "off@example.org", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	g, err := e.dir.CreateGroup(ctx, directory.Group{DisplayName: "Off"})
	if err != nil {
		t.Fatal(err)
	}
	e.srv.SetSCIMEnabled(false)
	for name, err := range map[string]error{
		"GetUser":     func() error { _, err := e.dir.GetUser(ctx, u.ID); return err }(),
		"GetGroup":    func() error { _, err := e.dir.GetGroup(ctx, g.ID); return err }(),
		"LookupUsers": func() error { _, err := e.dir.LookupUsers(ctx, directory.AttrUserName, u.UserName); return err }(),
		"ListUsers":   func() error { _, err := e.dir.ListUsers(ctx); return err }(),
		"DeleteUser":  e.dir.DeleteUser(ctx, u.ID),
		"Ready":       e.dir.Ready(ctx),
	} {
		if !errors.Is(err, directory.ErrNotReady) || errors.Is(err, directory.ErrNotFound) {
			t.Errorf("%s with SCIM off: err = %v, want ErrNotReady (and not ErrNotFound)", name, err)
		}
	}
	if r, err := e.store.GetResource(ctx, store.KindUser, u.ID); err == nil && r.Tombstoned {
		t.Error("DeleteUser tombstoned a user although Sigma was not reached")
	}
	e.srv.SetSCIMEnabled(true)
	if err := e.dir.Ready(ctx); err != nil {
		t.Errorf("Ready with SCIM back on: %v", err)
	}
}

// TestSameAsREST: the same member read through both paths looks the same
// to the IdP, ETag included, so a mode switch is invisible.
func TestSameAsREST(t *testing.T) {
	e := newEnv(t, envOpts{rest: true, fake: sigmafake.Options{Members: 3, Teams: 1}})
	ctx := sigmatest.ActorCtx()
	a, err := e.dir.CreateUser(ctx, directory.User{UserName: "same.a@example.org", GivenName: "Same", FamilyName: "A", ExternalID: "ext-a", AccountType: "analyst creator", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.dir.CreateUser(ctx, directory.User{UserName: "same.b@example.org", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.dir.CreateGroup(ctx, directory.Group{DisplayName: "Same Team", ExternalID: "ext-team", Members: []directory.Ref{{ID: a.ID}, {ID: b.ID}}}); err != nil {
		t.Fatal(err)
	}
	off := b
	off.Active = false
	if _, err := e.dir.ReplaceUser(ctx, off); err != nil {
		t.Fatal(err)
	}

	rd := restdir.New(e.rest, e.store, restdir.Options{}, nil, nil)
	if err := rd.Load(ctx); err != nil {
		t.Fatal(err)
	}
	viaSCIM, err := e.dir.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	viaREST, err := rd.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(viaSCIM) != len(viaREST) {
		t.Fatalf("%d users via SCIM, %d via REST", len(viaSCIM), len(viaREST))
	}
	for i := range viaSCIM {
		s, r := viaSCIM[i], viaREST[i]
		s.Emails, r.Emails = nil, nil
		if fmt.Sprintf("%+v", s) != fmt.Sprintf("%+v", r) {
			t.Errorf("user %d differs:\n scim %+v\n rest %+v", i, s, r)
		}
	}
	gs, err := e.dir.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gr, err := rd.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The REST path leaves inactive members out of a team's member list;
	// compare the teams without b.
	for i := range gs {
		gs[i].Modified, gr[i].Modified = time.Time{}, time.Time{}
		gs[i].Members = slices.DeleteFunc(gs[i].Members, func(m directory.Ref) bool { return m.ID == b.ID })
		if gs[i].ID != gr[i].ID || gs[i].DisplayName != gr[i].DisplayName || gs[i].ExternalID != gr[i].ExternalID ||
			fmt.Sprint(gs[i].Members) != fmt.Sprint(gr[i].Members) {
			t.Errorf("group %d differs:\n scim %+v\n rest %+v", i, gs[i], gr[i])
		}
	}
}

func TestAuditCarriesActor(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := sigmatest.ActorCtx()
	u, err := e.dir.CreateUser(ctx, directory.User{UserName: "aud@example.org", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.dir.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	entries, err := e.store.ListAudit(ctx, store.AuditFilter{ResourceID: u.ID})
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, a := range entries {
		ops = append(ops, a.Operation+":"+string(a.Outcome))
		if a.RequestID != "req-1" || a.TokenName != "okta-prod" {
			t.Errorf("audit entry %+v: want request req-1, token okta-prod", a)
		}
	}
	// The delete's intent (issue 10.3) comes before its outcome.
	if !slices.Equal(ops, []string{"user.delete:ok", "user.delete:pending", "user.create:ok"}) {
		t.Errorf("audit operations (newest first) = %q", ops)
	}
	if m, _ := e.srv.Member(u.ID); !m.IsArchived {
		t.Error("deleted user is not deactivated in Sigma")
	}
}

// TestUpstreamCalls pins what each read costs upstream.
func TestUpstreamCalls(t *testing.T) {
	e := newEnv(t, envOpts{fake: sigmafake.Options{Members: 2500, Teams: 3}})
	ctx := sigmatest.ActorCtx()
	u, err := e.dir.CreateUser(ctx, directory.User{UserName: "calls@example.org", ExternalID: "ext-calls", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		do   func() error
		want []string
	}{
		{"userName", func() error {
			_, err := e.dir.LookupUsers(ctx, directory.AttrUserName, "CALLS@example.org")
			return err
		},
			[]string{"GET /scim/v2/Users?count=10&filter=userName+eq+%22CALLS%40example.org%22&startIndex=1"}},
		{"id", func() error { _, err := e.dir.LookupUsers(ctx, directory.AttrID, u.ID); return err },
			[]string{"GET /scim/v2/Users/" + u.ID}},
		{"externalId", func() error { _, err := e.dir.LookupUsers(ctx, directory.AttrExternalID, "ext-calls"); return err },
			[]string{"GET /scim/v2/Users/" + u.ID}},
		{"create", func() error {
			_, err := e.dir.CreateUser(ctx, directory.User{UserName: "new@example.org", GivenName: "New", FamilyName: "User", Active: true})
			return err
		}, []string{"POST /scim/v2/Users"}},
		{"externalId miss", func() error { _, err := e.dir.LookupUsers(ctx, directory.AttrExternalID, "ext-none"); return err }, nil},
		{"list", func() error {
			us, err := e.dir.ListUsers(ctx)
			if err == nil && (len(us) != 2502 || !slices.IsSortedFunc(us, func(a, b directory.User) int { return strings.Compare(a.ID, b.ID) })) {
				err = fmt.Errorf("ListUsers: %d users, sorted %v", len(us), slices.IsSortedFunc(us, func(a, b directory.User) int { return strings.Compare(a.ID, b.ID) }))
			}
			return err
		}, []string{
			"GET /scim/v2/Users?count=1000&startIndex=1",
			"GET /scim/v2/Users?count=1000&startIndex=1001",
			"GET /scim/v2/Users?count=1000&startIndex=2001",
		}},
	} {
		e.srv.ResetRequests()
		if err := tc.do(); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		var got []string
		for _, r := range e.srv.Requests() {
			s := r.Method + " " + r.Path
			if len(r.Query) > 0 {
				s += "?" + r.Query.Encode()
			}
			got = append(got, s)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: upstream calls\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	e := newEnv(t, envOpts{dir: scimdir.Options{DryRun: true}, fake: sigmafake.Options{Members: 2, Teams: 1}})
	ctx := sigmatest.ActorCtx()
	u, err := e.dir.CreateUser(ctx, directory.User{UserName: "dry@example.org", ExternalID: "ext-dry", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	if u.UserName != "dry@example.org" || u.AccountType != "view" {
		t.Errorf("dry-run create answered %+v", u)
	}
	existing := e.srv.Members()[1]
	if err := e.dir.DeleteUser(ctx, existing.MemberID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.dir.CreateGroup(ctx, directory.Group{DisplayName: "Dry"}); err != nil {
		t.Fatal(err)
	}
	if n := sigmatest.Writes(e.srv); n != 0 {
		t.Errorf("%d writes upstream in dry-run", n)
	}
	if rs, _ := e.store.ListResources(ctx, store.KindUser); len(rs) != 0 {
		t.Errorf("store records written in dry-run: %+v", rs)
	}
	entries, _ := e.store.ListAudit(ctx, store.AuditFilter{Outcome: store.OutcomeDryRun})
	if len(entries) != 3 {
		t.Errorf("%d dry_run audit entries, want 3", len(entries))
	}
}

func TestDeleteHandsDocumentsOver(t *testing.T) {
	e := newEnv(t, envOpts{rest: true, fake: sigmafake.Options{Members: 2}})
	owner := e.srv.OwnerID()
	e.dir = scimdir.New(e.scim, e.rest, e.store, scimdir.Options{DeprovisionOwnerID: owner}, nil, nil)
	ctx := sigmatest.ActorCtx()
	u, err := e.dir.CreateUser(ctx, directory.User{UserName: "leaver@example.org", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.dir.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	m, _ := e.srv.Member(u.ID)
	if !m.IsArchived || m.DocumentsTransferredTo != owner {
		t.Errorf("member after delete: archived %v, documents to %q; want archived, to %q", m.IsArchived, m.DocumentsTransferredTo, owner)
	}
	if _, err := e.dir.GetUser(ctx, u.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("GetUser after delete: %v", err)
	}
	again, err := e.dir.CreateUser(ctx, directory.User{UserName: "leaver@example.org", Active: true})
	if err != nil || again.ID != u.ID || !again.Active {
		t.Errorf("re-create after delete = %+v, %v; want the same member, active", again, err)
	}
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestListCache: an IdP paging through the users costs one read of
// Sigma's list per ListCacheTTL; the bridge's own writes show at once,
// writes made elsewhere after the TTL.
func TestListCache(t *testing.T) {
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	e := newEnv(t, envOpts{fake: sigmafake.Options{Members: 5}, dir: scimdir.Options{ListCacheTTL: time.Minute, Now: clk.Now}})
	ctx := sigmatest.ActorCtx()
	count := func() int {
		t.Helper()
		us, err := e.dir.ListUsers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(us)
	}
	if n := count(); n != 5 {
		t.Fatalf("ListUsers = %d users, want 5", n)
	}
	e.srv.ResetRequests()
	count()
	count()
	if n := e.srv.CountRequests("GET", "/scim/v2/Users"); n != 0 {
		t.Errorf("repeated ListUsers within the TTL: %d upstream reads, want 0", n)
	}

	e.srv.AddMember(sigmafake.Member{Email: "elsewhere@example.org", FirstName: "Else", LastName: "Where"})
	if n := count(); n != 5 {
		t.Errorf("a member added elsewhere shows within the TTL: %d users", n)
	}
	clk.Advance(time.Minute)
	if n := count(); n != 6 {
		t.Errorf("after the TTL: %d users, want 6", n)
	}

	if _, err := e.dir.CreateUser(ctx, directory.User{UserName: "mine@example.org", Active: true}); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 7 {
		t.Errorf("right after the bridge's own create: %d users, want 7", n)
	}
}

// TestRESTDownSCIMStillWorks: REST credentials that stop working must not
// stop the SCIM path (account types are then matched locally).
func TestRESTDownSCIMStillWorks(t *testing.T) {
	e := newEnv(t, envOpts{rest: true})
	e.srv.SetClientSecret("rotated-elsewhere")
	e.srv.ExpireTokens()
	u, err := e.dir.CreateUser(sigmatest.ActorCtx(), directory.User{UserName: "norest@example.org", AccountType: "Pro", Active: true})
	if err != nil {
		t.Fatalf("CreateUser with REST down: %v", err)
	}
	if got := sentUserTypes(t, e.srv); !slices.Equal(got, []string{`"pro"`}) {
		t.Errorf("userType sent = %q, want \"pro\"", got)
	}
	if !strings.EqualFold(u.AccountType, "pro") {
		t.Errorf("AccountType = %q", u.AccountType)
	}
}

// TestTwoReplicas: two bridges (own clients, own locks) over one org and
// one store. Concurrent creates of one userName give exactly one user:
// the first answers it, the others a conflict — or, while the first has
// not recorded its outcome yet, the member too (a create on the other
// replica cannot tell it from an attempt whose answer was lost); a delete
// on one replica is a 404 on the other at once; the other's create
// revives the member.
func TestTwoReplicas(t *testing.T) {
	a := newEnv(t, envOpts{fake: sigmafake.Options{Members: 2}})
	b := scimdir.New(newSCIM(t, a.srv, nil, nil), nil, a.store, scimdir.Options{}, nil, nil)
	dirs := []*scimdir.Directory{a.dir, b}
	ctx := sigmatest.ActorCtx()
	const n = 8
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ok, conf int
		ids      = map[string]bool{}
		other    []error
	)
	for i := range n {
		wg.Go(func() {
			u, err := dirs[i%2].CreateUser(ctx, directory.User{UserName: "twin@example.org", Active: true})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
				ids[u.ID] = true
			case errors.Is(err, directory.ErrConflict):
				conf++
			default:
				other = append(other, err)
			}
		})
	}
	wg.Wait()
	if ok < 1 || ok > 2 || len(ids) != 1 || conf != n-ok {
		t.Fatalf("%d concurrent creates over two replicas: %d ok (ids %v), %d conflict, others %v", n, ok, ids, conf, other)
	}
	us, err := b.LookupUsers(ctx, directory.AttrUserName, "twin@example.org")
	if err != nil || len(us) != 1 {
		t.Fatalf("lookup on replica b: %v, %v", us, err)
	}
	if err := a.dir.DeleteUser(ctx, us[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetUser(ctx, us[0].ID); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("replica b after delete on a: %v, want ErrNotFound", err)
	}
	again, err := b.CreateUser(ctx, directory.User{UserName: "twin@example.org", Active: true})
	if err != nil || again.ID != us[0].ID {
		t.Errorf("revive on replica b = %s, %v; want %s", again.ID, err, us[0].ID)
	}
	if _, err := a.dir.GetUser(ctx, us[0].ID); err != nil {
		t.Errorf("replica a after revive on b: %v", err)
	}
}

// TestNoSecretInLogsOrErrors: the SCIM token is in no log line and no
// error, also when Sigma rejects it.
func TestNoSecretInLogsOrErrors(t *testing.T) {
	const tok = "very-secret-scim-token-0123456789"
	var buf strings.Builder
	var bmu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		bmu.Lock()
		defer bmu.Unlock()
		return buf.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := sigmatest.Fake(t, sigmafake.Options{SCIMToken: tok})
	st := sigmatest.OpenStore(t)
	sc := newSCIM(t, srv, secret.NewStatic(secret.Value(tok)), nil)
	d := scimdir.New(sc, nil, st, scimdir.Options{}, nil, logger)
	ctx := sigmatest.ActorCtx()
	var errs []error
	_, err := d.CreateUser(ctx, directory.User{UserName: "s@example.org", Active: true})
	errs = append(errs, err)
	srv.SetSCIMToken("another")
	_, err = d.ListUsers(ctx)
	errs = append(errs, err, d.Ready(ctx))
	if errs[1] == nil || errs[2] == nil {
		t.Fatalf("want failures with a rejected token, got %v", errs)
	}
	for _, err := range errs {
		if err != nil && strings.Contains(err.Error(), tok) {
			t.Errorf("error carries the token: %v", err)
		}
	}
	bmu.Lock()
	defer bmu.Unlock()
	if strings.Contains(buf.String(), tok) {
		t.Errorf("log carries the token:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), "sigma scim token was rejected") {
		t.Errorf("log does not say the token was rejected:\n%s", buf.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestDeactivatedMembers: Sigma's SCIM lets an IdP drop a deactivated
// member from a group but refuses to add one; that refusal is an
// *InvalidValueError naming the member.
func TestDeactivatedMembers(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := sigmatest.ActorCtx()
	a, err := e.dir.CreateUser(ctx, directory.User{UserName: "keep@example.org", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.dir.CreateUser(ctx, directory.User{UserName: "leave@example.org", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	g, err := e.dir.CreateGroup(ctx, directory.Group{DisplayName: "Deact", Members: []directory.Ref{{ID: a.ID}, {ID: b.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	b.Active = false
	if _, err := e.dir.ReplaceUser(ctx, b); err != nil {
		t.Fatal(err)
	}
	if _, err := e.dir.ModifyGroupMembers(ctx, g.ID, nil, []string{b.ID}); err != nil {
		t.Errorf("removing a deactivated member: %v", err)
	}
	g.DisplayName = "Deact Renamed"
	g.Members = []directory.Ref{{ID: a.ID}}
	got, err := e.dir.ReplaceGroup(ctx, g)
	if err != nil {
		t.Fatalf("replace dropping a deactivated member: %v", err)
	}
	if got.DisplayName != "Deact Renamed" {
		t.Errorf("rename lost: %q", got.DisplayName)
	}
	other, err := e.dir.CreateGroup(ctx, directory.Group{DisplayName: "Other"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.dir.ModifyGroupMembers(ctx, other.ID, []string{b.ID}, nil)
	var ive *directory.InvalidValueError
	if !errors.As(err, &ive) || ive.Attribute != "members" || ive.Value != b.ID {
		t.Errorf("adding a deactivated member: %v, want *InvalidValueError for members %s", err, b.ID)
	}
}

// TestDeactivatedOnRESTPath: a member the REST path deactivated (archived,
// which Sigma's SCIM no longer shows) keeps answering by id on the SCIM
// path, as inactive and with the same ETag, and the IdP's reactivation
// works, as it would have on the REST path.
func TestDeactivatedOnRESTPath(t *testing.T) {
	e := newEnv(t, envOpts{rest: true})
	ctx := sigmatest.ActorCtx()
	rd := restdir.New(e.rest, e.store, restdir.Options{}, nil, nil)
	if err := rd.Load(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := rd.CreateUser(ctx, directory.User{UserName: "arch@example.org", GivenName: "Arch", FamilyName: "Ived", AccountType: "Pro", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rd.CreateGroup(ctx, directory.Group{DisplayName: "Arch Team", Members: []directory.Ref{{ID: u.ID}}}); err != nil {
		t.Fatal(err)
	}
	u.Active = false
	viaREST, err := rd.ReplaceUser(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := e.srv.Member(u.ID); !m.IsArchived {
		t.Fatalf("the REST path no longer archives on active=false; this test is moot: %+v", m)
	}

	got, err := e.dir.GetUser(ctx, u.ID)
	if err != nil {
		t.Fatalf("GetUser on the SCIM path: %v", err)
	}
	if got.Active || got.Version != viaREST.Version || got.AccountType != "Pro" || len(got.Groups) != 1 {
		t.Errorf("SCIM path shows %+v\nREST path showed %+v", got, viaREST)
	}

	// A rename while deactivated goes through REST; then the IdP
	// reactivates.
	got.FamilyName = "Renamed"
	if got, err = e.dir.ReplaceUser(ctx, got); err != nil || got.FamilyName != "Renamed" || got.Active {
		t.Fatalf("rename while deactivated = %+v, %v", got, err)
	}
	got.Active = true
	back, err := e.dir.ReplaceUser(ctx, got)
	if err != nil {
		t.Fatalf("reactivate: %v", err)
	}
	if !back.Active || back.FamilyName != "Renamed" {
		t.Errorf("after reactivation: %+v", back)
	}
	if m, _ := e.srv.Member(u.ID); m.IsArchived || m.IsInactive || m.LastName != "Renamed" {
		t.Errorf("member after reactivation: %+v", m)
	}
	if us, err := e.dir.LookupUsers(ctx, directory.AttrUserName, "arch@example.org"); err != nil || len(us) != 1 {
		t.Errorf("lookup after reactivation: %v, %v", us, err)
	}
}

func mustCreate(t *testing.T, ctx context.Context, d directory.Directory, email string) directory.User {
	t.Helper()
	u, err := d.CreateUser(ctx, directory.User{UserName: email, GivenName: "Test", FamilyName: "User", Active: true})
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", email, err)
	}
	return u
}

// TestIdPUserName: the userName a JumpCloud-style IdP sent (not an email)
// is kept in the store, returned on every read, found by LookupUsers
// without asking Sigma, part of the Version (as on the REST path), unique
// among live users, and freed by a delete.
// TestIdPUserNameSameOnRESTPath: the IdP's own userName is kept in the
// store, so the REST path reads the same user, with the same Version
// (directorytest covers the rest of its behaviour on every path).
func TestIdPUserNameSameOnRESTPath(t *testing.T) {
	e := newEnv(t, envOpts{fake: sigmafake.Options{Members: 3}, rest: true})
	ctx := sigmatest.ActorCtx()
	u, err := e.dir.CreateUser(ctx, directory.User{UserName: "kj@example.org", IdPUserName: "KJohnson", ExternalID: "jc-1", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := e.store.GetResource(ctx, store.KindUser, u.ID); err != nil || rec.UserName != "KJohnson" || rec.ExternalID != "jc-1" {
		t.Errorf("store record = %+v, %v; want UserName KJohnson, ExternalID jc-1", rec, err)
	}
	rd := restdir.New(e.rest, e.store, restdir.Options{}, nil, nil)
	if err := rd.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := rd.GetUser(ctx, u.ID); err != nil || got.IdPUserName != "KJohnson" || got.Version != u.Version {
		t.Errorf("the REST path reads %+v, %v; want the same IdPUserName and Version %s", got, err, u.Version)
	}
}
