package provision

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/store"
)

// DryRunMax bounds the users, and separately the groups, a DryRuns
// record keeps; past it the oldest is forgotten (its id then reads 404,
// as before the record existed). About 1 KiB each.
const DryRunMax = 1000

// DryRuns is the record of what dry-run creates answered: the users and
// groups a dry run "created", with what later dry-run writes would have
// made of them, so that the IdP's reads, updates and deletes of their
// dryrun- ids answer as they would have — an IdP's test (JumpCloud's Test
// Connection creates then deletes; Okta's reads the user back) behaves as
// against a real SCIM app, while Sigma gets no write and the audit trail
// records every would-be write as dry_run.
//
// It lives in memory, one per process, shared by both paths (the mode
// selector may switch between them): a restart forgets it, and another
// replica does not know it (a dryrun- id it is asked for is 404 there) —
// run a dry run on one replica, or with sticky sessions. Lists (ListUsers,
// PageUsers, ListGroups) show Sigma's state only. Safe for concurrent use.
type DryRuns struct {
	mu     sync.Mutex
	users  bounded[dryUser]
	groups bounded[dryGroup]
}

type dryUser struct {
	m Member
	r store.Resource
}

type dryGroup struct {
	t   Team
	ext string
}

// bounded is a map of at most DryRunMax entries that forgets the oldest.
type bounded[T any] struct {
	m     map[string]T
	order []string // keys, oldest first
}

func (b *bounded[T]) put(id string, v T) {
	if b.m == nil {
		b.m = map[string]T{}
	}
	if _, ok := b.m[id]; !ok {
		b.order = append(b.order, id)
		if len(b.order) > DryRunMax {
			delete(b.m, b.order[0])
			b.order = b.order[1:]
		}
	}
	b.m[id] = v
}

func (b *bounded[T]) drop(id string) {
	delete(b.m, id)
	b.order = slices.DeleteFunc(b.order, func(x string) bool { return x == id })
}

// find returns the entries match accepts, ordered by id.
func (b *bounded[T]) find(match func(T) bool) []T {
	var ids []string
	for id, v := range b.m {
		if match(v) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	out := make([]T, len(ids))
	for i, id := range ids {
		out[i] = b.m[id]
	}
	return out
}

// NewDryRuns returns an empty record.
func NewDryRuns() *DryRuns { return &DryRuns{} }

// DryRunRecord is the record a path in dry run (on) uses: shared when the
// caller gives one (both paths of a process), else its own; nil when not
// in dry run.
func DryRunRecord(on bool, shared *DryRuns) *DryRuns {
	switch {
	case !on:
		return nil
	case shared != nil:
		return shared
	}
	return NewDryRuns()
}

// record is the store's record of (kind, id), or the dry-run record's
// for an id a dry-run create answered.
func (w *Workflow) record(ctx context.Context, kind store.Kind, id string) (store.Resource, bool, error) {
	if u, ok := w.DryRuns.user(id); ok && kind == store.KindUser {
		return u.r, true, nil
	}
	if g, ok := w.DryRuns.group(id); ok && kind == store.KindGroup {
		return store.Resource{Kind: kind, ID: id, ExternalID: g.ext}, true, nil
	}
	return w.Records.Get(ctx, kind, id)
}

// IsDryRunID reports whether id is one a dry-run create answered with.
func IsDryRunID(id string) bool { return strings.HasPrefix(id, "dryrun-") }

// locked runs fn under the record's lock; a nil record runs nothing.
func (d *DryRuns) locked(fn func()) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	fn()
}

func (d *DryRuns) putUser(m Member, r store.Resource) {
	d.locked(func() { d.users.put(m.ID, dryUser{m: m, r: r}) })
}

// putGroup records t, its members named by their emails where the record
// knows them, and returns it so.
func (d *DryRuns) putGroup(t Team, ext string) Team {
	d.locked(func() {
		t.Members = slices.Clone(t.Members)
		for i, r := range t.Members {
			if u, ok := d.users.m[r.ID]; ok && r.Display == "" {
				t.Members[i].Display = u.m.Email
			}
		}
		d.groups.put(t.ID, dryGroup{t: t, ext: ext})
	})
	return t
}

// dropUser forgets user id, and its memberships of recorded groups.
func (d *DryRuns) dropUser(id string) {
	d.locked(func() {
		d.users.drop(id)
		for gid, g := range d.groups.m {
			g.t.Members = slices.DeleteFunc(slices.Clone(g.t.Members), func(r directory.Ref) bool { return r.ID == id })
			d.groups.m[gid] = g
		}
	})
}

func (d *DryRuns) dropGroup(id string) { d.locked(func() { d.groups.drop(id) }) }

func (d *DryRuns) user(id string) (u dryUser, ok bool) {
	if IsDryRunID(id) {
		d.locked(func() { u, ok = d.users.m[id] })
	}
	return u, ok
}

func (d *DryRuns) group(id string) (g dryGroup, ok bool) {
	if IsDryRunID(id) {
		d.locked(func() { g, ok = d.groups.m[id] })
	}
	return g, ok
}

func (d *DryRuns) findUsers(match func(dryUser) bool) (out []dryUser) {
	d.locked(func() { out = d.users.find(match) })
	return out
}

