package scimserver_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/scimbridge/scim-bridge/internal/scimserver/scimtest"
	"github.com/scimbridge/scim-bridge/internal/secret"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
)

// The RFC 7644 gaps outside suites found (issue 15), each at the HTTP level.

func TestIfNoneMatchAnswers304(t *testing.T) {
	ts := newTestServer(t)
	id := ts.createUser(t, "etag@example.com")
	r := ts.do(t, "GET", "/Users/"+id, nil).want(t, http.StatusOK)
	etag := r.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	nm := ts.do(t, "GET", "/Users/"+id, nil, "If-None-Match", etag)
	if nm.Status != http.StatusNotModified || len(nm.Raw) != 0 || nm.Header.Get("ETag") != etag {
		t.Fatalf("If-None-Match current: status %d, ETag %q, body %s; want 304, %s, empty", nm.Status, nm.Header.Get("ETag"), nm.Raw, etag)
	}
	ts.do(t, "GET", "/Users/"+id, nil, "If-None-Match", "*").want(t, http.StatusNotModified)
	ts.do(t, "GET", "/Users/"+id, nil, "If-None-Match", `W/"stale"`).want(t, http.StatusOK)
	g := ts.createGroup(t, "etag group")
	gr := ts.do(t, "GET", "/Groups/"+g, nil).want(t, http.StatusOK)
	ts.do(t, "GET", "/Groups/"+g, nil, "If-None-Match", gr.Header.Get("ETag")).want(t, http.StatusNotModified)
}

func TestPatchReplaceValuePathWithoutMatchIsNoTarget(t *testing.T) {
	ts := newTestServer(t)
	id := ts.createUser(t, "notarget@example.com")
	ts.Fake.ResetRequests()
	ts.do(t, "PATCH", "/Users/"+id, `{"Operations":[{"op":"replace","path":"emails[type eq \"home\"].value","value":"home@example.com"}]}`).wantError(t, 400, "noTarget")
	for _, c := range scimtest.Calls(ts.Fake) {
		if !strings.HasPrefix(c, "GET ") {
			t.Errorf("a rejected PATCH wrote to Sigma: %s", c)
		}
	}
	// add with the same path creates the element (Sigma keeps only the
	// primary email, so the answer does not show it).
	ts.do(t, "PATCH", "/Users/"+id, `{"Operations":[{"op":"add","path":"emails[type eq \"home\"].value","value":"home@example.com"}]}`).want(t, 200)
}

func TestPatchRemoveMembersWithoutValueRemovesAll(t *testing.T) {
	ts := newTestServer(t)
	a, b := ts.createUser(t, "all.a@example.com"), ts.createUser(t, "all.b@example.com")
	g := ts.createGroup(t, "remove all", a, b)
	ts.do(t, "PATCH", "/Groups/"+g, `{"Operations":[{"op":"remove","path":"members"}]}`).want(t, http.StatusNoContent)
	team, _ := ts.Fake.Team(g)
	if len(team.Members) != 0 {
		t.Fatalf("team still has %d members", len(team.Members))
	}
	if r := ts.do(t, "GET", "/Groups/"+g, nil).want(t, 200); len(r.Body["members"].([]any)) != 0 {
		t.Fatalf("group shows members: %s", r.Raw)
	}
	found := false
	entries, err := ts.Store.ListAudit(t.Context(), storeAuditFilter())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.ResourceID == g && strings.Contains(e.Operation, "group") && strings.Contains(e.Detail, "remove") {
			found = true
		}
	}
	if !found {
		t.Errorf("no audit entry for the membership change: %+v", entries)
	}
}

