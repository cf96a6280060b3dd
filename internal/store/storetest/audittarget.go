package storetest

import (
	"testing"

	"github.com/scimbridge/scim-bridge/internal/store"
)

// V1Audit is an audit entry an upgrade test writes into a database at
// schema version 1 (before targets, schema 6) with that version's own
// SQL; CheckV1Audit expects it back as Legacy.
var V1Audit = store.AuditEntry{RequestID: "req-v1", TokenName: "okta", Operation: "user.create", Kind: store.KindUser,
	ResourceID: "m1", Outcome: store.OutcomeOK, UpstreamStatus: 201, Detail: "created user Old@Example.com"}

// CheckV1Audit checks, on a store upgraded from version 1 holding
// V1Audit, that the entry reads back Legacy with no target, that Mention
// still finds it by its detail and Target does not, and that an entry
// appended since is targeted and not Legacy.
func CheckV1Audit(t *testing.T, s store.Store) {
	t.Helper()
	ctx := ctxFor(t)
	next, err := s.AppendAudit(ctx, store.AuditEntry{Operation: "user.delete", Kind: store.KindUser, ResourceID: "m1",
		Outcome: store.OutcomeOK, Detail: "tombstoned", Target: store.Target{Name: "old@example.com"}})
	must(t, "append after the upgrade", err)
	list, err := s.ListAudit(ctx, store.AuditFilter{Kind: store.KindUser, AboutIDs: []string{"m1"}})
	must(t, "list after the upgrade", err)
	if len(list) != 2 || list[0].ID != next.ID || list[0].Legacy || list[0].Target.Name != "old@example.com" {
		t.Fatalf("entries of m1 after the upgrade = %+v; want the new one first, targeted", list)
	}
	old := list[1]
	if !old.Legacy || old.Target != (store.Target{}) || old.Detail != V1Audit.Detail || old.ResourceID != "m1" || old.RequestID != "req-v1" {
		t.Errorf("version-1 entry reads back as %+v, want %+v marked Legacy", old, V1Audit)
	}
	byMention, err := s.ListAudit(ctx, store.AuditFilter{Kind: store.KindUser, Mention: "old@example.COM"})
	must(t, "list by mention", err)
	if len(byMention) != 1 || byMention[0].ID != old.ID {
		t.Errorf("mention of the email = %+v; want the version-1 entry only (the new one is found by target)", byMention)
	}
	byTarget, err := s.ListAudit(ctx, store.AuditFilter{Kind: store.KindUser, Target: "old@example.com"})
	must(t, "list by target", err)
	if len(byTarget) != 1 || byTarget[0].ID != next.ID {
		t.Errorf("target old@example.com = %+v; want the new entry only", byTarget)
	}
}
