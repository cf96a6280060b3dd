package scimserver

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/mapping"
	"github.com/scimbridge/scim-bridge/internal/scim/filter"
	"github.com/scimbridge/scim-bridge/internal/scim/patch"
	"github.com/scimbridge/scim-bridge/internal/scim/query"
)

// resource describes one SCIM resource type (User or Group) to the one
// handler set: what differs between Users and Groups is here and in the
// directory calls, the request flows are in the methods below. T is the
// directory's model, B a request body as the descriptor reads it.
type resource[T, B any] struct {
	s        *server
	kind     mapping.Kind
	noun     string // "user", "group": for error details
	endpoint string // "/Users", "/Groups"

	id      func(T) string
	version func(T) string
	render  func(s *server, x T, base string) map[string]any
	// view is what a filter is evaluated on (nil: the rendering itself).
	view func(x T, m map[string]any) map[string]any

	// unshown, when set, returns ctx telling the directory which parts of
	// the resources a read's answer will not show (and no filter or sort
	// reads), so that it need not build them.
	unshown func(ctx context.Context, q query.Query) context.Context

	list func(ctx context.Context) ([]T, error)
	// pageOf, when set, answers one page of list (0-based start, count)
	// and the total without building the rest.
	pageOf func(ctx context.Context, start, count int) ([]T, int, error)
	lookup func(ctx context.Context, attr directory.Attr, value string) ([]T, error)
	// skip says a lookup can only find nothing and costs no call.
	skip func(l filter.Lookup) bool
	get  func(ctx context.Context, id string) (T, error)

	// read maps a POST or PUT body, without a directory call: a body that
	// cannot be applied costs no Sigma call.
	read    func(ctx context.Context, body map[string]any) (B, error)
	create  func(ctx context.Context, b B) (T, error)
	replace func(ctx context.Context, cur T, b B) (T, error)
	// patch applies ops to resource id; check is the If-Match check, to be
	// called on the current version if the descriptor reads it (it must,
	// when hasIfMatch). It returns the resource after the change when
	// want, else may return the zero T.
	patch func(ctx context.Context, id string, ops []patch.Op, pc patchCall) (T, error)
	// patchNoContent: a PATCH is answered 204 unless the request asks for
	// attributes (RFC 7644 3.5.2), so a membership change does not render
	// the whole group.
	patchNoContent bool
	// deleteNeedsCurrent: delete reads the resource first even without
	// If-Match.
	deleteNeedsCurrent func() bool
	delete             func(ctx context.Context, id string, cur *T) error
}

// fresh marks a read of the resource a write is computed from: it must
// come from Sigma itself, not from an index another replica's latest
// write may not have reached (a write computed from a stale copy would
// undo that change, or take a real change for a no-op).
func fresh(ctx context.Context) context.Context { return directory.WithFreshRead(ctx) }

// patchCall carries what a descriptor's patch needs from the request; the
// descriptor reads the current resource with fresh.
type patchCall struct {
	check      func(version string) error // If-Match against the current version
	hasIfMatch bool
	want       bool // the answer shows the resource
}

// whatError names the resource an error is about ("a user with userName
// x") for the NotFound and Conflict details.
type whatError struct {
	what string
	err  error
}

func (e *whatError) Error() string { return e.err.Error() }
func (e *whatError) Unwrap() error { return e.err }

func about(what string, err error) error {
	if err == nil {
		return nil
	}
	return &whatError{what: what, err: err}
}

func (d *resource[T, B]) fail(w http.ResponseWriter, r *http.Request, err error) {
	what := d.noun
	var we *whatError
	if errors.As(err, &we) {
		what = we.what
	}
	d.s.writeError(w, r, err, what)
}

func (d *resource[T, B]) mount(r chi.Router) {
	r.Get(d.endpoint, d.handleList)
	r.Post(d.endpoint, d.handleCreate)
	r.Post(d.endpoint+"/.search", d.handleSearch)
	r.Get(d.endpoint+"/{id}", d.handleGet)
	r.Put(d.endpoint+"/{id}", d.handleReplace)
	r.Patch(d.endpoint+"/{id}", d.handlePatch)
	r.Delete(d.endpoint+"/{id}", d.handleDelete)
}

