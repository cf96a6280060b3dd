package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scim-bridge/internal/app"
	"github.com/scimbridge/scim-bridge/internal/config"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
)

// bridge is a bridge serving in-process on the emulator, with its store
// in a SQLite file the CLI can open too.
type bridge struct {
	a     *app.App
	fake  *sigmafake.Server
	store string
	token string
}

func startObservedBridge(t *testing.T) bridge {
	t.Helper()
	fake, err := sigmafake.Start(sigmafake.Options{Members: 5, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	cfg := config.Default()
	cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Store = "sqlite:" + filepath.Join(t.TempDir(), "state.db")
	cfg.Sigma.Mode = config.ModeREST
	app.PointAtEmulator(&cfg, fake)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a := serveApp(t, cfg)
	if err := a.WaitReady(t.Context(), 20*time.Second); err != nil {
		t.Fatal(err)
	}
	token, _, err := a.Tokens().Create(t.Context(), "okta-prod", 0)
	if err != nil {
		t.Fatal(err)
	}
	return bridge{a: a, fake: fake, store: cfg.Store, token: token}
}

// serveApp builds and serves cfg until the test ends.
func serveApp(t *testing.T, cfg config.Config) *app.App {
	t.Helper()
	a, err := app.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return a
}

// unreachableSigma is a configuration on loopback ports whose Sigma REST
// API cannot be reached: the bridge serves, and is never ready.
func unreachableSigma(t *testing.T) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Store = "sqlite:" + filepath.Join(t.TempDir(), "state.db")
	cfg.Sigma.Mode = config.ModeREST
	cfg.Sigma.APIURL, cfg.Sigma.ClientID, cfg.Sigma.ClientSecret = "http://127.0.0.1:1", "id", "secret"
	return cfg
}

func (b bridge) scim(t *testing.T, method, path, body string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(method, b.a.SCIMBaseURL()+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+b.token)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return m
}

func TestHealthcheckAgainstARunningBridge(t *testing.T) {
	b := startObservedBridge(t)
	envm := map[string]string{"SCIM_BRIDGE_ADMIN_LISTEN": b.a.AdminAddr()}
	if code, stdout, stderr := runCLI(t, envm, "healthcheck"); code != exitOK || stdout != "ok: http://"+b.a.AdminAddr()+"/healthz\n" {
		t.Errorf("healthcheck: %d %q %q", code, stdout, stderr)
	}
	if code, stdout, stderr := runCLI(t, nil, "healthcheck", "--ready", "--url", "http://"+b.a.AdminAddr()); code != exitOK || !strings.HasSuffix(stdout, "/readyz\n") {
		t.Errorf("healthcheck --ready: %d %q %q", code, stdout, stderr)
	}

}

// TestHealthcheckReadyFailsWhileSigmaIsUnreachable: a bridge whose Sigma
// cannot be reached is alive (healthcheck exits 0) but not ready
// (healthcheck --ready exits 1 and names the check).
func TestHealthcheckReadyFailsWhileSigmaIsUnreachable(t *testing.T) {
	cfg := unreachableSigma(t)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a := serveApp(t, cfg)
	envm := map[string]string{"SCIM_BRIDGE_ADMIN_LISTEN": a.AdminAddr()}
	if code, _, stderr := runCLI(t, envm, "healthcheck"); code != exitOK {
		t.Errorf("healthcheck: %d %q; the process is alive", code, stderr)
	}
	code, _, stderr := runCLI(t, envm, "healthcheck", "--ready")
	if code != exitFailure || !strings.Contains(stderr, "503") || !strings.Contains(stderr, "sigma_mode failed") {
		t.Errorf("healthcheck --ready: %d %q; want 1 naming sigma_mode", code, stderr)
	}
}

func TestHealthcheckFailures(t *testing.T) {
	// Nothing listens: exit 1 at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	if code, _, stderr := runCLI(t, nil, "healthcheck", "--url", "http://"+closed); code != exitFailure || !strings.Contains(stderr, "refused") {
		t.Errorf("closed port: %d %q", code, stderr)
	}
	// A listener that accepts and never answers: exit 1 after the timeout.
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hang.Close()
	go func() {
		for {
			c, err := hang.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, bufio.NewReader(c)); c.Close() }()
		}
	}()
	start := time.Now()
	code, _, stderr := runCLI(t, nil, "healthcheck", "--url", "http://"+hang.Addr().String(), "--timeout", "200ms")
	if code != exitFailure || !strings.Contains(stderr, "deadline exceeded") {
		t.Errorf("hanging listener: %d %q", code, stderr)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("the timeout did not bound the wait")
	}
	// Docker reserves exit 2: bad usage is 1 too.
	if code, _, _ := runCLI(t, nil, "healthcheck", "--no-such-flag"); code != exitFailure {
		t.Errorf("bad flag: %d, want 1", code)
	}
}

