package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/store"
)

// CreateGroup implements directory.Directory.
func (w *Workflow) CreateGroup(ctx context.Context, g directory.Group) (directory.Group, error) {
	name := strings.TrimSpace(g.DisplayName)
	wr := w.begin(ctx, OpGroupCreate, store.KindGroup, "", name).named(name, "")
	if name == "" {
		return directory.Group{}, wr.fail(&directory.InvalidValueError{Attribute: "displayName", Reason: "required"})
	}
	members := RefIDs(g.Members)
	if err := w.checkJoinable(ctx, members); err != nil {
		return directory.Group{}, wr.fail(err)
	}
	if _, err := w.Teams.Prepare(ctx, "", members, nil, false); err != nil {
		return directory.Group{}, wr.fail(err)
	}
	defer w.locks.Lock("team:" + LowerTrim(name))()
	detail := fmt.Sprintf("group %q with %d members", name, len(members))
	if id, err := w.Teams.Taken(ctx, name, true); err != nil {
		return directory.Group{}, wr.fail(err)
	} else if id != "" {
		return w.createTaken(ctx, wr.on(id), g, members, detail)
	}
	if w.DryRun {
		wr.done(store.OutcomeDryRun, "would create "+detail)
		now := w.Now()
		t := predictMembers(Team{ID: DryRunID("group:" + name), Name: name, Created: now, Modified: now}, members, nil)
		t = w.DryRuns.putGroup(t, g.ExternalID)
		return ToGroup(t, g.ExternalID), nil
	}
	wr.intendCreate()
	t, err := w.Teams.Create(ctx, name, members)
	if errors.Is(err, directory.ErrConflict) {
		// Taken by a team another replica created a moment ago, or by an
		// earlier attempt of this create whose answer was lost.
		id, ok, ferr := w.Teams.Find(ctx, name)
		if ferr != nil {
			return directory.Group{}, wr.failUnsettled(ferr)
		}
		if !ok {
			return directory.Group{}, wr.fail(fmt.Errorf("displayName %q is taken: %w", name, directory.ErrConflict))
		}
		return w.createTaken(ctx, wr.on(id), g, members, detail)
	}
	if outcomeUnknown(err) {
		return directory.Group{}, wr.failUnsettled(err)
	}
	if err != nil {
		return directory.Group{}, wr.fail(err)
	}
	wr = wr.on(t.ID)
	if g.ExternalID != "" {
		if err := w.Records.PutRecord(ctx, store.KindGroup, t.ID, g.ExternalID, false); err != nil {
			return directory.Group{}, wr.failUnsettled(err)
		}
	}
	wr.done(store.OutcomeOK, "created "+detail)
	return ToGroup(t, g.ExternalID), nil
}

// createTaken finishes a CreateGroup whose name team wr.id holds: a
// conflict, unless an earlier attempt of this create made the team
// without recording it (unrecordedCreate; adoptTeam).
func (w *Workflow) createTaken(ctx context.Context, wr *write, g directory.Group, members []string, detail string) (directory.Group, error) {
	own, err := w.unrecordedCreate(wr, wr.id)
	if err != nil {
		return directory.Group{}, wr.fail(err)
	}
	if !own || w.DryRun {
		return directory.Group{}, wr.fail(fmt.Errorf("displayName is taken by team %s: %w", wr.id, directory.ErrConflict))
	}
	return w.adoptTeam(ctx, wr, g, members, detail)
}

// adoptTeam finishes a CreateGroup of a team an earlier attempt created
// without recording it: the team is read fresh, given g's members as one
// delta, and its externalId, and the create is audited ok.
func (w *Workflow) adoptTeam(ctx context.Context, wr *write, g directory.Group, members []string, detail string) (directory.Group, error) {
	t, ok, err := w.Teams.Get(directory.WithFreshRead(ctx), wr.id)
	if err == nil && !ok {
		err = fmt.Errorf("team %s is gone: %w", wr.id, directory.ErrConflict) // deleted meanwhile: the IdP's next retry creates it
	}
	if err != nil {
		return directory.Group{}, wr.fail(err)
	}
	add, remove := memberDelta(RefIDs(t.Members), members)
	if remove, err = w.Teams.Prepare(ctx, wr.id, add, remove, false); err != nil {
		return directory.Group{}, wr.fail(err)
	}
	detail = "created " + detail + " (an earlier attempt's answer was lost; adopted)"
	wr.intend(detail)
	if len(add)+len(remove) > 0 {
		if t, err = w.Teams.Update(ctx, wr.id, nil, add, remove); err != nil {
			return directory.Group{}, wr.failUnsettled(err)
		}
	}
	if err := w.Records.PutRecord(ctx, store.KindGroup, wr.id, g.ExternalID, false); err != nil {
		return directory.Group{}, wr.failUnsettled(err)
	}
	wr.done(store.OutcomeOK, detail)
	return ToGroup(t, g.ExternalID), nil
}

// memberDelta is what to add to have and remove from it to make it want.
func memberDelta(have, want []string) (add, remove []string) {
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
	return add, remove
}

