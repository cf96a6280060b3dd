package patch

import (
	"errors"
	"fmt"
	"strings"

	scimfilter "github.com/scim2/filter-parser/v2"

	"github.com/scimbridge/scim-bridge/internal/mapping"
	"github.com/scimbridge/scim-bridge/internal/scim/filter"
)

// GroupChange is what a group PATCH asks for: a new name or externalId,
// and either member deltas (Add, Remove) or a full member list (Replace,
// when ReplaceSet). Removing members without a value (RFC 7644 3.5.2.2:
// remove them all) is ReplaceSet with an empty list.
type GroupChange struct {
	Name       *string
	ExternalID *string
	Add        []string
	Remove     []string
	Replace    []string // full member list when ReplaceSet
	ReplaceSet bool
	// RemoveFilters are member filters that need the current member list
	// to resolve (anything but value eq / or): see ResolveFilters.
	RemoveFilters []filter.Expr
	// Ignored are paths and value keys naming no Group attribute: skipped.
	Ignored []string
	members int // member values named so far, bounded by MaxMembers
}

// ResolveFilters removes the current members (elements of the canonical
// members attribute) that RemoveFilters match, and clears them.
func (gc *GroupChange) ResolveFilters(members []map[string]any) {
	mp := mapping.Path{Attr: "members", Def: mapping.GroupSchema.Attr("members")}
	for _, el := range members {
		for _, f := range gc.RemoveFilters {
			if filter.MatchElement(mapping.Group, f, mp, el) {
				v, _ := el["value"].(string)
				gc.removeIDs([]string{v})
			}
		}
	}
	gc.RemoveFilters = nil
}

// count adds n member values named by operation i to the request's total.
func (gc *GroupChange) count(i, n int) error {
	gc.members += n
	if gc.members > MaxMembers {
		return tooMany("Operations[%d]: this PATCH names more than %d members; the bridge accepts at most %d member values per PATCH: send the rest in further requests", i, MaxMembers, MaxMembers)
	}
	return nil
}

func (gc *GroupChange) addIDs(ids []string) {
	if gc.ReplaceSet {
		gc.Replace = UnionIDs(gc.Replace, ids)
		return
	}
	gc.Add = UnionIDs(gc.Add, ids)
	gc.Remove = MinusIDs(gc.Remove, ids)
}

func (gc *GroupChange) removeIDs(ids []string) {
	if gc.ReplaceSet {
		gc.Replace = MinusIDs(gc.Replace, ids)
		return
	}
	gc.Remove = UnionIDs(gc.Remove, ids)
	gc.Add = MinusIDs(gc.Add, ids)
}

