package scimserver_test

import (
	"context"
	"sync"
	"testing"

	"github.com/scimbridge/scim-bridge/internal/directory"
)

// memberAsks records, per group read, whether the edge asked for the
// groups without their members (directory.WithoutMembers).
type memberAsks struct {
	directory.Directory
	mu   sync.Mutex
	asks []bool
}

func (m *memberAsks) note(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.asks = append(m.asks, directory.MembersUnused(ctx))
}

// take returns the asks since the last take.
func (m *memberAsks) take() []bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.asks
	m.asks = nil
	return out
}

func (m *memberAsks) ListGroups(ctx context.Context) ([]directory.Group, error) {
	m.note(ctx)
	return m.Directory.ListGroups(ctx)
}

func (m *memberAsks) LookupGroups(ctx context.Context, attr directory.Attr, value string) ([]directory.Group, error) {
	m.note(ctx)
	return m.Directory.LookupGroups(ctx, attr, value)
}

func (m *memberAsks) GetGroup(ctx context.Context, id string) (directory.Group, error) {
	m.note(ctx)
	return m.Directory.GetGroup(ctx, id)
}

// TestGroupReadsWithoutMembers: a group read whose answer leaves members
// out (and whose filter does not read them) asks the directory for groups
// without members; the answer's ETags (meta.version) are those of GET
// /Groups/{id} with its members, over both Sigma paths.
func TestGroupReadsWithoutMembers(t *testing.T) {
	for _, scim := range []bool{false, true} {
		t.Run(map[bool]string{false: "rest", true: "scim"}[scim], func(t *testing.T) {
			spy := &memberAsks{}
			opts := []option{withWrappedDir(func(d directory.Directory) directory.Directory { spy.Directory = d; return spy })}
			if scim {
				opts = append(opts, withSCIMDirectory())
			}
			ts := newTestServer(t, opts...)
			a, b := ts.createUser(t, "ada@example.com"), ts.createUser(t, "bob@example.com")
			ids := []string{ts.createGroup(t, "Eng", a, b), ts.createGroup(t, "Ops", b), ts.createGroup(t, "Empty")}
			etag := map[string]string{}
			for _, id := range ids {
				r := ts.do(t, "GET", "/Groups/"+id, nil).want(t, 200)
				etag[id] = r.Header.Get("ETag")
				if len(r.Body["members"].([]any)) == 0 && id == ids[0] {
					t.Fatalf("group %s read without members: %v", id, r.Body)
				}
			}
			spy.take()

			for _, c := range []struct {
				path      string
				lean      bool // asked without members
				wantItems int
			}{
				{"/Groups?excludedAttributes=members", true, 3},
				{"/Groups?excludedAttributes=displayName,members&count=2", true, 2},
				{"/Groups?attributes=displayName,meta", true, 3},
				{"/Groups?attributes=members.value", false, 3},
				{"/Groups?excludedAttributes=members.display", false, 3},
				{"/Groups", false, 3},
				{"/Groups?filter=" + urlq(`displayName eq "Eng"`) + "&excludedAttributes=members", true, 1},
				{"/Groups?filter=" + urlq(`displayName sw "E"`) + "&excludedAttributes=members", true, 2},
				{"/Groups?filter=" + urlq(`members.value eq "`+a+`"`) + "&excludedAttributes=members", false, 1},
				{"/Groups?filter=" + urlq(`not (members pr)`) + "&attributes=displayName", false, 1},
				{"/Groups?sortBy=displayName&excludedAttributes=members", true, 3},
			} {
				l := ts.do(t, "GET", c.path, nil).want(t, 200).Body
				asks := spy.take()
				if len(asks) == 0 {
					t.Fatalf("%s: no group read", c.path)
				}
				for _, lean := range asks {
					if lean != c.lean {
						t.Errorf("%s: asked the directory without members: %v, want %v", c.path, lean, c.lean)
					}
				}
				res := l["Resources"].([]any)
				if len(res) != c.wantItems {
					t.Errorf("%s: %d resources, want %d", c.path, len(res), c.wantItems)
				}
				for _, x := range res {
					g := x.(map[string]any)
					if c.lean && g["members"] != nil {
						t.Errorf("%s: members shown: %v", c.path, g)
					}
					if meta, ok := g["meta"].(map[string]any); ok && meta["version"] != etag[g["id"].(string)] {
						t.Errorf("%s: group %s listed with version %v, GET /Groups/{id} answers ETag %s", c.path, g["id"], meta["version"], etag[g["id"].(string)])
					}
				}
			}
			for _, id := range ids {
				r := ts.do(t, "GET", "/Groups/"+id+"?excludedAttributes=members", nil).want(t, 200)
				if asks := spy.take(); len(asks) != 1 || !asks[0] {
					t.Errorf("GET /Groups/%s?excludedAttributes=members asked without members: %v", id, asks)
				}
				if r.Header.Get("ETag") != etag[id] || r.Body["members"] != nil {
					t.Errorf("GET /Groups/%s?excludedAttributes=members: ETag %s (with members %s), body %v", id, r.Header.Get("ETag"), etag[id], r.Body)
				}
				ts.do(t, "GET", "/Groups/"+id+"?excludedAttributes=members", nil, "If-None-Match", etag[id]).want(t, 304)
				spy.take()
			}
		})
	}
}
