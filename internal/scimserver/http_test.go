package scimserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/mapping"
	"github.com/scimbridge/scim-bridge/internal/scimserver"
	"github.com/scimbridge/scim-bridge/internal/scimserver/scimtest"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
)

func newUser(userName string) map[string]any {
	return map[string]any{
		"schemas":  []string{mapping.SchemaUser},
		"userName": userName,
		"name":     map[string]any{"givenName": "Given", "familyName": "Family"},
		"emails":   []any{map[string]any{"value": userName, "type": "work", "primary": true}},
		"active":   true,
	}
}

func (ts *testServer) createUser(t testing.TB, userName string) string {
	t.Helper()
	r := ts.do(t, "POST", "/Users", newUser(userName)).want(t, http.StatusCreated)
	return r.Body["id"].(string)
}

func (ts *testServer) createGroup(t testing.TB, name string, members ...string) string {
	t.Helper()
	var ms []any
	for _, m := range members {
		ms = append(ms, map[string]any{"value": m})
	}
	r := ts.do(t, "POST", "/Groups", map[string]any{"displayName": name, "members": ms}).want(t, http.StatusCreated)
	return r.Body["id"].(string)
}

func TestDiscovery(t *testing.T) {
	ts := newTestServer(t)
	spc := ts.do(t, "GET", "/ServiceProviderConfig", nil).want(t, 200).Body
	for key, want := range map[string]bool{"patch": true, "bulk": false, "filter": true, "changePassword": false, "sort": true, "etag": true} {
		if got := spc[key].(map[string]any)["supported"]; got != want {
			t.Errorf("%s.supported = %v, want %v", key, got, want)
		}
	}
	if spc["filter"].(map[string]any)["maxResults"] != float64(1000) {
		t.Errorf("maxResults = %v", spc["filter"])
	}
	if s := spc["authenticationSchemes"].([]any)[0].(map[string]any); s["type"] != "oauthbearertoken" || s["description"] == "" {
		t.Errorf("authenticationSchemes = %v", s)
	}
	for _, p := range []string{"/ServiceProviderConfig", "/Schemas", "/ResourceTypes", "/Schemas/" + mapping.SchemaUser, "/ResourceTypes/User"} {
		for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
			r := ts.do(t, m, p, "{}")
			r.want(t, http.StatusMethodNotAllowed)
			if r.Header.Get("Allow") != "GET" {
				t.Errorf("%s %s: Allow %q", m, p, r.Header.Get("Allow"))
			}
		}
	}
	schemas := ts.do(t, "GET", "/Schemas", nil).want(t, 200).Body
	if schemas["totalResults"] != float64(4) {
		t.Errorf("schemas: %v", schemas["totalResults"])
	}
	u := ts.do(t, "GET", "/Schemas/"+mapping.SchemaUser, nil).want(t, 200).Body
	if u["id"] != mapping.SchemaUser || len(u["attributes"].([]any)) < 10 {
		t.Errorf("user schema: %v", u["id"])
	}
	rt := ts.do(t, "GET", "/ResourceTypes/Group", nil).want(t, 200).Body
	if rt["endpoint"] != "/Groups" || rt["meta"].(map[string]any)["location"] != ts.URL+"/ResourceTypes/Group" {
		t.Errorf("resource type: %v", rt)
	}
	ts.do(t, "GET", "/Schemas/urn:nope", nil).want(t, 404)
}

func TestTolerantRouting(t *testing.T) {
	ts := newTestServer(t)
	id := ts.createUser(t, "route@example.com")
	for _, p := range []string{
		"/Users/?filter=" + urlq(`userName eq "route@example.com"`),
		"/users?filter=" + urlq(`userName eq "ROUTE@example.com"`),
		"/USERS/?filter=" + urlq(`userName eq "route@example.com"`),
	} {
		r := ts.do(t, "GET", p, nil).want(t, 200)
		if r.Body["totalResults"] != float64(1) {
			t.Errorf("%s: %s", p, r.Raw)
		}
	}
	ts.do(t, "GET", "/users/"+id+"/", nil).want(t, 200)
	ts.do(t, "GET", "/serviceproviderconfig/", nil).want(t, 200)
	r := ts.do(t, "POST", "/users/.SEARCH", map[string]any{"filter": `userName eq "route@example.com"`}).want(t, 200)
	if r.Body["totalResults"] != float64(1) {
		t.Errorf(".search: %s", r.Raw)
	}
	// Okta may POST without a Content-Type; application/json is fine too.
	ts.do(t, "POST", "/Users", toJSON(newUser("noct@example.com")), "Content-Type", "").want(t, 201)
	ts.do(t, "POST", "/Users", toJSON(newUser("json@example.com")), "Content-Type", "application/json; charset=utf-8").want(t, 201)
	// Clients that send no Content-Type explicitly often default to text/plain.
	ts.do(t, "POST", "/Users", toJSON(newUser("text@example.com")), "Content-Type", "text/plain;charset=UTF-8").want(t, 201)
	ts.do(t, "POST", "/Users", `<user name="x"/>`, "Content-Type", "application/xml").wantError(t, 400, "invalidSyntax")
	ts.do(t, "GET", "/Nope", nil).want(t, 404)
	ts.do(t, "POST", "/Bulk", `{}`).wantError(t, 501, "")
	ts.do(t, "GET", "/me", nil).wantError(t, 501, "")
}

