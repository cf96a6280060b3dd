// Command scim-bridge is a SCIM 2.0 server that provisions identity
// provider users and groups into Sigma Computing.
//
// It is deliberately thin: flags, subcommands, signals and exit codes.
// Everything else lives in internal/app.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/scimbridge/scim-bridge/internal/app"

	"github.com/scimbridge/scim-bridge/internal/config"
	"github.com/scimbridge/scim-bridge/internal/store"
	"github.com/scimbridge/scim-bridge/internal/store/storeopen"
	"github.com/scimbridge/scim-bridge/internal/tokens"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // runtime failure
	exitUsage   = 2 // bad usage, bad configuration, or cannot start (port in use, store unreachable)
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// env is what a subcommand may use of its process.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

type command struct {
	name, summary string
	run           func(ctx context.Context, e env, args []string) int
}

func commands() []command {
	return []command{
		{"serve", "run the bridge (SCIM listener and admin listener)", runServe},
		{"demo", "run the bridge against an embedded Sigma emulator, with a token, for a first try", runDemo},
		{"check", "validate the configuration and test the connection to Sigma", runCheck},
		{"token", "manage the bearer tokens identity providers use (create, list, revoke, rotate)", runToken},
		{"healthcheck", "exit 0 if the running bridge's admin listener answers (--ready: is ready), else 1", runHealthcheck},
		{"audit", "print the audit trail (what the bridge did, newest first), filtered by time, user or group", runAudit},
		{"version", "print the version", runVersion},
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, "Usage: scim-bridge COMMAND [flags]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun 'scim-bridge COMMAND --help' for a command's flags. Configuration: CONFIGURATION.md.\n")
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, env{stdout: stdout, stderr: stderr, getenv: getenv}, args[1:])
		}
	}
	fmt.Fprintf(stderr, "scim-bridge: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

// flagSet is a subcommand's flags and its synopsis.
type flagSet struct {
	*flag.FlagSet
	synopsis string
}

// newFlags returns a flag set whose parse errors go to stderr; parse
// prints the usage once: to stdout for --help, to stderr after a mistake.
func newFlags(e env, name, synopsis string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {} // parse decides where the usage goes
	return &flagSet{FlagSet: fs, synopsis: synopsis}
}

// usage writes the synopsis and the flags to w.
func (fs *flagSet) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: scim-bridge %s\n", fs.synopsis)
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintln(w, "\nFlags:")
		out := fs.Output()
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(out)
	}
}

// parse parses args; it returns -1 to go on, or the exit code to return.
func parse(fs *flagSet, e env, args []string) int {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.usage(e.stdout)
			return exitOK
		}
		fs.usage(e.stderr)
		return exitUsage
	}
	return -1
}

// loadConfig loads and validates the configuration, printing every problem.
func loadConfig(e env, path string) (config.Config, bool) {
	cfg, err := config.Load(path, e.getenv)
	if err != nil {
		fmt.Fprintf(e.stderr, "scim-bridge: %v\n", err)
		return config.Config{}, false
	}
	return cfg, true
}

