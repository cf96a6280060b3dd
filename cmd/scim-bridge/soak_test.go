package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
	"github.com/scimbridge/scim-bridge/internal/store/postgres/pgtest"
)

// soakVariant is one way of running the fault soak.
type soakVariant struct {
	name     string
	mode     string // sigma.mode
	replicas int    // bridge processes behind the round-robin proxy
	postgres bool   // store on PostgreSQL (else one SQLite file)
	kills    int    // times the bridge is SIGKILLed and restarted on the same store
	// share, when > 1, runs the variant on 1/share of the users: SCIM
	// mode with two replicas is the slowest (a request waits ~1 s there,
	// against ~0.1 s elsewhere), and CI has minutes, not ten.
	share int
	// defects are known defects this variant still shows, by the check
	// that finds them: while one is open its failures are logged and the
	// variant ends skipped, naming it; every other check still fails.
	defects map[string]string
}

// Checks a known defect can be filed under (soakVariant.defects,
// soakDefects).
const (
	checkLostChanges       = "lost changes"
	checkUnaudited         = "Sigma writes the audit trail does not account for"
	checkUnrecordedCreates = "creates Sigma applied that the audit trail does not record"
)

// soakDefects are known open defects every variant may show (none now:
// defect C, creates Sigma applied whose answer was lost, is adopted on
// the IdP's retry).
var soakDefects = map[string]string{}

// soakFaults is what the emulator does to the bridge's member, team and
// SCIM calls (reads included): 10% 500s, 5% bare 429s (no body, no
// Retry-After), 2% applied and then the connection reset, 5% 50 ms late.
// The token endpoint keeps its own limit of 1 request per second.
var soakFaults = sigmafake.Fault{Status500: 0.10, Status429: 0.05, Ambiguous: 0.02, Latency: 0.05, LatencyDuration: 50 * time.Millisecond}

// TestSoak is the fault soak: IdP-like clients that retry on 5xx and 429
// onboard users into groups, change, deprovision and delete them, in
// parallel, through real bridge processes while Sigma (the emulator)
// fails as above. At the end Sigma must hold exactly the intended state,
// every answer of the bridge must have been a SCIM body, the audit trail
// must account for every write Sigma applied, and no secret may appear
// in the bridges' debug logs.
//
// SCIM_BRIDGE_SOAK_USERS (default 40) and SCIM_BRIDGE_SOAK_WORKERS
// (default 8) size it: the default runs in CI, e.g. 1000 by hand.
// SCIM_BRIDGE_SOAK_LOG=/tmp/soak-%s.log keeps each variant's bridge logs.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault soak runs bridge processes")
	}
	for _, v := range []soakVariant{
		{name: "rest", mode: "rest", replicas: 1},
		{name: "scim", mode: "scim", replicas: 1},
		{name: "rest-sigkill", mode: "rest", replicas: 1, kills: 3},
		{name: "rest-two-replicas-postgres", mode: "rest", replicas: 2, postgres: true},
		{name: "scim-two-replicas-postgres", mode: "scim", replicas: 2, postgres: true, share: 3},
	} {
		t.Run(v.name, func(t *testing.T) { runSoak(t, v) })
	}
}

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", name, s)
	}
	return n
}