// UnionIDs returns a followed by the ids of b not in a.
func UnionIDs(a, b []string) []string {
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

// MinusIDs returns the ids of a not in b.
func MinusIDs(a, b []string) []string {
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

// Group turns PATCH operations on group id into one GroupChange.
func Group(id string, ops []Op) (*GroupChange, error) {
	gc := &GroupChange{}
	for i, op := range ops {
		if err := gc.applyOp(id, i, op.Op, op.Path, op.Value, op.HasValue); err != nil {
			return nil, err
		}
	}
	return gc, nil
}

func (gc *GroupChange) applyOp(id string, i int, op, path string, value any, hasValue bool) error {
	if path == "" {
		if op == "remove" {
			return noTarget("Operations[%d]: remove needs a path, e.g. members[value eq \"<id>\"]", i)
		}
		obj, ok := value.(map[string]any)
		if !ok {
			return invalidValue("Operations[%d]: an operation without path needs an object value like {\"displayName\": \"x\"}", i)
		}
		for _, k := range sortedKeys(obj) {
			v := obj[k]
			p, ok := mapping.ResolvePath(mapping.Group, k)
			switch {
			case strings.EqualFold(k, "schemas") || ok && p.Attr == "meta":
				continue
			case ok && p.Attr == "id":
				if s, _ := v.(string); s != id {
					return mutability("Operations[%d]: id is read-only", i)
				}
				continue // Okta sends the group's own id with a rename
			case !ok:
				gc.Ignored = append(gc.Ignored, k)
				continue
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
		gc.Ignored = append(gc.Ignored, path)
		return nil
	}
	switch {
	case p.Attr == "displayName":
		if op == "remove" {
			return mutability("Operations[%d]: displayName is required and cannot be removed", i)
		}
		s, ok := value.(string)
		if !ok || strings.TrimSpace(s) == "" {
			return invalidValue("Operations[%d]: displayName must be a non-empty string", i)
		}
		s = strings.TrimSpace(s)
		gc.Name = &s
	case p.Attr == "externalId":
		s := ""
		if op != "remove" && value != nil {
			var ok bool
			if s, ok = value.(string); !ok {
				return invalidValue("Operations[%d]: externalId must be a string", i)
			}
		}
		gc.ExternalID = &s
	case p.Attr == "members" && p.Sub == "":
		switch op {
		case "replace":
			ids, err := gc.memberIDs(i, value)
			if err != nil {
				return err
			}
			gc.Replace, gc.ReplaceSet = ids, true
			gc.Add, gc.Remove = nil, nil
		case "add":
			ids, err := gc.memberIDs(i, value)
			if err != nil {
				return err
			}
			gc.addIDs(ids)
		case "remove":
			if !hasValue || value == nil {
				// RFC 7644 3.5.2.2: without a value, every member goes.
				gc.Replace, gc.ReplaceSet = []string{}, true
				gc.Add, gc.Remove = nil, nil
				return nil
			}
			ids, err := gc.memberIDs(i, value)
			if err != nil {
				return err
			}
			gc.removeIDs(ids)
		}
	case p.Attr == "meta" || p.Attr == "schemas":
	case p.Attr == "id":
		return mutability("Operations[%d]: id is read-only", i)
	default:
		return invalidPath("Operations[%d]: path %q cannot be patched; patch displayName, externalId or members", i, path)
	}
	return nil
}

func (gc *GroupChange) applyMemberFilter(i int, op, path string) error {
	vp, err := filter.ParseValuePath(mapping.Group, path)
	if err != nil {
		return prefixed(i, err)
	}
	if vp.Attr.Attr != "members" || vp.Target.Sub != "" {
		return invalidPath("Operations[%d]: only members[...] takes a value filter on groups", i)
	}
	if op != "remove" {
		return invalidPath("Operations[%d]: %s with members[...] is not supported; add members with path \"members\" and a value list", i, op)
	}
	if ids, ok := valueEqIDs(vp.Filter); ok {
		if err := gc.count(i, len(ids)); err != nil {
			return err
		}
		gc.removeIDs(ids)
		return nil
	}
	gc.RemoveFilters = append(gc.RemoveFilters, vp.Filter)
	return nil
}

// valueEqIDs extracts ids from value eq "a" [or value eq "b" ...].
func valueEqIDs(expr filter.Expr) ([]string, bool) {
	switch e := expr.(type) {
	case *scimfilter.AttributeExpression:
		s, ok := e.CompareValue.(string)
		if ok && strings.EqualFold(string(e.Operator), "eq") && strings.EqualFold(e.AttributePath.AttributeName, "value") {
			return []string{filter.Unquote(s)}, true
		}
	case *scimfilter.LogicalExpression:
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

// memberIDs reads a members value of operation i, counting it against
// MaxMembers.
func (gc *GroupChange) memberIDs(i int, value any) ([]string, error) {
	if l, ok := value.([]any); ok {
		if err := gc.count(i, len(l)); err != nil {
			return nil, err
		}
	}
	return mapping.MemberIDs(value)
}

// prefixed puts "Operations[i]: " before a mapping error's detail.
func prefixed(i int, err error) error {
	var me *mapping.Error
	if errors.As(err, &me) {
		return &mapping.Error{ScimType: me.ScimType, Detail: fmt.Sprintf("Operations[%d]: %s", i, me.Detail)}
	}
	return err
}
