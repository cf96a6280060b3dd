package scimtest

import (
	"encoding/json"
	"testing"
)

func decode(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMatch(t *testing.T) {
	vars := map[string]string{"known": "k1"}
	got := decode(t, `{"id":"abc","n":2,"ok":true,"when":"2026-01-02T03:04:05.123Z","list":[{"v":"k1"}],"extra":1}`)
	for _, c := range []struct {
		want string
		ok   bool
	}{
		{`{"id":"${newId}","n":2,"ok":true,"when":"<time>","list":[{"v":"${known}"}]}`, true},
		{`{"id":"${newId}"}`, true}, // now bound to abc
		{`{"id":"${known}"}`, false},
		{`{"missing":"<absent>","id":"*"}`, true},
		{`{"extra":"<absent>"}`, false},
		{`{"missing":"*"}`, false},
		{`{"n":3}`, false},
		{`{"ok":false}`, false},
		{`{"list":[]}`, false},
		{`{"list":[{"v":"x"}]}`, false},
		{`{"id":"/Users/${newId}"}`, false},
		{`{"when":"<time>","id":"<time>"}`, false},
	} {
		err := Match(decode(t, c.want), got, vars)
		if (err == nil) != c.ok {
			t.Errorf("Match(%s) = %v, want ok=%v", c.want, err, c.ok)
		}
	}
	if vars["newId"] != "abc" {
		t.Errorf("capture: %v", vars)
	}
	if subst("/Users/${newId}/${unbound}", vars) != "/Users/abc/${unbound}" {
		t.Error("subst")
	}
}
