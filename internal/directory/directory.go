// Package directory is the port between the SCIM edge and Sigma: the model
// the bridge reasons in (User, Group), the Directory interface every Sigma
// path implements (REST members/teams, or Sigma's own SCIM endpoint), and
// the typed errors the SCIM edge turns into SCIM error responses.
//
// directorytest holds the conformance suite every implementation passes.
package directory

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Email is one address of a user.
type Email struct {
	Value   string
	Type    string // "work", "home", "other" or ""
	Primary bool
}

// Ref points at a user or group, with its display text.
type Ref struct {
	ID      string
	Display string
}

// User is a SCIM user as the bridge models it. ID is the Sigma memberId.
type User struct {
	ID         string
	UserName   string // the email Sigma knows the member by
	ExternalID string // the IdP's id, kept in the bridge's store; not unique
	// IdPUserName is the userName the IdP itself sent when it is not the
	// email Sigma knows the member by (a JumpCloud or Okta login such as
	// "jdoe", replaced by the work email on the way in). The SCIM edge sets
	// it on write when it made that replacement and leaves it empty when
	// the IdP's userName is the email; implementations keep it in the
	// bridge's store, return it on every read, answer LookupUsers by it,
	// and refuse (ErrConflict) to give one IdPUserName, compared
	// case-insensitively, to two live users. A write with it empty clears
	// it. The edge shows it to the IdP as the user's userName.
	IdPUserName string
	GivenName   string
	FamilyName  string
	// DisplayName and NameFormatted are what the IdP sent as displayName
	// and name.formatted; implementations keep them (Sigma holds only
	// first and last name) and return them on every read. On read an
	// empty DisplayName is derived from the names (or the email).
	DisplayName   string
	NameFormatted string
	Emails        []Email
	Active        bool
	// AccountType is the Sigma account type (memberType) name. On write it
	// may be empty (the default applies) or any spelling the resolver
	// accepts; on read it is the org's canonical name.
	AccountType string
	UserKind    string // "internal", "guest" or "embed"; empty means internal
	Groups      []Ref  // read-only: the teams the member belongs to
	Created     time.Time
	Modified    time.Time
	// Version is an opaque token that changes whenever any attribute above
	// changes; the SCIM edge serves it as a weak ETag (W/"<Version>").
	Version string
}

// Group is a SCIM group. ID is the Sigma teamId.
type Group struct {
	ID          string
	DisplayName string // the team name, unique in the org
	ExternalID  string
	Members     []Ref // users only; Display is the member's userName
	Created     time.Time
	Modified    time.Time
	Version     string
}

// Attr names an indexed attribute that LookupUsers/LookupGroups answer by
// direct lookup instead of a scan. All but externalId are unique.
type Attr string

// Indexed attributes.
const (
	AttrID          Attr = "id"
	AttrUserName    Attr = "userName" // the email or the IdPUserName, case-insensitive
	AttrExternalID  Attr = "externalId"
	AttrEmail       Attr = "email" // any of the user's emails, case-insensitive
	AttrDisplayName Attr = "displayName"
)

