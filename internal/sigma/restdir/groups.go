package restdir

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/dirkit"
	"github.com/scimbridge/scim-bridge/internal/store"
)

// toGroup maps a team (members from the index, externalId from the store)
// to a Group. Deactivated members are left out: Sigma keeps them in their
// teams but refuses to add or remove them, so to the IdP they are gone
// (and removing them is a no-op).
func (d *Directory) toGroup(t sigma.Team, externalID string) directory.Group {
	g := directory.Group{ID: t.TeamID, DisplayName: t.Name, ExternalID: externalID, Created: t.CreatedAt, Modified: t.UpdatedAt}
	d.idx.read(func(x *indexData) {
		for id := range x.teamMembers[t.TeamID] {
			m, ok := x.members[id]
			if ok && !active(m) {
				continue
			}
			g.Members = append(g.Members, directory.Ref{ID: id, Display: m.Email})
		}
	})
	sort.Slice(g.Members, func(i, j int) bool { return g.Members[i].ID < g.Members[j].ID })
	g.Version = dirkit.GroupVersion(g)
	return g
}

// fetchTeam reads a team and its members from Sigma into the index.
func (d *Directory) fetchTeam(ctx context.Context, id string) (sigma.Team, error) {
	t, err := d.client.GetTeam(ctx, id)
	if errors.Is(err, sigma.ErrNotFound) {
		d.idx.dropTeam(id)
	}
	if err != nil {
		return t, upstreamErr("get team", err)
	}
	members := t.Members
	if members == nil {
		members = []string{}
	}
	d.idx.putTeamWithMembers(t, members)
	return t, nil
}

// team returns a team from the index or, on a miss, a stale entry
// (another replica changed it) or when ctx asks for a fresh read, from one
// upstream GET.
func (d *Directory) team(ctx context.Context, id string) (sigma.Team, error) {
	gen := d.idx.staleGen(teamKey(id))
	t, ok := d.idx.team(id)
	if ok && gen == 0 && !directory.FreshRead(ctx) {
		d.m.lookups.WithLabelValues("group", "hit").Inc()
		return t, nil
	}
	t, err := d.fetchTeam(ctx, id)
	switch {
	case errors.Is(err, directory.ErrNotFound):
		d.idx.clearStale(teamKey(id), gen)
		d.m.lookups.WithLabelValues("group", "miss").Inc()
	case err == nil:
		d.idx.clearStale(teamKey(id), gen)
		if ok && gen != 0 {
			d.m.lookups.WithLabelValues("group", "refreshed").Inc()
		} else {
			d.m.lookups.WithLabelValues("group", "upstream_hit").Inc()
		}
	}
	return t, err
}

// teamByName returns the team named name (case-insensitively, as Sigma
// compares team names) from the index (re-read when stale) or, on a miss,
// from one
// GET /v2/teams?name= (plus one GET of the team found, for its members).
func (d *Directory) teamByName(ctx context.Context, name string) (sigma.Team, bool, error) {
	if t, ok := d.idx.teamByName(name); ok {
		key := teamKey(t.TeamID)
		gen := d.idx.staleGen(key)
		if gen == 0 {
			d.m.lookups.WithLabelValues("group", "hit").Inc()
			return t, true, nil
		}
		// Another replica changed it: re-read it, and look the name up
		// upstream if it is gone or renamed.
		f, err := d.fetchTeam(ctx, t.TeamID)
		switch {
		case errors.Is(err, directory.ErrNotFound):
			d.idx.clearStale(key, gen)
		case err != nil:
			return t, false, err
		default:
			d.idx.clearStale(key, gen)
			if strings.EqualFold(f.Name, strings.TrimSpace(name)) {
				d.m.lookups.WithLabelValues("group", "refreshed").Inc()
				return f, true, nil
			}
		}
	}
	for t, err := range d.client.Teams(ctx, strings.TrimSpace(name)) {
		if err != nil {
			return t, false, upstreamErr("find team by name", err)
		}
		if strings.EqualFold(t.Name, strings.TrimSpace(name)) {
			t, err := d.fetchTeam(ctx, t.TeamID)
			if errors.Is(err, directory.ErrNotFound) {
				break
			}
			if err != nil {
				return t, false, err
			}
			d.m.lookups.WithLabelValues("group", "upstream_hit").Inc()
			return t, true, nil
		}
	}
	d.m.lookups.WithLabelValues("group", "miss").Inc()
	return sigma.Team{}, false, nil
}

