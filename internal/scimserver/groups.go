package scimserver

import (
	"context"
	"strings"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/mapping"
	"github.com/scimbridge/scim-bridge/internal/scim/filter"
	"github.com/scimbridge/scim-bridge/internal/scim/patch"
	"github.com/scimbridge/scim-bridge/internal/scim/query"
)

// groups is the Group descriptor.
func (s *server) groups() *resource[directory.Group, groupBody] {
	return &resource[directory.Group, groupBody]{
		s: s, kind: mapping.Group, noun: "group", endpoint: "/Groups",
		id:             func(g directory.Group) string { return g.ID },
		version:        func(g directory.Group) string { return g.Version },
		render:         func(_ *server, g directory.Group, base string) map[string]any { return mapping.GroupToSCIM(g, base) },
		unshown:        withoutMembers,
		list:           s.dir.ListGroups,
		lookup:         s.dir.LookupGroups,
		get:            s.dir.GetGroup,
		read:           s.groupFromBody,
		create:         s.createGroup,
		replace:        s.replaceGroup,
		patch:          s.patchGroup,
		patchNoContent: true,
		// Deleting a group may change its members' account types.
		deleteNeedsCurrent: func() bool { return len(s.rules) > 0 },
		delete: func(ctx context.Context, id string, cur *directory.Group) error {
			if err := s.dir.DeleteGroup(ctx, id); err != nil {
				return err
			}
			if cur != nil {
				s.applyRules(ctx, memberIDs(*cur))
			}
			return nil
		},
	}
}

// withoutMembers asks the directory for groups without their members when
// the answer leaves members out (excludedAttributes=members, or attributes
// that do not name them, as Entra and Okta ask) and neither the filter nor
// the sort reads them: a page of large groups then costs no walk of their
// members. ETags do not change: directory.WithoutMembers keeps Version.
func withoutMembers(ctx context.Context, q query.Query) context.Context {
	if q.Projection.Shows("members") || filter.Mentions(mapping.Group, q.Filter, "members") ||
		q.SortBy != nil && q.SortBy.Schema == "" && q.SortBy.Attr == "members" {
		return ctx
	}
	return directory.WithoutMembers(ctx)
}

// groupBody is a Group body as read: membersSent says whether it had a
// members attribute at all (null counts as absent).
type groupBody struct {
	g           directory.Group
	membersSent bool
}

func (s *server) groupFromBody(ctx context.Context, body map[string]any) (groupBody, error) {
	norm, ignored, err := mapping.Normalize(mapping.Group, body)
	if err != nil {
		return groupBody{}, err
	}
	s.ignored(ctx, mapping.Group, ignored)
	g, err := mapping.GroupFromSCIM(norm)
	return groupBody{g: g, membersSent: norm["members"] != nil}, err
}

func memberIDs(g directory.Group) []string {
	ids := make([]string, 0, len(g.Members))
	for _, m := range g.Members {
		ids = append(ids, m.ID)
	}
	return ids
}

func (s *server) createGroup(ctx context.Context, b groupBody) (directory.Group, error) {
	g := b.g
	created, err := s.dir.CreateGroup(ctx, g)
	if err != nil {
		return created, about("a group named "+g.DisplayName, err)
	}
	s.applyRules(ctx, memberIDs(created))
	return created, nil
}

func (s *server) replaceGroup(ctx context.Context, cur directory.Group, b groupBody) (directory.Group, error) {
	g, membersSent := b.g, b.membersSent
	g.ID = cur.ID
	var affected []string
	if membersSent {
		if g.Members == nil {
			g.Members = []directory.Ref{} // "members": [] empties the team
		}
		affected = symmetricDiff(memberIDs(cur), memberIDs(g))
	} else {
		// A PUT that leaves members out (some IdPs rename this way) keeps
		// them as Sigma has them (nil), so a concurrent member change is
		// not undone; emptying a team takes an explicit "members": [].
		g.Members = nil
	}
	if g.ExternalID == "" {
		g.ExternalID = cur.ExternalID
	}
	out, err := s.dir.ReplaceGroup(ctx, g)
	if err != nil {
		return out, err
	}
	if out.DisplayName != cur.DisplayName {
		// Every member's groups changed name: rules may now match differently.
		affected = patch.UnionIDs(affected, memberIDs(out))
	}
	s.applyRules(ctx, affected)
	return out, nil
}

func symmetricDiff(a, b []string) []string {
	return patch.UnionIDs(patch.MinusIDs(a, b), patch.MinusIDs(b, a))
}

