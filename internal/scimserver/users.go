package scimserver

import (
	"context"
	"slices"
	"strings"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/mapping"
	"github.com/scimbridge/scim-bridge/internal/scim/filter"
	"github.com/scimbridge/scim-bridge/internal/scim/patch"
)

// users is the User descriptor.
func (s *server) users() *resource[directory.User, directory.User] {
	return &resource[directory.User, directory.User]{
		s: s, kind: mapping.User, noun: "user", endpoint: "/Users",
		id:      func(u directory.User) string { return u.ID },
		version: func(u directory.User) string { return u.Version },
		render:  func(_ *server, u directory.User, base string) map[string]any { return mapping.UserToSCIM(u, base) },
		view:    userFilterView,
		list:    s.dir.ListUsers,
		pageOf: func(ctx context.Context, start, count int) ([]directory.User, int, error) {
			return directory.PageUsers(ctx, s.dir, start, count)
		},
		lookup: s.dir.LookupUsers,
		// A value that is not an email is no member's email: asking would
		// only cost a call. A userName that is not an email is asked for
		// (the directory keeps the IdP's own userNames, "jdoe", and answers
		// a GUID from Entra's test connection without a Sigma call).
		skip:    func(l filter.Lookup) bool { return l.Attr == directory.AttrEmail && !mapping.IsEmail(l.Value) },
		get:     s.dir.GetUser,
		read:    s.userFromBody,
		create:  s.createUser,
		replace: s.replaceUser,
		patch:   s.patchUser,
		delete:  func(ctx context.Context, id string, _ *directory.User) error { return s.dir.DeleteUser(ctx, id) },
	}
}

// userFilterView is what a filter is evaluated on for user u rendered as
// m: m itself, except that a user the IdP named with a non-email userName
// matches userName filters by that name (what m shows) and by its Sigma
// email too, as LookupUsers does. Otherwise `userName eq "<email>"` would
// find nobody while a POST of that userName answers 409, and an IdP that
// switched its userName mapping to the email could never link the user.
func userFilterView(u directory.User, m map[string]any) map[string]any {
	if u.IdPUserName == "" || u.UserName == "" {
		return m
	}
	v := make(map[string]any, len(m))
	for k, x := range m {
		v[k] = x
	}
	v["userName"] = []any{u.IdPUserName, u.UserName}
	return v
}

func (s *server) userOptions() mapping.UserOptions {
	return mapping.UserOptions{UserNameFromEmail: s.userNameFromEmail}
}

func (s *server) userFromBody(ctx context.Context, body map[string]any) (directory.User, error) {
	norm, ignored, err := mapping.Normalize(mapping.User, body)
	if err != nil {
		return directory.User{}, err
	}
	s.ignored(ctx, mapping.User, ignored)
	return mapping.UserFromSCIM(norm, s.userOptions())
}

func (s *server) createUser(ctx context.Context, u directory.User) (directory.User, error) {
	created, err := s.dir.CreateUser(ctx, u)
	if err != nil {
		what := "a user with userName " + u.UserName
		if u.IdPUserName != "" {
			what = "a user with userName " + u.IdPUserName + " or email " + u.UserName
		}
		return created, about(what, err)
	}
	return created, nil
}

func (s *server) replaceUser(ctx context.Context, cur, u directory.User) (directory.User, error) {
	keepUnsent(&u, cur)
	return s.saveUser(ctx, cur, u)
}

// keepUnsent fills what a replacement did not say from the current user:
// an IdP that does not manage account types, kinds or externalIds must not
// reset them by omission.
func keepUnsent(u *directory.User, cur directory.User) {
	u.ID = cur.ID
	if u.AccountType == "" {
		u.AccountType = cur.AccountType
	}
	if u.UserKind == "" {
		u.UserKind = cur.UserKind
	}
	if u.ExternalID == "" {
		u.ExternalID = cur.ExternalID
	}
}

// saveUser writes u unless it equals cur.
func (s *server) saveUser(ctx context.Context, cur, u directory.User) (directory.User, error) {
	if sameUser(cur, u) {
		return cur, nil
	}
	return s.dir.ReplaceUser(ctx, u)
}

// sameUser compares the writable attributes. The IdP's own userName is
// compared exactly: a new spelling is the IdP's to keep.
func sameUser(a, b directory.User) bool {
	return strings.EqualFold(a.UserName, b.UserName) && a.IdPUserName == b.IdPUserName && a.ExternalID == b.ExternalID &&
		a.GivenName == b.GivenName && a.FamilyName == b.FamilyName &&
		a.DisplayName == b.DisplayName && a.Active == b.Active &&
		strings.EqualFold(a.AccountType, b.AccountType) && a.UserKind == b.UserKind &&
		slices.Equal(a.Emails, b.Emails)
}

func (s *server) patchUser(ctx context.Context, id string, ops []patch.Op, pc patchCall) (directory.User, error) {
	cur, err := s.dir.GetUser(fresh(ctx), id)
	if err != nil {
		return cur, err
	}
	if err := pc.check(cur.Version); err != nil {
		return cur, err
	}
	m := mapping.UserToSCIM(cur, "")
	// Patch the account type through one spelling only (see patch.User).
	if ext, ok := m[mapping.SchemaSigmaUser].(map[string]any); ok {
		delete(ext, "accountType")
	}
	ignored, err := patch.User(m, cur.ID, ops)
	if err != nil {
		return cur, err
	}
	norm, more, err := mapping.Normalize(mapping.User, m)
	if err != nil {
		return cur, err
	}
	s.ignored(ctx, mapping.User, append(ignored, more...))
	opts := s.userOptions()
	if un, _ := norm["userName"].(string); cur.IdPUserName != "" && strings.EqualFold(strings.TrimSpace(un), cur.IdPUserName) {
		// The userName is the one the bridge rendered, not one the IdP sent
		// in this PATCH: the user keeps it even when taking non-email
		// userNames has been switched off since.
		opts.UserNameFromEmail = true
	}
	u, err := mapping.UserFromSCIM(norm, opts)
	if err != nil {
		return cur, err
	}
	keepUnsent(&u, cur)
	return s.saveUser(ctx, cur, u)
}