// liveTeam returns a team and its store record. A team deleted through
// any replica is tombstoned in the store, so it is gone here at once even
// when this replica's index still holds it.
func (d *Directory) liveTeam(ctx context.Context, id string) (sigma.Team, store.Resource, error) {
	r, _, err := d.rec.Get(ctx, store.KindGroup, id)
	if err != nil {
		return sigma.Team{}, r, err
	}
	if r.Tombstoned {
		d.idx.dropTeam(id)
		return sigma.Team{}, r, fmt.Errorf("team %s was deleted: %w", id, directory.ErrNotFound)
	}
	t, err := d.team(ctx, id)
	return t, r, err
}

// refreshStaleMembers re-reads (one GET each) the members of team id that
// another replica changed, so that a group view shows a member it
// deactivated or revived as it is now.
func (d *Directory) refreshStaleMembers(ctx context.Context, id string) error {
	for _, mid := range d.idx.staleMembersOf(id) {
		if _, _, err := d.member(ctx, mid); err != nil {
			return err
		}
	}
	return nil
}

// GetGroup implements directory.Directory.
func (d *Directory) GetGroup(ctx context.Context, id string) (directory.Group, error) {
	t, r, err := d.liveTeam(ctx, id)
	if err == nil {
		err = d.refreshStaleMembers(ctx, id)
	}
	if err != nil {
		return directory.Group{}, fmt.Errorf("get group %s: %w", id, err)
	}
	return d.toGroup(t, r.ExternalID), nil
}

// LookupGroups implements directory.Directory for AttrID, AttrDisplayName
// and AttrExternalID.
func (d *Directory) LookupGroups(ctx context.Context, attr directory.Attr, value string) ([]directory.Group, error) {
	var id string
	switch attr {
	case directory.AttrID:
		id = value
	case directory.AttrDisplayName:
		if strings.TrimSpace(value) == "" {
			return nil, nil
		}
		t, ok, err := d.teamByName(ctx, value)
		if err != nil {
			return nil, fmt.Errorf("look up group by displayName: %w", err)
		}
		if !ok {
			return nil, nil
		}
		if r, _, err := d.rec.Get(ctx, store.KindGroup, t.TeamID); err != nil {
			return nil, fmt.Errorf("look up group by displayName: %w", err)
		} else if r.Tombstoned {
			// A stale index entry of a team deleted through another
			// replica; the name may have been taken again since.
			d.idx.dropTeam(t.TeamID)
			if t, ok, err = d.teamByName(ctx, value); err != nil || !ok {
				return nil, err
			}
		}
		id = t.TeamID
	case directory.AttrExternalID:
		var err error
		if id, err = d.rec.IDByExternalID(ctx, store.KindGroup, value); err != nil || id == "" {
			return nil, err
		}
	default:
		return nil, &directory.InvalidValueError{Attribute: string(attr), Value: value, Reason: "groups cannot be looked up by this attribute"}
	}
	if id == "" {
		return nil, nil
	}
	t, r, err := d.liveTeam(ctx, id)
	if errors.Is(err, directory.ErrNotFound) {
		return nil, nil
	}
	if err == nil {
		err = d.refreshStaleMembers(ctx, id)
	}
	if err != nil {
		return nil, fmt.Errorf("look up group by %s: %w", attr, err)
	}
	return []directory.Group{d.toGroup(t, r.ExternalID)}, nil
}

