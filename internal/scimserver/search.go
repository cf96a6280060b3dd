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
	var found rootMatches
	uq, uerr := searchType(r, s.userRes, sr, &found)
	gq, gerr := searchType(r, s.groupRes, sr, &found)
	switch {
	case uerr != nil && gerr != nil:
		s.writeError(w, r, uerr, "")
		return
	case found.err != nil:
		s.writeError(w, r, found.err, "")
		return
	}
	q := uq
	if uerr != nil {
		q = gq
	}
	start, end := q.Page(len(found.res))
	page := make([]map[string]any, 0, end-start)
	for i := start; i < end; i++ {
		page = append(page, found.proj[i].Apply(found.res[i]))
	}
	q.Projection = query.Projection{}
	writeJSON(w, http.StatusOK, q.Response(page, len(found.res)))
}

// rootMatches collects the matches of a root search with the projection
// of each one's resource type, and the first directory error.
type rootMatches struct {
	res  []map[string]any
	proj []query.Projection
	err  error
}

// searchType adds the matches of resource type d to found; err says the
// search request is not valid for d.
func searchType[T, B any](r *http.Request, d *resource[T, B], sr query.SearchRequest, found *rootMatches) (query.Query, error) {
	q, err := query.FromSearch(d.kind, sr, d.s.maxResults)
	if err != nil || found.err != nil {
		return q, err
	}
	res, err := d.matching(r.Context(), q, d.s.base(r))
	if err != nil {
		found.err = err
		return q, nil
	}
	query.Sort(res, q.SortBy, q.Descending)
	for _, m := range res {
		found.res = append(found.res, m)
		found.proj = append(found.proj, q.Projection)
	}
	return q, nil
}
