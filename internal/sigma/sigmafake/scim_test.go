package sigmafake

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
)

type scimClient struct {
	t     *testing.T
	s     *Server
	token string
}

func newSCIM(t *testing.T, s *Server) *scimClient {
	return &scimClient{t: t, s: s, token: DefaultSCIMToken}
}

func (c *scimClient) do(method, path string, body any) response {
	c.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	return send(c.t, method, c.s.SCIMURL()+path, c.token, "application/scim+json", rd)
}

func (c *scimClient) doNoFatal(method, path string, body any) response {
	return sendNoFatal(method, c.s.SCIMURL()+path, c.token, "application/scim+json", jsonBytes(body))
}

type scimErrBody struct {
	Schemas  []string `json:"schemas"`
	Status   string   `json:"status"`
	ScimType string   `json:"scimType"`
	Detail   string   `json:"detail"`
}

func (r response) scimError(t *testing.T) scimErrBody {
	t.Helper()
	var e scimErrBody
	r.decode(t, &e)
	if !slices.Contains(e.Schemas, "urn:ietf:params:scim:api:messages:2.0:Error") {
		t.Fatalf("not a SCIM error: %s", r.body)
	}
	return e
}

type scimUserJSON struct {
	ID         string `json:"id"`
	UserName   string `json:"userName"`
	ExternalID string `json:"externalId"`
	Name       struct {
		GivenName  string `json:"givenName"`
		FamilyName string `json:"familyName"`
	} `json:"name"`
	Active   bool   `json:"active"`
	UserType string `json:"userType"`
	Ext      struct {
		UserKind string `json:"userKind"`
	} `json:"urn:sigma:scim:schemas:extension:2.0:User"`
	Groups []struct {
		Value string `json:"value"`
	} `json:"groups"`
	Meta struct {
		ResourceType string `json:"resourceType"`
		Location     string `json:"location"`
	} `json:"meta"`
}

type scimList[T any] struct {
	TotalResults int `json:"totalResults"`
	ItemsPerPage int `json:"itemsPerPage"`
	StartIndex   int `json:"startIndex"`
	Resources    []T `json:"Resources"`
}

func newUserBody(email, userType string) map[string]any {
	b := map[string]any{
		"schemas":  []string{SchemaUser, SchemaSigmaUser},
		"userName": email,
		"name":     map[string]any{"givenName": "Katherine", "familyName": "Johnson"},
		"emails":   []map[string]any{{"value": email, "type": "work", "primary": true}},
		"active":   true,
		"password": "not-stored",
		"groups":   []any{},
	}
	if userType != "" {
		b["userType"] = userType
	}
	return b
}

func TestSCIMRequiresBearerToken(t *testing.T) {
	s := startServer(t, Options{Members: 2})
	c := newSCIM(t, s)
	c.do(http.MethodGet, "/Users", nil).want(t, http.StatusOK)
	c.token = "wrong"
	if e := c.do(http.MethodGet, "/Users", nil).want(t, http.StatusUnauthorized).scimError(t); e.Status != "401" {
		t.Fatalf("status field %q", e.Status)
	}
	c.token = ""
	c.do(http.MethodGet, "/Users", nil).want(t, http.StatusUnauthorized)
	// A REST access token is not a SCIM token.
	c.token = newREST(t, s).token
	c.do(http.MethodGet, "/Users", nil).want(t, http.StatusUnauthorized)
	s.SetSCIMToken("new-scim-token")
	c.token = "new-scim-token"
	c.do(http.MethodGet, "/Users", nil).want(t, http.StatusOK)
	c.token = DefaultSCIMToken
	c.do(http.MethodGet, "/Users", nil).want(t, http.StatusUnauthorized)
}