// ListGroups implements directory.Directory.
func (d *Directory) ListGroups(ctx context.Context) ([]directory.Group, error) {
	recs, err := d.rec.All(ctx, store.KindGroup)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	var ts []sigma.Team
	d.idx.read(func(x *indexData) {
		ts = make([]sigma.Team, 0, len(x.teams))
		for _, t := range x.teams {
			if !recs[t.TeamID].Tombstoned {
				ts = append(ts, t)
			}
		}
	})
	sort.Slice(ts, func(i, j int) bool { return ts[i].TeamID < ts[j].TeamID })
	out := make([]directory.Group, len(ts))
	for i, t := range ts {
		out[i] = d.toGroup(t, recs[t.TeamID].ExternalID)
	}
	return out, nil
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

// CreateGroup implements directory.Directory.
func (d *Directory) CreateGroup(ctx context.Context, g directory.Group) (directory.Group, error) {
	const op = "group.create"
	name := strings.TrimSpace(g.DisplayName)
	fail := func(id string, err error) (directory.Group, error) {
		d.audits.Record(ctx, op, store.KindGroup, id, store.OutcomeFailed, err, "displayName "+name)
		return directory.Group{}, fmt.Errorf("create group %q: %w", name, err)
	}
	if name == "" {
		return fail("", &directory.InvalidValueError{Attribute: "displayName", Reason: "required"})
	}
	members := dirkit.RefIDs(g.Members)
	if err := d.checkAddable(ctx, members); err != nil {
		return fail("", err)
	}
	defer d.locks.Lock("team:" + dirkit.LowerTrim(name))()
	if t, ok, err := d.teamByName(ctx, name); err != nil {
		return fail("", err)
	} else if ok {
		// Confirm: another replica may have deleted or renamed it.
		f, err := d.fetchTeam(ctx, t.TeamID)
		switch {
		case err == nil && strings.EqualFold(f.Name, name):
			return fail(t.TeamID, fmt.Errorf("displayName is taken by team %s: %w", t.TeamID, directory.ErrConflict))
		case err != nil && !errors.Is(err, directory.ErrNotFound):
			return fail("", err)
		}
	}
	if err := d.rec.CheckExternalID(ctx, store.KindGroup, "", g.ExternalID); err != nil {
		return fail("", err)
	}
	detail := fmt.Sprintf("team %q with %d members", name, len(members))
	if d.opts.DryRun {
		d.audits.Record(ctx, op, store.KindGroup, "", store.OutcomeDryRun, nil, "would create "+detail)
		out := directory.Group{ID: dirkit.DryRunID("team:" + name), DisplayName: name, ExternalID: g.ExternalID, Created: d.opts.Now(), Modified: d.opts.Now()}
		for _, id := range members {
			m, _ := d.idx.member(id)
			out.Members = append(out.Members, directory.Ref{ID: id, Display: m.Email})
		}
		return out, nil
	}
	t, err := d.client.CreateTeam(ctx, sigma.NewTeam{Name: name, Members: members})
	if err != nil {
		return fail("", upstreamErr("create team", err))
	}
	got := t.Members
	if got == nil {
		got = members
	}
	d.idx.putTeamWithMembers(t, got)
	if g.ExternalID != "" {
		if err := d.rec.PutRecord(ctx, store.KindGroup, t.TeamID, g.ExternalID, false); err != nil {
			return fail(t.TeamID, err)
		}
	}
	d.audits.Record(ctx, op, store.KindGroup, t.TeamID, store.OutcomeOK, nil, "created "+detail)
	return d.toGroup(t, g.ExternalID), nil
}

// ReplaceGroup implements directory.Directory. The team and its members are
// read fresh from Sigma so the delta is right even when another replica
// changed them; members are then added and removed in one PATCH, never by
// emptying the team first.
func (d *Directory) ReplaceGroup(ctx context.Context, g directory.Group) (directory.Group, error) {
	const op = "group.replace"
	name := strings.TrimSpace(g.DisplayName)
	fail := func(err error) (directory.Group, error) {
		d.audits.Record(ctx, op, store.KindGroup, g.ID, store.OutcomeFailed, err, "")
		return directory.Group{}, fmt.Errorf("replace group %s: %w", g.ID, err)
	}
	defer d.locks.Lock("teamid:" + g.ID)()
	cur, err := d.fetchTeam(ctx, g.ID)
	if errors.Is(err, directory.ErrNotFound) {
		return directory.Group{}, fmt.Errorf("replace group %s: %w", g.ID, err)
	}
	if err != nil {
		return fail(err)
	}
	r, _, err := d.rec.Get(ctx, store.KindGroup, g.ID)
	if err != nil {
		return fail(err)
	}
	var add, remove, changed []string
	if g.Members != nil { // nil: membership stays as Sigma has it
		want := dirkit.RefIDs(g.Members)
		have := make(set, len(cur.Members))
		for _, id := range cur.Members {
			have[id] = struct{}{}
		}
		wanted := make(set, len(want))
		for _, id := range want {
			wanted[id] = struct{}{}
			if _, ok := have[id]; !ok {
				add = append(add, id)
			}
		}
		for _, id := range cur.Members {
			if _, ok := wanted[id]; !ok {
				remove = append(remove, id)
			}
		}
	}
	// Deactivated members are hidden from the IdP, so every full list it
	// sends lacks them: judge them by the index rather than re-reading each.
	if remove, err = d.removable(ctx, remove, false); err != nil {
		return fail(err)
	}
	if err := d.checkAddable(ctx, add); err != nil {
		return fail(err)
	}
	rename := name != "" && name != cur.Name
	if rename {
		if t, ok := d.idx.teamByName(name); ok && t.TeamID != g.ID {
			return fail(fmt.Errorf("displayName is taken by team %s: %w", t.TeamID, directory.ErrConflict))
		}
		changed = append(changed, "name")
	}
	if g.ExternalID != r.ExternalID {
		if err := d.rec.CheckExternalID(ctx, store.KindGroup, g.ID, g.ExternalID); err != nil {
			return fail(err)
		}
		changed = append(changed, "externalId")
	}
	if len(add)+len(remove) > 0 {
		changed = append(changed, fmt.Sprintf("members +%d -%d", len(add), len(remove)))
	}
	if len(changed) == 0 {
		d.audits.Record(ctx, op, store.KindGroup, g.ID, store.OutcomeSkipped, nil, "no change")
		return d.toGroup(cur, r.ExternalID), nil
	}
	detail := "changed " + strings.Join(changed, ", ")
	if d.opts.DryRun {
		d.audits.Record(ctx, op, store.KindGroup, g.ID, store.OutcomeDryRun, nil, "would have "+detail)
		out := d.toGroup(cur, g.ExternalID)
		if rename {
			out.DisplayName = name
		}
		return out, nil
	}
	if rename {
		t, err := d.client.UpdateTeam(ctx, g.ID, sigma.TeamPatch{Name: &name})
		if err != nil {
			return fail(upstreamErr("rename team", err))
		}
		cur.Name, cur.UpdatedAt = t.Name, t.UpdatedAt
		d.idx.putTeamWithMembers(cur, nil)
	}
	if len(add)+len(remove) > 0 {
		if err := d.client.ModifyTeamMembers(ctx, g.ID, add, remove); err != nil {
			return fail(upstreamErr("change team members", err))
		}
		d.idx.changeMembers(g.ID, add, remove)
	}
	if g.ExternalID != r.ExternalID {
		if err := d.rec.PutRecord(ctx, store.KindGroup, g.ID, g.ExternalID, false); err != nil {
			return fail(err)
		}
	}
	d.audits.Record(ctx, op, store.KindGroup, g.ID, store.OutcomeOK, nil, detail)
	return d.toGroup(cur, g.ExternalID), nil
}

// ModifyGroupMembers implements directory.Directory with one
// PATCH /v2/teams/{id}/members {add, remove} and no read of the member
// list: Sigma applies each delta on its own, so concurrent calls (from this
// or another replica) lose nothing. An id in both lists is removed.
func (d *Directory) ModifyGroupMembers(ctx context.Context, id string, add, remove []string) (directory.Group, error) {
	const op = "group.members"
	fail := func(err error) (directory.Group, error) {
		d.audits.Record(ctx, op, store.KindGroup, id, store.OutcomeFailed, err, "")
		return directory.Group{}, fmt.Errorf("change members of group %s: %w", id, err)
	}
	// Serialised with ReplaceGroup on the same team in this process, so a
	// ReplaceGroup's fresh read cannot overwrite this delta in the index.
	defer d.locks.Lock("teamid:" + id)()
	t, r, err := d.liveTeam(ctx, id)
	if errors.Is(err, directory.ErrNotFound) {
		return directory.Group{}, fmt.Errorf("change members of group %s: %w", id, err)
	}
	if err != nil {
		return fail(err)
	}
	if remove, err = d.removable(ctx, dirkit.Dedupe(remove), true); err != nil {
		return fail(err)
	}
	add = slices.DeleteFunc(dirkit.Dedupe(add), func(x string) bool { return slices.Contains(remove, x) })
	if err := d.checkAddable(ctx, add); err != nil {
		return fail(err)
	}
	ext := r.ExternalID
	if len(add)+len(remove) == 0 {
		d.audits.Record(ctx, op, store.KindGroup, id, store.OutcomeSkipped, nil, "no change")
		return d.toGroup(t, ext), nil
	}
	detail := fmt.Sprintf("members +%d -%d", len(add), len(remove))
	if d.opts.DryRun {
		d.audits.Record(ctx, op, store.KindGroup, id, store.OutcomeDryRun, nil, "would have changed "+detail)
		out := d.toGroup(t, ext)
		out.Members = slices.DeleteFunc(out.Members, func(r directory.Ref) bool { return slices.Contains(remove, r.ID) })
		for _, a := range add {
			if !slices.ContainsFunc(out.Members, func(r directory.Ref) bool { return r.ID == a }) {
				m, _ := d.idx.member(a)
				out.Members = append(out.Members, directory.Ref{ID: a, Display: m.Email})
			}
		}
		return out, nil
	}
	if err := d.client.ModifyTeamMembers(ctx, id, add, remove); err != nil {
		if errors.Is(err, sigma.ErrNotFound) {
			d.idx.dropTeam(id)
			return directory.Group{}, fmt.Errorf("change members of group %s: %w", id, directory.ErrNotFound)
		}
		return fail(upstreamErr("change team members", err))
	}
	d.idx.changeMembers(id, add, remove)
	d.audits.Record(ctx, op, store.KindGroup, id, store.OutcomeOK, nil, "changed "+detail)
	return d.toGroup(t, ext), nil
}

// DeleteGroup implements directory.Directory. The team is deleted in Sigma
// and tombstoned in the store (team ids are never reused), so replicas
// whose index still holds it answer ErrNotFound at once.
func (d *Directory) DeleteGroup(ctx context.Context, id string) error {
	const op = "group.delete"
	fail := func(err error) error {
		d.audits.Record(ctx, op, store.KindGroup, id, store.OutcomeFailed, err, "")
		return fmt.Errorf("delete group %s: %w", id, err)
	}
	if _, _, err := d.liveTeam(ctx, id); errors.Is(err, directory.ErrNotFound) {
		return fmt.Errorf("delete group %s: %w", id, err)
	} else if err != nil {
		return fail(err)
	}
	if d.opts.DryRun {
		d.audits.Record(ctx, op, store.KindGroup, id, store.OutcomeDryRun, nil, "would have deleted team")
		return nil
	}
	err := d.client.DeleteTeam(ctx, id)
	if errors.Is(err, sigma.ErrNotFound) {
		d.idx.dropTeam(id)
		return fmt.Errorf("delete group %s: %w", id, directory.ErrNotFound)
	}
	if err != nil {
		return fail(upstreamErr("delete team", err))
	}
	d.idx.dropTeam(id)
	if err := d.rec.PutRecord(ctx, store.KindGroup, id, "", true); err != nil {
		return fail(err)
	}
	d.audits.Record(ctx, op, store.KindGroup, id, store.OutcomeOK, nil, "deleted team")
	return nil
}
