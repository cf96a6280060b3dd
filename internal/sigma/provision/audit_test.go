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
		writes := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "writes_total"}, []string{"operation", "outcome"})
		a := &Auditor{Store: st, Now: time.Now, Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: lvl})),
			Writes: writes, Failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "failures_total"}), LogMessage: "write"}
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
