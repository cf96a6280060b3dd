package modes_test

import (
	"context"
	"testing"

	"github.com/scimbridge/scim-bridge/internal/directory/directorytest"
	"github.com/scimbridge/scim-bridge/internal/sigma/modes"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmatest"
)

// TestConformance runs the Directory conformance suite through the
// Selector in auto mode, once on each path. Account types are spelled the
// same way on both: the IdP cannot tell which path serves it.
func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name   string
		scimOn bool
		want   string
	}{{"scim", true, modes.ModeSCIM}, {"rest", false, modes.ModeREST}} {
		t.Run(tc.name, func(t *testing.T) {
			directorytest.Run(t, func(t *testing.T) directorytest.Harness {
				e := newEnv(t, modes.ModeAuto, sigmafake.Options{Members: 5, Teams: 2, SCIMDisabled: !tc.scimOn})
				if mode, why := e.sel.ProbeNow(context.Background()); mode != tc.want {
					t.Fatalf("live = %s (%s), want %s", mode, why, tc.want)
				}
				e.srv.ResetRequests()
				return directorytest.Harness{
					Dir:                  e.sel,
					AccountTypes:         []string{"Pro", "Analyst Creator"},
					UpstreamWrites:       func() int { return sigmatest.Writes(e.srv) },
					UpstreamCalls:        func() int { return len(sigmatest.APICalls(e.srv)) },
					LoseNextDeleteAnswer: func() { sigmatest.LoseNextGroupDeleteAnswer(e.srv) },
					LoseNextCreateAnswer: func() func() { return sigmatest.LoseNextCreateAnswer(e.srv) },
					AuditOutcomes:        sigmatest.AuditOutcomes(e.st),
				}
			})
		})
	}
}