func TestSCIMDisabledAnswers404(t *testing.T) {
	s := startServer(t, Options{SCIMDisabled: true})
	c := newSCIM(t, s)
	c.do(http.MethodGet, "/Users", nil).want(t, http.StatusNotFound)
	c.do(http.MethodPost, "/Users", newUserBody("a@example.com", "view")).want(t, http.StatusNotFound)
	if _, ok := s.MemberByEmail("a@example.com"); ok {
		t.Fatal("disabled SCIM created a member")
	}
	s.SetSCIMEnabled(true)
	c.do(http.MethodGet, "/Users", nil).want(t, http.StatusOK)
	s.SetSCIMEnabled(false)
	c.do(http.MethodGet, "/Groups", nil).want(t, http.StatusNotFound)
	// REST keeps working.
	newREST(t, s).do(http.MethodGet, "/v2/members?limit=1", nil).want(t, http.StatusOK)
}

func TestSCIMCreateUserWithUserType(t *testing.T) {
	s := startServer(t, Options{Members: 1})
	c := newSCIM(t, s)
	var u scimUserJSON
	r := c.do(http.MethodPost, "/Users", newUserBody("kj@example.com", "view")).want(t, http.StatusCreated)
	r.decode(t, &u)
	if u.UserType != "view" || !u.Active || u.Ext.UserKind != "internal" || u.Name.GivenName != "Katherine" || u.Meta.ResourceType != "User" {
		t.Fatalf("created %s", r.body)
	}
	if strings.Contains(string(r.body), "not-stored") {
		t.Fatal("password echoed back")
	}
	if loc := r.header.Get("Location"); !strings.HasSuffix(loc, "/scim/v2/Users/"+u.ID) {
		t.Fatalf("Location %q", loc)
	}
	// Same state as REST, where the type has its REST name.
	m, ok := s.Member(u.ID)
	if !ok || m.MemberType != "View" || m.Email != "kj@example.com" || m.IsInactive {
		t.Fatalf("REST member %+v", m)
	}
	var rm memberJSON
	newREST(t, s).do(http.MethodGet, "/v2/members/"+u.ID, nil).want(t, http.StatusOK).decode(t, &rm)
	if rm.MemberType != "View" {
		t.Fatalf("REST view %+v", rm)
	}

	// Custom types are spelled exactly as named; built-ins only in lower case.
	body := newUserBody("ac@example.com", "Analyst Creator")
	body[SchemaSigmaUser] = map[string]any{"userKind": "embed"}
	c.do(http.MethodPost, "/Users", body).want(t, http.StatusCreated).decode(t, &u)
	if u.UserType != "Analyst Creator" || u.Ext.UserKind != "embed" {
		t.Fatalf("custom type user %+v", u)
	}
	for _, bad := range []string{"View", "analyst creator", "wizard"} {
		e := c.do(http.MethodPost, "/Users", newUserBody("bad@example.com", bad)).want(t, http.StatusBadRequest).scimError(t)
		if e.ScimType != "invalidValue" {
			t.Fatalf("userType %q: %+v", bad, e)
		}
	}
	// Owner is seeded as Admin: SCIM shows "admin".
	c.do(http.MethodGet, "/Users/"+s.OwnerID(), nil).want(t, http.StatusOK).decode(t, &u)
	if u.UserType != "admin" {
		t.Fatalf("admin userType %q", u.UserType)
	}
}

func TestSCIMMissingUserTypeError(t *testing.T) {
	s := startServer(t, Options{})
	c := newSCIM(t, s)
	body := newUserBody("nt@example.com", "")
	e := c.do(http.MethodPost, "/Users", body).want(t, http.StatusBadRequest).scimError(t)
	if e.Detail != "Expecting string at userType but instead got: null" {
		t.Fatalf("detail %q", e.Detail)
	}
	body["userType"] = nil
	e = c.do(http.MethodPost, "/Users", body).want(t, http.StatusBadRequest).scimError(t)
	if e.Detail != "Expecting string at userType but instead got: null" {
		t.Fatalf("detail %q", e.Detail)
	}
	if _, ok := s.MemberByEmail("nt@example.com"); ok {
		t.Fatal("member created without userType")
	}
}

