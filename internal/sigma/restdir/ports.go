package restdir

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/provision"
)

// The provision ports over REST members and teams. Every member and team
// read or written here is put in the index.

type members struct{ d *Directory }

var _ provision.Members = members{}

func (members) CheckUser(directory.User) error { return nil }

// Known confirms an index hit with one GET: another replica may have
// changed the member. A miss is not looked up: the create that follows
// answers 409 for an email Sigma has.
func (p members) Known(ctx context.Context, email string) (provision.Member, bool, error) {
	d := p.d
	m, ok := d.idx.memberByEmail(email)
	if !ok {
		return provision.Member{}, false, nil
	}
	fresh, err := d.client.GetMember(ctx, m.MemberID)
	switch {
	case errors.Is(err, sigma.ErrNotFound):
		d.idx.dropMember(m.MemberID)
		return provision.Member{}, false, nil
	case err != nil:
		return provision.Member{}, false, upstreamErr("get member", err)
	}
	d.idx.putMember(fresh)
	if !strings.EqualFold(fresh.Email, strings.TrimSpace(email)) {
		return provision.Member{}, false, nil // renamed elsewhere; the email is free
	}
	return d.memberOf(fresh), true, nil
}

func (p members) Get(ctx context.Context, id string) (provision.Member, bool, error) {
	d := p.d
	m, err := d.client.GetMember(ctx, id)
	if errors.Is(err, sigma.ErrNotFound) {
		d.idx.dropMember(id)
		return provision.Member{}, false, nil
	}
	if err != nil {
		return provision.Member{}, false, upstreamErr("get member", err)
	}
	d.idx.putMember(m)
	return d.memberOf(m), true, nil
}

func (p members) FindByEmail(ctx context.Context, email string) (provision.Member, bool, error) {
	d := p.d
	m, ok, err := d.client.FindMemberByEmail(ctx, strings.TrimSpace(email))
	if err != nil {
		return provision.Member{}, false, upstreamErr("find member by email", err)
	}
	if !ok {
		return provision.Member{}, false, nil
	}
	d.idx.putMember(m)
	return d.memberOf(m), true, nil
}

func (p members) Create(ctx context.Context, nm provision.NewMember) (provision.Member, error) {
	d := p.d
	m, err := d.client.CreateMember(ctx, sigma.NewMember{Email: nm.Email, FirstName: nm.FirstName, LastName: nm.LastName,
		MemberType: nm.AccountType.Name, UserKind: nm.UserKind})
	if err != nil {
		return provision.Member{}, upstreamErr("create member", err)
	}
	d.idx.putMember(m)
	return d.memberOf(m), nil
}

// Update reactivates first and deactivates last: Sigma may refuse changes
// to a deactivated member.
func (p members) Update(ctx context.Context, pm provision.Member, c provision.Change) (provision.Member, error) {
	d := p.d
	var m sigma.Member
	var err error
	put := func(op string) error {
		if err != nil {
			return upstreamErr(op, err)
		}
		d.idx.putMember(m)
		return nil
	}
	if c.Active != nil && *c.Active {
		m, err = d.client.ReactivateMember(ctx, pm.ID)
		if err := put("reactivate member"); err != nil {
			return provision.Member{}, err
		}
	}
	patch := sigma.MemberPatch{Email: c.Email, FirstName: c.FirstName, LastName: c.LastName, UserKind: c.UserKind}
	if c.AccountType != nil {
		patch.MemberType = &c.AccountType.Name
	}
	if patch != (sigma.MemberPatch{}) {
		m, err = d.client.UpdateMember(ctx, pm.ID, patch)
		if err := put("update member"); err != nil {
			return provision.Member{}, err
		}
	}
	if c.Active != nil && !*c.Active {
		m, err = d.client.DeactivateMember(ctx, pm.ID, sigma.DeactivateOptions{NewOwnerID: d.opts.DeprovisionOwnerID})
		if err := put("deactivate member"); err != nil {
			return provision.Member{}, err
		}
	}
	if m.MemberID == "" {
		return pm, nil
	}
	return d.memberOf(m), nil
}

// Deprovision deactivates an active member, its documents to
// Options.DeprovisionOwnerID; a deactivated one is left as it is.
func (p members) Deprovision(ctx context.Context, pm provision.Member) error {
	if !pm.Active {
		return nil
	}
	d := p.d
	m, err := d.client.DeactivateMember(ctx, pm.ID, sigma.DeactivateOptions{NewOwnerID: d.opts.DeprovisionOwnerID})
	if err != nil {
		return upstreamErr("deactivate member", err)
	}
	d.idx.putMember(m)
	return nil
}

type teams struct{ d *Directory }

var _ provision.Teams = teams{}

func (p teams) Get(ctx context.Context, id string) (provision.Team, bool, error) {
	t, err := p.d.team(ctx, id)
	if errors.Is(err, directory.ErrNotFound) {
		return provision.Team{}, false, nil
	}
	if err != nil {
		return provision.Team{}, false, err
	}
	return p.d.teamOf(t), true, nil
}

