package provision

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/store"
)

// Auditor appends a directory's write decisions to the store's audit
// trail, logs them and counts them.
type Auditor struct {
	Store store.Store
	Now   func() time.Time
	Log   *slog.Logger
	// Writes counts decisions by operation and outcome; Failures counts
	// entries the store refused. WriteMetrics gives both for a path.
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

// WriteMetrics returns the counters of one Sigma path's write decisions
// (path sigma.PathREST or sigma.PathSCIM), from the two families both
// paths share, registered in reg by whichever path comes first:
// scim_bridge_sigma_directory_writes_total{path,operation,outcome} and
// scim_bridge_sigma_directory_audit_failures_total{path}, the latter
// pre-created at zero.
func WriteMetrics(reg prometheus.Registerer, path string) (writes *prometheus.CounterVec, failures prometheus.Counter) {
	w := sigma.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "scim_bridge_sigma_directory_writes_total",
		Help: "Audited write decisions of the Sigma directories, by path (rest, scim), operation and outcome.",
	}, []string{"path", "operation", "outcome"}))
	f := sigma.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "scim_bridge_sigma_directory_audit_failures_total",
		Help: "Audit entries the store refused to append (the Sigma change was applied), by path (rest, scim).",
	}, []string{"path"}))
	return w.MustCurryWith(prometheus.Labels{"path": path}), f.WithLabelValues(path)
}

// auditDetailMax bounds an audit entry's detail.
const auditDetailMax = 500

// Record records one decision with the directory.Actor of ctx: e names
// the operation, the resource (Kind, ResourceID, Target), the outcome and
// the detail; the time, actor and upstream status are filled in here.
// err, when set, is appended to the detail and turns an OutcomeOK into
// OutcomeFailed. A failing audit store does not fail the request (Sigma
// has already changed); it is logged and counted.
func (a *Auditor) Record(ctx context.Context, e store.AuditEntry, err error) {
	if err != nil {
		if e.Outcome == store.OutcomeOK {
			e.Outcome = store.OutcomeFailed
		}
		if e.Detail != "" {
			e.Detail += ": "
		}
		e.Detail += err.Error()
	}
	actor := directory.ActorFrom(ctx)
	e.Time, e.RequestID, e.TokenName = a.Now(), actor.RequestID, actor.TokenName
	e.UpstreamStatus = UpstreamStatus(err)
	e.Detail = Truncate(a.DetailPrefix+e.Detail, auditDetailMax)
	a.Writes.WithLabelValues(e.Operation, string(e.Outcome)).Inc()
	lvl := slog.LevelInfo
	if e.Outcome == store.OutcomeFailed {
		lvl = slog.LevelWarn
	}
	// Ids at info; the target and the detail, which name emails and team
	// names, at debug only.
	a.Log.Log(ctx, lvl, a.LogMessage, "op", e.Operation, "id", e.ResourceID, "outcome", string(e.Outcome),
		"upstream_status", e.UpstreamStatus, "request_id", actor.RequestID)
	a.Log.DebugContext(ctx, a.LogMessage+": detail", "op", e.Operation, "id", e.ResourceID, "target", e.Target.Name,
		"detail", e.Detail, "request_id", actor.RequestID)
	a.append(ctx, e)
	if a.After != nil {
		a.After()
	}
}

// Intent appends an entry (outcome pending) saying that the write e
// describes (Operation, Kind, ResourceID, Target, Detail) is about to be
// sent upstream, so that other replicas learn of it even if this process
// dies before Record: they re-read the resource until an entry with the
// write's outcome follows. It is not a decision: not counted, and logged
// at debug. It returns the entry's ID (0 if the store refused it).
func (a *Auditor) Intent(ctx context.Context, e store.AuditEntry) int64 {
	actor := directory.ActorFrom(ctx)
	e.Time, e.RequestID, e.TokenName, e.Outcome = a.Now(), actor.RequestID, actor.TokenName, store.OutcomePending
	e.Detail = Truncate(a.DetailPrefix+"intent: "+e.Detail, auditDetailMax)
	a.Log.DebugContext(ctx, a.LogMessage+": intent", "op", e.Operation, "id", e.ResourceID, "target", e.Target.Name,
		"detail", e.Detail, "request_id", actor.RequestID)
	return a.append(ctx, e)
}

func (a *Auditor) append(ctx context.Context, e store.AuditEntry) int64 {
	stored, err := a.Store.AppendAudit(context.WithoutCancel(ctx), e)
	if err != nil {
		a.Failures.Inc()
		a.Log.Error("append audit entry", "op", e.Operation, "id", e.ResourceID, "outcome", string(e.Outcome), "err", err)
		return 0
	}
	return stored.ID
}
