// Package modes chooses between the two Sigma paths: Sigma's Enterprise
// SCIM endpoint (preferred) and the REST API (fallback). A Selector is a
// directory.Directory that hands every request to the path that is live.
//
// Mode "scim" or "rest" forces a path. Mode "auto" uses SCIM when it is
// configured and its probe answers, else REST when its probe answers, and
// re-probes on an interval (Run) or on demand (ProbeNow). A switch is
// logged, audited (operation "mode.switch") and exported as
// scim_bridge_sigma_mode{mode}.
//
// A request runs on the path that was live when it started, to its end; a
// switch only changes where new requests go. When a request fails because
// its whole path stopped working (an error matching directory.ErrNotReady:
// the SCIM token was rejected, the endpoint vanished), the Selector
// re-probes at once and, if that moves the live path, repeats the request
// once on the new path. Such failures are refusals that changed nothing
// upstream, so the repetition is safe, and the IdP sees no failure for
// requests caught at the moment Sigma's SCIM went away.
package modes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"golang.org/x/sync/singleflight"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/sigma/provision"
	"github.com/scimbridge/scim-bridge/internal/store"
)

// Modes.
const (
	ModeAuto = "auto"
	ModeSCIM = "scim"
	ModeREST = "rest"
	// ModeNone is what Live reports when no path is live.
	ModeNone = "none"
)

// Defaults applied by New to zero Options fields.
const (
	DefaultProbeInterval = time.Minute
	DefaultProbeTimeout  = 30 * time.Second
)

// Loader is implemented by a directory that keeps an index (the REST
// path): the Selector reloads it before switching to it, because the index
// did not see the writes made through the other path meanwhile.
type Loader interface {
	Load(ctx context.Context) error
}

// Prober is implemented by a directory with a probe that asks upstream
// now (scimdir.Directory.Probe), where Ready may answer from a recent
// success. It is the default probe when Options leave it nil.
type Prober interface {
	Probe(ctx context.Context) error
}

// probeOf returns the probe to use for d: the given one, else d's Probe,
// else d's Ready.
func probeOf(d directory.Directory, given func(context.Context) error) func(context.Context) error {
	if d == nil || given != nil {
		return given
	}
	if p, ok := d.(Prober); ok {
		return p.Probe
	}
	return d.Ready
}

// Options configure a Selector.
type Options struct {
	// Mode is "auto" (default), "scim" or "rest".
	Mode string
	// SCIM is the directory over Sigma's SCIM endpoint; nil when no SCIM
	// URL and token are configured.
	SCIM directory.Directory
	// SCIMProbe reports whether the SCIM path works now (nil: SCIM's Probe
	// method if it has one, else SCIM.Ready).
	SCIMProbe func(ctx context.Context) error
	// REST is the directory over Sigma's REST API; nil when no REST
	// credentials are configured.
	REST directory.Directory
	// RESTProbe reports whether the REST path works now (nil: REST's Probe
	// method if it has one, else REST.Ready, after the index reload).
	RESTProbe func(ctx context.Context) error
	// ProbeInterval is how often Run re-probes in auto mode (default
	// DefaultProbeInterval).
	ProbeInterval time.Duration
	// ProbeTimeout bounds one probe round, reloading the REST index
	// included (default DefaultProbeTimeout).
	ProbeTimeout time.Duration
	// Now is the clock for audit entries; default time.Now.
	Now func() time.Time
}

// live is one decision: which path takes new requests, and why.
type live struct {
	mode string
	dir  directory.Directory
	why  string
}

// Selector is a directory.Directory delegating to the live Sigma path. It
// is safe for concurrent use.
type Selector struct {
	opts   Options
	store  store.Store
	log    *slog.Logger
	m      *metrics
	cfgErr error // a configuration that cannot work; reported by Ready

	cur     atomic.Pointer[live]
	life    atomic.Pointer[context.Context] // Run's context, once Run started
	sf      singleflight.Group
	started atomic.Uint64 // probe rounds started
	done    atomic.Uint64 // highest round number finished

	mu      sync.Mutex
	problem string // why no path answered at the last probe, "" if one did
}

var _ directory.Directory = (*Selector)(nil)

