package provision

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/scimbridge/scim-bridge/internal/directory"
)

// LowerTrim is the case- and space-insensitive key of an email or a team
// name.
func LowerTrim(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// DryRunID is the id a dry-run create answers with for key (an email, or
// "team:"/"group:" and a name): stable, and starting with "dryrun-" so
// that no read finds it.
func DryRunID(key string) string {
	h := sha256.Sum256([]byte(LowerTrim(key)))
	return "dryrun-" + hex.EncodeToString(h[:8])
}

// Truncate cuts s to n bytes, marking the cut with "…".
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Dedupe returns ids trimmed, without blanks and repeats, in first-seen
// order; nil when none is left.
func Dedupe(ids []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, id := range ids {
		if id = strings.TrimSpace(id); id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// RefIDs is Dedupe of the ids of refs.
func RefIDs(refs []directory.Ref) []string {
	ids := make([]string, len(refs))
	for i, r := range refs {
		ids[i] = r.ID
	}
	return Dedupe(ids)
}
