package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// soakChildEnv, set to "1", makes the test binary run as `scim-bridge`
// itself (TestMain passes its arguments to run): the soak's bridges are
// real processes of the real serve command, killable with SIGKILL.
const soakChildEnv = "SCIM_BRIDGE_SOAK_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(soakChildEnv) == "1" {
		os.Exit(soakChild(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// soakChild is the bridge process: `scim-bridge <args>`, stopped by the
// parent with SIGTERM or SIGKILL, and ending by itself if the parent test
// process goes away without doing either.
func soakChild(args []string) int {
	parent := os.Getppid()
	go func() {
		for range time.Tick(200 * time.Millisecond) {
			if os.Getppid() != parent {
				os.Exit(3)
			}
		}
	}()
	return run(context.Background(), args, os.Stdout, os.Stderr, os.Getenv)
}

// soakLog collects the log lines of every bridge process of one soak.
type soakLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *soakLog) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
}

func (l *soakLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// bridgeProc is one running bridge process.
type bridgeProc struct {
	name      string
	cmd       *exec.Cmd
	scimURL   *url.URL // http://host:port, SCIM is under /scim/v2
	adminURL  string
	exited    chan struct{} // closed once the process is reaped
	waitErr   error
	stderrEnd chan struct{} // closed once its stderr is read to the end
}

// startBridge starts `scim-bridge serve --config cfgPath` as a child with
// env added to a copy of this process's environment (less any
// SCIM_BRIDGE_* variable, so a developer's settings cannot leak in), and
// waits until its /readyz answers 200. Every line it logs goes to logs,
// prefixed with name. t.Cleanup kills it if the test did not stop it.
func startBridge(t *testing.T, name, cfgPath string, env []string, logs *soakLog) *bridgeProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "--config", cfgPath)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SCIM_BRIDGE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(append(cmd.Env, soakChildEnv+"=1"), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start bridge %s: %v", name, err)
	}
	p := &bridgeProc{name: name, cmd: cmd, exited: make(chan struct{}), stderrEnd: make(chan struct{})}
	t.Cleanup(func() { p.kill(t) })

	addrs := make(chan [2]string, 1)
	go func() {
		defer close(p.stderrEnd)
		var scimAddr, adminAddr string
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
		for sc.Scan() {
			line := sc.Text()
			logs.add(name + " " + line)
			if scimAddr != "" && adminAddr != "" {
				continue
			}
			var rec struct{ Msg, Listener, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
				switch rec.Listener {
				case "scim":
					scimAddr = rec.Addr
				case "admin":
					adminAddr = rec.Addr
				}
				if scimAddr != "" && adminAddr != "" {
					addrs <- [2]string{scimAddr, adminAddr}
				}
			}
		}
	}()
	go func() {
		<-p.stderrEnd // Wait closes the pipe: read it all first
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()

	select {
	case a := <-addrs:
		p.scimURL = &url.URL{Scheme: "http", Host: a[0]}
		p.adminURL = "http://" + a[1]
	case <-p.exited:
		t.Fatalf("bridge %s exited before listening: %v\n%s", name, p.waitErr, tail(logs.all(), 30))
	case <-time.After(60 * time.Second):
		t.Fatalf("bridge %s did not listen within 60s\n%s", name, tail(logs.all(), 30))
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get(p.adminURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("bridge %s not ready within 90s\n%s", name, tail(logs.all(), 30))
		}
		select {
		case <-p.exited:
			t.Fatalf("bridge %s exited before it was ready: %v\n%s", name, p.waitErr, tail(logs.all(), 30))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// kill sends SIGKILL (a crash: no drain, no deferred work) and reaps it.
func (p *bridgeProc) kill(t *testing.T) {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Errorf("bridge %s not reaped 30s after SIGKILL", p.name)
	}
}

// stop sends SIGTERM and expects a clean exit (exit status 0) within the
// configured drain timeout and some margin.
func (p *bridgeProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM bridge %s: %v", p.name, err)
	}
	select {
	case <-p.exited:
		if p.waitErr != nil {
			t.Errorf("bridge %s after SIGTERM: %v", p.name, p.waitErr)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("bridge %s still running 30s after SIGTERM", p.name)
		p.kill(t)
	}
}

// proxyHeader marks answers the proxy made itself (no bridge reachable),
// so the IdP can tell them from the bridge's own.
const proxyHeader = "X-Soak-Proxy"

// rrProxy is the load balancer in front of the bridges: round-robin over
// the current backends, a 502 marked with proxyHeader when the chosen one
// cannot be reached (killed, restarting).
type rrProxy struct {
	mu          sync.Mutex
	backends    []*url.URL
	next        int
	unreachable atomic.Int64
	rp          *httputil.ReverseProxy
}

func newRRProxy() *rrProxy {
	p := &rrProxy{}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(p.pick())
			r.Out.Host = r.In.Host
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			p.unreachable.Add(1)
			w.Header().Set(proxyHeader, "unreachable")
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	return p
}

func (p *rrProxy) pick() *url.URL {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range p.backends {
		u := p.backends[p.next%len(p.backends)]
		p.next++
		if u != nil {
			return u
		}
	}
	return &url.URL{Scheme: "http", Host: "127.0.0.1:1"} // none yet: refused
}

// setBackend puts u in slot i (growing the list as needed).
func (p *rrProxy) setBackend(i int, u *url.URL) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.backends) <= i {
		p.backends = append(p.backends, nil)
	}
	p.backends[i] = u
}

func (p *rrProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.rp.ServeHTTP(w, r) }

func tail(lines []string, n int) string {
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// childEnvSecrets is how the soak hands the bridge its Sigma secrets: as
// the environment variables an operator would set.
func childEnvSecrets(clientSecret, scimToken string) []string {
	return []string{
		fmt.Sprintf("SCIM_BRIDGE_SIGMA_CLIENT_SECRET=%s", clientSecret),
		fmt.Sprintf("SCIM_BRIDGE_SIGMA_SCIM_TOKEN=%s", scimToken),
	}
}
