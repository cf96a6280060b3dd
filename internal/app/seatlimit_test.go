package app

import (
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/scimbridge/scim-bridge/internal/config"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
)

// TestSeatLimitsAreExportedAndShown: with seats configured the bridge
// exports scim_bridge_seats_limit (a configured name that differs in case
// from the org's is spelled as the seat count spells it, a limited
// account type without members keeps its name, seats.total has no
// account_type) and the status page shows active / limit with the alert
// levels; without seats the family is absent and the page has no column.
func TestSeatLimitsAreExportedAndShown(t *testing.T) {
	t.Run("configured", func(t *testing.T) {
		// The emulator seeds the same org for the same options: count it
		// first, to set limits that make each level visible.
		opts := sigmafake.Options{Members: 10, Seed: 5}
		seed, err := sigmafake.Start(opts)
		if err != nil {
			t.Fatal(err)
		}
		total, active := 0, map[string]int{}
		for _, m := range seed.Members() {
			if !m.IsArchived && !m.IsInactive {
				active[m.MemberType]++
				total++
			}
		}
		seed.Close()
		if active["View"] < 2 {
			t.Fatalf("the seeded org has %d active View members; the test needs 2", active["View"])
		}
		a, _, token := emulatorApp(t, "rest", opts, func(c *config.Config) {
			c.Seats = config.Seats{Total: total, ByAccountType: map[string]int{"view": active["View"] + 1, "Embed Reader": 3}}
		})
		admin := "http://" + a.AdminAddr()
		got := scrape(t, admin, "scim_bridge_seats_limit")
		want := map[string]float64{
			`{account_type="View"}`:         float64(active["View"] + 1),
			`{account_type="Embed Reader"}`: 3,
			`{account_type=""}`:             float64(total),
		}
		if !maps.Equal(got, want) {
			t.Fatalf("scim_bridge_seats_limit:\n got %v\nwant %v", got, want)
		}

		adm := adminToken(t, a)
		page := func() string {
			t.Helper()
			code, _, body := getWith(t, admin+"/status", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+adm) })
			if code != 200 {
				t.Fatalf("/status: %d", code)
			}
			return body
		}
		body := page()
		pct := func(used, limit int) string { return fmt.Sprintf("%d / %d (%d%%)", used, limit, used*100/limit) }
		for _, cell := range []string{
			`<td class="n limit failed">` + pct(total, total) + `</td></tr>`,               // the total row
			`<td class="n">0</td><td class="n limit ">` + pct(0, 3) + `</td></tr>`,         // Embed Reader, no member
			`<td class="n limit ">` + pct(active["View"], active["View"]+1) + `</td></tr>`, // below 90%…
			`>used / limit</th>`, // the column
		} {
			if !strings.Contains(body, cell) {
				t.Errorf("the page lacks %s", cell)
			}
		}
		if !strings.Contains(body, `<tr data-account-type="Embed Reader"><td>Embed Reader</td>`) {
			t.Errorf("a limited account type without members has no row")
		}

		// One more View member: at the limit.
		code, u := scimDo(t, "POST", a.SCIMBaseURL()+"/Users", token,
			`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"new.viewer@example.com","name":{"givenName":"N","familyName":"V"},"emails":[{"value":"new.viewer@example.com","primary":true}],"userType":"View","active":true}`)
		if code != http.StatusCreated {
			t.Fatalf("create: %d %v", code, u)
		}
		if cell := `<td class="n limit failed">` + pct(active["View"]+1, active["View"]+1) + `</td></tr>`; !strings.Contains(page(), cell) {
			t.Errorf("after a create the View row lacks %s", cell)
		}
	})
	t.Run("not configured", func(t *testing.T) {
		a, _, _ := emulatorApp(t, "rest", sigmafake.Options{Members: 3, Seed: 5})
		admin := "http://" + a.AdminAddr()
		if got := scrape(t, admin, "scim_bridge_seats_limit"); len(got) != 0 {
			t.Errorf("no seats configured, yet scim_bridge_seats_limit = %v", got)
		}
		adm := adminToken(t, a)
		if _, _, body := getWith(t, admin+"/status", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+adm) }); strings.Contains(body, "used / limit") || !strings.Contains(body, `id="seat-table"`) {
			t.Errorf("without seat limits the page shows a limit column (or no seat table)")
		}
	})
}
