package filter

import (
	"fmt"
	"strings"
	"time"

	scimfilter "github.com/scim2/filter-parser/v2"

	"github.com/scimbridge/scim-bridge/internal/mapping"
)

// AttrType returns the SCIM type of a resolved path and whether its
// strings compare case-exactly.
func AttrType(p mapping.Path) (typ string, caseExact bool) {
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

// Check validates expr for kind k; parent is the multi-valued attribute whose
// elements a value-path filter ranges over.
func Check(k mapping.Kind, expr scimfilter.Expression, parent *mapping.Path) error {
	switch e := expr.(type) {
	case *scimfilter.LogicalExpression:
		if err := Check(k, e.Left, parent); err != nil {
			return err
		}
		return Check(k, e.Right, parent)
	case *scimfilter.NotExpression:
		return Check(k, e.Expression, parent)
	case *scimfilter.ValuePath:
		if parent != nil {
			return fmt.Errorf("value paths cannot nest")
		}
		p, ok := resolveFilterPath(k, e.AttributePath, nil)
		if !ok || p.Def == nil || !p.Def.MultiValued {
			return fmt.Errorf("%s is not a multi-valued attribute", e.AttributePath.String())
		}
		return Check(k, e.ValueFilter, &p)
	case *scimfilter.AttributeExpression:
		p, ok := resolveFilterPath(k, e.AttributePath, parent)
		if !ok {
			return fmt.Errorf("unknown attribute %s", e.AttributePath.String())
		}
		typ, _ := AttrType(p)
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
func resolveFilterPath(k mapping.Kind, ap scimfilter.AttributePath, parent *mapping.Path) (mapping.Path, bool) {
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
