package patch

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/mapping"
)

func decode(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return m
}

func ops(t *testing.T, body string) []Op {
	t.Helper()
	o, err := Parse(decode(t, body))
	if err != nil {
		t.Fatalf("Parse(%s): %v", body, err)
	}
	return o
}

func testUser() map[string]any {
	return mapping.UserToSCIM(directory.User{
		ID: "m1", UserName: "Ada@Example.com", ExternalID: "Ext-1", GivenName: "Ada", FamilyName: "Lovelace",
		Active: true, AccountType: "Creator",
		Emails: []directory.Email{{Value: "ada@example.com", Type: "work", Primary: true}, {Value: "ada@home.org", Type: "home"}},
		Groups: []directory.Ref{{ID: "t1", Display: "Eng"}},
	}, "")
}

// patchUser applies a PATCH body to the test user and maps the result back.
func patchUser(t *testing.T, body string) (directory.User, error) {
	t.Helper()
	m := testUser()
	delete(m[mapping.SchemaSigmaUser].(map[string]any), "accountType")
	if _, err := User(m, "m1", ops(t, body)); err != nil {
		return directory.User{}, err
	}
	norm, _, err := mapping.Normalize(mapping.User, m)
	if err != nil {
		return directory.User{}, err
	}
	return mapping.UserFromSCIM(norm, mapping.UserOptions{UserNameFromEmail: true})
}

