package directorytest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/scimbridge/scim-bridge/internal/directory"
)

// RunDryRun runs the dry-run cases: newDir returns a directory in dry run
// (provisioning.dry_run) over an org with at least one member, and the
// harness must count upstream writes (UpstreamWrites) and read the audit
// trail (AuditOutcomes). A dry run answers like a real SCIM app — the ids
// its creates answered can be read, looked up, changed and deleted
// afterwards (JumpCloud's Test Connection creates then deletes; Okta's
// test reads the user back) — while nothing reaches Sigma and every
// would-be write is audited dry_run.
func RunDryRun(t *testing.T, newDir func(t *testing.T) Harness) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, h Harness, ctx context.Context)
	}{
		{"UserLifecycle", testDryRunUser},
		{"GroupLifecycle", testDryRunGroup},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newDir(t)
			if h.UpstreamWrites == nil || h.AuditOutcomes == nil {
				t.Fatal("harness: a dry-run harness counts upstream writes and reads the audit trail")
			}
			ctx := directory.WithActor(t.Context(), directory.Actor{RequestID: "dryrun", TokenName: "directorytest"})
			tc.fn(t, h, ctx)
			if n := h.UpstreamWrites(); n != 0 {
				t.Errorf("dry run sent %d writes upstream", n)
			}
		})
	}
}

// dryRunOutcomes checks that the trail has n dry_run entries for op on
// id, and no ok one.
func dryRunOutcomes(t *testing.T, h Harness, op, id string, n int) {
	t.Helper()
	outs := h.AuditOutcomes(op, id)
	if dry := len(slices.DeleteFunc(slices.Clone(outs), func(o string) bool { return o != "dry_run" })); dry != n || slices.Contains(outs, "ok") {
		t.Errorf("audit outcomes of %s %s = %q, want %d dry_run and no ok", op, id, outs, n)
	}
}

func testDryRunUser(t *testing.T, h Harness, ctx context.Context) {
	u := newUser("dry.run", "Dry", "Run")
	u.ExternalID = "ext-dry"
	got := mustCreateUser(t, ctx, h.Dir, u)
	if !strings.HasPrefix(got.ID, "dryrun-") {
		t.Errorf("dry-run create answered id %q, want dryrun-…", got.ID)
	}
	sameUser(t, "GetUser of a dry-run create", mustGetUser(t, ctx, h.Dir, got.ID), got)
	for attr, value := range map[directory.Attr]string{directory.AttrID: got.ID, directory.AttrUserName: strings.ToUpper(u.UserName),
		directory.AttrEmail: u.UserName, directory.AttrExternalID: "ext-dry"} {
		if ids := lookupUserIDs(t, ctx, h.Dir, attr, value); !slices.Equal(ids, []string{got.ID}) {
			t.Errorf("LookupUsers(%s %q) = %q, want %s", attr, value, ids, got.ID)
		}
	}
	_, err := h.Dir.CreateUser(ctx, u)
	wantErr(t, "a second dry-run create of the email", err, directory.ErrConflict)

	got.GivenName, got.Active = "Changed", false
	rep, err := h.Dir.ReplaceUser(ctx, got)
	if err != nil || rep.GivenName != "Changed" || rep.Active {
		t.Fatalf("dry-run ReplaceUser = %+v, %v", rep, err)
	}
	after := mustGetUser(t, ctx, h.Dir, got.ID)
	if after.GivenName != "Changed" || after.Active || after.ExternalID != "ext-dry" {
		t.Errorf("GetUser after a dry-run replace = %+v", after)
	}
	if err := h.Dir.DeleteUser(ctx, got.ID); err != nil {
		t.Fatalf("DeleteUser of a dry-run create: %v", err)
	}
	_, err = h.Dir.GetUser(ctx, got.ID)
	wantErr(t, "GetUser after a dry-run delete", err, directory.ErrNotFound)
	wantErr(t, "DeleteUser again", h.Dir.DeleteUser(ctx, got.ID), directory.ErrNotFound)
	_, err = h.Dir.ReplaceUser(ctx, got)
	wantErr(t, "ReplaceUser after a dry-run delete", err, directory.ErrNotFound)
	again := mustCreateUser(t, ctx, h.Dir, u)
	if again.ID != got.ID || !again.Active {
		t.Errorf("create after the dry-run delete = %+v, want %s active", again, got.ID)
	}
	dryRunOutcomes(t, h, "user.replace", got.ID, 1)
	dryRunOutcomes(t, h, "user.delete", got.ID, 1)
}

