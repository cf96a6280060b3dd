package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scim-bridge/internal/config"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
	"github.com/scimbridge/scim-bridge/internal/tokens"
)

// scimError decodes a SCIM error body (RFC 7644 §3.12) or fails.
func scimError(t *testing.T, what string, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct {
		Schemas []string `json:"schemas"`
		Status  string   `json:"status"`
		Detail  string   `json:"detail"`
	}
	if err := json.Unmarshal(b, &e); err != nil || len(e.Schemas) != 1 || e.Schemas[0] != "urn:ietf:params:scim:api:messages:2.0:Error" ||
		e.Status != fmt.Sprint(resp.StatusCode) || e.Detail == "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/scim+json") {
		t.Errorf("%s: %d %q is not a SCIM error body", what, resp.StatusCode, b)
	}
	return e.Detail
}

// TestEverySCIMPathNeedsAToken (issue 10 deliver 4): without a valid token
// every method on every SCIM path, known or not, is answered 401 with a
// SCIM error body — nothing is served, and nothing tells a caller without
// a token which paths exist.
func TestEverySCIMPathNeedsAToken(t *testing.T) {
	cfg := testConfig(t)
	// Each request comes from its own address (X-Forwarded-For), so the
	// failed-authentication limit does not turn the answers into 429s.
	cfg.Tokens.TrustForwardedFor = true
	a, _ := startApp(t, cfg)
	valid, _, err := a.Tokens().Create(t.Context(), "okta", 0)
	if err != nil {
		t.Fatal(err)
	}
	revoked, _, err := a.Tokens().Create(t.Context(), "gone", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Tokens().Revoke(t.Context(), "gone"); err != nil {
		t.Fatal(err)
	}
	base := a.SCIMBaseURL()
	paths := []string{"", "/", "/Users", "/Users/abc", "/Users/.search", "/Groups", "/Groups/abc", "/Groups/.search",
		"/.search", "/ServiceProviderConfig", "/Schemas", "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
		"/ResourceTypes", "/ResourceTypes/User", "/Bulk", "/Me", "/no/such/path", "/Users/abc/../../x"}
	methods := []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead}
	credentials := map[string]string{
		"none": "", "empty bearer": "Bearer ", "basic": "Basic b2t0YTpzZWNyZXQ=",
		"malformed": "Bearer scimb_short", "unknown": "Bearer scimb_" + strings.Repeat("A", 43),
		"revoked": "Bearer " + revoked, "valid secret, wrong scheme": "Token " + valid,
	}
	n := 0
	for _, p := range paths {
		for _, m := range methods {
			for what, auth := range credentials {
				req, _ := http.NewRequest(m, base+p, strings.NewReader(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x@example.com"}`))
				req.Header.Set("Content-Type", "application/scim+json")
				if auth != "" {
					req.Header.Set("Authorization", auth)
				}
				req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.%d.%d", n/256, n%256))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatalf("%s %s (%s): %v", m, p, what, err)
				}
				n++
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s %s with %s credentials: %d, want 401", m, p, what, resp.StatusCode)
				}
				if m == http.MethodHead {
					resp.Body.Close()
					continue
				}
				scimError(t, fmt.Sprintf("%s %s (%s)", m, p, what), resp)
			}
		}
	}
	t.Logf("%d unauthenticated requests refused", n)
}

// cutOff reports whether the server ends the conversation on conn while
// send keeps trickling bytes into it, one every tick for up to limit: the
// read side sees the answer or the close. It returns what the server sent.
func cutOff(t *testing.T, conn net.Conn, send func(i int) string, tick, limit time.Duration) (string, bool) {
	t.Helper()
	done := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(conn)
		done <- string(b)
	}()
	deadline := time.Now().Add(limit)
	for i := 0; time.Now().Before(deadline); i++ {
		select {
		case got := <-done:
			return got, true
		case <-time.After(tick):
		}
		if _, err := io.WriteString(conn, send(i)); err != nil {
			return <-done, true // the server closed the connection
		}
	}
	conn.Close()
	<-done
	return "", false
}

