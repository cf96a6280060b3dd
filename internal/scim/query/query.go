// Package query is the list side of RFC 7644 over canonical SCIM maps: the
// parameters of a list or .search request (filter, paging, sorting,
// attributes/excludedAttributes), sorting resources, projecting them, and
// the ListResponse of one page. It knows nothing of HTTP; its errors are
// *mapping.Error (400 with a scimType at the edge).
package query

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/scimbridge/scim-bridge/internal/mapping"
	"github.com/scimbridge/scim-bridge/internal/scim/filter"
)

func invalidValue(format string, args ...any) error {
	return &mapping.Error{ScimType: "invalidValue", Detail: fmt.Sprintf(format, args...)}
}

// Query is a parsed list or .search request.
type Query struct {
	Filter     filter.Expr // nil: every resource
	StartIndex int         // 1-based, at least 1
	Count      int         // 0..maxResults
	SortBy     *mapping.Path
	Descending bool
	Projection Projection
}

// Sorted reports whether the request asks for an order other than by id.
func (q Query) Sorted() bool { return q.SortBy != nil }

// Projection is the attributes/excludedAttributes part of a request.
type Projection struct {
	Attrs    []mapping.Path
	Excluded []mapping.Path
}

// Empty reports whether the request named neither attributes nor
// excludedAttributes.
func (p Projection) Empty() bool { return len(p.Attrs) == 0 && len(p.Excluded) == 0 }

// Shows reports whether a resource projected by p keeps (some of) the
// core attribute attr.
func (p Projection) Shows(attr string) bool {
	for _, a := range p.Excluded {
		if a.Schema == "" && a.Attr == attr && a.Sub == "" {
			return false
		}
	}
	if len(p.Attrs) == 0 {
		return true
	}
	for _, a := range p.Attrs {
		if a.Schema == "" && a.Attr == attr {
			return true
		}
	}
	return false
}

// ParseProjection resolves attribute names (comma-separated lists allowed).
// Unknown names are ignored, as RFC 7644 lets a server return only what it
// has; a typo cannot fail an IdP's read.
func ParseProjection(k mapping.Kind, attrs, excluded []string) Projection {
	return Projection{Attrs: resolveList(k, attrs), Excluded: resolveList(k, excluded)}
}

// ProjectionFrom reads attributes/excludedAttributes from query parameters.
func ProjectionFrom(k mapping.Kind, q url.Values) Projection {
	return ParseProjection(k, q["attributes"], q["excludedAttributes"])
}

// Asked reports whether query parameters name attributes or
// excludedAttributes at all (known or not).
func Asked(q url.Values) bool {
	return len(q["attributes"]) > 0 || len(q["excludedAttributes"]) > 0
}

func resolveList(k mapping.Kind, vals []string) []mapping.Path {
	var out []mapping.Path
	for _, v := range vals {
		for _, n := range strings.Split(v, ",") {
			if n = strings.TrimSpace(n); n == "" {
				continue
			}
			if p, ok := mapping.ResolvePath(k, n); ok {
				out = append(out, p)
			}
		}
	}
	return out
}

var params = []string{"filter", "startIndex", "count", "sortBy", "sortOrder", "attributes", "excludedAttributes"}

// FromValues parses the query parameters of GET /Users or /Groups.
// Parameter names are case-sensitive in the RFC; any case is accepted.
func FromValues(k mapping.Kind, q url.Values, maxResults int) (Query, error) {
	canon := url.Values{}
	for key, vs := range q {
		for _, want := range params {
			if strings.EqualFold(key, want) {
				canon[want] = append(canon[want], vs...)
			}
		}
	}
	sr := SearchRequest{
		Filter: canon.Get("filter"), SortBy: canon.Get("sortBy"), SortOrder: canon.Get("sortOrder"),
		Attributes: canon["attributes"], ExcludedAttributes: canon["excludedAttributes"],
	}
	for name, dst := range map[string]**int{"startIndex": &sr.StartIndex, "count": &sr.Count} {
		v := canon.Get(name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return Query{}, invalidValue("%s must be an integer, got %q", name, v)
		}
		*dst = &n
	}
	return FromSearch(k, sr, maxResults)
}

// SearchRequest is the body of POST .search (RFC 7644 section 3.4.3).
type SearchRequest struct {
	Schemas            []string `json:"schemas"`
	Attributes         []string `json:"attributes"`
	ExcludedAttributes []string `json:"excludedAttributes"`
	Filter             string   `json:"filter"`
	SortBy             string   `json:"sortBy"`
	SortOrder          string   `json:"sortOrder"`
	StartIndex         *int     `json:"startIndex"`
	Count              *int     `json:"count"`
}

// FromSearch checks a search request for resources of kind k. count is
// capped at maxResults; startIndex below 1 is 1 (RFC 7644 3.4.2.4).
func FromSearch(k mapping.Kind, sr SearchRequest, maxResults int) (Query, error) {
	var q Query
	var err error
	if q.Filter, err = filter.Parse(k, sr.Filter); err != nil {
		return q, err
	}
	q.StartIndex, q.Count = 1, maxResults
	if sr.StartIndex != nil {
		q.StartIndex = max(*sr.StartIndex, 1)
	}
	if sr.Count != nil {
		q.Count = min(max(*sr.Count, 0), maxResults)
	}
	if sr.SortBy != "" {
		p, ok := mapping.ResolvePath(k, sr.SortBy)
		if !ok || p.Attr == "" {
			return q, invalidValue("sortBy %q is not an attribute of %s; sort on userName, name.familyName, displayName or meta.created", sr.SortBy, ResourceName(k))
		}
		q.SortBy = &p
	}
	switch strings.ToLower(sr.SortOrder) {
	case "", "ascending":
	case "descending":
		q.Descending = true
	default:
		return q, invalidValue("sortOrder must be ascending or descending, got %q", sr.SortOrder)
	}
	q.Projection = ParseProjection(k, sr.Attributes, sr.ExcludedAttributes)
	return q, nil
}

// ResourceName is the SCIM resource type name of kind k.
func ResourceName(k mapping.Kind) string {
	if k == mapping.Group {
		return "Group"
	}
	return "User"
}
