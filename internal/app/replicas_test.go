package app

import (
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/scimbridge/scim-bridge/internal/config"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
	"github.com/scimbridge/scim-bridge/internal/store/postgres/pgtest"
)

// TestTwoReplicasOnPostgres runs two bridges behind an imaginary load
// balancer: one Sigma org, one PostgreSQL database, requests alternating
// between them. What one replica does, the other must see at once (no
// resync in between), and racing creates must land exactly once.
func TestTwoReplicasOnPostgres(t *testing.T) {
	for _, mode := range []string{config.ModeREST, config.ModeSCIM} {
		t.Run(mode, func(t *testing.T) { testTwoReplicas(t, mode) })
	}
}

func testTwoReplicas(t *testing.T, mode string) {
	dsn := pgtest.NewSchema(t)
	fake, err := sigmafake.Start(sigmafake.Options{Members: 3, Teams: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	a, b := startReplica(t, fake, dsn, mode), startReplica(t, fake, dsn, mode)
	token, _, err := a.Tokens().Create(t.Context(), "okta", 0)
	if err != nil {
		t.Fatal(err)
	}
	A, B := a.SCIMBaseURL(), b.SCIMBaseURL()
	byName := func(base, userName string) (int, map[string]any) {
		return scimDo(t, "GET", base+"/Users?filter="+url.QueryEscape(`userName eq "`+userName+`"`), token, "")
	}
	user := func(userName string) string {
		return `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + userName +
			`","name":{"givenName":"Grace","familyName":"Hopper"},"emails":[{"value":"` + userName + `","type":"work","primary":true}]}`
	}

	// Okta's sequence split across replicas.
	if code, list := byName(A, "grace@example.com"); code != 200 || list["totalResults"] != float64(0) {
		t.Fatalf("lookup before create: %d %v", code, list)
	}
	code, created := scimDo(t, "POST", A+"/Users", token, user("grace@example.com"))
	if code != http.StatusCreated {
		t.Fatalf("create on A: %d %v", code, created)
	}
	id := created["id"].(string)
	if code, list := byName(B, "grace@example.com"); code != 200 || list["totalResults"] != float64(1) {
		t.Errorf("B does not see A's create: %d %v", code, list)
	}
	if code, body := scimDo(t, "POST", B+"/Users", token, user("grace@example.com")); code != http.StatusConflict || body["scimType"] != "uniqueness" {
		t.Errorf("duplicate on B: %d %v", code, body)
	}
	deactivate := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`
	if code, body := scimDo(t, "PATCH", B+"/Users/"+id, token, deactivate); code != 200 || body["active"] != false {
		t.Errorf("deactivate on B: %d %v", code, body)
	}
	if code, body := scimDo(t, "GET", A+"/Users/"+id, token, ""); code != 200 || body["active"] != false {
		t.Errorf("A after B's deactivation: %d %v", code, body)
	}
	if code, _ := scimDo(t, "DELETE", A+"/Users/"+id, token, ""); code != http.StatusNoContent {
		t.Errorf("delete on A: %d", code)
	}
	if code, _ := scimDo(t, "GET", B+"/Users/"+id, token, ""); code != http.StatusNotFound {
		t.Errorf("B after A's delete: %d, want 404", code)
	}
	if code, body := scimDo(t, "POST", B+"/Users", token, user("grace@example.com")); code != http.StatusCreated || body["id"] != id {
		t.Errorf("re-create on B: %d %v; want 201 reviving %s", code, body, id)
	}

	// Group pushed on A, membership changed on B, read on A. (A member
	// revived through B while A's index still holds them deactivated is
	// hidden from A's group view until A's next resync: see the README's
	// replicas section.)
	code, u2 := scimDo(t, "POST", A+"/Users", token, user("katherine@example.com"))
	if code != http.StatusCreated {
		t.Fatalf("second user on A: %d %v", code, u2)
	}
	id2 := u2["id"].(string)
	code, g := scimDo(t, "POST", A+"/Groups", token, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Replicated","members":[]}`)
	if code != http.StatusCreated {
		t.Fatalf("group on A: %d %v", code, g)
	}
	gid := g["id"].(string)
	add := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"` + id2 + `"}]}]}`
	if code, _ := scimDo(t, "PATCH", B+"/Groups/"+gid, token, add); code != 200 && code != 204 {
		t.Errorf("member add on B: %d", code)
	}
	if code, body := scimDo(t, "GET", A+"/Groups/"+gid, token, ""); code != 200 || len(body["members"].([]any)) != 1 {
		t.Errorf("A's view of the group after B's add: %d %v", code, body)
	}

	// An IdP retrying the same creates in parallel on both replicas: each
	// user lands exactly once, every other attempt is a 409.
	before := len(fake.Members())
	var wg sync.WaitGroup
	var mu sync.Mutex
	created201 := map[string]int{}
	for i := range 12 {
		base := []string{A, B}[i%2]
		userName := fmt.Sprintf("race-%d@example.com", i%4)
		wg.Go(func() {
			code, body := scimDo(t, "POST", base+"/Users", token, user(userName))
			mu.Lock()
			defer mu.Unlock()
			switch code {
			case http.StatusCreated:
				created201[userName]++
			case http.StatusConflict:
			default:
				t.Errorf("racing create of %s: %d %v", userName, code, body)
			}
		})
	}
	wg.Wait()
	for i := range 4 {
		if n := created201[fmt.Sprintf("race-%d@example.com", i)]; n != 1 {
			t.Errorf("race-%d: %d creates answered 201, want exactly 1", i, n)
		}
	}
	if got := len(fake.Members()) - before; got != 4 {
		t.Errorf("emulator gained %d members, want 4", got)
	}
}

// startReplica starts one bridge on the shared store dsn and the emulator
// fake, in mode, and waits until it is ready.
func startReplica(t *testing.T, fake *sigmafake.Server, dsn, mode string) *App {
	t.Helper()
	cfg := testConfig(t)
	cfg.Store = dsn
	cfg.Sigma.Mode = mode
	PointAtEmulator(&cfg, fake)
	cfg.Sigma.RequestsPerSecond = 1000
	a, _ := startApp(t, cfg)
	if err := a.WaitReady(t.Context(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	return a
}
