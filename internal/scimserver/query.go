package scimserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	filter "github.com/scim2/filter-parser/v2"

	"github.com/scimbridge/scim-bridge/internal/mapping"
)

// listQuery is a parsed list or .search request.
type listQuery struct {
	filter     filter.Expression
	startIndex int
	count      int
	sortBy     *mapping.Path
	descending bool
	attrs      []mapping.Path
	excluded   []mapping.Path
}

// projection is the attributes/excludedAttributes part of a request.
type projection struct {
	attrs    []mapping.Path
	excluded []mapping.Path
}

func parseProjection(k mapping.Kind, attrs, excluded []string) (projection, error) {
	var p projection
	var err error
	if p.attrs, err = parseAttrList(k, "attributes", attrs); err != nil {
		return p, err
	}
	if p.excluded, err = parseAttrList(k, "excludedAttributes", excluded); err != nil {
		return p, err
	}
	return p, nil
}

func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// parseAttrList resolves attribute names. Unknown names are ignored, as
// RFC 7644 lets a server return only what it has; a typo cannot fail an
// IdP's read.
func parseAttrList(k mapping.Kind, param string, names []string) ([]mapping.Path, error) {
	var out []mapping.Path
	for _, n := range splitList(names) {
		p, ok := mapping.ResolvePath(k, n)
		if !ok {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

func queryProjection(k mapping.Kind, q url.Values) (projection, error) {
	return parseProjection(k, q["attributes"], q["excludedAttributes"])
}

func (s *server) parseListQuery(k mapping.Kind, q url.Values) (listQuery, error) {
	var lq listQuery
	var err error
	for key := range q {
		switch key {
		case "filter", "startIndex", "count", "sortBy", "sortOrder", "attributes", "excludedAttributes":
		default:
			// Parameters are case-sensitive in the RFC; accept any case.
			for _, want := range []string{"filter", "startIndex", "count", "sortBy", "sortOrder", "attributes", "excludedAttributes"} {
				if strings.EqualFold(key, want) {
					q[want] = append(q[want], q[key]...)
				}
			}
		}
	}
	if lq.filter, err = parseFilter(k, q.Get("filter")); err != nil {
		return lq, err
	}
	if lq.startIndex, err = intParam("startIndex", q.Get("startIndex"), 1); err != nil {
		return lq, err
	}
	if lq.count, err = intParam("count", q.Get("count"), s.maxResults); err != nil {
		return lq, err
	}
	if err := s.finishListQuery(k, &lq, q.Get("sortBy"), q.Get("sortOrder")); err != nil {
		return lq, err
	}
	proj, err := queryProjection(k, q)
	lq.attrs, lq.excluded = proj.attrs, proj.excluded
	return lq, err
}

func intParam(name, v string, def int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, badRequest(typeInvalidValue, "%s must be an integer, got %q", name, v)
	}
	return n, nil
}

func (s *server) finishListQuery(k mapping.Kind, lq *listQuery, sortBy, sortOrder string) error {
	if lq.startIndex < 1 {
		lq.startIndex = 1 // RFC 7644 3.4.2.4: values less than 1 are 1
	}
	if lq.count < 0 {
		lq.count = 0
	}
	if lq.count > s.maxResults {
		lq.count = s.maxResults
	}
	if sortBy != "" {
		p, ok := mapping.ResolvePath(k, sortBy)
		if !ok || p.Attr == "" {
			return badRequest(typeInvalidValue, "sortBy %q is not an attribute of %s; sort on userName, name.familyName, displayName or meta.created", sortBy, resourceName(k))
		}
		lq.sortBy = &p
	}
	switch strings.ToLower(sortOrder) {
	case "", "ascending":
	case "descending":
		lq.descending = true
	default:
		return badRequest(typeInvalidValue, "sortOrder must be ascending or descending, got %q", sortOrder)
	}
	return nil
}

// searchRequest is the body of POST .search (RFC 7644 3.4.3).
type searchRequest struct {
	Schemas            []string `json:"schemas"`
	Attributes         []string `json:"attributes"`
	ExcludedAttributes []string `json:"excludedAttributes"`
	Filter             string   `json:"filter"`
	SortBy             string   `json:"sortBy"`
	SortOrder          string   `json:"sortOrder"`
	StartIndex         *int     `json:"startIndex"`
	Count              *int     `json:"count"`
}

func (s *server) parseSearch(k mapping.Kind, r *http.Request) (listQuery, error) {
	var lq listQuery
	body, err := readBody(r)
	if err != nil {
		return lq, err
	}
	var sr searchRequest
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		if err := dec.Decode(&sr); err != nil {
			return lq, badRequest(typeInvalidSyntax, "the search request is not valid JSON of the SearchRequest schema: %s", jsonProblem(err))
		}
	}
	if lq.filter, err = parseFilter(k, sr.Filter); err != nil {
		return lq, err
	}
	lq.startIndex, lq.count = 1, s.maxResults
	if sr.StartIndex != nil {
		lq.startIndex = *sr.StartIndex
	}
	if sr.Count != nil {
		lq.count = *sr.Count
	}
	if err := s.finishListQuery(k, &lq, sr.SortBy, sr.SortOrder); err != nil {
		return lq, err
	}
	proj, err := parseProjection(k, sr.Attributes, sr.ExcludedAttributes)
	lq.attrs, lq.excluded = proj.attrs, proj.excluded
	return lq, err
}

// readBody reads the whole body under the size limit.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(mbe.Limit)
		}
		return nil, badRequest(typeInvalidSyntax, "reading the request body failed")
	}
	return b, nil
}

