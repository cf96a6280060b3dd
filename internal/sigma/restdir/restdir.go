// Package restdir is the directory.Directory over Sigma's REST API v2:
// SCIM users are Sigma members, SCIM groups are teams.
//
// Reads are answered from an in-memory index of every member (archived and
// inactive included) and every team with its members. The index is loaded
// in full at start, reloaded every Options.ResyncInterval, and updated by
// every write this process makes. A miss on a unique attribute is confirmed
// upstream with one targeted call (GET /v2/members?email=, GET
// /v2/members/{id}, GET /v2/teams?name=) before the answer is "none", so
// several bridge replicas sharing one org and one store stay correct
// without talking to each other. Lookups never scan upstream.
//
// Hits are kept current with other replicas' writes through the store's
// audit trail: every Options.PeerPollInterval, PollPeers marks the members
// and teams another writer changed stale, and the next read that hits one
// re-reads it with one GET (a group view re-reads its stale members too).
// ListUsers, ListGroups and a user's groups may lag until the next resync.
//
// What Sigma cannot hold lives in the store: externalIds, the IdP's own
// userNames of members whose userName was not their email (LookupUsers by
// userName finds them, the edge shows them to the IdP), and tombstones of
// users the IdP deleted (Sigma only deactivates members). Every write,
// and every decision in dry-run mode, is appended to the store's audit
// trail with the directory.Actor of the request.
package restdir

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"golang.org/x/sync/errgroup"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/provision"
	"github.com/scimbridge/scim-bridge/internal/store"
)

// DefaultResyncInterval is how often the index is reloaded in full when
// Options.ResyncInterval is zero.
const DefaultResyncInterval = 5 * time.Minute

// Options configure a Directory. The zero value is usable.
type Options struct {
	// DefaultAccountType is the account type given to users the IdP sends
	// without one. Empty: Sigma's org default (memberType is omitted on
	// create, and left unchanged on replace).
	DefaultAccountType string
	// DeprovisionOwnerID is the memberId that receives a member's
	// documents when it is deactivated or deleted (Sigma's newOwnerId).
	// Empty: documents stay with the deactivated member.
	DeprovisionOwnerID string
	// DryRun computes, logs and audits every decision (outcome dry_run) but
	// writes nothing to Sigma or to the store's resources; reads still work.
	// Results of writes are what the write would have produced; a user or
	// group "created" in dry run has an ID starting with "dryrun-" that
	// later reads and writes find in the dry-run record
	// (provision.DryRuns).
	DryRun bool
	// DryRuns is the dry-run record to share with the other path; nil:
	// this directory keeps its own.
	DryRuns *provision.DryRuns
	// ResyncInterval is how often the whole index is reloaded; default
	// DefaultResyncInterval.
	ResyncInterval time.Duration
	// PeerPollInterval is how often Start reads the store's audit trail
	// for writes other replicas made, marking what they changed stale in
	// the index (see PollPeers); default DefaultPeerPollInterval, negative
	// disables (the index then sees other replicas' writes at the next
	// resync only).
	PeerPollInterval time.Duration
	// Now is the clock for tombstones and audit entries; default time.Now.
	Now func() time.Time
}

// Directory implements directory.Directory over a sigma.Client: the reads
// here (GetUser and LookupUsers by provision.UserReads over userReader),
// the writes by the provision.Workflow over its ports (ports.go).
type Directory struct {
	*provision.Workflow
	provision.UserReads

	client *sigma.Client
	store  store.Store
	opts   Options
	log    *slog.Logger
	idx    *index
	m      *metrics
	rec    provision.Records
	audits *provision.Auditor

	// loadSem admits one full load at a time; a channel rather than a
	// mutex so that a caller whose context ends stops waiting (Start must
	// return at shutdown even while a probe's load is running).
	loadSem chan struct{}

	stateMu  sync.Mutex
	loaded   bool
	lastErr  error
	pollFrom time.Time // the next PollPeers reads from here less PeerPollOverlap

	// Peer polling (peers.go). peerMu serialises PollPeers; appendGate
	// keeps own audit appends out of a poll's read of the trail;
	// peerStateMu guards pending, own (ids of entries this Directory appended) and
	// seen (ids PollPeers has handled), both with the entry's time.
	peerMu       sync.Mutex
	appendGate   sync.RWMutex
	peerStateMu  sync.Mutex
	own          map[int64]time.Time
	seen         map[int64]time.Time
	pending      map[pendingKey]time.Time // peers' intents without an outcome yet, by intent time
	peerPageSize int
}

type pendingKey struct {
	kind store.Kind
	id   string
}

var _ directory.Directory = (*Directory)(nil)

