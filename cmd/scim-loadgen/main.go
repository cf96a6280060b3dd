// Command scim-loadgen drives a SCIM server the way an IdP onboards people
// (Okta's sequence: look the user up by userName, create it, add it to a
// group) from many concurrent workers, and reports throughput, latency
// percentiles and failures per operation.
//
// With -demo it starts the bridge on the embedded Sigma emulator in-process
// and also reports how many Sigma calls each onboarding cost. It only ever
// talks to the URL it is given (use loopback for benchmarks).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sync"
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
	users, workers int
	group, prefix  string
	demo           bool
	mode           string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scim-loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.baseURL, "url", "", "SCIM base `URL`, e.g. http://127.0.0.1:8080/scim/v2 (not with -demo)")
	fs.StringVar(&o.token, "token", os.Getenv("SCIM_LOADGEN_TOKEN"), "bearer token (or SCIM_LOADGEN_TOKEN)")
	fs.IntVar(&o.users, "users", 200, "users to onboard")
	fs.IntVar(&o.workers, "concurrency", 10, "concurrent workers (an IdP's parallel requests)")
	fs.StringVar(&o.group, "group", "loadgen", "group every user is added to (created if missing)")
	fs.StringVar(&o.prefix, "prefix", fmt.Sprintf("lg%d", time.Now().Unix()%100000), "userName prefix, so runs do not collide")
	fs.BoolVar(&o.demo, "demo", false, "start the bridge on the embedded Sigma emulator and load that")
	fs.StringVar(&o.mode, "mode", "rest", "with -demo: Sigma path (rest, scim or auto)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run (bridge included with -demo) to `file`")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if o.users < 1 || o.workers < 1 || (o.demo == (o.baseURL != "")) || (!o.demo && o.token == "") {
		fmt.Fprintln(stderr, "scim-loadgen: give either -demo, or -url and -token; -users and -concurrency at least 1")
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
	var fake *sigmafake.Server
	if o.demo {
		var shutdown func()
		var err error
		fake, shutdown, err = startDemo(ctx, &o)
		if err != nil {
			fmt.Fprintf(stderr, "scim-loadgen: %v\n", err)
			return 1
		}
		defer shutdown()
	}
	rep, err := load(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "scim-loadgen: %v\n", err)
		return 1
	}
	rep.print(stdout)
	if fake != nil {
		// Token and account-type requests are cached per process, not per
		// user: reported apart so the per-user cost is what scales.
		calls, cached := 0, 0
		for _, r := range fake.Requests() {
			switch {
			case !r.Time.After(rep.start):
			case r.Path == "/v2/auth/token" || r.Path == "/v2/accountTypes":
				cached++
			default:
				calls++
			}
		}
		fmt.Fprintf(stdout, "sigma calls during the run: %d (%.2f per onboarded user), plus %d token/account-type requests (cached)\n",
			calls, float64(calls)/float64(o.users), cached)
	}
	if rep.failures() > 0 {
		return 1
	}
	return 0
}

// startDemo runs the bridge on the emulator in-process and points o at it.
func startDemo(ctx context.Context, o *options) (*sigmafake.Server, func(), error) {
	fake, err := sigmafake.Start(sigmafake.Options{Members: 50, Teams: 5, Seed: 1})
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "scim-loadgen-")
	if err != nil {
		fake.Close()
		return nil, nil, err
	}
	cfg := config.Default()
	cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Store = "sqlite:" + filepath.Join(dir, "state.db")
	cfg.Sigma.Mode = o.mode
	app.PointAtEmulator(&cfg, fake)
	cfg.Sigma.RequestsPerSecond = 1000
	cfg.Sigma.MaxConcurrent = 32
	cfg.Provisioning.DefaultAccountType = "View"
	a, err := app.New(ctx, cfg, app.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		fake.Close()
		os.RemoveAll(dir)
		return nil, nil, err
	}
	token, _, err := a.Tokens().Create(ctx, "loadgen", 0)
	if err != nil {
		return nil, nil, err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { _ = a.Serve(sctx); close(done) }()
	if err := a.WaitReady(ctx, 30*time.Second); err != nil {
		cancel()
		<-done
		return nil, nil, err
	}
	o.baseURL, o.token = a.SCIMBaseURL(), token
	return fake, func() {
		cancel()
		<-done
		fake.Close()
		os.RemoveAll(dir)
	}, nil
}

type sample struct {
	op     string
	d      time.Duration
	status int
	err    error
}

type report struct {
	start   time.Time
	elapsed time.Duration
	users   int
	samples []sample
}