func TestUnknownAttributesAreIgnored(t *testing.T) {
	ts := newTestServer(t)
	body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"custom@example.com","name":{"givenName":"C","familyName":"Ustom","nickname2":"x"},` +
		`"shoeSize":44,"urn:ietf:params:scim:schemas:extension:CustomExtension:2.0:User":{"badge":"7"},"emails":[{"value":"custom@example.com","primary":true,"flavour":"x"}]}`
	r := ts.do(t, "POST", "/Users", body).want(t, http.StatusCreated)
	id := r.Body["id"].(string)
	if _, ok := r.Body["shoeSize"]; ok {
		t.Errorf("unknown attribute echoed: %s", r.Raw)
	}
	ts.do(t, "PUT", "/Users/"+id, body).want(t, 200)
	ts.do(t, "PATCH", "/Users/"+id, `{"Operations":[{"op":"replace","path":"shoeSize","value":45},{"op":"replace","value":{"favouriteColour":"blue","displayName":"C U"}}]}`).want(t, 200)
	g := ts.createGroup(t, "custom group")
	ts.do(t, "PATCH", "/Groups/"+g, `{"Operations":[{"op":"replace","path":"owner","value":"x"}]}`).want(t, http.StatusNoContent)
	if !strings.Contains(ts.Log.String(), "unknown attributes ignored") {
		t.Error("no debug log line for the ignored attributes")
	}
	mfs, err := ts.Reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counted := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), "shoeSize") {
					t.Errorf("an attribute name reached a metric label: %s", mf.GetName())
				}
				if mf.GetName() == "scim_bridge_scim_ignored_attributes_total" {
					counted[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	// POST and PUT: shoeSize, the extension, name.nickname2, emails.flavour;
	// PATCH: shoeSize, favouriteColour; the group PATCH: owner.
	if counted["users"] != 10 || counted["groups"] != 1 {
		t.Errorf("ignored attributes counted %v, want users 10, groups 1", counted)
	}
	// A wrong type and an unknown schema URN in schemas stay errors.
	ts.do(t, "POST", "/Users", `{"userName":"t@example.com","active":"perhaps"}`).wantError(t, 400, "invalidValue")
	ts.do(t, "POST", "/Users", `{"schemas":["urn:example:nope"],"userName":"t@example.com"}`).wantError(t, 400, "invalidValue")
}

func TestGroupPatchAnswers204UnlessAttributesAsked(t *testing.T) {
	ts := newTestServer(t)
	a, b := ts.createUser(t, "p204.a@example.com"), ts.createUser(t, "p204.b@example.com")
	g := ts.createGroup(t, "p204")
	add := func(id string) string {
		return `{"Operations":[{"op":"add","path":"members","value":[{"value":"` + id + `"}]}]}`
	}
	ts.Fake.ResetRequests()
	r := ts.do(t, "PATCH", "/Groups/"+g, add(a)).want(t, http.StatusNoContent)
	if len(r.Raw) != 0 {
		t.Errorf("204 with a body: %s", r.Raw)
	}
	if calls := scimtest.Calls(ts.Fake); len(calls) != 1 {
		t.Errorf("a membership PATCH made %d Sigma calls, want 1: %q", len(calls), calls)
	}
	r = ts.do(t, "PATCH", "/Groups/"+g+"?attributes=members", add(b)).want(t, http.StatusOK)
	if n := len(r.Body["members"].([]any)); n != 2 {
		t.Errorf("asked for members, got %s", r.Raw)
	}
	// A user PATCH keeps answering the user (Okta reads it).
	ts.do(t, "PATCH", "/Users/"+a, `{"Operations":[{"op":"replace","path":"active","value":false}]}`).want(t, http.StatusOK)
	ts.do(t, "PATCH", "/Groups/nope", add(a)).wantError(t, 404, "")
}

func TestRootSearch(t *testing.T) {
	ts := newTestServer(t)
	u := ts.createUser(t, "root.search@example.com")
	g := ts.createGroup(t, "Root Searchers", u)
	r := ts.do(t, "POST", "/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"userName eq \"root.search@example.com\""}`).want(t, 200)
	if r.Body["totalResults"] != float64(1) || r.Body["Resources"].([]any)[0].(map[string]any)["id"] != u {
		t.Fatalf("userName filter: %s", r.Raw)
	}
	r = ts.do(t, "POST", "/.search", `{"filter":"displayName eq \"Root Searchers\""}`).want(t, 200)
	if r.Body["totalResults"] != float64(1) || r.Body["Resources"].([]any)[0].(map[string]any)["id"] != g {
		t.Fatalf("displayName filter: %s", r.Raw)
	}
	r = ts.do(t, "POST", "/.search", `{"filter":"id eq \"`+u+`\" or id eq \"`+g+`\"","attributes":["id"]}`).want(t, 200)
	if r.Body["totalResults"] != float64(2) {
		t.Fatalf("id filter over both types: %s", r.Raw)
	}
	for _, res := range r.Body["Resources"].([]any) {
		if _, ok := res.(map[string]any)["meta"]; ok {
			t.Errorf("attributes=id not applied: %v", res)
		}
	}
	ts.do(t, "POST", "/.search", `{"filter":"nosuch eq \"x\""}`).wantError(t, 400, "invalidFilter")
	ts.do(t, "GET", "/.search", nil).wantError(t, 405, "")
}

