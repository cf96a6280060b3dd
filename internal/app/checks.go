package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/scimbridge/scim-bridge/internal/directory"
)

// sigmaHTTPClient returns the HTTP client of one Sigma path, recording its
// attempts in a new reach stored in *r. Its timeout is the Sigma clients'
// own default (60 s per attempt).
func (a *App) sigmaHTTPClient(r **reach) *http.Client {
	*r = &reach{}
	return &http.Client{Timeout: 60 * time.Second, Transport: (*r).transport(nil)}
}

// addSigmaChecks registers the Sigma parts of the readiness report: the
// live mode (required), each path's reachability and the REST index.
func (a *App) addSigmaChecks(dir directory.Directory) {
	a.addCheck(ReadyCheck{Name: "sigma_mode", Required: true, Func: dir.Ready, Info: func() string {
		mode, why := a.selector.Live()
		return mode + " path live (" + why + ")"
	}})
	a.addCheck(reachCheck("sigma_rest", a.restReach))
	a.addCheck(reachCheck("sigma_scim", a.scimReach))
	index := ReadyCheck{Name: "sigma_index", Func: func(context.Context) error {
		return fmt.Errorf("%w: the member and team index belongs to the REST path", errNotConfigured)
	}}
	if a.restDir != nil {
		index.Func = a.restDir.Ready
		index.Info = a.indexInfo
	}
	a.addCheck(index)
}

// reachCheck reports whether Sigma answered the path's last call. r nil:
// the path is not configured.
func reachCheck(name string, r *reach) ReadyCheck {
	if r == nil {
		return ReadyCheck{Name: name, Func: func(context.Context) error { return errNotConfigured }}
	}
	return ReadyCheck{
		Name: name,
		Func: func(context.Context) error {
			s := r.Stats()
			switch {
			case s.Calls == 0:
				return errNoCallYet
			case !s.LastOK:
				return errors.New(s.LastError)
			}
			return nil
		},
		Info: func() string {
			s := r.Stats()
			if s.Calls == 0 {
				return ""
			}
			return fmt.Sprintf("last call %s ago; latency p50 %s, p95 %s over the last %d calls",
				time.Since(s.LastAt).Round(time.Second), s.P50.Round(time.Millisecond), s.P95.Round(time.Millisecond), min(s.Calls, reachWindow))
		},
		LastError: func() (string, time.Time) {
			s := r.Stats()
			return s.LastError, s.LastErrorAt
		},
	}
}

// storeKind names the store's backend without its address or credentials.
func storeKind(dsn string) string {
	if k, _, ok := strings.Cut(dsn, ":"); ok && (k == "postgres" || k == "postgresql") {
		return "postgres"
	}
	return "sqlite"
}