// TestSlowClientsAreCut (issue 10 deliver 4): a client that sends its
// headers or its body a byte at a time (slowloris) holds a connection no
// longer than the read timeouts, whatever it does.
func TestSlowClientsAreCut(t *testing.T) {
	cfg := testConfig(t)
	cfg.HTTP.ReadHeaderTimeout = config.Duration(time.Second)
	cfg.HTTP.ReadTimeout = config.Duration(2 * time.Second)
	a, _ := startApp(t, cfg)
	token, _, err := a.Tokens().Create(t.Context(), "okta", 0)
	if err != nil {
		t.Fatal(err)
	}
	dial := func() net.Conn {
		c, err := net.Dial("tcp", a.SCIMAddr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	// Headers that never end.
	c := dial()
	io.WriteString(c, "GET /scim/v2/Users HTTP/1.1\r\nHost: bridge\r\nAuthorization: Bearer "+token+"\r\n")
	got, cut := cutOff(t, c, func(i int) string { return fmt.Sprintf("X-Slow-%d: a\r\n", i) }, 100*time.Millisecond, 30*time.Second)
	if !cut {
		t.Fatal("a client trickling headers kept its connection for 30s; read_header_timeout is 1s")
	}
	if strings.Contains(got, " 200 ") {
		t.Errorf("a request whose headers never ended was served: %q", got)
	}

	// A body that never ends, from a client with a valid token.
	c = dial()
	io.WriteString(c, "POST /scim/v2/Users HTTP/1.1\r\nHost: bridge\r\nAuthorization: Bearer "+token+
		"\r\nContent-Type: application/scim+json\r\nContent-Length: 4000\r\n\r\n{\"userName\":\"")
	got, cut = cutOff(t, c, func(int) string { return "a" }, 100*time.Millisecond, 30*time.Second)
	if !cut {
		t.Fatal("a client trickling its body kept its connection for 30s; read_timeout is 2s")
	}
	if strings.Contains(got, " 201 ") || strings.Contains(got, " 200 ") {
		t.Errorf("a request whose body never ended was served: %q", got)
	}
	if i := strings.Index(got, "\r\n\r\n"); i >= 0 && !strings.Contains(got[:i], "application/scim+json") {
		t.Errorf("the answer to a cut-off body is not a SCIM error: %q", got)
	}
}

// TestTokenScopesEndToEnd: scopes hold on the real SCIM server against the
// emulator — a read-only token reads (list, get, .search) and every write
// gets 403; an admin token gets 403 everywhere on SCIM; a token fenced to
// another network is refused like an unknown one; and nothing refused
// reached Sigma.
func TestTokenScopesEndToEnd(t *testing.T) {
	fake, err := sigmafake.Start(sigmafake.Options{Members: 3, Teams: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	cfg := testConfig(t)
	cfg.Store = "sqlite:" + t.TempDir() + "/s.db"
	cfg.Sigma.Mode = config.ModeREST
	PointAtEmulator(&cfg, fake)
	a, _ := startApp(t, cfg)
	if err := a.WaitReady(t.Context(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	grant := func(name string, g tokens.Grant) string {
		s, _, err := a.Tokens().CreateGranted(t.Context(), name, 0, g)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ro := grant("audit", tokens.Grant{Scope: tokens.ScopeSCIMRead})
	admin := grant("ops", tokens.Grant{Scope: tokens.ScopeAdmin})
	fenced := grant("okta", tokens.Grant{Networks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	base := a.SCIMBaseURL()

	code, list := scimDo(t, "GET", base+"/Users", ro, "")
	if code != http.StatusOK || list["totalResults"] != float64(3) {
		t.Fatalf("read-only list: %d %v", code, list)
	}
	id := list["Resources"].([]any)[0].(map[string]any)["id"].(string)
	if code, _ := scimDo(t, "GET", base+"/Users/"+id, ro, ""); code != http.StatusOK {
		t.Errorf("read-only get: %d", code)
	}
	if code, _ := scimDo(t, "POST", base+"/Users/.search", ro, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"count":1}`); code != http.StatusOK {
		t.Errorf("read-only .search: %d", code)
	}
	writes := func() int {
		n := 0
		for _, r := range fake.Requests() {
			if r.Method != http.MethodGet && r.Path != "/v2/auth/token" {
				n++
			}
		}
		return n
	}
	writesBefore := writes()
	user := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ro@example.com","name":{"givenName":"R","familyName":"O"}}`
	patch := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`
	for _, w := range []struct{ method, path, body string }{
		{"POST", "/Users", user}, {"PUT", "/Users/" + id, user}, {"PATCH", "/Users/" + id, patch}, {"DELETE", "/Users/" + id, ""},
	} {
		code, body := scimDo(t, w.method, base+w.path, ro, w.body)
		if code != http.StatusForbidden || !strings.Contains(fmt.Sprint(body["detail"]), "read-only") {
			t.Errorf("read-only %s %s: %d %v, want 403 saying read-only", w.method, w.path, code, body)
		}
	}
	for _, p := range []string{"/Users", "/Groups", "/ServiceProviderConfig"} {
		if code, body := scimDo(t, "GET", base+p, admin, ""); code != http.StatusForbidden || !strings.Contains(fmt.Sprint(body["detail"]), "admin scope") {
			t.Errorf("admin token GET %s: %d %v, want 403", p, code, body)
		}
	}
	if code, body := scimDo(t, "GET", base+"/Users", fenced, ""); code != http.StatusUnauthorized || !strings.HasPrefix(fmt.Sprint(body["detail"]), "unknown bearer token") {
		t.Errorf("token fenced to 10.0.0.0/8 from 127.0.0.1: %d %v, want 401 like an unknown token", code, body)
	}
	if n := writes() - writesBefore; n != 0 {
		t.Errorf("refused requests made %d Sigma writes", n)
	}
}