// decodeObject reads a JSON object body.
func decodeObject(r *http.Request) (map[string]any, error) {
	b, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, badRequest(typeInvalidSyntax, "the request body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, badRequest(typeInvalidSyntax, "the request body is not valid JSON: %s", jsonProblem(err))
	}
	if dec.More() {
		return nil, badRequest(typeInvalidSyntax, "the request body holds more than one JSON value")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, badRequest(typeInvalidSyntax, "the request body must be a JSON object")
	}
	return m, nil
}

func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "syntax error at byte " + strconv.FormatInt(se.Offset, 10)
	case errors.As(err, &te):
		return te.Field + " must be " + te.Type.String() + ", not " + te.Value
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "unexpected end of input"
	}
	return "malformed"
}

// sortResources orders resources by the sort path (missing values last),
// ties and the default by id, so paging is stable.
func sortResources(res []map[string]any, by *mapping.Path, desc bool) {
	key := func(m map[string]any) (string, bool) {
		if by == nil {
			return "", false
		}
		vals := valuesAt(m, *by)
		if len(vals) == 0 {
			return "", false
		}
		// A multi-valued attribute sorts by its primary value when marked.
		if by.Def != nil && by.Def.MultiValued {
			for _, el := range elements(container(m, *by)[by.Attr]) {
				if b, _ := el["primary"].(bool); b {
					sub := by.Sub
					if sub == "" {
						sub = "value"
					}
					if v, ok := el[sub]; ok {
						vals = []any{v}
					}
				}
			}
		}
		switch v := vals[0].(type) {
		case string:
			if typ, _ := attrType(*by); typ == "dateTime" {
				// Chronological, whatever the fractional digits.
				if tm, err := time.Parse(time.RFC3339Nano, v); err == nil {
					return fmt.Sprintf("%020d", tm.UnixNano()-math.MinInt64/2), true
				}
			}
			return strings.ToLower(v), true
		case bool:
			return strconv.FormatBool(v), true
		case nil:
			return "", false
		default:
			b, _ := json.Marshal(v)
			return string(b), true
		}
	}
	id := func(m map[string]any) string { s, _ := m["id"].(string); return s }
	sort.SliceStable(res, func(i, j int) bool {
		ki, oki := key(res[i])
		kj, okj := key(res[j])
		if oki != okj {
			return oki // present before missing, whatever the direction
		}
		if ki != kj {
			if desc {
				return ki > kj
			}
			return ki < kj
		}
		return id(res[i]) < id(res[j])
	})
}

