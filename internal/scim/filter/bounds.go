package filter

// The bounds a filter (a ?filter= query, a .search body's filter, a PATCH
// value path) must stay within. They are checked on the raw text before
// the parser runs, so neither its recursion nor its memory grows with
// hostile input: a filter nested 100,000 deep overflowed the stack of the
// whole process before they existed.
const (
	// MaxLength is the longest filter accepted, in bytes.
	MaxLength = 8 << 10
	// MaxDepth is the deepest nesting of parentheses and brackets.
	MaxDepth = 16
	// MaxTerms is the most comparisons (attribute operator value) in one
	// filter. With one index lookup per term at most, it is also the most
	// lookups — and so Sigma calls — a filter can cause.
	MaxTerms = 50
)

// checkBounds scans src once, outside string literals, for its length,
// nesting depth and number of comparisons.
func checkBounds(what, src string) error {
	if len(src) > MaxLength {
		return invalid("%s is %d bytes; the bridge accepts filters of at most %d bytes", what, len(src), MaxLength)
	}
	depth, maxDepth, terms := 0, 0, 1
	inStr := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		if inStr {
			switch c {
			case '\\':
				i++
			case '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '(', '[':
			depth++
			maxDepth = max(maxDepth, depth)
		case ')', ']':
			depth--
		case ' ', '\t':
			if word := logicalAt(src, i+1); word > 0 {
				terms++
				i += word
			}
		}
	}
	if maxDepth > MaxDepth {
		return invalid("%s nests %d levels of parentheses or brackets; the bridge accepts at most %d", what, maxDepth, MaxDepth)
	}
	if terms > MaxTerms {
		return invalid("%s has %d comparisons; the bridge accepts at most %d per filter: split it into several requests", what, terms, MaxTerms)
	}
	return nil
}

// logicalAt returns the length of an "and"/"or" word starting at i and
// followed by a space or parenthesis, or 0.
func logicalAt(s string, i int) int {
	for _, w := range []string{"and", "or"} {
		if len(s) > i+len(w) && equalFoldASCII(s[i:i+len(w)], w) {
			if n := s[i+len(w)]; n == ' ' || n == '(' || n == '\t' {
				return len(w)
			}
		}
	}
	return 0
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i]|0x20, b[i]|0x20
		if x != y {
			return false
		}
	}
	return true
}