func (d *resource[T, B]) handleList(w http.ResponseWriter, r *http.Request) {
	q, err := query.FromValues(d.kind, r.URL.Query(), d.s.maxResults)
	if err != nil {
		d.s.writeError(w, r, err, "")
		return
	}
	d.answerList(w, r, q)
}

func (d *resource[T, B]) handleSearch(w http.ResponseWriter, r *http.Request) {
	var sr query.SearchRequest
	if err := decodeInto(r, &sr, "search request"); err != nil {
		d.s.writeError(w, r, err, "")
		return
	}
	q, err := query.FromSearch(d.kind, sr, d.s.maxResults)
	if err != nil {
		d.s.writeError(w, r, err, "")
		return
	}
	d.answerList(w, r, q)
}

func (d *resource[T, B]) answerList(w http.ResponseWriter, r *http.Request, q query.Query) {
	base := d.s.base(r)
	ctx := r.Context()
	if d.unshown != nil {
		ctx = d.unshown(ctx, q)
	}
	if q.Filter == nil && !q.Sorted() {
		// The default order is by id: render only the requested page, so an
		// import of a large org does not render every resource per page.
		items, total, err := d.page(ctx, q)
		if err != nil {
			d.fail(w, r, err)
			return
		}
		writePage(w, q, total, len(items), func(i int) map[string]any { return d.render(d.s, items[i], base) })
		return
	}
	res, err := d.matching(ctx, q, base)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	query.Sort(res, q.SortBy, q.Descending)
	start, end := q.Page(len(res))
	writeJSON(w, http.StatusOK, q.Response(res[start:end], len(res)))
}

// page returns the requested page of every resource in id order, and the
// total: from the directory's pager when it has one.
func (d *resource[T, B]) page(ctx context.Context, q query.Query) ([]T, int, error) {
	if d.pageOf != nil {
		return d.pageOf(ctx, q.StartIndex-1, q.Count)
	}
	all, err := d.list(ctx)
	if err != nil {
		return nil, 0, err
	}
	sort.SliceStable(all, func(i, j int) bool { return d.id(all[i]) < d.id(all[j]) })
	start, end := q.Page(len(all))
	return all[start:end], len(all), nil
}

// matching renders every resource q.Filter matches, in id order: from
// index lookups when the filter allows, else from a scan.
func (d *resource[T, B]) matching(ctx context.Context, q query.Query, base string) ([]map[string]any, error) {
	var items []T
	if lookups, ok := filter.Plan(d.kind, q.Filter); ok {
		seen := map[string]bool{}
		for _, l := range lookups {
			if d.skip != nil && d.skip(l) {
				continue
			}
			found, err := d.lookup(ctx, l.Attr, l.Value)
			if err != nil {
				return nil, err
			}
			for _, x := range found {
				if !seen[d.id(x)] {
					seen[d.id(x)] = true
					items = append(items, x)
				}
			}
		}
		sort.Slice(items, func(i, j int) bool { return d.id(items[i]) < d.id(items[j]) })
	} else {
		var err error
		if items, err = d.list(ctx); err != nil {
			return nil, err
		}
	}
	res := make([]map[string]any, 0, len(items))
	for _, x := range items {
		m := d.render(d.s, x, base)
		v := m
		if d.view != nil {
			v = d.view(x, m)
		}
		if filter.Match(d.kind, q.Filter, v) {
			res = append(res, m)
		}
	}
	return res, nil
}

