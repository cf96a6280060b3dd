package filter

import (
	"fmt"
	"strings"
)

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
