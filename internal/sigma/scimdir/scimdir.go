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
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/dirkit"
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

// BuiltinAccountTypes are the account types every org has, as Sigma's SCIM
// spells them. Without REST credentials they are always accepted.
var BuiltinAccountTypes = []string{"admin", "pro", "essential", "view"}

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
	// sends none to Sigma and changes nothing in the store.
	DryRun bool
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

// Directory implements directory.Directory over a sigma.SCIMClient.
type Directory struct {
	scim   *sigma.SCIMClient
	rest   *sigma.Client // optional
	store  store.Store
	opts   Options
	log    *slog.Logger
	types  *typeResolver
	locks  dirkit.KeyedMutex
	m      *metrics
	rec    dirkit.Records
	audits *dirkit.Auditor

	writes atomic.Uint64 // bumped after every write decision: drops the list cache
	users  listCache
	groups listCache

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
	d.rec = dirkit.Records{Store: st, Now: opts.Now}
	d.audits = &dirkit.Auditor{Store: st, Now: opts.Now, Log: logger, Writes: d.m.writes, Failures: d.m.auditFailures,
		DetailPrefix: "via sigma scim: ", LogMessage: "sigma scim directory write"}
	d.types = newTypeResolver(rest, opts.AccountTypes, opts.AccountTypeAliases, logger)
	return d
}

// ---- readiness and health --------------------------------------------------

// Ready reports nil when Sigma's SCIM endpoint answered with the token
// recently; otherwise it pings. A rejected token gives an error saying
// "Sigma SCIM token was rejected (401)"; an endpoint that answers 404 one
// saying Enterprise SCIM looks disabled. Both match directory.ErrNotReady.
func (d *Directory) Ready(ctx context.Context) error {
	d.hMu.Lock()
	fresh := d.rejected == 0 && !d.gone && d.lastErr == nil && !d.lastOK.IsZero() &&
		d.opts.Now().Sub(d.lastOK) < d.opts.ReadyCheckInterval
	d.hMu.Unlock()
	if fresh {
		return nil
	}
	return d.Probe(ctx)
}

// Probe pings Sigma's SCIM endpoint now (GET /Users?count=1) and records
// the outcome: nil when the endpoint answered with the token, else an error
// matching directory.ErrNotReady that says what is wrong. It is the probe
// the mode selector calls.
func (d *Directory) Probe(ctx context.Context) error {
	err := d.scim.Ping(ctx)
	if err == nil {
		d.observe(nil)
		return nil
	}
	return d.pathErr("ping sigma scim endpoint", err, true)
}

// observe records a call's outcome for Ready: any answer from Sigma that
// got past authentication proves the endpoint and token work.
func (d *Directory) observe(err error) {
	var ae *sigma.APIError
	answered := err == nil || (errors.As(err, &ae) && ae.Status != 0 &&
		ae.Status != http.StatusUnauthorized && ae.Status != http.StatusForbidden && ae.Status < 500 && ae.Status != http.StatusTooManyRequests)
	if !answered {
		return
	}
	d.hMu.Lock()
	defer d.hMu.Unlock()
	if d.rejected != 0 {
		d.log.Info("sigma scim token accepted again")
	}
	d.rejected, d.gone, d.lastErr, d.lastOK = 0, false, nil, d.opts.Now()
	d.m.tokenRejected.Set(0)
}

// pathErr turns a failure that may mean "the SCIM path is down" into an
// error for the caller, recording it for Ready. listOrPing says the call
// cannot answer 404 for a live endpoint (a list or the ping), so a 404 means
// the endpoint itself is gone.
func (d *Directory) pathErr(op string, err error, listOrPing bool) error {
	var ae *sigma.APIError
	status := 0
	if errors.As(err, &ae) {
		status = ae.Status
	}
	switch {
	case errors.Is(err, sigma.ErrUnauthorized):
		d.hMu.Lock()
		first := d.rejected == 0
		d.rejected, d.lastErr = status, err
		d.hMu.Unlock()
		d.m.tokenRejected.Set(1)
		if first {
			d.log.Error("sigma scim token was rejected; provisioning through Sigma's SCIM endpoint stops until it is replaced", "status", status)
		}
		return &directory.UpstreamError{Op: op, Status: status, Retryable: true,
			Message: fmt.Sprintf("Sigma SCIM token was rejected (%d)", status),
			Err:     fmt.Errorf("%w: Sigma SCIM token was rejected (%d): %w", directory.ErrNotReady, status, err)}
	case listOrPing && status == http.StatusNotFound:
		d.hMu.Lock()
		first := !d.gone
		d.gone, d.lastErr = true, err
		d.hMu.Unlock()
		if first {
			d.log.Error("sigma scim endpoint answers 404; is Enterprise SCIM enabled?")
		}
		return &directory.UpstreamError{Op: op, Status: status, Retryable: true,
			Message: "Sigma SCIM endpoint not found (404): is Enterprise SCIM enabled for the org?",
			Err:     fmt.Errorf("%w: Sigma SCIM endpoint not found (404): %w", directory.ErrNotReady, err)}
	}
	d.observe(err)
	if ae == nil || ae.Retryable {
		d.hMu.Lock()
		d.lastErr = err
		d.hMu.Unlock()
		ue := dirkit.UpstreamErr(op, err)
		var u *directory.UpstreamError
		if errors.As(ue, &u) && listOrPing {
			// A ping that cannot reach Sigma means the path is not ready.
			u.Err = fmt.Errorf("%w: %w", directory.ErrNotReady, err)
		}
		return ue
	}
	return dirkit.UpstreamErr(op, err)
}