func toJSON(v any) string {
	b, _ := jsonMarshal(v)
	return string(b)
}

func TestLookupIsNotAScan(t *testing.T) {
	ts := newTestServer(t, withFake(func(o *sigmafake.Options) { o.Members = 30; o.Teams = 3 }))
	ts.createUser(t, "find.me@example.com")
	ts.Fake.ResetRequests()
	for _, f := range []string{
		`userName eq "find.me@example.com"`,
		`userName eq "missing@example.com"`,
		`emails[type eq "work"].value eq "find.me@example.com"`,
		`externalId eq "nope"`,
		`userName eq "find.me@example.com" and active eq true`,
	} {
		ts.do(t, "GET", "/Users?filter="+urlq(f)+"&startIndex=1&count=100", nil).want(t, 200)
	}
	for _, c := range scimtest.Calls(ts.Fake) {
		if strings.HasPrefix(c, "GET /v2/members?") && !strings.Contains(c, "email=") {
			t.Errorf("a lookup scanned the members: %s", c)
		}
		if strings.HasPrefix(c, "GET /v2/teams") {
			t.Errorf("a user lookup read teams: %s", c)
		}
	}
}

func TestListPagingSortingAttributes(t *testing.T) {
	ts := newTestServer(t)
	for _, n := range []string{"carol", "alice", "bob", "dave", "erin"} {
		ts.createUser(t, n+"@example.com")
	}
	r := ts.do(t, "GET", "/Users?startIndex=2&count=2&sortBy=userName", nil).want(t, 200).Body
	if r["totalResults"] != float64(5) || r["itemsPerPage"] != float64(2) || r["startIndex"] != float64(2) {
		t.Fatalf("page: %v", r)
	}
	res := r["Resources"].([]any)
	if res[0].(map[string]any)["userName"] != "bob@example.com" || res[1].(map[string]any)["userName"] != "carol@example.com" {
		t.Errorf("sorted page: %v", res)
	}
	r = ts.do(t, "GET", "/Users?sortBy=userName&sortOrder=descending&count=1", nil).want(t, 200).Body
	if r["Resources"].([]any)[0].(map[string]any)["userName"] != "erin@example.com" {
		t.Errorf("descending: %v", r["Resources"])
	}
	r = ts.do(t, "GET", "/Users?count=0", nil).want(t, 200).Body
	if r["totalResults"] != float64(5) || r["itemsPerPage"] != float64(0) || len(r["Resources"].([]any)) != 0 {
		t.Errorf("count=0: %v", r)
	}
	r = ts.do(t, "GET", "/Users?startIndex=9", nil).want(t, 200).Body
	if r["totalResults"] != float64(5) || r["itemsPerPage"] != float64(0) {
		t.Errorf("past the end: %v", r)
	}
	// Stable order without sortBy: two reads give the same sequence.
	a := ts.do(t, "GET", "/Users?count=100", nil).want(t, 200).Raw
	b := ts.do(t, "GET", "/Users?count=100", nil).want(t, 200).Raw
	if string(a) != string(b) {
		t.Error("unsorted listing is not stable")
	}
	r = ts.do(t, "GET", "/Users?filter="+urlq(`userName sw "a"`)+"&attributes=userName", nil).want(t, 200).Body
	u := r["Resources"].([]any)[0].(map[string]any)
	if len(u) != 3 || u["userName"] != "alice@example.com" || u["id"] == nil || u["schemas"] == nil {
		t.Errorf("attributes=userName: %v", u)
	}
	r = ts.do(t, "POST", "/Users/.search", map[string]any{
		"schemas": []string{mapping.SchemaSearch}, "filter": `userName ew "example.com"`, "excludedAttributes": []string{"emails", "name"},
		"sortBy": "userName", "startIndex": 5, "count": 10,
	}).want(t, 200).Body
	u = r["Resources"].([]any)[0].(map[string]any)
	if r["totalResults"] != float64(5) || u["userName"] != "erin@example.com" || u["emails"] != nil || u["name"] != nil {
		t.Errorf(".search: %v", r)
	}
	for _, p := range []string{"/Users?count=ten", "/Users?startIndex=x", "/Users?sortBy=nosuch", "/Users?sortOrder=up"} {
		ts.do(t, "GET", p, nil).wantError(t, 400, "invalidValue")
	}
}

