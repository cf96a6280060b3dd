package restdir

import (
	"time"

	"github.com/scimbridge/scim-bridge/internal/sigma"
)

// entry is what the index keeps of a member: the fields of sigma.Member the
// bridge reads (not the organization, home folder, creators or profile
// image, which would cost a string each per member), with the account type
// and kind interned. At 100,000 members this is what the index's size is
// made of.
type entry struct {
	id, email, first, last string
	memberType, userKind   string
	created, updated       time.Time
	archived, inactive     bool
}

// member is e as a sigma.Member (the fields the index does not keep empty).
func (e entry) member() sigma.Member {
	return sigma.Member{MemberID: e.id, Email: e.email, FirstName: e.first, LastName: e.last,
		MemberType: e.memberType, UserKind: e.userKind, CreatedAt: e.created, UpdatedAt: e.updated,
		IsArchived: e.archived, IsInactive: e.inactive}
}

// entryOf is what the index keeps of m, its short repeated strings shared
// through x.intern.
func (x *indexData) entryOf(m sigma.Member) entry {
	return entry{id: m.MemberID, email: m.Email, first: m.FirstName, last: m.LastName,
		memberType: x.intern(m.MemberType), userKind: x.intern(m.UserKind),
		created: m.CreatedAt, updated: m.UpdatedAt, archived: m.IsArchived, inactive: m.IsInactive}
}

// internMax bounds the distinct strings interned (account types and kinds
// are a handful; a bound keeps a hostile upstream from growing it).
const internMax = 256

// intern returns the copy of s the picture already holds, if any.
func (x *indexData) intern(s string) string {
	if v, ok := x.strs[s]; ok {
		return v
	}
	if len(x.strs) < internMax {
		x.strs[s] = s
	}
	return s
}