// ReplaceGroup implements directory.Directory. The team is read fresh so
// the delta is right even when another replica changed it; the rename and
// the membership delta (add what is new, remove what is gone) are then
// sent, never by emptying the team first. Members nil keeps the
// membership; an empty name keeps the name.
func (w *Workflow) ReplaceGroup(ctx context.Context, g directory.Group) (directory.Group, error) {
	wr := w.begin(ctx, OpGroupReplace, store.KindGroup, g.ID, g.ID).named(g.DisplayName, "")
	name := strings.TrimSpace(g.DisplayName)
	defer w.locks.Lock("teamid:" + g.ID)()
	r, t, ok, err := w.liveTeam(directory.WithFreshRead(ctx), g.ID)
	if err != nil {
		return directory.Group{}, wr.fail(err)
	}
	if !ok {
		return directory.Group{}, wr.notFound()
	}
	if name == "" {
		wr.named(t.Name, "")
	}
	have := RefIDs(t.Members)
	want := have
	if g.Members != nil {
		want = RefIDs(g.Members)
	}
	add, remove := memberDelta(have, want)
	if err := w.checkJoinable(ctx, add); err != nil {
		return directory.Group{}, wr.fail(err)
	}
	if remove, err = w.Teams.Prepare(ctx, g.ID, add, remove, false); err != nil {
		return directory.Group{}, wr.fail(err)
	}
	var changed []string
	var rename *string
	if name != "" && name != t.Name {
		if id, err := w.Teams.Taken(ctx, name, false); err != nil {
			return directory.Group{}, wr.fail(err)
		} else if id != "" && id != g.ID {
			return directory.Group{}, wr.fail(fmt.Errorf("displayName is taken by team %s: %w", id, directory.ErrConflict))
		}
		rename = &name
		changed = append(changed, "displayName")
	}
	extChanged := g.ExternalID != r.ExternalID
	if extChanged {
		changed = append(changed, "externalId")
	}
	if len(add)+len(remove) > 0 {
		changed = append(changed, fmt.Sprintf("members +%d -%d", len(add), len(remove)))
	}
	if len(changed) == 0 {
		wr.done(store.OutcomeSkipped, "no change")
		return ToGroup(t, r.ExternalID), nil
	}
	detail := "changed " + strings.Join(changed, ", ")
	if w.DryRun {
		wr.done(store.OutcomeDryRun, "would have "+detail)
		if rename != nil {
			t.Name = name
		}
		t = predictMembers(t, add, remove)
		if IsDryRunID(g.ID) {
			t = w.DryRuns.putGroup(t, g.ExternalID)
		}
		return ToGroup(t, g.ExternalID), nil
	}
	wr.intend(detail)
	if rename != nil || len(add)+len(remove) > 0 {
		t2, err := w.Teams.Update(ctx, g.ID, rename, add, remove)
		if errors.Is(err, directory.ErrConflict) {
			return directory.Group{}, wr.fail(fmt.Errorf("displayName %q is taken: %w", name, directory.ErrConflict))
		}
		if err != nil {
			return directory.Group{}, wr.fail(err)
		}
		t = t2
	}
	if extChanged {
		if err := w.Records.PutRecord(ctx, store.KindGroup, g.ID, g.ExternalID, false); err != nil {
			return directory.Group{}, wr.fail(err)
		}
	}
	wr.done(store.OutcomeOK, detail)
	return ToGroup(t, g.ExternalID), nil
}

