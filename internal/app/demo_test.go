package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/scimbridge/scim-bridge/internal/config"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
)

// lockedBuffer is written by the demo goroutine and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func scimDo(t *testing.T, method, url, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: %d, not JSON: %s", method, url, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, m
}

// TestDemo runs the demo as the README tells people to, on loopback ports
// chosen by the OS, and provisions through it with the printed token.
func TestDemo(t *testing.T) {
	for _, mode := range []string{"auto", "scim", "rest"} {
		t.Run(mode, func(t *testing.T) { testDemo(t, mode) })
	}
}

func testDemo(t *testing.T, mode string) {
	ctx, cancel := context.WithCancel(t.Context())
	type ready struct{ base, admin, token string }
	readyc := make(chan ready, 1)
	var out, warnings lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- Demo(ctx, DemoOptions{
			Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", Members: 7, Teams: 2, Mode: mode,
			// What `scim-bridge demo` shows by default: warnings and up.
			Logger: slog.New(slog.NewTextHandler(&warnings, &slog.HandlerOptions{Level: slog.LevelWarn})),
			Ready:  func(base, admin, token string) { readyc <- ready{base, admin, token} },
		}, &out)
	}()
	var r ready
	select {
	case r = <-readyc:
	case err := <-done:
		t.Fatalf("demo stopped: %v", err)
	}
	if w := warnings.String(); w != "" {
		t.Errorf("a normal start logs warnings:\n%s", w)
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	if last := lines[len(lines)-1]; last != r.token || !strings.HasPrefix(last, "scimb_") {
		t.Errorf("the token is not the last line of stdout: %q", last)
	}
	wantPath := map[string]string{"auto": "Sigma path      scim (auto:", "scim": "Sigma path      scim", "rest": "Sigma path      rest"}[mode]
	if !strings.Contains(out.String(), wantPath) {
		t.Errorf("stdout does not say the live path is %q:\n%s", wantPath, out.String())
	}
	if !strings.Contains(out.String(), r.base) || !strings.Contains(out.String(), "curl -s -H \"Authorization: Bearer "+r.token) {
		t.Errorf("stdout lacks the base URL or the curl:\n%s", out.String())
	}

	// The status page opens with the admin token the demo printed, as a
	// browser sends it (Basic, any user), and refuses the IdP token.
	var adminToken string
	for _, l := range lines {
		if _, rest, ok := strings.Cut(l, "password: the admin token "); ok {
			adminToken = strings.TrimSuffix(rest, ")")
		}
	}
	if !strings.HasPrefix(adminToken, "scimb_") || adminToken == r.token {
		t.Errorf("stdout names no admin token for the status page:\n%s", out.String())
	}
	for _, c := range []struct {
		token string
		want  int
	}{{adminToken, http.StatusOK}, {r.token, http.StatusForbidden}} {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", r.admin+"/status", nil)
		req.SetBasicAuth("demo", c.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("GET /status with the %s token: %d, want %d", map[bool]string{true: "admin", false: "IdP"}[c.token == adminToken], resp.StatusCode, c.want)
		}
	}

	// /readyz names the live Sigma path and why, and reports every part.
	wantWhy := map[string]string{"auto": "auto:", "scim": "forced", "rest": "forced"}[mode]
	wantMode := map[string]string{"auto": "scim", "scim": "scim", "rest": "rest"}[mode]
	code, rep := readyz(t, r.admin)
	if code != 200 || !rep.Ready || rep.Mode != wantMode || !strings.HasPrefix(rep.ModeWhy, wantWhy) {
		t.Errorf("/readyz = %d %+v; want ready, mode %s (%s…)", code, rep, wantMode, wantWhy)
	}
	if c := rep.check("sigma_mode"); c.State != StateOK || !c.Required || !strings.HasPrefix(c.Detail, wantMode+" path live (") {
		t.Errorf("sigma_mode = %+v", c)
	}
	for _, name := range []string{"store", "sigma_" + wantMode} {
		if c := rep.check(name); c.State != StateOK {
			t.Errorf("%s = %+v; want ok", name, c)
		}
	}
	// The REST index loads in the background when SCIM is live.
	waitCheck(t, r.admin, "sigma_index", StateOK)
	if code, _ := scimDo(t, "GET", r.base+"/Users", "", ""); code != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", code)
	}
	code, list := scimDo(t, "GET", r.base+"/Users?count=2", r.token, "")
	if code != 200 || list["totalResults"] != float64(7) || list["itemsPerPage"] != float64(2) {
		t.Errorf("list users: %d %v", code, list)
	}
	code, u := scimDo(t, "POST", r.base+"/Users", r.token,
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@example.com","name":{"givenName":"Ada","familyName":"Lovelace"},"userType":"Viewer"}`)
	if code != http.StatusCreated || u["userName"] != "ada@example.com" {
		t.Errorf("create user: %d %v", code, u)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("demo: %v", err)
	}
}