func TestAuditAgainstARunningBridge(t *testing.T) {
	b := startObservedBridge(t)
	user := func(email, typ string) string {
		return fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"name":{"givenName":"G","familyName":"F"},"userType":%q}`, email, typ)
	}
	ana := b.scim(t, "POST", "/Users", user("ana@example.com", "Pro"))["id"].(string)
	b.scim(t, "POST", "/Users", user("xana@example.com", "View"))
	grp := b.scim(t, "POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Finance"}`)["id"].(string)
	b.scim(t, "PATCH", "/Groups/"+grp, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":%q}]}]}`, ana))
	b.scim(t, "PATCH", "/Users/"+ana, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`)
	envm := map[string]string{"SCIM_BRIDGE_STORE": b.store}

	// --user: ana's create and deactivation, newest first; not xana's.
	code, stdout, stderr := runCLI(t, envm, "audit", "--user", "ana@example.com", "--json")
	if code != exitOK {
		t.Fatalf("audit --user: %d %s", code, stderr)
	}
	var got []map[string]any
	for line := range strings.Lines(stdout) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		got = append(got, m)
	}
	if len(got) != 2 || got[0]["operation"] != "user.replace" && got[0]["operation"] != "user.patch" || got[1]["operation"] != "user.create" {
		t.Fatalf("audit --user ana: %v", got)
	}
	for _, m := range got {
		if m["resource_id"] != ana || m["target"] != "ana@example.com" || m["token"] != "okta-prod" || m["outcome"] != "ok" || m["request_id"] == "" {
			t.Errorf("entry %v: want ana's id and email, the IdP token, ok and a request id", m)
		}
	}
	// --group: the team's create and membership change. The intent
	// entries (issue 10.3; the create's names the group, having no id
	// yet) are folded into their outcomes, and shown with --intents.
	code, stdout, _ = runCLI(t, envm, "audit", "--group", "finance")
	if code != exitOK || strings.Count(stdout, "group/"+grp) != 2 || strings.Contains(stdout, " pending ") || !strings.HasPrefix(stdout, "TIME") {
		t.Errorf("audit --group: %d\n%s", code, stdout)
	}
	code, stdout, _ = runCLI(t, envm, "audit", "--group", "finance", "--intents")
	if code != exitOK || strings.Count(stdout, "group/"+grp) != 3 || strings.Count(stdout, " pending ") != 2 {
		t.Errorf("audit --group --intents: %d\n%s", code, stdout)
	}
	// --limit and --since.
	if code, stdout, _ = runCLI(t, envm, "audit", "--limit", "1", "--json"); code != exitOK || strings.Count(stdout, "\n") != 1 || !strings.Contains(stdout, ana) {
		t.Errorf("audit --limit 1: %d %q; want the newest entry only", code, stdout)
	}
	if code, stdout, _ = runCLI(t, envm, "audit", "--since", "1d", "--json"); code != exitOK || strings.Count(stdout, "\n") < 5 {
		t.Errorf("audit --since 1d: %d %q", code, stdout)
	}
	if code, stdout, _ = runCLI(t, envm, "audit", "--since", "0s", "--json"); code != exitOK || stdout != "" {
		t.Errorf("audit --since 0s: %d %q; want nothing", code, stdout)
	}
	if code, _, stderr = runCLI(t, envm, "audit", "--since", "yesterday"); code != exitUsage || !strings.Contains(stderr, "7d") {
		t.Errorf("bad --since: %d %q", code, stderr)
	}
	// A member the bridge never created or named before: its deletion
	// targets its email, found whatever the case.
	seeded := b.fake.Members()[0]
	b.scim(t, "DELETE", "/Users/"+seeded.MemberID, "")
	code, stdout, _ = runCLI(t, envm, "audit", "--user", strings.ToUpper(seeded.Email), "--json")
	if code != exitOK || strings.Count(stdout, "\n") != 1 || !strings.Contains(stdout, `"operation":"user.delete"`) ||
		!strings.Contains(stdout, `"resource_id":"`+seeded.MemberID+`"`) || !strings.Contains(stdout, `"target":"`+seeded.Email+`"`) {
		t.Errorf("audit --user %s: %d\n%s; want its user.delete only", seeded.Email, code, stdout)
	}
	// The table shows the target.
	code, stdout, _ = runCLI(t, envm, "audit", "--id", seeded.MemberID)
	if header, row, _ := strings.Cut(stdout, "\n"); code != exitOK || !strings.Contains(header, " TARGET ") || !strings.Contains(row, " "+seeded.Email+" ") {
		t.Errorf("audit --id %s: %d\n%s; want a TARGET column naming %s", seeded.MemberID, code, stdout, seeded.Email)
	}

}

// selfSigned writes a self-signed certificate for name and its key.
func selfSigned(t *testing.T, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestHealthcheckOverAdminTLS: with admin_tls the healthcheck speaks
// HTTPS to loopback and accepts exactly the configured certificate,
// whatever name it carries.
func TestHealthcheckOverAdminTLS(t *testing.T) {
	certFile, keyFile := selfSigned(t, "bridge.example.com")
	cfg := unreachableSigma(t)
	cfg.AdminTLS.CertFile, cfg.AdminTLS.KeyFile = certFile, keyFile
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a := serveApp(t, cfg)
	envm := map[string]string{"SCIM_BRIDGE_ADMIN_LISTEN": a.AdminAddr(),
		"SCIM_BRIDGE_ADMIN_TLS_CERT_FILE": certFile, "SCIM_BRIDGE_ADMIN_TLS_KEY_FILE": keyFile}
	if code, stdout, stderr := runCLI(t, envm, "healthcheck"); code != exitOK || !strings.HasPrefix(stdout, "ok: https://") {
		t.Errorf("healthcheck over TLS: %d %q %q", code, stdout, stderr)
	}
	otherCert, otherKey := selfSigned(t, "bridge.example.com")
	envm["SCIM_BRIDGE_ADMIN_TLS_CERT_FILE"], envm["SCIM_BRIDGE_ADMIN_TLS_KEY_FILE"] = otherCert, otherKey
	if code, _, stderr := runCLI(t, envm, "healthcheck"); code != exitFailure || !strings.Contains(stderr, "certificate other than") {
		t.Errorf("healthcheck against another certificate: %d %q; want 1", code, stderr)
	}
}
