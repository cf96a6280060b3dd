package filter

import (
	"strings"

	scimfilter "github.com/scim2/filter-parser/v2"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/mapping"
)

// Lookup is one direct index lookup that yields a superset of a filter's
// matches.
type Lookup struct {
	Attr  directory.Attr
	Value string
}

// Plan returns lookups whose union contains every resource expr
// can match, or ok=false when only a scan can answer expr.
func Plan(k mapping.Kind, expr scimfilter.Expression) ([]Lookup, bool) {
	switch e := expr.(type) {
	case *scimfilter.LogicalExpression:
		l, lok := Plan(k, e.Left)
		r, rok := Plan(k, e.Right)
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
	case *scimfilter.ValuePath:
		p, _ := resolveFilterPath(k, e.AttributePath, nil)
		if k == mapping.User && p.Schema == "" && p.Attr == "emails" {
			return planEmail(e.ValueFilter)
		}
		return nil, false
	case *scimfilter.AttributeExpression:
		if !strings.EqualFold(string(e.Operator), "eq") {
			return nil, false
		}
		v, ok := e.CompareValue.(string)
		if !ok {
			return nil, false
		}
		v = Unquote(v)
		p, _ := resolveFilterPath(k, e.AttributePath, nil)
		if p.Schema != "" {
			return nil, false
		}
		switch {
		case p.Attr == "id" && p.Sub == "":
			return []Lookup{{directory.AttrID, v}}, true
		case p.Attr == "externalId":
			return []Lookup{{directory.AttrExternalID, v}}, true
		case k == mapping.User && p.Attr == "userName":
			return []Lookup{{directory.AttrUserName, v}}, true
		case k == mapping.User && p.Attr == "emails" && (p.Sub == "" || p.Sub == "value"):
			return []Lookup{{directory.AttrEmail, v}}, true
		case k == mapping.Group && p.Attr == "displayName":
			return []Lookup{{directory.AttrDisplayName, v}}, true
		}
	}
	return nil, false
}

// planEmail plans the inside of emails[...]: value eq "x", alone or
// in an and.
func planEmail(expr scimfilter.Expression) ([]Lookup, bool) {
	switch e := expr.(type) {
	case *scimfilter.LogicalExpression:
		l, lok := planEmail(e.Left)
		r, rok := planEmail(e.Right)
		if strings.EqualFold(string(e.Operator), "and") {
			if lok {
				return l, true
			}
			return r, rok
		}
		if lok && rok {
			return append(l, r...), true
		}
	case *scimfilter.AttributeExpression:
		v, ok := e.CompareValue.(string)
		if ok && strings.EqualFold(string(e.Operator), "eq") && strings.EqualFold(e.AttributePath.AttributeName, "value") && e.AttributePath.SubAttribute == nil {
			return []Lookup{{directory.AttrEmail, Unquote(v)}}, true
		}
	}
	return nil, false
}

// Mentions reports whether expr reads the core attribute attr (or one of
// its sub-attributes) anywhere. A nil expr mentions nothing.
func Mentions(k mapping.Kind, expr Expr, attr string) bool {
	var path scimfilter.AttributePath
	switch e := expr.(type) {
	case nil:
		return false
	case *scimfilter.LogicalExpression:
		return Mentions(k, e.Left, attr) || Mentions(k, e.Right, attr)
	case *scimfilter.NotExpression:
		return Mentions(k, e.Expression, attr)
	case *scimfilter.ValuePath:
		path = e.AttributePath
	case *scimfilter.AttributeExpression:
		path = e.AttributePath
	default:
		return true // an expression this package does not know: assume it may
	}
	p, ok := resolveFilterPath(k, path, nil)
	return !ok || p.Schema == "" && p.Attr == attr
}
