package filter

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	scimfilter "github.com/scim2/filter-parser/v2"

	"github.com/scimbridge/scim-bridge/internal/mapping"
)

// Unquote undoes JSON string escapes the filter parser leaves in values.
func Unquote(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var out string
	if err := json.Unmarshal([]byte(`"`+s+`"`), &out); err != nil {
		return s
	}
	return out
}

// Match reports whether resource res of kind k (a canonical SCIM map)
// matches the checked filter expr; nil matches.
func Match(k mapping.Kind, expr Expr, res map[string]any) bool {
	if expr == nil {
		return true
	}
	return evaluator{k}.eval(expr, res, nil, nil)
}

// MatchElement reports whether el, one element of the multi-valued
// attribute parent, matches expr, a value filter checked against parent
// (ValuePath.Filter).
func MatchElement(k mapping.Kind, expr Expr, parent mapping.Path, el map[string]any) bool {
	return evaluator{k}.eval(expr, nil, &parent, el)
}

// evaluator evaluates checked filters against SCIM representations.
type evaluator struct{ kind mapping.Kind }

func (ev evaluator) eval(expr scimfilter.Expression, res map[string]any, parent *mapping.Path, elem map[string]any) bool {
	switch e := expr.(type) {
	case *scimfilter.LogicalExpression:
		if strings.EqualFold(string(e.Operator), "and") {
			return ev.eval(e.Left, res, parent, elem) && ev.eval(e.Right, res, parent, elem)
		}
		return ev.eval(e.Left, res, parent, elem) || ev.eval(e.Right, res, parent, elem)
	case *scimfilter.NotExpression:
		return !ev.eval(e.Expression, res, parent, elem)
	case *scimfilter.ValuePath:
		p, _ := resolveFilterPath(ev.kind, e.AttributePath, nil)
		for _, el := range Elements(Container(res, p)[p.Attr]) {
			if ev.eval(e.ValueFilter, res, &p, el) {
				return true
			}
		}
		return false
	case *scimfilter.AttributeExpression:
		p, _ := resolveFilterPath(ev.kind, e.AttributePath, parent)
		var vals []any
		if parent != nil {
			vals = flatten(elem[p.Sub])
		} else {
			vals = Values(res, p)
		}
		return compare(p, strings.ToLower(string(e.Operator)), e.CompareValue, vals)
	}
	return false
}

// Container returns the object holding p's attribute: the resource or its
// extension object.
func Container(res map[string]any, p mapping.Path) map[string]any {
	if p.Schema == "" {
		return res
	}
	ext, _ := res[p.Schema].(map[string]any)
	return ext
}

// Elements returns the objects of a multi-valued (or single complex)
// attribute value.
func Elements(v any) []map[string]any {
	var out []map[string]any
	switch t := v.(type) {
	case []any:
		for _, e := range t {
			if m, ok := e.(map[string]any); ok {
				out = append(out, m)
			}
		}
	case map[string]any:
		out = append(out, t)
	}
	return out
}

func flatten(v any) []any {
	switch t := v.(type) {
	case nil:
		return nil
	case []any:
		return t
	}
	return []any{v}
}

// Values returns the simple values a path designates: for a
// multi-valued complex attribute without sub-attribute, its "value"s.
func Values(res map[string]any, p mapping.Path) []any {
	c := Container(res, p)
	if c == nil {
		return nil
	}
	v := c[p.Attr]
	sub := p.Sub
	if sub == "" && p.Def != nil && p.Def.Type == "complex" {
		sub = "value"
	}
	if sub == "" {
		return flatten(v)
	}
	var out []any
	for _, el := range Elements(v) {
		out = append(out, flatten(el[sub])...)
	}
	return out
}

func compare(p mapping.Path, op string, want any, vals []any) bool {
	if op == "pr" {
		for _, v := range vals {
			if s, ok := v.(string); ok && s == "" {
				continue
			}
			if v != nil {
				return true
			}
		}
		return false
	}
	if op == "ne" {
		return !compare(p, "eq", want, vals)
	}
	typ, caseExact := AttrType(p)
	for _, v := range vals {
		if compareOne(typ, caseExact, op, want, v) {
			return true
		}
	}
	return false
}

func compareOne(typ string, caseExact bool, op string, want, have any) bool {
	switch typ {
	case "boolean":
		hb, ok := mapping.ParseBool(have)
		wb, _ := want.(bool)
		return ok && op == "eq" && hb == wb
	case "dateTime":
		hs, _ := have.(string)
		ws, _ := want.(string)
		ht, err1 := time.Parse(time.RFC3339Nano, hs)
		wt, err2 := time.Parse(time.RFC3339Nano, ws)
		if err1 != nil || err2 != nil {
			return false
		}
		return ordered(op, ht.Compare(wt))
	}
	hs, ok := have.(string)
	if !ok {
		if f, isNum := have.(float64); isNum && !math.IsNaN(f) {
			hs = fmt.Sprint(f)
		} else {
			return false
		}
	}
	ws, _ := want.(string)
	ws = Unquote(ws)
	if !caseExact {
		hs, ws = strings.ToLower(hs), strings.ToLower(ws)
	}
	switch op {
	case "eq":
		return hs == ws
	case "co":
		return strings.Contains(hs, ws)
	case "sw":
		return strings.HasPrefix(hs, ws)
	case "ew":
		return strings.HasSuffix(hs, ws)
	}
	return ordered(op, strings.Compare(hs, ws))
}

func ordered(op string, c int) bool {
	switch op {
	case "eq":
		return c == 0
	case "gt":
		return c > 0
	case "ge":
		return c >= 0
	case "lt":
		return c < 0
	case "le":
		return c <= 0
	}
	return false
}
