package app

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimbridge/scim-bridge/internal/config"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/restdir"
)

// seatRefreshMax bounds the members one refresh round re-reads from
// Sigma (one GET each); a bulk change made through the other path catches
// up over several rounds or at the next full resync.
const seatRefreshMax = 50

// SeatReport is the seat count and where it came from.
type SeatReport struct {
	// Source is "rest_index" (every member, from the REST path's index),
	// "scim_list" (the last full user list read through Sigma's SCIM
	// endpoint: archived members are not in it) or "" (nothing read yet).
	Source string
	At     time.Time // when the source was last read in full
	Seats  sigma.SeatCounts
}

// AccountTypes returns the account types in r, sorted.
func (r SeatReport) AccountTypes() []string {
	set := map[string]bool{}
	for s := range r.Seats {
		set[s.AccountType] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// States returns the states the source can tell apart.
func (r SeatReport) States() []sigma.SeatState {
	if r.Source == "scim_list" {
		return []sigma.SeatState{sigma.SeatActive, sigma.SeatInactive}
	}
	return sigma.SeatStates
}

// Seats returns the seat count: from the REST index when REST is
// configured and loaded, else from the SCIM path's last full list. It
// makes no Sigma call.
func (a *App) Seats() SeatReport {
	var snap *restdir.Snapshot
	if a.restDir != nil {
		s := a.restDir.Snapshot()
		snap = &s
	}
	return a.seatsFrom(snap)
}

// seatsFrom is Seats over a snapshot of the REST index already taken (nil:
// no REST path).
func (a *App) seatsFrom(snap *restdir.Snapshot) SeatReport {
	if snap != nil && snap.Loaded {
		return SeatReport{Source: "rest_index", At: snap.LastLoad, Seats: snap.Seats}
	}
	if a.scimDir != nil {
		if seats, at, ok := a.scimDir.Seats(); ok {
			return SeatReport{Source: "scim_list", At: at, Seats: seats}
		}
	}
	return SeatReport{}
}

// SeatLimit is one of the contract's seat limits (config seats) and the
// active members it counts.
type SeatLimit struct {
	// AccountType is spelled as the seat source spells it when the
	// configured name differs only in case ("" for seats.total: every
	// account type together).
	AccountType string
	Limit, Used int
}

// Ratio is Used over Limit.
func (l SeatLimit) Ratio() float64 { return float64(l.Used) / float64(l.Limit) }

// Limits returns the configured seat limits against r: one per account
// type of seats.by_account_type, by name, then seats.total. Only active
// members count (archived and inactive ones hold no seat). Nil when no
// limit is configured.
func (r SeatReport) Limits(cfg config.Seats) []SeatLimit {
	var out []SeatLimit
	types := r.AccountTypes()
	for name, limit := range cfg.ByAccountType {
		if i := slices.IndexFunc(types, func(t string) bool { return strings.EqualFold(t, name) }); i >= 0 {
			name = types[i]
		}
		out = append(out, SeatLimit{AccountType: name, Limit: limit, Used: r.Seats[sigma.Seat{AccountType: name, State: sigma.SeatActive}]})
	}
	slices.SortFunc(out, func(a, b SeatLimit) int { return strings.Compare(a.AccountType, b.AccountType) })
	if cfg.Total > 0 {
		l := SeatLimit{Limit: cfg.Total}
		for s, n := range r.Seats {
			if s.State == sigma.SeatActive {
				l.Used += n
			}
		}
		out = append(out, l)
	}
	return out
}

// seatCollector exports scim_bridge_sigma_seats{account_type,state} at
// scrape time from App.Seats: every state the source can tell apart is
// exported for every account type present, 0 included, so sums and
// ratios do not lose series. While the source is briefly unavailable (the
// SCIM list being re-read) the last count is exported again.
//
// With seat limits configured it also exports
// scim_bridge_seats_limit{account_type} (SeatReport.Limits): one series per
// account type of seats.by_account_type, spelled as the seat count spells
// it, and one with account_type="" (no label, as Prometheus stores it) for
// seats.total.
type seatCollector struct {
	a     *App
	desc  *prometheus.Desc
	limit *prometheus.Desc
	mu    sync.Mutex
	last  SeatReport
}

func newSeatCollector(a *App) *seatCollector {
	return &seatCollector{a: a,
		desc: prometheus.NewDesc("scim_bridge_sigma_seats",
			"Sigma members by account type and state (active, inactive, archived): the seat count, from the REST index (kept current by every write) or, without REST credentials, from the last full SCIM user list.",
			[]string{"account_type", "state"}, nil),
		limit: prometheus.NewDesc("scim_bridge_seats_limit",
			"Active Sigma members the contract allows (config seats): per account type, or over all account types for the series without an account_type. Absent when not configured.",
			[]string{"account_type"}, nil),
	}
}

func (c *seatCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc; ch <- c.limit }

func (c *seatCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.a.Seats()
	c.mu.Lock()
	if r.Source == "" {
		r = c.last
	} else {
		c.last = r
	}
	c.mu.Unlock()
	for _, t := range r.AccountTypes() {
		for _, st := range r.States() {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue,
				float64(r.Seats[sigma.Seat{AccountType: t, State: st}]), t, string(st))
		}
	}
	for _, l := range r.Limits(c.a.cfg.Seats) {
		ch <- prometheus.MustNewConstMetric(c.limit, prometheus.GaugeValue, float64(l.Limit), l.AccountType)
	}
}

// runSeatRefresh re-reads, every interval, the members of the REST index
// another writer changed (RefreshStale), so the seat count follows writes
// made through the SCIM path or by other replicas.
func (a *App) runSeatRefresh(interval time.Duration) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				if n, err := a.restDir.RefreshStale(ctx, seatRefreshMax); err != nil && ctx.Err() == nil {
					a.logger.Warn("sigma index: re-reading members changed elsewhere failed", "refreshed", n, "err", err)
				}
			}
		}
	}
}

// indexInfo is the detail of the sigma_index readiness check.
func (a *App) indexInfo() string {
	s := a.restDir.Snapshot()
	if !s.Loaded {
		return ""
	}
	return fmt.Sprintf("%d members, %d teams, %d stale; last full load %s", s.Members, s.Teams, s.Stale, s.LastLoad.Format(time.RFC3339))
}
