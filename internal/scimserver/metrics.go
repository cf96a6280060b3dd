package scimserver

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	ignored  *prometheus.CounterVec
}

var (
	resourceLabels = []string{"users", "groups", "discovery", "other"}
	methodLabels   = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scim_bridge_scim_requests_total",
			Help: "SCIM requests answered, by resource, method and status class (2xx, 4xx, 5xx; unsupported for 501 answers to features the bridge does not offer, such as /Bulk).",
		}, []string{"resource", "method", "status_class"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scim_bridge_scim_request_duration_seconds",
			Help:    "Time to answer a SCIM request, by resource and method.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"resource", "method"}),
		ignored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scim_bridge_scim_ignored_attributes_total",
			Help: "Attributes of a known resource that no served schema defines, left out of writes (custom extensions, mapping typos), by resource. The names are logged at debug level.",
		}, []string{"resource"}),
	}
	m.ignored.WithLabelValues("users")
	m.ignored.WithLabelValues("groups")
	for _, r := range resourceLabels {
		for _, meth := range methodLabels {
			m.duration.WithLabelValues(r, meth)
			for _, c := range []string{"2xx", "4xx", "5xx"} {
				m.requests.WithLabelValues(r, meth, c)
			}
			if r == "other" {
				m.requests.WithLabelValues(r, meth, classUnsupported)
			}
		}
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.duration, m.ignored} {
			if err := reg.Register(c); err != nil {
				var are prometheus.AlreadyRegisteredError
				if errors.As(err, &are) {
					return nil, errors.New("scimserver: metrics already registered: use a fresh registry per server")
				}
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) observe(resource, method string, status int, d time.Duration) {
	known := false
	for _, k := range methodLabels {
		if method == k {
			known = true
		}
	}
	if !known {
		method = "other"
	}
	m.requests.WithLabelValues(resource, method, statusClass(status)).Inc()
	m.duration.WithLabelValues(resource, method).Observe(d.Seconds())
}

// resourceLabel classifies a raw request path (before normalisation, so
// label values stay bounded whatever is requested) by its first segment
// that names an endpoint.
func resourceLabel(path string) string {
	for _, seg := range strings.Split(path, "/") {
		switch strings.ToLower(seg) {
		case "users":
			return "users"
		case "groups":
			return "groups"
		case "serviceproviderconfig", "schemas", "resourcetypes":
			return "discovery"
		}
	}
	return "other"
}

// classUnsupported is the status class of a 501: a feature the bridge
// does not offer (POST /Bulk, /Me), which an error-rate alert on 5xx must
// not count as a server error.
const classUnsupported = "unsupported"

func statusClass(status int) string {
	if status == http.StatusNotImplemented {
		return classUnsupported
	}
	return strconv.Itoa(status/100) + "xx"
}
