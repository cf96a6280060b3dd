package scimdir

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/dirkit"
	"github.com/scimbridge/scim-bridge/internal/store"
)

// toGroup maps Sigma's SCIM group (externalId from the store) to a Group.
// Members the IdP deleted (tombstoned) are left out: Sigma keeps a
// deactivated member in its teams but refuses to add or remove it, so to
// the IdP it is gone, as on the REST path. The version is the REST
// path's: dirkit.GroupVersion.
func toGroup(res sigma.SCIMResource, externalID string, dead map[string]bool) directory.Group {
	g := directory.Group{
		ID: str(res, "id"), DisplayName: str(res, "displayName"), ExternalID: externalID,
		Created: metaTime(res, "created"), Modified: metaTime(res, "lastModified"),
	}
	for _, m := range refs(res, "members") {
		if !dead[m.ID] {
			g.Members = append(g.Members, m)
		}
	}
	g.Version = dirkit.GroupVersion(g)
	return g
}

func memberIDs(res sigma.SCIMResource) []string {
	var ids []string
	for _, m := range refs(res, "members") {
		ids = append(ids, m.ID)
	}
	return ids
}

// group converts res, reading its externalId and its members' tombstones
// from the store.
func (d *Directory) group(ctx context.Context, res sigma.SCIMResource) (directory.Group, error) {
	id := str(res, "id")
	r, _, err := d.rec.Get(ctx, store.KindGroup, id)
	if err != nil {
		return directory.Group{}, err
	}
	dead, err := d.tombstoned(ctx, memberIDs(res))
	if err != nil {
		return directory.Group{}, err
	}
	return toGroup(res, r.ExternalID, dead), nil
}

// getGroup reads a group from Sigma; ok is false if Sigma does not know it.
func (d *Directory) getGroup(ctx context.Context, id string) (sigma.SCIMResource, bool, error) {
	if strings.TrimSpace(id) == "" {
		return nil, false, nil
	}
	// Team ids are never reused: a tombstone answers without a call.
	if r, _, err := d.rec.Get(ctx, store.KindGroup, id); err != nil || r.Tombstoned {
		return nil, false, err
	}
	res, err := d.scim.GetGroup(ctx, id)
	if err == nil {
		d.observe(nil)
		return res, true, nil
	}
	if err = d.missing(ctx, "get group", err); errors.Is(err, directory.ErrNotFound) {
		return nil, false, nil
	}
	return nil, false, err
}

// GetGroup implements directory.Directory.
func (d *Directory) GetGroup(ctx context.Context, id string) (directory.Group, error) {
	res, ok, err := d.getGroup(ctx, id)
	if err != nil {
		return directory.Group{}, fmt.Errorf("get group %s: %w", id, err)
	}
	if !ok {
		return directory.Group{}, fmt.Errorf("get group %s: %w", id, directory.ErrNotFound)
	}
	g, err := d.group(ctx, res)
	if err != nil {
		return directory.Group{}, fmt.Errorf("get group %s: %w", id, err)
	}
	return g, nil
}

// LookupGroups implements directory.Directory for AttrID (one GET),
// AttrDisplayName (one filtered list, case-insensitive as Sigma compares
// team names) and AttrExternalID (the store, then one GET).
func (d *Directory) LookupGroups(ctx context.Context, attr directory.Attr, value string) ([]directory.Group, error) {
	var id string
	switch attr {
	case directory.AttrID:
		id = value
	case directory.AttrDisplayName:
		if strings.TrimSpace(value) == "" {
			return nil, nil
		}
		res, ok, err := d.scim.FindGroupByDisplayName(ctx, strings.TrimSpace(value))
		if err != nil {
			return nil, fmt.Errorf("look up group by displayName: %w", d.check("find group by displayName", err, true))
		}
		d.observe(nil)
		if !ok {
			return nil, nil
		}
		g, err := d.group(ctx, res)
		if err != nil {
			return nil, fmt.Errorf("look up group by displayName: %w", err)
		}
		return []directory.Group{g}, nil
	case directory.AttrExternalID:
		var err error
		if id, err = d.rec.IDByExternalID(ctx, store.KindGroup, value); err != nil || id == "" {
			return nil, err
		}
	default:
		return nil, &directory.InvalidValueError{Attribute: string(attr), Value: value, Reason: "groups cannot be looked up by this attribute"}
	}
	res, ok, err := d.getGroup(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("look up group by %s: %w", attr, err)
	}
	if !ok {
		return nil, nil
	}
	g, err := d.group(ctx, res)
	if err != nil {
		return nil, fmt.Errorf("look up group by %s: %w", attr, err)
	}
	return []directory.Group{g}, nil
}