// New returns a Selector. reg may be nil (metrics not registered); logger
// may be nil (discard). A forced mode is live at once; auto has no live
// path until the first probe (Run or ProbeNow, or the first request, which
// probes). An unknown Mode, or a forced mode whose directory is nil, makes
// every request fail as not ready and Ready say why.
func New(opts Options, st store.Store, reg prometheus.Registerer, logger *slog.Logger) *Selector {
	if opts.Mode == "" {
		opts.Mode = ModeAuto
	}
	opts.Mode = strings.ToLower(strings.TrimSpace(opts.Mode))
	if opts.ProbeInterval <= 0 {
		opts.ProbeInterval = DefaultProbeInterval
	}
	if opts.ProbeTimeout <= 0 {
		opts.ProbeTimeout = DefaultProbeTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// A typed nil (a nil *scimdir.Directory in the interface) means "not
	// configured" too; calling it would panic.
	if isNil(opts.SCIM) {
		opts.SCIM = nil
	}
	if isNil(opts.REST) {
		opts.REST = nil
	}
	opts.SCIMProbe = probeOf(opts.SCIM, opts.SCIMProbe)
	opts.RESTProbe = probeOf(opts.REST, opts.RESTProbe)
	s := &Selector{opts: opts, store: st, log: logger, m: newMetrics(reg)}
	first := &live{mode: ModeNone, why: "not probed yet"}
	switch opts.Mode {
	case ModeAuto:
		if opts.SCIM == nil && opts.REST == nil {
			s.cfgErr = errors.New("sigma mode auto: neither Sigma SCIM (scim_url and scim_token) nor REST credentials are configured")
		}
	case ModeSCIM:
		if opts.SCIM == nil {
			s.cfgErr = errors.New("sigma mode scim: no Sigma SCIM directory (scim_url and scim_token) is configured")
		} else {
			first = &live{mode: ModeSCIM, dir: opts.SCIM, why: "forced by configuration (sigma.mode=scim)"}
		}
	case ModeREST:
		if opts.REST == nil {
			s.cfgErr = errors.New("sigma mode rest: no Sigma REST directory (client id and secret) is configured")
		} else {
			first = &live{mode: ModeREST, dir: opts.REST, why: "forced by configuration (sigma.mode=rest)"}
		}
	default:
		s.cfgErr = fmt.Errorf("sigma mode %q is not one of auto, scim, rest", opts.Mode)
	}
	if s.cfgErr != nil {
		first.why = s.cfgErr.Error()
	}
	s.cur.Store(first)
	s.m.set(first.mode)
	return s
}

// lifeContext is ctx without its cancellation, but cancelled when Run's
// context ends; call cancel when done with it.
func (s *Selector) lifeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	c, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if life := s.life.Load(); life != nil {
		stop := context.AfterFunc(*life, cancel)
		return c, func() { stop(); cancel() }
	}
	return c, cancel
}

// Live returns the live path ("scim", "rest" or "none") and why.
func (s *Selector) Live() (mode, why string) {
	l := s.cur.Load()
	return l.mode, l.why
}

// Run re-probes every ProbeInterval in auto mode until ctx ends (the first
// probe at once). In a forced mode it only waits for ctx. It returns nil.
func (s *Selector) Run(ctx context.Context) error {
	s.life.Store(&ctx)
	if s.opts.Mode != ModeAuto || s.cfgErr != nil {
		<-ctx.Done()
		return nil
	}
	s.ProbeNow(ctx)
	t := time.NewTicker(s.opts.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.ProbeNow(ctx)
		}
	}
}

// ProbeNow runs one probe round now (joining one already running) and
// switches the live path if the round says so; it returns the live path
// and why afterwards. In a forced mode it changes nothing.
func (s *Selector) ProbeNow(ctx context.Context) (mode, why string) {
	if s.opts.Mode == ModeAuto && s.cfgErr == nil {
		ch := s.sf.DoChan("probe", func() (any, error) {
			n := s.started.Add(1)
			// Detached: a caller giving up must not abort a switch half-way
			// for everyone else waiting on it.
			// Detached from the caller, but bounded by the Selector's life
			// (Run's context), so shutdown does not wait for a probe.
			lctx, stop := s.lifeContext(ctx)
			defer stop()
			pctx, cancel := context.WithTimeout(lctx, s.opts.ProbeTimeout)
			defer cancel()
			s.probe(pctx)
			for {
				d := s.done.Load()
				if d >= n || s.done.CompareAndSwap(d, n) {
					break
				}
			}
			return nil, nil
		})
		select {
		case <-ch:
		case <-ctx.Done():
		}
	}
	return s.Live()
}

