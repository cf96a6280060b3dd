// Package patch is RFC 7644 PATCH over the bridge's canonical SCIM maps:
// reading a PatchOp body in the forms IdPs send (any key case, "Replace",
// string booleans, dotted and URN keys without path), applying operations
// to a user's representation, and turning a group's operations into one
// membership change (deltas, never read-modify-write). It knows nothing of
// HTTP; its errors are *mapping.Error (400 with a scimType at the edge).
package patch

import (
	"fmt"
	"sort"
	"strings"

	"github.com/scimbridge/scim-bridge/internal/mapping"
)

// Bounds on one PATCH request, checked before anything is applied. With
// at most one Sigma call per member changed, MaxMembers also bounds the
// Sigma calls a group PATCH can cause.
const (
	// MaxOperations is the most operations in one PatchOp body.
	MaxOperations = 100
	// MaxMembers is the most member values (added, removed or replacing)
	// summed over the operations of one PATCH.
	MaxMembers = 1000
)

// Op is one PATCH operation; Op is "add", "remove" or "replace".
type Op struct {
	Op       string
	Path     string
	Value    any
	HasValue bool
}

func errorOf(scimType, format string, args ...any) error {
	return &mapping.Error{ScimType: scimType, Detail: fmt.Sprintf(format, args...)}
}

func invalidValue(format string, args ...any) error {
	return errorOf("invalidValue", format, args...)
}
func invalidSyntax(format string, args ...any) error {
	return errorOf("invalidSyntax", format, args...)
}
func invalidPath(format string, args ...any) error { return errorOf("invalidPath", format, args...) }
func noTarget(format string, args ...any) error    { return errorOf("noTarget", format, args...) }
func mutability(format string, args ...any) error  { return errorOf("mutability", format, args...) }
func tooMany(format string, args ...any) error     { return errorOf("tooMany", format, args...) }

// Parse reads a PatchOp body (decoded JSON), accepting the keys and op
// names in any case (Entra sends "Replace").
func Parse(body map[string]any) ([]Op, error) {
	var rawOps any
	found := false
	for k, v := range body {
		if strings.EqualFold(k, "Operations") {
			rawOps, found = v, true
		}
	}
	if !found {
		return nil, invalidSyntax("a PATCH body needs Operations: [{\"op\": \"replace\", \"path\": ..., \"value\": ...}]")
	}
	list, ok := rawOps.([]any)
	if !ok {
		return nil, invalidSyntax("Operations must be a list of operations")
	}
	if len(list) == 0 {
		return nil, invalidValue("Operations is empty: send at least one operation")
	}
	if len(list) > MaxOperations {
		return nil, tooMany("Operations has %d operations; the bridge accepts at most %d per PATCH: send several requests", len(list), MaxOperations)
	}
	ops := make([]Op, 0, len(list))
	for i, e := range list {
		obj, ok := e.(map[string]any)
		if !ok {
			return nil, invalidSyntax("Operations[%d] must be an object with op, path and value", i)
		}
		var op Op
		for k, v := range obj {
			switch strings.ToLower(k) {
			case "op":
				s, ok := v.(string)
				if !ok {
					return nil, invalidSyntax("Operations[%d].op must be add, remove or replace", i)
				}
				op.Op = strings.ToLower(strings.TrimSpace(s))
			case "path":
				if v == nil {
					continue
				}
				s, ok := v.(string)
				if !ok {
					return nil, invalidPath("Operations[%d].path must be a string", i)
				}
				op.Path = strings.TrimSpace(s)
			case "value":
				op.Value, op.HasValue = v, true
			}
		}
		switch op.Op {
		case "add", "remove", "replace":
		default:
			return nil, invalidSyntax("Operations[%d].op %q is not add, remove or replace", i, op.Op)
		}
		if op.Op != "remove" && !op.HasValue {
			return nil, invalidValue("Operations[%d] (%s) needs a value", i, op.Op)
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