func (r *report) failures() int {
	n := 0
	for _, s := range r.samples {
		if s.err != nil {
			n++
		}
	}
	return n
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "onboarded %d users in %s (%.1f users/s)\n", r.users, r.elapsed.Round(time.Millisecond), float64(r.users)/r.elapsed.Seconds())
	fmt.Fprintf(w, "%-14s %7s %7s %9s %9s %9s %9s\n", "operation", "count", "failed", "p50", "p95", "p99", "max")
	for _, op := range []string{"lookup", "create", "group-add"} {
		var ds []time.Duration
		failed := 0
		var firstErr error
		for _, s := range r.samples {
			if s.op != op {
				continue
			}
			ds = append(ds, s.d)
			if s.err != nil {
				failed++
				if firstErr == nil {
					firstErr = s.err
				}
			}
		}
		if len(ds) == 0 {
			continue
		}
		slices.Sort(ds)
		q := func(p float64) time.Duration {
			return ds[min(len(ds)-1, int(p*float64(len(ds))))].Round(10 * time.Microsecond)
		}
		fmt.Fprintf(w, "%-14s %7d %7d %9s %9s %9s %9s\n", op, len(ds), failed, q(.50), q(.95), q(.99), ds[len(ds)-1].Round(10*time.Microsecond))
		if firstErr != nil {
			fmt.Fprintf(w, "  first failure: %v\n", firstErr)
		}
	}
}

type client struct {
	base, token string
	hc          *http.Client
}

func (c *client) do(ctx context.Context, method, path string, body any, want int) (map[string]any, int, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	if resp.StatusCode != want {
		detail, _ := m["detail"].(string)
		return m, resp.StatusCode, fmt.Errorf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, detail)
	}
	return m, resp.StatusCode, nil
}

func load(ctx context.Context, o options) (*report, error) {
	c := &client{base: o.baseURL, token: o.token, hc: &http.Client{
		Timeout:   60 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: o.workers},
	}}
	groupID, err := ensureGroup(ctx, c, o.group)
	if err != nil {
		return nil, err
	}
	rep := &report{start: time.Now(), users: o.users}
	var mu sync.Mutex
	record := func(s sample) {
		mu.Lock()
		rep.samples = append(rep.samples, s)
		mu.Unlock()
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range o.workers {
		wg.Go(func() {
			for i := range jobs {
				onboard(ctx, c, groupID, fmt.Sprintf("%s-%06d@loadgen.example.com", o.prefix, i), record)
			}
		})
	}
	for i := range o.users {
		select {
		case jobs <- i:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	rep.elapsed = time.Since(rep.start)
	return rep, ctx.Err()
}

func timed(op string, record func(sample), f func() (int, error)) error {
	start := time.Now()
	status, err := f()
	record(sample{op: op, d: time.Since(start), status: status, err: err})
	return err
}

// onboard is Okta's sequence for one new user.
func onboard(ctx context.Context, c *client, groupID, userName string, record func(sample)) {
	filter := url.QueryEscape(fmt.Sprintf(`userName eq "%s"`, userName))
	if timed("lookup", record, func() (int, error) {
		m, st, err := c.do(ctx, "GET", "/Users?filter="+filter+"&startIndex=1&count=100", nil, 200)
		if err == nil && m["totalResults"] != float64(0) {
			err = fmt.Errorf("lookup %s: found %v users before creating it", userName, m["totalResults"])
		}
		return st, err
	}) != nil {
		return
	}
	var id string
	if timed("create", record, func() (int, error) {
		m, st, err := c.do(ctx, "POST", "/Users", map[string]any{
			"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
			"userName": userName, "active": true,
			"name":     map[string]string{"givenName": "Load", "familyName": "Generator"},
			"emails":   []map[string]any{{"value": userName, "type": "work", "primary": true}},
			"password": "not-used-by-sigma", "groups": []any{},
		}, 201)
		id, _ = m["id"].(string)
		return st, err
	}) != nil {
		return
	}
	_ = timed("group-add", record, func() (int, error) {
		_, st, err := c.do(ctx, "PATCH", "/Groups/"+groupID, map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "add", "path": "members", "value": []any{map[string]string{"value": id}}}},
		}, 204)
		if st == 200 {
			err = nil
		}
		return st, err
	})
}

func ensureGroup(ctx context.Context, c *client, name string) (string, error) {
	filter := url.QueryEscape(fmt.Sprintf(`displayName eq "%s"`, name))
	m, _, err := c.do(ctx, "GET", "/Groups?filter="+filter+"&excludedAttributes=members", nil, 200)
	if err != nil {
		return "", err
	}
	if res, _ := m["Resources"].([]any); len(res) > 0 {
		id, _ := res[0].(map[string]any)["id"].(string)
		return id, nil
	}
	m, _, err = c.do(ctx, "POST", "/Groups", map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": name, "members": []any{},
	}, 201)
	if err != nil {
		return "", err
	}
	id, _ := m["id"].(string)
	return id, nil
}