// probe decides which path should be live and switches to it.
func (s *Selector) probe(ctx context.Context) {
	var reasons []string
	if s.opts.SCIM != nil {
		err := s.opts.SCIMProbe(ctx)
		s.m.probes.WithLabelValues(ModeSCIM, result(err)).Inc()
		if err == nil {
			s.setProblem("")
			s.switchTo(ctx, &live{mode: ModeSCIM, dir: s.opts.SCIM, why: "auto: Sigma's SCIM endpoint answered"})
			return
		}
		reasons = append(reasons, "Sigma SCIM probe failed: "+err.Error())
	} else {
		reasons = append(reasons, "Sigma SCIM is not configured")
	}
	if s.opts.REST != nil {
		// The index is reloaded before the probe: it has not seen what was
		// written through SCIM, and a REST directory's Ready (the default
		// probe) needs it loaded.
		var err error
		if l, ok := s.opts.REST.(Loader); ok && s.cur.Load().mode != ModeREST {
			if lerr := l.Load(ctx); lerr != nil {
				err = fmt.Errorf("reload the REST index: %w", lerr)
			}
		}
		if err == nil {
			err = s.opts.RESTProbe(ctx)
		}
		s.m.probes.WithLabelValues(ModeREST, result(err)).Inc()
		if err == nil {
			s.setProblem("")
			s.switchTo(ctx, &live{mode: ModeREST, dir: s.opts.REST, why: "auto: " + strings.Join(reasons, "; ") + "; Sigma's REST API answered"})
			return
		}
		reasons = append(reasons, "Sigma REST probe failed: "+err.Error())
	} else {
		reasons = append(reasons, "Sigma REST is not configured")
	}
	// Nothing answers. Keep the live path (a blip on both sides should not
	// turn every request into a failure), but say so in Ready.
	problem := "no Sigma path answered: " + strings.Join(reasons, "; ")
	s.setProblem(problem)
	if cur := s.cur.Load(); cur.dir != nil {
		s.log.Warn("sigma mode: no path answered the probe; keeping the live one", "mode", cur.mode, "reasons", problem)
		return
	}
	s.cur.Store(&live{mode: ModeNone, why: problem})
}

func isNil(d directory.Directory) bool {
	if d == nil {
		return true
	}
	v := reflect.ValueOf(d)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

func result(err error) string {
	if err != nil {
		return "failed"
	}
	return "ok"
}

func (s *Selector) setProblem(p string) {
	s.mu.Lock()
	s.problem = p
	s.mu.Unlock()
}

// switchTo makes next live; a change of path is logged, audited and
// counted. Requests already running keep the directory they started on.
func (s *Selector) switchTo(ctx context.Context, next *live) {
	prev := s.cur.Swap(next)
	if prev.mode == next.mode {
		return
	}
	s.m.set(next.mode)
	s.m.switches.Inc()
	// A path becoming live where none was (the first probe at start, or
	// a recovery) is good news; leaving a live path is what to look at.
	level := slog.LevelWarn
	if prev.dir == nil && next.dir != nil {
		level = slog.LevelInfo
	}
	s.log.Log(ctx, level, "sigma mode switched", "from", prev.mode, "to", next.mode, "why", next.why)
	a := directory.ActorFrom(ctx)
	e := store.AuditEntry{
		Time:      s.opts.Now(),
		RequestID: a.RequestID,
		TokenName: a.TokenName,
		Operation: "mode.switch",
		Outcome:   store.OutcomeOK,
		Detail:    provision.Truncate(prev.mode+" -> "+next.mode+": "+next.why, 500),
	}
	if s.store == nil {
		return
	}
	if _, err := s.store.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		s.log.Error("append audit entry", "op", "mode.switch", "err", err)
	}
}

