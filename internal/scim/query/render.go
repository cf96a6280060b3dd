package query

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/scimbridge/scim-bridge/internal/mapping"
	"github.com/scimbridge/scim-bridge/internal/scim/filter"
)

// Sort orders resources by the sort path (missing values last),
// ties and the default by id, so paging is stable.
func Sort(res []map[string]any, by *mapping.Path, desc bool) {
	key := func(m map[string]any) (string, bool) {
		if by == nil {
			return "", false
		}
		vals := filter.Values(m, *by)
		if len(vals) == 0 {
			return "", false
		}
		// A multi-valued attribute sorts by its primary value when marked.
		if by.Def != nil && by.Def.MultiValued {
			for _, el := range filter.Elements(filter.Container(m, *by)[by.Attr]) {
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
			if typ, _ := filter.AttrType(*by); typ == "dateTime" {
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

// Apply returns m with attributes/excludedAttributes applied; id and
// schemas are always returned (RFC 7643 "returned: always"). m itself is
// not modified.
func (p Projection) Apply(m map[string]any) map[string]any {
	if len(p.Attrs) > 0 {
		out := map[string]any{"id": m["id"], "schemas": m["schemas"]}
		for _, a := range p.Attrs {
			copyPath(out, m, a)
		}
		return out
	}
	if len(p.Excluded) == 0 {
		return m
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	for _, a := range p.Excluded {
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

// Page returns the slice bounds of the requested page of total resources.
func (q Query) Page(total int) (start, end int) {
	start = min(q.StartIndex-1, total)
	end = min(start+q.Count, total)
	return start, end
}

// Response is the ListResponse of one page (resources, already cut to the
// page) out of total matches, each resource projected.
func (q Query) Response(resources []map[string]any, total int) map[string]any {
	page := make([]any, 0, len(resources))
	for _, m := range resources {
		page = append(page, q.Projection.Apply(m))
	}
	return map[string]any{
		"schemas":      []any{mapping.SchemaListResponse},
		"totalResults": total,
		"itemsPerPage": len(page),
		"startIndex":   q.StartIndex,
		"Resources":    page,
	}
}
