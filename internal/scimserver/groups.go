package scimserver

import (
	"net/http"
	"sort"

	"github.com/go-chi/chi/v5"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/mapping"
)

func (s *server) listGroups(w http.ResponseWriter, r *http.Request) {
	lq, err := s.parseListQuery(mapping.Group, r.URL.Query())
	if err != nil {
		s.writeError(w, r, err, "")
		return
	}
	s.answerGroupList(w, r, lq)
}

func (s *server) searchGroups(w http.ResponseWriter, r *http.Request) {
	lq, err := s.parseSearch(mapping.Group, r)
	if err != nil {
		s.writeError(w, r, err, "")
		return
	}
	s.answerGroupList(w, r, lq)
}

func (s *server) answerGroupList(w http.ResponseWriter, r *http.Request, lq listQuery) {
	ctx := r.Context()
	var groups []directory.Group
	var err error
	if lookups, ok := planLookups(mapping.Group, lq.filter); ok {
		seen := map[string]bool{}
		for _, l := range lookups {
			found, err := s.dir.LookupGroups(ctx, l.attr, l.value)
			if err != nil {
				s.writeError(w, r, err, "group")
				return
			}
			for _, g := range found {
				if !seen[g.ID] {
					seen[g.ID] = true
					groups = append(groups, g)
				}
			}
		}
		sort.Slice(groups, func(i, j int) bool { return groups[i].ID < groups[j].ID })
	} else if groups, err = s.dir.ListGroups(ctx); err != nil {
		s.writeError(w, r, err, "group")
		return
	}
	base := s.base(r)
	if lq.filter == nil && lq.sortBy == nil {
		// The default order is by id: render only the requested page, so an
		// import of a large org does not render every resource per page.
		sort.SliceStable(groups, func(i, j int) bool { return groups[i].ID < groups[j].ID })
		start, end := pageBounds(len(groups), lq)
		res := make([]map[string]any, 0, end-start)
		for _, x := range groups[start:end] {
			res = append(res, mapping.GroupToSCIM(x, base))
		}
		writeJSON(w, http.StatusOK, pageResponse(res, len(groups), lq))
		return
	}
	ev := evaluator{kind: mapping.Group}
	res := make([]map[string]any, 0, len(groups))
	for _, g := range groups {
		m := mapping.GroupToSCIM(g, base)
		if ev.match(lq.filter, m) {
			res = append(res, m)
		}
	}
	sortResources(res, lq.sortBy, lq.descending)
	writeJSON(w, http.StatusOK, listResponse(res, lq))
}

func (s *server) getGroup(w http.ResponseWriter, r *http.Request) {
	g, err := s.dir.GetGroup(directory.WithFreshRead(r.Context()), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err, "group")
		return
	}
	s.writeResource(w, r, http.StatusOK, mapping.GroupToSCIM(g, s.base(r)), g.Version)
}

// decodeGroup reads a Group body; membersSent says whether it had a
// members attribute at all (null counts as absent).
func decodeGroup(r *http.Request) (g directory.Group, membersSent bool, err error) {
	body, err := decodeObject(r)
	if err != nil {
		return g, false, err
	}
	norm, err := mapping.Normalize(mapping.Group, body)
	if err != nil {
		return g, false, err
	}
	g, err = mapping.GroupFromSCIM(norm)
	return g, norm["members"] != nil, err
}

func memberIDs(g directory.Group) []string {
	ids := make([]string, 0, len(g.Members))
	for _, m := range g.Members {
		ids = append(ids, m.ID)
	}
	return ids
}

func (s *server) createGroup(w http.ResponseWriter, r *http.Request) {
	g, _, err := decodeGroup(r)
	if err != nil {
		s.writeError(w, r, err, "group")
		return
	}
	created, err := s.dir.CreateGroup(r.Context(), g)
	if err != nil {
		s.writeError(w, r, err, "a group named "+g.DisplayName)
		return
	}
	s.applyRules(r.Context(), memberIDs(created))
	s.writeResource(w, r, http.StatusCreated, mapping.GroupToSCIM(created, s.base(r)), created.Version)
}

func (s *server) replaceGroup(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	g, membersSent, err := decodeGroup(r)
	if err != nil {
		s.writeError(w, r, err, "group")
		return
	}
	cur, err := s.dir.GetGroup(ctx, chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err, "group")
		return
	}
	if err := checkIfMatch(r, cur.Version); err != nil {
		s.writeError(w, r, err, "group")
		return
	}
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
		s.writeError(w, r, err, "group")
		return
	}
	if out.DisplayName != cur.DisplayName {
		// Every member's groups changed name: rules may now match differently.
		affected = unionIDs(affected, memberIDs(out))
	}
	s.applyRules(ctx, affected)
	s.writeResource(w, r, http.StatusOK, mapping.GroupToSCIM(out, s.base(r)), out.Version)
}