func testDryRunGroup(t *testing.T, h Harness, ctx context.Context) {
	a := mustCreateUser(t, ctx, h.Dir, newUser("dry.a", "Dry", "A"))
	b := mustCreateUser(t, ctx, h.Dir, newUser("dry.b", "Dry", "B"))
	g := mustCreateGroup(t, ctx, h.Dir, directory.Group{DisplayName: "Dry Run Team", ExternalID: "ext-dry-team", Members: []directory.Ref{{ID: a.ID}}})
	if !strings.HasPrefix(g.ID, "dryrun-") {
		t.Errorf("dry-run group create answered id %q, want dryrun-…", g.ID)
	}
	checkMembers(t, "GetGroup of a dry-run create", mustGetGroup(t, ctx, h.Dir, g.ID), a)
	for attr, value := range map[directory.Attr]string{directory.AttrDisplayName: "dry run team", directory.AttrExternalID: "ext-dry-team"} {
		if ids := lookupGroupIDs(t, ctx, h.Dir, attr, value); !slices.Equal(ids, []string{g.ID}) {
			t.Errorf("LookupGroups(%s %q) = %q, want %s", attr, value, ids, g.ID)
		}
	}
	_, err := h.Dir.CreateGroup(ctx, directory.Group{DisplayName: "Dry Run Team"})
	wantErr(t, "a second dry-run create of the name", err, directory.ErrConflict)
	if _, err := h.Dir.ModifyGroupMembers(ctx, g.ID, []string{b.ID}, []string{a.ID}); err != nil {
		t.Fatalf("ModifyGroupMembers of a dry-run group: %v", err)
	}
	checkMembers(t, "after a dry-run membership change", mustGetGroup(t, ctx, h.Dir, g.ID), b)
	var iv *directory.InvalidValueError
	if _, err := h.Dir.ModifyGroupMembers(ctx, g.ID, []string{"dryrun-0000000000000000"}, nil); !errors.As(err, &iv) {
		t.Errorf("adding a user no create answered: %v, want an *InvalidValueError", err)
	}
	g.DisplayName, g.Members = "Dry Run Renamed", []directory.Ref{{ID: a.ID}, {ID: b.ID}}
	if _, err := h.Dir.ReplaceGroup(ctx, g); err != nil {
		t.Fatalf("ReplaceGroup of a dry-run group: %v", err)
	}
	after := mustGetGroup(t, ctx, h.Dir, g.ID)
	if after.DisplayName != "Dry Run Renamed" {
		t.Errorf("GetGroup after a dry-run rename: %q", after.DisplayName)
	}
	checkMembers(t, "after a dry-run replace", after, a, b)
	if err := h.Dir.DeleteUser(ctx, a.ID); err != nil {
		t.Fatalf("DeleteUser of a dry-run member: %v", err)
	}
	checkMembers(t, "after its member's dry-run delete", mustGetGroup(t, ctx, h.Dir, g.ID), b)
	if err := h.Dir.DeleteGroup(ctx, g.ID); err != nil {
		t.Fatalf("DeleteGroup of a dry-run create: %v", err)
	}
	_, err = h.Dir.GetGroup(ctx, g.ID)
	wantErr(t, "GetGroup after a dry-run delete", err, directory.ErrNotFound)
	wantErr(t, "DeleteGroup again", h.Dir.DeleteGroup(ctx, g.ID), directory.ErrNotFound)
	dryRunOutcomes(t, h, "group.members", g.ID, 1)
	dryRunOutcomes(t, h, "group.replace", g.ID, 1)
	dryRunOutcomes(t, h, "group.delete", g.ID, 1)
}
