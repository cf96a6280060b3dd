// Package tokens issues, verifies, rotates and revokes the bearer tokens an
// identity provider presents to the bridge's SCIM listener, and exposes the
// age of upstream (Sigma) secrets as metrics.
//
// A token is a random secret of at least 256 bits with a recognisable prefix
// ("scimb_") so secret scanners find leaked ones. Only its SHA-256 and a short
// display prefix are stored. Several named tokens may be live at once (one
// per IdP or environment), each with an optional expiry, a scope (SCIM
// read-write, SCIM read-only, or the admin status page only) and optional
// source networks, so that a leaked token can do and reach no more than its
// holder needed (scope.go).
//
// Verification is cached in memory so that the hot path costs no store round
// trip. The promise to operators is a bound on staleness: a revocation, or
// the end of an overlap shortened by a rotation on another replica, takes
// effect on every replica within Options.CacheTTL (default 10s); on the
// replica (or CLI) that made the change it takes effect at once. Expiry that
// was already known is enforced at the exact instant. A token created on
// another replica is accepted at once: unknown tokens are looked up in the
// store and not cached for longer than Options.NegativeCacheTTL (default 1s).
package tokens

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/scimbridge/scim-bridge/internal/store"
)

// Defaults for Options.
const (
	DefaultPrefix           = "scimb_"
	DefaultCacheTTL         = 10 * time.Second
	DefaultNegativeCacheTTL = time.Second
	DefaultTouchEvery       = time.Minute
	DefaultStoreTimeout     = 5 * time.Second
	DefaultFailureBurst     = 10
	DefaultFailureInterval  = 6 * time.Second
	DefaultMaxTrackedAddrs  = 10000
	DefaultRotateOverlap    = 24 * time.Hour
)

// Options tunes a Service. Zero fields take the documented defaults.
type Options struct {
	// Now is the clock; default time.Now. Tests inject one to move time.
	Now func() time.Time
	// CacheTTL bounds how long a verified token's record is reused without
	// asking the store, and therefore how long a revocation (or an overlap
	// shortened) on another replica can go unnoticed here. Default 10s;
	// negative disables the cache (every verification reads the store).
	CacheTTL time.Duration
	// NegativeCacheTTL is how long "no such token" is remembered for a
	// well-formed token. Default 1s; negative disables it.
	NegativeCacheTTL time.Duration
	// TouchEvery coalesces last-used writes: at most one TouchToken per
	// token per TouchEvery from this process. Default 1m.
	TouchEvery time.Duration
	// StoreTimeout bounds a store lookup made on the request path (it is
	// shared by concurrent requests for the same token). Default 5s.
	StoreTimeout time.Duration
	// Prefix starts every issued secret. Default "scimb_". Changing it makes
	// every existing token malformed.
	Prefix string

	// FailureBurst is how many failed authentications one client address may
	// make before it is answered 429. Default 10.
	FailureBurst int
	// FailureInterval is how often one more failure is allowed once the burst
	// is spent (a token bucket refilled at 1/FailureInterval). Default 6s.
	FailureInterval time.Duration
	// MaxTrackedAddrs bounds the per-address failure table; the address that
	// failed least recently is forgotten first. Default 10000.
	MaxTrackedAddrs int
	// TrustForwardedFor takes the client address from the last entry of
	// X-Forwarded-For (the address the nearest proxy saw) instead of the TCP
	// peer. Only set it behind a proxy that always sets that header.
	// Default false.
	TrustForwardedFor bool
}

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = DefaultCacheTTL
	}
	if o.NegativeCacheTTL == 0 {
		o.NegativeCacheTTL = DefaultNegativeCacheTTL
	}
	if o.TouchEvery <= 0 {
		o.TouchEvery = DefaultTouchEvery
	}
	if o.StoreTimeout <= 0 {
		o.StoreTimeout = DefaultStoreTimeout
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.FailureBurst <= 0 {
		o.FailureBurst = DefaultFailureBurst
	}
	if o.FailureInterval <= 0 {
		o.FailureInterval = DefaultFailureInterval
	}
	if o.MaxTrackedAddrs <= 0 {
		o.MaxTrackedAddrs = DefaultMaxTrackedAddrs
	}
	return o
}

