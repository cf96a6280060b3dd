package scimdir_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimbridge/scim-bridge/internal/secret"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/scimdir"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmatest"
	"github.com/scimbridge/scim-bridge/internal/store"
)

// env is one emulated org, one sqlite store and a SCIM directory over them.
type env struct {
	srv   *sigmafake.Server
	store store.Store
	scim  *sigma.SCIMClient
	rest  *sigma.Client // nil unless envOpts.rest
	dir   *scimdir.Directory
	reg   *prometheus.Registry
}

type envOpts struct {
	fake  sigmafake.Options
	dir   scimdir.Options
	rest  bool          // give the directory a REST client
	token secret.Source // default: the emulator's token, static
}

// newSCIM is a SCIM client of srv with tok (nil: the emulator's token).
func newSCIM(t testing.TB, srv *sigmafake.Server, tok secret.Source, reg prometheus.Registerer) *sigma.SCIMClient {
	return sigmatest.SCIM(t, srv, reg, func(c *sigma.SCIMConfig) {
		if tok != nil {
			c.Token = tok
		}
	})
}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	srv := sigmatest.Fake(t, o.fake)
	st := sigmatest.OpenStore(t)
	reg := prometheus.NewRegistry()
	e := &env{srv: srv, store: st, reg: reg, scim: newSCIM(t, srv, o.token, reg)}
	if o.rest {
		e.rest = sigmatest.REST(t, srv, nil, func(c *sigma.Config) { c.AccountTypeAliases = o.dir.AccountTypeAliases })
	}
	e.dir = scimdir.New(e.scim, e.rest, st, o.dir, reg, nil)
	return e
}
