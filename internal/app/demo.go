package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/scimbridge/scim-bridge/internal/config"
	"github.com/scimbridge/scim-bridge/internal/secret"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
	"github.com/scimbridge/scim-bridge/internal/tokens"
)

// DemoOptions configures Demo.
type DemoOptions struct {
	Listen, AdminListen string // default 127.0.0.1:8080 and 127.0.0.1:9090
	Members, Teams      int    // emulator seed, as given (0: an empty org; `scim-bridge demo` defaults to 25 and 4)
	// Mode is sigma.mode: "auto" (default: the emulator's Enterprise SCIM
	// endpoint, REST for what SCIM cannot do), "scim" or "rest".
	Mode   string
	Logger *slog.Logger
	// Ready, if set, is called once the bridge serves, with its SCIM base
	// URL, its admin URL and the demo token (tests use it; people read
	// stdout).
	Ready func(baseURL, adminURL, token string)
}

// Demo runs the bridge against an in-process Sigma emulator with a
// temporary store until ctx ends: it issues a bearer token for the IdP and
// an admin token for the status page, and prints the SCIM base URL, both
// tokens and a ready-to-paste curl to out (the IdP token on the last line).
func Demo(ctx context.Context, o DemoOptions, out io.Writer) error {
	if o.Listen == "" {
		o.Listen = "127.0.0.1:8080"
	}
	if o.AdminListen == "" {
		o.AdminListen = "127.0.0.1:9090"
	}
	if o.Members < 0 || o.Teams < 0 {
		return fmt.Errorf("the emulator's members (%d) and teams (%d) must be 0 or more", o.Members, o.Teams)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	fake, err := sigmafake.Start(sigmafake.Options{Members: o.Members, Teams: o.Teams, Seed: 1, Logger: o.Logger})
	if err != nil {
		return fmt.Errorf("start the Sigma emulator: %w", err)
	}
	defer fake.Close()

	dir, err := os.MkdirTemp("", "scim-bridge-demo-")
	if err != nil {
		return fmt.Errorf("temporary store: %w", err)
	}
	defer os.RemoveAll(dir)

	cfg := config.Default()
	cfg.Listen, cfg.AdminListen = o.Listen, o.AdminListen
	cfg.Store = "sqlite:" + filepath.Join(dir, "demo.db")
	cfg.Log.Format = "text"
	cfg.Sigma.Mode = o.Mode
	if cfg.Sigma.Mode == "" {
		cfg.Sigma.Mode = config.ModeAuto
	}
	PointAtEmulator(&cfg, fake)
	cfg.Sigma.AccountTypeAliases = map[string]string{"Viewer": "View", "Creator": "Pro"}
	cfg.Provisioning.DefaultAccountType = "View"
	if err := cfg.Validate(); err != nil {
		return err
	}
	a, err := New(ctx, cfg, WithLogger(o.Logger))
	if err != nil {
		return fmt.Errorf("%w (choose other addresses with --listen and --admin-listen)", err)
	}
	token, _, err := a.Tokens().Create(ctx, "demo", 0)
	if err != nil {
		a.closeAll()
		return fmt.Errorf("create the demo token: %w", err)
	}
	// An admin token opens the status page; the IdP token does not.
	admin, _, err := a.Tokens().CreateGranted(ctx, "demo-admin", 0, tokens.Grant{Scope: tokens.ScopeAdmin})
	if err != nil {
		a.closeAll()
		return fmt.Errorf("create the demo admin token: %w", err)
	}
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx) }()
	if err := a.WaitReady(ctx, 30*time.Second); err != nil {
		<-served
		return err
	}
	base := a.SCIMBaseURL()
	mode, why := a.sigmaMode()
	fmt.Fprintf(out, `scim-bridge demo: the bridge runs on an embedded Sigma emulator (%d members, %d teams) with a temporary store.

  SCIM base URL   %s
  Admin           http://%s/metrics  /healthz  /readyz
  Status page     http://%s/status  (user: any, password: the admin token %s)
  Sigma emulator  %s (REST API v2), %s (Enterprise SCIM)
  Sigma path      %s (%s)

Try it:
  curl -s -H "Authorization: Bearer %s" '%s/Users?count=2'
  curl -s -H "Authorization: Bearer %s" -H 'Content-Type: application/scim+json' \
    -d '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@example.com","name":{"givenName":"Ada","familyName":"Lovelace"},"userType":"Viewer"}' \
    '%s/Users'

Press Ctrl-C to stop; everything is discarded.
Bearer token for your IdP (shown once):
%s
`, o.Members, o.Teams, base, a.AdminAddr(), a.AdminAddr(), admin, fake.URL(), fake.SCIMURL(), mode, why, token, base, token, base, token)
	if o.Ready != nil {
		o.Ready(base, "http://"+a.AdminAddr(), token)
	}
	return <-served
}

// WaitReady polls the readiness report (Readiness) until it is ready, ctx ends or the
// timeout passes.
func (a *App) WaitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		rep := a.Readiness(ctx)
		if rep.Ready {
			return nil
		}
		var notReady error
		for _, c := range rep.Checks {
			if c.Required && c.State != StateOK {
				notReady = fmt.Errorf("%s: %s", c.Name, c.Error)
				break
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %w", timeout, notReady)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// PointAtEmulator configures both Sigma paths of cfg (REST host and
// credentials, SCIM URL and token) for the emulator fake started with its
// default credentials. The mode is left to the caller.
func PointAtEmulator(cfg *config.Config, fake *sigmafake.Server) {
	cfg.Sigma.APIURL = fake.URL()
	cfg.Sigma.ClientID = sigmafake.DefaultClientID
	cfg.Sigma.ClientSecret = secret.Value(sigmafake.DefaultClientSecret)
	cfg.Sigma.SCIMURL = fake.SCIMURL()
	cfg.Sigma.SCIMToken = secret.Value(sigmafake.DefaultSCIMToken)
}
