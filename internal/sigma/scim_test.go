package sigma_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimbridge/scim-bridge/internal/secret"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmatest"
)

func newSCIM(t *testing.T, srv *sigmafake.Server, tok secret.Source, log *sigmatest.LogBuffer) (*sigma.SCIMClient, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	c, err := sigma.NewSCIMClient(sigma.SCIMConfig{
		BaseURL: srv.SCIMURL(), Token: tok, MaxRetries: 8, RequestsPerSecond: 1000,
		Logger: log.Logger(slog.LevelDebug),
	}, reg)
	if err != nil {
		t.Fatal(err)
	}
	sigma.SetSCIMRetryHooks(c, func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
		func(d time.Duration) time.Duration { return d })
	return c, reg
}

func user(email, userType string) sigma.SCIMUser {
	return sigma.SCIMUser{
		Schemas:  []string{sigma.SCIMUserSchema},
		UserName: email,
		Name:     sigma.SCIMName{GivenName: "Grace", FamilyName: "Hopper"},
		Emails:   []sigma.SCIMEmail{{Type: "work", Value: email, Primary: true}},
		Active:   true,
		UserType: userType,
	}
}

func TestSCIMUsersAndGroupsCRUD(t *testing.T) {
	srv := sigmatest.StartFake(t, sigmafake.Options{Members: 3, Seed: 21})
	log := &sigmatest.LogBuffer{}
	c, reg := newSCIM(t, srv, secret.NewStatic(sigmafake.DefaultSCIMToken), log)
	ctx := ctxT(t)
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	u, err := c.CreateUser(ctx, user("grace@example.com", "view"))
	if err != nil {
		t.Fatal(err)
	}
	id := u.ID
	if id == "" || u.UserName != "grace@example.com" || !u.Active || u.Meta == nil || u.Meta.Created.IsZero() {
		t.Fatalf("created %v", u)
	}
	if m, ok := srv.Member(id); !ok || m.MemberType != "View" {
		t.Errorf("emulator member %+v (%v)", m, ok)
	}
	_, err = c.CreateUser(ctx, user("grace@example.com", "view"))
	var ae *sigma.APIError
	if !errors.Is(err, sigma.ErrDuplicate) || !errors.As(err, &ae) || ae.Code != "uniqueness" || ae.Message == "" {
		t.Errorf("duplicate: %v", err)
	}
	got, err := c.GetUser(ctx, id)
	if err != nil || got.ID != id {
		t.Errorf("GetUser = %v, %v", got, err)
	}
	if _, err := c.GetUser(ctx, "missing"); !errors.Is(err, sigma.ErrNotFound) {
		t.Errorf("GetUser(missing) = %v", err)
	}
	found, ok, err := c.FindUserByUserName(ctx, "GRACE@example.com")
	if err != nil || !ok || found.ID != id {
		t.Errorf("FindUserByUserName = %v, %v, %v", found, ok, err)
	}
	if _, ok, err := c.FindUserByUserName(ctx, `no"body@example.com`); ok || err != nil {
		t.Errorf("FindUserByUserName(missing) = %v, %v", ok, err)
	}
	lr, err := c.FilterUsers(ctx, "", 2, 2)
	if err != nil || lr.TotalResults != 4 || len(lr.Resources) != 2 || lr.StartIndex != 2 {
		t.Errorf("FilterUsers page = %+v, %v", lr, err)
	}
	if _, err := c.FilterUsers(ctx, `emails co "x"`, 1, 10); err == nil || !strings.Contains(err.Error(), "invalidFilter") {
		t.Errorf("unsupported filter: %v", err)
	}

	rep := user("grace@example.com", "essential")
	rep.Name = sigma.SCIMName{GivenName: "Amazing", FamilyName: "Grace"}
	r, err := c.ReplaceUser(ctx, id, rep)
	if err != nil || r.UserType != "essential" {
		t.Errorf("ReplaceUser = %v, %v", r, err)
	}
	if _, _, err := c.PatchUser(ctx, id, []sigma.SCIMPatchOp{{Op: "replace", Value: map[string]any{"active": false}}}); err != nil {
		t.Fatal(err)
	}
	if m, _ := srv.Member(id); !m.IsInactive || m.FirstName != "Amazing" || m.MemberType != "Essential" {
		t.Errorf("after replace and patch: %+v", m)
	}

	g, err := c.CreateGroup(ctx, sigma.SCIMGroup{Schemas: []string{sigma.SCIMGroupSchema}, DisplayName: "Navy", Members: []sigma.SCIMRef{}})
	if err != nil {
		t.Fatal(err)
	}
	gid := g.ID
	if _, _, err := c.PatchGroup(ctx, gid, []sigma.SCIMPatchOp{{Op: "replace", Path: "displayName", Value: "Navy Reserve"}}); err != nil {
		t.Fatal(err)
	}
	fg, ok, err := c.FindGroupByDisplayName(ctx, "Navy Reserve")
	if err != nil || !ok || fg.ID != gid {
		t.Errorf("FindGroupByDisplayName = %v, %v, %v", fg, ok, err)
	}
	if _, err := c.ReplaceGroup(ctx, gid, sigma.SCIMGroup{Schemas: []string{sigma.SCIMGroupSchema}, DisplayName: "Navy Reserve",
		Members: []sigma.SCIMRef{{Value: srv.Members()[1].MemberID}}}); err != nil {
		t.Fatal(err)
	}
	if tm, _ := srv.Team(gid); len(tm.Members) != 1 {
		t.Errorf("team members after PUT: %v", tm.Members)
	}
	if gg, err := c.GetGroup(ctx, gid); err != nil || gg.DisplayName != "Navy Reserve" {
		t.Errorf("GetGroup = %v, %v", gg, err)
	}
	if lg, err := c.FilterGroups(ctx, sigma.SCIMFilterEq("displayName", "Navy Reserve"), 1, 10); err != nil || lg.TotalResults != 1 {
		t.Errorf("FilterGroups = %+v, %v", lg, err)
	}
	if err := c.DeleteGroup(ctx, gid); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetGroup(ctx, gid); !errors.Is(err, sigma.ErrNotFound) {
		t.Errorf("GetGroup after delete: %v", err)
	}
	if err := c.DeleteUser(ctx, id); err != nil {
		t.Fatal(err)
	}
	if m, _ := srv.Member(id); !m.IsArchived {
		t.Errorf("SCIM DELETE should deactivate: %+v", m)
	}
	if got := counter(t, reg, "scim_bridge_sigma_requests_total", map[string]string{"path": "scim", "endpoint": "/Users/{id}", "method": "DELETE", "reason": "ok"}); got != 1 {
		t.Errorf("scim delete counted %v", got)
	}
	AssertNoSecret(t, sigmafake.DefaultSCIMToken, log)
}

