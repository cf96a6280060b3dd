package filter

import (
	"errors"
	"reflect"
	"testing"

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
		expr, err := Parse(mapping.User, f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if got := Match(mapping.User, expr, u); got != want {
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
		_, err := Parse(mapping.User, f)
		var me *mapping.Error
		if !errors.As(err, &me) || me.ScimType != "invalidFilter" || me.Detail == "" {
			t.Errorf("%s: err = %v, want 400 invalidFilter", f, err)
		}
	}
}

func TestPlanLookups(t *testing.T) {
	for f, want := range map[string][]Lookup{
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
		expr, err := Parse(mapping.User, f)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := Plan(mapping.User, expr)
		if ok != (want != nil) || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: plan = %v,%v, want %v", f, got, ok, want)
		}
	}
	expr, _ := Parse(mapping.Group, `displayName eq "Eng"`)
	if got, ok := Plan(mapping.Group, expr); !ok || got[0] != (Lookup{directory.AttrDisplayName, "Eng"}) {
		t.Errorf("group displayName plan = %v", got)
	}
}
