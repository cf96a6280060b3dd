package app

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scim-bridge/internal/store"
	"github.com/scimbridge/scim-bridge/internal/store/sqlite"
)

// TestQueryAuditByTarget: --user and --group select by the entries'
// targets, exactly (whole, any case) and through renames, and still find
// the entries written before the trail kept targets by their detail.
func TestQueryAuditByTarget(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	n := 0
	add := func(op string, kind store.Kind, id string, target store.Target, detail string) {
		t.Helper()
		n++
		if _, err := st.AppendAudit(ctx, store.AuditEntry{Time: t0.Add(time.Duration(n) * time.Minute), RequestID: fmt.Sprint("r", n),
			Operation: op, Kind: kind, ResourceID: id, Outcome: store.OutcomeOK, Target: target, Detail: detail}); err != nil {
			t.Fatal(err)
		}
	}
	_ = st.Close()
	// Entries as a build before schema 6 wrote them: no target columns.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for i, row := range [][3]string{
		{"user.create", "m1", "created user ana@example.com"},
		{"user.create", "m9", "created user jimbo@example.com"},
		{"user.create", "", "userName bo@example.com: Sigma refused"},
	} {
		n++
		if _, err := db.ExecContext(ctx, `INSERT INTO audit (time, request_id, operation, kind, resource_id, outcome, detail)
			VALUES (?, ?, ?, 'user', ?, 'ok', ?)`, t0.Add(time.Duration(n)*time.Minute).UnixMicro(), fmt.Sprint("old", i), row[0], row[1], row[2]); err != nil {
			t.Fatal(err)
		}
	}
	_ = db.Close()
	if st, err = sqlite.Open(ctx, path, sqlite.Options{}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Since the upgrade: ana renamed (found by both names through m1), a
	// member first named by its deletion, a failed create without an id, a
	// team renamed, and an entry whose detail names bo but targets another.
	add("user.replace", store.KindUser, "m1", store.Target{Name: "ana.new@example.com", UserName: "ana"}, "changed userName")
	add("user.delete", store.KindUser, "m2", store.Target{Name: "Bo@Example.com"}, "tombstoned")
	add("user.create", store.KindUser, "", store.Target{Name: "cy@example.com"}, "userName cy@example.com: refused")
	add("group.create", store.KindGroup, "g1", store.Target{Name: "Finance"}, `created group "Finance" with 0 members`)
	add("group.replace", store.KindGroup, "g1", store.Target{Name: "Money"}, "changed displayName")
	add("group.members", store.KindGroup, "g1", store.Target{}, "changed members +1 -0")
	add("user.replace", store.KindUser, "m3", store.Target{Name: "dee@example.com"}, "changed givenName (was bo@example.com's)")

	cases := []struct {
		q    AuditQuery
		want string // request ids, newest first
	}{
		{AuditQuery{User: "ana@example.com"}, "[r4 old0]"},     // the legacy create names it; the rename follows m1
		{AuditQuery{User: "ANA.NEW@example.com"}, "[r4 old0]"}, // by target, then every entry of m1
		{AuditQuery{User: "ana"}, "[r4 old0]"},                 // the IdP's userName
		{AuditQuery{User: "bo@example.com"}, "[r5 old2]"},      // not jimbo, not dee's entry that mentions bo
		{AuditQuery{User: "cy@example.com"}, "[r6]"},           // no id, found by target
		{AuditQuery{User: "example.com"}, "[]"},                // whole names only
		{AuditQuery{Group: "finance"}, "[r9 r8 r7]"},           // and the rename and the members change, by id
		{AuditQuery{Group: "Money"}, "[r9 r8 r7]"},             //
		{AuditQuery{User: "Finance"}, "[]"},                    // a group is no user
		{AuditQuery{ID: "m1"}, "[r4 old0]"},                    //
		{AuditQuery{User: "ana@example.com", Since: t0.Add(3 * time.Minute)}, "[r4]"},
	}
	for _, c := range cases {
		got, err := QueryAudit(ctx, st, c.q)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, e := range got {
			ids = append(ids, e.RequestID)
		}
		if fmt.Sprint(ids) != c.want {
			t.Errorf("QueryAudit(%+v) = %v, want %v", c.q, ids, c.want)
		}
	}

	// The table names each target; a legacy entry shows none (its detail
	// names the user).
	got, err := QueryAudit(ctx, st, AuditQuery{User: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := WriteAuditTable(&b, got); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	if !strings.Contains(lines[1], " ana.new@example.com (ana) ") || strings.Fields(lines[2])[4] != "-" {
		t.Errorf("table:\n%s", b.String())
	}
	b.Reset()
	if err := WriteAuditJSON(&b, got); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"target":"ana.new@example.com","target_user_name":"ana"`) || strings.Count(b.String(), `"legacy":true`) != 1 {
		t.Errorf("JSON:\n%s", b.String())
	}
}

// TestStatusPageShowsAuditTargets: the page's audit table names each
// entry's target, and marks an entry written before targets.
func TestStatusPageShowsAuditTargets(t *testing.T) {
	var b strings.Builder
	err := statusTmpl.Execute(&b, statusData{Now: time.Now(), Audit: []store.AuditEntry{
		{ID: 2, Time: time.Now(), Operation: "user.create", Kind: store.KindUser, ResourceID: "m2", Outcome: store.OutcomeOK,
			Target: store.Target{Name: "lin@example.com", UserName: "lin"}},
		{ID: 1, Time: time.Now(), Operation: "user.create", Kind: store.KindUser, ResourceID: "m1", Outcome: store.OutcomeOK,
			Legacy: true, Detail: "created user old@example.com"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if !strings.Contains(page, "<th>target</th>") || !strings.Contains(page, "<td>lin@example.com (lin)</td>") ||
		!strings.Contains(page, `title="written before the trail kept targets: see the detail"`) {
		t.Errorf("the audit table lacks the targets:\n%s", page[strings.Index(page, `<section id="audit"`):])
	}
}