func TestETags(t *testing.T) {
	ts := newTestServer(t)
	id := ts.createUser(t, "etag@example.com")
	r := ts.do(t, "GET", "/Users/"+id, nil).want(t, 200)
	etag := r.Header.Get("ETag")
	if !strings.HasPrefix(etag, `W/"`) || r.Body["meta"].(map[string]any)["version"] != etag {
		t.Fatalf("ETag %q, meta %v", etag, r.Body["meta"])
	}
	patch := map[string]any{"Operations": []any{map[string]any{"op": "replace", "path": "name.givenName", "value": "Changed"}}}
	ts.do(t, "PATCH", "/Users/"+id, patch, "If-Match", `W/"stale"`).wantError(t, 412, "")
	r = ts.do(t, "PATCH", "/Users/"+id, patch, "If-Match", etag).want(t, 200)
	next := r.Header.Get("ETag")
	if next == etag || next == "" {
		t.Fatalf("version did not change: %q", next)
	}
	ts.do(t, "PUT", "/Users/"+id, newUser("etag@example.com"), "If-Match", etag).wantError(t, 412, "")
	ts.do(t, "DELETE", "/Users/"+id, nil, "If-Match", etag).wantError(t, 412, "")
	ts.do(t, "PUT", "/Users/"+id, newUser("etag@example.com"), "If-Match", "*").want(t, 200)
	gid := ts.createGroup(t, "Etagged")
	g := ts.do(t, "GET", "/Groups/"+gid, nil).want(t, 200)
	ts.do(t, "DELETE", "/Groups/"+gid, nil, "If-Match", `W/"nope"`).wantError(t, 412, "")
	ts.do(t, "DELETE", "/Groups/"+gid, nil, "If-Match", g.Header.Get("ETag")).want(t, 204)
}

func TestPasswordNeverReturned(t *testing.T) {
	ts := newTestServer(t)
	u := newUser("pw@example.com")
	u["password"] = "hunter2-secret"
	r := ts.do(t, "POST", "/Users", u).want(t, 201)
	if strings.Contains(string(r.Raw), "hunter2") || r.Body["password"] != nil {
		t.Fatalf("password echoed: %s", r.Raw)
	}
	r = ts.do(t, "GET", "/Users/"+r.Body["id"].(string)+"?attributes=password", nil).want(t, 200)
	if strings.Contains(string(r.Raw), "hunter2") {
		t.Fatal("password returned")
	}
	if strings.Contains(ts.Log.String(), "hunter2") {
		t.Fatal("password logged")
	}
}

