package app

import (
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scim-bridge/internal/config"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
	"github.com/scimbridge/scim-bridge/internal/store"
)

// emulatorApp starts a bridge in mode on a fresh emulator seeded with
// members and returns it with the fake and an IdP token.
func emulatorApp(t *testing.T, mode string, fo sigmafake.Options, adjust ...func(*config.Config)) (*App, *sigmafake.Server, string) {
	t.Helper()
	fake, err := sigmafake.Start(fo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	cfg := testConfig(t)
	PointAtEmulator(&cfg, fake)
	cfg.Sigma.Mode = mode
	cfg.Provisioning.PeerPollInterval = config.Duration(100 * time.Millisecond)
	for _, f := range adjust {
		f(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, _ := startApp(t, cfg, WithVersion("v9.9.9-test"))
	if err := a.WaitReady(t.Context(), 20*time.Second); err != nil {
		t.Fatal(err)
	}
	token, _, err := a.Tokens().Create(t.Context(), "okta-test", 0)
	if err != nil {
		t.Fatal(err)
	}
	return a, fake, token
}

// scrape returns every sample of family in /metrics, keyed by its label
// set as printed ({a="x",b="y"}).
func scrape(t *testing.T, admin, family string) map[string]float64 {
	t.Helper()
	code, body := get(t, admin+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(family) + `(\{[^}]*\})? (\S+)$`)
	out := map[string]float64{}
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			t.Fatalf("%s%s: %v", family, m[1], err)
		}
		out[m[1]] = v
	}
	return out
}

// waitSeats scrapes scim_bridge_sigma_seats until it equals want (10 s
// at most) and returns it.
func waitSeats(t *testing.T, admin, when string, want map[string]float64) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := scrape(t, admin, "scim_bridge_sigma_seats")
		if maps.Equal(got, want) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("seats %s:\n got %v\nwant %v", when, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// emulatorSeats counts the emulator's members the way the seat metric
// labels them, with a zero for every state of every account type present.
func emulatorSeats(fake *sigmafake.Server) map[string]float64 {
	out := map[string]float64{}
	for _, m := range fake.Members() {
		for _, st := range []string{"active", "inactive", "archived"} {
			out[fmt.Sprintf(`{account_type=%q,state=%q}`, m.MemberType, st)] += 0
		}
		st := "active"
		switch {
		case m.IsArchived:
			st = "archived"
		case m.IsInactive:
			st = "inactive"
		}
		out[fmt.Sprintf(`{account_type=%q,state=%q}`, m.MemberType, st)]++
	}
	return out
}

// oktaConversation provisions the way Okta does: creates with account
// types, a deactivation (PATCH active=false), an account type change (PUT)
// and a delete.
func oktaConversation(t *testing.T, base, token string) {
	t.Helper()
	user := func(email, typ string, active bool) string {
		return fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"name":{"givenName":"G","familyName":"F"},"emails":[{"value":%q,"primary":true}],"userType":%q,"active":%v}`, email, email, typ, active)
	}
	ids := map[string]string{}
	for email, typ := range map[string]string{"ana@example.com": "Pro", "bo@example.com": "View", "cy@example.com": "View", "di@example.com": "Essential"} {
		code, u := scimDo(t, "POST", base+"/Users", token, user(email, typ, true))
		if code != http.StatusCreated {
			t.Fatalf("create %s: %d %v", email, code, u)
		}
		ids[email] = u["id"].(string)
	}
	if code, u := scimDo(t, "PATCH", base+"/Users/"+ids["bo@example.com"], token,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`); code != 200 {
		t.Fatalf("deactivate: %d %v", code, u)
	}
	if code, u := scimDo(t, "PUT", base+"/Users/"+ids["cy@example.com"], token, user("cy@example.com", "Pro", true)); code != 200 {
		t.Fatalf("replace: %d %v", code, u)
	}
	if code, u := scimDo(t, "DELETE", base+"/Users/"+ids["di@example.com"], token, ""); code != http.StatusNoContent {
		t.Fatalf("delete: %d %v", code, u)
	}
}

// TestSeatMetricsFollowAnIdPConversation: after an IdP conversation,
// scim_bridge_sigma_seats equals the emulator's members by account type
// and state — on the REST path (the index follows every write) and in
// auto mode with SCIM live (the index re-reads what the SCIM path changed).
func TestSeatMetricsFollowAnIdPConversation(t *testing.T) {
	for _, mode := range []string{"rest", "auto"} {
		t.Run(mode, func(t *testing.T) {
			a, fake, token := emulatorApp(t, mode, sigmafake.Options{Members: 12, Seed: 3})
			admin := "http://" + a.AdminAddr()
			// Ready does not wait for the REST index in auto mode (the
			// SCIM path is live), so the first count may follow it.
			waitSeats(t, admin, "before the conversation", emulatorSeats(fake))
			oktaConversation(t, a.SCIMBaseURL(), token)
			got := waitSeats(t, admin, "after the conversation", emulatorSeats(fake))
			// The conversation's own seats are in there (a deactivation is
			// archived on the REST path, inactive through Sigma's SCIM).
			if got[`{account_type="Pro",state="active"}`] < 2 || got[`{account_type="Essential",state="archived"}`] < 1 ||
				got[`{account_type="View",state="inactive"}`]+got[`{account_type="View",state="archived"}`] < 1 {
				t.Errorf("seats %v lack the conversation's", got)
			}
		})
	}
}

func TestBuildInfoAndTokenExpiryMetrics(t *testing.T) {
	a, _ := startApp(t, testConfig(t), WithVersion("v1.2.3"))
	admin := "http://" + a.AdminAddr()
	if _, _, err := a.Tokens().Create(t.Context(), "expiring", 48*time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Tokens().Create(t.Context(), "forever", 0); err != nil {
		t.Fatal(err)
	}
	bi := scrape(t, admin, "scim_bridge_build_info")
	if len(bi) != 1 {
		t.Fatalf("build_info = %v; want one series", bi)
	}
	for labels, v := range bi {
		if v != 1 || !strings.Contains(labels, `version="v1.2.3"`) || !strings.Contains(labels, `go_version="go1.`) || !strings.Contains(labels, `revision="`) {
			t.Errorf("build_info%s = %v", labels, v)
		}
	}
	exp := scrape(t, admin, "scim_bridge_idp_token_expiry_timestamp_seconds")
	at, ok := exp[`{name="expiring",state="current"}`]
	if want := float64(time.Now().Add(48 * time.Hour).Unix()); !ok || at < want-60 || at > want+60 || len(exp) != 1 {
		t.Errorf("token expiry = %v; want only expiring/current at about %v", exp, want)
	}
}

// TestFoldIntents: an intent entry is left out when its outcome (same
// request, operation and resource) is in the result, and kept when it is
// not — the bridge stopped between Sigma's write and its audit entry.
func TestFoldIntents(t *testing.T) {
	e := func(id int64, req, op, res string, o store.Outcome) store.AuditEntry {
		return store.AuditEntry{ID: id, RequestID: req, Operation: op, Kind: store.KindUser, ResourceID: res, Outcome: o}
	}
	in := []store.AuditEntry{ // newest first
		e(5, "r3", "user.replace", "m2", store.OutcomePending), // crashed: no outcome
		e(4, "r2", "user.replace", "m1", store.OutcomeOK),
		e(3, "r2", "user.replace", "m1", store.OutcomePending), // folded into 4
		e(2, "r1", "user.replace", "m1", store.OutcomePending), // another request: kept
		e(1, "", "user.replace", "m1", store.OutcomePending),   // no request id: kept
		e(0, "r0", "user.create", "", store.OutcomePending),    // a create's intent, no outcome: kept
	}
	in = append([]store.AuditEntry{
		e(7, "r4", "user.create", "m3", store.OutcomeOK),
		e(6, "r4", "user.create", "", store.OutcomePending), // a create's intent (no id yet): folded into 7
	}, in...)
	var got []int64
	for _, x := range FoldIntents(in) {
		got = append(got, x.ID)
	}
	if fmt.Sprint(got) != "[7 5 4 2 1 0]" {
		t.Errorf("FoldIntents = %v, want [7 5 4 2 1 0]", got)
	}
}

// TestSeatMetricsWithoutREST: with only Sigma's SCIM endpoint configured
// the seat count is the last full user list (an IdP import), by SCIM
// userType, active and inactive only (the endpoint hides archived members).
func TestSeatMetricsWithoutREST(t *testing.T) {
	a, fake, token := emulatorApp(t, "scim", sigmafake.Options{Members: 8, Seed: 6}, func(c *config.Config) {
		c.Sigma.APIURL, c.Sigma.ClientID, c.Sigma.ClientSecret = "", "", ""
	})
	admin := "http://" + a.AdminAddr()
	if got := scrape(t, admin, "scim_bridge_sigma_seats"); len(got) != 0 {
		t.Errorf("seats before any list = %v; want none (nothing read yet)", got)
	}
	if code, list := scimDo(t, "GET", a.SCIMBaseURL()+"/Users?count=100", token, ""); code != 200 {
		t.Fatalf("list users: %d %v", code, list)
	}
	want := map[string]float64{}
	for _, m := range fake.Members() {
		if m.IsArchived {
			continue
		}
		typ, _ := fake.SCIMUserType(m.MemberType)
		for _, st := range []string{"active", "inactive"} {
			want[fmt.Sprintf(`{account_type=%q,state=%q}`, typ, st)] += 0
		}
		st := "active"
		if m.IsInactive {
			st = "inactive"
		}
		want[fmt.Sprintf(`{account_type=%q,state=%q}`, typ, st)]++
	}
	if got := scrape(t, admin, "scim_bridge_sigma_seats"); !maps.Equal(got, want) {
		t.Errorf("seats after the import:\n got %v\nwant %v", got, want)
	}
}
