package provision

import (
	"context"
	"time"

	"github.com/scimbridge/scim-bridge/internal/directory"
)

// Member is a Sigma member as either path reads it: REST members and
// Sigma's SCIM users are the same typed state.
type Member struct {
	ID        string
	Email     string
	FirstName string
	LastName  string
	// AccountType is the org's canonical account type name.
	AccountType string
	UserKind    string
	// Active is false for a deactivated member, however it was
	// deactivated.
	Active bool
	// Archived says the member was deactivated through REST (Sigma's
	// isArchived), which Sigma's SCIM endpoint does not show at all; a
	// port that cannot write to such a member through its own API routes
	// the write elsewhere.
	Archived bool
	Groups   []directory.Ref // ordered by ID
	Created  time.Time
	Modified time.Time
}

// NewMember is what a create sends upstream.
type NewMember struct {
	Email, FirstName, LastName string
	AccountType                AccountType // zero: the org's default
	UserKind                   string
	Active                     bool
}

// Change is what Members.Update makes of a member; nil fields keep their
// value.
type Change struct {
	Email, FirstName, LastName, UserKind *string
	AccountType                          *AccountType
	Active                               *bool
}

// IsZero reports whether c changes nothing.
func (c Change) IsZero() bool { return c == Change{} }

// apply predicts the member after c (dry-run answers).
func (c Change) apply(m Member) Member {
	for _, f := range []struct{ src, dst *string }{
		{c.Email, &m.Email}, {c.FirstName, &m.FirstName}, {c.LastName, &m.LastName}, {c.UserKind, &m.UserKind},
	} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	if c.AccountType != nil {
		m.AccountType = c.AccountType.Name
	}
	if c.Active != nil {
		m.Active, m.Archived = *c.Active, false
	}
	return m
}

// Team is a Sigma team as either path reads it.
type Team struct {
	ID   string
	Name string
	// Members are the members the IdP sees (deactivated ones the path
	// cannot change are left out), ordered by ID.
	Members  []directory.Ref
	Created  time.Time
	Modified time.Time
}

// Members is the member half of a Sigma path. Errors are in the
// directory's vocabulary (directory.ErrNotFound, directory.ErrConflict,
// *directory.InvalidValueError, *directory.UpstreamError).
type Members interface {
	// CheckUser refuses what this path cannot write at all (before any
	// call).
	CheckUser(u directory.User) error
	// Known returns the member with email when this path already knows
	// of it (an index), confirmed upstream; ok is false otherwise, and
	// always on a path without an index.
	Known(ctx context.Context, email string) (m Member, ok bool, err error)
	// Get reads member id from Sigma (fresh); ok is false if Sigma does
	// not know it.
	Get(ctx context.Context, id string) (m Member, ok bool, err error)
	// FindByEmail asks Sigma for the member with email (deactivated ones
	// included, where the path can see them).
	FindByEmail(ctx context.Context, email string) (m Member, ok bool, err error)
	// Create creates a member; an email Sigma already has is
	// directory.ErrConflict. The member returned may be inactive when an
	// ambiguous create was resolved to one that existed.
	Create(ctx context.Context, nm NewMember) (Member, error)
	// Update makes member m what c says, in as few calls as the path
	// allows (reactivating first and deactivating last).
	Update(ctx context.Context, m Member, c Change) (Member, error)
	// Deprovision deactivates m for good (the IdP deleted it), handing
	// its documents over where configured. A member Sigma no longer
	// knows after the attempt is deprovisioned.
	Deprovision(ctx context.Context, m Member) error
}

// Teams is the team half of a Sigma path; errors as for Members.
type Teams interface {
	// Get reads team id (from an index, or fresh when ctx asks with
	// directory.WithFreshRead); ok is false if Sigma does not know it.
	Get(ctx context.Context, id string) (t Team, ok bool, err error)
	// Taken returns the id of the team named name (case-insensitively),
	// "" if none; upstream says whether a miss of the path's index is
	// confirmed upstream. A path that leaves this to Sigma's own 409
	// answers "".
	Taken(ctx context.Context, name string, upstream bool) (id string, err error)
	// Prepare applies the path's own rules to a membership change of team
	// id ("" for a team about to be created), before anything is written:
	// it refuses adds Sigma would refuse (an *InvalidValueError naming
	// the id) and returns the removals Sigma can make. confirm asks for
	// members the path believes deactivated to be re-read.
	Prepare(ctx context.Context, id string, add, remove []string, confirm bool) ([]string, error)
	// Find asks Sigma for the team named name (case-insensitively); ok is
	// false if there is none.
	Find(ctx context.Context, name string) (id string, ok bool, err error)
	// Create creates a team with members; a name Sigma has is
	// directory.ErrConflict.
	Create(ctx context.Context, name string, members []string) (Team, error)
	// Update renames team id (rename nil: keep) and adds and removes
	// members, as one delta.
	Update(ctx context.Context, id string, rename *string, add, remove []string) (Team, error)
	// Delete deletes team id; directory.ErrNotFound if Sigma does not
	// know it.
	Delete(ctx context.Context, id string) error
}
