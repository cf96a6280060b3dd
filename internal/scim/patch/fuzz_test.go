package patch

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/mapping"
)

// FuzzPatch: any PatchOp body applied to a user and to a group is either
// rejected with a *mapping.Error or yields a user the mapping accepts or
// rejects cleanly, and a group change within the bounds — never a panic.
// Seeds (testdata/fuzz/FuzzPatch) include 10,000 member values and a value
// path nested 100,000 deep.
func FuzzPatch(f *testing.F) {
	for _, s := range []string{
		`{"Operations":[{"op":"replace","value":{"active":false}}]}`,
		`{"Operations":[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"a@b.c"}]}`,
		`{"Operations":[{"op":"add","path":"members","value":[{"value":"a"},{"value":"b"}]}]}`,
		`{"Operations":[{"op":"remove","path":"members[value eq \"a\" or value eq \"b\"]"}]}`,
		`{"Operations":[{"op":"remove","path":"members"}]}`,
		`{"Operations":[{"op":"replace","value":{"name.givenName":"X","urn:sigma:scim:schemas:extension:2.0:User":{"userKind":"guest"}}}]}`,
		`{"Operations":[{"op":"remove","path":"emails[type eq \"home\"]"},{"op":"add","path":"emails","value":[{"value":"n@b.c","primary":true}]}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var m map[string]any
		if json.Unmarshal(body, &m) != nil {
			return
		}
		ops, err := Parse(m)
		if err != nil {
			mustBeMappingError(t, err)
			return
		}
		if len(ops) > MaxOperations {
			t.Fatalf("%d operations accepted", len(ops))
		}
		user := mapping.UserToSCIM(directory.User{
			ID: "m1", UserName: "ada@example.com", GivenName: "Ada", FamilyName: "L", Active: true,
			Emails: []directory.Email{{Value: "ada@example.com", Type: "work", Primary: true}},
		}, "")
		if _, err := User(user, "m1", ops); err != nil {
			mustBeMappingError(t, err)
		} else if norm, _, err := mapping.Normalize(mapping.User, user); err != nil {
			mustBeMappingError(t, err)
		} else if _, err := mapping.UserFromSCIM(norm, mapping.UserOptions{UserNameFromEmail: true}); err != nil {
			mustBeMappingError(t, err)
		}
		gc, err := Group("t1", ops)
		if err != nil {
			mustBeMappingError(t, err)
			return
		}
		if n := len(gc.Add) + len(gc.Remove) + len(gc.Replace); n > MaxMembers {
			t.Fatalf("%d member values accepted", n)
		}
		gc.ResolveFilters([]map[string]any{{"value": "a", "display": "a@b.c"}, {"value": "b"}})
	})
}

func mustBeMappingError(t *testing.T, err error) {
	t.Helper()
	var me *mapping.Error
	if !errors.As(err, &me) || me.ScimType == "" || me.Detail == "" {
		t.Fatalf("error %T %v: want a *mapping.Error with scimType and detail", err, err)
	}
}
