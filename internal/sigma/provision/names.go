package provision

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/scimbridge/scim-bridge/internal/directory"
)

// DisplayName is the displayName of a member: its first and last name, or
// its email when it has neither.
func DisplayName(first, last, email string) string {
	if n := strings.TrimSpace(first + " " + last); n != "" {
		return n
	}
	return email
}

// CompleteNames fills the first and last name Sigma requires when either
// is blank: from the display name when it has two words, else from the
// email's local part ("ada.lovelace" -> Ada Lovelace; "ada" -> Ada Ada),
// else "Unknown". This is the directories' own rule for callers that did
// not go through the SCIM edge (which fills names by mapping.CompleteName
// first, a different rule).
func CompleteNames(u *directory.User) {
	if strings.TrimSpace(u.GivenName) != "" && strings.TrimSpace(u.FamilyName) != "" {
		return
	}
	var words []string
	if f := strings.Fields(u.DisplayName); len(f) >= 2 {
		words = f
	} else {
		local, _, _ := strings.Cut(strings.TrimSpace(u.UserName), "@")
		words = strings.FieldsFunc(local, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
		for i, w := range words {
			r, n := utf8.DecodeRuneInString(w)
			words[i] = string(unicode.ToUpper(r)) + w[n:]
		}
	}
	if len(words) == 0 {
		words = []string{"Unknown"}
	}
	if strings.TrimSpace(u.GivenName) == "" {
		u.GivenName = words[0]
	}
	if strings.TrimSpace(u.FamilyName) == "" {
		if len(words) > 1 {
			u.FamilyName = strings.Join(words[1:], " ")
		} else {
			u.FamilyName = words[0]
		}
	}
}
