package provision

import (
	"bytes"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/store"
	"github.com/scimbridge/scim-bridge/internal/store/sqlite"
)

// TestAuditorRecordsTheTarget: the entry keeps the target, the actor and
// the outcome; the email reaches the log at debug only and no metric.
func TestAuditorRecordsTheTarget(t *testing.T) {
	ctx := directory.WithActor(t.Context(), directory.Actor{RequestID: "req-1", TokenName: "okta"})
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "state.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, lvl := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		var logs bytes.Buffer
		writes, failures := WriteMetrics(prometheus.NewRegistry(), sigma.PathREST)
		a := &Auditor{Store: st, Now: time.Now, Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: lvl})),
			Writes: writes, Failures: failures, LogMessage: "write"}
		target := store.Target{Name: "ana." + lvl.String() + "@example.com", UserName: "ana"}
		a.Intent(ctx, store.AuditEntry{Operation: OpUserDelete, Kind: store.KindUser, ResourceID: "m1", Target: target, Detail: "tombstone"})
		a.Record(ctx, store.AuditEntry{Operation: OpUserDelete, Kind: store.KindUser, ResourceID: "m1", Target: target, Outcome: store.OutcomeOK,
			Detail: "tombstoned"}, errors.New("Sigma answered 500"))

		got, err := st.ListAudit(ctx, store.AuditFilter{Target: target.Name})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Outcome != store.OutcomeFailed || got[0].Target != target || got[0].RequestID != "req-1" ||
			got[0].TokenName != "okta" || got[0].Detail != "tombstoned: Sigma answered 500" ||
			got[1].Outcome != store.OutcomePending || got[1].Target != target {
			t.Errorf("%s: entries %+v; want the failed outcome after its intent, both targeting %+v", lvl, got, target)
		}
		if n := testutil.ToFloat64(writes.WithLabelValues(OpUserDelete, "failed")); n != 1 {
			t.Errorf("%s: writes{user.delete,failed} = %v, want 1 (the intent is not a decision)", lvl, n)
		}
		if mention := strings.Contains(logs.String(), target.Name); mention != (lvl == slog.LevelDebug) {
			t.Errorf("%s: the email in the log is %t; want it at debug only:\n%s", lvl, mention, logs.String())
		}
		if !strings.Contains(logs.String(), "id=m1") {
			t.Errorf("%s: the log does not name the id:\n%s", lvl, logs.String())
		}
	}
}

// TestWriteMetricsOneFamily: both paths count into one family per concern,
// told apart by the path label, on one registry; the audit failures of
// each path exist at zero before the first.
func TestWriteMetricsOneFamily(t *testing.T) {
	reg := prometheus.NewRegistry()
	rest, _ := WriteMetrics(reg, sigma.PathREST)
	scim, scimFailures := WriteMetrics(reg, sigma.PathSCIM)
	rest.WithLabelValues(OpUserCreate, "ok").Inc()
	scim.WithLabelValues(OpUserCreate, "ok").Add(2)
	scimFailures.Inc()
	want := `
# HELP scim_bridge_sigma_directory_audit_failures_total Audit entries the store refused to append (the Sigma change was applied), by path (rest, scim).
# TYPE scim_bridge_sigma_directory_audit_failures_total counter
scim_bridge_sigma_directory_audit_failures_total{path="rest"} 0
scim_bridge_sigma_directory_audit_failures_total{path="scim"} 1
# HELP scim_bridge_sigma_directory_writes_total Audited write decisions of the Sigma directories, by path (rest, scim), operation and outcome.
# TYPE scim_bridge_sigma_directory_writes_total counter
scim_bridge_sigma_directory_writes_total{operation="user.create",outcome="ok",path="rest"} 1
scim_bridge_sigma_directory_writes_total{operation="user.create",outcome="ok",path="scim"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
