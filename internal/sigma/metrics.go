package sigma

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Paths label the two ways to Sigma in every scim_bridge_sigma_* family the
// clients export: one family per concern, path="rest" or path="scim".
const (
	PathREST = "rest"
	PathSCIM = "scim"
)

// metrics of one client (one path), with the path label already applied.
type metrics struct {
	requests     *prometheus.CounterVec // endpoint, method, status_class, reason
	duration     prometheus.ObserverVec // endpoint, method
	retries      *prometheus.CounterVec // endpoint, reason
	tokenRefresh prometheus.Counter     // nil on the SCIM path (static token)

	pacingWaiting  prometheus.Gauge
	pacingRate     prometheus.Gauge
	pacingConc     prometheus.Gauge
	pacingBackoffs *prometheus.CounterVec // cause
}

// endpointMethod is a known (template, method) pair, pre-created at zero.
type endpointMethod struct{ endpoint, method string }

var restEndpoints = []endpointMethod{
	{"/v2/auth/token", "POST"},
	{"/v2/members", "GET"},
	{"/v2/members", "POST"},
	{"/v2/members/{memberId}", "GET"},
	{"/v2/members/{memberId}", "PATCH"},
	{"/v2/members/{memberId}", "DELETE"},
	{"/v2/members/{memberId}/teams", "GET"},
	{"/v2/teams", "GET"},
	{"/v2/teams", "POST"},
	{"/v2/teams/{teamId}", "GET"},
	{"/v2/teams/{teamId}", "PATCH"},
	{"/v2/teams/{teamId}", "DELETE"},
	{"/v2/teams/{teamId}/members", "GET"},
	{"/v2/teams/{teamId}/members", "PATCH"},
	{"/v2/accountTypes", "GET"},
}

var scimEndpoints = []endpointMethod{
	{"/ServiceProviderConfig", "GET"},
	{"/Users", "GET"},
	{"/Users", "POST"},
	{"/Users/{id}", "GET"},
	{"/Users/{id}", "PUT"},
	{"/Users/{id}", "PATCH"},
	{"/Users/{id}", "DELETE"},
	{"/Groups", "GET"},
	{"/Groups", "POST"},
	{"/Groups/{id}", "GET"},
	{"/Groups/{id}", "PUT"},
	{"/Groups/{id}", "PATCH"},
	{"/Groups/{id}", "DELETE"},
}

// reasonClasses pairs every reason with the one status class it occurs
// with (statusClass and reasonFor agree on these); only these pairs are
// pre-created, so no impossible series is exported.
var reasonClasses = []struct{ reason, class string }{
	{ReasonOK, "2xx"},
	{ReasonAuth, "4xx"},
	{ReasonRateLimited, "4xx"},
	{ReasonClient, "4xx"},
	{ReasonServer, "5xx"},
	{ReasonTransport, "none"},
}

// Causes of a pacing backoff (scim_bridge_sigma_pacing_backoffs_total).
const (
	backoffRateLimited = "rate_limited" // a 429 from the API
	backoffLatency     = "latency"      // answers slowed well beyond their usual time
)

// newMetrics registers (or, when the same registry already has them, reuses)
// the scim_bridge_sigma_* collectors and returns them with path applied.
// Only the endpoints of that path (known) are pre-created.
func newMetrics(reg prometheus.Registerer, path string, known []endpointMethod) *metrics {
	requests := Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "scim_bridge", Subsystem: "sigma", Name: "requests_total",
		Help: "Upstream Sigma calls (every attempt) by path (rest, scim), endpoint template, method, status class and reason.",
	}, []string{"path", "endpoint", "method", "status_class", "reason"}))
	duration := Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "scim_bridge", Subsystem: "sigma", Name: "request_duration_seconds",
		Help:    "Duration of upstream Sigma calls (every attempt) by path, endpoint template and method.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"path", "endpoint", "method"}))
	retries := Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "scim_bridge", Subsystem: "sigma", Name: "retries_total",
		Help: "Upstream Sigma calls repeated after a retryable failure, by path, endpoint template and reason.",
	}, []string{"path", "endpoint", "reason"}))
	waiting := Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "scim_bridge", Subsystem: "sigma", Name: "pacing_waiting",
		Help: "Calls currently waiting for their turn under the adaptive rate and concurrency limits, by path.",
	}, []string{"path"}))
	rate := Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "scim_bridge", Subsystem: "sigma", Name: "pacing_rate_limit",
		Help: "Requests per second the adaptive pacing currently allows, by path (at most sigma.requests_per_second).",
	}, []string{"path"}))
	conc := Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "scim_bridge", Subsystem: "sigma", Name: "pacing_concurrency_limit",
		Help: "Calls the adaptive pacing currently allows in flight, by path (at most sigma.max_concurrent).",
	}, []string{"path"}))
	backoffs := Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "scim_bridge", Subsystem: "sigma", Name: "pacing_backoffs_total",
		Help: "Times the adaptive pacing cut its limits, by path and cause (rate_limited: a 429; latency: answers slowed down).",
	}, []string{"path", "cause"}))

	lp := prometheus.Labels{"path": path}
	m := &metrics{
		requests:       requests.MustCurryWith(lp),
		duration:       duration.MustCurryWith(lp),
		retries:        retries.MustCurryWith(lp),
		pacingWaiting:  waiting.WithLabelValues(path),
		pacingRate:     rate.WithLabelValues(path),
		pacingConc:     conc.WithLabelValues(path),
		pacingBackoffs: backoffs.MustCurryWith(lp),
	}
	if path == PathREST {
		m.tokenRefresh = Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "scim_bridge", Subsystem: "sigma", Name: "token_refreshes_total",
			Help: "Token requests sent to the Sigma REST token endpoint.",
		}))
	}
	for _, em := range known {
		for _, rc := range reasonClasses {
			m.requests.WithLabelValues(em.endpoint, em.method, rc.class, rc.reason)
		}
		m.duration.WithLabelValues(em.endpoint, em.method)
	}
	for _, cause := range []string{backoffRateLimited, backoffLatency} {
		m.pacingBackoffs.WithLabelValues(cause)
	}
	return m
}

// Register registers c in reg, or returns the collector already
// registered under the same description (two clients, or the two paths'
// directories, sharing one registry share metrics). reg nil: c.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

func (m *metrics) observe(endpoint, method string, status int, reason string, seconds float64) {
	m.requests.WithLabelValues(endpoint, method, statusClass(status), reason).Inc()
	m.duration.WithLabelValues(endpoint, method).Observe(seconds)
}
