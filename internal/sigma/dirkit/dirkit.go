// Package dirkit holds what the two Sigma directory.Directory
// implementations (restdir over the REST API, scimdir over Sigma's
// Enterprise SCIM endpoint) must do identically, so that it is written
// once: the Version (ETag) of a user and a group, the names Sigma
// requires, the store records (externalIds, IdP userNames, tombstones),
// the audit trail, the translation of Sigma client errors and the
// per-key write locks.
//
// The mode selector switches between the two implementations while an
// IdP holds ETags and ids from either, so what is here is a promise
// across paths: the same member and store record give the same User and
// Version through both.
package dirkit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/scimbridge/scim-bridge/internal/directory"
)

// ---- versions ------------------------------------------------------------

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

// ---- names ---------------------------------------------------------------

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

// ---- small helpers -------------------------------------------------------

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

// ---- per-key locks -------------------------------------------------------

// KeyedMutex serialises this process's writes to one user or team, so
// that two requests do not compute their changes from the same stale
// picture. Other replicas are not excluded: Sigma's own uniqueness (409)
// and delta-only membership changes keep them correct. The zero value is
// ready to use; a key's entry lives only while it is locked or awaited.
type KeyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	mu sync.Mutex
	n  int
}

// Lock locks key and returns the function that unlocks it.
func (k *KeyedMutex) Lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyLock{}
	}
	l := k.m[key]
	if l == nil {
		l = &keyLock{}
		k.m[key] = l
	}
	l.n++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		if l.n--; l.n == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
