package filter

import (
	"strings"
	"testing"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/mapping"
)

// FuzzFilter: any filter text, for either resource type, is rejected with
// a *mapping.Error or parses into an expression that evaluates and plans
// without panicking. Seeds (testdata/fuzz/FuzzFilter) include the 100,000
// deep and 5,000-term filters that crashed or amplified before the bounds.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		`userName eq "ada@example.com"`,
		`emails[type eq "work"].value eq "x@y.z"`,
		`emails[type eq "work" or primary eq true].value sw "a"`,
		`not (userName eq "a") and (active eq true or meta.created gt "2026-01-01T00:00:00Z")`,
		`displayName eq "Eng" or externalId eq "x"`,
		`members[value eq "a"]`,
		`urn:sigma:scim:schemas:extension:2.0:User:accountType eq "Creator"`,
		`userName eq "a \"quoted\" \u00e9"`,
	} {
		f.Add(false, s)
		f.Add(true, s)
	}
	user := mapping.UserToSCIM(directory.User{
		ID: "m1", UserName: "ada@example.com", ExternalID: "x", GivenName: "Ada", FamilyName: "L", Active: true,
		Emails: []directory.Email{{Value: "ada@example.com", Type: "work", Primary: true}},
		Groups: []directory.Ref{{ID: "t1", Display: "Eng"}},
	}, "")
	group := mapping.GroupToSCIM(directory.Group{ID: "t1", DisplayName: "Eng", Members: []directory.Ref{{ID: "m1", Display: "ada@example.com"}}}, "")
	f.Fuzz(func(t *testing.T, isGroup bool, raw string) {
		k, res := mapping.User, user
		if isGroup {
			k, res = mapping.Group, group
		}
		expr, err := Parse(k, raw)
		if err != nil {
			if _, ok := err.(*mapping.Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if len(strings.TrimSpace(raw)) > MaxLength {
			t.Fatalf("a %d-byte filter was accepted", len(raw))
		}
		Match(k, expr, res)
		if lookups, ok := Plan(k, expr); ok && len(lookups) > MaxTerms {
			t.Fatalf("%d lookups planned, more than MaxTerms", len(lookups))
		}
	})
}
