package scimserver

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/mapping"
)

func TestRewriteValuePathSubAttr(t *testing.T) {
	for in, want := range map[string]string{
		`emails[type eq "work"].value eq "x@y.z"`:                   `emails[value eq "x@y.z" and type eq "work"]`,
		`emails[type eq "w]ork"].value eq "a]b" and active eq true`: `emails[value eq "a]b" and type eq "w]ork"] and active eq true`,
		`emails[type eq "work"].value pr`:                           `emails[value pr and type eq "work"]`,
		`emails[type eq "work" or primary eq true].value sw "a"`:    `(emails[type eq "work" or primary eq true] and emails[value sw "a"])`,
		`userName eq "a[b].c"`:                                      `userName eq "a[b].c"`,
		`emails[type eq "work"]`:                                    `emails[type eq "work"]`,
	} {
		got, err := rewriteValuePathSubAttr(in)
		if err != nil || got != want {
			t.Errorf("rewrite(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
}

func testUser() map[string]any {
	return mapping.UserToSCIM(directory.User{
		ID: "m1", UserName: "Ada@Example.com", ExternalID: "Ext-1", GivenName: "Ada", FamilyName: "Lovelace",
		Active: true, AccountType: "Creator",
		Emails: []directory.Email{{Value: "ada@example.com", Type: "work", Primary: true}, {Value: "ada@home.org", Type: "home"}},
		Groups: []directory.Ref{{ID: "t1", Display: "Eng"}},
	}, "")
}

func TestFilterEval(t *testing.T) {
	u := testUser()
	u["meta"] = map[string]any{"resourceType": "User", "created": "2026-01-02T03:04:05Z"}
	for f, want := range map[string]bool{
		`userName eq "ada@example.com"`:                     true, // case-insensitive
		`USERNAME Eq "ADA@EXAMPLE.COM"`:                     true,
		`userName ne "ada@example.com"`:                     false,
		`userName co "@exam"`:                               true,
		`userName sw "ada"`:                                 true,
		`userName ew ".com"`:                                true,
		`userName gt "ab"`:                                  true,
		`userName lt "ab"`:                                  false,
		`externalId eq "ext-1"`:                             false, // caseExact
		`externalId eq "Ext-1"`:                             true,
		`active eq true`:                                    true,
		`active eq false`:                                   false,
		`title pr`:                                          false,
		`name.familyName pr`:                                true,
		`emails[type eq "work"].value eq "ada@example.com"`: true,
		`emails[type eq "home"].value eq "ada@example.com"`: false,
		`emails[type eq "home" and value ew "home.org"]`:    true,
		`emails.value eq "ada@home.org"`:                    true,
		`emails eq "ada@home.org"`:                          true,
		`not (userName eq "ada@example.com")`:               false,
		`userName eq "x" or (active eq true and name.givenName sw "A")`:      true,
		`meta.created gt "2026-01-01T00:00:00Z"`:                             true,
		`meta.created lt "2026-01-01T00:00:00+01:00"`:                        false,
		`groups.display eq "eng"`:                                            true,
		`userType eq "creator"`:                                              true,
		`urn:sigma:scim:schemas:extension:2.0:User:accountType eq "Creator"`: true,
		`urn:ietf:params:scim:schemas:core:2.0:User:userName sw "ada"`:       true,
		`userName eq "a \"quoted\" name"`:                                    false,
	} {
		expr, err := parseFilter(mapping.User, f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if got := (evaluator{kind: mapping.User}).match(expr, u); got != want {
			t.Errorf("%s = %v, want %v", f, got, want)
		}
	}
}

func TestFilterInvalid(t *testing.T) {
	for _, f := range []string{
		`userName eq`, `userName xx "a"`, `nosuch eq "a"`, `active gt true`, `active eq "yes"`,
		`meta.created gt "yesterday"`, `emails[nosuch eq "x"]`, `userName eq "a" and`, `name eq "x"`,
		`emails[type eq "work"].value eq`, `userName eq 5`,
	} {
		_, err := parseFilter(mapping.User, f)
		var ae *apiError
		if !errors.As(err, &ae) || ae.status != 400 || ae.scimType != typeInvalidFilter || ae.detail == "" {
			t.Errorf("%s: err = %v, want 400 invalidFilter", f, err)
		}
	}
}

func TestPlanLookups(t *testing.T) {
	for f, want := range map[string][]lookup{
		`userName eq "a@b.c"`:                     {{directory.AttrUserName, "a@b.c"}},
		`userName eq "a@b.c" and active eq true`:  {{directory.AttrUserName, "a@b.c"}},
		`active eq true and externalId eq "x"`:    {{directory.AttrExternalID, "x"}},
		`id eq "m1" or userName eq "a@b.c"`:       {{directory.AttrID, "m1"}, {directory.AttrUserName, "a@b.c"}},
		`emails[type eq "work"].value eq "a@b.c"`: {{directory.AttrEmail, "a@b.c"}},
		`emails.value eq "a@b.c"`:                 {{directory.AttrEmail, "a@b.c"}},
		`emails[value eq "a@b.c"]`:                {{directory.AttrEmail, "a@b.c"}},
		`userName sw "a"`:                         nil,
		`userName eq "a@b.c" or active eq true`:   nil,
		`not (userName eq "a@b.c")`:               nil,
		`displayName eq "Ada"`:                    nil, // not indexed for users
	} {
		expr, err := parseFilter(mapping.User, f)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := planLookups(mapping.User, expr)
		if ok != (want != nil) || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: plan = %v,%v, want %v", f, got, ok, want)
		}
	}
	expr, _ := parseFilter(mapping.Group, `displayName eq "Eng"`)
	if got, ok := planLookups(mapping.Group, expr); !ok || got[0] != (lookup{directory.AttrDisplayName, "Eng"}) {
		t.Errorf("group displayName plan = %v", got)
	}
}

func TestSortAndProject(t *testing.T) {
	mk := func(id, userName, family string) map[string]any {
		return mapping.UserToSCIM(directory.User{ID: id, UserName: userName, GivenName: "G", FamilyName: family}, "")
	}
	res := []map[string]any{mk("3", "b@x.io", "Zed"), mk("1", "C@x.io", "Alpha"), mk("2", "a@x.io", "Alpha")}
	byFamily, _ := mapping.ResolvePath(mapping.User, "name.familyName")
	sortResources(res, &byFamily, false)
	if ids := []any{res[0]["id"], res[1]["id"], res[2]["id"]}; !reflect.DeepEqual(ids, []any{"1", "2", "3"}) {
		t.Errorf("by familyName: %v", ids)
	}
	byUser, _ := mapping.ResolvePath(mapping.User, "userName")
	sortResources(res, &byUser, true)
	if ids := []any{res[0]["id"], res[1]["id"], res[2]["id"]}; !reflect.DeepEqual(ids, []any{"1", "3", "2"}) {
		t.Errorf("by userName descending: %v", ids)
	}
	t1, _ := time.Parse(time.RFC3339, "2026-01-02T03:04:05Z")
	early := mapping.UserToSCIM(directory.User{ID: "9", UserName: "e@x.io", Created: t1}, "")
	late := mapping.UserToSCIM(directory.User{ID: "8", UserName: "l@x.io", Created: t1.Add(500 * time.Millisecond)}, "")
	byCreated, _ := mapping.ResolvePath(mapping.User, "meta.created")
	pair := []map[string]any{late, early}
	sortResources(pair, &byCreated, false)
	if pair[0]["id"] != "9" {
		t.Errorf("meta.created order: %v then %v", pair[0]["meta"], pair[1]["meta"])
	}
	proj, _ := parseProjection(mapping.User, []string{"userName,name.givenName", "emails.value"}, nil)
	got := roundTripJSON(t, project(res[0], proj))
	want := roundTripJSON(t, map[string]any{
		"id": "1", "schemas": res[0]["schemas"], "userName": "C@x.io", "name": map[string]any{"givenName": "G"},
		"emails": []any{map[string]any{"value": "C@x.io"}},
	})
	if !reflect.DeepEqual(got, want) {
		t.Errorf("attributes: %v\nwant %v", got, want)
	}
	proj, _ = parseProjection(mapping.User, nil, []string{"emails", "id", "urn:sigma:scim:schemas:extension:2.0:User:userKind"})
	ex := project(res[0], proj)
	if _, ok := ex["emails"]; ok || ex["id"] != "1" {
		t.Errorf("excluded: %v", ex)
	}
	if ext := ex[mapping.SchemaSigmaUser].(map[string]any); ext["userKind"] != nil {
		t.Errorf("userKind not excluded: %v", ext)
	}
	if res[0]["emails"] == nil || res[0][mapping.SchemaSigmaUser].(map[string]any)["userKind"] == nil {
		t.Error("projection modified its input")
	}
}

func TestResourceLabel(t *testing.T) {
	for path, want := range map[string]string{
		"/scim/v2/Users/abc":          "users",
		"/Groups/my-users-team":       "groups",
		"/groups/users":               "groups",
		"/ServiceProviderConfig":      "discovery",
		"/scim/v2/schemas/urn:x":      "discovery",
		"/scim/v2/Me":                 "other",
		"/scim/v2/usersx/../../admin": "other",
	} {
		if got := resourceLabel(path); got != want {
			t.Errorf("resourceLabel(%q) = %q, want %q", path, got, want)
		}
	}
}