// Ready reports nil when the live path is ready; otherwise an error
// matching directory.ErrNotReady that says which path is live and why it
// is not ready, or why none is.
func (s *Selector) Ready(ctx context.Context) error {
	if s.cfgErr != nil {
		return fmt.Errorf("%w: %v", directory.ErrNotReady, s.cfgErr)
	}
	// Ready never probes itself: /readyz must answer fast and must not
	// make Sigma calls of its own. Run probes at start and on its interval.
	l := s.cur.Load()
	if l.dir == nil {
		return fmt.Errorf("%w: no Sigma path is live: %s", directory.ErrNotReady, l.why)
	}
	s.mu.Lock()
	problem := s.problem
	s.mu.Unlock()
	if problem != "" {
		return fmt.Errorf("%w: sigma path %s is live (%s) but %s", directory.ErrNotReady, l.mode, l.why, problem)
	}
	if err := l.dir.Ready(ctx); err != nil {
		return fmt.Errorf("sigma path %s is live (%s) but not ready: %w", l.mode, l.why, err)
	}
	return nil
}

// ---- delegation ----------------------------------------------------------

// current returns the live path for a new request and the number of probe
// rounds started so far. In auto mode before any probe, it probes.
func (s *Selector) current(ctx context.Context) (*live, uint64, error) {
	if s.cfgErr != nil {
		return nil, 0, fmt.Errorf("%w: %v", directory.ErrNotReady, s.cfgErr)
	}
	gen := s.started.Load()
	l := s.cur.Load()
	if l.dir == nil && s.opts.Mode == ModeAuto {
		s.ProbeNow(ctx)
		gen = s.started.Load()
		l = s.cur.Load()
	}
	if l.dir == nil {
		return nil, 0, fmt.Errorf("%w: no Sigma path is live: %s", directory.ErrNotReady, l.why)
	}
	return l, gen, nil
}