// Service manages IdP bearer tokens on top of a store.Store. It is safe for
// concurrent use. Call Close at shutdown to flush last-used times.
type Service struct {
	st   store.Store
	opts Options
	now  func() time.Time
	log  *slog.Logger
	m    *metrics
	lim  *limiter
	sf   singleflight.Group

	mu  sync.Mutex
	gen uint64 // bumped by every local invalidation
	pos map[string]cacheEntry
	neg map[string]time.Time

	touchMu sync.Mutex
	touches map[string]*touchState
	touchWG sync.WaitGroup
	closed  bool

	listMu      sync.Mutex
	listCache   []store.Token
	listFetched time.Time
}

type cacheEntry struct {
	tok     store.Token
	fetched time.Time
}

type touchState struct {
	seen     time.Time // latest verified use
	written  time.Time // latest use handed to TouchToken
	inflight bool
}

// New returns a Service over st. Metrics are registered on reg (which may be
// nil for none); logger may be nil to discard logs.
func New(st store.Store, opts Options, reg prometheus.Registerer, logger *slog.Logger) *Service {
	opts = opts.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		st:      st,
		opts:    opts,
		now:     opts.Now,
		log:     logger,
		pos:     make(map[string]cacheEntry),
		neg:     make(map[string]time.Time),
		touches: make(map[string]*touchState),
	}
	s.lim = newLimiter(opts.FailureBurst, opts.FailureInterval, opts.MaxTrackedAddrs)
	s.m = newMetrics(reg, s)
	return s
}

// Reason says why an authentication failed.
type Reason string

// Authentication failure reasons; they are also the values of the reason
// label of scim_bridge_auth_failures_total.
const (
	ReasonMissing   Reason = "missing"
	ReasonMalformed Reason = "malformed"
	ReasonUnknown   Reason = "unknown"
	ReasonExpired   Reason = "expired"
	ReasonRevoked   Reason = "revoked"
	// ReasonNetwork: a valid token presented from outside its networks.
	// The client is told the same as for an unknown token.
	ReasonNetwork Reason = "network"
)

var allReasons = []Reason{ReasonMissing, ReasonMalformed, ReasonUnknown, ReasonExpired, ReasonRevoked, ReasonNetwork}

// AuthError is the error Verify returns when a presented token must be
// refused. It never contains the secret.
type AuthError struct {
	Reason Reason
	// Name is the token's name when the token is known (expired, revoked).
	Name string
	// Superseded is set for an expired token that a rotation replaced.
	Superseded bool
}

func (e *AuthError) Error() string {
	if e.Name != "" {
		return fmt.Sprintf("authenticate: bearer token %q %s", e.Name, e.Reason)
	}
	return "authenticate: bearer token " + string(e.Reason)
}

// Detail is a one-sentence explanation for the client that says what to fix.
// It names the token (an operator's label, not a secret) only to a client
// that presented that token.
func (e *AuthError) Detail() string {
	switch e.Reason {
	case ReasonMissing:
		return "missing bearer token; send the header `Authorization: Bearer <token>` with a token issued by `scim-bridge token create`"
	case ReasonMalformed:
		return "malformed bearer token; expected `Authorization: Bearer scimb_…` with a token issued by `scim-bridge token create`, copied whole"
	case ReasonUnknown, ReasonNetwork:
		return "unknown bearer token; check the token configured in the identity provider, or issue one with `scim-bridge token create --name NAME`"
	case ReasonExpired:
		if e.Superseded {
			return fmt.Sprintf("bearer token expired: it was replaced by a rotation and its overlap has ended; configure the identity provider with the newest token of %q", e.Name)
		}
		return fmt.Sprintf("bearer token expired; rotate it with `scim-bridge token rotate %s`", e.Name)
	case ReasonRevoked:
		return fmt.Sprintf("bearer token revoked; issue a new one with `scim-bridge token create --name %s`", e.Name)
	}
	return "invalid bearer token"
}

// State is the lifecycle state of a token as List reports it.
type State string

// Token states.
const (
	StateActive  State = "active"  // the current token of its name
	StateOverlap State = "overlap" // superseded by a rotation but still valid
	StateExpired State = "expired"
	StateRevoked State = "revoked"
)