// Directory is what the SCIM edge needs from Sigma. Implementations are safe
// for concurrent use, and correct when several bridge replicas share one
// Sigma org and one store: an index miss on a unique attribute is confirmed
// upstream before it is reported.
//
// Errors: ErrNotFound, ErrConflict, *InvalidValueError, *UpstreamError, or
// ErrNotReady, all wrapped with context and compared with errors.Is/As.
// Nothing else reaches the IdP as text.
type Directory interface {
	// ListUsers returns every live user (tombstoned ones excluded, archived
	// ones included as Active=false), in a stable order (by ID).
	ListUsers(ctx context.Context) ([]User, error)
	// LookupUsers returns the live users whose attr equals value: at most
	// one for unique attributes, never a scan of all members. AttrUserName
	// matches a user whose UserName (the email) or IdPUserName equals value
	// case-insensitively; a value without an "@" cannot be a Sigma email,
	// so it should be answered without an upstream call (Entra's test
	// connection asks for a random GUID).
	LookupUsers(ctx context.Context, attr Attr, value string) ([]User, error)
	// GetUser returns a live user; ErrNotFound if absent or tombstoned.
	GetUser(ctx context.Context, id string) (User, error)
	// CreateUser provisions u (u.ID ignored). If an active user already has
	// u.UserName, or another live user has u.IdPUserName, it returns
	// ErrConflict (whose message names the attribute); an externalId is
	// never a conflict (RFC 7643 gives it no uniqueness). If the member
	// exists but was deprovisioned (tombstoned
	// or deactivated) it is reactivated, updated and returned: for the IdP
	// that is a create. An unknown account type is an *InvalidValueError
	// and nothing is written.
	CreateUser(ctx context.Context, u User) (User, error)
	// ReplaceUser sets every writable attribute of user u.ID to u's values
	// (IdPUserName included: empty clears it; ErrConflict if another live
	// user has it), sending upstream only what changed. Active=false
	// deactivates.
	ReplaceUser(ctx context.Context, u User) (User, error)
	// DeleteUser deactivates the member and tombstones it: later reads
	// answer ErrNotFound, its IdPUserName is free for another user, and a
	// later CreateUser with its userName (the email) revives it.
	DeleteUser(ctx context.Context, id string) error

	// ListGroups returns every group in a stable order (by ID).
	ListGroups(ctx context.Context) ([]Group, error)
	// LookupGroups is LookupUsers for groups (AttrID, AttrDisplayName,
	// AttrExternalID).
	LookupGroups(ctx context.Context, attr Attr, value string) ([]Group, error)
	// GetGroup returns a group with its members; ErrNotFound if absent.
	GetGroup(ctx context.Context, id string) (Group, error)
	// CreateGroup creates g with its members. ErrConflict if the
	// displayName is taken.
	CreateGroup(ctx context.Context, g Group) (Group, error)
	// ReplaceGroup sets the name, externalId and the full member list of
	// g.ID; membership is changed by delta (add what is new, remove what is
	// gone), never by emptying the team first. Members nil leaves the
	// membership as Sigma has it (a rename, or a PUT without members), so
	// a concurrent ModifyGroupMembers is never undone; a non-nil empty
	// slice empties the team.
	ReplaceGroup(ctx context.Context, g Group) (Group, error)
	// ModifyGroupMembers adds and removes members by user id, atomically
	// from the caller's point of view and without reading the whole list
	// back first, so concurrent PATCHes to one group do not lose updates.
	// Adding a member twice or removing a non-member is a no-op. Adding a
	// user id that does not exist (or is deleted) is an *InvalidValueError
	// with Attribute "members" and Value the id, and nothing changes; this
	// holds for the members of CreateGroup and ReplaceGroup too. ErrNotFound
	// is kept for the group itself. Under WithoutAnswer(ctx) the Group
	// returned may hold only its ID, so that the cost of a change does not
	// grow with the size of the group.
	ModifyGroupMembers(ctx context.Context, id string, add, remove []string) (Group, error)
	// DeleteGroup deletes the team; ErrNotFound if absent.
	DeleteGroup(ctx context.Context, id string) error

	// Ready reports nil once the directory can answer (index loaded,
	// upstream reachable), else an error saying what is not ready.
	Ready(ctx context.Context) error
}

// Sentinel errors.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
	ErrNotReady = errors.New("directory not ready")
)

// InvalidValueError says which attribute of the request was unacceptable
// and, where the set is known, which values would have been accepted.
type InvalidValueError struct {
	Attribute string   // SCIM attribute, e.g. "userType"
	Value     string   // what was sent
	Reason    string   // e.g. "unknown account type"
	Valid     []string // accepted values, if finite and known
}

func (e *InvalidValueError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %q: %s", e.Attribute, e.Value, e.Reason)
	if len(e.Valid) > 0 {
		fmt.Fprintf(&b, "; valid values: %s", strings.Join(e.Valid, ", "))
	}
	return b.String()
}

// UpstreamError is a Sigma failure the IdP should retry later (outage,
// rate limit) or cannot fix (Sigma rejected the request). Its message is
// safe to show: it never holds secrets or raw upstream bodies.
type UpstreamError struct {
	Op         string        // what the bridge was doing, e.g. "create member"
	Status     int           // Sigma's HTTP status, 0 for transport errors
	Retryable  bool          // the IdP should retry (maps to 503)
	RetryAfter time.Duration // hint for the Retry-After header, 0 if none
	Message    string        // Sigma's message, when safe and useful
	Err        error         // cause, for errors.Is/As and logs
}

