package modes_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimbridge/scim-bridge/internal/directory/directorytest"
	"github.com/scimbridge/scim-bridge/internal/sigma/modes"
	"github.com/scimbridge/scim-bridge/internal/sigma/provision"
	"github.com/scimbridge/scim-bridge/internal/sigma/restdir"
	"github.com/scimbridge/scim-bridge/internal/sigma/scimdir"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmatest"
)

// livePaths are the two ways the Selector in auto mode serves: with
// Sigma's SCIM on, and with it off (REST).
var livePaths = []struct {
	name   string
	scimOn bool
	want   string
}{{"scim", true, modes.ModeSCIM}, {"rest", false, modes.ModeREST}}

// TestConformance runs the Directory conformance suite through the
// Selector in auto mode, once on each path. Account types are spelled the
// same way on both: the IdP cannot tell which path serves it.
func TestConformance(t *testing.T) {
	for _, tc := range livePaths {
		t.Run(tc.name, func(t *testing.T) {
			directorytest.Run(t, func(t *testing.T) directorytest.Harness {
				e := newEnv(t, modes.ModeAuto, sigmafake.Options{Members: 5, Teams: 2, SCIMDisabled: !tc.scimOn})
				if mode, why := e.sel.ProbeNow(context.Background()); mode != tc.want {
					t.Fatalf("live = %s (%s), want %s", mode, why, tc.want)
				}
				e.srv.ResetRequests()
				return sigmatest.Harness(e.srv, e.st, e.sel, "Pro", "Analyst Creator")
			})
		})
	}
}

// TestDryRunConformance runs the dry-run cases through the Selector on
// each path, the two paths sharing one dry-run record as the app builds
// them.
func TestDryRunConformance(t *testing.T) {
	for _, tc := range livePaths {
		t.Run(tc.name, func(t *testing.T) {
			directorytest.RunDryRun(t, func(t *testing.T) directorytest.Harness {
				srv := sigmatest.Fake(t, sigmafake.Options{Members: 3, Teams: 1, SCIMDisabled: !tc.scimOn})
				st := sigmatest.OpenStore(t)
				rest := sigmatest.REST(t, srv, nil, nil)
				dry := provision.NewDryRuns()
				sc := scimdir.New(sigmatest.SCIM(t, srv, nil, nil), rest, st, scimdir.Options{DryRun: true, DryRuns: dry}, nil, nil)
				rd := restdir.New(rest, st, restdir.Options{DryRun: true, DryRuns: dry}, nil, nil)
				sel := modes.New(modes.Options{Mode: modes.ModeAuto, SCIM: sc, SCIMProbe: sc.Probe, REST: rd, RESTProbe: rest.Ping,
					ProbeInterval: time.Hour}, st, prometheus.NewRegistry(), nil)
				if mode, why := sel.ProbeNow(context.Background()); mode != tc.want {
					t.Fatalf("live = %s (%s), want %s", mode, why, tc.want)
				}
				srv.ResetRequests()
				return sigmatest.Harness(srv, st, sel, "Pro", "Analyst Creator")
			})
		})
	}
}
