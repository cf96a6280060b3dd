package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimbridge/scim-bridge/internal/config"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/store/storeopen"
)

// Check runs the same validation as serve, then tests each configured part
// (store, Sigma REST auth and account types, Sigma SCIM reachability),
// writing one line per part to w. It returns an error naming every part
// that failed; a *config.Error when the configuration itself is wrong.
func Check(ctx context.Context, cfg config.Config, w io.Writer) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	a := &App{cfg: cfg, logger: slog.New(slog.DiscardHandler), reg: prometheus.NewRegistry()}
	var failed []string
	report := func(part string, err error, ok string) {
		if err != nil {
			failed = append(failed, part)
			fmt.Fprintf(w, "%s: FAILED: %v\n", part, err)
			return
		}
		fmt.Fprintf(w, "%s: ok%s\n", part, ok)
	}

	for _, t := range []struct {
		part string
		tls  config.TLS
	}{{"tls (SCIM listener)", cfg.TLS}, {"tls (admin listener)", cfg.AdminTLS}} {
		if t.tls.Enabled() {
			about, err := CertificateReport(t.tls, time.Now())
			report(t.part, err, ": "+about)
		}
	}

	st, err := storeopen.Open(ctx, cfg.Store, a.logger)
	if err == nil {
		err = st.Ping(ctx)
		st.Close()
	}
	report("store", err, " ("+cfg.RedactedStore()+")")

	s := cfg.Sigma
	var restOK, scimOK bool
	if s.APIURL != "" {
		client, err := a.restClient()
		if err != nil {
			return err // a region name that does not exist: configuration
		}
		// Listing account types is the auth test: unlike Ping it goes
		// through the retrying core, so a token request answered 429
		// (Sigma allows about one per second per client, and a running
		// bridge shares the credentials) is retried rather than reported.
		types, err := client.AccountTypes(ctx)
		report("sigma REST auth", err, " ("+client.BaseURL()+", client "+s.ClientID+")")
		if err == nil {
			names := make([]string, len(types))
			for i, t := range types {
				names[i] = t.Name
			}
			report("sigma account types", nil, ": "+strings.Join(names, ", "))
			restOK = true
			report("configured account types", checkAccountTypes(ctx, cfg, client), "")
		}
	}
	if s.SCIMURL != "" {
		client, err := a.scimClient()
		if err != nil {
			return err
		}
		err = client.Ping(ctx)
		report("sigma SCIM endpoint", err, " ("+s.SCIMURL+" answered with the token)")
		scimOK = err == nil
	}
	switch {
	case s.Mode == config.ModeSCIM || (s.Mode == config.ModeAuto && scimOK):
		fmt.Fprintf(w, "mode: scim (%s)\n", modeWhy(s.Mode, "Sigma's Enterprise SCIM endpoint answers"))
	case s.Mode == config.ModeREST || (s.Mode == config.ModeAuto && restOK):
		fmt.Fprintf(w, "mode: rest (%s)\n", modeWhy(s.Mode, "REST credentials work and no working SCIM endpoint is configured"))
	default:
		fmt.Fprintln(w, "mode: none: no Sigma path works")
	}
	if len(failed) > 0 {
		return fmt.Errorf("failed: %s", strings.Join(failed, ", "))
	}
	return nil
}

func modeWhy(mode, autoWhy string) string {
	if mode == config.ModeAuto {
		return "auto: " + autoWhy
	}
	return "forced by sigma.mode"
}

// checkAccountTypes resolves every account type the configuration names
// (the default and each group rule's) against the org, so a typo is found
// by `check` rather than by the first IdP push that needs it.
func checkAccountTypes(ctx context.Context, cfg config.Config, client *sigma.Client) error {
	type named struct{ where, name string }
	var want []named
	if n := cfg.Provisioning.DefaultAccountType; n != "" {
		want = append(want, named{"provisioning.default_account_type", n})
	}
	for i, r := range cfg.Provisioning.GroupRules {
		want = append(want, named{fmt.Sprintf("provisioning.group_rules[%d] (%s)", i, r.Group), r.AccountType})
	}
	var bad []string
	for _, w := range want {
		if _, err := client.ResolveAccountType(ctx, w.name); err != nil {
			var unknown *sigma.UnknownAccountTypeError
			if errors.As(err, &unknown) {
				bad = append(bad, fmt.Sprintf("%s: %q is not an account type of this org (valid: %s)", w.where, w.name, strings.Join(unknown.Valid, ", ")))
				continue
			}
			return err
		}
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}