// check classifies the error of an ordinary call (not by id): auth
// failures and a vanished endpoint become not-ready errors, everything
// else goes through upstreamErr.
func (d *Directory) check(op string, err error, list bool) error {
	if err == nil {
		d.observe(nil)
		return nil
	}
	return d.pathErr(op, err, list)
}

// missing classifies the error of a call addressed by id. A 404 is
// ErrNotFound only once a ping proves the endpoint is there: Sigma's SCIM
// turned off also answers 404, and telling the IdP "no such user" then
// would be a lie it acts on.
func (d *Directory) missing(ctx context.Context, op string, err error) error {
	if err == nil {
		d.observe(nil)
		return nil
	}
	if !errors.Is(err, sigma.ErrNotFound) {
		return d.pathErr(op, err, false)
	}
	if perr := d.scim.Ping(ctx); perr != nil {
		return d.pathErr(op, perr, true)
	}
	d.observe(nil)
	return fmt.Errorf("%s: %w", op, directory.ErrNotFound)
}

// ---- errors --------------------------------------------------------------

// badRequest reports whether err is Sigma refusing the request's content.
func badRequest(err error) (*sigma.APIError, bool) {
	var ae *sigma.APIError
	if errors.As(err, &ae) && (ae.Status == http.StatusBadRequest || ae.Status == http.StatusUnprocessableEntity) {
		return ae, true
	}
	return nil, false
}

// audit records one decision (dirkit.Auditor.Record) and drops the list
// caches: Sigma has changed (or refused), so lists read before are stale.
func (d *Directory) audit(ctx context.Context, op string, kind store.Kind, id string, outcome store.Outcome, err error, detail string) {
	d.writes.Add(1)
	d.audits.Record(ctx, op, kind, id, outcome, err, detail)
}

// ---- metrics -------------------------------------------------------------

type metrics struct {
	tokenRejected prometheus.Gauge
	writes        *prometheus.CounterVec
	auditFailures prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		tokenRejected: f.NewGauge(prometheus.GaugeOpts{
			Name: "scim_bridge_sigma_scim_token_rejected",
			Help: "1 while Sigma's SCIM endpoint rejects the bridge's SCIM token (401/403), else 0.",
		}),
		writes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "scim_bridge_sigma_scim_directory_writes_total",
			Help: "Audited write decisions of the Sigma SCIM directory, by operation and outcome.",
		}, []string{"operation", "outcome"}),
		auditFailures: f.NewCounter(prometheus.CounterOpts{
			Name: "scim_bridge_sigma_scim_directory_audit_failures_total",
			Help: "Audit entries of the Sigma SCIM directory that the store refused to append.",
		}),
	}
}

// ---- list cache ----------------------------------------------------------

// listCache holds the last full list of one kind read from Sigma. Its mu
// is held while a list is read, so concurrent list requests share one read.
type listCache struct {
	mu     sync.Mutex
	valid  bool
	writes uint64 // Directory.writes when the read started
	at     time.Time
	list   []map[string]any
}

// cachedList returns the cached list when no write happened since it was
// read and it is younger than ListCacheTTL; otherwise it reads a new one.
func (d *Directory) cachedList(ctx context.Context, c *listCache, load func(context.Context) ([]map[string]any, error)) ([]map[string]any, error) {
	if d.opts.ListCacheTTL < 0 {
		return load(ctx)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	w := d.writes.Load()
	if c.valid && c.writes == w && d.opts.Now().Sub(c.at) < d.opts.ListCacheTTL {
		return c.list, nil
	}
	list, err := load(ctx)
	if err != nil {
		c.valid = false
		return nil, err
	}
	c.valid, c.writes, c.at, c.list = true, w, d.opts.Now(), list
	return list, nil
}
