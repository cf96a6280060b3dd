package storetest

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/scimbridge/scim-bridge/internal/store"
)

// testTokenScope: a token's scope and networks read back as written, from
// a lookup and from the list, and a successor keeps what it is given.
func testTokenScope(t *testing.T, open Opener) {
	ctx, s := ctxFor(t), open(t)
	a := tok("a", "okta")
	a.Scope = "scim:read"
	a.Networks = []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16"), netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("192.0.2.7/32")}
	must(t, "create scoped", s.CreateToken(ctx, a))
	plain := tok("p", "entra")
	must(t, "create unscoped", s.CreateToken(ctx, plain))

	got, err := s.TokenByHash(ctx, a.Hash)
	must(t, "by hash", err)
	equalToken(t, got, a)
	got, err = s.TokenByHash(ctx, plain.Hash)
	must(t, "by hash unscoped", err)
	if got.Scope != "" || got.Networks != nil {
		t.Errorf("unscoped token reads back scope %q networks %v, want none", got.Scope, got.Networks)
	}
	list, err := s.ListTokens(ctx)
	must(t, "list", err)
	if len(list) != 2 || list[1].ID != "a" || list[1].Scope != a.Scope || !slices.Equal(list[1].Networks, a.Networks) {
		t.Fatalf("list = %+v, want a with its scope and networks", list)
	}

	b := tok("b", "okta")
	b.CreatedAt = at(time.Hour)
	b.Scope, b.Networks = a.Scope, a.Networks
	must(t, "rotate", s.RotateToken(ctx, "a", at(2*time.Hour), at(time.Hour), b))
	got, err = s.TokenByHash(ctx, b.Hash)
	must(t, "successor", err)
	equalToken(t, got, b)
}

// V1Token is a token row an upgrade test writes into a database at schema
// version 1 (before scopes); CheckV1Token expects it back, unscoped.
var V1Token = store.Token{ID: "tok_v1", Name: "okta", Hash: []byte("v1-hash"), Prefix: "scimb_v1"}

// CheckV1Token checks, on a store upgraded from version 1 holding V1Token,
// that the token reads back with no scope and no networks (full SCIM
// access from anywhere, as before the upgrade).
func CheckV1Token(t *testing.T, s store.Store) {
	t.Helper()
	got, err := s.TokenByHash(ctxFor(t), V1Token.Hash)
	must(t, "read a version-1 token", err)
	if got.ID != V1Token.ID || got.Name != V1Token.Name || got.Scope != "" || got.Networks != nil {
		t.Errorf("version-1 token reads back as %+v, want %+v unscoped", got, V1Token)
	}
}