func TestCheckAgainstTheEmulator(t *testing.T) {
	fake, err := sigmafake.Start(sigmafake.Options{Members: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	cfg := testConfig(t)
	PointAtEmulator(&cfg, fake)
	var out bytes.Buffer
	if err := Check(t.Context(), cfg, &out); err != nil {
		t.Fatalf("Check: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"store: ok", "sigma REST auth: ok", "sigma account types: ok: Admin, Pro, Essential, View, Analyst Creator",
		"sigma SCIM endpoint: ok", "mode: scim (auto: Sigma's Enterprise SCIM endpoint answers)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, out.String())
		}
	}

	// Account types the configuration names are checked against the org.
	cfg.Provisioning.DefaultAccountType = "viewer"
	cfg.Sigma.AccountTypeAliases = map[string]string{"viewer": "View"}
	cfg.Provisioning.GroupRules = []config.GroupRule{{Group: "Admins", AccountType: "admin"}, {Group: "Creators", AccountType: "Creator Pro"}}
	out.Reset()
	err = Check(t.Context(), cfg, &out)
	want := `configured account types: FAILED: provisioning.group_rules[1] (Creators): "Creator Pro" is not an account type of this org (valid: Admin, Analyst Creator, Essential, Pro, View)`
	if err == nil || !strings.Contains(out.String(), want) {
		t.Errorf("Check = %v; want the unknown rule type named:\n%s", err, out.String())
	}
	cfg.Provisioning.GroupRules = cfg.Provisioning.GroupRules[:1]
	out.Reset()
	if err := Check(t.Context(), cfg, &out); err != nil || !strings.Contains(out.String(), "configured account types: ok") {
		t.Errorf("Check with valid names = %v:\n%s", err, out.String())
	}

	// A rejected SCIM token and a wrong client secret: both reported, mode
	// falls to none, and no secret is printed.
	cfg.Sigma.SCIMToken = "wrong-scim-token-value"
	cfg.Sigma.ClientSecret = "wrong-client-secret-value"
	out.Reset()
	err = Check(t.Context(), cfg, &out)
	if err == nil || err.Error() != "failed: sigma REST auth, sigma SCIM endpoint" {
		t.Errorf("Check = %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "mode: none") {
		t.Errorf("mode line: %s", out.String())
	}
	for _, s := range []string{"wrong-scim-token-value", "wrong-client-secret-value"} {
		if strings.Contains(out.String()+err.Error(), s) {
			t.Errorf("check printed a secret")
		}
	}
}

// TestDemoEmptyOrg: --members 0 --teams 0 starts on an empty Sigma org
// (what validators that create their own users expect).
func TestDemoEmptyOrg(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	readyc := make(chan [2]string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Demo(ctx, DemoOptions{
			Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", Mode: "rest",
			Ready: func(base, _, token string) { readyc <- [2]string{base, token} },
		}, io.Discard)
	}()
	var r [2]string
	select {
	case r = <-readyc:
	case err := <-done:
		t.Fatalf("demo stopped: %v", err)
	}
	if code, list := scimDo(t, "GET", r[0]+"/Users", r[1], ""); code != 200 || list["totalResults"] != float64(0) {
		t.Errorf("users of an empty org: %d %v", code, list)
	}
	if code, list := scimDo(t, "GET", r[0]+"/Groups", r[1], ""); code != 200 || list["totalResults"] != float64(0) {
		t.Errorf("groups of an empty org: %d %v", code, list)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("demo: %v", err)
	}
	if err := Demo(t.Context(), DemoOptions{Members: -1}, io.Discard); err == nil || !strings.Contains(err.Error(), "0 or more") {
		t.Errorf("negative members: %v", err)
	}
}
