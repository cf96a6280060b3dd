package tokens

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimbridge/scim-bridge/internal/store"
)

type metrics struct {
	failures  *prometheus.CounterVec
	limited   prometheus.Counter
	forbidden *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, s *Service) *metrics {
	m := &metrics{
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scim_bridge_auth_failures_total",
			Help: "Bearer token authentications refused (401), by reason (missing, malformed, unknown, expired, revoked, network: a valid token from outside its networks).",
		}, []string{"reason"}),
		limited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scim_bridge_auth_rate_limited_total",
			Help: "Requests answered 429 because their client address failed authentication too often.",
		}),
		forbidden: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scim_bridge_auth_forbidden_total",
			Help: "Requests with a valid token beyond its scope (403), by reason (read_only: a write with a scim:read token; admin_only: an admin token on the SCIM API; not_admin: a SCIM token on the admin status page).",
		}, []string{"reason"}),
	}
	for _, r := range allReasons {
		m.failures.WithLabelValues(string(r))
	}
	for _, r := range allForbidReasons {
		m.forbidden.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.failures, m.limited, m.forbidden, &ageCollector{s: s}, &expiryCollector{s: s})
	}
	return m
}

var tokenAgeDesc = prometheus.NewDesc("scim_bridge_idp_token_age_seconds",
	"Seconds since the current (newest, unrevoked) IdP bearer token of each name was issued; rotate when it grows old.",
	[]string{"name"}, nil)

// ageCollector reports token ages from a list of tokens cached for
// CacheTTL (at least a second), so scrapes cost at most one store read per
// CacheTTL.
type ageCollector struct{ s *Service }

func (c *ageCollector) Describe(ch chan<- *prometheus.Desc) { ch <- tokenAgeDesc }

func (c *ageCollector) Collect(ch chan<- prometheus.Metric) {
	ts := c.s.cachedList()
	now := c.s.now()
	for _, t := range ts {
		if t.SupersededAt.IsZero() && t.RevokedAt.IsZero() {
			ch <- prometheus.MustNewConstMetric(tokenAgeDesc, prometheus.GaugeValue, now.Sub(t.CreatedAt).Seconds(), t.Name)
		}
	}
}

// cachedList returns the token list, reading the store when the cached one
// is older than CacheTTL. On a store error it keeps serving the last list.
func (s *Service) cachedList() []store.Token {
	s.listMu.Lock()
	defer s.listMu.Unlock()
	ttl := max(s.opts.CacheTTL, time.Second)
	now := s.now()
	if s.listCache != nil && now.Sub(s.listFetched) < ttl {
		return s.listCache
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.StoreTimeout)
	defer cancel()
	ts, err := s.st.ListTokens(ctx)
	if err != nil {
		s.log.Warn("list tokens for metrics", "err", err)
		return s.listCache
	}
	s.listCache, s.listFetched = ts, now
	return ts
}

func (s *Service) setList(ts []store.Token) {
	s.listMu.Lock()
	s.listCache, s.listFetched = ts, s.now()
	s.listMu.Unlock()
}

func (s *Service) invalidateList() {
	s.listMu.Lock()
	s.listCache = nil
	s.listMu.Unlock()
}

// RegisterSecretAge registers scim_bridge_upstream_secret_age_seconds{source}
// on reg: the seconds since changedAt (for example secret.File.ChangedAt or
// secret.Static.ChangedAt), so an alert can say "rotate the Sigma SCIM token,
// it is 80 days old". Before changedAt knows a time (a file not read yet)
// the value is NaN. Each source may be registered once per registry.
func RegisterSecretAge(reg prometheus.Registerer, source string, changedAt func() time.Time) error {
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "scim_bridge_upstream_secret_age_seconds",
		Help:        "Seconds since each upstream (Sigma) secret last changed, by source.",
		ConstLabels: prometheus.Labels{"source": source},
	}, func() float64 {
		at := changedAt()
		if at.IsZero() {
			return math.NaN()
		}
		return time.Since(at).Seconds()
	})
	if err := reg.Register(g); err != nil {
		return fmt.Errorf("register secret age metric for %q: %w", source, err)
	}
	return nil
}
