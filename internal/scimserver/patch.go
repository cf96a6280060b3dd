package scimserver

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	filter "github.com/scim2/filter-parser/v2"

	"github.com/scimbridge/scim-bridge/internal/mapping"
)

// patchOp is one PATCH operation, op lower-cased.
type patchOp struct {
	op       string
	path     string
	value    any
	hasValue bool
}

// parsePatch reads a PatchOp body, accepting the keys and op names in any
// case (Entra sends "Replace").
func parsePatch(r *http.Request) ([]patchOp, error) {
	body, err := decodeObject(r)
	if err != nil {
		return nil, err
	}
	var rawOps any
	found := false
	for k, v := range body {
		if strings.EqualFold(k, "Operations") {
			rawOps, found = v, true
		}
	}
	if !found {
		return nil, badRequest(typeInvalidSyntax, "a PATCH body needs Operations: [{\"op\": \"replace\", \"path\": ..., \"value\": ...}]")
	}
	list, ok := rawOps.([]any)
	if !ok {
		return nil, badRequest(typeInvalidSyntax, "Operations must be a list of operations")
	}
	if len(list) == 0 {
		return nil, badRequest(typeInvalidValue, "Operations is empty: send at least one operation")
	}
	ops := make([]patchOp, 0, len(list))
	for i, e := range list {
		obj, ok := e.(map[string]any)
		if !ok {
			return nil, badRequest(typeInvalidSyntax, "Operations[%d] must be an object with op, path and value", i)
		}
		var op patchOp
		for k, v := range obj {
			switch strings.ToLower(k) {
			case "op":
				s, ok := v.(string)
				if !ok {
					return nil, badRequest(typeInvalidSyntax, "Operations[%d].op must be add, remove or replace", i)
				}
				op.op = strings.ToLower(strings.TrimSpace(s))
			case "path":
				if v == nil {
					continue
				}
				s, ok := v.(string)
				if !ok {
					return nil, badRequest(typeInvalidPath, "Operations[%d].path must be a string", i)
				}
				op.path = strings.TrimSpace(s)
			case "value":
				op.value, op.hasValue = v, true
			}
		}
		switch op.op {
		case "add", "remove", "replace":
		default:
			return nil, badRequest(typeInvalidSyntax, "Operations[%d].op %q is not add, remove or replace", i, op.op)
		}
		if op.op != "remove" && !op.hasValue {
			return nil, badRequest(typeInvalidValue, "Operations[%d] (%s) needs a value", i, op.op)
		}
		ops = append(ops, op)
	}
	return ops, nil
}

func isEmpty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(t) == ""
	case []any:
		return len(t) == 0
	}
	return false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// userPatcher applies PATCH operations to a user's SCIM representation
// (canonical form, as mapping.UserToSCIM renders it).
type userPatcher struct {
	id string
}

func (up userPatcher) apply(m map[string]any, op patchOp) error {
	if op.path == "" {
		if op.op == "remove" {
			return badRequest(typeNoTarget, "remove needs a path naming what to remove")
		}
		return up.applyObject(m, op.op, "", op.value)
	}
	if strings.Contains(op.path, "[") {
		return up.applyFiltered(m, op)
	}
	p, ok := mapping.ResolvePath(mapping.User, op.path)
	if !ok {
		if strings.EqualFold(op.path, "schemas") {
			return nil
		}
		return badRequest(typeInvalidPath, "path %q names no attribute of the User schema or its extensions", op.path)
	}
	if p.Attr == "" {
		if op.op == "remove" {
			m[p.Schema] = map[string]any{}
			return nil
		}
		return up.applyObject(m, op.op, p.Schema, op.value)
	}
	return up.applyPath(m, op.op, p, op.value)
}