// TokenInfo describes a token for operators. It never holds the secret or
// its hash.
type TokenInfo struct {
	ID           string
	Name         string
	Prefix       string
	State        State
	CreatedAt    time.Time
	ExpiresAt    time.Time // zero: never
	LastUsedAt   time.Time // zero: never
	SupersededAt time.Time // zero: current
	RevokedAt    time.Time // zero: not revoked
	Scope        Scope
	Networks     []netip.Prefix // empty: any
}

func stateAt(t store.Token, now time.Time) State {
	switch {
	case !t.RevokedAt.IsZero():
		return StateRevoked
	case !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt):
		return StateExpired
	case !t.SupersededAt.IsZero():
		return StateOverlap
	}
	return StateActive
}

// nameRE keeps names printable in tables, logs and shell commands.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ErrInvalidName is returned for a token name outside [A-Za-z0-9._-]{1,64}.
var ErrInvalidName = errors.New("token name must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")

func checkName(name string) error {
	if !nameRE.MatchString(name) {
		return ErrInvalidName
	}
	return nil
}

func (s *Service) nowUTC() time.Time {
	// Microseconds: what PostgreSQL keeps, so a value read back compares
	// equal to the one written.
	return s.now().UTC().Truncate(time.Microsecond)
}

// Create issues a new token called name with full SCIM access from any
// address; see CreateGranted.
func (s *Service) Create(ctx context.Context, name string, ttl time.Duration) (string, store.Token, error) {
	return s.CreateGranted(ctx, name, ttl, Grant{})
}

// CreateGranted issues a new token called name, valid for ttl (0: no
// expiry) and limited by g, and returns its secret. The secret is not
// stored and cannot be shown again. It fails with store.ErrConflict
// (wrapped) if name already has a current token.
func (s *Service) CreateGranted(ctx context.Context, name string, ttl time.Duration, g Grant) (string, store.Token, error) {
	if err := checkName(name); err != nil {
		return "", store.Token{}, fmt.Errorf("create token: %w", err)
	}
	if ttl < 0 {
		return "", store.Token{}, fmt.Errorf("create token %q: ttl must not be negative", name)
	}
	if err := g.check(); err != nil {
		return "", store.Token{}, fmt.Errorf("create token %q: %w", name, err)
	}
	secret, t, err := s.newToken(name, ttl, g)
	if err != nil {
		return "", store.Token{}, fmt.Errorf("create token %q: %w", name, err)
	}
	if err := s.st.CreateToken(ctx, t); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return "", store.Token{}, fmt.Errorf("create token %q: a current token with that name exists; rotate it with `scim-bridge token rotate %s` or revoke it first: %w", name, name, err)
		}
		return "", store.Token{}, fmt.Errorf("create token %q: %w", name, err)
	}
	s.invalidateList()
	s.log.Info("token created", "name", name, "id", t.ID, "prefix", t.Prefix, "expires_at", t.ExpiresAt,
		"scope", g.Scope.String(), "networks", store.FormatNetworks(g.Networks))
	return secret, t, nil
}

func (s *Service) newToken(name string, ttl time.Duration, g Grant) (string, store.Token, error) {
	secret, hash, display, err := newSecret(s.opts.Prefix)
	if err != nil {
		return "", store.Token{}, err
	}
	id, err := newID()
	if err != nil {
		return "", store.Token{}, err
	}
	now := s.nowUTC()
	t := store.Token{ID: id, Name: name, Hash: hash, Prefix: display, CreatedAt: now,
		Scope: string(g.Scope), Networks: slices.Clone(g.Networks)}
	if ttl > 0 {
		t.ExpiresAt = now.Add(ttl)
	}
	return secret, t, nil
}

