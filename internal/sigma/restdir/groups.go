package restdir

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/provision"
	"github.com/scimbridge/scim-bridge/internal/store"
)

// teamOf is the typed team state of t, its members from the index as
// indexData.shown shows them.
func (d *Directory) teamOf(t sigma.Team) provision.Team {
	pt := provision.Team{ID: t.TeamID, Name: t.Name, Created: t.CreatedAt, Modified: t.UpdatedAt}
	d.idx.read(func(x *indexData) {
		for id := range x.teamMembers[t.TeamID] {
			if r, ok := x.shown(id); ok {
				pt.Members = append(pt.Members, r)
			}
		}
	})
	sort.Slice(pt.Members, func(i, j int) bool { return pt.Members[i].ID < pt.Members[j].ID })
	return pt
}

// toGroup maps a team (members from the index, externalId from the store)
// to a Group; under directory.WithoutMembers(ctx) without its members,
// the Version from the team's digest in the index.
func (d *Directory) toGroup(ctx context.Context, t sigma.Team, externalID string) directory.Group {
	if !directory.MembersUnused(ctx) {
		return provision.ToGroup(d.teamOf(t), externalID)
	}
	var digest provision.MemberDigest
	d.idx.read(func(x *indexData) { digest = x.digests[t.TeamID] })
	pt := provision.Team{ID: t.TeamID, Name: t.Name, Created: t.CreatedAt, Modified: t.UpdatedAt}
	return provision.ToGroupWithoutMembers(pt, externalID, digest)
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
	if gs, ok := d.DryRuns.LookupGroups(directory.AttrID, id); ok {
		return gs[0], nil
	}
	t, r, err := d.liveTeam(ctx, id)
	if err == nil {
		err = d.refreshStaleMembers(ctx, id)
	}
	if err != nil {
		return directory.Group{}, fmt.Errorf("get group %s: %w", id, err)
	}
	return d.toGroup(ctx, t, r.ExternalID), nil
}

// LookupGroups implements directory.Directory for AttrID, AttrDisplayName
// and AttrExternalID.
func (d *Directory) LookupGroups(ctx context.Context, attr directory.Attr, value string) ([]directory.Group, error) {
	if gs, ok := d.DryRuns.LookupGroups(attr, value); ok {
		return gs, nil
	}
	var ids []string
	switch attr {
	case directory.AttrID:
		ids = []string{value}
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
		ids = []string{t.TeamID}
	case directory.AttrExternalID: // not unique: every live holder
		var err error
		if ids, err = d.rec.IDsByExternalID(ctx, store.KindGroup, value); err != nil {
			return nil, err
		}
	default:
		return nil, &directory.InvalidValueError{Attribute: string(attr), Value: value, Reason: "groups cannot be looked up by this attribute"}
	}
	var out []directory.Group
	for _, id := range ids {
		if id == "" {
			continue
		}
		t, r, err := d.liveTeam(ctx, id)
		if errors.Is(err, directory.ErrNotFound) {
			continue
		}
		if err == nil {
			err = d.refreshStaleMembers(ctx, id)
		}
		if err != nil {
			return nil, fmt.Errorf("look up group by %s: %w", attr, err)
		}
		out = append(out, d.toGroup(ctx, t, r.ExternalID))
	}
	return out, nil
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
		out[i] = d.toGroup(ctx, t, recs[t.TeamID].ExternalID)
	}
	return out, nil
}
