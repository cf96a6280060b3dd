package tokens

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/scimbridge/scim-bridge/internal/store"
)

// Exit codes of RunCLI.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

const cliUsage = `Usage: scim-bridge token COMMAND [flags]

Manage the bearer tokens identity providers use to call the SCIM listener.

Commands:
  create --name NAME [--ttl DUR] [--read-only | --admin] [--network CIDR]...
                                   issue a new token (printed once)
  list                             show every token, its scope and state (never the secret)
  revoke NAME                      stop every token of NAME
  rotate NAME [--overlap DUR]      issue a successor; the old token keeps working for DUR

Durations are Go durations (90m, 36h) or whole days (90d).
Run 'scim-bridge token COMMAND --help' for a command's flags.
`

// RunCLI runs `scim-bridge token ARGS...` against svc and returns the exit
// code: 0 success, 1 runtime failure, 2 bad usage. A new secret is written
// once, alone on the last line of stdout; nothing else it writes (to
// stdout or stderr) ever contains a secret.
func RunCLI(ctx context.Context, svc *Service, args []string, stdout, stderr io.Writer) int {
	return RunCLIWith(ctx, CLI{Open: func(context.Context) (*Service, error) { return svc, nil }}, args, stdout, stderr)
}

// CLI is what RunCLIWith needs from the command that embeds it.
type CLI struct {
	// Open returns the service. It is called only once the arguments are
	// valid, so `--help` or a usage mistake never opens (or creates) a
	// store. An error with an ExitCode() int method exits with that code.
	Open func(ctx context.Context) (*Service, error)
	// Flags, if set, adds the embedding command's flags (--config) to
	// every subcommand, so they may also follow it.
	Flags func(fs *flag.FlagSet)
}

// RunCLIWith is RunCLI with the service opened on demand.
func RunCLIWith(ctx context.Context, cli CLI, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, cliUsage)
		return ExitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "create":
		return cliCreate(ctx, cli, rest, stdout, stderr)
	case "list":
		return cliList(ctx, cli, rest, stdout, stderr)
	case "revoke":
		return cliRevoke(ctx, cli, rest, stdout, stderr)
	case "rotate":
		return cliRotate(ctx, cli, rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, cliUsage)
		return ExitOK
	}
	fmt.Fprintf(stderr, "scim-bridge token: unknown command %q\n\n%s", cmd, cliUsage)
	return ExitUsage
}

// command is one subcommand's flag set and help text.
type command struct {
	fs              *flag.FlagSet
	synopsis, about string
	stdout, stderr  io.Writer
}

// newCommand returns a command whose flag errors print to stderr. Its usage
// is printed by parse: to stdout when asked for with --help (not an error),
// to stderr after a usage error.
func newCommand(cli CLI, name, synopsis, about string, stdout, stderr io.Writer) *command {
	fs := flag.NewFlagSet("scim-bridge token "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // parse decides where usage goes
	if cli.Flags != nil {
		cli.Flags(fs)
	}
	return &command{fs: fs, synopsis: synopsis, about: about, stdout: stdout, stderr: stderr}
}

func (c *command) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: scim-bridge token %s\n\n%s\n", c.synopsis, c.about)
	hasFlags := false
	c.fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintln(w, "\nFlags:")
		c.fs.SetOutput(w)
		c.fs.PrintDefaults()
		c.fs.SetOutput(c.stderr)
	}
}

// parse parses flags placed before or after positional arguments
// ("rotate NAME --overlap 1h") and returns the positional ones. When the
// command must stop, ok is false and code is its exit code.
func (c *command) parse(args []string) (pos []string, code int, ok bool) {
	for {
		if err := c.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				c.usage(c.stdout)
				return nil, ExitOK, false
			}
			c.usage(c.stderr)
			return nil, ExitUsage, false
		}
		args = c.fs.Args()
		if len(args) == 0 {
			return pos, 0, true
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), 0, true
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func (c *command) usageError(msg string) int {
	fmt.Fprintf(c.stderr, "%s: %s\n", c.fs.Name(), msg)
	c.usage(c.stderr)
	return ExitUsage
}

func failure(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "error: %v\n", err)
	var coded interface{ ExitCode() int }
	if errors.As(err, &coded) {
		return coded.ExitCode()
	}
	return ExitFailure
}

