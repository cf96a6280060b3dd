package scimdir

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/provision"
	"github.com/scimbridge/scim-bridge/internal/store"
)

// toTeam is the typed team state of Sigma's SCIM group g. Members the IdP
// deleted (dead: tombstoned) are left out: Sigma keeps a deactivated
// member in its teams but refuses to add or remove it, so to the IdP it
// is gone, as on the REST path.
func toTeam(g sigma.SCIMGroup, dead map[string]bool) provision.Team {
	t := provision.Team{ID: g.ID, Name: g.DisplayName}
	if g.Meta != nil {
		t.Created, t.Modified = g.Meta.Created, g.Meta.LastModified
	}
	for _, m := range refs(g.Members) {
		if !dead[m.ID] {
			t.Members = append(t.Members, m)
		}
	}
	return t
}

// teamOf is toTeam with its members' tombstones read from the store.
func (d *Directory) teamOf(ctx context.Context, g sigma.SCIMGroup) (provision.Team, error) {
	ids := make([]string, len(g.Members))
	for i, m := range g.Members {
		ids[i] = m.Value
	}
	dead, err := d.tombstoned(ctx, ids)
	if err != nil {
		return provision.Team{}, err
	}
	return toTeam(g, dead), nil
}

// group is the Group of g with its externalId from the store.
func (d *Directory) group(ctx context.Context, g sigma.SCIMGroup) (directory.Group, error) {
	r, _, err := d.rec.Get(ctx, store.KindGroup, g.ID)
	if err != nil {
		return directory.Group{}, err
	}
	t, err := d.teamOf(ctx, g)
	if err != nil {
		return directory.Group{}, err
	}
	return provision.ToGroup(t, r.ExternalID), nil
}

// getGroup reads a group from Sigma; ok is false if Sigma does not know it.
func (d *Directory) getGroup(ctx context.Context, id string) (sigma.SCIMGroup, bool, error) {
	if strings.TrimSpace(id) == "" {
		return sigma.SCIMGroup{}, false, nil
	}
	// Team ids are never reused: a tombstone answers without a call.
	if r, _, err := d.rec.Get(ctx, store.KindGroup, id); err != nil || r.Tombstoned {
		return sigma.SCIMGroup{}, false, err
	}
	g, err := d.scim.GetGroup(ctx, id)
	if err == nil {
		d.observe(nil)
		return g, true, nil
	}
	if err = d.missing(ctx, "get group", err); errors.Is(err, directory.ErrNotFound) {
		return sigma.SCIMGroup{}, false, nil
	}
	return sigma.SCIMGroup{}, false, err
}

// GetGroup implements directory.Directory.
func (d *Directory) GetGroup(ctx context.Context, id string) (directory.Group, error) {
	if gs, ok := d.DryRuns.LookupGroups(directory.AttrID, id); ok {
		return gs[0], nil
	}
	g, ok, err := d.getGroup(ctx, id)
	if err == nil && !ok {
		err = directory.ErrNotFound
	}
	var out directory.Group
	if err == nil {
		out, err = d.group(ctx, g)
	}
	if err != nil {
		return directory.Group{}, fmt.Errorf("get group %s: %w", id, err)
	}
	return out, nil
}

// LookupGroups implements directory.Directory for AttrID (one GET),
// AttrDisplayName (one filtered list, case-insensitive as Sigma compares
// team names) and AttrExternalID (the store, then one GET).
func (d *Directory) LookupGroups(ctx context.Context, attr directory.Attr, value string) ([]directory.Group, error) {
	if gs, ok := d.DryRuns.LookupGroups(attr, value); ok {
		return gs, nil
	}
	var found []sigma.SCIMGroup
	switch attr {
	case directory.AttrID, directory.AttrExternalID:
		ids := []string{value}
		if attr == directory.AttrExternalID { // not unique: every live holder
			var err error
			if ids, err = d.rec.IDsByExternalID(ctx, store.KindGroup, value); err != nil {
				return nil, err
			}
		}
		for _, id := range ids {
			g, ok, err := d.getGroup(ctx, id)
			if err != nil {
				return nil, fmt.Errorf("look up group by %s: %w", attr, err)
			}
			if ok {
				found = append(found, g)
			}
		}
	case directory.AttrDisplayName:
		if strings.TrimSpace(value) == "" {
			return nil, nil
		}
		g, ok, err := d.scim.FindGroupByDisplayName(ctx, strings.TrimSpace(value))
		if err = d.check("find group by displayName", err, true); err != nil {
			return nil, fmt.Errorf("look up group by %s: %w", attr, err)
		}
		if ok {
			found = append(found, g)
		}
	default:
		return nil, &directory.InvalidValueError{Attribute: string(attr), Value: value, Reason: "groups cannot be looked up by this attribute"}
	}
	var out []directory.Group
	for _, g := range found {
		gr, err := d.group(ctx, g)
		if err != nil {
			return nil, fmt.Errorf("look up group by %s: %w", attr, err)
		}
		out = append(out, gr)
	}
	return out, nil
}

// ListGroups implements directory.Directory: every group Sigma's SCIM shows
// (paged, reused for Options.ListCacheTTL), ordered by id.
func (d *Directory) ListGroups(ctx context.Context) ([]directory.Group, error) {
	all, err := cachedList(ctx, d, &d.groups, func(ctx context.Context) ([]sigma.SCIMGroup, error) {
		return listAll(ctx, d, "list groups", d.scim.FilterGroups, func(g sigma.SCIMGroup) string { return g.ID })
	})
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	groups, err := d.rec.All(ctx, store.KindGroup)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	users, err := d.rec.All(ctx, store.KindUser)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	dead := map[string]bool{}
	for id, r := range users {
		if r.Tombstoned {
			dead[id] = true
		}
	}
	out := make([]directory.Group, 0, len(all))
	for _, g := range all {
		out = append(out, provision.ToGroup(toTeam(g, dead), groups[g.ID].ExternalID))
	}
	slices.SortFunc(out, func(a, b directory.Group) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}
