// Package scimdir is the directory.Directory over Sigma's own Enterprise
// SCIM endpoint (the Directory Base URL and its static bearer token).
//
// The IdP's request has already been parsed and normalised by the bridge;
// this package sends Sigma what Sigma's SCIM documents: userName (the
// email), name, emails, active, userType (the account type, spelled as
// Sigma's SCIM wants it: built-ins in lower case, custom types exactly as
// named) and the extension urn:sigma:scim:schemas:extension:2.0:User with
// userKind. Groups are teams.
//
// What Sigma's endpoint cannot do, the bridge supplies:
//   - lookups other than userName eq / displayName eq: id is one GET,
//     externalId is kept in the store, lists page through Sigma's endpoint
//     and are ordered by id here;
//   - tombstones: DELETE deactivates the member in Sigma and tombstones it
//     in the store, so the bridge answers 404 for it until a create with the
//     same userName revives it (the same member id, answered as a create);
//   - account types: resolved through the REST client's resolver when REST
//     credentials exist (canonical names are then the REST names, so both
//     paths show the IdP the same values), else matched case-insensitively
//     against the built-ins, the configured types and aliases; the default
//     is filled in when the IdP sends none, so Sigma never sees a null
//     userType;
//   - members the REST path deactivated (archived: Sigma's SCIM hides them)
//     still answer by id, as inactive, when a REST client is configured,
//     and their reactivation goes through REST, so a switch from REST to
//     SCIM does not turn them into 404s for the IdP;
//   - an audit entry for every write, with the request's directory.Actor.
//
// Nothing is cached between requests except the account type list (in the
// REST client), so several replicas sharing one org and one store stay
// correct without talking to each other.
//
// Failures that mean "this path does not work right now" (the token was
// rejected, the endpoint answers 404 as if Enterprise SCIM were off) are
// *directory.UpstreamError values that also match directory.ErrNotReady, so
// the mode selector can tell them from an ordinary refusal and fall back.
package scimdir

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/provision"
	"github.com/scimbridge/scim-bridge/internal/store"
)

// Defaults applied by New to zero Options fields.
const (
	// DefaultAccountType is given to users the IdP sends without an account
	// type when Options.DefaultAccountType is empty: Sigma's
	// least-privileged built-in. Sigma's SCIM endpoint refuses a user
	// without userType, and it does not tell the org default.
	DefaultAccountType = "view"
	// DefaultListCacheTTL is how long a full list read from Sigma answers
	// ListUsers/ListGroups again when Options.ListCacheTTL is zero.
	DefaultListCacheTTL = 15 * time.Second
	// DefaultReadyCheckInterval bounds how long Ready trusts the last
	// successful answer from Sigma before it pings again.
	DefaultReadyCheckInterval = 30 * time.Second
	// PageSize is the count asked for when paging Sigma's lists (its maximum).
	PageSize = 1000
)

// Options configure a Directory. The zero value is usable.
type Options struct {
	// DefaultAccountType is given to users created without an account type
	// (and, when set, to users replaced without one, as on the REST path).
	// Any spelling the resolver accepts. Default DefaultAccountType on
	// create; empty keeps the current type on replace.
	DefaultAccountType string
	// AccountTypes are the org's custom account types, named exactly as in
	// Sigma. Used only without a REST client (which lists them itself); the
	// built-ins are always known.
	AccountTypes []string
	// AccountTypeAliases map incoming names to account types ("Viewer" ->
	// "view"); keys are matched case-insensitively. With a REST client its
	// own aliases apply as well.
	AccountTypeAliases map[string]string
	// DeprovisionOwnerID is the memberId that receives a deleted member's
	// documents. It needs the REST client (Sigma's SCIM cannot hand
	// documents over): then DELETE deactivates through REST with
	// newOwnerId. Empty, or without REST: Sigma's SCIM DELETE.
	DeprovisionOwnerID string
	// DryRun computes, logs and audits every write (outcome dry_run) but
	// sends none to Sigma and changes nothing in the store; what dry-run
	// creates answered is kept in the dry-run record (provision.DryRuns).
	DryRun bool
	// DryRuns is the dry-run record to share with the other path; nil:
	// this directory keeps its own.
	DryRuns *provision.DryRuns
	// ListCacheTTL is how long a full list of users or groups read from
	// Sigma is reused by ListUsers/ListGroups (an IdP import pages through
	// the list with many requests; each would otherwise re-read all of
	// Sigma's pages, and a stable snapshot keeps the pages consistent). Any
	// write through this directory drops the cache; writes made elsewhere
	// show after at most this long. Lookups are never cached. Default
	// DefaultListCacheTTL; negative disables the cache.
	ListCacheTTL time.Duration
	// ReadyCheckInterval: Ready pings Sigma when it has not answered for
	// this long (default DefaultReadyCheckInterval); while a problem is
	// known Ready pings every time, so it recovers as soon as Sigma does.
	ReadyCheckInterval time.Duration
	// Now is the clock for tombstones, audit entries and readiness; default
	// time.Now.
	Now func() time.Time
}

