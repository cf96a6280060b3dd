package directory

import "testing"

func TestCompleteNames(t *testing.T) {
	for _, c := range []struct{ given, family, display, formatted, email, wantG, wantF string }{
		{"Ada", "Lovelace", "x y", "", "a@b.c", "Ada", "Lovelace"},
		{"", "", "Ada Lovelace", "", "", "Ada", "Lovelace"},
		{"", "", "Ada King Lovelace", "", "z@x", "Ada", "King Lovelace"},
		{"", "", "", "Grace Hopper", "z@x", "Grace", "Hopper"}, // name.formatted when there is no displayName
		{"", "", "", "", "ada.lovelace@example.com", "Ada", "Lovelace"},
		{"", "", "", "", "ada_b-c@example.com", "Ada", "B C"},
		{"", "", "", "", "ada+tag@example.com", "Ada", "Ada"},
		{"", "", "", "", "ÉLISE.dupont@example.com", "Élise", "Dupont"},
		{"Ada", "", "", "", "x@example.com", "Ada", "Ada"},
		{"", "Hopper", "", "", "x@example.com", "Hopper", "Hopper"},
		{"", "Lovelace", "Ada Lovelace", "", "", "Ada", "Lovelace"},
		{" ", "", "", "", "@x", "Unknown", "Unknown"},
		{"", "", "", "", "", "Unknown", "Unknown"},
		{"", "", "Cher", "", "", "Cher", "Cher"},
	} {
		u := User{GivenName: c.given, FamilyName: c.family, DisplayName: c.display, NameFormatted: c.formatted, UserName: c.email}
		CompleteNames(&u)
		if u.GivenName != c.wantG || u.FamilyName != c.wantF {
			t.Errorf("CompleteNames(%q, %q, %q, %q, %q) = %q, %q; want %q, %q",
				c.given, c.family, c.display, c.formatted, c.email, u.GivenName, u.FamilyName, c.wantG, c.wantF)
		}
	}
}
