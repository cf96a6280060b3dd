package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// TestBaselineAnswersWhatTheLoadGeneratorSends: the bare server does the
// SCIM the benchmark scenarios need (filter lookup, create with a unique
// userName, group PATCH add and remove by value list, deactivate), so a
// comparison with it compares like with like.
func TestBaselineAnswersWhatTheLoadGeneratorSends(t *testing.T) {
	h, err := newHandler("tok", 3)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	do := func(method, path string, body any, want int) map[string]any {
		t.Helper()
		var b []byte
		if body != nil {
			b, _ = json.Marshal(body)
		}
		req, _ := http.NewRequest(method, srv.URL+"/scim/v2"+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer tok")
		req.Header.Set("Content-Type", "application/scim+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d, want %d: %v", method, path, resp.StatusCode, want, m)
		}
		return m
	}
	q := "/Users?filter=" + url.QueryEscape(`userName eq "seed-000001@baseline.example.com"`)
	if m := do("GET", q, nil, 200); m["totalResults"] != float64(1) {
		t.Errorf("lookup of a seeded user: %v", m["totalResults"])
	}
	user := map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "new@example.com", "active": true}
	id, _ := do("POST", "/Users", user, 201)["id"].(string)
	do("POST", "/Users", user, 409)
	g, _ := do("POST", "/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "g"}, 201)["id"].(string)
	patch := func(op string, ids ...string) map[string]any {
		vals := []any{}
		for _, v := range ids {
			vals = append(vals, map[string]any{"value": v})
		}
		return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": op, "path": "members", "value": vals}}}
	}
	do("PATCH", "/Groups/"+g, patch("add", id, "1", "2"), 200)
	m := do("PATCH", "/Groups/"+g, patch("remove", "1", id), 200)
	if ms, _ := m["members"].([]any); len(ms) != 1 || ms[0].(map[string]any)["value"] != "2" {
		t.Errorf("members after add 3, remove 2: %v", m["members"])
	}
	m = do("PATCH", "/Users/"+id, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": "replace", "value": map[string]any{"active": false}}}}, 200)
	if m["active"] != false {
		t.Errorf("deactivated user: active = %v", m["active"])
	}
	req, _ := http.NewRequest("GET", srv.URL+"/scim/v2/Users", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("no token: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}