func TestUserPatchForms(t *testing.T) {
	for _, c := range []struct {
		name, body string
		check      func(u directory.User) bool
	}{
		{"okta deactivate without path", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`,
			func(u directory.User) bool { return !u.Active && u.GivenName == "Ada" }},
		{"entra string boolean, capitalised op", `{"Operations":[{"op":"Replace","path":"active","value":"False"}]}`,
			func(u directory.User) bool { return !u.Active }},
		{"entra reactivate", `{"Operations":[{"op":"Replace","path":"active","value":"True"}]}`,
			func(u directory.User) bool { return u.Active }},
		{"dotted and URN keys without path", `{"Operations":[{"op":"replace","value":{"name.givenName":"Augusta","urn:sigma:scim:schemas:extension:2.0:User:accountType":"Viewer","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"Math"}}]}`,
			func(u directory.User) bool {
				return u.GivenName == "Augusta" && u.AccountType == "Viewer" && u.FamilyName == "Lovelace"
			}},
		{"extension object without path", `{"Operations":[{"op":"add","value":{"urn:sigma:scim:schemas:extension:2.0:User":{"userKind":"guest"}}}]}`,
			func(u directory.User) bool { return u.UserKind == "guest" && u.AccountType == "Creator" }},
		{"one op per attribute with paths", `{"Operations":[{"op":"replace","path":"name.familyName","value":"Byron"},{"op":"replace","path":"displayName","value":"Ada Byron"},{"op":"replace","path":"userType","value":"Admin"}]}`,
			func(u directory.User) bool {
				return u.FamilyName == "Byron" && u.DisplayName == "Ada Byron" && u.AccountType == "Admin"
			}},
		{"entra work email value path", `{"Operations":[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"ada.new@example.com"}]}`,
			func(u directory.User) bool {
				return u.Emails[0].Value == "ada.new@example.com" && u.Emails[1].Value == "ada@home.org"
			}},
		{"unknown path and value key are ignored", `{"Operations":[{"op":"replace","path":"favouriteColour","value":"x"},{"op":"replace","value":{"urn:example:custom:2.0:User:badge":"7","active":false}}]}`,
			func(u directory.User) bool { return !u.Active && u.GivenName == "Ada" }},
		{"value path that matches nothing creates the element", `{"Operations":[{"op":"add","path":"emails[type eq \"other\"].value","value":"o@example.com"}]}`,
			func(u directory.User) bool {
				return len(u.Emails) == 3 && u.Emails[2] == directory.Email{Value: "o@example.com", Type: "other"}
			}},
		{"remove by value path", `{"Operations":[{"op":"remove","path":"emails[type eq \"home\"]"}]}`,
			func(u directory.User) bool { return len(u.Emails) == 1 }},
		{"entra manager bare string is accepted and dropped", `{"Operations":[{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"7f3c"}]}`,
			func(u directory.User) bool { return u.GivenName == "Ada" }},
		{"null and empty values remove", `{"Operations":[{"op":"replace","path":"name.givenName","value":""},{"op":"replace","path":"title","value":null},{"op":"replace","path":"externalId","value":null}]}`,
			func(u directory.User) bool { return u.GivenName == "Ada" && u.ExternalID == "" }}, // a missing given name is completed from displayName
		{"add to emails merges on value", `{"Operations":[{"op":"add","path":"emails","value":[{"value":"ADA@example.com","type":"work","primary":true}]}]}`,
			func(u directory.User) bool { return len(u.Emails) == 2 && u.Emails[0].Value == "ADA@example.com" }},
		{"core schema object without path", `{"Operations":[{"op":"replace","value":{"urn:ietf:params:scim:schemas:core:2.0:User":{"active":false,"name":{"familyName":"King"}}}}]}`,
			func(u directory.User) bool { return !u.Active && u.FamilyName == "King" && u.GivenName == "Ada" }},
		{"id echoed unchanged, meta and schemas ignored", `{"Operations":[{"op":"replace","value":{"id":"m1","schemas":["x"],"meta":{"version":"1"},"active":false}}]}`,
			func(u directory.User) bool { return !u.Active }},
	} {
		t.Run(c.name, func(t *testing.T) {
			u, err := patchUser(t, c.body)
			if err != nil {
				t.Fatal(err)
			}
			if !c.check(u) {
				t.Errorf("unexpected result %+v", u)
			}
		})
	}
}

func TestUserPatchErrors(t *testing.T) {
	for _, c := range []struct{ name, body, scimType string }{
		{"change id", `{"Operations":[{"op":"replace","path":"id","value":"other"}]}`, "mutability"},
		{"write groups", `{"Operations":[{"op":"add","path":"groups","value":[{"value":"t2"}]}]}`, "mutability"},
		{"remove without path", `{"Operations":[{"op":"remove"}]}`, "noTarget"},
		{"non-object without path", `{"Operations":[{"op":"replace","value":"x"}]}`, "invalidValue"},
		{"bad value path", `{"Operations":[{"op":"replace","path":"emails[type eq]","value":"x"}]}`, "invalidPath"},
		{"replace on a value path that matches nothing", `{"Operations":[{"op":"replace","path":"emails[type eq \"other\"].value","value":"o@example.com"}]}`, "noTarget"},
		{"wrong active", `{"Operations":[{"op":"replace","path":"active","value":"maybe"}]}`, "invalidValue"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := patchUser(t, c.body)
			checkScimType(t, err, c.scimType)
		})
	}
}

func checkScimType(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", want)
	}
	var me *mapping.Error
	if !errors.As(err, &me) || me.ScimType != want || me.Detail == "" {
		t.Fatalf("error %v, want 400 %s", err, want)
	}
}

func TestParsePatchErrors(t *testing.T) {
	for body, want := range map[string]string{
		`{`:                 "invalidSyntax",
		`[]`:                "invalidSyntax",
		`{"schemas":[]}`:    "invalidSyntax",
		`{"Operations":{}}`: "invalidSyntax",
		`{"Operations":[]}`: "invalidValue",
		`{"Operations":[{"op":"move","path":"a"}]}`:        "invalidSyntax",
		`{"Operations":[{"op":"add","path":"a"}]}`:         "invalidValue",
		`{"Operations":[{"op":"add","path":5,"value":1}]}`: "invalidPath",
	} {
		var m map[string]any
		if json.Unmarshal([]byte(body), &m) != nil {
			continue // not JSON: the edge's concern
		}
		_, err := Parse(m)
		checkScimType(t, err, want)
	}
}

func TestGroupOps(t *testing.T) {
	for _, c := range []struct {
		name, body string
		want       GroupChange
	}{
		{"okta rename without path", `{"Operations":[{"op":"replace","value":{"id":"g1","displayName":"New"}}]}`,
			GroupChange{Name: ptr("New")}},
		{"okta add members", `{"Operations":[{"op":"add","path":"members","value":[{"value":"a","display":"a@x.io"},{"value":"b"}]}]}`,
			GroupChange{Add: []string{"a", "b"}}},
		{"okta remove by filter", `{"Operations":[{"op":"remove","path":"members[value eq \"a\"]"}]}`,
			GroupChange{Remove: []string{"a"}}},
		{"remove by filter with or", `{"Operations":[{"op":"remove","path":"members[value eq \"a\" or value eq \"b\"]"}]}`,
			GroupChange{Remove: []string{"a", "b"}}},
		{"entra remove with value list", `{"Operations":[{"op":"Remove","path":"members","value":[{"value":"a"}]}]}`,
			GroupChange{Remove: []string{"a"}}},
		{"remove with empty list is a no-op", `{"Operations":[{"op":"Remove","path":"members","value":[]}]}`,
			GroupChange{}},
		{"replace members then add", `{"Operations":[{"op":"replace","path":"members","value":[{"value":"a"}]},{"op":"add","path":"members","value":[{"value":"b"}]}]}`,
			GroupChange{Replace: []string{"a", "b"}, ReplaceSet: true}},
		{"replace members with empty list clears", `{"Operations":[{"op":"replace","path":"members","value":[]}]}`,
			GroupChange{ReplaceSet: true}},
		{"add then remove the same member", `{"Operations":[{"op":"add","path":"members","value":[{"value":"a"}]},{"op":"remove","path":"members[value eq \"a\"]"}]}`,
			GroupChange{Remove: []string{"a"}}},
		{"remove members without value removes them all (RFC 7644 3.5.2.2)", `{"Operations":[{"op":"add","path":"members","value":[{"value":"a"}]},{"op":"remove","path":"members"}]}`,
			GroupChange{Replace: []string{}, ReplaceSet: true}},
		{"remove members with null value removes them all", `{"Operations":[{"op":"remove","path":"members","value":null}]}`,
			GroupChange{Replace: []string{}, ReplaceSet: true}},
		{"unknown attribute is ignored", `{"Operations":[{"op":"replace","path":"owner","value":"x"},{"op":"replace","value":{"displayName":"N","urn:example:custom:2.0:Group:cost":"1"}}]}`,
			GroupChange{Name: ptr("N"), Ignored: []string{"owner", "urn:example:custom:2.0:Group:cost"}}},
		{"jumpcloud replace displayName with path", `{"Operations":[{"op":"replace","path":"displayName","value":"JC"}]}`,
			GroupChange{Name: ptr("JC")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			gc, err := Group("g1", ops(t, c.body))
			if err != nil {
				t.Fatal(err)
			}
			got := *gc
			got.members = 0
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
	for _, c := range []struct{ name, body, scimType string }{
		{"remove displayName", `{"Operations":[{"op":"remove","path":"displayName"}]}`, "mutability"},
		{"change id", `{"Operations":[{"op":"replace","value":{"id":"other"}}]}`, "mutability"},
		{"add with a member filter", `{"Operations":[{"op":"add","path":"members[value eq \"a\"]","value":{"value":"a"}}]}`, "invalidPath"},
		{"nested group", `{"Operations":[{"op":"add","path":"members","value":[{"value":"g2","type":"Group"}]}]}`, "invalidValue"},
		{"empty displayName", `{"Operations":[{"op":"replace","path":"displayName","value":" "}]}`, "invalidValue"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Group("g1", ops(t, c.body))
			checkScimType(t, err, c.scimType)
		})
	}
}

func ptr(s string) *string { return &s }