func (d *DryRuns) findGroups(match func(dryGroup) bool) (out []dryGroup) {
	d.locked(func() { out = d.groups.find(match) })
	return out
}

// LookupUsers answers a user lookup from the record: ok is true when the
// record holds a match (users are then the matches), false when the
// path must answer.
func (d *DryRuns) LookupUsers(attr directory.Attr, value string) (users []directory.User, ok bool) {
	value = strings.TrimSpace(value)
	var found []dryUser
	switch attr {
	case directory.AttrID:
		if u, ok := d.user(value); ok {
			found = []dryUser{u}
		}
	case directory.AttrUserName, directory.AttrEmail:
		found = d.findUsers(func(u dryUser) bool {
			return strings.EqualFold(u.m.Email, value) || attr == directory.AttrUserName && u.r.UserName != "" &&
				store.FoldUserName(u.r.UserName) == store.FoldUserName(value)
		})
	case directory.AttrExternalID:
		found = d.findUsers(func(u dryUser) bool { return value != "" && u.r.ExternalID == value })
	}
	for _, u := range found {
		users = append(users, ToUser(u.m, u.r))
	}
	return users, len(users) > 0
}

// LookupGroups is LookupUsers for groups (AttrID, AttrDisplayName,
// AttrExternalID).
func (d *DryRuns) LookupGroups(attr directory.Attr, value string) (groups []directory.Group, ok bool) {
	value = strings.TrimSpace(value)
	var found []dryGroup
	switch attr {
	case directory.AttrID:
		if g, ok := d.group(value); ok {
			found = []dryGroup{g}
		}
	case directory.AttrDisplayName:
		found = d.findGroups(func(g dryGroup) bool { return strings.EqualFold(g.t.Name, value) })
	case directory.AttrExternalID:
		found = d.findGroups(func(g dryGroup) bool { return value != "" && g.ext == value })
	}
	for _, g := range found {
		groups = append(groups, ToGroup(g.t, g.ext))
	}
	return groups, len(groups) > 0
}

// Overlay returns the ports with the record laid over their reads: a
// member or team the record holds is read from it, and its email or name
// counts as taken; everything else goes to the path. With a nil record
// the ports are returned as they are.
func (d *DryRuns) Overlay(m Members, t Teams) (Members, Teams) {
	if d == nil {
		return m, t
	}
	return dryMembers{Members: m, d: d}, dryTeams{Teams: t, d: d}
}

type dryMembers struct {
	Members
	d *DryRuns
}

func (p dryMembers) Get(ctx context.Context, id string) (Member, bool, error) {
	if u, ok := p.d.user(id); ok {
		return u.m, true, nil
	}
	if IsDryRunID(id) {
		return Member{}, false, nil
	}
	return p.Members.Get(ctx, id)
}

func (p dryMembers) FindByEmail(ctx context.Context, email string) (Member, bool, error) {
	if us := p.d.findUsers(func(u dryUser) bool { return strings.EqualFold(u.m.Email, strings.TrimSpace(email)) }); len(us) > 0 {
		return us[0].m, true, nil
	}
	return p.Members.FindByEmail(ctx, email)
}

type dryTeams struct {
	Teams
	d *DryRuns
}

func (p dryTeams) Get(ctx context.Context, id string) (Team, bool, error) {
	if g, ok := p.d.group(id); ok {
		return g.t, true, nil
	}
	if IsDryRunID(id) {
		return Team{}, false, nil
	}
	return p.Teams.Get(ctx, id)
}

func (p dryTeams) Taken(ctx context.Context, name string, upstream bool) (string, error) {
	if gs := p.d.findGroups(func(g dryGroup) bool { return strings.EqualFold(g.t.Name, strings.TrimSpace(name)) }); len(gs) > 0 {
		return gs[0].t.ID, nil
	}
	return p.Teams.Taken(ctx, name, upstream)
}

// Prepare checks the recorded users among add itself (the path does not
// know them) and leaves a recorded team's removals as they are; the rest
// goes to the path, for a recorded team as for a new one.
func (p dryTeams) Prepare(ctx context.Context, id string, add, remove []string, confirm bool) ([]string, error) {
	var real []string
	for _, a := range add {
		if !IsDryRunID(a) {
			real = append(real, a)
			continue
		}
		u, ok := p.d.user(a)
		switch {
		case !ok:
			return nil, &directory.InvalidValueError{Attribute: "members", Value: a, Reason: "no such user"}
		case !u.m.Active:
			return nil, &directory.InvalidValueError{Attribute: "members", Value: a, Reason: "user is deactivated; Sigma does not add deactivated members to teams"}
		}
	}
	if _, ok := p.d.group(id); ok || IsDryRunID(id) {
		if !ok {
			return nil, fmt.Errorf("team %s: %w", id, directory.ErrNotFound)
		}
		if _, err := p.Teams.Prepare(ctx, "", real, nil, false); err != nil {
			return nil, err
		}
		return remove, nil
	}
	kept, err := p.Teams.Prepare(ctx, id, real, slices.DeleteFunc(slices.Clone(remove), IsDryRunID), confirm)
	if err != nil {
		return nil, err
	}
	for _, r := range remove {
		if IsDryRunID(r) {
			kept = append(kept, r) // a recorded user in a real team: only the answer shows it
		}
	}
	return kept, nil
}