// open opens the service for a command whose arguments are valid; ok is
// false (and code the exit code) when it cannot.
func (c CLI) open(ctx context.Context, stderr io.Writer) (svc *Service, code int, ok bool) {
	svc, err := c.Open(ctx)
	if err != nil {
		return nil, failure(stderr, err), false
	}
	return svc, 0, true
}

func cliCreate(ctx context.Context, cli CLI, args []string, stdout, stderr io.Writer) int {
	cmd := newCommand(cli, "create", "create --name NAME [--ttl DUR] [--read-only | --admin] [--network CIDR]...",
		"Issue a new bearer token called NAME and print it once, as the last line of\n"+
			"stdout. Configure it in the identity provider's SCIM settings.\n\n"+
			"Limit what a leaked token can do: --read-only for SCIM reads only, --network\n"+
			"for the addresses the identity provider calls from (its published egress\n"+
			"ranges). --admin issues a token for the admin status page instead, which the\n"+
			"SCIM API refuses. A rotation's successor keeps the same limits.", stdout, stderr)
	name := cmd.fs.String("name", "", "token `NAME`, e.g. okta-prod (required)")
	var ttl durationFlag
	cmd.fs.Var(&ttl, "ttl", "expire the token after `DUR`, e.g. 90d (default: no expiry)")
	readOnly := cmd.fs.Bool("read-only", false, "SCIM reads only (GET, POST …/.search); writes get 403")
	admin := cmd.fs.Bool("admin", false, "a token for the admin status page; refused on the SCIM API")
	var networks networksFlag
	cmd.fs.Var(&networks, "network", "accept the token only from `CIDR` (e.g. 10.20.0.0/16 or an address); repeat or comma-separate for several (default: any address)")
	pos, code, ok := cmd.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return cmd.usageError(fmt.Sprintf("unexpected argument %q", pos[0]))
	}
	if *name == "" {
		return cmd.usageError("--name is required")
	}
	if err := checkName(*name); err != nil {
		return cmd.usageError(err.Error())
	}
	g := Grant{Networks: networks}
	switch {
	case *readOnly && *admin:
		return cmd.usageError("--read-only and --admin exclude each other (an admin token only reads the status page)")
	case *readOnly:
		g.Scope = ScopeSCIMRead
	case *admin:
		g.Scope = ScopeAdmin
	}
	if err := g.check(); err != nil {
		return cmd.usageError(err.Error())
	}
	svc, code, ok := cli.open(ctx, stderr)
	if !ok {
		return code
	}
	secret, t, err := svc.CreateGranted(ctx, *name, time.Duration(ttl), g)
	if err != nil {
		return failure(stderr, err)
	}
	fmt.Fprintf(stdout, "Created token %q (prefix %s, scope %s, from %s, expires %s).\n", t.Name, t.Prefix,
		g.Scope, fmtNetworks(t.Networks), fmtTime(t.ExpiresAt, "never"))
	if g.Scope == ScopeAdmin {
		fmt.Fprintln(stdout, "Use it to open the admin status page (as the Basic auth password, or a bearer token). It is shown only this once:")
	} else {
		fmt.Fprintln(stdout, "Set it as the bearer token in the identity provider. It is shown only this once:")
	}
	fmt.Fprintln(stdout, secret)
	return ExitOK
}

func cliList(ctx context.Context, cli CLI, args []string, stdout, stderr io.Writer) int {
	cmd := newCommand(cli, "list", "list",
		"Show every token: name, display prefix, scope (scim, scim:read, admin), the\n"+
			"networks it is accepted from, state (active, overlap, expired, revoked),\n"+
			"created, expires and last used times (UTC). Never shows a secret.", stdout, stderr)
	pos, code, ok := cmd.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return cmd.usageError(fmt.Sprintf("unexpected argument %q", pos[0]))
	}
	svc, code, ok := cli.open(ctx, stderr)
	if !ok {
		return code
	}
	infos, err := svc.List(ctx)
	if err != nil {
		return failure(stderr, err)
	}
	if len(infos) == 0 {
		fmt.Fprintln(stdout, "No tokens. Issue one with `scim-bridge token create --name NAME`.")
		return ExitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPREFIX\tSCOPE\tFROM\tSTATE\tCREATED\tEXPIRES\tLAST USED")
	for _, i := range infos {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i.Name, i.Prefix, i.Scope, fmtNetworks(i.Networks), i.State,
			fmtTime(i.CreatedAt, "-"), fmtTime(i.ExpiresAt, "never"), fmtTime(i.LastUsedAt, "never"))
	}
	if err := tw.Flush(); err != nil {
		return failure(stderr, err)
	}
	return ExitOK
}