func TestBadInput(t *testing.T) {
	ts := newTestServer(t, withScim(func(o *scimserver.Options) { o.MaxBodyBytes = 4096 }))
	uid := ts.createUser(t, "existing@example.com")
	gid := ts.createGroup(t, "Existing")
	big := `{"userName":"big@example.com","displayName":"` + strings.Repeat("x", 5000) + `"}`
	for _, c := range []struct {
		name, method, path string
		body               any
		status             int
		scimType           string
	}{
		{"malformed JSON", "POST", "/Users", `{"userName": "a@example.com",`, 400, "invalidSyntax"},
		{"not an object", "POST", "/Users", `["a"]`, 400, "invalidSyntax"},
		{"empty body", "POST", "/Users", ``, 400, "invalidSyntax"},
		{"userName of the wrong type", "POST", "/Users", `{"userName": 5}`, 400, "invalidValue"},
		{"active of the wrong type", "POST", "/Users", `{"userName":"w@example.com","active":"perhaps"}`, 400, "invalidValue"},
		{"emails of the wrong type", "POST", "/Users", `{"userName":"w@example.com","emails":{"value":5}}`, 400, "invalidValue"},
		{"unknown schema URN in schemas", "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:example:custom:2.0:User"],"userName":"u@example.com"}`, 400, "invalidValue"},
		{"missing userName", "POST", "/Users", `{"displayName":"No Name"}`, 400, "invalidValue"},
		{"non-email userName without email", "POST", "/Users", `{"userName":"jdoe"}`, 400, "invalidValue"},
		{"unknown account type", "POST", "/Users", `{"userName":"t@example.com","userType":"Wizard"}`, 400, "invalidValue"},
		{"duplicate userName", "POST", "/Users", `{"userName":"EXISTING@example.com"}`, 409, "uniqueness"},
		{"oversized body", "POST", "/Users", big, 413, "invalidValue"},
		{"invalid filter", "GET", "/Users?filter=" + urlq(`userName eq`), nil, 400, "invalidFilter"},
		{"filter on unknown attribute", "GET", "/Users?filter=" + urlq(`shoeSize gt "4"`), nil, 400, "invalidFilter"},
		{"invalid filter in .search", "POST", "/Groups/.search", `{"filter":"displayName xx \"a\""}`, 400, "invalidFilter"},
		{"malformed .search", "POST", "/Users/.search", `{"count":"ten"}`, 400, "invalidSyntax"},
		{"unknown user", "GET", "/Users/nope", nil, 404, ""},
		{"unknown group", "GET", "/Groups/nope", nil, 404, ""},
		{"patch without Operations", "PATCH", "/Users/" + uid, `{"op":"replace"}`, 400, "invalidSyntax"},
		{"patch read-only groups", "PATCH", "/Users/" + uid, `{"Operations":[{"op":"add","path":"groups","value":[{"value":"` + gid + `"}]}]}`, 400, "mutability"},
		{"patch unknown account type", "PATCH", "/Users/" + uid, `{"Operations":[{"op":"replace","path":"userType","value":"Wizard"}]}`, 400, "invalidValue"},
		{"add unknown member", "PATCH", "/Groups/" + gid, `{"Operations":[{"op":"add","path":"members","value":[{"value":"nosuchuser"}]}]}`, 400, "invalidValue"},
		{"duplicate group name", "POST", "/Groups", `{"displayName":"existing"}`, 409, "uniqueness"},
		{"group without displayName", "POST", "/Groups", `{"members":[]}`, 400, "invalidValue"},
		{"put unknown user", "PUT", "/Users/nope", `{"userName":"x@example.com"}`, 404, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts.do(t, c.method, c.path, c.body).wantError(t, c.status, c.scimType)
		})
	}
	t.Run("unknown account type lists valid ones and writes nothing", func(t *testing.T) {
		ts.Fake.ResetRequests()
		r := ts.do(t, "POST", "/Users", `{"userName":"t2@example.com","userType":"Wizard"}`)
		r.wantError(t, 400, "invalidValue")
		if d := r.Body["detail"].(string); !strings.Contains(d, "View") {
			t.Errorf("detail does not list valid account types: %s", d)
		}
		for _, c := range scimtest.Calls(ts.Fake) {
			if !strings.HasPrefix(c, "GET ") {
				t.Errorf("a write reached Sigma: %s", c)
			}
		}
	})
	t.Run("requests that cannot be applied cost no Sigma call", func(t *testing.T) {
		ts.Fake.ResetRequests()
		ts.do(t, "PUT", "/Users/"+uid, `{"userName":`).wantError(t, 400, "invalidSyntax")
		ts.do(t, "PATCH", "/Users/"+uid, `{"Operations":[{"op":"jump"}]}`).wantError(t, 400, "invalidSyntax")
		ts.do(t, "PUT", "/Groups/"+gid, `{"displayName":""}`).wantError(t, 400, "invalidValue")
		ts.do(t, "PATCH", "/Groups/"+gid, `{"Operations":[{"op":"remove","path":"members[value eq 5]"}]}`).wantError(t, 400, "invalidFilter")
		ts.do(t, "GET", "/Users?filter="+urlq(`userName eq`), nil).wantError(t, 400, "invalidFilter")
		if calls := scimtest.Calls(ts.Fake); len(calls) != 0 {
			t.Errorf("upstream calls: %q", calls)
		}
	})
	t.Run("missing token", func(t *testing.T) {
		req, _ := http.NewRequest("GET", ts.URL+"/Users", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("status %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	})
	t.Run("revoked token", func(t *testing.T) {
		other := *ts
		var err error
		other.Token, _, err = ts.Tokens.Create(context.Background(), "revoked-idp", 0)
		if err != nil {
			t.Fatal(err)
		}
		other.do(t, "GET", "/Users?count=1", nil).want(t, 200)
		if err := ts.Tokens.Revoke(context.Background(), "revoked-idp"); err != nil {
			t.Fatal(err)
		}
		r := other.do(t, "GET", "/Users?count=1", nil)
		r.want(t, 401)
		if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("WWW-Authenticate %q", r.Header.Get("WWW-Authenticate"))
		}
	})
}

// flakyDir fails or panics on demand, to test the edge's error handling.
type flakyDir struct {
	directory.Directory
	err   error
	panic bool
}

func (f *flakyDir) GetUser(ctx context.Context, id string) (directory.User, error) {
	if f.panic {
		panic("boom: internal state 0xdeadbeef")
	}
	if f.err != nil {
		return directory.User{}, f.err
	}
	return f.Directory.GetUser(ctx, id)
}

func TestUpstreamAndInternalErrors(t *testing.T) {
	fd := &flakyDir{}
	ts := newTestServer(t, withWrappedDir(func(d directory.Directory) directory.Directory { fd.Directory = d; return fd }))
	fd.err = fmt.Errorf("get member: %w", &directory.UpstreamError{Op: "get member", Status: 429, Retryable: true, RetryAfter: 2500 * 1e6})
	r := ts.do(t, "GET", "/Users/x", nil)
	r.wantError(t, 503, "")
	if r.Header.Get("Retry-After") != "3" {
		t.Errorf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	fd.err = fmt.Errorf("read index: %w", directory.ErrNotReady)
	r = ts.do(t, "GET", "/Users/x", nil)
	r.wantError(t, 503, "")
	if r.Header.Get("Retry-After") != "5" {
		t.Errorf("not ready: Retry-After %q", r.Header.Get("Retry-After"))
	}
	fd.err = fmt.Errorf("db exploded at /var/lib/secret.db: %w", context.DeadlineExceeded)
	ts.do(t, "GET", "/Users/x", nil).wantError(t, 503, "")
	fd.err = fmt.Errorf("weird failure with internal text /var/lib/x")
	r = ts.do(t, "GET", "/Users/x", nil)
	r.wantError(t, 500, "")
	if strings.Contains(string(r.Raw), "/var/lib") {
		t.Errorf("internal text leaked: %s", r.Raw)
	}
	if !strings.Contains(string(r.Raw), r.Header.Get("X-Request-Id")) {
		t.Errorf("500 does not name the request id: %s", r.Raw)
	}
	fd.err, fd.panic = nil, true
	r = ts.do(t, "GET", "/Users/x", nil)
	r.wantError(t, 500, "")
	if strings.Contains(string(r.Raw), "deadbeef") {
		t.Errorf("panic text leaked: %s", r.Raw)
	}
	if !strings.Contains(ts.Log.String(), "deadbeef") {
		t.Error("panic not logged")
	}
}

func TestUpstreamOutageIs503(t *testing.T) {
	ts := newTestServer(t)
	ts.Fake.SetFault("/v2/members", sigmafake.Fault{Status500: 1})
	r := ts.do(t, "GET", "/Users?filter="+urlq(`userName eq "nobody@example.com"`), nil)
	r.wantError(t, 503, "")
	if r.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
}

func TestRequestIDLogAndMetrics(t *testing.T) {
	ts := newTestServer(t)
	r := ts.do(t, "GET", "/Users", nil, "X-Request-Id", "idp-req-42")
	if r.Header.Get("X-Request-Id") != "idp-req-42" {
		t.Errorf("request id not echoed: %q", r.Header.Get("X-Request-Id"))
	}
	r = ts.do(t, "GET", "/Users", nil, "X-Request-Id", "bad id with spaces")
	if id := r.Header.Get("X-Request-Id"); id == "" || strings.Contains(id, " ") {
		t.Errorf("insane request id kept: %q", id)
	}
	log := ts.Log.String()
	if !strings.Contains(log, `"request_id":"idp-req-42"`) || !strings.Contains(log, `"token":"okta-test"`) || !strings.Contains(log, `"msg":"scim request"`) {
		t.Errorf("access log line missing fields: %s", log)
	}
	if got := testutil.ToFloat64(counter(t, ts, "users", "GET", "2xx")); got != 2 {
		t.Errorf("users GET 2xx = %v, want 2", got)
	}
	ts.do(t, "GET", "/Users/nope", nil)
	if got := testutil.ToFloat64(counter(t, ts, "users", "GET", "4xx")); got != 1 {
		t.Errorf("users GET 4xx = %v, want 1", got)
	}
	// The actor reaches the audit trail.
	ts.do(t, "POST", "/Users", newUser("audited@example.com"), "X-Request-Id", "audit-me").want(t, 201)
	entries, err := ts.Store.ListAudit(context.Background(), storeAuditFilter())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		if e.RequestID == "audit-me" && e.TokenName == "okta-test" {
			found = true
		}
	}
	if !found {
		t.Errorf("no audit entry with the request id and token name: %+v", entries)
	}
}

func TestAccountTypeRules(t *testing.T) {
	ts := newTestServer(t, withScim(func(o *scimserver.Options) {
		o.Rules = mapping.AccountTypeRules{{Group: "Sigma Admins", AccountType: "Admin"}, {Group: "Sigma Creators", AccountType: "Pro"}}
	}))
	a := ts.createUser(t, "a@example.com")
	b := ts.createUser(t, "b@example.com")
	accountType := func(id string) string {
		return ts.do(t, "GET", "/Users/"+id, nil).want(t, 200).Body["userType"].(string)
	}
	if accountType(a) != "View" {
		t.Fatalf("default type %q", accountType(a))
	}
	creators := ts.createGroup(t, "Sigma Creators", a)
	if accountType(a) != "Pro" || accountType(b) != "View" {
		t.Fatalf("after create: a=%s b=%s", accountType(a), accountType(b))
	}
	admins := ts.createGroup(t, "Sigma Admins")
	ts.do(t, "PATCH", "/Groups/"+admins, `{"Operations":[{"op":"add","path":"members","value":[{"value":"`+a+`"},{"value":"`+b+`"}]}]}`).want(t, 204)
	if accountType(a) != "Admin" || accountType(b) != "Admin" {
		t.Fatalf("after add: a=%s b=%s", accountType(a), accountType(b))
	}
	ts.do(t, "PATCH", "/Groups/"+admins, `{"Operations":[{"op":"remove","path":"members[value eq \"`+a+`\"]"}]}`).want(t, 204)
	if accountType(a) != "Pro" || accountType(b) != "Admin" {
		t.Fatalf("after remove: a=%s b=%s (first matching rule wins)", accountType(a), accountType(b))
	}
	// b matches no rule any more: keeps Admin.
	ts.do(t, "DELETE", "/Groups/"+admins, nil).want(t, 204)
	if accountType(b) != "Admin" {
		t.Fatalf("after delete: b=%s", accountType(b))
	}
	ts.do(t, "PUT", "/Groups/"+creators, map[string]any{"displayName": "Sigma Creators", "members": []any{map[string]any{"value": b}}}).want(t, 200)
	if accountType(b) != "Pro" || accountType(a) != "Pro" {
		t.Fatalf("after replace: a=%s b=%s", accountType(a), accountType(b))
	}
	// A PATCH that changes nothing answers 204 and leaves the team as it was
	// (the delta is still sent: a stale read must not drop an IdP's add).
	ts.Fake.ResetRequests()
	ts.do(t, "PATCH", "/Groups/"+creators, `{"Operations":[{"op":"add","path":"members","value":[{"value":"`+b+`"}]}]}`).want(t, 204)
	team, _ := ts.Fake.Team(creators)
	if len(team.Members) != 1 {
		t.Errorf("team members after no-op PATCH: %+v", team.Members)
	}
	for _, c := range scimtest.Calls(ts.Fake) {
		if strings.HasPrefix(c, "PATCH /v2/members") {
			t.Errorf("no-op group PATCH changed a member: %s", c)
		}
	}
}

func TestSearchEndpointMethods(t *testing.T) {
	ts := newTestServer(t)
	for _, p := range []string{"/Users/.search", "/Groups/.search"} {
		for _, m := range []string{"GET", "PUT", "PATCH", "DELETE"} {
			r := ts.do(t, m, p, nil)
			r.wantError(t, http.StatusMethodNotAllowed, "")
			if r.Header.Get("Allow") != "POST" {
				t.Errorf("%s %s: Allow %q", m, p, r.Header.Get("Allow"))
			}
		}
	}
}

// slowDir makes every user read wait for the request's context.
type slowDir struct{ directory.Directory }

func (s slowDir) GetUser(ctx context.Context, id string) (directory.User, error) {
	<-ctx.Done()
	return directory.User{}, fmt.Errorf("get member: %w", ctx.Err())
}

func TestRequestTimeoutIs503(t *testing.T) {
	ts := newTestServer(t,
		withWrappedDir(func(d directory.Directory) directory.Directory { return slowDir{d} }),
		withScim(func(o *scimserver.Options) { o.RequestTimeout = 50 * time.Millisecond }))
	r := ts.do(t, "GET", "/Users/x", nil)
	r.wantError(t, 503, "")
	if r.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
}

// Concurrent member adds to one group must all land: the edge sends
// deltas, never a read-modify-write of the member list.
func TestConcurrentMemberAdds(t *testing.T) {
	ts := newTestServer(t)
	g := ts.createGroup(t, "Busy")
	var ids []string
	for i := range 8 {
		ids = append(ids, ts.createUser(t, fmt.Sprintf("busy%d@example.com", i)))
	}
	var wg sync.WaitGroup
	status := make([]int, len(ids))
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("PATCH", ts.URL+"/Groups/"+g, strings.NewReader(`{"Operations":[{"op":"add","path":"members","value":[{"value":"`+id+`"}]}]}`))
			req.Header.Set("Authorization", "Bearer "+ts.Token)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				status[i] = resp.StatusCode
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	for i, st := range status {
		if st != 204 {
			t.Errorf("PATCH %d: status %d", i, st)
		}
	}
	team, _ := ts.Fake.Team(g)
	if len(team.Members) != len(ids) {
		t.Fatalf("team has %d members, want %d", len(team.Members), len(ids))
	}
	r := ts.do(t, "GET", "/Groups/"+g, nil).want(t, 200)
	if n := len(r.Body["members"].([]any)); n != len(ids) {
		t.Fatalf("group shows %d members, want %d", n, len(ids))
	}
}

func TestBasePathAndBaseURL(t *testing.T) {
	ts := newTestServer(t)
	id := ts.createUser(t, "mounted@example.com")
	for _, c := range []struct {
		opts     scimserver.Options
		path     string
		location string
	}{
		{scimserver.Options{BasePath: "/scim/v2"}, "/scim/v2/users/" + id + "/", "http://bridge.internal/scim/v2/Users/" + id},
		{scimserver.Options{BasePath: "/scim/v2", BaseURL: "https://scim.example.com/scim/v2/"}, "/scim/v2/Users/" + id, "https://scim.example.com/scim/v2/Users/" + id},
		{scimserver.Options{}, "/Users/" + id, "http://bridge.internal/Users/" + id},
	} {
		c.opts.Directory = ts.Dir
		h, err := scimserver.New(c.opts)
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "http://bridge.internal"+c.path, nil)
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", c.path, rec.Code, rec.Body)
		}
		var body map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if loc := body["meta"].(map[string]any)["location"]; loc != c.location {
			t.Errorf("%s: location %v, want %s", c.path, loc, c.location)
		}
	}
	if _, err := scimserver.New(scimserver.Options{}); err == nil {
		t.Error("New without a directory succeeded")
	}
	if _, err := scimserver.New(scimserver.Options{Directory: ts.Dir, Rules: mapping.AccountTypeRules{{Group: "x"}}}); err == nil {
		t.Error("New with a rule without account type succeeded")
	}
}

func TestPutGroupWithoutMembersKeepsThem(t *testing.T) {
	ts := newTestServer(t)
	u := ts.createUser(t, "kept@example.com")
	g := ts.createGroup(t, "Keepers", u)
	r := ts.do(t, "PUT", "/Groups/"+g, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Keepers Renamed"}`).want(t, 200)
	if m := r.Body["members"].([]any); len(m) != 1 || r.Body["displayName"] != "Keepers Renamed" {
		t.Fatalf("PUT without members: %s", r.Raw)
	}
	r = ts.do(t, "PUT", "/Groups/"+g, `{"displayName":"Keepers Renamed","members":[]}`).want(t, 200)
	if m := r.Body["members"].([]any); len(m) != 0 {
		t.Fatalf("PUT with members []: %s", r.Raw)
	}
	if team, _ := ts.Fake.Team(g); len(team.Members) != 0 || team.Name != "Keepers Renamed" {
		t.Fatalf("team %+v", team)
	}
	ts.createGroup(t, "Second")
	l := ts.do(t, "GET", "/Groups?startIndex=2&count=1&excludedAttributes=members", nil).want(t, 200).Body
	if l["totalResults"] != float64(2) || l["itemsPerPage"] != float64(1) || l["startIndex"] != float64(2) {
		t.Fatalf("group page: %v", l)
	}
	if g0 := l["Resources"].([]any)[0].(map[string]any); g0["members"] != nil || g0["displayName"] == nil {
		t.Fatalf("group page resource: %v", g0)
	}
}

