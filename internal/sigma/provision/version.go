package provision

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
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

// GroupVersion is the Version (the SCIM ETag) of g. Modified is left out:
// Sigma bumps a team's modification time on every membership change, which
// the REST path's index does not re-read, and replicas and paths must agree
// on the version of the same name and members. The members enter as their
// MemberDigest (order does not matter), so a directory that keeps each
// team's digest current can give the same Version without listing the
// members (GroupVersionOf).
func GroupVersion(g directory.Group) string {
	return GroupVersionOf(g, DigestOf(g.Members))
}

// GroupVersionOf is GroupVersion of g with members whose digest is members
// (g.Members is not read).
func GroupVersionOf(g directory.Group, members MemberDigest) string {
	return hash(g.ID, g.DisplayName, g.ExternalID, stamp(g.Created), members.String())
}

// MemberDigest is an order-independent digest of a set of members (each an
// id and its display): the count and the lane-wise sum (mod 2^64) of a
// hash of every member, so that adding or removing one member costs one
// hash, whatever the size of the group. Its zero value is the empty set.
// Add and Remove must be given the member exactly as it is (or was) in
// the set.
type MemberDigest struct {
	n    int64
	a, b uint64
}

// DigestOf is the digest of members (a set: no member twice).
func DigestOf(members []directory.Ref) MemberDigest {
	var d MemberDigest
	for _, m := range members {
		d.Add(m)
	}
	return d
}

// Add puts m in the set.
func (d *MemberDigest) Add(m directory.Ref) {
	a, b := memberHash(m)
	d.n, d.a, d.b = d.n+1, d.a+a, d.b+b
}

// Remove takes m, which is in the set, out of it.
func (d *MemberDigest) Remove(m directory.Ref) {
	a, b := memberHash(m)
	d.n, d.a, d.b = d.n-1, d.a-a, d.b-b
}

// Len is the number of members in the set.
func (d MemberDigest) Len() int { return int(d.n) }

func (d MemberDigest) String() string { return fmt.Sprintf("%d:%016x%016x", d.n, d.a, d.b) }

func memberHash(m directory.Ref) (uint64, uint64) {
	var buf [128]byte
	b := strconv.AppendInt(buf[:0], int64(len(m.ID)), 10)
	b = append(append(append(b, ':'), m.ID...), ';')
	b = strconv.AppendInt(b, int64(len(m.Display)), 10)
	b = append(append(append(b, ':'), m.Display...), ';')
	s := sha256.Sum256(b)
	return binary.LittleEndian.Uint64(s[:8]), binary.LittleEndian.Uint64(s[8:16])
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
