package dirkit

import (
	"strings"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/sigma"
)

// MemberPatch is the REST patch that makes member m what u asks for, and
// the names of the REST fields it changes (email, firstName, lastName,
// memberType, userKind, in that order). Empty names, user kind and
// accountType (the canonical account type, already resolved) mean "keep";
// the email is compared case-insensitively, as Sigma compares it.
func MemberPatch(m sigma.Member, u directory.User, accountType string) (p sigma.MemberPatch, changed []string) {
	set := func(field string, cur, want string, eq func(a, b string) bool, dst **string) {
		if want == "" || eq(cur, want) {
			return
		}
		*dst = &want
		changed = append(changed, field)
	}
	exact := func(a, b string) bool { return a == b }
	set("email", m.Email, strings.TrimSpace(u.UserName), strings.EqualFold, &p.Email)
	set("firstName", m.FirstName, strings.TrimSpace(u.GivenName), exact, &p.FirstName)
	set("lastName", m.LastName, strings.TrimSpace(u.FamilyName), exact, &p.LastName)
	set("memberType", m.MemberType, accountType, exact, &p.MemberType)
	set("userKind", m.UserKind, u.UserKind, exact, &p.UserKind)
	return p, changed
}
