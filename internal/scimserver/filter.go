package scimserver

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	filter "github.com/scim2/filter-parser/v2"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/mapping"
)

// parseFilter parses and checks a SCIM filter for resources of kind k.
// Every attribute must be defined by the schemas and every operator must
// make sense for its attribute's type, so evaluation cannot fail later.
func parseFilter(k mapping.Kind, raw string) (filter.Expression, error) {
	src := strings.TrimSpace(raw)
	if src == "" {
		return nil, nil
	}
	rewritten, err := rewriteValuePathSubAttr(src)
	if err != nil {
		return nil, badRequest(typeInvalidFilter, "filter %q: %v", raw, err)
	}
	expr, err := filter.ParseFilter([]byte(rewritten))
	if err != nil {
		return nil, badRequest(typeInvalidFilter, "filter %q is not a valid SCIM filter (RFC 7644 section 3.4.2.2), e.g. userName eq \"ada@example.com\"", raw)
	}
	if err := checkExpr(k, expr, nil); err != nil {
		return nil, badRequest(typeInvalidFilter, "filter %q: %v", raw, err)
	}
	return expr, nil
}

// rewriteValuePathSubAttr turns `emails[type eq "work"].value eq "x"` (sent
// by Entra, not in the RFC's filter grammar) into the equivalent
// `emails[value eq "x" and type eq "work"]`.
func rewriteValuePathSubAttr(s string) (string, error) {
	var b strings.Builder
	inStr := false
	open := -1 // index in b of the current '['
	for i := 0; i < len(s); i++ {
		c := s[i]
		if inStr {
			b.WriteByte(c)
			if c == '\\' && i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			} else if c == '"' {
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '[':
			open = b.Len()
		case ']':
			if open >= 0 && i+1 < len(s) && s[i+1] == '.' {
				// ].sub op value
				j := i + 2
				for j < len(s) && isAttrChar(s[j]) {
					j++
				}
				sub := s[i+2 : j]
				if sub == "" {
					return "", fmt.Errorf("missing sub-attribute after ']'")
				}
				k := j
				for k < len(s) && s[k] == ' ' {
					k++
				}
				opStart := k
				for k < len(s) && isAttrChar(s[k]) {
					k++
				}
				op := strings.ToLower(s[opStart:k])
				tail := sub + " " + op
				if op != "pr" {
					for k < len(s) && s[k] == ' ' {
						k++
					}
					vStart := k
					if k < len(s) && s[k] == '"' {
						k++
						for k < len(s) && s[k] != '"' {
							if s[k] == '\\' {
								k++
							}
							k++
						}
						if k >= len(s) {
							return "", fmt.Errorf("unterminated string")
						}
						k++
					} else {
						for k < len(s) && s[k] != ' ' && s[k] != ')' {
							k++
						}
					}
					if vStart == k {
						return "", fmt.Errorf("missing comparison value after %s", op)
					}
					tail += " " + s[vStart:k]
				}
				cur := b.String()
				inner := cur[open+1:]
				attrStart := open
				for attrStart > 0 && (isAttrChar(cur[attrStart-1]) || cur[attrStart-1] == ':' || cur[attrStart-1] == '.') {
					attrStart--
				}
				attr := cur[attrStart:open]
				b.Reset()
				b.WriteString(cur[:attrStart])
				// The parser takes no parentheses inside brackets: put the
				// new condition first, which is exact while the inner filter
				// has no "or". With an "or" inside, split into two value
				// paths (an element may then satisfy each half separately).
				if hasOr(inner) {
					b.WriteString("(" + attr + "[" + inner + "] and " + attr + "[" + tail + "])")
				} else {
					b.WriteString(attr + "[" + tail + " and " + inner + "]")
				}
				open = -1
				i = k - 1
				continue
			}
			open = -1
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}

// hasOr reports whether a filter has an "or" outside string literals.
func hasOr(f string) bool {
	inStr := false
	for i := 0; i < len(f); i++ {
		switch c := f[i]; {
		case inStr && c == '\\':
			i++
		case c == '"':
			inStr = !inStr
		case !inStr && i+4 <= len(f) && strings.EqualFold(f[i:i+4], " or "):
			return true
		}
	}
	return false
}

func isAttrChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '$'
}

// attrType returns the SCIM type of a resolved path and whether its
// strings compare case-exactly.
func attrType(p mapping.Path) (typ string, caseExact bool) {
	switch {
	case p.Def == nil && p.Attr == "meta":
		if p.Sub == "created" || p.Sub == "lastModified" {
			return "dateTime", false
		}
		return "string", true
	case p.Def == nil: // id, externalId
		return "string", true
	case p.SubDef != nil:
		return p.SubDef.Type, p.SubDef.CaseExact
	case p.Def.Type == "complex":
		if v := p.Def.Sub("value"); v != nil {
			return v.Type, v.CaseExact
		}
		return "complex", false
	}
	return p.Def.Type, p.Def.CaseExact
}

// checkExpr validates expr; parent is the multi-valued attribute whose
// elements a value-path filter ranges over.
func checkExpr(k mapping.Kind, expr filter.Expression, parent *mapping.Path) error {
	switch e := expr.(type) {
	case *filter.LogicalExpression:
		if err := checkExpr(k, e.Left, parent); err != nil {
			return err
		}
		return checkExpr(k, e.Right, parent)
	case *filter.NotExpression:
		return checkExpr(k, e.Expression, parent)
	case *filter.ValuePath:
		if parent != nil {
			return fmt.Errorf("value paths cannot nest")
		}
		p, ok := resolveFilterPath(k, e.AttributePath, nil)
		if !ok || p.Def == nil || !p.Def.MultiValued {
			return fmt.Errorf("%s is not a multi-valued attribute", e.AttributePath.String())
		}
		return checkExpr(k, e.ValueFilter, &p)
	case *filter.AttributeExpression:
		p, ok := resolveFilterPath(k, e.AttributePath, parent)
		if !ok {
			return fmt.Errorf("unknown attribute %s", e.AttributePath.String())
		}
		typ, _ := attrType(p)
		op := strings.ToLower(string(e.Operator))
		if op == "pr" {
			return nil
		}
		v := e.CompareValue
		switch typ {
		case "boolean":
			if op != "eq" && op != "ne" {
				return fmt.Errorf("%s is a boolean: only eq, ne and pr apply", p)
			}
			if _, ok := v.(bool); !ok {
				return fmt.Errorf("%s is a boolean: compare it with true or false", p)
			}
		case "dateTime":
			s, ok := v.(string)
			if !ok {
				return fmt.Errorf("%s is a dateTime: compare it with a quoted RFC 3339 time", p)
			}
			if _, err := time.Parse(time.RFC3339, s); err != nil {
				return fmt.Errorf("%s is a dateTime: %q is not an RFC 3339 time", p, s)
			}
		case "complex":
			return fmt.Errorf("%s is complex: filter on one of its sub-attributes", p)
		default:
			if _, ok := v.(string); !ok && v != nil {
				return fmt.Errorf("%s is a string: quote the comparison value", p)
			}
		}
		return nil
	}
	return fmt.Errorf("unsupported expression")
}

// resolveFilterPath resolves a filter attribute path; inside a value path
// (parent set) names are sub-attributes of the parent.
func resolveFilterPath(k mapping.Kind, ap filter.AttributePath, parent *mapping.Path) (mapping.Path, bool) {
	if parent != nil {
		if ap.URIPrefix != nil || ap.SubAttribute != nil {
			return mapping.Path{}, false
		}
		sd := parent.Def.Sub(ap.AttributeName)
		if sd == nil {
			return mapping.Path{}, false
		}
		p := *parent
		p.Sub, p.SubDef = sd.Name, sd
		return p, true
	}
	uri := ""
	if ap.URIPrefix != nil {
		uri = *ap.URIPrefix
	}
	return mapping.ResolveAttr(k, uri, ap.AttributeName, ap.SubAttributeName())
}

// unquote undoes JSON string escapes the filter parser leaves in values.
func unquote(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var out string
	if err := json.Unmarshal([]byte(`"`+s+`"`), &out); err != nil {
		return s
	}
	return out
}

// evaluator evaluates checked filters against SCIM representations.
type evaluator struct{ kind mapping.Kind }

func (ev evaluator) match(expr filter.Expression, res map[string]any) bool {
	if expr == nil {
		return true
	}
	return ev.eval(expr, res, nil, nil)
}

func (ev evaluator) eval(expr filter.Expression, res map[string]any, parent *mapping.Path, elem map[string]any) bool {
	switch e := expr.(type) {
	case *filter.LogicalExpression:
		if strings.EqualFold(string(e.Operator), "and") {
			return ev.eval(e.Left, res, parent, elem) && ev.eval(e.Right, res, parent, elem)
		}
		return ev.eval(e.Left, res, parent, elem) || ev.eval(e.Right, res, parent, elem)
	case *filter.NotExpression:
		return !ev.eval(e.Expression, res, parent, elem)
	case *filter.ValuePath:
		p, _ := resolveFilterPath(ev.kind, e.AttributePath, nil)
		for _, el := range elements(container(res, p)[p.Attr]) {
			if ev.eval(e.ValueFilter, res, &p, el) {
				return true
			}
		}
		return false
	case *filter.AttributeExpression:
		p, _ := resolveFilterPath(ev.kind, e.AttributePath, parent)
		var vals []any
		if parent != nil {
			vals = flatten(elem[p.Sub])
		} else {
			vals = valuesAt(res, p)
		}
		return compare(p, strings.ToLower(string(e.Operator)), e.CompareValue, vals)
	}
	return false
}

// container returns the object holding p's attribute: the resource or its
// extension object.
func container(res map[string]any, p mapping.Path) map[string]any {
	if p.Schema == "" {
		return res
	}
	ext, _ := res[p.Schema].(map[string]any)
	return ext
}

func elements(v any) []map[string]any {
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

// valuesAt returns the simple values a path designates: for a
// multi-valued complex attribute without sub-attribute, its "value"s.
func valuesAt(res map[string]any, p mapping.Path) []any {
	c := container(res, p)
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
	for _, el := range elements(v) {
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
	typ, caseExact := attrType(p)
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
	ws = unquote(ws)
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

// lookup is one direct index lookup that yields a superset of a filter's
// matches.
type lookup struct {
	attr  directory.Attr
	value string
}

// planLookups returns lookups whose union contains every resource expr
// can match, or ok=false when only a scan can answer expr.
func planLookups(k mapping.Kind, expr filter.Expression) ([]lookup, bool) {
	switch e := expr.(type) {
	case *filter.LogicalExpression:
		l, lok := planLookups(k, e.Left)
		r, rok := planLookups(k, e.Right)
		if strings.EqualFold(string(e.Operator), "and") {
			switch {
			case lok:
				return l, true
			case rok:
				return r, true
			}
			return nil, false
		}
		if lok && rok {
			return append(l, r...), true
		}
		return nil, false
	case *filter.ValuePath:
		p, _ := resolveFilterPath(k, e.AttributePath, nil)
		if k == mapping.User && p.Schema == "" && p.Attr == "emails" {
			return planEmailFilter(e.ValueFilter)
		}
		return nil, false
	case *filter.AttributeExpression:
		if !strings.EqualFold(string(e.Operator), "eq") {
			return nil, false
		}
		v, ok := e.CompareValue.(string)
		if !ok {
			return nil, false
		}
		v = unquote(v)
		p, _ := resolveFilterPath(k, e.AttributePath, nil)
		if p.Schema != "" {
			return nil, false
		}
		switch {
		case p.Attr == "id" && p.Sub == "":
			return []lookup{{directory.AttrID, v}}, true
		case p.Attr == "externalId":
			return []lookup{{directory.AttrExternalID, v}}, true
		case k == mapping.User && p.Attr == "userName":
			return []lookup{{directory.AttrUserName, v}}, true
		case k == mapping.User && p.Attr == "emails" && (p.Sub == "" || p.Sub == "value"):
			return []lookup{{directory.AttrEmail, v}}, true
		case k == mapping.Group && p.Attr == "displayName":
			return []lookup{{directory.AttrDisplayName, v}}, true
		}
	}
	return nil, false
}

// planEmailFilter plans the inside of emails[...]: value eq "x", alone or
// in an and.
func planEmailFilter(expr filter.Expression) ([]lookup, bool) {
	switch e := expr.(type) {
	case *filter.LogicalExpression:
		l, lok := planEmailFilter(e.Left)
		r, rok := planEmailFilter(e.Right)
		if strings.EqualFold(string(e.Operator), "and") {
			if lok {
				return l, true
			}
			return r, rok
		}
		if lok && rok {
			return append(l, r...), true
		}
	case *filter.AttributeExpression:
		v, ok := e.CompareValue.(string)
		if ok && strings.EqualFold(string(e.Operator), "eq") && strings.EqualFold(e.AttributePath.AttributeName, "value") && e.AttributePath.SubAttribute == nil {
			return []lookup{{directory.AttrEmail, unquote(v)}}, true
		}
	}
	return nil, false
}