func cliRevoke(ctx context.Context, cli CLI, args []string, stdout, stderr io.Writer) int {
	cmd := newCommand(cli, "revoke", "revoke NAME",
		"Revoke every token called NAME, including one still in a rotation overlap.\n"+
			"Replicas stop accepting it within the verification cache TTL.", stdout, stderr)
	pos, code, ok := cmd.parse(args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return cmd.usageError("expected exactly one NAME")
	}
	if err := checkName(pos[0]); err != nil {
		return cmd.usageError(err.Error())
	}
	svc, code, ok := cli.open(ctx, stderr)
	if !ok {
		return code
	}
	if err := svc.Revoke(ctx, pos[0]); err != nil {
		return failure(stderr, err)
	}
	fmt.Fprintf(stdout, "Revoked every token called %q; every replica refuses it within %s.\n", pos[0], max(svc.opts.CacheTTL, 0))
	return ExitOK
}

func cliRotate(ctx context.Context, cli CLI, args []string, stdout, stderr io.Writer) int {
	cmd := newCommand(cli, "rotate", "rotate NAME [--overlap DUR]",
		"Issue a successor to the current token called NAME and print it once, as the\n"+
			"last line of stdout. The old token keeps working for the overlap, then stops:\n"+
			"configure the new one in the identity provider before then.", stdout, stderr)
	overlap := durationFlag(DefaultRotateOverlap)
	cmd.fs.Var(&overlap, "overlap", "keep the old token working for `DUR`, e.g. 24h, 90m or 0")
	pos, code, ok := cmd.parse(args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return cmd.usageError("expected exactly one NAME")
	}
	if err := checkName(pos[0]); err != nil {
		return cmd.usageError(err.Error())
	}
	svc, code, ok := cli.open(ctx, stderr)
	if !ok {
		return code
	}
	secret, t, err := svc.Rotate(ctx, pos[0], time.Duration(overlap))
	if err != nil {
		return failure(stderr, err)
	}
	until := t.CreatedAt.Add(time.Duration(overlap))
	fmt.Fprintf(stdout, "Rotated token %q: new prefix %s, expires %s. The previous token works until %s at the latest.\n",
		t.Name, t.Prefix, fmtTime(t.ExpiresAt, "never"), fmtTime(until, "-"))
	fmt.Fprintln(stdout, "Set the new token in the identity provider before then. It is shown only this once:")
	fmt.Fprintln(stdout, secret)
	return ExitOK
}

func fmtTime(t time.Time, zero string) string {
	if t.IsZero() {
		return zero
	}
	return t.UTC().Format(time.RFC3339)
}

func fmtNetworks(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return "any"
	}
	return store.FormatNetworks(ps)
}

// networksFlag is a repeatable flag.Value of source networks; each use may
// hold several, comma-separated.
type networksFlag []netip.Prefix

func (n *networksFlag) String() string {
	if n == nil {
		return ""
	}
	return store.FormatNetworks(*n)
}

func (n *networksFlag) Set(s string) error {
	for part := range strings.SplitSeq(s, ",") {
		p, err := ParseNetwork(part)
		if err != nil {
			return err
		}
		if !slices.Contains(*n, p) {
			*n = append(*n, p)
		}
	}
	return nil
}

// durationFlag is a flag.Value accepting Go durations and whole days ("90d").
type durationFlag time.Duration

func (d *durationFlag) String() string {
	if d == nil || *d == 0 {
		return "0"
	}
	s := time.Duration(*d).String()
	s = strings.TrimSuffix(s, "0s")
	return strings.TrimSuffix(s, "0m")
}

func (d *durationFlag) Set(s string) error {
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = durationFlag(v)
	return nil
}

func parseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 100*365 {
			return 0, fmt.Errorf("invalid duration %q: want e.g. 90d, 36h or 30m", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("invalid duration %q: want e.g. 90d, 36h or 30m", s)
	}
	return v, nil
}
