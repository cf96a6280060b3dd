package query

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/mapping"
)

// roundTripJSON makes Go values comparable with decoded JSON.
func roundTripJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSortAndProject(t *testing.T) {
	mk := func(id, userName, family string) map[string]any {
		return mapping.UserToSCIM(directory.User{ID: id, UserName: userName, GivenName: "G", FamilyName: family}, "")
	}
	res := []map[string]any{mk("3", "b@x.io", "Zed"), mk("1", "C@x.io", "Alpha"), mk("2", "a@x.io", "Alpha")}
	byFamily, _ := mapping.ResolvePath(mapping.User, "name.familyName")
	Sort(res, &byFamily, false)
	if ids := []any{res[0]["id"], res[1]["id"], res[2]["id"]}; !reflect.DeepEqual(ids, []any{"1", "2", "3"}) {
		t.Errorf("by familyName: %v", ids)
	}
	byUser, _ := mapping.ResolvePath(mapping.User, "userName")
	Sort(res, &byUser, true)
	if ids := []any{res[0]["id"], res[1]["id"], res[2]["id"]}; !reflect.DeepEqual(ids, []any{"1", "3", "2"}) {
		t.Errorf("by userName descending: %v", ids)
	}
	t1, _ := time.Parse(time.RFC3339, "2026-01-02T03:04:05Z")
	early := mapping.UserToSCIM(directory.User{ID: "9", UserName: "e@x.io", Created: t1}, "")
	late := mapping.UserToSCIM(directory.User{ID: "8", UserName: "l@x.io", Created: t1.Add(500 * time.Millisecond)}, "")
	byCreated, _ := mapping.ResolvePath(mapping.User, "meta.created")
	pair := []map[string]any{late, early}
	Sort(pair, &byCreated, false)
	if pair[0]["id"] != "9" {
		t.Errorf("meta.created order: %v then %v", pair[0]["meta"], pair[1]["meta"])
	}
	proj := ParseProjection(mapping.User, []string{"userName,name.givenName", "emails.value"}, nil)
	got := roundTripJSON(t, proj.Apply(res[0]))
	want := roundTripJSON(t, map[string]any{
		"id": "1", "schemas": res[0]["schemas"], "userName": "C@x.io", "name": map[string]any{"givenName": "G"},
		"emails": []any{map[string]any{"value": "C@x.io"}},
	})
	if !reflect.DeepEqual(got, want) {
		t.Errorf("attributes: %v\nwant %v", got, want)
	}
	proj = ParseProjection(mapping.User, nil, []string{"emails", "id", "urn:sigma:scim:schemas:extension:2.0:User:userKind"})
	ex := proj.Apply(res[0])
	if _, ok := ex["emails"]; ok || ex["id"] != "1" {
		t.Errorf("excluded: %v", ex)
	}
	if ext := ex[mapping.SchemaSigmaUser].(map[string]any); ext["userKind"] != nil {
		t.Errorf("userKind not excluded: %v", ext)
	}
	if res[0]["emails"] == nil || res[0][mapping.SchemaSigmaUser].(map[string]any)["userKind"] == nil {
		t.Error("projection modified its input")
	}
}