// patchGroup applies a group PATCH. Member deltas are sent as asked
// whatever a read says, so a stale read never drops or undoes a change;
// the current group is read only when something needs it (If-Match, a
// resource in the answer, member filters other than value eq, a full
// member list, a rename, account type rules), so a plain membership
// change costs no read of the whole group.
func (s *server) patchGroup(ctx context.Context, id string, ops []patch.Op, pc patchCall) (directory.Group, error) {
	gc, err := patch.Group(id, ops)
	if err != nil {
		return directory.Group{}, err
	}
	s.ignored(ctx, mapping.Group, gc.Ignored)
	needCur := pc.hasIfMatch || pc.want || len(gc.RemoveFilters) > 0 || gc.ReplaceSet ||
		gc.Name != nil || gc.ExternalID != nil || len(s.rules) > 0
	if !needCur { // answered 204: nothing reads the group the change returns
		return s.dir.ModifyGroupMembers(directory.WithoutAnswer(ctx), id, gc.Add, gc.Remove)
	}
	cur, err := s.dir.GetGroup(fresh(ctx), id)
	if err != nil {
		return cur, err
	}
	if err := pc.check(cur.Version); err != nil {
		return cur, err
	}
	current := memberIDs(cur)
	if len(gc.RemoveFilters) > 0 {
		gc.ResolveFilters(filter.Elements(mapping.GroupToSCIM(cur, "")["members"]))
	}
	renamed := gc.Name != nil && *gc.Name != cur.DisplayName
	reExt := gc.ExternalID != nil && *gc.ExternalID != cur.ExternalID
	withAttrs := func(g directory.Group) directory.Group {
		if gc.Name != nil {
			g.DisplayName = *gc.Name
		}
		if gc.ExternalID != nil {
			g.ExternalID = *gc.ExternalID
		}
		return g
	}

	var affected []string
	out := cur
	switch {
	case gc.ReplaceSet:
		affected = symmetricDiff(current, gc.Replace)
		if len(affected) == 0 && !renamed && !reExt {
			return cur, nil
		}
		g := withAttrs(directory.Group{ID: cur.ID, DisplayName: cur.DisplayName, ExternalID: cur.ExternalID, Members: []directory.Ref{}})
		for _, m := range gc.Replace {
			g.Members = append(g.Members, directory.Ref{ID: m})
		}
		if out, err = s.dir.ReplaceGroup(ctx, g); err != nil {
			return out, err
		}
	default:
		affected = patch.UnionIDs(patch.MinusIDs(gc.Add, current), patch.MinusIDs(gc.Remove, patch.MinusIDs(gc.Remove, current)))
		if len(gc.Add) > 0 || len(gc.Remove) > 0 {
			if out, err = s.dir.ModifyGroupMembers(ctx, cur.ID, gc.Add, gc.Remove); err != nil {
				return out, err
			}
		}
		if renamed || reExt {
			g := withAttrs(out)
			g.Members = nil // the rename leaves membership as Sigma has it
			if out, err = s.dir.ReplaceGroup(ctx, g); err != nil {
				return out, err
			}
		}
	}
	if renamed {
		// Every member's groups changed name: rules may now match differently.
		affected = patch.UnionIDs(affected, memberIDs(out))
	}
	s.applyRules(ctx, affected)
	return out, nil
}

// applyRules recomputes the account type of each user from their groups
// after a membership change. A user no rule matches keeps their type.
// Failures are logged, not returned: the membership change the IdP asked
// for has happened, and the next change retries.
func (s *server) applyRules(ctx context.Context, userIDs []string) {
	if len(s.rules) == 0 {
		return
	}
	log := loggerFrom(ctx, s.log)
	for _, id := range userIDs {
		u, err := s.dir.GetUser(ctx, id)
		if err != nil {
			log.Warn("account type rules: read user", "user_id", id, "err", err)
			continue
		}
		names := make([]string, 0, len(u.Groups))
		for _, g := range u.Groups {
			names = append(names, g.Display)
		}
		want, ok := s.rules.AccountTypeFor(names)
		if !ok || strings.EqualFold(want, u.AccountType) {
			continue
		}
		from := u.AccountType
		u.AccountType = want
		if _, err := s.dir.ReplaceUser(ctx, u); err != nil {
			log.Warn("account type rules: set account type", "user_id", id, "account_type", want, "err", err)
			continue
		}
		log.Info("account type set by group rule", "user_id", id, "from", from, "to", want)
	}
}