func TestSCIMDuplicateUserNameIs409(t *testing.T) {
	s := startServer(t, Options{})
	c := newSCIM(t, s)
	c.do(http.MethodPost, "/Users", newUserBody("dup@example.com", "pro")).want(t, http.StatusCreated)
	e := c.do(http.MethodPost, "/Users", newUserBody("DUP@example.com", "pro")).want(t, http.StatusConflict).scimError(t)
	if e.ScimType != "uniqueness" {
		t.Fatalf("%+v", e)
	}
}

func TestSCIMGuestsNotSupported(t *testing.T) {
	s := startServer(t, Options{})
	body := newUserBody("guest@example.com", "view")
	body[SchemaSigmaUser] = map[string]any{"userKind": "guest"}
	newSCIM(t, s).do(http.MethodPost, "/Users", body).want(t, http.StatusBadRequest)
}

func TestSCIMUserFilterAndPaging(t *testing.T) {
	s := startServer(t, Options{Members: 7})
	s.AddMember(Member{Email: "archived@example.com", FirstName: "A", LastName: "B", IsArchived: true})
	inact := s.AddMember(Member{Email: "Inactive@example.com", FirstName: "I", LastName: "N", IsInactive: true})
	c := newSCIM(t, s)
	var l scimList[scimUserJSON]
	c.do(http.MethodGet, "/Users?filter="+url.QueryEscape(`userName eq "inactive@EXAMPLE.com"`)+"&startIndex=1&count=100", nil).
		want(t, http.StatusOK).decode(t, &l)
	if l.TotalResults != 1 || len(l.Resources) != 1 || l.Resources[0].ID != inact.MemberID || l.Resources[0].Active {
		t.Fatalf("filter result %+v", l)
	}
	c.do(http.MethodGet, "/Users?filter="+url.QueryEscape(`userName eq "archived@example.com"`), nil).want(t, http.StatusOK).decode(t, &l)
	if l.TotalResults != 0 || len(l.Resources) != 0 {
		t.Fatalf("archived member visible to SCIM: %+v", l)
	}
	// 7 seeded + 1 inactive are visible; page through them 3 at a time.
	var ids []string
	for start := 1; ; start += 3 {
		var p scimList[scimUserJSON]
		c.do(http.MethodGet, "/Users?startIndex="+strconv.Itoa(start)+"&count=3", nil).want(t, http.StatusOK).decode(t, &p)
		if p.TotalResults != 8 || p.StartIndex != start || p.ItemsPerPage != len(p.Resources) {
			t.Fatalf("page at %d: %+v", start, p)
		}
		for _, u := range p.Resources {
			ids = append(ids, u.ID)
		}
		if len(p.Resources) < 3 {
			break
		}
	}
	if len(ids) != 8 {
		t.Fatalf("paged %d users", len(ids))
	}
	for _, f := range []string{`emails[type eq "work"].value eq "x@example.com"`, `externalId eq "x"`, `userName sw "a"`, `userName eq "a" or userName eq "b"`} {
		e := c.do(http.MethodGet, "/Users?filter="+url.QueryEscape(f), nil).want(t, http.StatusBadRequest).scimError(t)
		if e.ScimType != "invalidFilter" {
			t.Fatalf("filter %q: %+v", f, e)
		}
	}
}

func TestSCIMActiveFalseMarksInactive(t *testing.T) {
	s := startServer(t, Options{Members: 2})
	c := newSCIM(t, s)
	id := s.Members()[1].MemberID
	// Okta: replace without path.
	var u scimUserJSON
	c.do(http.MethodPatch, "/Users/"+id, map[string]any{
		"schemas":    []string{schemaPatch},
		"Operations": []map[string]any{{"op": "replace", "value": map[string]any{"active": false}}},
	}).want(t, http.StatusOK).decode(t, &u)
	if u.Active {
		t.Fatal("still active")
	}
	if m, _ := s.Member(id); !m.IsInactive || m.IsArchived {
		t.Fatalf("REST state %+v", m)
	}
	var p memberPage
	newREST(t, s).do(http.MethodGet, "/v2/members?limit=10", nil).want(t, http.StatusOK).decode(t, &p)
	for _, m := range p.Entries {
		if m.MemberID == id {
			t.Fatal("inactive member listed without includeInactive")
		}
	}
	// Entra: capitalised op, path, string boolean.
	c.do(http.MethodPatch, "/Users/"+id, map[string]any{
		"schemas":    []string{schemaPatch},
		"Operations": []map[string]any{{"op": "Replace", "path": "active", "value": "True"}},
	}).want(t, http.StatusOK)
	if m, _ := s.Member(id); m.IsInactive {
		t.Fatal("reactivation through SCIM failed")
	}
}