func (d *resource[T, B]) handleGet(w http.ResponseWriter, r *http.Request) {
	ctx := directory.WithFreshRead(r.Context())
	if d.unshown != nil {
		ctx = d.unshown(ctx, query.Query{Projection: query.ProjectionFrom(d.kind, r.URL.Query())})
	}
	x, err := d.get(ctx, chi.URLParam(r, "id"))
	if err != nil {
		d.fail(w, r, err)
		return
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && matchesETag(inm, d.version(x)) {
		// RFC 7644 3.14 (RFC 7232 4.1): the IdP's copy is current.
		w.Header().Set("ETag", mapping.ETag(d.version(x)))
		w.WriteHeader(http.StatusNotModified)
		return
	}
	d.writeResource(w, r, http.StatusOK, x)
}

func (d *resource[T, B]) handleCreate(w http.ResponseWriter, r *http.Request) {
	body, err := decodeObject(r)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	b, err := d.read(r.Context(), body)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	x, err := d.create(r.Context(), b)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	d.writeResource(w, r, http.StatusCreated, x)
}

// current reads resource id fresh, with ctx, and checks the request's
// If-Match on it.
func (d *resource[T, B]) current(ctx context.Context, r *http.Request, id string) (T, error) {
	cur, err := d.get(fresh(ctx), id)
	if err != nil {
		return cur, err
	}
	return cur, checkIfMatch(r, d.version(cur))
}

// missingFirst answers a request that cannot be applied: when the resource
// does not exist that is the answer (404, not the body's 400); the lookup
// is an index read, so a bad request still costs no Sigma call.
func (d *resource[T, B]) missingFirst(w http.ResponseWriter, r *http.Request, id string, err error) {
	var me *mapping.Error
	var ae *apiError
	if errors.As(err, &me) || errors.As(err, &ae) && ae.status == http.StatusBadRequest {
		if _, gerr := d.get(r.Context(), id); errors.Is(gerr, directory.ErrNotFound) {
			err = gerr
		}
	}
	d.fail(w, r, err)
}

func (d *resource[T, B]) handleReplace(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	body, err := decodeObject(r)
	if err != nil {
		d.missingFirst(w, r, id, err)
		return
	}
	b, err := d.read(r.Context(), body)
	if err != nil {
		d.missingFirst(w, r, id, err)
		return
	}
	// The write reuses the fresh read it is computed from (one GET).
	ctx := directory.WithReadReuse(r.Context())
	cur, err := d.current(ctx, r, id)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	out, err := d.replace(ctx, cur, b)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	d.writeResource(w, r, http.StatusOK, out)
}

func (d *resource[T, B]) handlePatch(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	body, err := decodeObject(r)
	if err != nil {
		d.missingFirst(w, r, id, err)
		return
	}
	ops, err := patch.Parse(body)
	if err != nil {
		d.missingFirst(w, r, id, err)
		return
	}
	want := !d.patchNoContent || query.Asked(r.URL.Query())
	pc := patchCall{
		check:      func(version string) error { return checkIfMatch(r, version) },
		hasIfMatch: r.Header.Get("If-Match") != "",
		want:       want,
	}
	out, err := d.patch(directory.WithReadReuse(r.Context()), id, ops, pc)
	if err != nil {
		d.missingFirst(w, r, id, err)
		return
	}
	if !want {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	d.writeResource(w, r, http.StatusOK, out)
}

func (d *resource[T, B]) handleDelete(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	var cur *T
	if r.Header.Get("If-Match") != "" || d.deleteNeedsCurrent != nil && d.deleteNeedsCurrent() {
		x, err := d.current(r.Context(), r, id)
		if err != nil {
			d.fail(w, r, err)
			return
		}
		cur = &x
	}
	if err := d.delete(r.Context(), id, cur); err != nil {
		d.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// writeResource answers one resource with its ETag and, on create,
// Location, projected as the query parameters ask.
func (d *resource[T, B]) writeResource(w http.ResponseWriter, r *http.Request, status int, x T) {
	m := d.render(d.s, x, d.s.base(r))
	if et := mapping.ETag(d.version(x)); et != "" {
		w.Header().Set("ETag", et)
	}
	if meta, ok := m["meta"].(map[string]any); ok && status == http.StatusCreated {
		if loc, ok := meta["location"].(string); ok {
			w.Header().Set("Location", loc)
		}
	}
	writeJSON(w, status, query.ProjectionFrom(d.kind, r.URL.Query()).Apply(m))
}

// checkIfMatch answers 412 when the request carries If-Match and none of
// its tags names the current version (weak comparison, "*" matches).
func checkIfMatch(r *http.Request, version string) error {
	h := r.Header.Get("If-Match")
	if h == "" || matchesETag(h, version) {
		return nil
	}
	return errorf(http.StatusPreconditionFailed, "", "the resource has changed since version %s; read it again and retry", h)
}

// matchesETag reports whether an If-Match or If-None-Match header names
// version: "*", or one of its tags by weak comparison.
func matchesETag(header, version string) bool {
	cur := strings.Trim(strings.TrimPrefix(mapping.ETag(version), "W/"), `"`)
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" {
			return true
		}
		tag = strings.Trim(strings.TrimPrefix(tag, "W/"), `"`)
		if tag != "" && tag == cur {
			return true
		}
	}
	return false
}
