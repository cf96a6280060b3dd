// Command sigmafake serves an emulated Sigma org (REST API v2 and Enterprise
// SCIM) for demos and manual testing:
//
//	go run ./cmd/sigmafake -listen 127.0.0.1:8099 -members 50 -teams 5
//
// It prints the REST host, the SCIM Directory Base URL and the fake
// credentials, then serves until interrupted.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sigmafake", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8099", "address to listen on")
	members := fs.Int("members", 50, "number of members to seed")
	teams := fs.Int("teams", 5, "number of teams to seed")
	seed := fs.Int64("seed", 1, "seed for ids and seeded data")
	clientID := fs.String("client-id", sigmafake.DefaultClientID, "accepted REST client id")
	clientSecret := fs.String("client-secret", sigmafake.DefaultClientSecret, "accepted REST client secret")
	scimToken := fs.String("scim-token", sigmafake.DefaultSCIMToken, "accepted SCIM bearer token")
	noSCIM := fs.Bool("no-scim", false, "serve an org without Enterprise SCIM (/scim/v2 answers 404)")
	tokenTTL := fs.Duration("token-ttl", time.Hour, "access token lifetime")
	tokenRate := fs.Float64("token-rate", 1, "token requests per second before 429 (<0 disables)")
	capacity := fs.Float64("capacity", 0, "REST+SCIM requests per second the org absorbs before bare 429s (0: unlimited)")
	accountTypes := fs.String("account-types", strings.Join(sigmafake.DefaultAccountTypes, ","), "comma-separated account type names")
	verbose := fs.Bool("v", false, "log every request")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	var types []string
	for _, t := range strings.Split(*accountTypes, ",") {
		if t = strings.TrimSpace(t); t != "" {
			types = append(types, t)
		}
	}
	srv, err := sigmafake.Listen(sigmafake.Options{
		ClientID: *clientID, ClientSecret: *clientSecret, SCIMToken: *scimToken, SCIMDisabled: *noSCIM,
		TokenTTL: *tokenTTL, TokenRatePerSecond: *tokenRate, Capacity: *capacity, Members: *members, Teams: *teams,
		AccountTypes: types, Seed: *seed, Logger: logger,
	}, *listen)
	if err != nil {
		fmt.Fprintln(stderr, "sigmafake:", err)
		return 1
	}
	fmt.Fprintf(stdout, "Sigma REST host:     %s\n", srv.URL())
	fmt.Fprintf(stdout, "SCIM base URL:       %s\n", srv.SCIMURL())
	fmt.Fprintf(stdout, "client id:           %s\n", *clientID)
	fmt.Fprintf(stdout, "client secret:       %s\n", *clientSecret)
	fmt.Fprintf(stdout, "SCIM token:          %s\n", *scimToken)
	fmt.Fprintf(stdout, "members/teams:       %d/%d, account types %s\n", *members, *teams, strings.Join(srv.AccountTypes(), ", "))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	if err := srv.Close(); err != nil {
		fmt.Fprintln(stderr, "sigmafake: close:", err)
		return 1
	}
	return 0
}
