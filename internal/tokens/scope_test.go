package tokens

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func mustCreateGranted(t *testing.T, svc *Service, name string, g Grant) string {
	t.Helper()
	secret, _, err := svc.CreateGranted(context.Background(), name, 0, g)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return secret
}

func request(h http.Handler, method, path, addr, authorization string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(`{}`))
	r.RemoteAddr = addr
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// scimErrorDetail returns the detail of a SCIM error body with the given
// status, failing the test if the body is not one.
func scimErrorDetail(t *testing.T, w *httptest.ResponseRecorder, status int) string {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d (body %s)", w.Code, status, w.Body)
	}
	var body struct {
		Schemas []string `json:"schemas"`
		Status  string   `json:"status"`
		Detail  string   `json:"detail"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Header().Get("Content-Type") != "application/scim+json" ||
		len(body.Schemas) != 1 || body.Schemas[0] != ScimErrorSchema || body.Status != strconv.Itoa(status) {
		t.Fatalf("body %s (%v) is not a SCIM %d error", w.Body, err, status)
	}
	return body.Detail
}

func TestReadOnlyToken(t *testing.T) {
	svc, _, _ := newService(t, openSQLite(t), newClock(), Options{})
	ro := "Bearer " + mustCreateGranted(t, svc, "audit", Grant{Scope: ScopeSCIMRead})
	rw := "Bearer " + mustCreate(t, svc, "okta", 0)
	h := svc.Middleware(okHandler)
	const addr = "192.0.2.1:1"
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, "/Users"}, {http.MethodGet, "/Users/abc"}, {http.MethodHead, "/Groups"},
		{http.MethodPost, "/Users/.search"}, {http.MethodPost, "/.search"}, {http.MethodGet, "/ServiceProviderConfig"},
	} {
		if w := request(h, c.method, c.path, addr, ro); w.Code != http.StatusOK || w.Body.String() != "audit" {
			t.Errorf("read-only token, %s %s: %d, want 200", c.method, c.path, w.Code)
		}
	}
	writes := []struct{ method, path string }{
		{http.MethodPost, "/Users"}, {http.MethodPut, "/Users/abc"}, {http.MethodPatch, "/Groups/g"},
		{http.MethodDelete, "/Users/abc"}, {http.MethodPost, "/Users/.searchx"}, {http.MethodPost, "/Bulk"},
	}
	for _, c := range writes {
		d := scimErrorDetail(t, request(h, c.method, c.path, addr, ro), http.StatusForbidden)
		if !strings.Contains(d, `"audit" is read-only`) || !strings.Contains(d, c.method+" needs a read-write token") {
			t.Errorf("%s %s: detail %q does not say the token is read-only", c.method, c.path, d)
		}
		if w := request(h, c.method, c.path, addr, rw); w.Code != http.StatusOK {
			t.Errorf("read-write token, %s %s: %d, want 200", c.method, c.path, w.Code)
		}
	}
	if n := testutil.ToFloat64(svc.m.forbidden.WithLabelValues(forbidReadOnly)); n != float64(len(writes)) {
		t.Errorf("forbidden{read_only} = %v, want %d", n, len(writes))
	}
	// A 403 is not an authentication failure: it never trips the limiter.
	if n := svc.lim.len(); n != 0 {
		t.Errorf("403s counted against the address (%d tracked)", n)
	}
}

func TestAdminTokenOnSCIM(t *testing.T) {
	svc, _, _ := newService(t, openSQLite(t), newClock(), Options{})
	admin := "Bearer " + mustCreateGranted(t, svc, "ops", Grant{Scope: ScopeAdmin})
	h := svc.Middleware(okHandler)
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		d := scimErrorDetail(t, request(h, m, "/Users", "192.0.2.1:1", admin), http.StatusForbidden)
		if !strings.Contains(d, "admin scope") {
			t.Errorf("admin token on SCIM %s: detail %q", m, d)
		}
	}
	if n := testutil.ToFloat64(svc.m.forbidden.WithLabelValues(forbidAdmin)); n != 2 {
		t.Errorf("forbidden{admin_only} = %v, want 2", n)
	}
}

func TestTokenNetworks(t *testing.T) {
	svc, _, logs := newService(t, openSQLite(t), newClock(), Options{FailureBurst: 3})
	g := Grant{Networks: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16"), netip.MustParsePrefix("2001:db8:1::/48")}}
	secret := mustCreateGranted(t, svc, "okta", g)
	h := svc.Middleware(okHandler)
	for _, from := range []string{"10.20.0.1:443", "10.20.255.254:1", "[2001:db8:1:ffff::9]:1", "[::ffff:10.20.3.4]:1"} {
		if w := request(h, http.MethodGet, "/Users", from, "Bearer "+secret); w.Code != http.StatusOK {
			t.Errorf("from %s inside the networks: %d, want 200", from, w.Code)
		}
	}
	unknown, _, _, _ := newSecret(DefaultPrefix)
	want := request(h, http.MethodGet, "/Users", "203.0.113.50:1", "Bearer "+unknown)
	for _, from := range []string{"10.21.0.1:1", "[2001:db8:2::1]:1", "192.0.2.1:1"} {
		w := request(h, http.MethodGet, "/Users", from, "Bearer "+secret)
		// Refused exactly like an unknown token: same status, headers, body.
		if w.Code != http.StatusUnauthorized || w.Body.String() != want.Body.String() ||
			w.Header().Get("WWW-Authenticate") != want.Header().Get("WWW-Authenticate") {
			t.Errorf("from %s outside the networks: %d %s, want what an unknown token gets: %d %s", from, w.Code, w.Body, want.Code, want.Body)
		}
	}
	if n := testutil.ToFloat64(svc.m.failures.WithLabelValues(string(ReasonNetwork))); n != 3 {
		t.Errorf("failures{network} = %v, want 3", n)
	}
	// It counts as a failure of that address.
	for range 3 {
		request(h, http.MethodGet, "/Users", "198.51.100.1:1", "Bearer "+secret)
	}
	if w := request(h, http.MethodGet, "/Users", "198.51.100.1:1", "Bearer "+secret); w.Code != http.StatusTooManyRequests {
		t.Errorf("outside the networks after the burst: %d, want 429", w.Code)
	}
	if !strings.Contains(logs.String(), "reason=network") {
		t.Errorf("the refusal is not logged (at debug) with its reason")
	}
	// Verify with no address refuses a token that has networks.
	if _, err := svc.Verify(context.Background(), secret, netip.Addr{}); !isReason(err, ReasonNetwork) {
		t.Errorf("Verify without an address: %v, want reason network", err)
	}
}

func TestTokenNetworksBehindProxy(t *testing.T) {
	svc, _, _ := newService(t, openSQLite(t), newClock(), Options{TrustForwardedFor: true})
	secret := mustCreateGranted(t, svc, "okta", Grant{Networks: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}})
	h := svc.Middleware(okHandler)
	r := httptest.NewRequest(http.MethodGet, "/Users", nil)
	r.RemoteAddr = "10.0.0.1:1" // the proxy
	r.Header.Set("Authorization", "Bearer "+secret)
	r.Header.Set("X-Forwarded-For", "10.99.0.1, 203.0.113.9")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("client 203.0.113.9 behind a trusted proxy: %d, want 200", w.Code)
	}
	r.Header.Set("X-Forwarded-For", "203.0.113.9, 10.99.0.1")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("spoofed first X-Forwarded-For entry: %d, want 401", w.Code)
	}
}

func TestAdminMiddleware(t *testing.T) {
	svc, _, _ := newService(t, openSQLite(t), newClock(), Options{})
	admin := mustCreateGranted(t, svc, "ops", Grant{Scope: ScopeAdmin})
	fenced := mustCreateGranted(t, svc, "ops-vpn", Grant{Scope: ScopeAdmin, Networks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	idp := mustCreate(t, svc, "okta", 0)
	ro := mustCreateGranted(t, svc, "audit", Grant{Scope: ScopeSCIMRead})
	h := svc.AdminMiddleware(okHandler)
	get := func(from string, set func(r *http.Request)) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/status", nil)
		r.RemoteAddr = from
		set(r)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	bearer := func(s string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+s) }
	}
	basic := func(user, pw string) func(*http.Request) { return func(r *http.Request) { r.SetBasicAuth(user, pw) } }
	none := func(*http.Request) {}

	for what, set := range map[string]func(*http.Request){"bearer": bearer(admin), "basic": basic("anyone", admin), "basic without user": basic("", admin)} {
		if w := get("192.0.2.1:1", set); w.Code != http.StatusOK || w.Body.String() != "ops" {
			t.Errorf("admin token (%s): %d %q, want 200", what, w.Code, w.Body)
		}
	}
	if w := get("10.1.2.3:1", bearer(fenced)); w.Code != http.StatusOK {
		t.Errorf("fenced admin token from inside: %d", w.Code)
	}
	for what, set := range map[string]func(*http.Request){"IdP token": bearer(idp), "read-only token": basic("x", ro)} {
		w := get("192.0.2.1:1", set)
		if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "token create --admin") ||
			!strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
			t.Errorf("%s on the status page: %d %q, want 403 saying how to get an admin token", what, w.Code, w.Body)
		}
	}
	unknown, _, _, _ := newSecret(DefaultPrefix)
	for what, set := range map[string]func(*http.Request){
		"no credentials": none, "empty password": basic("x", ""), "unknown": basic("x", unknown), "malformed": bearer("nope"),
	} {
		w := get("192.0.2.1:1", set)
		if w.Code != http.StatusUnauthorized || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), `Basic realm="scim-bridge admin"`) {
			t.Errorf("%s: %d, WWW-Authenticate %q, want 401 with a Basic challenge", what, w.Code, w.Header().Get("WWW-Authenticate"))
		}
	}
	if w := get("192.0.2.1:1", bearer(fenced)); w.Code != http.StatusUnauthorized {
		t.Errorf("fenced admin token from outside: %d, want 401", w.Code)
	}
	if n := testutil.ToFloat64(svc.m.forbidden.WithLabelValues(forbidNotAdmin)); n != 2 {
		t.Errorf("forbidden{not_admin} = %v, want 2", n)
	}
}

func TestParseNetwork(t *testing.T) {
	for in, want := range map[string]string{
		"10.20.0.0/16": "10.20.0.0/16", "10.20.3.4/16": "10.20.0.0/16", "192.0.2.7": "192.0.2.7/32",
		" 2001:db8::/48 ": "2001:db8::/48", "2001:db8::1": "2001:db8::1/128", "::ffff:10.0.0.0/104": "10.0.0.0/8",
		"::ffff:192.0.2.1": "192.0.2.1/32", "0.0.0.0/0": "0.0.0.0/0",
	} {
		if got, err := ParseNetwork(in); err != nil || got.String() != want {
			t.Errorf("ParseNetwork(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "10.0.0.0/33", "host.example", "10.0.0.0/-1", "::ffff:10.0.0.0/90", "fe80::1%eth0/64"} {
		if p, err := ParseNetwork(in); err == nil {
			t.Errorf("ParseNetwork(%q) = %v, want an error", in, p)
		}
	}
}

func TestGrantChecked(t *testing.T) {
	svc, _, _ := newService(t, openSQLite(t), newClock(), Options{})
	many := make([]netip.Prefix, maxNetworks+1)
	for i := range many {
		many[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16)
	}
	for what, g := range map[string]Grant{
		"unknown scope": {Scope: "root"},
		"host bits":     {Networks: []netip.Prefix{netip.MustParsePrefix("10.1.2.3/8")}},
		"invalid":       {Networks: []netip.Prefix{{}}},
		"too many":      {Networks: many},
	} {
		if _, _, err := svc.CreateGranted(context.Background(), "x", 0, g); err == nil {
			t.Errorf("%s: created", what)
		}
	}
}