func TestSchemasReferenceTypes(t *testing.T) {
	ts := newTestServer(t)
	r := ts.do(t, "GET", "/Schemas", nil).want(t, 200)
	found := map[string]any{}
	for _, res := range r.Body["Resources"].([]any) {
		sc := res.(map[string]any)
		for _, a := range sc["attributes"].([]any) {
			am := a.(map[string]any)
			if am["type"] == "reference" {
				found[am["name"].(string)] = am["referenceTypes"]
			}
			for _, sa := range asList(am["subAttributes"]) {
				sm := sa.(map[string]any)
				if sm["type"] == "reference" {
					found[am["name"].(string)+"."+sm["name"].(string)] = sm["referenceTypes"]
				}
			}
		}
	}
	for _, name := range []string{"profileUrl", "groups.$ref", "manager.$ref", "members.$ref"} {
		if l, _ := found[name].([]any); len(l) == 0 {
			t.Errorf("%s has no referenceTypes (%v)", name, found[name])
		}
	}
	for name, v := range found {
		if l, _ := v.([]any); len(l) == 0 {
			t.Errorf("reference attribute %s has no referenceTypes", name)
		}
	}
}

func TestPutMissingResourceIs404WhateverTheBody(t *testing.T) {
	ts := newTestServer(t)
	ts.do(t, "PUT", "/Users/nope", `{"userName":`).wantError(t, 404, "")
	ts.do(t, "PUT", "/Users/nope", `{"active":"perhaps"}`).wantError(t, 404, "")
	ts.do(t, "PUT", "/Groups/nope", `{"displayName":""}`).wantError(t, 404, "")
}

func asList(v any) []any { l, _ := v.([]any); return l }

// TestWritesStartFromSigmaNotTheIndex: another replica (here: a write
// straight to Sigma that this replica's index has not learned of) changed
// the user's first name. A PATCH of another attribute must not write the
// stale name back, and a PUT of the name this replica last saw must not be
// taken for a no-op (found by the two-replica soak).
func TestWritesStartFromSigmaNotTheIndex(t *testing.T) {
	ts := newTestServer(t)
	id := ts.createUser(t, "stale@example.com") // givenName "Given"
	other := newSigmaClient(t, ts)
	name := "Other"
	if _, err := other.UpdateMember(t.Context(), id, sigma.MemberPatch{FirstName: &name}); err != nil {
		t.Fatal(err)
	}
	ts.do(t, "PATCH", "/Users/"+id, `{"Operations":[{"op":"replace","path":"active","value":false}]}`).want(t, 200)
	if m, _ := ts.Fake.Member(id); m.FirstName != "Other" {
		t.Fatalf("PATCH active wrote the stale first name back: %q", m.FirstName)
	}
	ts.do(t, "PUT", "/Users/"+id, newUser("stale@example.com")).want(t, 200)
	if m, _ := ts.Fake.Member(id); m.FirstName != "Given" {
		t.Fatalf("PUT of the index's first name was taken for a no-op: %q", m.FirstName)
	}
}

func newSigmaClient(t *testing.T, ts *testServer) *sigma.Client {
	t.Helper()
	c, err := sigma.NewClient(sigma.Config{
		BaseURL: ts.Fake.URL(), ClientID: sigmafake.DefaultClientID,
		ClientSecret:      secret.NewStatic(secret.Value(sigmafake.DefaultClientSecret)),
		RequestsPerSecond: 100000, MaxConcurrent: 4,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
