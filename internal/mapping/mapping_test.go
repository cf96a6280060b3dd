package mapping

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/scimbridge/scim-bridge/internal/directory"
)

type inCase struct {
	Name    string          `json:"name"`
	Options UserOptions     `json:"options"`
	SCIM    map[string]any  `json:"scim"`
	Model   json.RawMessage `json:"model"`
	Error   string          `json:"error"`
}

func loadCases[T any](t *testing.T, file string) []T {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var cases []T
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(cases) == 0 {
		t.Fatalf("%s: no cases", file)
	}
	return cases
}

func checkErr(t *testing.T, err error, want string) bool {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return false
	}
	var me *Error
	if !errors.As(err, &me) {
		t.Fatalf("error = %v, want a *mapping.Error with scimType %s", err, want)
	}
	if me.ScimType != want {
		t.Fatalf("scimType = %s (%s), want %s", me.ScimType, me.Detail, want)
	}
	if me.Detail == "" {
		t.Fatal("error without detail")
	}
	return true
}

func TestUserFromSCIMGolden(t *testing.T) {
	for _, c := range loadCases[inCase](t, "users_in.json") {
		t.Run(c.Name, func(t *testing.T) {
			norm, _, err := Normalize(User, c.SCIM)
			var u directory.User
			if err == nil {
				u, err = UserFromSCIM(norm, c.Options)
			}
			if checkErr(t, err, c.Error) {
				return
			}
			var want directory.User
			if err := json.Unmarshal(c.Model, &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(u, want) {
				got, _ := json.Marshal(u)
				t.Errorf("got  %s\nwant %s", got, c.Model)
			}
		})
	}
}

type outCase struct {
	Name  string          `json:"name"`
	Base  string          `json:"base"`
	Model directory.User  `json:"model"`
	SCIM  json.RawMessage `json:"scim"`
}

// roundTrip makes Go values comparable with decoded golden JSON.
func roundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestUserToSCIMGolden(t *testing.T) {
	for _, c := range loadCases[outCase](t, "users_out.json") {
		t.Run(c.Name, func(t *testing.T) {
			got := roundTrip(t, UserToSCIM(c.Model, c.Base))
			var want any
			if err := json.Unmarshal(c.SCIM, &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				g, _ := json.MarshalIndent(got, "", "  ")
				t.Errorf("got %s\nwant %s", g, c.SCIM)
			}
			if _, ok := got.(map[string]any)["password"]; ok {
				t.Error("password rendered")
			}
			// What we render must map back to the same writable attributes.
			norm, _, err := Normalize(User, UserToSCIM(c.Model, c.Base))
			if err != nil {
				t.Fatal(err)
			}
			back, err := UserFromSCIM(norm, UserOptions{UserNameFromEmail: true})
			if err != nil {
				t.Fatal(err)
			}
			if back.UserName != c.Model.UserName || back.IdPUserName != c.Model.IdPUserName ||
				back.GivenName != c.Model.GivenName || back.FamilyName != c.Model.FamilyName ||
				back.Active != c.Model.Active || back.AccountType != c.Model.AccountType || back.ExternalID != c.Model.ExternalID {
				t.Errorf("round trip changed the user: %+v", back)
			}
		})
	}
}

type groupCase struct {
	Name  string          `json:"name"`
	SCIM  map[string]any  `json:"scim"`
	Model directory.Group `json:"model"`
	Error string          `json:"error"`
}

func TestGroupFromSCIMGolden(t *testing.T) {
	for _, c := range loadCases[groupCase](t, "groups.json") {
		t.Run(c.Name, func(t *testing.T) {
			norm, _, err := Normalize(Group, c.SCIM)
			var g directory.Group
			if err == nil {
				g, err = GroupFromSCIM(norm)
			}
			if checkErr(t, err, c.Error) {
				return
			}
			if !reflect.DeepEqual(g, c.Model) {
				t.Errorf("got %+v, want %+v", g, c.Model)
			}
		})
	}
}

func TestGroupToSCIM(t *testing.T) {
	g := directory.Group{ID: "t1", DisplayName: "Eng", Members: []directory.Ref{{ID: "m1", Display: "a@example.com"}}, Version: "3"}
	got := roundTrip(t, GroupToSCIM(g, "https://h/scim/v2")).(map[string]any)
	want := roundTrip(t, map[string]any{
		"schemas": []any{SchemaGroup}, "id": "t1", "displayName": "Eng",
		"members": []any{map[string]any{"value": "m1", "display": "a@example.com", "type": "User", "$ref": "https://h/scim/v2/Users/m1"}},
		"meta":    map[string]any{"resourceType": "Group", "version": `W/"3"`, "location": "https://h/scim/v2/Groups/t1"},
	})
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	empty := roundTrip(t, GroupToSCIM(directory.Group{ID: "t2", DisplayName: "E"}, "")).(map[string]any)
	if m, ok := empty["members"].([]any); !ok || len(m) != 0 {
		t.Errorf("members of an empty group = %v, want []", empty["members"])
	}
}

func TestAccountTypeRules(t *testing.T) {
	rules := AccountTypeRules{{Group: "Admins", AccountType: "admin"}, {Group: "Creators", AccountType: "creator"}}
	for _, c := range []struct {
		groups []string
		want   string
		ok     bool
	}{
		{[]string{"creators", "admins"}, "admin", true}, // order of rules, not of groups
		{[]string{"Creators"}, "creator", true},
		{[]string{"Sales"}, "", false},
		{nil, "", false},
	} {
		got, ok := rules.AccountTypeFor(c.groups)
		if got != c.want || ok != c.ok {
			t.Errorf("AccountTypeFor(%v) = %q,%v, want %q,%v", c.groups, got, ok, c.want, c.ok)
		}
	}
	if !rules.Covers("ADMINS") || rules.Covers("Sales") {
		t.Error("Covers is wrong")
	}
}

func TestResolvePath(t *testing.T) {
	for _, c := range []struct {
		k    Kind
		in   string
		want string
		ok   bool
	}{
		{User, "USERNAME", "userName", true},
		{User, "name.GIVENNAME", "name.givenName", true},
		{User, "urn:ietf:params:scim:schemas:core:2.0:User:emails.value", "emails.value", true},
		{User, "urn:sigma:scim:schemas:extension:2.0:User:accounttype", SchemaSigmaUser + ":accountType", true},
		{User, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", SchemaEnterprise + ":manager", true},
		{User, "meta.created", "meta.created", true},
		{User, "meta.nothing", "", false},
		{User, "nope", "", false},
		{User, "urn:x:y:attr", "", false},
		{Group, "members.value", "members.value", true},
		{Group, "userName", "", false},
	} {
		p, ok := ResolvePath(c.k, c.in)
		if ok != c.ok || ok && p.String() != c.want {
			t.Errorf("ResolvePath(%q) = %q,%v, want %q,%v", c.in, p.String(), ok, c.want, c.ok)
		}
	}
}
