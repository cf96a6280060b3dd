package app

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
	"github.com/scimbridge/scim-bridge/internal/store/postgres/pgtest"
	"github.com/scimbridge/scim-bridge/internal/tokens"
)

// adminToken issues an admin-scoped token (what `token create --admin` does).
func adminToken(t *testing.T, a *App) string {
	t.Helper()
	tok, _, err := a.Tokens().CreateGranted(t.Context(), "ops", time.Hour, tokens.Grant{Scope: tokens.ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func getWith(t *testing.T, url string, set func(*http.Request)) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	set(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestStatusPageNeedsAnAdminToken: an admin token opens /status (as a
// bearer token or as a Basic password, so a browser can prompt); no
// token, an IdP token or a wrong one do not; /metrics, /healthz and
// /readyz stay open.
func TestStatusPageNeedsAnAdminToken(t *testing.T) {
	a, fake, idp := emulatorApp(t, "rest", sigmafake.Options{Members: 6, Seed: 4})
	admin := "http://" + a.AdminAddr()
	adm := adminToken(t, a)

	code, h, body := getWith(t, admin+"/status", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+adm) })
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !strings.Contains(body, `id="seat-table"`) {
		t.Fatalf("admin bearer: %d %q", code, body)
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q; the page must load nothing from elsewhere", csp)
	}
	for _, bad := range []string{"<script", "src=\"http", "href=\"http", "@import"} {
		if strings.Contains(body, bad) {
			t.Errorf("the page contains %q: no script and no external asset", bad)
		}
	}
	if code, _, _ := getWith(t, admin+"/status", func(r *http.Request) { r.SetBasicAuth("anyone", adm) }); code != 200 {
		t.Errorf("admin token as Basic password: %d", code)
	}
	if code, h, _ := getWith(t, admin+"/status", func(*http.Request) {}); code != 401 || !strings.Contains(h.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("no credential: %d %q; want 401 with a Basic challenge", code, h.Get("WWW-Authenticate"))
	}
	if code, _, body := getWith(t, admin+"/status", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+idp) }); code != 403 || strings.Contains(body, "seat-table") {
		t.Errorf("IdP token: %d; want 403 and no page", code)
	}
	if code, _, _ := getWith(t, admin+"/status", func(r *http.Request) { r.SetBasicAuth("x", idp) }); code != 403 {
		t.Errorf("IdP token as Basic password: %d; want 403", code)
	}
	for _, p := range []string{"/metrics", "/healthz", "/readyz"} {
		if code, _ := get(t, admin+p); code != 200 {
			t.Errorf("%s without a token: %d; it must stay open", p, code)
		}
	}

	// The page shows the seats as the emulator has them, per account type.
	want := map[string]*seatRow{}
	for _, m := range fake.Members() {
		r := want[m.MemberType]
		if r == nil {
			r = &seatRow{AccountType: m.MemberType}
			want[m.MemberType] = r
		}
		switch (sigma.Member{IsArchived: m.IsArchived, IsInactive: m.IsInactive}).Seat().State {
		case sigma.SeatArchived:
			r.Archived++
		case sigma.SeatInactive:
			r.Inactive++
		default:
			r.Active++
		}
	}
	_, _, body = getWith(t, admin+"/status", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+adm) })
	for typ, r := range want {
		row := seatRowHTML(typ, r.Active, r.Inactive, r.Archived)
		if !strings.Contains(body, row) {
			t.Errorf("the page lacks the seat row %s", row)
		}
	}
	// This replica lists itself from the store (it reports at start).
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(body, "<code>"+a.replica.ID+"</code> <strong>(this page)</strong>"); {
		if time.Now().After(deadline) {
			t.Fatalf("the page does not list this replica %s", a.replica.ID)
		}
		time.Sleep(50 * time.Millisecond)
		_, _, body = getWith(t, admin+"/status", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+adm) })
	}
	if !strings.Contains(body, "okta-test") || strings.Contains(body, idp) || strings.Contains(body, adm) {
		t.Errorf("the token table must name the IdP token and never show a secret")
	}
}

// seatRowHTML is how the template writes one seat table row.
func seatRowHTML(typ string, active, inactive, archived int) string {
	return `<tr data-account-type="` + typ + `"><td>` + typ + `</td><td class="n">` + itoa(active) + `</td><td class="n">` +
		itoa(inactive) + `</td><td class="n">` + itoa(archived) + `</td><td class="n">` + itoa(active+inactive+archived) + `</td></tr>`
}
func itoa(n int) string { return strconv.Itoa(n) }

// TestStatusPageListsBothReplicas: two replicas on one PostgreSQL store
// each see the other on their status page.
func TestStatusPageListsBothReplicas(t *testing.T) {
	dsn := pgtest.NewSchema(t)
	fake, err := sigmafake.Start(sigmafake.Options{Members: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	a, b := startReplica(t, fake, dsn, "rest"), startReplica(t, fake, dsn, "rest")
	adm := adminToken(t, a)
	for deadline := time.Now().Add(10 * time.Second); ; {
		_, _, body := getWith(t, "http://"+b.AdminAddr()+"/status", func(r *http.Request) { r.SetBasicAuth("ops", adm) })
		if strings.Contains(body, "<code>"+b.replica.ID+"</code> <strong>(this page)</strong>") && strings.Contains(body, "<code>"+a.replica.ID+"</code>") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica b's page does not list both replicas (%s, %s)", a.replica.ID, b.replica.ID)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