func TestSCIMPatchUserAttributes(t *testing.T) {
	s := startServer(t, Options{Members: 2})
	c := newSCIM(t, s)
	id := s.Members()[1].MemberID
	var u scimUserJSON
	c.do(http.MethodPatch, "/Users/"+id, map[string]any{
		"schemas": []string{schemaPatch},
		"Operations": []map[string]any{
			{"op": "replace", "path": "name.givenName", "value": "Dorothy"},
			{"op": "replace", "path": "userType", "value": "Analyst Creator"},
			{"op": "add", "path": "externalId", "value": "00u1"},
			{"op": "replace", "path": "urn:sigma:scim:schemas:extension:2.0:User:userKind", "value": "embed"},
		},
	}).want(t, http.StatusOK).decode(t, &u)
	m, _ := s.Member(id)
	if u.Name.GivenName != "Dorothy" || u.UserType != "Analyst Creator" || m.MemberType != "Analyst Creator" || m.ExternalID != "00u1" || m.UserKind != "embed" {
		t.Fatalf("patched %+v / %+v", u, m)
	}
	// A failing operation leaves everything unchanged.
	e := c.do(http.MethodPatch, "/Users/"+id, map[string]any{
		"Operations": []map[string]any{
			{"op": "replace", "path": "name.givenName", "value": "Mary"},
			{"op": "replace", "path": "userType", "value": nil},
		},
	}).want(t, http.StatusBadRequest).scimError(t)
	if e.Detail != "Expecting string at userType but instead got: null" {
		t.Fatalf("detail %q", e.Detail)
	}
	if m, _ := s.Member(id); m.FirstName != "Dorothy" {
		t.Fatalf("partial patch applied: %+v", m)
	}
	c.do(http.MethodPatch, "/Users/unknown", map[string]any{"Operations": []map[string]any{{"op": "replace", "path": "active", "value": false}}}).
		want(t, http.StatusNotFound)
}

func TestSCIMReplaceUser(t *testing.T) {
	s := startServer(t, Options{Members: 2})
	c := newSCIM(t, s)
	var u scimUserJSON
	c.do(http.MethodPost, "/Users", newUserBody("put@example.com", "view")).want(t, http.StatusCreated).decode(t, &u)
	body := newUserBody("put@example.com", "essential")
	body["name"] = map[string]any{"givenName": "P", "familyName": "Q"}
	body["active"] = false
	c.do(http.MethodPut, "/Users/"+u.ID, body).want(t, http.StatusOK).decode(t, &u)
	m, _ := s.Member(u.ID)
	if u.UserType != "essential" || m.MemberType != "Essential" || m.FirstName != "P" || !m.IsInactive {
		t.Fatalf("after PUT %+v / %+v", u, m)
	}
	delete(body, "userType")
	e := c.do(http.MethodPut, "/Users/"+u.ID, body).want(t, http.StatusBadRequest).scimError(t)
	if e.Detail != "Expecting string at userType but instead got: null" {
		t.Fatalf("detail %q", e.Detail)
	}
	c.do(http.MethodPut, "/Users/"+u.ID, newUserBody(s.Members()[0].Email, "view")).want(t, http.StatusConflict)
}

