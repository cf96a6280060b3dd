// Package provision is the one write workflow of both Sigma paths. A
// Workflow owns every step a write takes — the per-key lock, the store's
// tombstone and records (externalIds, the IdP's own userNames), the
// account type, the diff, dry-run, the upstream call through a typed port
// (Members, Teams), the resolution of an ambiguous outcome, the record put
// and the audit entry — and implements the write half of
// directory.Directory over the ports. restdir (REST members and teams,
// with its index) and scimdir (Sigma's Enterprise SCIM endpoint) supply
// the ports and their own reads.
//
// What is here is also a promise across paths: the mode selector switches
// between them while an IdP holds ETags and ids from either, so the same
// member and store record give the same User and Version through both
// (ToUser, ToGroup, UserVersion, GroupVersion).
//
// Policy lives in one place: the tombstone and revive rules are in
// users.go (CreateUser, createExisting, DeleteUser) and groups.go.
package provision

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/store"
)

// Workflow is the write half of a directory.Directory over one Sigma
// path. Its fields are set once, before the first call.
type Workflow struct {
	Members Members
	Teams   Teams
	Types   *AccountTypes
	Records Records
	Audit   *Auditor
	// DryRun computes, logs and audits every decision (outcome dry_run)
	// but writes nothing to Sigma or to the store's records.
	DryRun bool
	// DryRuns, in dry run, records what dry-run creates answered, so that
	// later writes to those ids act on it (the path lays it over its
	// ports with DryRuns.Overlay and over its reads); nil keeps nothing.
	DryRuns *DryRuns
	Now     func() time.Time

	locks KeyedMutex
}

// Operations, as the audit trail and the write metrics name them.
const (
	OpUserCreate   = "user.create"
	OpUserReplace  = "user.replace"
	OpUserDelete   = "user.delete"
	OpGroupCreate  = "group.create"
	OpGroupReplace = "group.replace"
	OpGroupMembers = "group.members"
	OpGroupDelete  = "group.delete"
)

// verbs are the opening words of each operation's errors.
var verbs = map[string]string{
	OpUserCreate: "create user", OpUserReplace: "replace user", OpUserDelete: "delete user",
	OpGroupCreate: "create group", OpGroupReplace: "replace group", OpGroupMembers: "change members of group",
	OpGroupDelete: "delete group",
}

// write is one audited decision in progress: begin names it, and exactly
// one of fail, notFound, or done ends it.
type write struct {
	w       *Workflow
	ctx     context.Context
	op      string
	kind    store.Kind
	id      string // the resource, once known
	subject string // what errors and failed entries name: the email, name or id
	target  store.Target
	intent  int64 // the ID of the decision's intent entry, once written
}

func (w *Workflow) begin(ctx context.Context, op string, kind store.Kind, id, subject string) *write {
	return &write{w: w, ctx: ctx, op: op, kind: kind, id: id, subject: subject}
}

// on returns the write for resource id (an existing member found on the
// way).
func (wr *write) on(id string) *write {
	c := *wr
	c.id = id
	return &c
}

// named records the names the IdP knows the resource by (the audit
// entry's target: a user's email and the IdP's own userName, a group's
// displayName) as the write learns them; an empty name is not news.
func (wr *write) named(name, userName string) *write {
	if name = strings.TrimSpace(name); name != "" {
		wr.target.Name = name
	}
	if userName = strings.TrimSpace(userName); userName != "" {
		wr.target.UserName = userName
	}
	return wr
}

// entry is the audit entry of the write with outcome and detail.
func (wr *write) entry(outcome store.Outcome, detail string) store.AuditEntry {
	return store.AuditEntry{Operation: wr.op, Kind: wr.kind, ResourceID: wr.id, Target: wr.target, Outcome: outcome, Detail: detail}
}

// fail audits err as the outcome and returns it wrapped for the caller.
func (wr *write) fail(err error) error {
	detail := ""
	if a := subjectAttr[wr.op]; a != "" {
		detail = a + " " + wr.subject
	}
	wr.w.Audit.Record(wr.ctx, wr.entry(store.OutcomeFailed, detail), err)
	return wr.err(err)
}

// notFound ends a write whose resource does not exist (nothing to audit).
func (wr *write) notFound() error { return wr.err(directory.ErrNotFound) }

func (wr *write) err(err error) error {
	return fmt.Errorf("%s %s: %w", verbs[wr.op], wr.subject, err)
}

// intend records, before the first upstream write of the decision, that
// it is about to be sent (Auditor.Intent). A create's intent has no id
// yet: nothing for other replicas to re-read, but it tells a later
// attempt of the same create that Sigma may have applied this one
// (unrecordedCreate).
func (wr *write) intend(detail string) {
	wr.intent = wr.w.Audit.Intent(wr.ctx, wr.entry(store.OutcomePending, detail))
}

// done audits the decision's outcome.
func (wr *write) done(outcome store.Outcome, detail string) {
	wr.w.Audit.Record(wr.ctx, wr.entry(outcome, detail), nil)
}

// subjectAttr names the subject of a failed create in its audit entry.
var subjectAttr = map[string]string{OpUserCreate: "userName", OpGroupCreate: "displayName"}

// ToUser is the User of member m with its store record r (externalId,
// the IdP's userName): the same on both paths.
func ToUser(m Member, r store.Resource) directory.User {
	u := directory.User{
		ID:            m.ID,
		UserName:      m.Email,
		ExternalID:    r.ExternalID,
		IdPUserName:   r.UserName,
		GivenName:     m.FirstName,
		FamilyName:    m.LastName,
		DisplayName:   cmp.Or(r.DisplayName, DisplayName(m.FirstName, m.LastName, m.Email)),
		NameFormatted: r.NameFormatted,
		Emails:        []directory.Email{{Value: m.Email, Type: "work", Primary: true}},
		Active:        m.Active,
		AccountType:   m.AccountType,
		UserKind:      m.UserKind,
		Created:       m.Created,
		Modified:      m.Modified,
	}
	if len(m.Groups) > 0 {
		u.Groups = m.Groups
	}
	u.Version = UserVersion(u)
	return u
}

// ToGroup is the Group of team t with its externalId.
func ToGroup(t Team, externalID string) directory.Group {
	g := directory.Group{ID: t.ID, DisplayName: t.Name, ExternalID: externalID, Members: t.Members,
		Created: t.Created, Modified: t.Modified}
	g.Version = GroupVersion(g)
	return g
}

// ToGroupWithoutMembers is ToGroup for a team whose members were not
// listed (the caller asked for none: directory.WithoutMembers): Members is
// nil and Version is the one ToGroup gives the team with the members whose
// digest is members.
func ToGroupWithoutMembers(t Team, externalID string, members MemberDigest) directory.Group {
	g := directory.Group{ID: t.ID, DisplayName: t.Name, ExternalID: externalID, Created: t.Created, Modified: t.Modified}
	g.Version = GroupVersionOf(g, members)
	return g
}
