package mapping

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Bounds on the values of a request body, checked before anything is
// mapped or sent to Sigma.
const (
	// MaxUserName is the longest userName and email value accepted, in
	// bytes (the longest address SMTP carries, RFC 5321 4.5.3.1.3).
	MaxUserName = 254
	// MaxString is the longest other string value accepted, in bytes.
	MaxString = 1024
)

// CheckValues walks a decoded JSON body and rejects (invalidValue) any
// string longer than MaxString, holding a control character other than
// tab, CR and LF (NUL included; Entra's formatted addresses hold line
// breaks), or holding U+FFFD — which is what invalid UTF-8 and lone
// surrogate escapes decode to, so two different byte strings would
// otherwise arrive as one userName. The caller checks that the raw body
// is valid UTF-8.
func CheckValues(v any) error {
	return checkValue(v, "")
}

func checkValue(v any, at string) error {
	switch t := v.(type) {
	case string:
		return checkString(t, at)
	case []any:
		for i, e := range t {
			if err := checkValue(e, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	case map[string]any:
		for k, e := range t {
			name := k
			if at != "" {
				name = at + "." + k
			}
			if err := checkString(k, "the attribute name "+name); err != nil {
				return err
			}
			if err := checkValue(e, name); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkString(s, at string) error {
	if at == "" {
		at = "a value"
	}
	if len(s) > MaxString {
		return invalidValue("%s is %d bytes; the bridge accepts strings of at most %d bytes", shorten(at), len(s), MaxString)
	}
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			return invalidValue("%s holds U+FFFD at byte %d: send valid UTF-8 (an invalid byte sequence or a lone surrogate escape decodes to it)", shorten(at), i)
		case (r < 0x20 || r == 0x7f) && r != '\t' && r != '\n' && r != '\r':
			return invalidValue("%s holds the control character %U at byte %d; remove it", shorten(at), r, i)
		}
	}
	return nil
}

// shorten keeps error details readable whatever the attribute names.
func shorten(s string) string {
	if len(s) <= 120 {
		return s
	}
	return strings.ToValidUTF8(s[:120], "") + "…"
}

// checkUserName bounds a userName or email: at most MaxUserName bytes, no
// control character at all.
func checkUserName(what, s string) error {
	if len(s) > MaxUserName {
		return invalidValue("%s is %d bytes; the bridge accepts at most %d (the longest email address)", what, len(s), MaxUserName)
	}
	for i, r := range s {
		if r < 0x20 || r == 0x7f {
			return invalidValue("%s holds the control character %U at byte %d; remove it", what, r, i)
		}
	}
	return nil
}
