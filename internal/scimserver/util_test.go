package scimserver_test

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimbridge/scim-bridge/internal/store"
)

func urlq(s string) string { return url.QueryEscape(s) }

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func storeAuditFilter() store.AuditFilter { return store.AuditFilter{Limit: 1000} }

// counter finds scim_bridge_scim_requests_total{resource,method,status_class}.
func counter(t *testing.T, ts *testServer, resource, method, class string) prometheus.Collector {
	t.Helper()
	mfs, err := ts.Reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "scim_bridge_scim_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["resource"] == resource && labels["method"] == method && labels["status_class"] == class {
				v := m.GetCounter().GetValue()
				g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"})
				g.Set(v)
				return g
			}
		}
	}
	t.Fatalf("no counter for %s %s %s", resource, method, class)
	return nil
}
