package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimbridge/scim-bridge/internal/config"
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
		err = client.Ping(ctx)
		report("sigma REST auth", err, " ("+client.BaseURL()+", client "+s.ClientID+")")
		if err == nil {
			types, err := client.AccountTypes(ctx)
			names := make([]string, len(types))
			for i, t := range types {
				names[i] = t.Name
			}
			report("sigma account types", err, ": "+strings.Join(names, ", "))
			restOK = err == nil
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
