package patch

import (
	"strings"

	scimfilter "github.com/scim2/filter-parser/v2"

	"github.com/scimbridge/scim-bridge/internal/mapping"
	"github.com/scimbridge/scim-bridge/internal/scim/filter"
)

// User applies ops in order to m, the canonical SCIM representation of
// user id (as mapping.UserToSCIM renders it, without the account type's
// extension spelling: see aliasOf). What the result means is decided by
// mapping.Normalize and mapping.UserFromSCIM afterwards. Paths and value
// keys naming no attribute of the User schemas are skipped and returned in
// ignored (as mapping.Normalize does for POST and PUT).
func User(m map[string]any, id string, ops []Op) (ignored []string, err error) {
	up := &userPatcher{id: id}
	for _, op := range ops {
		if err := up.apply(m, op); err != nil {
			return up.ignored, err
		}
	}
	return up.ignored, nil
}

// userPatcher applies PATCH operations to a user's SCIM representation.
type userPatcher struct {
	id      string
	ignored []string
}

func (up *userPatcher) apply(m map[string]any, op Op) error {
	if op.Path == "" {
		if op.Op == "remove" {
			return noTarget("remove needs a path naming what to remove")
		}
		return up.applyObject(m, op.Op, "", op.Value)
	}
	if strings.Contains(op.Path, "[") {
		return up.applyFiltered(m, op)
	}
	p, ok := mapping.ResolvePath(mapping.User, op.Path)
	if !ok {
		if strings.EqualFold(op.Path, "schemas") {
			return nil
		}
		up.ignored = append(up.ignored, op.Path)
		return nil
	}
	if p.Attr == "" {
		if op.Op == "remove" {
			m[p.Schema] = map[string]any{}
			return nil
		}
		return up.applyObject(m, op.Op, p.Schema, op.Value)
	}
	return up.applyPath(m, op.Op, p, op.Value)
}

// applyObject applies an op without path (or with a schema URN as path):
// each key of value is a path of its own, dotted or URN-qualified keys
// included.
func (up *userPatcher) applyObject(m map[string]any, op, schema string, value any) error {
	obj, ok := value.(map[string]any)
	if !ok {
		if value == nil {
			return nil
		}
		return invalidValue("an operation without path needs an object value like {\"active\": false}")
	}
	for _, key := range sortedKeys(obj) {
		v := obj[key]
		if strings.EqualFold(key, "schemas") {
			continue
		}
		full := key
		if schema != "" {
			full = schema + ":" + key
		}
		p, ok := mapping.ResolvePath(mapping.User, full)
		if !ok {
			up.ignored = append(up.ignored, full)
			continue
		}
		if p.Attr == "" {
			if err := up.applyObject(m, op, p.Schema, v); err != nil {
				return err
			}
			continue
		}
		if err := up.applyPath(m, op, p, v); err != nil {
			return err
		}
	}
	return nil
}

func writable(p mapping.Path, id string, value any) (skip bool, err error) {
	if p.Schema == "" {
		switch p.Attr {
		case "schemas":
			return true, nil
		case "id":
			if s, _ := value.(string); s == id {
				return true, nil
			}
			return false, mutability("id is read-only")
		case "meta":
			return true, nil // read-only; IdPs echo it back, ignore
		case "groups":
			return false, mutability("groups is read-only: change membership with PATCH /Groups/{id}")
		}
	}
	if p.Def != nil && (!p.Def.Stored || p.SubDef != nil && !p.SubDef.Stored) {
		// Accepted and dropped: attributes Sigma has no place for (title,
		// phoneNumbers, the enterprise extension incl. Entra's bare manager id).
		return true, nil
	}
	return false, nil
}

// aliasOf returns the other spelling of the account type, if p is one.
func aliasOf(p mapping.Path) (schema, attr string, ok bool) {
	switch {
	case p.Schema == "" && p.Attr == "userType":
		return mapping.SchemaSigmaUser, "accountType", true
	case p.Schema == mapping.SchemaSigmaUser && p.Attr == "accountType":
		return "", "userType", true
	}
	return "", "", false
}

func containerFor(m map[string]any, schema string, create bool) map[string]any {
	if schema == "" {
		return m
	}
	ext, _ := m[schema].(map[string]any)
	if ext == nil && create {
		ext = map[string]any{}
		m[schema] = ext
	}
	return ext
}

func (up *userPatcher) applyPath(m map[string]any, op string, p mapping.Path, value any) error {
	if skip, err := writable(p, up.id, value); skip || err != nil {
		return err
	}
	if schema, attr, ok := aliasOf(p); ok {
		// The two spellings of the account type are one attribute: setting
		// one must not leave the other disagreeing.
		if c := containerFor(m, schema, false); c != nil {
			delete(c, attr)
		}
	}
	c := containerFor(m, p.Schema, true)
	if p.Sub == "" {
		switch {
		case op == "remove" || (op == "replace" && isEmpty(value)):
			delete(c, p.Attr)
		case isEmpty(value):
			// add with nothing: nothing to do
		case p.Def != nil && p.Def.MultiValued:
			list := toList(value)
			if op == "replace" {
				c[p.Attr] = list
				return nil
			}
			c[p.Attr] = mergeMulti(elementsAny(c[p.Attr]), list)
		case p.Def != nil && p.Def.Type == "complex":
			obj, ok := value.(map[string]any)
			if !ok {
				return invalidValue("%s must be an object, got %s", p, mapping.Describe(value))
			}
			cur, _ := c[p.Attr].(map[string]any)
			if cur == nil {
				cur = map[string]any{}
			}
			for k, v := range obj {
				cur[k] = v // sub-attribute names are canonicalised by Normalize later
			}
			c[p.Attr] = cur
		default:
			c[p.Attr] = value
		}
		return nil
	}
	if p.Def != nil && p.Def.MultiValued {
		els := filter.Elements(c[p.Attr])
		if op == "remove" {
			for _, el := range els {
				delete(el, p.Sub)
			}
			return nil
		}
		if len(els) == 0 {
			c[p.Attr] = []any{map[string]any{p.Sub: value, "primary": true}}
			return nil
		}
		target := els[0]
		for _, el := range els {
			if b, _ := el["primary"].(bool); b {
				target = el
			}
		}
		target[p.Sub] = value
		return nil
	}
	obj, _ := c[p.Attr].(map[string]any)
	if obj == nil {
		obj = map[string]any{}
		c[p.Attr] = obj
	}
	if op == "remove" || isEmpty(value) {
		delete(obj, p.Sub)
	} else {
		obj[p.Sub] = value
	}
	return nil
}