// List returns every token (all states), ordered by name then creation.
func (s *Service) List(ctx context.Context) ([]TokenInfo, error) {
	ts, err := s.st.ListTokens(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	s.setList(ts)
	now := s.now()
	out := make([]TokenInfo, 0, len(ts))
	for _, t := range ts {
		last := t.LastUsedAt
		if seen := s.lastSeen(t.ID); seen.After(last) {
			last = seen
		}
		out = append(out, TokenInfo{
			ID: t.ID, Name: t.Name, Prefix: t.Prefix, State: stateAt(t, now),
			CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, LastUsedAt: last,
			SupersededAt: t.SupersededAt, RevokedAt: t.RevokedAt,
			Scope: Scope(t.Scope), Networks: t.Networks,
		})
	}
	return out, nil
}

// Revoke revokes every token called name (the current one and any still in
// an overlap). It takes effect at once in this process and within CacheTTL
// on every other replica. store.ErrNotFound (wrapped) if name has no token.
func (s *Service) Revoke(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	err := s.st.RevokeToken(ctx, name, s.nowUTC())
	s.invalidate(name)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("revoke token %q: no token has that name: %w", name, err)
		}
		return fmt.Errorf("revoke token %q: %w", name, err)
	}
	s.log.Info("token revoked", "name", name)
	return nil
}

// Rotate issues a successor to the current token of name and returns its
// secret. The old token keeps working for overlap (0: it stops at once),
// then expires. The new token gets the same lifetime the old one was created
// with (none if the old one had no expiry), and the same scope and networks.
//
// Rotation is a compare-and-swap in the store: if another operator or
// replica rotated (or revoked) name since this call read it, Rotate fails
// with an error wrapping store.ErrConflict and changes nothing, so there is
// never more than one live successor.
func (s *Service) Rotate(ctx context.Context, name string, overlap time.Duration) (string, store.Token, error) {
	if err := checkName(name); err != nil {
		return "", store.Token{}, fmt.Errorf("rotate token: %w", err)
	}
	if overlap < 0 {
		return "", store.Token{}, fmt.Errorf("rotate token %q: overlap must not be negative", name)
	}
	ts, err := s.st.ListTokens(ctx)
	if err != nil {
		return "", store.Token{}, fmt.Errorf("rotate token %q: %w", name, err)
	}
	var cur store.Token
	found := false
	for _, t := range ts {
		if t.Name == name && t.SupersededAt.IsZero() && t.RevokedAt.IsZero() {
			cur, found = t, true
		}
	}
	if !found {
		return "", store.Token{}, fmt.Errorf("rotate token %q: no current token has that name; issue one with `scim-bridge token create --name %s`: %w", name, name, store.ErrNotFound)
	}
	var ttl time.Duration
	if !cur.ExpiresAt.IsZero() {
		ttl = max(cur.ExpiresAt.Sub(cur.CreatedAt), time.Second)
	}
	secret, next, err := s.newToken(name, ttl, Grant{Scope: Scope(cur.Scope), Networks: cur.Networks})
	if err != nil {
		return "", store.Token{}, fmt.Errorf("rotate token %q: %w", name, err)
	}
	now := next.CreatedAt
	if err := s.st.RotateToken(ctx, cur.ID, now.Add(overlap), now, next); err != nil {
		s.invalidate(name)
		if errors.Is(err, store.ErrConflict) {
			return "", store.Token{}, fmt.Errorf("rotate token %q: another rotation or revocation of this token happened at the same time and won; check `scim-bridge token list` before retrying: %w", name, err)
		}
		return "", store.Token{}, fmt.Errorf("rotate token %q: %w", name, err)
	}
	s.invalidate(name)
	s.log.Info("token rotated", "name", name, "id", next.ID, "prefix", next.Prefix,
		"previous_id", cur.ID, "previous_prefix", cur.Prefix, "previous_valid_until", now.Add(overlap))
	return secret, next, nil
}

// Close waits for last-used writes in flight and writes the ones still
// pending. Verify keeps working after Close but records no more uses.
func (s *Service) Close() error {
	s.touchMu.Lock()
	s.closed = true
	s.touchMu.Unlock()
	s.touchWG.Wait()
	s.touchMu.Lock()
	pending := make(map[string]time.Time)
	for id, ts := range s.touches {
		if ts.seen.After(ts.written) {
			pending[id] = ts.seen
			ts.written = ts.seen
		}
	}
	s.touchMu.Unlock()
	var errs []error
	for id, at := range pending {
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.StoreTimeout)
		if err := s.st.TouchToken(ctx, id, at); err != nil {
			errs = append(errs, fmt.Errorf("record last use of token %s: %w", id, err))
		}
		cancel()
	}
	return errors.Join(errs...)
}