// Directory implements directory.Directory over a sigma.SCIMClient: the
// reads here (GetUser and LookupUsers by provision.UserReads over
// userReader), the writes by the provision.Workflow over its ports
// (ports.go).
type Directory struct {
	*provision.Workflow
	provision.UserReads

	scim   *sigma.SCIMClient
	rest   *sigma.Client // optional
	store  store.Store
	opts   Options
	log    *slog.Logger
	m      *metrics
	rec    provision.Records
	audits *provision.Auditor

	writes atomic.Uint64 // bumped after every write decision: drops the list cache
	users  listCache[sigma.SCIMUser]
	groups listCache[sigma.SCIMGroup]

	hMu      sync.Mutex
	rejected int   // status of the last rejection of the token, 0 if none
	gone     bool  // the endpoint answered 404 as a whole
	lastErr  error // last failure to reach Sigma, nil after a success
	lastOK   time.Time
}

var _ directory.Directory = (*Directory)(nil)

// New returns a Directory over scim. rest may be nil; when given it
// resolves account types (and their canonical names) and hands documents
// over on delete. reg may be nil (metrics not registered); logger may be
// nil (discard). New makes no network call.
func New(scim *sigma.SCIMClient, rest *sigma.Client, st store.Store, opts Options, reg prometheus.Registerer, logger *slog.Logger) *Directory {
	if opts.ListCacheTTL == 0 {
		opts.ListCacheTTL = DefaultListCacheTTL
	}
	if opts.ReadyCheckInterval <= 0 {
		opts.ReadyCheckInterval = DefaultReadyCheckInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Directory{scim: scim, rest: rest, store: st, opts: opts, log: logger, m: newMetrics(reg)}
	d.rec = provision.Records{Store: st, Now: opts.Now}
	// Every decision drops the list caches: Sigma has changed (or
	// refused), so lists read before are stale.
	d.audits = &provision.Auditor{Store: st, Now: opts.Now, Log: logger, Writes: d.m.writes, Failures: d.m.auditFailures,
		DetailPrefix: "via sigma scim: ", LogMessage: "sigma scim directory write", After: func() { d.writes.Add(1) }}
	dry := provision.DryRunRecord(opts.DryRun, opts.DryRuns)
	ms, ts := dry.Overlay(members{d}, teams{d})
	d.UserReads = provision.NewUserReads(userReader{d}, d.rec, dry)
	d.Workflow = &provision.Workflow{
		Members: ms, Teams: ts, Records: d.rec, Audit: d.audits, DryRun: opts.DryRun, DryRuns: dry, Now: opts.Now,
		Types: provision.NewAccountTypes(provision.AccountTypesConfig{REST: rest, Custom: opts.AccountTypes,
			Aliases: opts.AccountTypeAliases, Default: opts.DefaultAccountType, CreateDefault: DefaultAccountType,
			Fallback: true, Log: logger}),
	}
	return d
}

type metrics struct {
	tokenRejected prometheus.Gauge
	writes        *prometheus.CounterVec
	auditFailures prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		tokenRejected: promauto.With(reg).NewGauge(prometheus.GaugeOpts{
			Name: "scim_bridge_sigma_scim_token_rejected",
			Help: "1 while Sigma's SCIM endpoint rejects the bridge's SCIM token (401/403), else 0.",
		}),
	}
	m.writes, m.auditFailures = provision.WriteMetrics(reg, sigma.PathSCIM)
	return m
}
