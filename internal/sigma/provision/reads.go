package provision

import (
	"context"
	"fmt"
	"strings"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/store"
)

// UserReader is what a path answers user reads with; GetUser and
// LookupUsers are written once over it.
type UserReader interface {
	// LiveUser reads user id; ok is false when the store has tombstoned
	// it (known without an upstream call) or Sigma does not know it.
	LiveUser(ctx context.Context, id string) (m Member, r store.Resource, ok bool, err error)
	// ByUserName answers AttrUserName and AttrEmail lookups of value
	// (trimmed, not empty): the email, and for AttrUserName also the
	// IdP's own userName kept in the store, ordered by ID.
	ByUserName(ctx context.Context, attr directory.Attr, value string) ([]directory.User, error)
}

// UserReads implements the user reads of directory.Directory (GetUser,
// LookupUsers) once, over a path's UserReader; a path's Directory embeds
// it.
type UserReads struct {
	rd  UserReader
	rec Records
	dry *DryRuns
}

// NewUserReads returns the user reads over rd and the store's records,
// with the dry-run record dry (may be nil) laid over them.
func NewUserReads(rd UserReader, rec Records, dry *DryRuns) UserReads {
	return UserReads{rd: rd, rec: rec, dry: dry}
}

// GetUser implements directory.Directory.
func (u UserReads) GetUser(ctx context.Context, id string) (directory.User, error) {
	if us, ok := u.dry.LookupUsers(directory.AttrID, id); ok {
		return us[0], nil
	}
	m, r, ok, err := u.rd.LiveUser(ctx, id)
	if err == nil && !ok {
		err = directory.ErrNotFound
	}
	if err != nil {
		return directory.User{}, fmt.Errorf("get user %s: %w", id, err)
	}
	if directory.FreshRead(ctx) {
		// The write this read is for (a PUT or PATCH) starts from it.
		directory.KeepRead(ctx, freshUserKey(id), freshUser{m: m, r: r})
	}
	return ToUser(m, r), nil
}

// freshUser is a fresh read GetUser kept for the write of the same
// request (directory.WithReadReuse): the typed state is the same on both
// paths, so a write on either may reuse it.
type freshUser struct {
	m Member
	r store.Resource
}

func freshUserKey(id string) string { return "provision.user:" + id }

// LookupUsers implements directory.Directory: by id, by userName or email
// (UserReader.ByUserName), and by externalId, which is not unique (every
// live holder, from the store).
func (u UserReads) LookupUsers(ctx context.Context, attr directory.Attr, value string) ([]directory.User, error) {
	if us, ok := u.dry.LookupUsers(attr, value); ok {
		return us, nil
	}
	var ids []string
	switch attr {
	case directory.AttrID:
		ids = []string{value}
	case directory.AttrUserName, directory.AttrEmail:
		if strings.TrimSpace(value) == "" {
			return nil, nil
		}
		out, err := u.rd.ByUserName(ctx, attr, strings.TrimSpace(value))
		if err != nil {
			return nil, fmt.Errorf("look up user by %s: %w", attr, err)
		}
		return out, nil
	case directory.AttrExternalID:
		var err error
		if ids, err = u.rec.IDsByExternalID(ctx, store.KindUser, value); err != nil {
			return nil, err
		}
	default:
		return nil, &directory.InvalidValueError{Attribute: string(attr), Value: value, Reason: "users cannot be looked up by this attribute"}
	}
	var out []directory.User
	for _, id := range ids {
		m, r, ok, err := u.rd.LiveUser(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("look up user by %s: %w", attr, err)
		}
		if ok {
			out = append(out, ToUser(m, r))
		}
	}
	return out, nil
}
