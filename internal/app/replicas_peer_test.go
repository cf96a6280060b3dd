package app

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/scimbridge/scim-bridge/internal/config"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
	"github.com/scimbridge/scim-bridge/internal/store/postgres/pgtest"
)

// TestReplicaFilterAnswersFollowPeers: a filter answered from replica A's
// index follows what replica B wrote once A's background peer poll has
// run (seconds, not the resync interval): a user deactivated through B,
// and a member revived through B in A's view of their group.
func TestReplicaFilterAnswersFollowPeers(t *testing.T) {
	dsn := pgtest.NewSchema(t)
	fake, err := sigmafake.Start(sigmafake.Options{Members: 3, Teams: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	a, b := startReplica(t, fake, dsn, config.ModeREST), startReplica(t, fake, dsn, config.ModeREST)
	token, _, err := a.Tokens().Create(t.Context(), "okta", 0)
	if err != nil {
		t.Fatal(err)
	}
	A, B := a.SCIMBaseURL(), b.SCIMBaseURL()
	filter := func(base, resource, expr string) map[string]any {
		t.Helper()
		code, list := scimDo(t, "GET", base+"/"+resource+"?filter="+url.QueryEscape(expr), token, "")
		if code != http.StatusOK || list["totalResults"] != float64(1) {
			t.Fatalf("%s filter %s: %d %v", resource, expr, code, list)
		}
		return list["Resources"].([]any)[0].(map[string]any)
	}
	// eventually waits for cond, at most well past the default poll interval.
	eventually := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("A never showed %s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	code, created := scimDo(t, "POST", A+"/Users", token, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@example.com",`+
		`"name":{"givenName":"Ada","familyName":"Lovelace"},"emails":[{"value":"ada@example.com","type":"work","primary":true}]}`)
	if code != http.StatusCreated {
		t.Fatalf("create on A: %d %v", code, created)
	}
	id := created["id"].(string)
	code, g := scimDo(t, "POST", A+"/Groups", token, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Analysts","members":[{"value":"`+id+`"}]}`)
	if code != http.StatusCreated {
		t.Fatalf("group on A: %d %v", code, g)
	}

	deactivate := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`
	if code, body := scimDo(t, "PATCH", B+"/Users/"+id, token, deactivate); code != http.StatusOK || body["active"] != false {
		t.Fatalf("deactivate on B: %d %v", code, body)
	}
	eventually("B's deactivation in its userName eq answer", func() bool {
		return filter(A, "Users", `userName eq "ada@example.com"`)["active"] == false
	})

	// Deleted through A (hidden from A's group view), revived through B.
	if code, _ := scimDo(t, "DELETE", A+"/Users/"+id, token, ""); code != http.StatusNoContent {
		t.Fatalf("delete on A: %d", code)
	}
	if members, _ := filter(A, "Groups", `displayName eq "Analysts"`)["members"].([]any); len(members) != 0 {
		t.Fatalf("A's group view still shows the deleted member: %v", members)
	}
	code, revived := scimDo(t, "POST", B+"/Users", token, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@example.com",`+
		`"name":{"givenName":"Ada","familyName":"Lovelace"},"emails":[{"value":"ada@example.com","type":"work","primary":true}]}`)
	if code != http.StatusCreated || revived["id"] != id {
		t.Fatalf("revive on B: %d %v", code, revived)
	}
	eventually("the member B revived in its displayName eq answer", func() bool {
		members, _ := filter(A, "Groups", `displayName eq "Analysts"`)["members"].([]any)
		return len(members) == 1
	})
}