func TestSCIMDeleteUserDeactivates(t *testing.T) {
	s := startServer(t, Options{Members: 2})
	c := newSCIM(t, s)
	var u scimUserJSON
	c.do(http.MethodPost, "/Users", newUserBody("del@example.com", "view")).want(t, http.StatusCreated).decode(t, &u)
	c.do(http.MethodDelete, "/Users/"+u.ID, nil).want(t, http.StatusNoContent)
	if m, ok := s.Member(u.ID); !ok || !m.IsArchived {
		t.Fatalf("after SCIM delete %+v %v", m, ok)
	}
	c.do(http.MethodGet, "/Users/"+u.ID, nil).want(t, http.StatusNotFound)
	c.do(http.MethodDelete, "/Users/"+u.ID, nil).want(t, http.StatusNotFound)
	// Provisioning the same userName again reactivates the same member.
	var again scimUserJSON
	c.do(http.MethodPost, "/Users", newUserBody("del@example.com", "pro")).want(t, http.StatusCreated).decode(t, &again)
	if again.ID != u.ID || again.UserType != "pro" {
		t.Fatalf("re-provisioned %+v, want id %s", again, u.ID)
	}
	if m, _ := s.Member(u.ID); m.IsArchived {
		t.Fatal("still archived")
	}
}

type scimGroupJSON struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	Members     []struct {
		Value   string `json:"value"`
		Display string `json:"display"`
	} `json:"members"`
}

func (g scimGroupJSON) memberIDs() []string {
	var out []string
	for _, m := range g.Members {
		out = append(out, m.Value)
	}
	return out
}

func TestSCIMGroupsAreTeams(t *testing.T) {
	s := startServer(t, Options{Members: 5})
	c := newSCIM(t, s)
	ms := s.Members()
	a, b, d := ms[1].MemberID, ms[2].MemberID, ms[3].MemberID
	var g scimGroupJSON
	r := c.do(http.MethodPost, "/Groups", map[string]any{"schemas": []string{SchemaGroup}, "displayName": "Finance", "members": []any{}}).want(t, http.StatusCreated)
	r.decode(t, &g)
	if tm, ok := s.Team(g.ID); !ok || tm.Name != "Finance" {
		t.Fatalf("team for group %s: %+v", r.body, tm)
	}
	c.do(http.MethodPost, "/Groups", map[string]any{"displayName": "finance"}).want(t, http.StatusConflict)

	patch := func(ops ...map[string]any) scimGroupJSON {
		t.Helper()
		var out scimGroupJSON
		c.do(http.MethodPatch, "/Groups/"+g.ID, map[string]any{"schemas": []string{schemaPatch}, "Operations": ops}).want(t, http.StatusOK).decode(t, &out)
		return out
	}
	got := patch(map[string]any{"op": "add", "path": "members", "value": []map[string]any{{"value": a}, {"value": b}, {"value": d}}})
	if !slices.Equal(got.memberIDs(), []string{a, b, d}) || got.Members[0].Display != ms[1].Email {
		t.Fatalf("after add %+v", got)
	}
	got = patch(map[string]any{"op": "remove", "path": `members[value eq "` + a + `"]`})
	if !slices.Equal(got.memberIDs(), []string{b, d}) {
		t.Fatalf("after okta remove %v", got.memberIDs())
	}
	got = patch(map[string]any{"op": "Remove", "path": "members", "value": []map[string]any{{"value": b}}})
	if !slices.Equal(got.memberIDs(), []string{d}) {
		t.Fatalf("after entra remove %v", got.memberIDs())
	}
	got = patch(map[string]any{"op": "replace", "path": "members", "value": []map[string]any{{"value": a}}})
	if !slices.Equal(got.memberIDs(), []string{a}) {
		t.Fatalf("after replace %v", got.memberIDs())
	}
	got = patch(map[string]any{"op": "replace", "value": map[string]any{"id": g.ID, "displayName": "Finance & Ops"}})
	if tm, _ := s.Team(g.ID); got.DisplayName != "Finance & Ops" || tm.Name != "Finance & Ops" || !slices.Equal(tm.Members, []string{a}) {
		t.Fatalf("after rename %+v / %+v", got, tm)
	}

	// Inactive members cannot join, and the whole request fails.
	c.do(http.MethodPatch, "/Users/"+d, map[string]any{"Operations": []map[string]any{{"op": "replace", "path": "active", "value": false}}}).want(t, http.StatusOK)
	c.do(http.MethodPatch, "/Groups/"+g.ID, map[string]any{"Operations": []map[string]any{
		{"op": "replace", "path": "displayName", "value": "Renamed"},
		{"op": "add", "path": "members", "value": []map[string]any{{"value": d}}},
	}}).want(t, http.StatusBadRequest)
	if tm, _ := s.Team(g.ID); tm.Name != "Finance & Ops" || len(tm.Members) != 1 {
		t.Fatalf("failed patch changed the team %+v", tm)
	}

	// Deprovisioned users can still be removed through SCIM.
	c.do(http.MethodPatch, "/Groups/"+g.ID, map[string]any{"Operations": []map[string]any{{"op": "add", "path": "members", "value": []map[string]any{{"value": b}}}}}).want(t, http.StatusOK)
	c.do(http.MethodDelete, "/Users/"+b, nil).want(t, http.StatusNoContent)
	got = patch(map[string]any{"op": "remove", "path": `members[value eq "` + b + `"]`})
	if !slices.Equal(got.memberIDs(), []string{a}) {
		t.Fatalf("after removing a deprovisioned user %v", got.memberIDs())
	}
	b = ms[4].MemberID

	var l scimList[scimGroupJSON]
	c.do(http.MethodGet, "/Groups?filter="+url.QueryEscape(`displayName eq "finance & ops"`)+"&excludedAttributes=members", nil).want(t, http.StatusOK).decode(t, &l)
	if l.TotalResults != 1 || l.Resources[0].ID != g.ID || l.Resources[0].Members != nil {
		t.Fatalf("group filter %+v", l)
	}
	c.do(http.MethodGet, "/Groups?filter="+url.QueryEscape(`members eq "x"`), nil).want(t, http.StatusBadRequest)

	c.do(http.MethodPut, "/Groups/"+g.ID, map[string]any{"displayName": "FinOps", "members": []map[string]any{{"value": a}, {"value": b}}}).want(t, http.StatusOK).decode(t, &got)
	if got.DisplayName != "FinOps" || !slices.Equal(got.memberIDs(), []string{a, b}) {
		t.Fatalf("after PUT %+v", got)
	}
	// The user's groups show the team.
	var u scimUserJSON
	c.do(http.MethodGet, "/Users/"+b, nil).want(t, http.StatusOK).decode(t, &u)
	if len(u.Groups) != 1 || u.Groups[0].Value != g.ID {
		t.Fatalf("user groups %+v", u.Groups)
	}
	c.do(http.MethodDelete, "/Groups/"+g.ID, nil).want(t, http.StatusNoContent)
	newREST(t, s).do(http.MethodGet, "/v2/teams/"+g.ID, nil).want(t, http.StatusNotFound)
	c.do(http.MethodGet, "/Groups/"+g.ID, nil).want(t, http.StatusNotFound)
}

