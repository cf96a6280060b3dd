package app

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/scimbridge/scim-bridge/internal/config"
	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/mapping"
	"github.com/scimbridge/scim-bridge/internal/scimserver"
	"github.com/scimbridge/scim-bridge/internal/secret"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/modes"
	"github.com/scimbridge/scim-bridge/internal/sigma/provision"
	"github.com/scimbridge/scim-bridge/internal/sigma/restdir"
	"github.com/scimbridge/scim-bridge/internal/sigma/scimdir"
	"github.com/scimbridge/scim-bridge/internal/store"
	"github.com/scimbridge/scim-bridge/internal/store/storeopen"
	"github.com/scimbridge/scim-bridge/internal/tokens"
)

// build constructs the components from a.cfg, registers their readiness
// checks, closers and background work, and returns the SCIM handler.
func (a *App) build(ctx context.Context) (http.Handler, error) {
	cfg := a.cfg
	st, err := storeopen.Open(ctx, cfg.Store, a.logger)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", cfg.RedactedStore(), err)
	}
	a.store = st
	a.closers = append(a.closers, st.Close)
	a.replica = newReplica(a.buildInfo.Version, a.started)
	a.background = append(a.background, a.runReplicaReport)
	a.addCheck(ReadyCheck{Name: "store", Required: true, Func: st.Ping, Info: func() string { return storeKind(cfg.Store) }})
	if cfg.Audit.Retention > 0 {
		a.background = append(a.background, func(ctx context.Context) error {
			return store.RunRetention(ctx, st, cfg.Audit.Retention.D(), time.Hour, a.logger)
		})
	}

	a.tokens = tokens.New(st, tokens.Options{
		CacheTTL:          cfg.Tokens.CacheTTL.D(),
		TrustForwardedFor: cfg.Tokens.TrustForwardedFor,
	}, a.reg, a.logger)
	// Runs before the store closes (closers run in reverse): flushes the
	// pending last-used times.
	a.closers = append(a.closers, a.tokens.Close)

	dir, err := a.buildDirectory(st)
	if err != nil {
		return nil, err
	}
	a.addSigmaChecks(dir)
	a.reg.MustRegister(newSeatCollector(a), newReadyCollector(a))
	if a.restDir != nil && cfg.Provisioning.PeerPollInterval > 0 {
		a.background = append(a.background, a.runSeatRefresh(cfg.Provisioning.PeerPollInterval.D()))
	}

	rules := make(mapping.AccountTypeRules, len(cfg.Provisioning.GroupRules))
	for i, r := range cfg.Provisioning.GroupRules {
		rules[i] = mapping.AccountTypeRule{Group: r.Group, AccountType: r.AccountType}
	}
	h, err := scimserver.New(scimserver.Options{
		Directory:         dir,
		Auth:              a.tokens.Middleware,
		Rules:             rules,
		UserNameFromEmail: cfg.Provisioning.UserNameFromEmail,
		MaxBodyBytes:      cfg.HTTP.MaxBodyBytes,
		BaseURL:           cfg.PublicURL,
		Logger:            a.logger,
		Registerer:        a.reg,
	})
	if err != nil {
		return nil, fmt.Errorf("build SCIM server: %w", err)
	}
	return h, nil
}

// secretSource turns a value-or-file setting into a Source and exports its
// age, so an alert can say "rotate it, it is 80 days old".
func (a *App) secretSource(name string, v secret.Value, file string) (secret.Source, error) {
	var src interface {
		secret.Source
		ChangedAt() time.Time
	}
	if file != "" {
		src = secret.NewFile(file)
	} else {
		src = secret.NewStatic(v)
	}
	// Read once now: a missing file is reported at start-up, and the age
	// metric has a value from the first scrape.
	if _, err := src.Current(context.Background()); err != nil {
		a.logger.Warn("upstream secret unreadable at start", "secret", name, "err", err)
	}
	if err := tokens.RegisterSecretAge(a.reg, name, src.ChangedAt); err != nil {
		return nil, fmt.Errorf("register %s age metric: %w", name, err)
	}
	return src, nil
}