func randomSecret(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func runSoak(t *testing.T, v soakVariant) {
	users := envInt(t, "SCIM_BRIDGE_SOAK_USERS", 40)
	if v.share > 1 {
		users = max(users/v.share, 10)
	}
	workers := envInt(t, "SCIM_BRIDGE_SOAK_WORKERS", 8)
	groups := min(max(users/25, 3), 10)
	storeSpec := "sqlite:" + filepath.Join(t.TempDir(), "state.db")
	if v.postgres {
		storeSpec = pgtest.NewSchema(t) // skips when SCIM_BRIDGE_TEST_POSTGRES is unset
	}
	start := time.Now()

	clientSecret, scimToken := randomSecret("soak-client-secret-"), randomSecret("soak-scim-token-")
	fake, err := sigmafake.Start(sigmafake.Options{
		ClientSecret: clientSecret, SCIMToken: scimToken, Members: 3, Seed: 1, RequestLogLimit: 1 << 22,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })

	cfgPath := filepath.Join(t.TempDir(), "scim-bridge.yml")
	cfg := fmt.Sprintf(`listen: "127.0.0.1:0"
admin_listen: "127.0.0.1:0"
store: %q
log: {format: json, level: debug}
sigma:
  mode: %s
  api_url: %q
  client_id: %q
  scim_url: %q
  requests_per_second: 1000
  max_concurrent: 16
provisioning:
  default_account_type: View
http:
  shutdown_timeout: 10s
`, storeSpec, v.mode, fake.URL(), sigmafake.DefaultClientID, fake.SCIMURL())
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := childEnvSecrets(clientSecret, scimToken)

	// The operator's first step: an IdP token, with the real CLI.
	var out, errb bytes.Buffer
	noEnv := func(string) string { return "" }
	if code := run(t.Context(), []string{"token", "--config", cfgPath, "create", "--name", "okta"}, &out, &errb, noEnv); code != exitOK {
		t.Fatalf("token create: exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	idpToken := strings.TrimSpace(lines[len(lines)-1])

	logs := &soakLog{}
	proxy := newRRProxy()
	front := httptest.NewServer(proxy)
	t.Cleanup(front.Close)
	procs := make([]*bridgeProc, v.replicas)
	for i := range procs {
		procs[i] = startBridge(t, fmt.Sprintf("bridge-%d", i), cfgPath, env, logs)
		proxy.setBackend(i, procs[i].scimURL)
	}

	for _, prefix := range []string{"/v2/members", "/v2/teams", "/scim/v2/"} {
		fake.SetFault(prefix, soakFaults)
	}
	plan := planSoak(users, groups, 1)
	stats := newIDPStats()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	go runIdP(ctx, front.URL+"/scim/v2", idpToken, plan, groups, workers, stats)

	// SIGKILL the bridge at even steps of the run and restart it on the
	// same store: in-flight requests are cut wherever they are.
	kills := 0
	for n := range stats.doneUsersCh {
		if kills < v.kills && n >= users*(kills+1)/(v.kills+1) {
			procs[0].kill(t)
			kills++
			procs[0] = startBridge(t, fmt.Sprintf("bridge-0.%d", kills), cfgPath, env, logs)
			proxy.setBackend(0, procs[0].scimURL)
		}
	}
	idpDone := time.Now()
	fake.ClearFaults()
	for _, p := range procs {
		p.stop(t)
	}

	if path := os.Getenv("SCIM_BRIDGE_SOAK_LOG"); path != "" {
		// Every bridge log line of the variant, for reading after a run.
		f := strings.ReplaceAll(path, "%s", v.name)
		if err := os.WriteFile(f, []byte(strings.Join(logs.all(), "\n")+"\n"), 0o600); err != nil {
			t.Errorf("SCIM_BRIDGE_SOAK_LOG: %v", err)
		}
	}
	res := checkSigma(fake, plan, groups, stats)
	audit := checkAudit(t, fake, storeSpec)
	leaks := checkLogs(logs.all(), fake, map[string]string{
		"the Sigma client secret": clientSecret, "the Sigma SCIM token": scimToken, "the IdP token": idpToken,
	})

	var known []string
	report := func(what string, list []string) {
		t.Helper()
		if len(list) == 0 {
			return
		}
		msg := fmt.Sprintf("%s: %d; first ones:\n  %s", what, len(list), strings.Join(list[:min(len(list), 10)], "\n  "))
		d := v.defects[what]
		if d == "" {
			d = soakDefects[what]
		}
		if d != "" {
			t.Log("KNOWN DEFECT " + d + "\n" + msg)
			known = append(known, d)
			return
		}
		t.Error(msg)
	}
	report("IdP requests that did not succeed", stats.failures)
	report("answers of the bridge that were not SCIM bodies", stats.nonSCIM)
	report("differences between Sigma and the intended state", res.problems)
	report(checkLostChanges, res.lost)
	report(checkUnaudited, audit.problems)
	report(checkUnrecordedCreates, audit.creates)
	report("log lines with a secret, a race or a panic", leaks.problems)
	if len(known) > 0 {
		defer t.Skipf("skipped on known open defects: %s", strings.Join(known, "; "))
	}
	if n := stats.byStatus[500]; n > 0 {
		t.Errorf("the bridge answered 500 %d times", n)
	}
	if kills != v.kills {
		t.Errorf("killed the bridge %d times, want %d", kills, v.kills)
	}

	inj := injected(fake)
	t.Logf("soak %s: %d users, %d groups, %d changes, %d deprovisions, %d deletes, %d IdP workers, %d bridge process(es), %d SIGKILLs; %s for the IdP, %s in all",
		v.name, users, groups, res.changes, res.deprovisions, res.deletes, workers, v.replicas, kills,
		idpDone.Sub(start).Round(100*time.Millisecond), time.Since(start).Round(100*time.Millisecond))
	t.Logf("soak %s: Sigma saw %d requests: %d injected 500s, %d 429s (%d of them the token endpoint's limit), %d writes applied then dropped (and 5%% of calls 50 ms late)",
		v.name, inj.requests, inj.status500, inj.status429, inj.token429, inj.dropped)
	t.Logf("soak %s: IdP sent %d requests (%d retries, %d answered by the proxy with no bridge behind it, %d transport errors); bridge statuses %s; %d creates and %d deletes had landed on an attempt whose answer was lost",
		v.name, stats.requests, stats.retries, stats.proxy502, stats.transport, stats.sortedStatuses(), stats.adopted, stats.deleteGone)
	t.Logf("soak %s: duplicates %d, missing %d, extra %d, lost changes %d, wrong active %d, membership missing %d / extra %d; non-SCIM answers %d; audit: %d entries (%d intents without an outcome) for %d applied Sigma writes, %d unaccounted (%d of them creates); %d log lines (%d at debug), %d with a secret",
		v.name, res.duplicates, res.missing, res.extra, res.lostChanges, res.wrongActive, res.missingMembership, res.extraMembership,
		len(stats.nonSCIM), audit.entries, audit.unfinished, audit.writes, len(audit.problems)+len(audit.creates), len(audit.creates), leaks.lines, leaks.debug, leaks.secrets)
}
