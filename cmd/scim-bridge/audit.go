package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/scimbridge/scim-bridge/internal/app"
	"github.com/scimbridge/scim-bridge/internal/config"
	"github.com/scimbridge/scim-bridge/internal/store/storeopen"
)

// runAudit prints the audit trail from the store serve uses, newest first.
func runAudit(ctx context.Context, e env, args []string) int {
	fs := newFlags(e, "audit", "audit [--config FILE] [--since DUR] [--user EMAIL] [--group NAME] [--id ID] [--limit N] [--intents] [--json]\n\n"+
		"Prints what the bridge did, newest first: when, which IdP token, what, to whom, the outcome,\n"+
		"Sigma's status and the request id (Sigma's own request id is in the detail of a refused call).\n"+
		"--user and --group match each entry's target (the email or IdP userName, the group's displayName)\n"+
		"exactly, in any case, and show every entry about the Sigma ids those entries name.\n"+
		"The store is the one serve uses (SCIM_BRIDGE_STORE or store: in the file).")
	cfgPath := fs.String("config", "", "YAML configuration `file` (only the store and log settings are used)")
	since := fs.String("since", "", "only entries newer than this `duration` ago, e.g. 90m, 24h, 7d")
	user := fs.String("user", "", "only entries about the user with this `email` or IdP userName")
	group := fs.String("group", "", "only entries about the group with this `displayName`")
	id := fs.String("id", "", "only entries about this Sigma memberId or teamId")
	limit := fs.Int("limit", 50, "print at most `N` entries")
	asJSON := fs.Bool("json", false, "print JSON lines instead of a table")
	intents := fs.Bool("intents", false, "also print each write's intent entry (outcome pending) when its outcome follows;\nwithout it a pending entry means the bridge stopped before recording the outcome")
	if code := parse(fs, e, args); code >= 0 {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "scim-bridge audit: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if *user != "" && *group != "" {
		fmt.Fprintln(e.stderr, "scim-bridge audit: give --user or --group, not both")
		return exitUsage
	}
	if *limit <= 0 || *limit > 10000 {
		fmt.Fprintf(e.stderr, "scim-bridge audit: --limit must be between 1 and 10000, got %d\n", *limit)
		return exitUsage
	}
	q := app.AuditQuery{User: strings.TrimSpace(*user), Group: strings.TrimSpace(*group), ID: strings.TrimSpace(*id), Limit: *limit, Intents: *intents}
	if *since != "" {
		d, err := parseSince(*since)
		if err != nil {
			fmt.Fprintf(e.stderr, "scim-bridge audit: --since: %v\n", err)
			return exitUsage
		}
		q.Since = time.Now().Add(-d)
	}
	cfg, err := config.LoadForStore(*cfgPath, e.getenv)
	if err != nil {
		fmt.Fprintf(e.stderr, "scim-bridge: %v\n", err)
		return exitUsage
	}
	logger, err := app.NewLogger(e.stderr, cfg.Log.Format, "warn")
	if err != nil {
		fmt.Fprintf(e.stderr, "scim-bridge: %v\n", err)
		return exitUsage
	}
	st, err := storeopen.Open(ctx, cfg.Store, logger)
	if err != nil {
		fmt.Fprintf(e.stderr, "scim-bridge audit: open store %s: %v\n", cfg.RedactedStore(), err)
		return exitFailure
	}
	defer st.Close()
	entries, err := app.QueryAudit(ctx, st, q)
	if err != nil {
		fmt.Fprintf(e.stderr, "scim-bridge audit: %v\n", err)
		return exitFailure
	}
	if *asJSON {
		err = app.WriteAuditJSON(e.stdout, entries)
	} else {
		err = app.WriteAuditTable(e.stdout, entries)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "scim-bridge audit: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// parseSince is time.ParseDuration plus a whole number of days ("7d").
func parseSince(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 {
			return 0, fmt.Errorf("%q is not a duration such as 90m, 24h or 7d", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration such as 90m, 24h or 7d", s)
	}
	return d, nil
}
