// Package filter is RFC 7644 filtering over the bridge's canonical SCIM
// maps (as mapping.UserToSCIM and mapping.GroupToSCIM render them): it
// bounds, parses (github.com/scim2/filter-parser) and checks a filter
// against the schemas, evaluates it on resources and on the elements of a
// multi-valued attribute, and plans the direct index lookups whose union
// answers it. It knows nothing of HTTP; its errors are *mapping.Error with
// scimType invalidFilter (or invalidPath for PATCH paths), whose detail is
// safe to show to the IdP.
package filter

import (
	"fmt"
	"strings"

	scimfilter "github.com/scim2/filter-parser/v2"

	"github.com/scimbridge/scim-bridge/internal/mapping"
)

// Expr is a parsed and checked filter; nil matches everything.
type Expr = scimfilter.Expression

func invalid(format string, args ...any) error {
	return &mapping.Error{ScimType: "invalidFilter", Detail: fmt.Sprintf(format, args...)}
}

// Parse bounds, parses and checks a filter for resources of kind k. Every
// attribute must be defined by the schemas and every operator must make
// sense for its attribute's type, so evaluation cannot fail later. An
// empty filter is nil.
func Parse(k mapping.Kind, raw string) (Expr, error) {
	src := strings.TrimSpace(raw)
	if src == "" {
		return nil, nil
	}
	if err := checkBounds("filter", src); err != nil {
		return nil, err
	}
	shown := quoted(raw)
	expr, ok := parseComparison(src)
	if !ok {
		rewritten, err := rewriteValuePathSubAttr(src)
		if err != nil {
			return nil, invalid("filter %s: %v", shown, err)
		}
		if expr, err = scimfilter.ParseFilter([]byte(rewritten)); err != nil {
			return nil, invalid("filter %s is not a valid SCIM filter (RFC 7644 section 3.4.2.2), e.g. userName eq \"ada@example.com\"", shown)
		}
	}
	if err := Check(k, expr, nil); err != nil {
		return nil, invalid("filter %s: %v", shown, err)
	}
	return expr, nil
}

// ValuePath is a parsed PATCH path with a value filter, e.g.
// emails[type eq "work"].value: Attr the multi-valued attribute, Filter
// checked against its sub-attributes, Target the attribute the operation
// changes (Attr itself, or one sub-attribute of it).
type ValuePath struct {
	Attr   mapping.Path
	Filter Expr
	Target mapping.Path
}

func invalidPath(format string, args ...any) error {
	return &mapping.Error{ScimType: "invalidPath", Detail: fmt.Sprintf(format, args...)}
}

// ParseValuePath bounds, parses and checks a PATCH path holding a value
// filter on a multi-valued attribute of kind k.
func ParseValuePath(k mapping.Kind, raw string) (ValuePath, error) {
	var vp ValuePath
	if err := checkBounds("path", raw); err != nil {
		return vp, err
	}
	fp, err := scimfilter.ParsePath([]byte(raw))
	if err != nil || fp.ValueExpression == nil {
		return vp, invalidPath("path %s is not a valid SCIM path, e.g. emails[type eq \"work\"].value", quoted(raw))
	}
	uri := ""
	if fp.AttributePath.URIPrefix != nil {
		uri = *fp.AttributePath.URIPrefix
	}
	p, ok := mapping.ResolveAttr(k, uri, fp.AttributePath.AttributeName, fp.AttributePath.SubAttributeName())
	if !ok || p.Def == nil || !p.Def.MultiValued || p.Sub != "" {
		return vp, invalidPath("path %s: a value filter applies to a multi-valued attribute such as emails or members", quoted(raw))
	}
	if err := Check(k, fp.ValueExpression, &p); err != nil {
		return vp, invalid("path %s: %v", quoted(raw), err)
	}
	vp.Attr, vp.Filter, vp.Target = p, fp.ValueExpression, p
	if fp.SubAttribute != nil {
		sd := p.Def.Sub(*fp.SubAttribute)
		if sd == nil {
			return vp, invalidPath("path %s: %s has no sub-attribute %q", quoted(raw), p.Attr, *fp.SubAttribute)
		}
		vp.Target.Sub, vp.Target.SubDef = sd.Name, sd
	}
	return vp, nil
}

// quoted shows a filter in an error detail, cut to a readable length.
func quoted(s string) string {
	const show = 200
	if len(s) > show {
		return fmt.Sprintf("%q… (%d bytes)", s[:show], len(s))
	}
	return fmt.Sprintf("%q", s)
}