// call runs fn on the live directory. A failure of the whole path (an
// error matching directory.ErrNotReady) in auto mode triggers a probe round
// started after the request was (joined if one is running), and fn runs
// once more if that round moved the live path.
func call[T any](s *Selector, ctx context.Context, fn func(directory.Directory) (T, error)) (T, error) {
	l, gen, err := s.current(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := fn(l.dir)
	if err == nil || s.opts.Mode != ModeAuto || !errors.Is(err, directory.ErrNotReady) || ctx.Err() != nil {
		return v, err
	}
	s.m.pathFailures.WithLabelValues(l.mode).Inc()
	for i := 0; i < 2 && s.done.Load() <= gen; i++ {
		s.ProbeNow(ctx)
	}
	next := s.cur.Load()
	if next.dir == nil || next.dir == l.dir {
		return v, err
	}
	s.m.retried.WithLabelValues(l.mode, next.mode).Inc()
	s.log.Info("sigma mode: request repeated on the new live path", "from", l.mode, "to", next.mode, "err", err)
	return fn(next.dir)
}

type none struct{}

func call0(s *Selector, ctx context.Context, fn func(directory.Directory) error) error {
	_, err := call(s, ctx, func(d directory.Directory) (none, error) { return none{}, fn(d) })
	return err
}

// ListUsers implements directory.Directory.
func (s *Selector) ListUsers(ctx context.Context) ([]directory.User, error) {
	return call(s, ctx, func(d directory.Directory) ([]directory.User, error) { return d.ListUsers(ctx) })
}

// PageUsers implements directory.UserPager through the live path (its own
// pager when it has one).
func (s *Selector) PageUsers(ctx context.Context, start, count int) ([]directory.User, int, error) {
	type page struct {
		users []directory.User
		total int
	}
	p, err := call(s, ctx, func(d directory.Directory) (page, error) {
		us, total, err := directory.PageUsers(ctx, d, start, count)
		return page{us, total}, err
	})
	return p.users, p.total, err
}

// LookupUsers implements directory.Directory.
func (s *Selector) LookupUsers(ctx context.Context, attr directory.Attr, value string) ([]directory.User, error) {
	return call(s, ctx, func(d directory.Directory) ([]directory.User, error) { return d.LookupUsers(ctx, attr, value) })
}

// GetUser implements directory.Directory.
func (s *Selector) GetUser(ctx context.Context, id string) (directory.User, error) {
	return call(s, ctx, func(d directory.Directory) (directory.User, error) { return d.GetUser(ctx, id) })
}

// CreateUser implements directory.Directory.
func (s *Selector) CreateUser(ctx context.Context, u directory.User) (directory.User, error) {
	return call(s, ctx, func(d directory.Directory) (directory.User, error) { return d.CreateUser(ctx, u) })
}

// ReplaceUser implements directory.Directory.
func (s *Selector) ReplaceUser(ctx context.Context, u directory.User) (directory.User, error) {
	return call(s, ctx, func(d directory.Directory) (directory.User, error) { return d.ReplaceUser(ctx, u) })
}

// DeleteUser implements directory.Directory.
func (s *Selector) DeleteUser(ctx context.Context, id string) error {
	return call0(s, ctx, func(d directory.Directory) error { return d.DeleteUser(ctx, id) })
}

// ListGroups implements directory.Directory.
func (s *Selector) ListGroups(ctx context.Context) ([]directory.Group, error) {
	return call(s, ctx, func(d directory.Directory) ([]directory.Group, error) { return d.ListGroups(ctx) })
}

// LookupGroups implements directory.Directory.
func (s *Selector) LookupGroups(ctx context.Context, attr directory.Attr, value string) ([]directory.Group, error) {
	return call(s, ctx, func(d directory.Directory) ([]directory.Group, error) { return d.LookupGroups(ctx, attr, value) })
}

// GetGroup implements directory.Directory.
func (s *Selector) GetGroup(ctx context.Context, id string) (directory.Group, error) {
	return call(s, ctx, func(d directory.Directory) (directory.Group, error) { return d.GetGroup(ctx, id) })
}

// CreateGroup implements directory.Directory.
func (s *Selector) CreateGroup(ctx context.Context, g directory.Group) (directory.Group, error) {
	return call(s, ctx, func(d directory.Directory) (directory.Group, error) { return d.CreateGroup(ctx, g) })
}

// ReplaceGroup implements directory.Directory.
func (s *Selector) ReplaceGroup(ctx context.Context, g directory.Group) (directory.Group, error) {
	return call(s, ctx, func(d directory.Directory) (directory.Group, error) { return d.ReplaceGroup(ctx, g) })
}

// ModifyGroupMembers implements directory.Directory.
func (s *Selector) ModifyGroupMembers(ctx context.Context, id string, add, remove []string) (directory.Group, error) {
	return call(s, ctx, func(d directory.Directory) (directory.Group, error) {
		return d.ModifyGroupMembers(ctx, id, add, remove)
	})
}

// DeleteGroup implements directory.Directory.
func (s *Selector) DeleteGroup(ctx context.Context, id string) error {
	return call0(s, ctx, func(d directory.Directory) error { return d.DeleteGroup(ctx, id) })
}

// ---- metrics -------------------------------------------------------------

type metrics struct {
	mode         *prometheus.GaugeVec
	switches     prometheus.Counter
	probes       *prometheus.CounterVec
	pathFailures *prometheus.CounterVec
	retried      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		mode: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "scim_bridge_sigma_mode",
			Help: "1 for the Sigma path that takes new requests (scim or rest), 0 for the other.",
		}, []string{"mode"}),
		switches: f.NewCounter(prometheus.CounterOpts{
			Name: "scim_bridge_sigma_mode_switches_total",
			Help: "Changes of the live Sigma path.",
		}),
		probes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "scim_bridge_sigma_mode_probes_total",
			Help: "Probes of the Sigma paths in auto mode, by path and result (ok, failed).",
		}, []string{"mode", "result"}),
		pathFailures: f.NewCounterVec(prometheus.CounterOpts{
			Name: "scim_bridge_sigma_mode_path_failures_total",
			Help: "Requests that found their whole Sigma path not working (token rejected, endpoint gone), by path.",
		}, []string{"mode"}),
		retried: f.NewCounterVec(prometheus.CounterOpts{
			Name: "scim_bridge_sigma_mode_requests_repeated_total",
			Help: "Requests repeated on the new live path after their path failed as a whole, by old and new path.",
		}, []string{"from", "to"}),
	}
	for _, p := range []string{ModeSCIM, ModeREST} {
		m.mode.WithLabelValues(p)
		m.pathFailures.WithLabelValues(p)
		for _, r := range []string{"ok", "failed"} {
			m.probes.WithLabelValues(p, r)
		}
	}
	return m
}

// set exports mode as the live one.
func (m *metrics) set(mode string) {
	for _, p := range []string{ModeSCIM, ModeREST} {
		v := 0.0
		if p == mode {
			v = 1
		}
		m.mode.WithLabelValues(p).Set(v)
	}
}
