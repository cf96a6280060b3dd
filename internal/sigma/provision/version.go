package provision

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/scimbridge/scim-bridge/internal/directory"
)

// UserVersion is the Version (the SCIM ETag) of u. It hashes only what the
// bridge exposes and what Sigma and the store hold, so every replica and
// both Sigma paths compute the same value for the same user. u.Groups must
// be ordered by ID. Changing what goes in changes every user's ETag.
func UserVersion(u directory.User) string {
	parts := []string{u.ID, u.UserName, u.ExternalID, u.GivenName, u.FamilyName, fmt.Sprint(u.Active),
		u.AccountType, u.UserKind, stamp(u.Created), stamp(u.Modified)}
	for _, g := range u.Groups {
		parts = append(parts, g.ID, g.Display)
	}
	if u.IdPUserName != "" {
		// Last and only when set, so users without one kept the ETags they
		// had before the IdP userName was introduced.
		parts = append(parts, "idpUserName="+u.IdPUserName)
	}
	// The same for the names the IdP sent: only when they are its own (a
	// derived displayName changes nothing).
	if u.DisplayName != "" && u.DisplayName != DisplayName(u.GivenName, u.FamilyName, u.UserName) {
		parts = append(parts, "displayName="+u.DisplayName)
	}
	if u.NameFormatted != "" {
		parts = append(parts, "formatted="+u.NameFormatted)
	}
	return hash(parts...)
}

// GroupVersion is the Version (the SCIM ETag) of g; g.Members must be
// ordered by ID. Modified is left out: Sigma bumps a team's modification
// time on every membership change, which the REST path's index does not
// re-read, and replicas and paths must agree on the version of the same
// name and members.
func GroupVersion(g directory.Group) string {
	parts := []string{g.ID, g.DisplayName, g.ExternalID, stamp(g.Created)}
	for _, m := range g.Members {
		parts = append(parts, m.ID, m.Display)
	}
	return hash(parts...)
}

// hash is an unambiguous digest of parts (each is length-prefixed).
func hash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s;", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
