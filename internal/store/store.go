// Package store holds the state Sigma cannot: IdP token hashes, the
// externalIds the IdP assigned, tombstones of users the IdP deleted, and an
// audit trail of every change the bridge made.
//
// Two implementations satisfy Store: store/sqlite (embedded, the default,
// one process) and store/postgres (several bridge replicas sharing one
// database). store/storetest is the conformance suite both pass.
package store

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"time"
)

// Sentinel errors. Implementations wrap driver errors into these so callers
// compare with errors.Is and never see driver text.
var (
	// ErrNotFound: the addressed row does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a uniqueness constraint or a compare-and-swap failed;
	// the caller's view was stale or another writer won the race.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable: the store is closed or cannot be reached. /readyz
	// reports it.
	ErrUnavailable = errors.New("store unavailable")
)

// Kind is the kind of a SCIM resource.
type Kind string

// Resource kinds.
const (
	KindUser  Kind = "user"
	KindGroup Kind = "group"
)

// Token is an IdP bearer token. The secret itself is never stored: Hash is
// a SHA-256 of it and Prefix a short, non-secret display form (e.g.
// "scimb_AbC1"). Several tokens may share a Name during a rotation overlap;
// at most one of them is current (SupersededAt zero, RevokedAt zero).
type Token struct {
	ID           string // opaque, unique
	Name         string // operator's label, e.g. "okta-prod"
	Hash         []byte // SHA-256 of the secret; unique
	Prefix       string
	CreatedAt    time.Time
	ExpiresAt    time.Time // zero: never
	RevokedAt    time.Time // zero: not revoked
	SupersededAt time.Time // zero: this is the current token of Name
	LastUsedAt   time.Time // zero: never used
	// Scope is what the token may do, kept as given (package tokens
	// defines the values). "" is what every token issued before scopes
	// existed reads back as.
	Scope string
	// Networks are the source networks the token is accepted from; empty:
	// any. Kept in the order given.
	Networks []netip.Prefix
}

// Resource is the bridge's record of a SCIM resource whose primary data
// lives in Sigma. ID is the SCIM id (Sigma memberId or teamId).
type Resource struct {
	Kind Kind
	ID   string
	// ExternalID is the IdP's own id of the resource: a lookup key, not
	// unique (RFC 7643 gives it no uniqueness, and IdPs share one between
	// resources).
	ExternalID string
	// UserName is the userName the IdP sent when it differs from the email
	// Sigma knows the member by (a JumpCloud or Okta login such as "jdoe"),
	// kept as sent so the IdP can find the user by it again; empty
	// otherwise. When not empty it is unique per Kind among live records,
	// compared case-insensitively (FoldUserName).
	UserName string
	// DisplayName and NameFormatted are a user's displayName and
	// name.formatted as the IdP sent them (Sigma keeps only first and
	// last name); empty when it sent none.
	DisplayName   string
	NameFormatted string
	Tombstoned    bool
	TombstoneAt   time.Time // zero unless Tombstoned
	Version       int64     // incremented by every successful PutResource/UpdateResource
	UpdatedAt     time.Time
}

// FoldUserName is the case-insensitive form of a Resource.UserName under
// which stores compare and index it: two userNames clash, and
// ResourceByUserName finds one by the other, when their folds are equal.
// It is computed here rather than by each database so SQLite (whose
// lower() knows only ASCII) and PostgreSQL (whose lower() depends on the
// database's locale) agree.
func FoldUserName(s string) string { return strings.ToLower(strings.ToUpper(s)) }

// Outcome of an audited operation.
type Outcome string

// Audit outcomes.
const (
	OutcomeOK      Outcome = "ok"
	OutcomeFailed  Outcome = "failed"
	OutcomeDryRun  Outcome = "dry_run"
	OutcomeSkipped Outcome = "skipped"
	// OutcomePending is an intent: the write to the resource is about to
	// be sent upstream, and an entry with its outcome follows unless the
	// writer dies first. Other replicas re-read the resource until then.
	OutcomePending Outcome = "pending"
)