// ModifyGroupMembers implements directory.Directory with one membership
// delta and no read of the member list first: Sigma applies each delta on
// its own, so concurrent calls (from this or another replica) lose
// nothing. An id in both lists is removed. A tombstoned user is not a
// member for the IdP: adding one is refused, removing one is a no-op.
func (w *Workflow) ModifyGroupMembers(ctx context.Context, id string, add, remove []string) (directory.Group, error) {
	wr := w.begin(ctx, OpGroupMembers, store.KindGroup, id, id)
	remove = Dedupe(remove)
	add = slices.DeleteFunc(Dedupe(add), func(x string) bool { return slices.Contains(remove, x) })
	// Serialised with ReplaceGroup on the same team in this process, so a
	// ReplaceGroup's fresh read cannot overwrite this delta in an index.
	defer w.locks.Lock("teamid:" + id)()
	r, found, err := w.record(ctx, store.KindGroup, id)
	if err != nil {
		return directory.Group{}, wr.fail(err)
	}
	if found && r.Tombstoned || strings.TrimSpace(id) == "" {
		return directory.Group{}, wr.notFound()
	}
	if err := w.checkJoinable(ctx, add); err != nil {
		return directory.Group{}, wr.fail(err)
	}
	dead, err := w.tombstoned(ctx, remove)
	if err != nil {
		return directory.Group{}, wr.fail(err)
	}
	remove = slices.DeleteFunc(remove, func(id string) bool { return dead[id] })
	remove, err = w.Teams.Prepare(ctx, id, add, remove, true)
	if errors.Is(err, directory.ErrNotFound) {
		return directory.Group{}, wr.notFound()
	}
	if err != nil {
		return directory.Group{}, wr.fail(err)
	}
	if len(add)+len(remove) == 0 || w.DryRun {
		t, ok, err := w.Teams.Get(ctx, id)
		if err != nil {
			return directory.Group{}, wr.fail(err)
		}
		if !ok {
			return directory.Group{}, wr.notFound()
		}
		wr.named(t.Name, "")
		if len(add)+len(remove) == 0 {
			wr.done(store.OutcomeSkipped, "no change")
			return ToGroup(t, r.ExternalID), nil
		}
		wr.done(store.OutcomeDryRun, fmt.Sprintf("would have changed members +%d -%d", len(add), len(remove)))
		t = predictMembers(t, add, remove)
		if IsDryRunID(id) {
			t = w.DryRuns.putGroup(t, r.ExternalID)
		}
		return ToGroup(t, r.ExternalID), nil
	}
	wr.intend(fmt.Sprintf("change members +%d -%d", len(add), len(remove)))
	t, err := w.Teams.Update(ctx, id, nil, add, remove)
	if errors.Is(err, directory.ErrNotFound) {
		return directory.Group{}, wr.notFound()
	}
	if err != nil {
		return directory.Group{}, wr.fail(err)
	}
	// The name when Sigma's answer carried it: no extra call for the trail.
	wr.named(t.Name, "")
	wr.done(store.OutcomeOK, fmt.Sprintf("changed members +%d -%d", len(add), len(remove)))
	if directory.AnswerUnused(ctx) {
		return directory.Group{ID: id}, nil
	}
	return ToGroup(t, r.ExternalID), nil
}

// DeleteGroup implements directory.Directory. The team is deleted in
// Sigma and tombstoned in the store (team ids are never reused), so
// replicas whose index still holds it answer ErrNotFound at once.
func (w *Workflow) DeleteGroup(ctx context.Context, id string) error {
	wr := w.begin(ctx, OpGroupDelete, store.KindGroup, id, id)
	defer w.locks.Lock("teamid:" + id)()
	_, t, ok, err := w.liveTeam(ctx, id)
	if err != nil {
		return wr.fail(err)
	}
	if !ok {
		return wr.notFound()
	}
	wr.named(t.Name, "")
	if w.DryRun {
		wr.done(store.OutcomeDryRun, "would have deleted the team")
		w.DryRuns.dropGroup(id)
		return nil
	}
	wr.intend("delete the team")
	detail := "deleted the team"
	if err := w.Teams.Delete(ctx, id); errors.Is(err, directory.ErrNotFound) {
		// The team was there a moment ago: our delete was applied and its
		// answer lost (the retry found it gone), or another writer deleted
		// it. Either way it is gone, which is what the IdP asked for.
		detail = "deleted the team (Sigma had already deleted it: the answer to the delete was lost, or another writer deleted it)"
	} else if err != nil {
		return wr.fail(err)
	}
	if err := w.Records.PutRecord(ctx, store.KindGroup, id, "", true); err != nil {
		return wr.fail(err)
	}
	wr.done(store.OutcomeOK, detail)
	return nil
}

// liveTeam reads the store's record of team id and, unless it is a
// tombstone (no upstream call then), the team; ok is false for a
// tombstone or a team Sigma does not know.
func (w *Workflow) liveTeam(ctx context.Context, id string) (store.Resource, Team, bool, error) {
	if strings.TrimSpace(id) == "" {
		return store.Resource{}, Team{}, false, nil
	}
	r, _, err := w.record(ctx, store.KindGroup, id)
	if err != nil || r.Tombstoned {
		return r, Team{}, false, err
	}
	t, ok, err := w.Teams.Get(ctx, id)
	return r, t, ok, err
}

// tombstoned returns the subset of user ids the store has tombstoned.
func (w *Workflow) tombstoned(ctx context.Context, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, id := range ids {
		r, _, err := w.Records.Get(ctx, store.KindUser, id)
		if err != nil {
			return nil, err
		}
		if r.Tombstoned {
			out[id] = true
		}
	}
	return out, nil
}

// checkJoinable refuses user ids the store has tombstoned: for the IdP
// those users do not exist.
func (w *Workflow) checkJoinable(ctx context.Context, ids []string) error {
	dead, err := w.tombstoned(ctx, ids)
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

// predictMembers is t after adding and removing members (dry-run answers).
func predictMembers(t Team, add, remove []string) Team {
	t.Members = slices.DeleteFunc(slices.Clone(t.Members), func(r directory.Ref) bool { return slices.Contains(remove, r.ID) })
	for _, a := range add {
		if !slices.ContainsFunc(t.Members, func(r directory.Ref) bool { return r.ID == a }) {
			t.Members = append(t.Members, directory.Ref{ID: a})
		}
	}
	slices.SortFunc(t.Members, func(a, b directory.Ref) int { return strings.Compare(a.ID, b.ID) })
	return t
}
