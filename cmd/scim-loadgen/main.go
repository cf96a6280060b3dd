// Command scim-loadgen drives a SCIM server the way IdPs do, from many
// concurrent workers, and reports throughput, latency percentiles (p50,
// p90, p99), errors by status, the Sigma calls each operation cost and the
// server's peak RSS. Scenarios:
//
//	lookup       userName eq lookups of existing users (repeated)
//	create       POST /Users
//	onboard      Okta's sequence: lookup (miss), create, add to a group
//	import       GET /Users?startIndex=…&count=100 over the whole org
//	group-push   one group built by PATCH add in batches, then trimmed by PATCH remove
//	deprovision  PATCH replace active=false (users created first, not measured)
//
// Against a running server give -url and -token; -metrics (the bridge's
// admin /metrics URL) adds Sigma calls per operation and -pid the server's
// peak RSS. With -demo it starts the bridge on the embedded Sigma emulator
// in-process instead. It only ever talks to the URLs it is given (use
// loopback for benchmarks); bench/run.sh runs the whole comparison.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/scimbridge/scim-bridge/internal/app"
	"github.com/scimbridge/scim-bridge/internal/config"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	baseURL, token string
	scenario       string
	target         string
	ops, workers   int
	members, batch int
	prefix         string
	metricsURL     string
	pid            int
	jsonOut        string
	demo           bool
	demoMembers    int
	mode           string

	sigma sigmaCounter // nil: not a bridge, or no -metrics
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scim-loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range scenarios {
			if !yield(k) {
				return
			}
		}
	})
	fs.StringVar(&o.scenario, "scenario", "onboard", "what to run: "+strings.Join(names, ", "))
	fs.StringVar(&o.baseURL, "url", "", "SCIM base `URL`, e.g. http://127.0.0.1:8080/scim/v2 (not with -demo)")
	fs.StringVar(&o.token, "token", os.Getenv("SCIM_LOADGEN_TOKEN"), "bearer token (or SCIM_LOADGEN_TOKEN)")
	fs.StringVar(&o.target, "name", "", "label of the target in the report (default: bridge with -demo, else the URL)")
	fs.IntVar(&o.ops, "users", 200, "operations to run: users to create/onboard/deprovision, lookups, or import pages (0: all)")
	fs.IntVar(&o.workers, "concurrency", 10, "concurrent workers (an IdP's parallel requests)")
	fs.IntVar(&o.members, "members", 10000, "group-push: members to add and then remove")
	fs.IntVar(&o.batch, "batch", 100, "group-push: members per PATCH")
	fs.StringVar(&o.prefix, "prefix", fmt.Sprintf("lg%d", time.Now().Unix()%100000), "userName and group prefix, so runs do not collide")
	fs.StringVar(&o.metricsURL, "metrics", "", "the bridge's /metrics `URL`: report Sigma calls per operation")
	fs.IntVar(&o.pid, "pid", 0, "the server's process id: report its peak RSS")
	fs.StringVar(&o.jsonOut, "json", "", "append the result as one JSON line to `file`")
	fs.BoolVar(&o.demo, "demo", false, "start the bridge on the embedded Sigma emulator and load that")
	fs.IntVar(&o.demoMembers, "demo-members", 50, "with -demo: members seeded in the emulator")
	fs.StringVar(&o.mode, "mode", "rest", "with -demo: Sigma path (rest, scim or auto)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run (bridge included with -demo) to `file`")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	scenario, known := scenarios[o.scenario]
	if !known || o.ops < 0 || o.workers < 1 || o.batch < 1 || o.members < 1 || (o.demo == (o.baseURL != "")) || (!o.demo && o.token == "") {
		fmt.Fprintln(stderr, "scim-loadgen: give either -demo, or -url and -token; a known -scenario; -concurrency, -batch and -members at least 1")
		return 2
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "scim-loadgen: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "scim-loadgen: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	if o.demo {
		shutdown, err := startDemo(ctx, &o)
		if err != nil {
			fmt.Fprintf(stderr, "scim-loadgen: %v\n", err)
			return 1
		}
		defer shutdown()
	}
	if o.target == "" {
		o.target = o.baseURL
	}
	if o.metricsURL != "" {
		o.sigma = metricsCounter(o.metricsURL)
	}
	res, err := scenario(ctx, newClient(o.baseURL, o.token, o.workers), o)
	if err != nil {
		fmt.Fprintf(stderr, "scim-loadgen: %v\n", err)
		return 1
	}
	res.Target, res.Concurrency = o.target, o.workers
	if o.pid > 0 || o.demo {
		res.PeakRSSMB = peakRSS(o.pid)
	}
	res.print(stdout)
	if o.jsonOut != "" {
		f, err := os.OpenFile(o.jsonOut, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			err = res.writeJSON(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "scim-loadgen: write %s: %v\n", o.jsonOut, err)
			return 1
		}
	}
	if res.failures() > 0 {
		return 1
	}
	return 0
}

// startDemo runs the bridge on the emulator in-process and points o at it.
func startDemo(ctx context.Context, o *options) (func(), error) {
	fake, err := sigmafake.Start(sigmafake.Options{Members: o.demoMembers, Teams: 5, Seed: 1})
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "scim-loadgen-")
	if err != nil {
		fake.Close()
		return nil, err
	}
	cfg := config.Default()
	cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Store = "sqlite:" + filepath.Join(dir, "state.db")
	cfg.Sigma.Mode = o.mode
	app.PointAtEmulator(&cfg, fake)
	cfg.Provisioning.DefaultAccountType = "View"
	a, err := app.New(ctx, cfg, app.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		fake.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	token, _, err := a.Tokens().Create(ctx, "loadgen", 0)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { _ = a.Serve(sctx); close(done) }()
	if err := a.WaitReady(ctx, 30*time.Second); err != nil {
		cancel()
		<-done
		return nil, err
	}
	o.baseURL, o.token = a.SCIMBaseURL(), token
	o.metricsURL = "http://" + a.AdminAddr() + "/metrics"
	if o.target == "" {
		o.target = "bridge (in-process)"
	}
	return func() {
		cancel()
		<-done
		fake.Close()
		os.RemoveAll(dir)
	}, nil
}