func TestSCIMAcceptsRequestsWithoutContentType(t *testing.T) {
	s := startServer(t, Options{})
	b, _ := json.Marshal(newUserBody("okta@example.com", "view"))
	send(t, http.MethodPost, s.SCIMURL()+"/Users", DefaultSCIMToken, "", bytes.NewReader(b)).want(t, http.StatusCreated)
}

func TestSCIMDiscoveryEndpoints(t *testing.T) {
	s := startServer(t, Options{})
	c := newSCIM(t, s)
	r := c.do(http.MethodGet, "/ServiceProviderConfig", nil).want(t, http.StatusOK)
	if ct := r.header.Get("Content-Type"); ct != "application/scim+json" {
		t.Fatalf("content type %q", ct)
	}
	for _, p := range []string{"/ResourceTypes", "/Schemas"} {
		var l scimList[map[string]any]
		c.do(http.MethodGet, p, nil).want(t, http.StatusOK).decode(t, &l)
		if l.TotalResults == 0 || len(l.Resources) != l.TotalResults {
			t.Fatalf("%s: %+v", p, l)
		}
	}
	for _, p := range []string{"/ServiceProviderConfig", "/ResourceTypes", "/Schemas"} {
		c.do(http.MethodPost, p, map[string]any{}).want(t, http.StatusMethodNotAllowed)
	}
}
