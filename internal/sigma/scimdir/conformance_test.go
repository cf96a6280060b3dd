package scimdir_test

import (
	"testing"

	"github.com/scimbridge/scim-bridge/internal/directory/directorytest"
	"github.com/scimbridge/scim-bridge/internal/sigma/scimdir"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmatest"
)

// TestConformanceSCIMOnly runs the suite with only the SCIM token: account
// types are Sigma's SCIM spellings (built-ins lower case, custom as named).
func TestConformanceSCIMOnly(t *testing.T) {
	directorytest.Run(t, func(t *testing.T) directorytest.Harness {
		e := newEnv(t, envOpts{
			fake: sigmafake.Options{Members: 5, Teams: 2},
			dir:  scimdir.Options{AccountTypes: []string{"Analyst Creator"}},
		})
		e.srv.ResetRequests()
		return sigmatest.Harness(e.srv, e.store, e.dir, "pro", "Analyst Creator")
	})
}

// TestConformanceWithREST runs the suite with REST credentials as well:
// account types are resolved and named as on the REST path.
func TestConformanceWithREST(t *testing.T) {
	directorytest.Run(t, func(t *testing.T) directorytest.Harness {
		e := newEnv(t, envOpts{fake: sigmafake.Options{Members: 5, Teams: 2}, rest: true})
		e.srv.ResetRequests()
		return sigmatest.Harness(e.srv, e.store, e.dir, "Pro", "Analyst Creator")
	})
}

// TestDryRunConformance: the dry-run cases over SCIM, with and without
// REST credentials.
func TestDryRunConformance(t *testing.T) {
	for _, rest := range []bool{false, true} {
		t.Run(map[bool]string{false: "scim-only", true: "with-rest"}[rest], func(t *testing.T) {
			directorytest.RunDryRun(t, func(t *testing.T) directorytest.Harness {
				e := newEnv(t, envOpts{fake: sigmafake.Options{Members: 3, Teams: 1}, rest: rest, dir: scimdir.Options{DryRun: true}})
				e.srv.ResetRequests()
				return sigmatest.Harness(e.srv, e.store, e.dir, "Pro", "Analyst Creator")
			})
		})
	}
}
