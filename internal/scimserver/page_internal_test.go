package scimserver

import (
	"bytes"
	"net/http/httptest"
	"testing"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/mapping"
	"github.com/scimbridge/scim-bridge/internal/scim/query"
)

// TestWritePageIsTheListResponse: the page written one resource at a time
// is byte for byte the ListResponse writeJSON writes.
func TestWritePageIsTheListResponse(t *testing.T) {
	groups := []directory.Group{
		{ID: "t1", DisplayName: "Eng <&>", Version: "v1", Members: []directory.Ref{{ID: "m1", Display: "a@x"}, {ID: "m2"}}},
		{ID: "t2", DisplayName: "Ops", ExternalID: "e2", Version: "v2"},
	}
	for _, q := range []query.Query{
		{StartIndex: 1, Count: 100},
		{StartIndex: 3, Count: 2, Projection: query.ParseProjection(mapping.Group, nil, []string{"members"})},
		{StartIndex: 1, Count: 10, Projection: query.ParseProjection(mapping.Group, []string{"displayName,members.value"}, nil)},
	} {
		for _, items := range [][]directory.Group{groups, groups[:1], nil} {
			render := func(g directory.Group) map[string]any { return mapping.GroupToSCIM(g, "https://b/scim/v2") }
			var res []map[string]any
			for _, g := range items {
				res = append(res, render(g))
			}
			want, got := httptest.NewRecorder(), httptest.NewRecorder()
			writeJSON(want, 200, q.Response(res, 7))
			writePage(got, q, 7, len(items), func(i int) map[string]any { return render(items[i]) })
			if !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) || got.Code != want.Code ||
				got.Header().Get("Content-Type") != want.Header().Get("Content-Type") {
				t.Errorf("%d items, projection %+v:\n got %d %s\nwant %d %s", len(items), q.Projection, got.Code, got.Body, want.Code, want.Body)
			}
		}
	}
}
