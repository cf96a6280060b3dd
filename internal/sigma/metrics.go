package sigma

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics of one client family (REST or SCIM).
type metrics struct {
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	tokenRefresh  prometheus.Counter // nil for SCIM
	retries       *prometheus.CounterVec
	pacingWaiting prometheus.Gauge
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

// reasonClasses pairs every reason with the status classes it occurs with.
var reasonClasses = []struct{ reason, class string }{
	{ReasonOK, "2xx"},
	{ReasonAuth, "4xx"},
	{ReasonRateLimited, "4xx"},
	{ReasonClient, "4xx"},
	{ReasonServer, "5xx"},
	{ReasonTransport, "none"},
}

// newMetrics registers (or, when the same registry already has them, reuses)
// the collectors named scim_bridge_<subsystem>_*. subsystem is "sigma" for
// REST and "sigma_scim" for the SCIM client.
func newMetrics(reg prometheus.Registerer, subsystem string, known []endpointMethod, withToken bool) *metrics {
	m := &metrics{
		requests: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "scim_bridge", Subsystem: subsystem, Name: "requests_total",
			Help: "Upstream Sigma calls (every attempt) by endpoint template, method, status class and reason.",
		}, []string{"endpoint", "method", "status_class", "reason"})),
		duration: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "scim_bridge", Subsystem: subsystem, Name: "request_duration_seconds",
			Help:    "Duration of upstream Sigma calls (every attempt) by endpoint template and method.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"endpoint", "method"})),
		retries: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "scim_bridge", Subsystem: subsystem, Name: "retries_total",
			Help: "Upstream Sigma calls repeated after a retryable failure, by endpoint template and reason.",
		}, []string{"endpoint", "reason"})),
		pacingWaiting: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "scim_bridge", Subsystem: subsystem, Name: "pacing_waiting",
			Help: "Calls currently waiting for their turn under the concurrency and rate limits.",
		})),
	}
	if withToken {
		m.tokenRefresh = register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "scim_bridge", Subsystem: subsystem, Name: "token_refreshes_total",
			Help: "Token requests sent to the Sigma token endpoint.",
		}))
	}
	for _, em := range known {
		for _, rc := range reasonClasses {
			m.requests.WithLabelValues(em.endpoint, em.method, rc.class, rc.reason)
		}
		m.duration.WithLabelValues(em.endpoint, em.method)
	}
	return m
}

// register registers c, or returns the collector already registered under
// the same description (two clients sharing one registry share metrics).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
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