// TestIdPUserName: a user the IdP named with a non-email userName is shown
// under it, found by filters on it (and on its Sigma email, which a POST
// of that email would call taken), and PATCHed without resending it.
func TestIdPUserName(t *testing.T) {
	for _, scim := range []bool{false, true} {
		t.Run(map[bool]string{false: "rest", true: "scim"}[scim], func(t *testing.T) {
			var opts []option
			if scim {
				opts = append(opts, withSCIMDirectory())
			}
			ts := newTestServer(t, opts...)
			body := newUser("jdoe@example.com")
			body["userName"] = "jdoe"
			id := ts.do(t, "POST", "/Users", body).want(t, http.StatusCreated).Body["id"].(string)
			ts.createUser(t, "jdoe.other@example.com")

			for _, c := range []struct {
				filter string
				want   int
			}{
				{`userName eq "JDOE"`, 1},
				{`userName eq "jdoe@example.com"`, 1}, // its Sigma email
				{`userName sw "jd" and userName ew "oe"`, 1},
				{`userName eq "jdoe" and emails.value eq "jdoe@example.com"`, 1},
				{`userName eq "jdoe" and active eq false`, 0},
				{`userName ne "jdoe"`, 1}, // the other user only
			} {
				r := ts.do(t, "GET", "/Users?filter="+urlq(c.filter), nil).want(t, 200).Body
				res, _ := r["Resources"].([]any)
				if len(res) != c.want {
					t.Errorf("%s: %d results, want %d: %v", c.filter, len(res), c.want, r)
					continue
				}
				for _, x := range res {
					u := x.(map[string]any)
					if u["id"] == id && u["userName"] != "jdoe" {
						t.Errorf("%s: userName %v, want jdoe", c.filter, u["userName"])
					}
				}
			}
			// The bridge's own rendering of userName is not the IdP resending it.
			r := ts.do(t, "PATCH", "/Users/"+id, `{"Operations":[{"op":"replace","value":{"active":false}}]}`).want(t, 200).Body
			if r["userName"] != "jdoe" || r["active"] != false {
				t.Errorf("after PATCH: userName %v, active %v", r["userName"], r["active"])
			}
		})
	}
}

