package app

import (
	"bytes"
	"context"
	_ "embed"
	"html/template"
	"net/http"
	"slices"
	"time"

	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/restdir"
	"github.com/scimbridge/scim-bridge/internal/store"
	"github.com/scimbridge/scim-bridge/internal/tokens"
)

// The status page: /status on the admin listener, for a person. It is
// server-rendered from the same sources as /readyz and /metrics (no Sigma
// call of its own), needs an admin credential, and loads nothing from
// elsewhere: no script, no external style, font or image, so it works in
// a closed network under a Content-Security-Policy that forbids them.

//go:embed status.html
var statusHTML string

var statusTmpl = template.Must(template.New("status").Funcs(template.FuncMap{
	"ago": ago,
	"deref": func(t *time.Time) time.Time {
		if t == nil {
			return time.Time{}
		}
		return *t
	},
	"when":   when,
	"target": TargetText,
	"ms":     func(d time.Duration) string { return d.Round(100 * time.Microsecond).String() },
}).Parse(statusHTML))

// statusAuditEntries is how many of the latest audit entries the page shows.
const statusAuditEntries = 25

// statusData is what the template renders.
type statusData struct {
	Now        time.Time
	Build      BuildInfo
	Started    time.Time
	Ready      ReadyReport
	Paths      []pathStatus
	Index      *restdir.Snapshot // nil: no REST path
	Seats      SeatReport
	SeatRows   []seatRow
	SeatTotal  seatRow
	SeatLimits bool // some seat limit is configured: the table shows them
	Chart      seatChart
	Tokens     []tokens.TokenInfo
	TokensErr  string
	Audit      []store.AuditEntry
	AuditErr   string
	Replicas   []store.Replica
	ReplicaID  string // this process
	ReplicaErr string
}

// pathStatus is one Sigma path as the page shows it.
type pathStatus struct {
	Name       string
	Configured bool
	Live       bool
	Stats      ReachStats
}

// seatRow is one account type's seats, and its limit when one is
// configured (Limit 0: none).
type seatRow struct {
	AccountType                       string
	Active, Inactive, Archived, Total int
	Limit                             int
	// Level is "" below 90% of the limit, "warn" from 90%, "failed" at the
	// limit: the thresholds of the seat alerts.
	Level string
}

// setLimit records l on r.
func (r *seatRow) setLimit(l SeatLimit) {
	r.Limit = l.Limit
	switch {
	case l.Ratio() >= 1:
		r.Level = "failed"
	case l.Ratio() > 0.9:
		r.Level = "warn"
	}
}

// Percent is the active members as a share of the limit, rounded down.
func (r seatRow) Percent() int { return r.Active * 100 / r.Limit }

func (a *App) statusData(ctx context.Context) statusData {
	d := statusData{Now: time.Now().UTC(), Build: a.buildInfo, Started: a.started, Ready: a.Readiness(ctx)}
	for _, p := range []struct {
		name, mode string
		r          *reach
	}{{"Sigma REST API", "rest", a.restReach}, {"Sigma Enterprise SCIM", "scim", a.scimReach}} {
		ps := pathStatus{Name: p.name, Configured: p.r != nil, Live: d.Ready.Mode == p.mode}
		if p.r != nil {
			ps.Stats = p.r.Stats()
		}
		d.Paths = append(d.Paths, ps)
	}
	if a.restDir != nil {
		s := a.restDir.Snapshot()
		d.Index = &s
	}
	d.Seats = a.seatsFrom(d.Index)
	limits := d.Seats.Limits(a.cfg.Seats)
	types := d.Seats.AccountTypes()
	for _, l := range limits {
		if d.Seats.Source != "" && l.AccountType != "" && !slices.Contains(types, l.AccountType) {
			types = append(types, l.AccountType) // limited, no member yet
		}
	}
	slices.Sort(types)
	for _, t := range types {
		r := seatRow{AccountType: t,
			Active:   d.Seats.Seats[sigma.Seat{AccountType: t, State: sigma.SeatActive}],
			Inactive: d.Seats.Seats[sigma.Seat{AccountType: t, State: sigma.SeatInactive}],
			Archived: d.Seats.Seats[sigma.Seat{AccountType: t, State: sigma.SeatArchived}],
		}
		r.Total = r.Active + r.Inactive + r.Archived
		for _, l := range limits {
			if l.AccountType == t {
				r.setLimit(l)
			}
		}
		d.SeatRows = append(d.SeatRows, r)
		d.SeatTotal.Active += r.Active
		d.SeatTotal.Inactive += r.Inactive
		d.SeatTotal.Archived += r.Archived
		d.SeatTotal.Total += r.Total
	}
	if n := len(limits); n > 0 && limits[n-1].AccountType == "" {
		d.SeatTotal.setLimit(limits[n-1])
	}
	d.SeatLimits = len(limits) > 0
	d.Chart = newSeatChart(d.SeatRows)
	var err error
	if d.Tokens, err = a.tokens.List(ctx); err != nil {
		d.TokensErr = err.Error()
	}
	if d.Audit, err = QueryAudit(ctx, a.store, AuditQuery{Limit: statusAuditEntries}); err != nil {
		d.AuditErr = err.Error()
	}
	d.ReplicaID = a.replica.ID
	if d.Replicas, err = a.store.ListReplicas(ctx, d.Now.Add(-replicaShownFor)); err != nil {
		d.ReplicaErr = err.Error()
	}
	return d
}

// status renders the page. It is mounted behind the admin credential check.
func (a *App) status(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	var b bytes.Buffer
	if err := statusTmpl.Execute(&b, a.statusData(ctx)); err != nil {
		a.logger.Error("render the status page", "err", err)
		http.Error(w, "the status page could not be rendered; see the bridge's log", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write(b.Bytes())
}

// ago is "3m20s ago", or "never" for a zero time.
func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	if d < 0 {
		return "in " + (-d).Round(time.Second).String()
	}
	return d.Round(time.Second).String() + " ago"
}

// when is an RFC 3339 UTC time, or "—" for a zero time.
func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}