// AuditEntry is one change the bridge made or decided on.
type AuditEntry struct {
	ID             int64 // assigned by the store, increasing
	Time           time.Time
	RequestID      string
	TokenName      string
	Operation      string // e.g. "user.create", "group.members", "mode.switch"
	Kind           Kind
	ResourceID     string
	Outcome        Outcome
	UpstreamStatus int    // HTTP status Sigma answered, 0 if none
	Detail         string // short, human, never a secret
	// Target names the user or group of Kind and ResourceID as the IdP
	// knows it. ResourceID is empty when the write never learnt the Sigma
	// id (a refused or dry-run create); Target is empty for entries about
	// no resource (mode.switch) and where the write did not learn the name.
	Target Target
	// Legacy is set by ListAudit on entries appended before the trail kept
	// targets (schema 6): their Target is empty and their Detail is what
	// names the resource. AppendAudit ignores it.
	Legacy bool
}

// Target is the user or group an audit entry is about, by the names the
// IdP finds it by. `scim-bridge audit --user/--group` selects by it.
type Target struct {
	// Name is a user's email (the userName Sigma knows the member by) or
	// a group's displayName.
	Name string
	// UserName is the userName the IdP sent for a user when it is not
	// the email (a login such as "jdoe"); PrepareAudit empties it when it
	// equals Name under FoldUserName.
	UserName string
}

// AuditFilter narrows ListAudit. Zero fields do not filter.
type AuditFilter struct {
	Limit      int // <= 0 means 100
	Kind       Kind
	ResourceID string
	Operation  string
	Outcome    Outcome
	Since      time.Time
	// AboutIDs, Target and Mention narrow to entries about a resource: its
	// ResourceID is one of AboutIDs, or its Target.Name or Target.UserName
	// equals Target under FoldUserName, or it is a Legacy entry (no target
	// recorded) whose Detail contains Mention (case-insensitive for ASCII
	// letters). All empty: no narrowing. `scim-bridge audit --user/--group`
	// finds a user's entries by the ids of the entries that target it.
	AboutIDs []string
	Target   string
	Mention  string
}