// applyObject applies an op without path (or with a schema URN as path):
// each key of value is a path of its own, dotted or URN-qualified keys
// included.
func (up userPatcher) applyObject(m map[string]any, op, schema string, value any) error {
	obj, ok := value.(map[string]any)
	if !ok {
		if value == nil {
			return nil
		}
		return badRequest(typeInvalidValue, "an operation without path needs an object value like {\"active\": false}")
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
			return badRequest(typeInvalidPath, "attribute %q in the value is not in the User schema or its extensions", key)
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
			return false, badRequest(typeMutability, "id is read-only")
		case "meta":
			return true, nil // read-only; IdPs echo it back, ignore
		case "groups":
			return false, badRequest(typeMutability, "groups is read-only: change membership with PATCH /Groups/{id}")
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

func (up userPatcher) applyPath(m map[string]any, op string, p mapping.Path, value any) error {
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
				return badRequest(typeInvalidValue, "%s must be an object, got %s", p, describe(value))
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
		els := elements(c[p.Attr])
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
func (up userPatcher) applyFiltered(m map[string]any, op patchOp) error {
	fp, err := filter.ParsePath([]byte(op.path))
	if err != nil {
		return badRequest(typeInvalidPath, "path %q is not a valid SCIM path, e.g. emails[type eq \"work\"].value", op.path)
	}
	uri := ""
	if fp.AttributePath.URIPrefix != nil {
		uri = *fp.AttributePath.URIPrefix
	}
	p, ok := mapping.ResolveAttr(mapping.User, uri, fp.AttributePath.AttributeName, fp.AttributePath.SubAttributeName())
	if !ok || p.Def == nil || !p.Def.MultiValued || p.Sub != "" {
		return badRequest(typeInvalidPath, "path %q: a value filter applies to a multi-valued attribute such as emails", op.path)
	}
	if err := checkExpr(mapping.User, fp.ValueExpression, &p); err != nil {
		return badRequest(typeInvalidFilter, "path %q: %v", op.path, err)
	}
	target := p
	if fp.SubAttribute != nil {
		sd := p.Def.Sub(*fp.SubAttribute)
		if sd == nil {
			return badRequest(typeInvalidPath, "path %q: %s has no sub-attribute %q", op.path, p.Attr, *fp.SubAttribute)
		}
		target.Sub, target.SubDef = sd.Name, sd
	}
	if skip, err := writable(target, up.id, op.value); skip || err != nil {
		return err
	}
	c := containerFor(m, p.Schema, true)
	ev := evaluator{kind: mapping.User}
	var kept []any
	var matched []map[string]any
	for _, el := range elements(c[p.Attr]) {
		if ev.eval(fp.ValueExpression, nil, &p, el) {
			matched = append(matched, el)
			if op.op == "remove" && target.Sub == "" {
				continue
			}
		}
		kept = append(kept, el)
	}
	switch {
	case op.op == "remove":
		for _, el := range matched {
			delete(el, target.Sub)
		}
		c[p.Attr] = kept
	case len(matched) == 0:
		// Entra replaces emails[type eq "work"].value on users that have
		// none: create the element the filter describes.
		if isEmpty(op.value) {
			return nil
		}
		el := eqFields(fp.ValueExpression)
		if el == nil {
			return badRequest(typeNoTarget, "path %q matches no value to %s", op.path, op.op)
		}
		if target.Sub != "" {
			el[target.Sub] = op.value
		} else if obj, ok := op.value.(map[string]any); ok {
			for k, v := range obj {
				el[k] = v
			}
		} else {
			return badRequest(typeInvalidValue, "path %q needs an object value", op.path)
		}
		c[p.Attr] = append(kept, el)
	default:
		for _, el := range matched {
			switch {
			case target.Sub != "" && isEmpty(op.value):
				delete(el, target.Sub)
			case target.Sub != "":
				el[target.Sub] = op.value
			default:
				obj, ok := op.value.(map[string]any)
				if !ok {
					return badRequest(typeInvalidValue, "path %q needs an object value", op.path)
				}
				if op.op == "replace" {
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
func eqFields(expr filter.Expression) map[string]any {
	switch e := expr.(type) {
	case *filter.AttributeExpression:
		if !strings.EqualFold(string(e.Operator), "eq") {
			return nil
		}
		v := e.CompareValue
		if s, ok := v.(string); ok {
			v = unquote(s)
		}
		return map[string]any{e.AttributePath.AttributeName: v}
	case *filter.LogicalExpression:
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

func describe(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("the string %q", t)
	case bool:
		return fmt.Sprintf("the boolean %v", t)
	case float64:
		return fmt.Sprintf("the number %v", t)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// groupChange is what a group PATCH asks for.
type groupChange struct {
	name       *string
	externalID *string
	add        []string
	remove     []string
	replace    []string // full member list when replaceSet
	replaceSet bool
	// removeFilters are member filters that need the current member list
	// to resolve (anything but value eq / or).
	removeFilters []filter.Expression
}

func (gc *groupChange) addIDs(ids []string) {
	if gc.replaceSet {
		gc.replace = unionIDs(gc.replace, ids)
		return
	}
	gc.add = unionIDs(gc.add, ids)
	gc.remove = minusIDs(gc.remove, ids)
}

func (gc *groupChange) removeIDs(ids []string) {
	if gc.replaceSet {
		gc.replace = minusIDs(gc.replace, ids)
		return
	}
	gc.remove = unionIDs(gc.remove, ids)
	gc.add = minusIDs(gc.add, ids)
}

func unionIDs(a, b []string) []string {
	seen := map[string]bool{}
	for _, x := range a {
		seen[x] = true
	}
	for _, x := range b {
		if !seen[x] {
			seen[x] = true
			a = append(a, x)
		}
	}
	return a
}

func minusIDs(a, b []string) []string {
	drop := map[string]bool{}
	for _, x := range b {
		drop[x] = true
	}
	var out []string
	for _, x := range a {
		if !drop[x] {
			out = append(out, x)
		}
	}
	return out
}

// parseGroupOps turns PATCH operations on a group into a groupChange.
func parseGroupOps(id string, ops []patchOp) (*groupChange, error) {
	gc := &groupChange{}
	for i, op := range ops {
		if err := gc.applyOp(id, i, op.op, op.path, op.value, op.hasValue); err != nil {
			return nil, err
		}
	}
	return gc, nil
}

func (gc *groupChange) applyOp(id string, i int, op, path string, value any, hasValue bool) error {
	if path == "" {
		if op == "remove" {
			return badRequest(typeNoTarget, "Operations[%d]: remove needs a path, e.g. members[value eq \"<id>\"]", i)
		}
		obj, ok := value.(map[string]any)
		if !ok {
			return badRequest(typeInvalidValue, "Operations[%d]: an operation without path needs an object value like {\"displayName\": \"x\"}", i)
		}
		for _, k := range sortedKeys(obj) {
			v := obj[k]
			p, ok := mapping.ResolvePath(mapping.Group, k)
			switch {
			case strings.EqualFold(k, "schemas") || ok && p.Attr == "meta":
				continue
			case ok && p.Attr == "id":
				if s, _ := v.(string); s != id {
					return badRequest(typeMutability, "Operations[%d]: id is read-only", i)
				}
				continue // Okta sends the group's own id with a rename
			case !ok:
				return badRequest(typeInvalidPath, "Operations[%d]: attribute %q is not in the Group schema", i, k)
			}
			if err := gc.applyOp(id, i, op, k, v, true); err != nil {
				return err
			}
		}
		return nil
	}
	if strings.Contains(path, "[") {
		return gc.applyMemberFilter(i, op, path)
	}
	p, ok := mapping.ResolvePath(mapping.Group, path)
	if !ok {
		return badRequest(typeInvalidPath, "Operations[%d]: path %q names no attribute of the Group schema", i, path)
	}
	switch {
	case p.Attr == "displayName":
		if op == "remove" {
			return badRequest(typeMutability, "Operations[%d]: displayName is required and cannot be removed", i)
		}
		s, ok := value.(string)
		if !ok || strings.TrimSpace(s) == "" {
			return badRequest(typeInvalidValue, "Operations[%d]: displayName must be a non-empty string", i)
		}
		s = strings.TrimSpace(s)
		gc.name = &s
	case p.Attr == "externalId":
		s := ""
		if op != "remove" && value != nil {
			var ok bool
			if s, ok = value.(string); !ok {
				return badRequest(typeInvalidValue, "Operations[%d]: externalId must be a string", i)
			}
		}
		gc.externalID = &s
	case p.Attr == "members" && p.Sub == "":
		switch op {
		case "replace":
			ids, err := mapping.MemberIDs(value)
			if err != nil {
				return err
			}
			gc.replace, gc.replaceSet = ids, true
			gc.add, gc.remove = nil, nil
		case "add":
			ids, err := mapping.MemberIDs(value)
			if err != nil {
				return err
			}
			gc.addIDs(ids)
		case "remove":
			// RFC 7644 would remove every member here; a remove without a
			// list is far more often a bug than an intent, so clearing a
			// team takes an explicit replace with an empty list.
			if !hasValue || value == nil {
				return badRequest(typeInvalidValue, "Operations[%d]: remove of members needs the members to remove as value [{\"value\": \"<id>\"}] or a path members[value eq \"<id>\"]; to remove everyone, replace members with []", i)
			}
			ids, err := mapping.MemberIDs(value)
			if err != nil {
				return err
			}
			gc.removeIDs(ids)
		}
	case p.Attr == "meta" || p.Attr == "schemas":
	case p.Attr == "id":
		return badRequest(typeMutability, "Operations[%d]: id is read-only", i)
	default:
		return badRequest(typeInvalidPath, "Operations[%d]: path %q cannot be patched; patch displayName, externalId or members", i, path)
	}
	return nil
}

func (gc *groupChange) applyMemberFilter(i int, op, path string) error {
	fp, err := filter.ParsePath([]byte(path))
	if err != nil {
		return badRequest(typeInvalidPath, "Operations[%d]: path %q is not a valid SCIM path, e.g. members[value eq \"<id>\"]", i, path)
	}
	if !strings.EqualFold(fp.AttributePath.AttributeName, "members") || fp.AttributePath.SubAttribute != nil || fp.SubAttribute != nil {
		return badRequest(typeInvalidPath, "Operations[%d]: only members[...] takes a value filter on groups", i)
	}
	members := mapping.GroupSchema.Attr("members")
	mp := mapping.Path{Attr: "members", Def: members}
	if err := checkExpr(mapping.Group, fp.ValueExpression, &mp); err != nil {
		return badRequest(typeInvalidFilter, "Operations[%d]: path %q: %v", i, path, err)
	}
	if op != "remove" {
		return badRequest(typeInvalidPath, "Operations[%d]: %s with members[...] is not supported; add members with path \"members\" and a value list", i, op)
	}
	if ids, ok := valueEqIDs(fp.ValueExpression); ok {
		gc.removeIDs(ids)
		return nil
	}
	gc.removeFilters = append(gc.removeFilters, fp.ValueExpression)
	return nil
}

// valueEqIDs extracts ids from value eq "a" [or value eq "b" ...].
func valueEqIDs(expr filter.Expression) ([]string, bool) {
	switch e := expr.(type) {
	case *filter.AttributeExpression:
		s, ok := e.CompareValue.(string)
		if ok && strings.EqualFold(string(e.Operator), "eq") && strings.EqualFold(e.AttributePath.AttributeName, "value") {
			return []string{unquote(s)}, true
		}
	case *filter.LogicalExpression:
		if strings.EqualFold(string(e.Operator), "or") {
			l, lok := valueEqIDs(e.Left)
			r, rok := valueEqIDs(e.Right)
			if lok && rok {
				return append(l, r...), true
			}
		}
	}
	return nil, false
}