// project applies attributes/excludedAttributes; id and schemas are
// always returned (RFC 7643 "returned: always").
func project(m map[string]any, p projection) map[string]any {
	if len(p.attrs) > 0 {
		out := map[string]any{"id": m["id"], "schemas": m["schemas"]}
		for _, a := range p.attrs {
			copyPath(out, m, a)
		}
		return out
	}
	if len(p.excluded) == 0 {
		return m
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	for _, a := range p.excluded {
		if a.Schema == "" && (a.Attr == "id" || a.Attr == "schemas") {
			continue
		}
		removePath(out, a)
	}
	return out
}

func copyPath(dst, src map[string]any, p mapping.Path) {
	if p.Attr == "" { // a whole extension
		if v, ok := src[p.Schema]; ok {
			dst[p.Schema] = v
		}
		return
	}
	sc, dc := src, dst
	if p.Schema != "" {
		ext, _ := src[p.Schema].(map[string]any)
		if ext == nil {
			return
		}
		sc = ext
		d, _ := dst[p.Schema].(map[string]any)
		if d == nil {
			d = map[string]any{}
			dst[p.Schema] = d
		}
		dc = d
	}
	v, ok := sc[p.Attr]
	if !ok {
		return
	}
	if p.Sub == "" {
		dc[p.Attr] = v
		return
	}
	switch t := v.(type) {
	case map[string]any:
		d, _ := dc[p.Attr].(map[string]any)
		if d == nil {
			d = map[string]any{}
			dc[p.Attr] = d
		}
		if sv, ok := t[p.Sub]; ok {
			d[p.Sub] = sv
		}
	case []any:
		// Sub-attribute of a multi-valued attribute: keep that sub-attribute
		// of each element (merging with other requested ones).
		prev, _ := dc[p.Attr].([]any)
		out := make([]any, len(t))
		for i, e := range t {
			el, _ := e.(map[string]any)
			n := map[string]any{}
			if i < len(prev) {
				if pm, ok := prev[i].(map[string]any); ok {
					n = pm
				}
			}
			if sv, ok := el[p.Sub]; ok {
				n[p.Sub] = sv
			}
			out[i] = n
		}
		dc[p.Attr] = out
	}
}

func removePath(m map[string]any, p mapping.Path) {
	c := m
	if p.Schema != "" {
		ext, _ := m[p.Schema].(map[string]any)
		if ext == nil {
			return
		}
		if p.Attr == "" {
			delete(m, p.Schema)
			return
		}
		n := make(map[string]any, len(ext))
		for k, v := range ext {
			n[k] = v
		}
		m[p.Schema] = n
		c = n
	}
	if p.Sub == "" {
		delete(c, p.Attr)
		return
	}
	switch t := c[p.Attr].(type) {
	case map[string]any:
		n := make(map[string]any, len(t))
		for k, v := range t {
			if k != p.Sub {
				n[k] = v
			}
		}
		c[p.Attr] = n
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			el, _ := e.(map[string]any)
			n := make(map[string]any, len(el))
			for k, v := range el {
				if k != p.Sub {
					n[k] = v
				}
			}
			out[i] = n
		}
		c[p.Attr] = out
	}
}

func resourceName(k mapping.Kind) string {
	if k == mapping.Group {
		return "Group"
	}
	return "User"
}

// pageBounds returns the slice bounds of the requested page of total.
func pageBounds(total int, lq listQuery) (start, end int) {
	start = min(lq.startIndex-1, total)
	end = min(start+lq.count, total)
	return start, end
}

// listResponse pages sorted resources.
func listResponse(all []map[string]any, lq listQuery) map[string]any {
	start, end := pageBounds(len(all), lq)
	return pageResponse(all[start:end], len(all), lq)
}

// pageResponse answers one page of total resources.
func pageResponse(resources []map[string]any, total int, lq listQuery) map[string]any {
	page := make([]any, 0, len(resources))
	proj := projection{attrs: lq.attrs, excluded: lq.excluded}
	for _, m := range resources {
		page = append(page, project(m, proj))
	}
	return map[string]any{
		"schemas":      []any{mapping.SchemaListResponse},
		"totalResults": total,
		"itemsPerPage": len(page),
		"startIndex":   lq.startIndex,
		"Resources":    page,
	}
}
