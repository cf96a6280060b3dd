package scimserver

import (
	"net/http"

	"github.com/scimbridge/scim-bridge/internal/scim/query"
)

// rootSearch answers POST /.search (RFC 7644 3.4.3) over every resource
// type: the filter is checked against each type and applied to those it
// is valid for (an error only if it is valid for none); matches are Users
// then Groups, each in the requested order, paged together.
func (s *server) rootSearch(w http.ResponseWriter, r *http.Request) {
	var sr query.SearchRequest
	if err := decodeInto(r, &sr, "search request"); err != nil {
		s.writeError(w, r, err, "")
		return
	}
	uq, uerr := query.FromSearch(s.userRes.kind, sr, s.maxResults)
	gq, gerr := query.FromSearch(s.groupRes.kind, sr, s.maxResults)
	if uerr != nil && gerr != nil {
		s.writeError(w, r, uerr, "")
		return
	}
	base := s.base(r)
	var all []map[string]any
	var projections []query.Projection
	if uerr == nil {
		res, err := s.userRes.matching(r.Context(), uq, base)
		if err != nil {
			s.userRes.fail(w, r, err)
			return
		}
		query.Sort(res, uq.SortBy, uq.Descending)
		all = append(all, res...)
		for range res {
			projections = append(projections, uq.Projection)
		}
	}
	if gerr == nil {
		res, err := s.groupRes.matching(r.Context(), gq, base)
		if err != nil {
			s.groupRes.fail(w, r, err)
			return
		}
		query.Sort(res, gq.SortBy, gq.Descending)
		all = append(all, res...)
		for range res {
			projections = append(projections, gq.Projection)
		}
	}
	q := uq
	if uerr != nil {
		q = gq
	}
	start, end := q.Page(len(all))
	page := make([]map[string]any, 0, end-start)
	for i := start; i < end; i++ {
		page = append(page, projections[i].Apply(all[i]))
	}
	q.Projection = query.Projection{}
	writeJSON(w, http.StatusOK, q.Response(page, len(all)))
}
