package app

import (
	"context"
	"net/http"
)

// build constructs the components from a.cfg, registers their readiness
// checks, closers and background work, and returns the SCIM handler.
func (a *App) build(ctx context.Context) (http.Handler, error) {
	// Components are wired here as they land (store, Sigma, directory,
	// tokens, SCIM server).
	a.addCheck("scim", func(context.Context) error { return errNotWired })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/scim+json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"503","detail":"the SCIM server is not built into this version yet"}`))
	}), nil
}

type notWired struct{}

func (notWired) Error() string { return "SCIM server not built into this version yet" }

var errNotWired error = notWired{}