// TestIdPUserNameOptionOff: with non-email userNames refused, a user given
// one earlier is still shown under it and can still be PATCHed (an IdP's
// deprovisioning must not fail), while a PUT resending it is refused like
// any new non-email userName.
func TestIdPUserNameOptionOff(t *testing.T) {
	off := false
	ts := newTestServer(t, withScim(func(o *scimserver.Options) { o.UserNameFromEmail = &off }))
	ctx := directory.WithActor(context.Background(), directory.Actor{RequestID: "test"})
	u, err := ts.Dir.CreateUser(ctx, directory.User{UserName: "kj@example.com", IdPUserName: "kjohnson", GivenName: "K", FamilyName: "J", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	r := ts.do(t, "PATCH", "/Users/"+u.ID, `{"Operations":[{"op":"replace","path":"active","value":false}]}`).want(t, 200).Body
	if r["userName"] != "kjohnson" || r["active"] != false {
		t.Errorf("after PATCH: userName %v, active %v", r["userName"], r["active"])
	}
	if got, _ := ts.Dir.GetUser(ctx, u.ID); got.IdPUserName != "kjohnson" || got.UserName != "kj@example.com" {
		t.Errorf("after PATCH: %+v", got)
	}
	ts.do(t, "PATCH", "/Users/"+u.ID, `{"Operations":[{"op":"replace","path":"userName","value":"kay"}]}`).wantError(t, 400, "invalidValue")
	ts.do(t, "PUT", "/Users/"+u.ID, `{"userName":"kjohnson","emails":[{"value":"kj@example.com","type":"work"}]}`).wantError(t, 400, "invalidValue")
	if r := ts.do(t, "GET", "/Users?filter="+urlq(`userName eq "kjohnson"`), nil).want(t, 200).Body; r["totalResults"] != float64(1) {
		t.Errorf("lookup by the earlier IdP userName: %v", r)
	}
}