func TestSCIMTokenRereadOnceAfter401(t *testing.T) {
	srv := sigmatest.StartFake(t, sigmafake.Options{Members: 2, Seed: 22})
	path := filepath.Join(t.TempDir(), "scim-token")
	if err := os.WriteFile(path, []byte(sigmafake.DefaultSCIMToken), 0o600); err != nil {
		t.Fatal(err)
	}
	src := secret.NewFile(path)
	src.CheckEvery = time.Hour // only the Refresh after a 401 can see the new file
	log := &sigmatest.LogBuffer{}
	c, _ := newSCIM(t, srv, src, log)
	ctx := ctxT(t)
	id := srv.Members()[1].MemberID
	if _, err := c.GetUser(ctx, id); err != nil {
		t.Fatal(err)
	}

	const rotated = "rotated-scim-token-789"
	srv.SetSCIMToken(rotated)
	if err := os.WriteFile(path, []byte(rotated), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetUser(ctx, id); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	if got := srv.CountRequests(http.MethodGet, "/scim/v2/Users/"+id); got != 3 {
		t.Errorf("user reads = %d, want 3 (ok, 401, ok)", got)
	}

	// A token that stays wrong: one re-read, then a final ErrUnauthorized.
	srv.SetSCIMToken("something-else")
	before := srv.CountRequests(http.MethodGet, "/scim/v2/Users/"+id)
	_, err := c.GetUser(ctx, id)
	var ae *sigma.APIError
	if !errors.Is(err, sigma.ErrUnauthorized) || !errors.As(err, &ae) || ae.Retryable {
		t.Fatalf("wrong token: %v", err)
	}
	if got := srv.CountRequests(http.MethodGet, "/scim/v2/Users/"+id) - before; got != 2 {
		t.Errorf("attempts with a wrong token = %d, want 2", got)
	}
	AssertNoSecret(t, rotated, err, log)
	AssertNoSecret(t, sigmafake.DefaultSCIMToken, err, log)
}

func TestSCIMAmbiguousCreateIsResolvedByUserName(t *testing.T) {
	srv := sigmatest.StartFake(t, sigmafake.Options{Members: 1, Seed: 23})
	c, _ := newSCIM(t, srv, secret.NewStatic(sigmafake.DefaultSCIMToken), &sigmatest.LogBuffer{})
	ctx := ctxT(t)
	srv.SetFault("/scim/v2/Users", sigmafake.Fault{Ambiguous: 0.5, Status500: 0.2})
	for i := range 10 {
		email := "scim" + itoa(i) + "@example.com"
		u, err := c.CreateUser(ctx, user(email, "view"))
		if err != nil {
			t.Fatalf("create %s: %v", email, err)
		}
		if u.UserName != email {
			t.Fatalf("create %s returned %v", email, u)
		}
	}
	srv.ClearFaults()
	count := map[string]int{}
	for _, m := range srv.Members() {
		count[m.Email]++
	}
	for i := range 10 {
		if n := count["scim"+itoa(i)+"@example.com"]; n != 1 {
			t.Errorf("user %d exists %d times", i, n)
		}
	}
	dropped := 0
	for _, r := range srv.Requests() {
		if r.Method == http.MethodPost && r.Dropped {
			dropped++
		}
	}
	if dropped == 0 {
		t.Fatal("no create was dropped: the test exercised nothing")
	}
}
