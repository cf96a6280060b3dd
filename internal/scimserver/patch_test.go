package scimserver

import (
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/mapping"
)

func ops(t *testing.T, body string) []patchOp {
	t.Helper()
	r := httptest.NewRequest("PATCH", "/Users/m1", strings.NewReader(body))
	o, err := parsePatch(r)
	if err != nil {
		t.Fatalf("parsePatch(%s): %v", body, err)
	}
	return o
}

// patchUser applies a PATCH body to the test user and maps the result back.
func patchUser(t *testing.T, body string) (directory.User, error) {
	t.Helper()
	m := testUser()
	delete(m[mapping.SchemaSigmaUser].(map[string]any), "accountType")
	up := userPatcher{id: "m1"}
	for _, op := range ops(t, body) {
		if err := up.apply(m, op); err != nil {
			return directory.User{}, err
		}
	}
	norm, err := mapping.Normalize(mapping.User, m)
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
		{"unknown path", `{"Operations":[{"op":"replace","path":"favouriteColour","value":"x"}]}`, typeInvalidPath},
		{"unknown key without path", `{"Operations":[{"op":"replace","value":{"favouriteColour":"x"}}]}`, typeInvalidPath},
		{"change id", `{"Operations":[{"op":"replace","path":"id","value":"other"}]}`, typeMutability},
		{"write groups", `{"Operations":[{"op":"add","path":"groups","value":[{"value":"t2"}]}]}`, typeMutability},
		{"remove without path", `{"Operations":[{"op":"remove"}]}`, typeNoTarget},
		{"non-object without path", `{"Operations":[{"op":"replace","value":"x"}]}`, typeInvalidValue},
		{"bad value path", `{"Operations":[{"op":"replace","path":"emails[type eq]","value":"x"}]}`, typeInvalidPath},
		{"wrong active", `{"Operations":[{"op":"replace","path":"active","value":"maybe"}]}`, typeInvalidValue},
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
	ae, ok := toAPIError(err, "x")
	if !ok || ae.status != 400 || ae.scimType != want || ae.detail == "" {
		t.Fatalf("error %v, want 400 %s", err, want)
	}
}

func TestParsePatchErrors(t *testing.T) {
	for body, want := range map[string]string{
		`{`:                 typeInvalidSyntax,
		`[]`:                typeInvalidSyntax,
		`{"schemas":[]}`:    typeInvalidSyntax,
		`{"Operations":{}}`: typeInvalidSyntax,
		`{"Operations":[]}`: typeInvalidValue,
		`{"Operations":[{"op":"move","path":"a"}]}`:        typeInvalidSyntax,
		`{"Operations":[{"op":"add","path":"a"}]}`:         typeInvalidValue,
		`{"Operations":[{"op":"add","path":5,"value":1}]}`: typeInvalidPath,
	} {
		_, err := parsePatch(httptest.NewRequest("PATCH", "/", strings.NewReader(body)))
		checkScimType(t, err, want)
	}
}

func TestGroupOps(t *testing.T) {
	for _, c := range []struct {
		name, body string
		want       groupChange
	}{
		{"okta rename without path", `{"Operations":[{"op":"replace","value":{"id":"g1","displayName":"New"}}]}`,
			groupChange{name: ptr("New")}},
		{"okta add members", `{"Operations":[{"op":"add","path":"members","value":[{"value":"a","display":"a@x.io"},{"value":"b"}]}]}`,
			groupChange{add: []string{"a", "b"}}},
		{"okta remove by filter", `{"Operations":[{"op":"remove","path":"members[value eq \"a\"]"}]}`,
			groupChange{remove: []string{"a"}}},
		{"remove by filter with or", `{"Operations":[{"op":"remove","path":"members[value eq \"a\" or value eq \"b\"]"}]}`,
			groupChange{remove: []string{"a", "b"}}},
		{"entra remove with value list", `{"Operations":[{"op":"Remove","path":"members","value":[{"value":"a"}]}]}`,
			groupChange{remove: []string{"a"}}},
		{"remove with empty list is a no-op", `{"Operations":[{"op":"Remove","path":"members","value":[]}]}`,
			groupChange{}},
		{"replace members then add", `{"Operations":[{"op":"replace","path":"members","value":[{"value":"a"}]},{"op":"add","path":"members","value":[{"value":"b"}]}]}`,
			groupChange{replace: []string{"a", "b"}, replaceSet: true}},
		{"replace members with empty list clears", `{"Operations":[{"op":"replace","path":"members","value":[]}]}`,
			groupChange{replaceSet: true}},
		{"add then remove the same member", `{"Operations":[{"op":"add","path":"members","value":[{"value":"a"}]},{"op":"remove","path":"members[value eq \"a\"]"}]}`,
			groupChange{remove: []string{"a"}}},
		{"jumpcloud replace displayName with path", `{"Operations":[{"op":"replace","path":"displayName","value":"JC"}]}`,
			groupChange{name: ptr("JC")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			gc, err := parseGroupOps("g1", ops(t, c.body))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*gc, c.want) {
				t.Errorf("got %+v, want %+v", *gc, c.want)
			}
		})
	}
	for _, c := range []struct{ name, body, scimType string }{
		{"remove members without value never empties the team", `{"Operations":[{"op":"remove","path":"members"}]}`, typeInvalidValue},
		{"remove members with null value", `{"Operations":[{"op":"remove","path":"members","value":null}]}`, typeInvalidValue},
		{"remove displayName", `{"Operations":[{"op":"remove","path":"displayName"}]}`, typeMutability},
		{"change id", `{"Operations":[{"op":"replace","value":{"id":"other"}}]}`, typeMutability},
		{"unknown attribute", `{"Operations":[{"op":"replace","path":"owner","value":"x"}]}`, typeInvalidPath},
		{"add with a member filter", `{"Operations":[{"op":"add","path":"members[value eq \"a\"]","value":{"value":"a"}}]}`, typeInvalidPath},
		{"nested group", `{"Operations":[{"op":"add","path":"members","value":[{"value":"g2","type":"Group"}]}]}`, typeInvalidValue},
		{"empty displayName", `{"Operations":[{"op":"replace","path":"displayName","value":" "}]}`, typeInvalidValue},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseGroupOps("g1", ops(t, c.body))
			checkScimType(t, err, c.scimType)
		})
	}
}

func ptr(s string) *string { return &s }