func (e *UpstreamError) Error() string {
	msg := "sigma: " + e.Op
	if e.Status != 0 {
		msg += fmt.Sprintf(": status %d", e.Status)
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

func (e *UpstreamError) Unwrap() error { return e.Err }

// Actor says who caused a change, for the audit trail. The SCIM edge puts it
// in the request context; Directory implementations read it when auditing.
type Actor struct {
	RequestID string
	TokenName string
}

type actorKey struct{}

// WithActor returns ctx carrying a.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the Actor in ctx, or the zero Actor.
func ActorFrom(ctx context.Context) Actor {
	a, _ := ctx.Value(actorKey{}).(Actor)
	return a
}

type freshKey struct{}

// WithFreshRead asks GetUser and GetGroup to answer from Sigma itself, not
// from an index that another replica's latest write may not have reached
// yet. The SCIM edge sets it for GET /Users/{id} and GET /Groups/{id},
// where an IdP reads one resource on purpose and expects what it (through
// any replica) last wrote; filters and the reads behind writes keep using
// the index, whose misses are confirmed upstream.
func WithFreshRead(ctx context.Context) context.Context {
	return context.WithValue(ctx, freshKey{}, true)
}

// FreshRead reports whether ctx asks for a fresh read.
func FreshRead(ctx context.Context) bool {
	v, _ := ctx.Value(freshKey{}).(bool)
	return v
}

type reuseKey struct{}

type reuseMemo struct {
	mu sync.Mutex
	v  map[string]any
}

// WithReadReuse lets a write made with ctx reuse what a fresh read
// (WithFreshRead) made with it earlier read, instead of reading the
// resource again: the SCIM edge computes a user PUT or PATCH from a fresh
// read and writes it in the same request. The copy is as fresh as a
// second read a few milliseconds later would be, and a write computed
// against it sends only what the request changed.
func WithReadReuse(ctx context.Context) context.Context {
	return context.WithValue(ctx, reuseKey{}, &reuseMemo{v: map[string]any{}})
}

// KeepRead records v, which a fresh read of ctx got for key, for the
// write that follows (ReusedRead); without WithReadReuse it does nothing.
// What v is belongs to the implementation that keeps and reuses it.
func KeepRead(ctx context.Context, key string, v any) {
	if m, ok := ctx.Value(reuseKey{}).(*reuseMemo); ok {
		m.mu.Lock()
		m.v[key] = v
		m.mu.Unlock()
	}
}

// ReusedRead returns what KeepRead recorded for key in ctx, and forgets
// it (one write reuses one read).
func ReusedRead(ctx context.Context, key string) (any, bool) {
	m, ok := ctx.Value(reuseKey{}).(*reuseMemo)
	if !ok {
		return nil, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.v[key]
	delete(m.v, key)
	return v, ok
}

type noAnswerKey struct{}

// WithoutAnswer tells a write that its caller will not read the resource
// it returns (the SCIM edge answers a Group PATCH 204 No Content): a
// membership change may then skip building the group's member list, which
// would make every PATCH to a 10,000-member group cost O(group size).
func WithoutAnswer(ctx context.Context) context.Context {
	return context.WithValue(ctx, noAnswerKey{}, true)
}

// AnswerUnused reports whether ctx carries WithoutAnswer.
func AnswerUnused(ctx context.Context) bool {
	v, _ := ctx.Value(noAnswerKey{}).(bool)
	return v
}

type noMembersKey struct{}

// WithoutMembers tells a group read (GetGroup, LookupGroups, ListGroups)
// that its caller will not show the groups' members (the SCIM edge
// answering excludedAttributes=members, or attributes without members): a
// directory may then return Members nil, and must still return the
// Version the group has with its members, so that an ETag never depends
// on how the group was read. A directory that ignores it returns the
// members as usual; the caller drops them.
func WithoutMembers(ctx context.Context) context.Context {
	return context.WithValue(ctx, noMembersKey{}, true)
}

// MembersUnused reports whether ctx carries WithoutMembers.
func MembersUnused(ctx context.Context) bool {
	v, _ := ctx.Value(noMembersKey{}).(bool)
	return v
}