func runServe(ctx context.Context, e env, args []string) int {
	fs := newFlags(e, "serve", "serve [--config FILE]")
	cfgPath := fs.String("config", "", "YAML configuration `file` (optional; SCIM_BRIDGE_* variables override it)")
	if code := parse(fs, e, args); code >= 0 {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "scim-bridge serve: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	cfg, ok := loadConfig(e, *cfgPath)
	if !ok {
		return exitUsage
	}
	logger, err := app.NewLogger(e.stderr, cfg.Log.Format, cfg.Log.Level)
	if err != nil {
		fmt.Fprintf(e.stderr, "scim-bridge: %v\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger.Info("starting", "version", versionString(), "store", cfg.RedactedStore(), "mode", cfg.Sigma.Mode)
	if err := app.Run(ctx, cfg, app.WithLogger(logger), app.WithVersion(version)); err != nil {
		var se *app.StartError
		if errors.As(err, &se) {
			logger.Error("scim-bridge cannot start", "err", se.Err)
			return exitUsage
		}
		logger.Error("scim-bridge stopped with an error", "err", err)
		return exitFailure
	}
	return exitOK
}

func runCheck(ctx context.Context, e env, args []string) int {
	fs := newFlags(e, "check", "check [--config FILE]")
	cfgPath := fs.String("config", "", "YAML configuration `file` (optional; SCIM_BRIDGE_* variables override it)")
	if code := parse(fs, e, args); code >= 0 {
		return code
	}
	cfg, ok := loadConfig(e, *cfgPath)
	if !ok {
		return exitUsage
	}
	fmt.Fprintln(e.stdout, "configuration: ok")
	if err := app.Check(ctx, cfg, e.stdout); err != nil {
		fmt.Fprintf(e.stderr, "scim-bridge check: %v\n", err)
		var ce *config.Error
		if errors.As(err, &ce) {
			return exitUsage
		}
		return exitFailure
	}
	return exitOK
}

func runToken(ctx context.Context, e env, args []string) int {
	fs := newFlags(e, "token", "token create|list|revoke|rotate [flags] [--config FILE]\n\n"+
		"  create --name NAME [--ttl DUR] [--read-only | --admin] [--network CIDR]...\n"+
		"                                   issue a new token; the secret is the last line of stdout\n"+
		"  list                             name, prefix, scope, networks, state, created, expires, last used\n"+
		"  revoke NAME                      stop every token of NAME now (every replica within tokens.cache_ttl)\n"+
		"  rotate NAME [--overlap DUR]      issue a successor; the old secret works until the overlap ends\n\n"+
		"The store is the one serve uses (SCIM_BRIDGE_STORE or store: in the file). It is opened\n"+
		"only once the arguments are valid: --help never opens or creates it.")
	const configUsage = "YAML configuration `file` (only the store and log settings are used)"
	cfgPath := fs.String("config", "", configUsage)
	if code := parse(fs, e, args); code >= 0 {
		return code
	}
	if fs.NArg() == 0 {
		fs.usage(e.stderr)
		return exitUsage
	}
	var st store.Store
	defer func() {
		if st != nil {
			st.Close()
		}
	}()
	open := func(ctx context.Context) (*tokens.Service, error) {
		cfg, err := config.LoadForStore(*cfgPath, e.getenv)
		if err != nil {
			return nil, usageError{err}
		}
		logger, err := app.NewLogger(e.stderr, cfg.Log.Format, "warn")
		if err != nil {
			return nil, usageError{err}
		}
		if st, err = storeopen.Open(ctx, cfg.Store, logger); err != nil {
			return nil, fmt.Errorf("open store %s: %w", cfg.RedactedStore(), err)
		}
		return tokens.New(st, tokens.Options{CacheTTL: cfg.Tokens.CacheTTL.D()}, prometheus.NewRegistry(), logger), nil
	}
	return tokens.RunCLIWith(ctx, tokens.CLI{
		Open: open,
		// --config may also follow the subcommand: token list --config f.
		Flags: func(sub *flag.FlagSet) { sub.StringVar(cfgPath, "config", *cfgPath, configUsage) },
	}, fs.Args(), e.stdout, e.stderr)
}

// usageError marks a configuration problem found by a token command: it
// exits 2, like a bad flag.
type usageError struct{ error }

func (usageError) ExitCode() int   { return exitUsage }
func (u usageError) Unwrap() error { return u.error }

func runDemo(ctx context.Context, e env, args []string) int {
	fs := newFlags(e, "demo", "demo [--listen ADDR] [--admin-listen ADDR]\n\n"+
		"Runs the bridge on an embedded Sigma emulator with a temporary store, issues a bearer token\n"+
		"and prints the SCIM base URL, the token and a ready-to-paste curl. Nothing is kept.")
	listen := fs.String("listen", "127.0.0.1:8080", "SCIM listener `address`")
	adminListen := fs.String("admin-listen", "127.0.0.1:9090", "admin listener `address`")
	members := fs.Int("members", 25, "members to seed the emulator with (0: an empty org)")
	teams := fs.Int("teams", 4, "teams to seed the emulator with")
	mode := fs.String("mode", "auto", "Sigma path: auto (Enterprise SCIM while it answers, else REST), scim or rest")
	verbose := fs.Bool("v", false, "log every request (text) to stderr")
	if code := parse(fs, e, args); code >= 0 {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "scim-bridge demo: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if *members < 0 || *teams < 0 {
		fmt.Fprintf(e.stderr, "scim-bridge demo: --members and --teams must be 0 or more\n")
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	level := "warn"
	if *verbose {
		level = "info"
	}
	logger, _ := app.NewLogger(e.stderr, "text", level)
	err := app.Demo(ctx, app.DemoOptions{
		Listen: *listen, AdminListen: *adminListen, Members: *members, Teams: *teams, Mode: *mode, Logger: logger,
	}, e.stdout)
	if err != nil {
		fmt.Fprintf(e.stderr, "scim-bridge demo: %v\n", err)
		if errors.As(err, new(*app.StartError)) {
			return exitUsage
		}
		return exitFailure
	}
	return exitOK
}

func runVersion(_ context.Context, e env, args []string) int {
	fs := newFlags(e, "version", "version")
	if code := parse(fs, e, args); code >= 0 {
		return code
	}
	fmt.Fprintf(e.stdout, "scim-bridge %s\n", versionString())
	return exitOK
}

func versionString() string { return app.ReadBuildInfo(version).String() }