func symmetricDiff(a, b []string) []string {
	return unionIDs(minusIDs(a, b), minusIDs(b, a))
}

func (s *server) patchGroup(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := chi.URLParam(r, "id")
	ops, err := parsePatch(r)
	if err != nil {
		s.writeError(w, r, err, "group")
		return
	}
	gc, err := parseGroupOps(id, ops)
	if err != nil {
		s.writeError(w, r, err, "group")
		return
	}
	// The current group decides If-Match, whether anything changed (204
	// rather than 200), and resolves member filters other than value eq.
	// Member deltas are sent as asked whatever the read says, so a stale
	// read never drops or undoes a change.
	cur, err := s.dir.GetGroup(ctx, id)
	if err != nil {
		s.writeError(w, r, err, "group")
		return
	}
	if err := checkIfMatch(r, cur.Version); err != nil {
		s.writeError(w, r, err, "group")
		return
	}
	current := memberIDs(cur)
	if len(gc.removeFilters) > 0 {
		ev := evaluator{kind: mapping.Group}
		mp := mapping.Path{Attr: "members", Def: mapping.GroupSchema.Attr("members")}
		for _, el := range elements(mapping.GroupToSCIM(cur, "")["members"]) {
			for _, f := range gc.removeFilters {
				if ev.eval(f, nil, &mp, el) {
					v, _ := el["value"].(string)
					gc.removeIDs([]string{v})
				}
			}
		}
	}
	renamed := gc.name != nil && *gc.name != cur.DisplayName
	reExt := gc.externalID != nil && *gc.externalID != cur.ExternalID

	var affected []string
	out := cur
	switch {
	case gc.replaceSet:
		affected = symmetricDiff(current, gc.replace)
		if len(affected) == 0 && !renamed && !reExt {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		g := directory.Group{ID: cur.ID, DisplayName: cur.DisplayName, ExternalID: cur.ExternalID, Members: []directory.Ref{}}
		if gc.name != nil {
			g.DisplayName = *gc.name
		}
		if gc.externalID != nil {
			g.ExternalID = *gc.externalID
		}
		for _, m := range gc.replace {
			g.Members = append(g.Members, directory.Ref{ID: m})
		}
		if out, err = s.dir.ReplaceGroup(ctx, g); err != nil {
			s.writeError(w, r, err, "group")
			return
		}
	default:
		affected = unionIDs(minusIDs(gc.add, current), minusIDs(gc.remove, minusIDs(gc.remove, current)))
		if len(gc.add) > 0 || len(gc.remove) > 0 {
			if out, err = s.dir.ModifyGroupMembers(ctx, cur.ID, gc.add, gc.remove); err != nil {
				s.writeError(w, r, err, "group")
				return
			}
		}
		if renamed || reExt {
			g := out
			g.Members = nil // the rename leaves membership as Sigma has it
			if gc.name != nil {
				g.DisplayName = *gc.name
			}
			if gc.externalID != nil {
				g.ExternalID = *gc.externalID
			}
			if out, err = s.dir.ReplaceGroup(ctx, g); err != nil {
				s.writeError(w, r, err, "group")
				return
			}
		}
	}
	if len(affected) == 0 && !renamed && !reExt {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if renamed {
		// Every member's groups changed name: rules may now match differently.
		affected = unionIDs(affected, memberIDs(out))
	}
	s.applyRules(ctx, affected)
	s.writeResource(w, r, http.StatusOK, mapping.GroupToSCIM(out, s.base(r)), out.Version)
}

func (s *server) deleteGroup(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := chi.URLParam(r, "id")
	var cur directory.Group
	if r.Header.Get("If-Match") != "" || len(s.rules) > 0 {
		var err error
		if cur, err = s.dir.GetGroup(ctx, id); err != nil {
			s.writeError(w, r, err, "group")
			return
		}
		if err := checkIfMatch(r, cur.Version); err != nil {
			s.writeError(w, r, err, "group")
			return
		}
	}
	if err := s.dir.DeleteGroup(ctx, id); err != nil {
		s.writeError(w, r, err, "group")
		return
	}
	s.applyRules(ctx, memberIDs(cur))
	w.WriteHeader(http.StatusNoContent)
}