// buildDirectory builds the Sigma side: a REST directory when REST
// credentials are configured, an Enterprise SCIM directory when a SCIM URL
// and token are, and the mode selector that routes each request to the
// live one (sigma.mode).
func (a *App) buildDirectory(st store.Store) (directory.Directory, error) {
	cfg := a.cfg
	s := cfg.Sigma
	p := cfg.Provisioning
	opts := modes.Options{Mode: s.Mode, ProbeInterval: s.ProbeInterval.D()}
	// One dry-run record for both paths: the selector may switch between
	// them while the IdP holds dryrun- ids.
	dry := provision.DryRunRecord(p.DryRun, nil)
	var client *sigma.Client
	if s.APIURL != "" {
		var err error
		if client, err = a.restClient(); err != nil {
			return nil, err
		}
		rd := restdir.New(client, st, restdir.Options{
			DefaultAccountType: p.DefaultAccountType,
			DeprovisionOwnerID: p.DeprovisionOwnerID,
			DryRun:             p.DryRun,
			DryRuns:            dry,
			ResyncInterval:     p.ResyncInterval.D(),
			PeerPollInterval:   peerPoll(p.PeerPollInterval.D()),
		}, a.reg, a.logger.With("path", "rest"))
		a.background = append(a.background, rd.Start)
		opts.REST, a.restDir = rd, rd
	}
	if s.SCIMURL != "" {
		sc, err := a.scimClient()
		if err != nil {
			return nil, err
		}
		// With REST credentials too, account types are validated through
		// /v2/accountTypes and documents can be handed over on delete.
		a.scimDir = scimdir.New(sc, client, st, scimdir.Options{
			DefaultAccountType: p.DefaultAccountType,
			AccountTypes:       s.AccountTypes,
			AccountTypeAliases: s.AccountTypeAliases,
			DeprovisionOwnerID: p.DeprovisionOwnerID,
			DryRun:             p.DryRun,
			DryRuns:            dry,
		}, a.reg, a.logger.With("path", "scim"))
		opts.SCIM = a.scimDir
	}
	sel := modes.New(opts, st, a.reg, a.logger)
	a.selector = sel
	a.background = append(a.background, sel.Run)
	return sel, nil
}

func (a *App) scimClient() (*sigma.SCIMClient, error) {
	s := a.cfg.Sigma
	src, err := a.secretSource("sigma_scim_token", s.SCIMToken, s.SCIMTokenFile)
	if err != nil {
		return nil, err
	}
	c, err := sigma.NewSCIMClient(sigma.SCIMConfig{
		BaseURL:           s.SCIMURL,
		Token:             src,
		MaxConcurrent:     s.MaxConcurrent,
		RequestsPerSecond: s.RequestsPerSecond,
		ReadRetryBudget:   readRetryBudget(s.ReadRetryBudget.D()),
		Logger:            a.logger,
		HTTPClient:        a.sigmaHTTPClient(&a.scimReach),
	}, a.reg)
	if err != nil {
		return nil, fmt.Errorf("build sigma SCIM client: %w", err)
	}
	return c, nil
}

func (a *App) restClient() (*sigma.Client, error) {
	s := a.cfg.Sigma
	host, err := sigma.ResolveHost(s.APIURL)
	if err != nil {
		return nil, &config.Error{Problems: []string{"sigma.api_url (SCIM_BRIDGE_SIGMA_API_URL): " + err.Error()}}
	}
	src, err := a.secretSource("sigma_client_secret", s.ClientSecret, s.ClientSecretFile)
	if err != nil {
		return nil, err
	}
	client, err := sigma.NewClient(sigma.Config{
		BaseURL:            host,
		ClientID:           s.ClientID,
		ClientSecret:       src,
		MaxConcurrent:      s.MaxConcurrent,
		RequestsPerSecond:  s.RequestsPerSecond,
		ReadRetryBudget:    readRetryBudget(s.ReadRetryBudget.D()),
		SendInvite:         s.SendInvite,
		AccountTypeAliases: s.AccountTypeAliases,
		Logger:             a.logger,
		HTTPClient:         a.sigmaHTTPClient(&a.restReach),
	}, a.reg)
	if err != nil {
		return nil, fmt.Errorf("build sigma client: %w", err)
	}
	return client, nil
}

// peerPoll maps the configuration's "0s = off" to restdir's "negative = off".
func peerPoll(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// readRetryBudget maps the configuration's 0s ("do not retry reads") onto
// the clients' negative value (their zero means the default).
func readRetryBudget(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
