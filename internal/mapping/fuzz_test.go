package mapping

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// decode is what the SCIM edge does with a POST or PUT body before
// mapping: valid UTF-8, a JSON object, CheckValues, Normalize.
func decode(body []byte, k Kind) (map[string]any, error) {
	if !utf8.Valid(body) {
		return nil, invalidValue("not UTF-8")
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, invalidSyntax("not JSON")
	}
	if err := CheckValues(m); err != nil {
		return nil, err
	}
	norm, _, err := Normalize(k, m)
	return norm, err
}

func mustBeError(t *testing.T, err error) {
	t.Helper()
	var me *Error
	if !errors.As(err, &me) || me.ScimType == "" || me.Detail == "" {
		t.Fatalf("error %T %v: want a *mapping.Error with scimType and detail", err, err)
	}
}

// FuzzUserFromSCIM: any body is a clean error or a user whose userName and
// emails are within the bounds, without control characters or U+FFFD.
// Seeds (testdata/fuzz/FuzzUserFromSCIM) include a 70 KB userName, NUL
// bytes, lone surrogates and invalid UTF-8.
func FuzzUserFromSCIM(f *testing.F) {
	for _, s := range []string{
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@example.com","name":{"givenName":"Ada","familyName":"L"},"emails":[{"value":"ada@example.com","type":"work","primary":true}],"active":true}`,
		`{"userName":"jdoe","emails":[{"value":"j@example.com","primary":true}],"urn:sigma:scim:schemas:extension:2.0:User":{"userKind":"guest","accountType":"Pro"}}`,
		`{"userName":"a@b.c","name.givenName":"X","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager":"7f"}`,
		`{"userName":"nul\u0000@b.c"}`,
		`{"userName":"sur\ud800@b.c"}`,
		"{\"userName\":\"caf\xe9@b.c\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		norm, err := decode(body, User)
		if err != nil {
			mustBeError(t, err)
			return
		}
		u, err := UserFromSCIM(norm, UserOptions{UserNameFromEmail: true})
		if err != nil {
			mustBeError(t, err)
			return
		}
		for _, s := range []string{u.UserName, u.IdPUserName} {
			if len(s) > MaxUserName || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == utf8.RuneError }) {
				t.Fatalf("userName %q accepted", s)
			}
		}
		_ = UserToSCIM(u, "https://x")
	})
}

// FuzzGroupFromSCIM: any body is a clean error or a group with a name.
func FuzzGroupFromSCIM(f *testing.F) {
	for _, s := range []string{
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Eng","members":[{"value":"a","display":"a@b.c"},{"value":"b"}]}`,
		`{"displayName":" X ","members":{"value":"a"},"externalId":"e1"}`,
		`{"displayName":"N","members":[{"value":"g2","type":"Group"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		norm, err := decode(body, Group)
		if err != nil {
			mustBeError(t, err)
			return
		}
		g, err := GroupFromSCIM(norm)
		if err != nil {
			mustBeError(t, err)
			return
		}
		if strings.TrimSpace(g.DisplayName) == "" {
			t.Fatal("a group without a name was accepted")
		}
		_ = GroupToSCIM(g, "https://x")
	})
}