// applyFiltered applies an op whose path has a value filter, e.g.
// emails[type eq "work"].value.
func (up *userPatcher) applyFiltered(m map[string]any, op Op) error {
	vp, err := filter.ParseValuePath(mapping.User, op.Path)
	if err != nil {
		return err
	}
	p, target := vp.Attr, vp.Target
	if skip, err := writable(target, up.id, op.Value); skip || err != nil {
		return err
	}
	c := containerFor(m, p.Schema, true)
	var kept []any
	var matched []map[string]any
	for _, el := range filter.Elements(c[p.Attr]) {
		if filter.MatchElement(mapping.User, vp.Filter, p, el) {
			matched = append(matched, el)
			if op.Op == "remove" && target.Sub == "" {
				continue
			}
		}
		kept = append(kept, el)
	}
	switch {
	case op.Op == "remove":
		for _, el := range matched {
			delete(el, target.Sub)
		}
		c[p.Attr] = kept
	case len(matched) == 0 && op.Op == "replace":
		// RFC 7644 3.5.2.3: a value filter that selects nothing is no
		// target to replace.
		return noTarget("path %q matches no value to replace; add it with op add", op.Path)
	case len(matched) == 0:
		// add with a value filter that matches nothing: create the element
		// the filter describes (emails[type eq "work"].value).
		if isEmpty(op.Value) {
			return nil
		}
		el := eqFields(vp.Filter)
		if el == nil {
			return noTarget("path %q matches no value to %s", op.Path, op.Op)
		}
		if target.Sub != "" {
			el[target.Sub] = op.Value
		} else if obj, ok := op.Value.(map[string]any); ok {
			for k, v := range obj {
				el[k] = v
			}
		} else {
			return invalidValue("path %q needs an object value", op.Path)
		}
		c[p.Attr] = append(kept, el)
	default:
		for _, el := range matched {
			switch {
			case target.Sub != "" && isEmpty(op.Value):
				delete(el, target.Sub)
			case target.Sub != "":
				el[target.Sub] = op.Value
			default:
				obj, ok := op.Value.(map[string]any)
				if !ok {
					return invalidValue("path %q needs an object value", op.Path)
				}
				if op.Op == "replace" {
					for k := range el {
						delete(el, k)
					}
				}
				for k, v := range obj {
					el[k] = v
				}
			}
		}
		c[p.Attr] = kept
	}
	return nil
}

// eqFields returns the sub-attribute values an and-of-eq filter pins
// (type eq "work" → {"type": "work"}), or nil if the filter is not one.
func eqFields(expr filter.Expr) map[string]any {
	switch e := expr.(type) {
	case *scimfilter.AttributeExpression:
		if !strings.EqualFold(string(e.Operator), "eq") {
			return nil
		}
		v := e.CompareValue
		if s, ok := v.(string); ok {
			v = filter.Unquote(s)
		}
		return map[string]any{e.AttributePath.AttributeName: v}
	case *scimfilter.LogicalExpression:
		if !strings.EqualFold(string(e.Operator), "and") {
			return nil
		}
		l, r := eqFields(e.Left), eqFields(e.Right)
		if l == nil || r == nil {
			return nil
		}
		for k, v := range r {
			l[k] = v
		}
		return l
	}
	return nil
}

func toList(v any) []any {
	switch t := v.(type) {
	case []any:
		return t
	case nil:
		return nil
	}
	return []any{v}
}

func elementsAny(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

// mergeMulti adds values to a multi-valued attribute; an element whose
// value equals an existing one (case-insensitively) updates it instead of
// duplicating it, and a new primary clears the others' primary flag.
func mergeMulti(cur, add []any) []any {
	out := append([]any(nil), cur...)
	for _, a := range add {
		am, ok := a.(map[string]any)
		if !ok {
			out = append(out, a)
			continue
		}
		if b, _ := mapping.ParseBool(am["primary"]); b {
			for _, e := range out {
				if em, ok := e.(map[string]any); ok {
					delete(em, "primary")
				}
			}
		}
		merged := false
		av, _ := am["value"].(string)
		for _, e := range out {
			em, ok := e.(map[string]any)
			if !ok {
				continue
			}
			if ev, _ := em["value"].(string); av != "" && strings.EqualFold(ev, av) {
				for k, v := range am {
					em[k] = v
				}
				merged = true
				break
			}
		}
		if !merged {
			out = append(out, am)
		}
	}
	return out
}
