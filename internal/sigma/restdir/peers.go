package restdir

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/scimbridge/scim-bridge/internal/store"
)

// Peer changes.
//
// Every replica (and the SCIM path of this process) appends each write to
// the shared store's audit trail. PollPeers reads the recent trail and
// marks the members and teams other writers changed stale in the index;
// the next read that hits a stale entry re-reads it from Sigma (one GET)
// instead of answering from the index. Nothing is fetched from Sigma for
// entries nobody reads; the store records of the users marked are re-read
// (one query), so that a peer's delete or revive reaches the index's
// tombstones (tombstones.go) and the pages of users. ListUsers and
// ListGroups still answer from the index, so they may show a peer's other
// changes only after the next resync, and so may a user's groups (a team whose membership a peer changed is re-read when
// the team is read, not when one of its members is).

// DefaultPeerPollInterval is how often Start polls the audit trail for
// other replicas' writes when Options.PeerPollInterval is zero.
const DefaultPeerPollInterval = 5 * time.Second

// PeerPollOverlap is how far before the previous poll each poll starts
// reading the trail. An entry's time is stamped by its writer's clock just
// before it is inserted, so an entry can appear in the trail later than
// its time says (a slow insert, a commit that lands after one with a
// higher id, a replica whose clock is a little behind ours); the overlap
// is how late it may be and still be seen. Entries already handled are
// remembered by id, so the overlap costs a re-read, not a second refresh.
const PeerPollOverlap = 30 * time.Second

// peerPageSize is the most entries one poll reads. A full page means the
// poll may have missed older entries in its window, and the whole index is
// reloaded instead, which is costly upstream; so the page is large enough
// for about 140 audited decisions a second across all replicas (and the
// SCIM path) over a window of PeerPollOverlap plus the poll interval,
// several times what Sigma's default rate limit of 20 calls a second lets
// one replica do. A page costs the store one indexed query.
const peerPageSize = 5000

// peerListTimeout bounds one read of the trail; this process's own audit
// appends wait while it runs (see auditStore).
const peerListTimeout = 5 * time.Second

// intentTimeout is how long a peer's intent (an entry with outcome
// pending: a write about to be sent) is kept re-marked stale when no entry
// with the write's outcome follows, as when the writer died between its
// upstream write and its audit entry. It is longer than any write takes
// (the SCIM request timeout bounds one); after it the resource is marked
// once more, when the write has surely landed, and forgotten.
const intentTimeout = 2 * time.Minute

// ownAuditMax bounds the ids of this Directory's own entries that are
// remembered; PollPeers forgets those older than its window, but nothing
// polls when peer polling is off.
const ownAuditMax = 1 << 14

// auditStore is the store as the Auditor sees it: it remembers the id of
// every entry this Directory appends, so that PollPeers skips its own
// writes. An append holds appendGate for reading until its id is
// remembered, and PollPeers holds it for writing while it reads the trail,
// so the trail never shows PollPeers an own entry it does not yet know.
type auditStore struct {
	store.Store
	d *Directory
}

func (s auditStore) AppendAudit(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error) {
	s.d.appendGate.RLock()
	defer s.d.appendGate.RUnlock()
	out, err := s.Store.AppendAudit(ctx, e)
	if err == nil && marks(out) {
		s.d.rememberOwn(out)
	}
	return out, err
}

// marks reports whether e names a change to a member or team (rather than
// a decision that changed nothing).
func marks(e store.AuditEntry) bool {
	if e.ResourceID == "" || e.Outcome == store.OutcomeDryRun || e.Outcome == store.OutcomeSkipped {
		return false
	}
	return e.Kind == store.KindUser || e.Kind == store.KindGroup
}

func (d *Directory) rememberOwn(e store.AuditEntry) {
	d.peerStateMu.Lock()
	defer d.peerStateMu.Unlock()
	d.own[e.ID] = e.Time
	if len(d.own) <= ownAuditMax {
		return
	}
	// Nobody polls, or writes outrun the polls: forget what no poll can
	// list any more, and everything if that is not enough (the cost is a
	// needless refresh of entries this Directory wrote itself).
	horizon := d.opts.Now().Add(-2 * PeerPollOverlap)
	for id, t := range d.own {
		if t.Before(horizon) {
			delete(d.own, id)
		}
	}
	if len(d.own) > ownAuditMax {
		clear(d.own)
	}
}