// Store is the bridge's persistent state. Implementations are safe for
// concurrent use by many goroutines, and the Postgres one by many processes.
//
// Every method that changes state is atomic: it is applied entirely or not
// at all. Errors are ErrNotFound, ErrConflict or ErrUnavailable (wrapped,
// compare with errors.Is), or another error that never includes secrets.
//
// Times are kept with microsecond precision and read back in UTC; a zero
// time.Time is stored as "none" and read back as zero. Where a method needs
// a time the caller did not give (Token.CreatedAt, AuditEntry.Time,
// Resource.UpdatedAt, Resource.TombstoneAt of a tombstoned record) the store
// takes it from its own clock.
type Store interface {
	// CreateToken inserts t. ErrConflict if t.ID or t.Hash already exists,
	// or if t is current (SupersededAt zero) and Name already has a current
	// unrevoked token.
	CreateToken(ctx context.Context, t Token) error
	// TokenByHash returns the token with that hash, whatever its state;
	// ErrNotFound if none.
	TokenByHash(ctx context.Context, hash []byte) (Token, error)
	// ListTokens returns every token, ordered by Name then CreatedAt.
	ListTokens(ctx context.Context) ([]Token, error)
	// RotateToken is a compare-and-swap: if the current token of
	// next.Name has ID oldID, it sets that token's SupersededAt to now and
	// its ExpiresAt to oldExpiresAt (when earlier than its own expiry), and
	// inserts next as the new current token, in one transaction. If the
	// current token is not oldID (someone rotated first, or it was
	// revoked) it returns ErrConflict and changes nothing, so concurrent
	// rotations leave exactly one live successor. ErrNotFound if no token
	// has ID oldID; ErrConflict if next's ID or Hash exists already.
	// next.CreatedAt zero means now.
	RotateToken(ctx context.Context, oldID string, oldExpiresAt, now time.Time, next Token) error
	// RevokeToken marks every unrevoked token of name as revoked at now.
	// ErrNotFound if name has no token.
	RevokeToken(ctx context.Context, name string, now time.Time) error
	// TouchToken records a use. It may be lossy (best effort) and may be
	// called often; implementations may coalesce writes. LastUsedAt only
	// moves forward. ErrNotFound if no token has that id.
	TouchToken(ctx context.Context, id string, at time.Time) error

	// PutResource creates or replaces the record for (r.Kind, r.ID) and
	// returns it as stored: Version one more than the replaced record's (1
	// when new; r.Version is ignored), UpdatedAt now. ErrConflict if
	// r.UserName is set and another live (not tombstoned) resource of the
	// same kind holds it in any case. An unknown Kind or empty ID is an
	// error (PrepareResource).
	PutResource(ctx context.Context, r Resource) (Resource, error)
	// GetResource returns the record; ErrNotFound if none.
	GetResource(ctx context.Context, kind Kind, id string) (Resource, error)
	// ResourcesByExternalID returns the live resources of kind with that
	// externalId, ordered by ID; none for an empty externalId.
	ResourcesByExternalID(ctx context.Context, kind Kind, externalID string) ([]Resource, error)
	// ResourceByUserName returns the live resource whose UserName equals
	// userName case-insensitively (FoldUserName); ErrNotFound if none, and
	// for an empty userName. Tombstoned records are never returned.
	ResourceByUserName(ctx context.Context, kind Kind, userName string) (Resource, error)
	// ListResources returns all records of kind (tombstoned included),
	// ordered by ID.
	ListResources(ctx context.Context, kind Kind) ([]Resource, error)
	// ResourcesByID returns the records of kind whose ids are among ids
	// (those that exist, tombstoned included), ordered by ID: one query for
	// a page of users. At most MaxResourcesByID ids (CheckResourceIDs).
	ResourcesByID(ctx context.Context, kind Kind, ids []string) ([]Resource, error)
	// TombstonedIDs returns the ids of the tombstoned records of kind,
	// ordered.
	TombstonedIDs(ctx context.Context, kind Kind) ([]string, error)
	// UpdateResource reads the record (ErrNotFound if none), calls fn on a
	// copy and writes the result if its Version is unchanged since the read,
	// retrying from the read when another writer got there first. fn may run
	// more than once and must have no side effects. An error from fn aborts
	// and is returned as is. fn must not change Kind or ID; its Version is
	// ignored (the stored one is incremented). ErrConflict on a userName
	// clash.
	UpdateResource(ctx context.Context, kind Kind, id string, fn func(*Resource) error) (Resource, error)
	// DeleteResource removes the record; ErrNotFound if none.
	DeleteResource(ctx context.Context, kind Kind, id string) error

	// AppendAudit appends e and returns it with ID set (and Time, when
	// zero, set to now). Entries are never modified afterwards.
	AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error)
	// ListAudit returns entries newest first (by Time, then ID). Since is
	// inclusive.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
	// PruneAudit deletes entries strictly older than before and returns
	// how many. RunRetention calls it periodically.
	PruneAudit(ctx context.Context, before time.Time) (int64, error)

	// TouchReplica records that the bridge process r is alive at r.SeenAt
	// (zero: now): it inserts or updates the row of r.ID (StartedAt zero:
	// that time too) and forgets replicas not seen for ReplicaForget
	// before it.
	TouchReplica(ctx context.Context, r Replica) error
	// ListReplicas returns the replicas seen at or after since, the most
	// recently seen first.
	ListReplicas(ctx context.Context, since time.Time) ([]Replica, error)

	// Ping reports whether the store is usable (ErrUnavailable if not).
	Ping(ctx context.Context) error
	// Close releases the store. Calls after Close return ErrUnavailable.
	// Close is idempotent.
	Close() error
}
