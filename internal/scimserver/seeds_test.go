package scimserver_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// corpus reads the last value of each seed file of a fuzz target (the Go
// corpus format: one typed literal per line), with the bool before it.
func corpus(t *testing.T, dir string) map[string]struct {
	flag  bool
	value string
} {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no seeds in %s: %v", dir, err)
	}
	out := map[string]struct {
		flag  bool
		value string
	}{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var entry struct {
			flag  bool
			value string
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n")[1:] {
			switch {
			case line == "bool(true)":
				entry.flag = true
			case strings.HasPrefix(line, "string(") || strings.HasPrefix(line, "[]byte("):
				v, err := strconv.Unquote(line[strings.Index(line, "(")+1 : len(line)-1])
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				entry.value = v
			}
		}
		out[filepath.Base(f)] = entry
	}
	return out
}

// TestHostileSeedsAnswerSCIM sends the fuzz seed corpora (the deep and
// huge cases included) through the real handler: every answer is a SCIM
// answer below 500, never a crash or an internal error.
func TestHostileSeedsAnswerSCIM(t *testing.T) {
	ts := newTestServer(t)
	uid := ts.createUser(t, "seeds@example.com")
	gid := ts.createGroup(t, "seeds", uid)
	check := func(name string, r response) {
		t.Helper()
		if r.Status >= 500 {
			t.Errorf("%s: status %d: %.300s", name, r.Status, r.Raw)
		}
		if len(r.Raw) > 0 && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/scim+json") {
			t.Errorf("%s: Content-Type %q", name, r.Header.Get("Content-Type"))
		}
	}
	for name, s := range corpus(t, "../scim/filter/testdata/fuzz/FuzzFilter") {
		endpoint := "/Users/.search"
		if s.flag {
			endpoint = "/Groups/.search"
		}
		body, _ := json.Marshal(map[string]string{"filter": s.value})
		check("filter "+name, ts.do(t, "POST", endpoint, string(body)))
		check("root search "+name, ts.do(t, "POST", "/.search", string(body)))
	}
	for name, s := range corpus(t, "../scim/patch/testdata/fuzz/FuzzPatch") {
		check("user patch "+name, ts.do(t, "PATCH", "/Users/"+uid, s.value))
		check("group patch "+name, ts.do(t, "PATCH", "/Groups/"+gid, s.value))
	}
	for name, s := range corpus(t, "../mapping/testdata/fuzz/FuzzUserFromSCIM") {
		check("user "+name, ts.do(t, "POST", "/Users", s.value))
		check("user put "+name, ts.do(t, "PUT", "/Users/"+uid, s.value))
	}
	for name, s := range corpus(t, "../mapping/testdata/fuzz/FuzzGroupFromSCIM") {
		check("group "+name, ts.do(t, "POST", "/Groups", s.value))
	}
}
