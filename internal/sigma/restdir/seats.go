package restdir

import (
	"context"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/scimbridge/scim-bridge/internal/sigma"
)

// Snapshot is a read-only summary of the index, for metrics and the
// status page.
type Snapshot struct {
	// Loaded is false until the first full load; the counts are then empty.
	Loaded bool
	// LastLoad is when the last full load succeeded (zero: none yet).
	LastLoad time.Time
	// Members (archived and inactive included), Teams and Stale (entries
	// another writer changed, not re-read yet).
	Members, Teams, Stale int
	// Seats counts members by account type and state.
	Seats sigma.SeatCounts
}

// Snapshot summarises the index now. It makes no upstream call and holds
// the index's read lock for one pass over the members.
func (d *Directory) Snapshot() Snapshot {
	d.stateMu.Lock()
	loaded := d.loaded
	d.stateMu.Unlock()
	s := Snapshot{Loaded: loaded, Seats: sigma.SeatCounts{}, Stale: d.idx.staleCount()}
	if !loaded {
		return s
	}
	var g dto.Metric
	if d.m.lastResync.Write(&g) == nil && g.GetGauge().GetValue() > 0 {
		s.LastLoad = time.Unix(0, int64(g.GetGauge().GetValue()*1e9)).UTC()
	}
	d.idx.read(func(x *indexData) {
		s.Members, s.Teams = len(x.members), len(x.teams)
		for _, m := range x.members {
			s.Seats[m.member().Seat()]++
		}
	})
	return s
}

// RefreshStale re-reads from Sigma up to max members that another writer
// (another replica, or this process's SCIM path) changed, one GET each,
// so the index — and the seat count taken from it — follows writes made
// elsewhere within a poll interval instead of at the next resync. It
// returns how many it re-read. A failure stops the round; the members
// stay marked for the next one.
func (d *Directory) RefreshStale(ctx context.Context, max int) (int, error) {
	ids := d.idx.staleMemberIDs(max)
	for i, id := range ids {
		if _, _, err := d.member(ctx, id); err != nil {
			return i, err
		}
	}
	return len(ids), nil
}

// staleMemberIDs returns up to max ids of members marked stale.
func (ix *index) staleMemberIDs(max int) []string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var out []string
	for k := range ix.stale {
		if id, ok := strings.CutPrefix(k, userKey("")); ok {
			if len(out) >= max {
				break
			}
			out = append(out, id)
		}
	}
	return out
}