// PollPeers reads the audit trail written since the previous poll (less
// PeerPollOverlap; since the last full load for the first poll) and marks
// stale every member and team another writer changed, so that the next
// read of one re-reads it from Sigma. It skips this Directory's own
// entries, entries it has handled already, and dry-run and skipped
// decisions. When the trail holds more entries in that window than one
// page, it reloads the whole index instead. Before the first full load it
// does nothing. Start calls it every Options.PeerPollInterval; tests call
// it directly.
func (d *Directory) PollPeers(ctx context.Context) error {
	d.peerMu.Lock()
	defer d.peerMu.Unlock()
	d.stateMu.Lock()
	from, loaded := d.pollFrom, d.loaded
	d.stateMu.Unlock()
	if !loaded {
		return nil
	}
	start := d.opts.Now()
	since := from.Add(-PeerPollOverlap)
	lctx, cancel := context.WithTimeout(ctx, peerListTimeout)
	d.appendGate.Lock()
	entries, err := d.store.ListAudit(lctx, store.AuditFilter{Since: since, Limit: d.peerPageSize})
	d.appendGate.Unlock()
	cancel()
	if err != nil {
		d.m.peerPolls.WithLabelValues("failed").Inc()
		return fmt.Errorf("poll peer changes: %w", err)
	}

	d.peerStateMu.Lock()
	var users, teams []string
	mark := func(k store.Kind, id string) {
		if k == store.KindUser {
			users = append(users, id)
		} else {
			teams = append(teams, id)
		}
	}
	for i := len(entries) - 1; i >= 0; i-- { // oldest first: an intent before its outcome
		e := entries[i]
		if _, ok := d.seen[e.ID]; ok {
			continue
		}
		d.seen[e.ID] = e.Time
		if _, ok := d.own[e.ID]; ok || !marks(e) {
			continue
		}
		key := pendingKey{e.Kind, e.ResourceID}
		if e.Outcome == store.OutcomePending {
			d.pending[key] = e.Time
		} else {
			delete(d.pending, key) // the write's outcome: the intent is complete
		}
		mark(e.Kind, e.ResourceID)
	}
	// Intents still without an outcome: the write may land after the
	// re-read a mark causes, so they are marked again every poll.
	for key, at := range d.pending {
		mark(key.kind, key.id)
		if start.Sub(at) > intentTimeout {
			delete(d.pending, key)
		}
	}
	// Entries older than this window are never listed again.
	for id, t := range d.seen {
		if t.Before(since) {
			delete(d.seen, id)
		}
	}
	for id, t := range d.own {
		if t.Before(since) {
			delete(d.own, id)
		}
	}
	d.peerStateMu.Unlock()

	if len(entries) >= d.peerPageSize {
		// Older entries of the window did not fit: reload everything. Load
		// moves the window to its own start.
		d.m.peerPolls.WithLabelValues("reload").Inc()
		d.log.Info("sigma index: too many changes since the last poll; reloading", "entries", len(entries))
		if err := d.Load(ctx); err != nil {
			// These entries are seen now: mark them at least.
			d.idx.markStale(users, teams)
			return fmt.Errorf("poll peer changes: %w", err)
		}
		return nil
	}
	d.idx.markStale(users, teams)
	slices.Sort(users)
	if err := d.refreshTombstones(ctx, slices.Compact(users)); err != nil {
		// The marks stand; a page still finds a delete on its own records.
		d.m.peerPolls.WithLabelValues("failed").Inc()
		return fmt.Errorf("poll peer changes: %w", err)
	}
	d.m.peerPolls.WithLabelValues("ok").Inc()
	d.m.staleMarks.Add(float64(len(users) + len(teams)))
	if len(users)+len(teams) > 0 {
		d.log.Debug("sigma index: marked entries other replicas changed", "members", len(users), "teams", len(teams))
	}
	d.advancePollFrom(start)
	return nil
}

// advancePollFrom moves the start of the next poll's window to t (less the
// overlap) unless it is there already.
func (d *Directory) advancePollFrom(t time.Time) {
	d.stateMu.Lock()
	defer d.stateMu.Unlock()
	if t.After(d.pollFrom) {
		d.pollFrom = t
	}
}
