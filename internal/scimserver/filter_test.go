package scimserver

import "testing"

func TestResourceLabel(t *testing.T) {
	for path, want := range map[string]string{
		"/scim/v2/Users/abc":          "users",
		"/Groups/my-users-team":       "groups",
		"/groups/users":               "groups",
		"/ServiceProviderConfig":      "discovery",
		"/scim/v2/schemas/urn:x":      "discovery",
		"/scim/v2/Me":                 "other",
		"/scim/v2/usersx/../../admin": "other",
	} {
		if got := resourceLabel(path); got != want {
			t.Errorf("resourceLabel(%q) = %q, want %q", path, got, want)
		}
	}
}