// Taken looks name up in the index and, with upstream, on a miss with
// one GET /v2/teams?name=; a hit is confirmed with one GET (another
// replica may have deleted or renamed it).
func (p teams) Taken(ctx context.Context, name string, upstream bool) (string, error) {
	d := p.d
	if !upstream {
		if t, ok := d.idx.teamByName(name); ok {
			return t.TeamID, nil
		}
		return "", nil
	}
	t, ok, err := d.teamByName(ctx, name)
	if err != nil || !ok {
		return "", err
	}
	f, err := d.fetchTeam(ctx, t.TeamID)
	switch {
	case err == nil && strings.EqualFold(f.Name, strings.TrimSpace(name)):
		return t.TeamID, nil
	case err != nil && !errors.Is(err, directory.ErrNotFound):
		return "", err
	}
	return "", nil
}

// Find looks name up in the index and, on a miss, with one GET
// /v2/teams?name=.
func (p teams) Find(ctx context.Context, name string) (string, bool, error) {
	t, ok, err := p.d.teamByName(ctx, name)
	return t.TeamID, ok, err
}

// Prepare refuses adds that are not live, active members (Sigma does not
// add deactivated members to teams) and keeps the removals Sigma can make.
// With confirm it first confirms the team (a membership PATCH).
func (p teams) Prepare(ctx context.Context, id string, add, remove []string, confirm bool) ([]string, error) {
	d := p.d
	if confirm {
		if _, _, err := d.liveTeam(ctx, id); err != nil {
			return nil, err
		}
	}
	remove, err := d.removable(ctx, remove, confirm)
	if err != nil {
		return nil, err
	}
	return remove, d.checkAddable(ctx, add)
}

func (p teams) Create(ctx context.Context, name string, members []string) (provision.Team, error) {
	d := p.d
	t, err := d.client.CreateTeam(ctx, sigma.NewTeam{Name: name, Members: members})
	if err != nil {
		return provision.Team{}, upstreamErr("create team", err)
	}
	got := t.Members
	if got == nil {
		got = members
	}
	d.idx.putTeamWithMembers(t, got)
	return d.teamOf(t), nil
}

func (p teams) Update(ctx context.Context, id string, rename *string, add, remove []string) (provision.Team, error) {
	d := p.d
	cur, ok := d.idx.team(id)
	if !ok {
		cur = sigma.Team{TeamID: id}
	}
	if rename != nil {
		t, err := d.client.UpdateTeam(ctx, id, sigma.TeamPatch{Name: rename})
		if err != nil {
			return provision.Team{}, upstreamErr("rename team", err)
		}
		cur.Name, cur.UpdatedAt = t.Name, t.UpdatedAt
		d.idx.putTeamWithMembers(cur, nil)
	}
	if len(add)+len(remove) > 0 {
		if err := d.client.ModifyTeamMembers(ctx, id, add, remove); err != nil {
			if errors.Is(err, sigma.ErrNotFound) {
				d.idx.dropTeam(id)
				return provision.Team{}, fmt.Errorf("team %s: %w", id, directory.ErrNotFound)
			}
			return provision.Team{}, upstreamErr("change team members", err)
		}
		d.idx.changeMembers(id, add, remove)
	}
	if directory.AnswerUnused(ctx) { // the caller reads no member list: keep the cost per change flat
		return provision.Team{ID: cur.TeamID, Name: cur.Name, Created: cur.CreatedAt, Modified: cur.UpdatedAt}, nil
	}
	return d.teamOf(cur), nil
}

func (p teams) Delete(ctx context.Context, id string) error {
	d := p.d
	err := d.client.DeleteTeam(ctx, id)
	if err != nil && !errors.Is(err, sigma.ErrNotFound) {
		return upstreamErr("delete team", err)
	}
	d.idx.dropTeam(id)
	if err != nil {
		return fmt.Errorf("team %s: %w", id, directory.ErrNotFound)
	}
	return nil
}

// fresh re-reads a member the index holds as deactivated: another replica
// may have reactivated it, and refusing or skipping on a stale picture
// would be wrong. Members the index holds as active are taken as they are.
func (d *Directory) fresh(ctx context.Context, m sigma.Member) (sigma.Member, error) {
	if active(m) {
		return m, nil
	}
	f, err := d.client.GetMember(ctx, m.MemberID)
	if err != nil {
		return m, upstreamErr("get member", err)
	}
	d.idx.putMember(f)
	return f, nil
}

// checkAddable refuses ids that are not live users, and deactivated ones
// (Sigma does not add them to teams), before anything is written.
func (d *Directory) checkAddable(ctx context.Context, ids []string) error {
	for _, id := range ids {
		m, _, ok, err := d.liveMember(ctx, id)
		if err == nil && ok {
			m, err = d.fresh(ctx, m)
		}
		if err != nil {
			return err
		}
		if !ok {
			return &directory.InvalidValueError{Attribute: "members", Value: id, Reason: "no such user"}
		}
		if !active(m) {
			return &directory.InvalidValueError{Attribute: "members", Value: id, Reason: "user is deactivated; Sigma does not add deactivated members to teams"}
		}
	}
	return nil
}

// removable keeps the ids Sigma can remove: ids of no member are skipped
// (Sigma would answer 404, and removing a non-member is a no-op) and so
// are deactivated members (Sigma refuses; they are already hidden from the
// group). With confirm, a member the index holds as deactivated is re-read
// first, in case another replica reactivated it.
func (d *Directory) removable(ctx context.Context, ids []string, confirm bool) ([]string, error) {
	var out []string
	for _, id := range ids {
		m, ok, err := d.member(ctx, id)
		if err == nil && ok && confirm {
			m, err = d.fresh(ctx, m)
		}
		if err != nil {
			return nil, err
		}
		if ok && active(m) {
			out = append(out, id)
		}
	}
	return out, nil
}
