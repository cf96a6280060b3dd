package mapping

import "strings"

// AccountTypeRule says that members of the group named Group (a SCIM
// displayName, compared case-insensitively) get the account type
// AccountType.
type AccountTypeRule struct {
	Group       string
	AccountType string
}

// AccountTypeRules is an ordered rule list: the first rule whose group the
// user belongs to decides the account type.
type AccountTypeRules []AccountTypeRule

// AccountTypeFor returns the account type for a user in the groups named
// groupNames, and false when no rule matches (the user keeps the type
// they have).
func (rs AccountTypeRules) AccountTypeFor(groupNames []string) (string, bool) {
	for _, r := range rs {
		for _, g := range groupNames {
			if strings.EqualFold(strings.TrimSpace(g), strings.TrimSpace(r.Group)) {
				return r.AccountType, true
			}
		}
	}
	return "", false
}

// Covers reports whether some rule names the group groupName, i.e. whether
// a membership change of that group can change account types.
func (rs AccountTypeRules) Covers(groupName string) bool {
	_, ok := rs.AccountTypeFor([]string{groupName})
	return ok
}