// New returns a Directory that is not ready until Start (or Load) has
// completed one full load. reg may be nil (metrics not registered); logger
// may be nil (discard).
func New(client *sigma.Client, st store.Store, opts Options, reg prometheus.Registerer, logger *slog.Logger) *Directory {
	if opts.ResyncInterval <= 0 {
		opts.ResyncInterval = DefaultResyncInterval
	}
	if opts.PeerPollInterval == 0 {
		opts.PeerPollInterval = DefaultPeerPollInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Directory{client: client, store: st, opts: opts, log: logger, idx: newIndex(), loadSem: make(chan struct{}, 1),
		own: map[int64]time.Time{}, seen: map[int64]time.Time{}, pending: map[pendingKey]time.Time{}, peerPageSize: peerPageSize}
	d.m = newMetrics(reg, d.idx)
	d.rec = provision.Records{Store: recordStore{Store: st, d: d}, Now: opts.Now}
	d.audits = &provision.Auditor{Store: auditStore{Store: st, d: d}, Now: opts.Now, Log: logger, Writes: d.m.writes, Failures: d.m.auditFailures,
		LogMessage: "sigma directory write"}
	dry := provision.DryRunRecord(opts.DryRun, opts.DryRuns)
	ms, ts := dry.Overlay(members{d}, teams{d})
	d.UserReads = provision.NewUserReads(userReader{d}, d.rec, dry)
	d.Workflow = &provision.Workflow{
		Members: ms, Teams: ts, Records: d.rec, Audit: d.audits, DryRun: opts.DryRun, DryRuns: dry, Now: opts.Now,
		Types: provision.NewAccountTypes(provision.AccountTypesConfig{REST: client, Default: opts.DefaultAccountType, Log: logger}),
	}
	return d
}

// Start loads the index in full, retrying with backoff until it succeeds,
// then reloads it every Options.ResyncInterval and polls for other
// replicas' writes every Options.PeerPollInterval until ctx ends. It returns
// nil when ctx ends: a failed resync is logged and counted, and the
// directory keeps answering from its last picture.
func (d *Directory) Start(ctx context.Context) error {
	delay := time.Second
	for {
		err := d.Load(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		d.log.Warn("sigma index: first load failed, retrying", "err", err, "retry_in", delay)
		if !sleep(ctx, delay) {
			return nil
		}
		delay = min(delay*2, d.opts.ResyncInterval, time.Minute)
	}
	t := time.NewTicker(d.opts.ResyncInterval)
	defer t.Stop()
	var poll <-chan time.Time // nil (never ready) when peer polling is off
	if d.opts.PeerPollInterval > 0 {
		pt := time.NewTicker(d.opts.PeerPollInterval)
		defer pt.Stop()
		poll = pt.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := d.Load(ctx); err != nil && ctx.Err() == nil {
				d.log.Warn("sigma index: resync failed; serving the last picture", "err", err)
			}
		case <-poll:
			if err := d.PollPeers(ctx); err != nil && ctx.Err() == nil {
				d.log.Warn("sigma index: peer change poll failed", "err", err)
			}
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Load reads every member (archived and inactive included), every team
// and every team's members, and replaces the index with that picture
// (keeping writes this process made meanwhile). It clears the stale marks
// PollPeers made before it began. Start calls it; tests call it to resync
// on demand.
func (d *Directory) Load(ctx context.Context) error {
	select {
	case d.loadSem <- struct{}{}:
		defer func() { <-d.loadSem }()
	case <-ctx.Done():
		return fmt.Errorf("load sigma index: %w", ctx.Err())
	}
	start := d.opts.Now()
	d.idx.beginLoad()
	next, err := d.fetchAll(ctx)
	if err != nil {
		d.idx.abortLoad()
		d.m.resyncs.WithLabelValues("failed").Inc()
		d.stateMu.Lock()
		d.lastErr = err
		d.stateMu.Unlock()
		return fmt.Errorf("load sigma index: %w", err)
	}
	d.idx.commitLoad(next)
	now := d.opts.Now()
	d.m.resyncs.WithLabelValues("ok").Inc()
	d.m.lastResync.Set(float64(now.UnixNano()) / 1e9)
	d.stateMu.Lock()
	d.loaded, d.lastErr = true, nil
	d.stateMu.Unlock()
	// The picture holds every write made before start: peer polls need
	// only read the trail from there on.
	d.advancePollFrom(start)
	mem, teams, ships := d.idx.sizes()
	d.log.Debug("sigma index loaded", "members", mem, "teams", teams, "memberships", ships)
	return nil
}

// loadConcurrency bounds the per-team member listings of a full load; the
// client paces and bounds upstream calls on its own as well.
const loadConcurrency = 4

func (d *Directory) fetchAll(ctx context.Context) (*indexData, error) {
	x := newIndexData()
	if err := d.loadTombstones(ctx, x); err != nil {
		return nil, err
	}
	for m, err := range d.client.Members(ctx, sigma.ListMembersOptions{IncludeArchived: true, IncludeInactive: true}) {
		if err != nil {
			return nil, err
		}
		x.putMember(m)
	}
	var teams []sigma.Team
	for t, err := range d.client.Teams(ctx, "") {
		if err != nil {
			return nil, err
		}
		teams = append(teams, t)
	}
	members := make([][]string, len(teams))
	gone := make([]bool, len(teams))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(loadConcurrency)
	for i, t := range teams {
		g.Go(func() error {
			for tm, err := range d.client.TeamMembers(gctx, t.TeamID) {
				if errors.Is(err, sigma.ErrNotFound) {
					gone[i] = true // deleted while we were loading
					return nil
				}
				if err != nil {
					return err
				}
				members[i] = append(members[i], tm.UserID)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for i, t := range teams {
		if !gone[i] {
			x.putTeam(t)
			x.addMembers(t.TeamID, members[i])
		}
	}
	return x, nil
}

// Ready reports nil once the first full load has succeeded.
func (d *Directory) Ready(context.Context) error {
	d.stateMu.Lock()
	defer d.stateMu.Unlock()
	if d.loaded {
		return nil
	}
	if d.lastErr != nil {
		return fmt.Errorf("%w: sigma member and team index not loaded yet: %v", directory.ErrNotReady, d.lastErr)
	}
	return fmt.Errorf("%w: sigma member and team index not loaded yet", directory.ErrNotReady)
}

// ---- errors --------------------------------------------------------------

// upstreamErr is provision.UpstreamErr, plus Sigma's own 404 for an account
// type it does not know (a write naming a type the resolver let through),
// which is the IdP's invalid userType rather than a missing resource.
func upstreamErr(op string, err error) error {
	var unknown *sigma.UnknownAccountTypeError
	if !errors.As(err, &unknown) && errors.Is(err, sigma.ErrUnknownMemberType) {
		return &directory.InvalidValueError{Attribute: "userType", Reason: "unknown account type"}
	}
	return provision.UpstreamErr(op, err)
}

// ---- metrics -------------------------------------------------------------

type metrics struct {
	resyncs       *prometheus.CounterVec
	lastResync    prometheus.Gauge
	lookups       *prometheus.CounterVec
	writes        *prometheus.CounterVec
	auditFailures prometheus.Counter
	peerPolls     *prometheus.CounterVec
	staleMarks    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, idx *index) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		resyncs: f.NewCounterVec(prometheus.CounterOpts{
			Name: "scim_bridge_sigma_index_resyncs_total",
			Help: "Full loads of the Sigma member/team index, by result (ok, failed).",
		}, []string{"result"}),
		lastResync: f.NewGauge(prometheus.GaugeOpts{
			Name: "scim_bridge_sigma_index_last_resync_success_timestamp_seconds",
			Help: "Unix time of the last successful full load of the Sigma index.",
		}),
		lookups: f.NewCounterVec(prometheus.CounterOpts{
			Name: "scim_bridge_sigma_index_reads_total",
			Help: "Reads of one member or team by id, email or name, by kind (user, group) and result: hit (answered by the index), refreshed (index entry another replica changed, re-read with one upstream call), upstream_hit (index miss found with one upstream call), miss (absent upstream too).",
		}, []string{"kind", "result"}),
		peerPolls: f.NewCounterVec(prometheus.CounterOpts{
			Name: "scim_bridge_sigma_index_peer_polls_total",
			Help: "Reads of the audit trail for other replicas' writes, by result: ok, failed, reload (too many entries for one page; the index was reloaded in full).",
		}, []string{"result"}),
		staleMarks: f.NewCounter(prometheus.CounterOpts{
			Name: "scim_bridge_sigma_index_stale_marks_total",
			Help: "Members and teams marked stale in the Sigma index because another replica changed them (each is re-read from Sigma when next read).",
		}),
	}
	m.writes, m.auditFailures = provision.WriteMetrics(reg, sigma.PathREST)
	for _, r := range []string{"ok", "failed", "reload"} {
		m.peerPolls.WithLabelValues(r)
	}
	for _, r := range []string{"ok", "failed"} {
		m.resyncs.WithLabelValues(r)
	}
	for _, k := range []string{"user", "group"} {
		for _, r := range []string{"hit", "refreshed", "upstream_hit", "miss"} {
			m.lookups.WithLabelValues(k, r)
		}
	}
	size := func(name, help string, pick func(members, teams, ships int) int) {
		f.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
			return float64(pick(idx.sizes()))
		})
	}
	size("scim_bridge_sigma_index_members", "Members in the Sigma index (archived and inactive included).",
		func(m, _, _ int) int { return m })
	size("scim_bridge_sigma_index_teams", "Teams in the Sigma index.",
		func(_, t, _ int) int { return t })
	size("scim_bridge_sigma_index_memberships", "Team memberships in the Sigma index.",
		func(_, _, s int) int { return s })
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "scim_bridge_sigma_index_stale_entries",
		Help: "Members and teams in the Sigma index marked stale and not re-read yet.",
	}, func() float64 { return float64(idx.staleCount()) })
	return m
}
