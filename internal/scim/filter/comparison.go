package filter

import (
	"strings"
	"unicode/utf8"

	scimfilter "github.com/scim2/filter-parser/v2"
)

// parseComparison reads the commonest filter, one attribute compared with
// a string (`userName eq "ada@example.com"`, the lookup every IdP sends
// before each push), without the general parser: it gives exactly the
// expression scimfilter.ParseFilter gives for that text, and ok false for
// any other text, which the general parser then reads. FuzzComparison
// holds the two equal.
//
// The shape accepted is attrName ["." attrName] SP+ compareOp SP+ string,
// where attrName is ["$"] ALPHA *(ALPHA / DIGIT / "-" / "_"), compareOp one
// of the nine two-letter operators in any case (the expression carries it
// lower-cased, as the general parser's does) and string a quoted run of
// valid UTF-8 without control characters, '"' or '\' (so no escape to
// interpret: the general parser keeps the text between the quotes as it
// is, too). Anything else — a schema URN prefix, a value path, a logical
// operator, a number, true/false/null, `pr` — is left to the parser.
func parseComparison(s string) (Expr, bool) {
	name, rest, ok := cutAttrName(s)
	if !ok {
		return nil, false
	}
	path := scimfilter.AttributePath{AttributeName: name}
	if strings.HasPrefix(rest, ".") {
		var sub string
		if sub, rest, ok = cutAttrName(rest[1:]); !ok {
			return nil, false
		}
		path.SubAttribute = &sub
	}
	if rest, ok = cutSpaces(rest); !ok || len(rest) < 2 {
		return nil, false
	}
	op := scimfilter.CompareOperator(strings.ToLower(rest[:2]))
	switch op {
	case scimfilter.EQ, scimfilter.NE, scimfilter.CO, scimfilter.SW, scimfilter.EW,
		scimfilter.GT, scimfilter.LT, scimfilter.GE, scimfilter.LE:
	default:
		return nil, false
	}
	if rest, ok = cutSpaces(rest[2:]); !ok {
		return nil, false
	}
	if len(rest) < 2 || rest[0] != '"' || rest[len(rest)-1] != '"' {
		return nil, false
	}
	value := rest[1 : len(rest)-1]
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < 0x20 || c == '"' || c == '\\' {
			return nil, false
		}
	}
	if !utf8.ValidString(value) {
		return nil, false
	}
	return &scimfilter.AttributeExpression{AttributePath: path, Operator: op, CompareValue: value}, true
}

// cutAttrName cuts an attrName (["$"] ALPHA *(ALPHA / DIGIT / "-" / "_"))
// from the front of s.
func cutAttrName(s string) (name, rest string, ok bool) {
	i := 0
	if i < len(s) && s[i] == '$' {
		i++
	}
	if i == len(s) || !isAlpha(s[i]) {
		return "", s, false
	}
	for i++; i < len(s) && (isAlpha(s[i]) || s[i] >= '0' && s[i] <= '9' || s[i] == '-' || s[i] == '_'); i++ {
	}
	return s[:i], s[i:], true
}

// cutSpaces cuts one or more spaces from the front of s.
func cutSpaces(s string) (string, bool) {
	t := strings.TrimLeft(s, " ")
	return t, len(t) < len(s)
}

func isAlpha(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' }