// ListGroups implements directory.Directory: every group Sigma's SCIM shows
// (paged, reused for Options.ListCacheTTL), ordered by id.
func (d *Directory) ListGroups(ctx context.Context) ([]directory.Group, error) {
	all, err := d.cachedList(ctx, &d.groups, func(ctx context.Context) ([]map[string]any, error) {
		return d.listAll(ctx, "list groups", d.scim.FilterGroups)
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
	for _, res := range all {
		out = append(out, toGroup(res, groups[str(res, "id")].ExternalID, dead))
	}
	slices.SortFunc(out, func(a, b directory.Group) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func memberValues(ids []string) []map[string]any {
	out := make([]map[string]any, len(ids))
	for i, id := range ids {
		out[i] = map[string]any{"value": id}
	}
	return out
}

// checkJoinable refuses ids the store has tombstoned: for the IdP those
// users do not exist. Sigma is left to refuse ids it does not know.
func (d *Directory) checkJoinable(ctx context.Context, ids []string) error {
	dead, err := d.tombstoned(ctx, ids)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if dead[id] {
			return &directory.InvalidValueError{Attribute: "members", Value: id, Reason: "no such user"}
		}
	}
	return nil
}

// groupWriteErr classifies a failed group write. Sigma answers a member id
// it cannot add with a 400; the offending id is found with one GET per
// added id, so the IdP learns which one it was.
func (d *Directory) groupWriteErr(ctx context.Context, op string, err error, added []string) error {
	ae, bad := badRequest(err)
	if !bad {
		return d.missing(ctx, op, err)
	}
	d.observe(nil)
	for _, id := range added {
		res, ok, gerr := d.getUser(ctx, id)
		if gerr != nil {
			return gerr
		}
		if !ok {
			return &directory.InvalidValueError{Attribute: "members", Value: id, Reason: "no such user"}
		}
		if !boolean(res, "active") {
			return &directory.InvalidValueError{Attribute: "members", Value: id, Reason: "the user is deactivated, and Sigma does not add deactivated users to teams"}
		}
	}
	return &directory.InvalidValueError{Attribute: "members", Reason: "Sigma refused the change: " + dirkit.Truncate(ae.Message, dirkit.MaxMessage)}
}

// CreateGroup implements directory.Directory.
func (d *Directory) CreateGroup(ctx context.Context, g directory.Group) (directory.Group, error) {
	const op = "group.create"
	name := strings.TrimSpace(g.DisplayName)
	fail := func(id string, err error) (directory.Group, error) {
		d.audit(ctx, op, store.KindGroup, id, store.OutcomeFailed, err, "displayName "+name)
		return directory.Group{}, fmt.Errorf("create group %s: %w", name, err)
	}
	if name == "" {
		return fail("", &directory.InvalidValueError{Attribute: "displayName", Reason: "required"})
	}
	ids := dirkit.RefIDs(g.Members)
	if err := d.checkJoinable(ctx, ids); err != nil {
		return fail("", err)
	}
	if err := d.rec.CheckExternalID(ctx, store.KindGroup, "", g.ExternalID); err != nil {
		return fail("", err)
	}
	body := sigma.SCIMResource{"schemas": []string{sigma.SCIMGroupSchema}, "displayName": name, "members": memberValues(ids)}
	if d.opts.DryRun {
		now := d.opts.Now().UTC().Format(time.RFC3339Nano)
		body["id"], body["meta"] = dirkit.DryRunID("group:"+name), map[string]any{"created": now, "lastModified": now}
		body["members"] = refsBody(ids)
		d.audit(ctx, op, store.KindGroup, "", store.OutcomeDryRun, nil, "would create group "+name)
		return toGroup(body, g.ExternalID, nil), nil
	}
	res, err := d.scim.CreateGroup(ctx, body)
	if errors.Is(err, sigma.ErrDuplicate) {
		d.observe(nil)
		return fail("", fmt.Errorf("displayName %q is taken: %w", name, directory.ErrConflict))
	}
	if err != nil {
		return fail("", d.groupWriteErr(ctx, "create group", err, ids))
	}
	d.observe(nil)
	id := str(res, "id")
	if g.ExternalID != "" {
		if err := d.rec.PutRecord(ctx, store.KindGroup, id, g.ExternalID, false); err != nil {
			return fail(id, err)
		}
	}
	d.audit(ctx, op, store.KindGroup, id, store.OutcomeOK, nil, fmt.Sprintf("created group %s with %d members", name, len(ids)))
	return toGroup(res, g.ExternalID, nil), nil
}

func refsBody(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = map[string]any{"value": id}
	}
	return out
}

// membershipOps are the PATCH operations that add and remove members.
func membershipOps(add, remove []string) []sigma.SCIMPatchOp {
	var ops []sigma.SCIMPatchOp
	if len(add) > 0 {
		ops = append(ops, sigma.SCIMPatchOp{Op: "add", Path: "members", Value: memberValues(add)})
	}
	for _, id := range remove {
		ops = append(ops, sigma.SCIMPatchOp{Op: "remove", Path: "members[value eq " + quote(id) + "]"})
	}
	return ops
}

func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

// ReplaceGroup implements directory.Directory: the group is read fresh,
// and the rename and the membership delta (add what is new, remove what is
// gone) go to Sigma as one PATCH; nothing is sent when nothing changed.
func (d *Directory) ReplaceGroup(ctx context.Context, g directory.Group) (directory.Group, error) {
	const op = "group.replace"
	fail := func(err error) (directory.Group, error) {
		d.audit(ctx, op, store.KindGroup, g.ID, store.OutcomeFailed, err, "")
		return directory.Group{}, fmt.Errorf("replace group %s: %w", g.ID, err)
	}
	name := strings.TrimSpace(g.DisplayName)
	if name == "" {
		return fail(&directory.InvalidValueError{Attribute: "displayName", Reason: "required"})
	}
	defer d.locks.Lock("team:" + g.ID)()
	res, ok, err := d.getGroup(ctx, g.ID)
	if err != nil {
		return fail(err)
	}
	if !ok {
		return directory.Group{}, fmt.Errorf("replace group %s: %w", g.ID, directory.ErrNotFound)
	}
	r, _, err := d.rec.Get(ctx, store.KindGroup, g.ID)
	if err != nil {
		return fail(err)
	}
	cur, err := d.group(ctx, res)
	if err != nil {
		return fail(err)
	}
	var have []string
	for _, m := range cur.Members {
		have = append(have, m.ID)
	}
	want := have // nil Members: membership stays as Sigma has it
	if g.Members != nil {
		want = dirkit.RefIDs(g.Members)
	}
	var add, remove []string
	for _, id := range want {
		if !slices.Contains(have, id) {
			add = append(add, id)
		}
	}
	for _, id := range have {
		if !slices.Contains(want, id) {
			remove = append(remove, id)
		}
	}
	if err := d.checkJoinable(ctx, add); err != nil {
		return fail(err)
	}
	extChanged := g.ExternalID != r.ExternalID
	if extChanged {
		if err := d.rec.CheckExternalID(ctx, store.KindGroup, g.ID, g.ExternalID); err != nil {
			return fail(err)
		}
	}
	ops := membershipOps(add, remove)
	var changed []string
	if name != cur.DisplayName {
		ops = append([]sigma.SCIMPatchOp{{Op: "replace", Path: "displayName", Value: name}}, ops...)
		changed = append(changed, "displayName")
	}
	if len(add)+len(remove) > 0 {
		changed = append(changed, fmt.Sprintf("members +%d -%d", len(add), len(remove)))
	}
	if extChanged {
		changed = append(changed, "externalId")
	}
	if len(changed) == 0 {
		d.audit(ctx, op, store.KindGroup, g.ID, store.OutcomeSkipped, nil, "no change")
		return cur, nil
	}
	detail := "changed " + strings.Join(changed, ", ")
	if d.opts.DryRun {
		next := cur
		next.DisplayName, next.ExternalID = name, g.ExternalID
		next.Members = nil
		for _, id := range want {
			next.Members = append(next.Members, directory.Ref{ID: id})
		}
		d.audit(ctx, op, store.KindGroup, g.ID, store.OutcomeDryRun, nil, "would have "+detail)
		return next, nil
	}
	if len(ops) > 0 {
		out, err := d.scim.PatchGroup(ctx, g.ID, ops)
		if errors.Is(err, sigma.ErrDuplicate) {
			d.observe(nil)
			return fail(fmt.Errorf("displayName %q is taken: %w", name, directory.ErrConflict))
		}
		if err != nil {
			return fail(d.groupWriteErr(ctx, "update group", err, add))
		}
		if res, err = d.afterPatch(ctx, store.KindGroup, g.ID, out); err != nil {
			return fail(err)
		}
	}
	if extChanged {
		if err := d.rec.PutRecord(ctx, store.KindGroup, g.ID, g.ExternalID, false); err != nil {
			return fail(err)
		}
	}
	d.audit(ctx, op, store.KindGroup, g.ID, store.OutcomeOK, nil, detail)
	out, err := d.group(ctx, res)
	if err != nil {
		return directory.Group{}, fmt.Errorf("replace group %s: %w", g.ID, err)
	}
	return out, nil
}

// ModifyGroupMembers implements directory.Directory with one PATCH of add
// and remove operations, which Sigma applies atomically: concurrent
// modifications of one group do not lose each other's changes, and
// nothing is read first.
func (d *Directory) ModifyGroupMembers(ctx context.Context, id string, add, remove []string) (directory.Group, error) {
	const op = "group.members"
	add, remove = dirkit.Dedupe(add), dirkit.Dedupe(remove)
	fail := func(err error) (directory.Group, error) {
		d.audit(ctx, op, store.KindGroup, id, store.OutcomeFailed, err, "")
		return directory.Group{}, fmt.Errorf("modify members of group %s: %w", id, err)
	}
	if len(add) == 0 && len(remove) == 0 {
		return d.GetGroup(ctx, id)
	}
	if err := d.checkJoinable(ctx, add); err != nil {
		return fail(err)
	}
	// A tombstoned user is not a member for the IdP; removing it is a
	// no-op (and Sigma would refuse to touch a deactivated member).
	dead, err := d.tombstoned(ctx, remove)
	if err != nil {
		return fail(err)
	}
	remove = slices.DeleteFunc(remove, func(id string) bool { return dead[id] })
	detail := fmt.Sprintf("members +%d -%d", len(add), len(remove))
	if d.opts.DryRun {
		g, err := d.GetGroup(ctx, id)
		if err != nil {
			return directory.Group{}, err
		}
		d.audit(ctx, op, store.KindGroup, id, store.OutcomeDryRun, nil, "would have changed "+detail)
		return g, nil
	}
	if len(add) == 0 && len(remove) == 0 {
		return d.GetGroup(ctx, id)
	}
	out, err := d.scim.PatchGroup(ctx, id, membershipOps(add, remove))
	if err != nil {
		return fail(d.groupWriteErr(ctx, "update group members", err, add))
	}
	res, err := d.afterPatch(ctx, store.KindGroup, id, out)
	if err != nil {
		return fail(err)
	}
	d.audit(ctx, op, store.KindGroup, id, store.OutcomeOK, nil, "changed "+detail)
	g, err := d.group(ctx, res)
	if err != nil {
		return directory.Group{}, fmt.Errorf("modify members of group %s: %w", id, err)
	}
	return g, nil
}

// DeleteGroup implements directory.Directory: Sigma deletes the team and
// the store tombstones it.
func (d *Directory) DeleteGroup(ctx context.Context, id string) error {
	const op = "group.delete"
	fail := func(err error) error {
		d.audit(ctx, op, store.KindGroup, id, store.OutcomeFailed, err, "")
		return fmt.Errorf("delete group %s: %w", id, err)
	}
	if strings.TrimSpace(id) == "" {
		return fmt.Errorf("delete group: %w", directory.ErrNotFound)
	}
	defer d.locks.Lock("team:" + id)()
	if d.opts.DryRun {
		if _, ok, err := d.getGroup(ctx, id); err != nil || !ok {
			if err == nil {
				err = directory.ErrNotFound
			}
			return fmt.Errorf("delete group %s: %w", id, err)
		}
		d.audit(ctx, op, store.KindGroup, id, store.OutcomeDryRun, nil, "would have deleted the team")
		return nil
	}
	if r, _, err := d.rec.Get(ctx, store.KindGroup, id); err != nil {
		return fail(err)
	} else if r.Tombstoned {
		return fmt.Errorf("delete group %s: %w", id, directory.ErrNotFound)
	}
	if err := d.scim.DeleteGroup(ctx, id); err != nil {
		if err = d.missing(ctx, "delete group", err); errors.Is(err, directory.ErrNotFound) {
			return fmt.Errorf("delete group %s: %w", id, directory.ErrNotFound)
		}
		return fail(err)
	}
	d.observe(nil)
	// Tombstoned as on the REST path: replicas answer 404 at once, and the
	// externalId is free again (only live records hold one).
	if err := d.rec.PutRecord(ctx, store.KindGroup, id, "", true); err != nil {
		return fail(err)
	}
	d.audit(ctx, op, store.KindGroup, id, store.OutcomeOK, nil, "deleted the team")
	return nil
}
