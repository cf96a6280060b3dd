package provision

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/store"
)

// Auditor appends a directory's write decisions to the store's audit
// trail, logs them and counts them. Each directory keeps its own metric
// names; the counters are its own.
type Auditor struct {
	Store store.Store
	Now   func() time.Time
	Log   *slog.Logger
	// Writes counts decisions by operation and outcome; Failures counts
	// entries the store refused.
	Writes   *prometheus.CounterVec
	Failures prometheus.Counter
	// DetailPrefix starts every entry's detail, telling the paths apart in
	// the trail ("via sigma scim: "); it may be empty.
	DetailPrefix string
	// LogMessage is the message of each decision's log line.
	LogMessage string
	// After, when set, is called after each decision is recorded (a
	// directory drops what it cached from before the write).
	After func()
}

// auditDetailMax bounds an audit entry's detail.
const auditDetailMax = 500

// Record records one decision with the directory.Actor of ctx. err, when
// set, is appended to detail and turns an OutcomeOK into OutcomeFailed. A
// failing audit store does not fail the request (Sigma has already
// changed); it is logged and counted.
func (a *Auditor) Record(ctx context.Context, op string, kind store.Kind, id string, outcome store.Outcome, err error, detail string) {
	if err != nil {
		if outcome == store.OutcomeOK {
			outcome = store.OutcomeFailed
		}
		if detail != "" {
			detail += ": "
		}
		detail += err.Error()
	}
	actor := directory.ActorFrom(ctx)
	e := store.AuditEntry{
		Time:           a.Now(),
		RequestID:      actor.RequestID,
		TokenName:      actor.TokenName,
		Operation:      op,
		Kind:           kind,
		ResourceID:     id,
		Outcome:        outcome,
		UpstreamStatus: UpstreamStatus(err),
		Detail:         Truncate(a.DetailPrefix+detail, auditDetailMax),
	}
	a.Writes.WithLabelValues(op, string(outcome)).Inc()
	lvl := slog.LevelInfo
	if outcome == store.OutcomeFailed {
		lvl = slog.LevelWarn
	}
	// Ids at info; the detail, which names emails and team names, at
	// debug only.
	a.Log.Log(ctx, lvl, a.LogMessage, "op", op, "id", id, "outcome", string(outcome), "upstream_status", e.UpstreamStatus,
		"request_id", actor.RequestID)
	a.Log.DebugContext(ctx, a.LogMessage+": detail", "op", op, "id", id, "detail", e.Detail, "request_id", actor.RequestID)
	a.append(ctx, e)
	if a.After != nil {
		a.After()
	}
}

// Intent appends an entry (outcome pending) saying that a write to
// (kind, id) is about to be sent upstream, so that other replicas learn of
// it even if this process dies before Record: they re-read id until an
// entry with the write's outcome follows. It is not a decision: not
// counted, and logged at debug.
func (a *Auditor) Intent(ctx context.Context, op string, kind store.Kind, id, detail string) {
	actor := directory.ActorFrom(ctx)
	e := store.AuditEntry{Time: a.Now(), RequestID: actor.RequestID, TokenName: actor.TokenName, Operation: op, Kind: kind,
		ResourceID: id, Outcome: store.OutcomePending, Detail: Truncate(a.DetailPrefix+"intent: "+detail, auditDetailMax)}
	a.Log.DebugContext(ctx, a.LogMessage+": intent", "op", op, "id", id, "detail", e.Detail, "request_id", actor.RequestID)
	a.append(ctx, e)
}

func (a *Auditor) append(ctx context.Context, e store.AuditEntry) {
	if _, err := a.Store.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		a.Failures.Inc()
		a.Log.Error("append audit entry", "op", e.Operation, "id", e.ResourceID, "outcome", string(e.Outcome), "err", err)
	}
}
