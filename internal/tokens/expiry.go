package tokens

import (
	"github.com/prometheus/client_golang/prometheus"
)

var tokenExpiryDesc = prometheus.NewDesc("scim_bridge_idp_token_expiry_timestamp_seconds",
	"Unix time at which IdP bearer tokens stop working, by name and state: current (the token the IdP should hold; absent when it never expires) or overlap (the latest end of a rotation overlap, while one runs). Alert on expiry - time() < 7d.",
	[]string{"name", "state"}, nil)

// expiryCollector reports token expiries from the same cached list as the
// age metric (one store read per CacheTTL at most). Revoked and already
// expired tokens are left out: they work no longer.
type expiryCollector struct{ s *Service }

func (c *expiryCollector) Describe(ch chan<- *prometheus.Desc) { ch <- tokenExpiryDesc }

func (c *expiryCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.s.now()
	type key struct{ name, state string }
	latest := map[key]float64{}
	for _, t := range c.s.cachedList() {
		if !t.RevokedAt.IsZero() || t.ExpiresAt.IsZero() || !t.ExpiresAt.After(now) {
			continue
		}
		k := key{t.Name, "current"}
		if !t.SupersededAt.IsZero() {
			k.state = "overlap"
		}
		if at := float64(t.ExpiresAt.UnixNano()) / 1e9; at > latest[k] {
			latest[k] = at
		}
	}
	for k, at := range latest {
		ch <- prometheus.MustNewConstMetric(tokenExpiryDesc, prometheus.GaugeValue, at, k.name, k.state)
	}
}
