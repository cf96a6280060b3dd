package provision

import "strings"

// DisplayName is the displayName of a member: its first and last name, or
// its email when it has neither. (The first and last name themselves are
// completed by directory.CompleteNames, the one rule for both.)
func DisplayName(first, last, email string) string {
	if n := strings.TrimSpace(first + " " + last); n != "" {
		return n
	}
	return email
}
