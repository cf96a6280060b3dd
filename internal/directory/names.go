package directory

import (
	"cmp"
	"strings"
	"unicode"
)

// CompleteNames is the one rule for the first and last name Sigma requires
// of every member: when GivenName or FamilyName is blank, it is filled
// from the displayName (or else name.formatted) split into words ("Ada
// King Lovelace" → Ada, King Lovelace), or, with neither, from the one
// name that is known (used for both) or else from the email's local part
// without its +tag ("ada.lovelace@x" → Ada, Lovelace; "ada_b-c" → Ada,
// B C). One word is used for both names; nothing at all gives "Unknown".
// The SCIM edge applies it to every user it reads (mapping.UserFromSCIM)
// and the write workflow to every create, for callers that bypass the
// edge.
func CompleteNames(u *User) {
	u.GivenName, u.FamilyName = completeName(u.GivenName, u.FamilyName, cmp.Or(u.DisplayName, u.NameFormatted), u.UserName)
}

func completeName(given, family, displayName, email string) (string, string) {
	given, family = strings.TrimSpace(given), strings.TrimSpace(family)
	if given != "" && family != "" {
		return given, family
	}
	words := strings.Fields(displayName)
	if len(words) == 0 && (given != "" || family != "") {
		// One name known and nothing else to split: use it for both
		// rather than inventing one from the email.
		if given == "" {
			return family, family
		}
		return given, given
	}
	if len(words) == 0 {
		local, _, _ := strings.Cut(email, "@")
		local, _, _ = strings.Cut(local, "+")
		for _, w := range strings.FieldsFunc(local, func(r rune) bool { return r == '.' || r == '_' || r == '-' }) {
			words = append(words, titleCase(w))
		}
	}
	if len(words) == 0 {
		words = []string{"Unknown"}
	}
	first, last := words[0], strings.Join(words[1:], " ")
	if last == "" {
		last = first
	}
	if given == "" {
		given = first
	}
	if family == "" {
		family = last
	}
	return given, family
}

func titleCase(w string) string {
	r := []rune(strings.ToLower(w))
	if len(r) > 0 {
		r[0] = unicode.ToUpper(r[0])
	}
	return string(r)
}
