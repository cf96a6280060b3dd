// Package storetest is the conformance suite every store.Store
// implementation passes. An implementation's test calls Run with a
// function that prepares an empty database and returns how to open stores
// on it; the suite opens a second store on the same database to stand in for
// a second replica, and closes and reopens to test persistence.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/scimbridge/scim-bridge/internal/store"
)

// Opener opens one more store on the database that a NewDatabase call
// prepared. The suite closes every store it opens (more than once,
// sometimes: Close must be idempotent).
type Opener func(t *testing.T) store.Store

// NewDatabase prepares a fresh, empty database for t (removing it in
// t.Cleanup) and returns how to open stores on it.
type NewDatabase func(t *testing.T) Opener

// Run runs the whole conformance suite as subtests of t.
func Run(t *testing.T, newDB NewDatabase) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"TokenCreateAndLookup", testTokenCreateAndLookup},
		{"TokenCreateConflicts", testTokenCreateConflicts},
		{"TokenList", testTokenList},
		{"TokenRotate", testTokenRotate},
		{"TokenRevoke", testTokenRevoke},
		{"TokenTouch", testTokenTouch},
		{"TokenScope", testTokenScope},
		{"ResourcePutGet", testResourcePutGet},
		{"ResourceExternalID", testResourceExternalID},
		{"ResourceUserName", testResourceUserName},
		{"ResourceList", testResourceList},
		{"ResourcesByID", testResourcesByID},
		{"ResourceUpdate", testResourceUpdate},
		{"ResourceDelete", testResourceDelete},
		{"ResourceInvalid", testResourceInvalid},
		{"AuditAppendList", testAuditAppendList},
		{"AuditFilters", testAuditFilters},
		{"AuditDefaultLimit", testAuditDefaultLimit},
		{"AuditPrune", testAuditPrune},
		{"Replicas", testReplicas},
		{"Closed", testClosed},
		{"Reopen", testReopen},
		{"RaceCreateExternalID", testRaceCreateExternalID},
		{"RaceCreateUserName", testRaceCreateUserName},
		{"RaceRotate", testRaceRotate},
		{"RaceRotateRevoke", testRaceRotateRevoke},
		{"RaceTombstoneRevive", testRaceTombstoneRevive},
		{"RaceAudit", testRaceAudit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := newDB(t)
			open := func(t *testing.T) store.Store {
				t.Helper()
				s := base(t)
				t.Cleanup(func() { _ = s.Close() })
				return s
			}
			tc.fn(t, open)
		})
	}
}

// t0 has nanoseconds on purpose: stores keep microseconds.
var t0 = time.Date(2026, 3, 4, 5, 6, 7, 891234567, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// us is t as a store reads it back.
func us(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func tok(id, name string) store.Token {
	return store.Token{
		ID: id, Name: name, Hash: []byte("hash-of-" + id), Prefix: "scimb_" + id,
		CreatedAt: at(0), ExpiresAt: at(90 * 24 * time.Hour),
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func must(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(us(want)) || (!got.IsZero() && got.Location() != time.UTC) {
		t.Errorf("%s = %v, want %v (UTC, microseconds)", what, got, us(want))
	}
}

func equalToken(t *testing.T, got, want store.Token) {
	t.Helper()
	if got.ID != want.ID || got.Name != want.Name || string(got.Hash) != string(want.Hash) || got.Prefix != want.Prefix ||
		got.Scope != want.Scope || !slices.Equal(got.Networks, want.Networks) {
		t.Errorf("token = %+v, want %+v", got, want)
	}
	sameTime(t, want.ID+" CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, want.ID+" ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	sameTime(t, want.ID+" RevokedAt", got.RevokedAt, want.RevokedAt)
	sameTime(t, want.ID+" SupersededAt", got.SupersededAt, want.SupersededAt)
	sameTime(t, want.ID+" LastUsedAt", got.LastUsedAt, want.LastUsedAt)
}

func testTokenCreateAndLookup(t *testing.T, open Opener) {
	ctx, s := ctxFor(t), open(t)
	a := tok("a", "okta")
	must(t, "create", s.CreateToken(ctx, a))
	got, err := s.TokenByHash(ctx, a.Hash)
	must(t, "by hash", err)
	equalToken(t, got, a)

	_, err = s.TokenByHash(ctx, []byte("nope"))
	wantErr(t, "unknown hash", err, store.ErrNotFound)

	// A token that never expires and was created without a time.
	b := store.Token{ID: "b", Name: "entra", Hash: []byte{0, 1, 2, 255}}
	must(t, "create without times", s.CreateToken(ctx, b))
	got, err = s.TokenByHash(ctx, b.Hash)
	must(t, "by hash b", err)
	if got.CreatedAt.IsZero() || !got.ExpiresAt.IsZero() || !got.RevokedAt.IsZero() {
		t.Errorf("token b = %+v: want CreatedAt set by the store and no expiry/revocation", got)
	}
	if string(got.Hash) != string(b.Hash) {
		t.Errorf("binary hash changed: %x", got.Hash)
	}
}

func testTokenCreateConflicts(t *testing.T, open Opener) {
	ctx, s := ctxFor(t), open(t)
	must(t, "create a", s.CreateToken(ctx, tok("a", "okta")))

	dupID := tok("a", "other")
	dupID.Hash = []byte("different")
	wantErr(t, "same id", s.CreateToken(ctx, dupID), store.ErrConflict)

	dupHash := tok("b", "other")
	dupHash.Hash = tok("a", "").Hash
	wantErr(t, "same hash", s.CreateToken(ctx, dupHash), store.ErrConflict)

	wantErr(t, "second current token of a name", s.CreateToken(ctx, tok("c", "okta")), store.ErrConflict)

	old := tok("d", "okta")
	old.SupersededAt = at(time.Hour)
	must(t, "superseded token of a name", s.CreateToken(ctx, old))

	revoked := tok("e", "okta")
	revoked.RevokedAt = at(time.Hour)
	must(t, "revoked token of a name", s.CreateToken(ctx, revoked))

	list, err := s.ListTokens(ctx)
	must(t, "list", err)
	if len(list) != 3 {
		t.Fatalf("after conflicts: %d tokens, want 3 (a, d, e)", len(list))
	}

	wantErr(t, "empty id", errOrNil(s.CreateToken(ctx, store.Token{Name: "x", Hash: []byte("x")})), errAny)
}

// errAny matches any non-nil error in wantErr.
var errAny = errors.New("any error")

func errOrNil(err error) error {
	if err != nil {
		return fmt.Errorf("%w: %w", errAny, err)
	}
	return nil
}

func testTokenList(t *testing.T, open Opener) {
	ctx, s := ctxFor(t), open(t)
	for _, tk := range []store.Token{
		withTimes(tok("z1", "zeta"), at(2*time.Hour), time.Time{}),
		withTimes(tok("a2", "alpha"), at(3*time.Hour), time.Time{}),
		withTimes(tok("a1", "alpha"), at(time.Hour), at(3*time.Hour)),
	} {
		must(t, "create "+tk.ID, s.CreateToken(ctx, tk))
	}
	list, err := s.ListTokens(ctx)
	must(t, "list", err)
	var ids []string
	for _, tk := range list {
		ids = append(ids, tk.ID)
	}
	if fmt.Sprint(ids) != "[a1 a2 z1]" {
		t.Errorf("ListTokens order = %v, want [a1 a2 z1] (name, then created)", ids)
	}
}

func withTimes(t store.Token, created, superseded time.Time) store.Token {
	t.CreatedAt, t.SupersededAt = created, superseded
	return t
}

func testTokenRotate(t *testing.T, open Opener) {
	ctx, s := ctxFor(t), open(t)
	a := tok("a", "okta") // expires at(90d)
	must(t, "create", s.CreateToken(ctx, a))

	b := tok("b", "okta")
	b.CreatedAt = at(time.Hour)
	overlapEnd := at(25 * time.Hour)
	must(t, "rotate a->b", s.RotateToken(ctx, "a", overlapEnd, at(time.Hour), b))

	gotA, err := s.TokenByHash(ctx, a.Hash)
	must(t, "a", err)
	a.SupersededAt, a.ExpiresAt = at(time.Hour), overlapEnd
	equalToken(t, gotA, a)
	gotB, err := s.TokenByHash(ctx, b.Hash)
	must(t, "b", err)
	equalToken(t, gotB, b)

	// Rotating from a stale view fails and changes nothing.
	c := tok("c", "okta")
	wantErr(t, "rotate from superseded a", s.RotateToken(ctx, "a", overlapEnd, at(2*time.Hour), c), store.ErrConflict)
	_, err = s.TokenByHash(ctx, c.Hash)
	wantErr(t, "c after failed rotation", err, store.ErrNotFound)

	wantErr(t, "rotate unknown id", s.RotateToken(ctx, "nope", overlapEnd, at(2*time.Hour), c), store.ErrNotFound)

	// An overlap that would outlive the old token keeps the old expiry.
	must(t, "rotate b->c", s.RotateToken(ctx, "b", at(1000*24*time.Hour), at(2*time.Hour), c))
	gotB, err = s.TokenByHash(ctx, b.Hash)
	must(t, "b again", err)
	sameTime(t, "b ExpiresAt", gotB.ExpiresAt, b.ExpiresAt)
	sameTime(t, "b SupersededAt", gotB.SupersededAt, at(2*time.Hour))

	// A successor whose hash exists already: conflict, rotation undone.
	d := tok("d", "okta")
	d.Hash = a.Hash
	wantErr(t, "rotate to duplicate hash", s.RotateToken(ctx, "c", at(3*time.Hour), at(3*time.Hour), d), store.ErrConflict)
	gotC, err := s.TokenByHash(ctx, c.Hash)
	must(t, "c", err)
	if !gotC.SupersededAt.IsZero() {
		t.Errorf("c superseded by a failed rotation: %+v", gotC)
	}

	// A token of another name is not the current token of next.Name.
	must(t, "create other", s.CreateToken(ctx, tok("o", "entra")))
	wantErr(t, "rotate across names", s.RotateToken(ctx, "o", time.Time{}, at(4*time.Hour), tok("e", "okta")), store.ErrConflict)
}

func testTokenRevoke(t *testing.T, open Opener) {
	ctx, s := ctxFor(t), open(t)
	must(t, "create a", s.CreateToken(ctx, tok("a", "okta")))
	must(t, "rotate", s.RotateToken(ctx, "a", at(time.Hour), at(time.Minute), tok("b", "okta")))
	must(t, "create other", s.CreateToken(ctx, tok("o", "entra")))

	must(t, "revoke", s.RevokeToken(ctx, "okta", at(2*time.Minute)))
	for _, id := range []string{"a", "b"} {
		got, err := s.TokenByHash(ctx, tok(id, "").Hash)
		must(t, id, err)
		sameTime(t, id+" RevokedAt", got.RevokedAt, at(2*time.Minute))
	}
	other, err := s.TokenByHash(ctx, tok("o", "").Hash)
	must(t, "o", err)
	if !other.RevokedAt.IsZero() {
		t.Errorf("revoking okta revoked entra's token too")
	}

	// Revoking again keeps the first revocation time.
	must(t, "revoke again", s.RevokeToken(ctx, "okta", at(time.Hour)))
	got, err := s.TokenByHash(ctx, tok("b", "").Hash)
	must(t, "b", err)
	sameTime(t, "b RevokedAt after second revoke", got.RevokedAt, at(2*time.Minute))

	wantErr(t, "revoke unknown name", s.RevokeToken(ctx, "nobody", at(0)), store.ErrNotFound)
	wantErr(t, "rotate revoked", s.RotateToken(ctx, "b", time.Time{}, at(time.Hour), tok("c", "okta")), store.ErrConflict)
	// After a revocation the name may start over.
	must(t, "new token after revoke", s.CreateToken(ctx, tok("c", "okta")))
}

func testTokenTouch(t *testing.T, open Opener) {
	ctx, s := ctxFor(t), open(t)
	a := tok("a", "okta")
	must(t, "create", s.CreateToken(ctx, a))
	must(t, "touch", s.TouchToken(ctx, "a", at(time.Hour)))
	must(t, "touch earlier", s.TouchToken(ctx, "a", at(time.Minute)))
	got, err := s.TokenByHash(ctx, a.Hash)
	must(t, "get", err)
	sameTime(t, "LastUsedAt", got.LastUsedAt, at(time.Hour))
	must(t, "touch later", s.TouchToken(ctx, "a", at(2*time.Hour)))
	got, err = s.TokenByHash(ctx, a.Hash)
	must(t, "get", err)
	sameTime(t, "LastUsedAt", got.LastUsedAt, at(2*time.Hour))
	wantErr(t, "touch unknown", s.TouchToken(ctx, "nope", at(time.Hour)), store.ErrNotFound)
}

func user(id, ext string) store.Resource {
	return store.Resource{Kind: store.KindUser, ID: id, ExternalID: ext}
}

func testResourcePutGet(t *testing.T, open Opener) {
	ctx, s := ctxFor(t), open(t)
	_, err := s.GetResource(ctx, store.KindUser, "m1")
	wantErr(t, "get before put", err, store.ErrNotFound)

	r, err := s.PutResource(ctx, store.Resource{Kind: store.KindUser, ID: "m1", ExternalID: "00u1", Version: 42})
	must(t, "put", err)
	if r.Version != 1 || r.UpdatedAt.IsZero() || r.Tombstoned || !r.TombstoneAt.IsZero() {
		t.Errorf("first put = %+v, want Version 1 (caller's ignored), UpdatedAt set, live", r)
	}
	got, err := s.GetResource(ctx, store.KindUser, "m1")
	must(t, "get", err)
	if !sameResource(got, r) {
		t.Errorf("get = %+v, want %+v", got, r)
	}
	_, err = s.GetResource(ctx, store.KindGroup, "m1")
	wantErr(t, "same id, other kind", err, store.ErrNotFound)

	r2, err := s.PutResource(ctx, store.Resource{Kind: store.KindUser, ID: "m1", ExternalID: "00u1", Tombstoned: true, TombstoneAt: at(time.Hour)})
	must(t, "replace", err)
	if r2.Version != 2 || !r2.Tombstoned {
		t.Errorf("replace = %+v, want Version 2, tombstoned", r2)
	}
	sameTime(t, "TombstoneAt", r2.TombstoneAt, at(time.Hour))
	got, err = s.GetResource(ctx, store.KindUser, "m1")
	must(t, "get", err)
	if !sameResource(got, r2) {
		t.Errorf("get = %+v, want %+v", got, r2)
	}

	// Tombstoned without a time: the store's clock. Revived: no time.
	r3, err := s.PutResource(ctx, store.Resource{Kind: store.KindGroup, ID: "t1", Tombstoned: true})
	must(t, "tombstone without time", err)
	if r3.TombstoneAt.IsZero() {
		t.Errorf("tombstoned record without TombstoneAt: %+v", r3)
	}
	r4, err := s.PutResource(ctx, store.Resource{Kind: store.KindGroup, ID: "t1", TombstoneAt: at(time.Hour)})
	must(t, "revive", err)
	if r4.Tombstoned || !r4.TombstoneAt.IsZero() || r4.Version != 2 {
		t.Errorf("revived = %+v, want live, no TombstoneAt, Version 2", r4)
	}
}

// externalId is a lookup key, not unique (RFC 7643; IdPs send one for
// several resources): every live holder is found, in id order.
func testResourceExternalID(t *testing.T, open Opener) {
	ctx, s := ctxFor(t), open(t)
	_, err := s.PutResource(ctx, user("m2", "ext"))
	must(t, "put m2", err)
	_, err = s.PutResource(ctx, user("m1", "ext"))
	must(t, "second live holder", err)
	_, err = s.PutResource(ctx, store.Resource{Kind: store.KindGroup, ID: "g1", ExternalID: "ext"})
	must(t, "same externalId, other kind", err)
	_, err = s.PutResource(ctx, user("m3", ""))
	must(t, "no externalId", err)
	holders := func(what, ext string, want ...string) {
		t.Helper()
		got, err := s.ResourcesByExternalID(ctx, store.KindUser, ext)
		must(t, what, err)
		var ids []string
		for _, r := range got {
			ids = append(ids, r.ID)
		}
		if !slices.Equal(ids, want) {
			t.Errorf("%s: holders of %q = %q, want %q", what, ext, ids, want)
		}
	}
	holders("two holders", "ext", "m1", "m2")
	holders("unknown externalId", "nope")
	holders("empty externalId", "")

	// Tombstones keep theirs (a revival can be matched) but are not found.
	_, err = s.UpdateResource(ctx, store.KindUser, "m1", func(r *store.Resource) error { r.Tombstoned = true; return nil })
	must(t, "tombstone m1", err)
	holders("after a tombstone", "ext", "m2")
	_, err = s.UpdateResource(ctx, store.KindUser, "m1", func(r *store.Resource) error { r.Tombstoned = false; return nil })
	must(t, "revive m1", err)
	holders("after the revival", "ext", "m1", "m2")

	// A user's displayName and name.formatted as the IdP sent them.
	put, err := s.PutResource(ctx, store.Resource{Kind: store.KindUser, ID: "m4", DisplayName: "Dr. Ada", NameFormatted: "Ada King, Countess"})
	must(t, "put names", err)
	got, err := s.GetResource(ctx, store.KindUser, "m4")
	must(t, "get names", err)
	if got.DisplayName != "Dr. Ada" || got.NameFormatted != "Ada King, Countess" || !sameResource(got, put) {
		t.Errorf("names read back as %+v, want %+v", got, put)
	}
}

func aliased(id, userName string) store.Resource {
	return store.Resource{Kind: store.KindUser, ID: id, UserName: userName}
}

// testResourceUserName: the IdP's own userName of a member is unique per
// kind among live records, case-insensitively, and kept as sent.
func testResourceUserName(t *testing.T, open Opener) {
	ctx, s := ctxFor(t), open(t)
	put, err := s.PutResource(ctx, store.Resource{Kind: store.KindUser, ID: "m1", ExternalID: "ext1", UserName: "JDoe"})
	must(t, "put m1", err)
	if put.UserName != "JDoe" {
		t.Errorf("put returned UserName %q, want %q", put.UserName, "JDoe")
	}
	got, err := s.GetResource(ctx, store.KindUser, "m1")
	must(t, "get m1", err)
	if !sameResource(got, put) {
		t.Errorf("get = %+v, want %+v", got, put)
	}
	for _, q := range []string{"JDoe", "jdoe", "JDOE", "jDoE"} {
		got, err := s.ResourceByUserName(ctx, store.KindUser, q)
		must(t, "by userName "+q, err)
		if !sameResource(got, put) {
			t.Errorf("by userName %q = %+v, want %+v (kept as sent)", q, got, put)
		}
	}
	// Case folding beyond ASCII: both stores fold alike.
	_, err = s.PutResource(ctx, aliased("m9", "Ørjan.Åsen"))
	must(t, "put non-ASCII", err)
	got, err = s.ResourceByUserName(ctx, store.KindUser, "øRJAN.åSEN")
	must(t, "by non-ASCII userName in other case", err)
	if got.ID != "m9" || got.UserName != "Ørjan.Åsen" {
		t.Errorf("by non-ASCII userName = %+v, want m9 as sent", got)
	}
	_, err = s.PutResource(ctx, aliased("m10", "ØRJAN.ÅSEN"))
	wantErr(t, "non-ASCII clash in other case", err, store.ErrConflict)

	for _, q := range []string{"nobody", "", "jdoe "} {
		_, err = s.ResourceByUserName(ctx, store.KindUser, q)
		wantErr(t, fmt.Sprintf("by userName %q", q), err, store.ErrNotFound)
	}
	_, err = s.ResourceByUserName(ctx, store.KindGroup, "jdoe")
	wantErr(t, "by userName, other kind", err, store.ErrNotFound)

	// A second live holder, in any case, is refused and writes nothing.
	_, err = s.PutResource(ctx, aliased("m2", "jdoe"))
	wantErr(t, "second live holder", err, store.ErrConflict)
	_, err = s.GetResource(ctx, store.KindUser, "m2")
	wantErr(t, "m2 after conflict", err, store.ErrNotFound)
	_, err = s.PutResource(ctx, store.Resource{Kind: store.KindGroup, ID: "g1", UserName: "jdoe"})
	must(t, "same userName, other kind", err)
	// Records without one do not clash, and the alias space is its own:
	// an externalId equal to a userName is no clash either.
	_, err = s.PutResource(ctx, aliased("m3", ""))
	must(t, "no userName", err)
	_, err = s.PutResource(ctx, store.Resource{Kind: store.KindUser, ID: "m4", ExternalID: "jdoe"})
	must(t, "externalId equal to a userName", err)

	// Changing the alias frees the old one; an update onto a taken one
	// fails and changes nothing.
	_, err = s.UpdateResource(ctx, store.KindUser, "m3", func(r *store.Resource) error { r.UserName = "JDOE"; return nil })
	wantErr(t, "update onto a taken userName", err, store.ErrConflict)
	got, err = s.GetResource(ctx, store.KindUser, "m3")
	must(t, "m3", err)
	if got.UserName != "" || got.Version != 1 {
		t.Errorf("failed update changed m3: %+v", got)
	}
	_, err = s.UpdateResource(ctx, store.KindUser, "m1", func(r *store.Resource) error { r.UserName = "john.d"; return nil })
	must(t, "rename m1's userName", err)
	_, err = s.ResourceByUserName(ctx, store.KindUser, "jdoe")
	wantErr(t, "old userName after rename", err, store.ErrNotFound)
	_, err = s.PutResource(ctx, aliased("m2", "jdoe"))
	must(t, "old userName taken by another", err)

	// A tombstone keeps its userName but is not found by it and does not
	// block a new live holder; reviving onto a taken one fails.
	_, err = s.UpdateResource(ctx, store.KindUser, "m2", func(r *store.Resource) error { r.Tombstoned = true; return nil })
	must(t, "tombstone m2", err)
	_, err = s.ResourceByUserName(ctx, store.KindUser, "jdoe")
	wantErr(t, "userName of a tombstone", err, store.ErrNotFound)
	got, err = s.GetResource(ctx, store.KindUser, "m2")
	must(t, "tombstoned m2", err)
	if got.UserName != "jdoe" {
		t.Errorf("tombstone lost its userName: %+v", got)
	}
	_, err = s.PutResource(ctx, aliased("m5", "JDoe"))
	must(t, "new holder after tombstone", err)
	_, err = s.UpdateResource(ctx, store.KindUser, "m2", func(r *store.Resource) error { r.Tombstoned = false; return nil })
	wantErr(t, "revive onto a taken userName", err, store.ErrConflict)
	got, err = s.GetResource(ctx, store.KindUser, "m2")
	must(t, "m2", err)
	if !got.Tombstoned {
		t.Errorf("failed revival changed m2: %+v", got)
	}
	// Deleting the holder frees the userName.
	must(t, "delete m5", s.DeleteResource(ctx, store.KindUser, "m5"))
	_, err = s.UpdateResource(ctx, store.KindUser, "m2", func(r *store.Resource) error { r.Tombstoned = false; return nil })
	must(t, "revive after the holder was deleted", err)
	got, err = s.ResourceByUserName(ctx, store.KindUser, "JDOE")
	must(t, "by userName after revive", err)
	if got.ID != "m2" {
		t.Errorf("by userName after revive = %+v, want m2", got)
	}
	// PutResource without a userName clears it.
	_, err = s.PutResource(ctx, aliased("m2", ""))
	must(t, "clear m2's userName", err)
	_, err = s.ResourceByUserName(ctx, store.KindUser, "jdoe")
	wantErr(t, "cleared userName", err, store.ErrNotFound)
	list, err := s.ListResources(ctx, store.KindUser)
	must(t, "list", err)
	names := map[string]string{}
	for _, r := range list {
		names[r.ID] = r.UserName
	}
	want := map[string]string{"m1": "john.d", "m2": "", "m3": "", "m4": "", "m9": "Ørjan.Åsen"}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Errorf("listed userNames = %v, want %v", names, want)
	}
}

func testResourceList(t *testing.T, open Opener) {
	ctx, s := ctxFor(t), open(t)
	for _, r := range []store.Resource{
		user("b", "x"), {Kind: store.KindUser, ID: "a", Tombstoned: true}, {Kind: store.KindGroup, ID: "g"},
	} {
		_, err := s.PutResource(ctx, r)
		must(t, "put "+r.ID, err)
	}
	users, err := s.ListResources(ctx, store.KindUser)
	must(t, "list users", err)
	if len(users) != 2 || users[0].ID != "a" || !users[0].Tombstoned || users[1].ID != "b" || users[1].ExternalID != "x" {
		t.Errorf("users = %+v, want a (tombstoned), b", users)
	}
	groups, err := s.ListResources(ctx, store.KindGroup)
	must(t, "list groups", err)
	if len(groups) != 1 || groups[0].ID != "g" {
		t.Errorf("groups = %+v, want g", groups)
	}
}

func testResourcesByID(t *testing.T, open Opener) {
	ctx, s := ctxFor(t), open(t)
	for _, r := range []store.Resource{
		user("b", "x"), {Kind: store.KindUser, ID: "a", Tombstoned: true}, user("c", ""), {Kind: store.KindUser, ID: "d", Tombstoned: true},
		{Kind: store.KindGroup, ID: "g"}, {Kind: store.KindGroup, ID: "h", Tombstoned: true},
	} {
		_, err := s.PutResource(ctx, r)
		must(t, "put "+r.ID, err)
	}
	got, err := s.ResourcesByID(ctx, store.KindUser, []string{"c", "nope", "a", "g", "b"})
	must(t, "by id", err)
	if len(got) != 3 || got[0].ID != "a" || !got[0].Tombstoned || got[1].ID != "b" || got[1].ExternalID != "x" || got[2].ID != "c" {
		t.Errorf("ResourcesByID = %+v, want a (tombstoned), b, c", got)
	}
	if got, err := s.ResourcesByID(ctx, store.KindUser, nil); err != nil || len(got) != 0 {
		t.Errorf("ResourcesByID(none) = %v, %v", got, err)
	}
	if _, err := s.ResourcesByID(ctx, store.KindUser, make([]string, store.MaxResourcesByID+1)); err == nil {
		t.Errorf("ResourcesByID of %d ids: no error", store.MaxResourcesByID+1)
	}
	many := make([]string, store.MaxResourcesByID)
	for i := range many {
		many[i] = fmt.Sprintf("x%d", i)
	}
	many[500] = "b"
	if got, err := s.ResourcesByID(ctx, store.KindUser, many); err != nil || len(got) != 1 || got[0].ID != "b" {
		t.Errorf("ResourcesByID of %d ids = %v, %v", len(many), got, err)
	}
	ids, err := s.TombstonedIDs(ctx, store.KindUser)
	must(t, "tombstoned ids", err)
	if fmt.Sprint(ids) != "[a d]" {
		t.Errorf("TombstonedIDs(user) = %v, want [a d]", ids)
	}
	if ids, err := s.TombstonedIDs(ctx, store.KindGroup); err != nil || fmt.Sprint(ids) != "[h]" {
		t.Errorf("TombstonedIDs(group) = %v, %v; want [h]", ids, err)
	}
}

func testResourceUpdate(t *testing.T, open Opener) {
	ctx, s := ctxFor(t), open(t)
	_, err := s.UpdateResource(ctx, store.KindUser, "m1", func(*store.Resource) error { return nil })
	wantErr(t, "update missing", err, store.ErrNotFound)

	put, err := s.PutResource(ctx, user("m1", "ext"))
	must(t, "put", err)
	got, err := s.UpdateResource(ctx, store.KindUser, "m1", func(r *store.Resource) error {
		if r.ExternalID != "ext" || r.Version != put.Version {
			return fmt.Errorf("fn saw %+v, want the stored record", *r)
		}
		r.ExternalID = "ext2"
		r.Tombstoned = true
		r.TombstoneAt = at(time.Hour)
		r.Version = 99 // ignored
		return nil
	})
	must(t, "update", err)
	if got.ExternalID != "ext2" || !got.Tombstoned || got.Version != put.Version+1 {
		t.Errorf("update = %+v, want ext2, tombstoned, Version %d", got, put.Version+1)
	}
	sameTime(t, "TombstoneAt", got.TombstoneAt, at(time.Hour))
	read, err := s.GetResource(ctx, store.KindUser, "m1")
	must(t, "get", err)
	if !sameResource(read, got) {
		t.Errorf("get after update = %+v, want %+v", read, got)
	}

	errFn := errors.New("fn says no")
	_, err = s.UpdateResource(ctx, store.KindUser, "m1", func(r *store.Resource) error {
		r.ExternalID = "never"
		return errFn
	})
	wantErr(t, "fn error returned as is", err, errFn)
	read, err = s.GetResource(ctx, store.KindUser, "m1")
	must(t, "get", err)
	if !sameResource(read, got) {
		t.Errorf("failed update changed the record: %+v", read)
	}

	_, err = s.UpdateResource(ctx, store.KindUser, "m1", func(r *store.Resource) error { r.ID = "other"; return nil })
	wantErr(t, "fn changing the id", errOrNil(err), errAny)

	_, err = s.PutResource(ctx, aliased("m2", "taken"))
	must(t, "put m2", err)
	_, err = s.UpdateResource(ctx, store.KindUser, "m1", func(r *store.Resource) error {
		r.UserName, r.Tombstoned = "TAKEN", false
		return nil
	})
	wantErr(t, "update onto a taken userName", err, store.ErrConflict)
}

func testResourceDelete(t *testing.T, open Opener) {
	ctx, s := ctxFor(t), open(t)
	_, err := s.PutResource(ctx, user("m1", "ext"))
	must(t, "put", err)
	must(t, "delete", s.DeleteResource(ctx, store.KindUser, "m1"))
	_, err = s.GetResource(ctx, store.KindUser, "m1")
	wantErr(t, "get deleted", err, store.ErrNotFound)
	wantErr(t, "delete again", s.DeleteResource(ctx, store.KindUser, "m1"), store.ErrNotFound)
	// The externalId is free again.
	_, err = s.PutResource(ctx, user("m2", "ext"))
	must(t, "reuse externalId", err)
}

func testResourceInvalid(t *testing.T, open Opener) {
	ctx, s := ctxFor(t), open(t)
	_, err := s.PutResource(ctx, store.Resource{Kind: "robot", ID: "x"})
	wantErr(t, "unknown kind", errOrNil(err), errAny)
	_, err = s.PutResource(ctx, store.Resource{Kind: store.KindUser})
	wantErr(t, "empty id", errOrNil(err), errAny)
}

func entry(op string, kind store.Kind, id string, when time.Time) store.AuditEntry {
	return store.AuditEntry{
		Time: when, RequestID: "req-" + id, TokenName: "okta", Operation: op, Kind: kind,
		ResourceID: id, Outcome: store.OutcomeOK, UpstreamStatus: 201, Detail: "created " + id,
		Target: store.Target{Name: id + "@example.com"},
	}
}

func testAuditAppendList(t *testing.T, open Opener) {
	ctx, s := ctxFor(t), open(t)
	var appended []store.AuditEntry
	for i := range 5 {
		e := entry("user.create", store.KindUser, fmt.Sprint("m", i), at(time.Duration(i)*time.Minute))
		if i%2 == 1 {
			e.Target.UserName = fmt.Sprint("login", i)
		}
		got, err := s.AppendAudit(ctx, e)
		must(t, "append", err)
		if i > 0 && got.ID <= appended[i-1].ID {
			t.Errorf("audit ids not increasing: %d after %d", got.ID, appended[i-1].ID)
		}
		e.ID, e.Time = got.ID, us(e.Time)
		if !sameEntry(got, e) {
			t.Errorf("append returned %+v, want %+v", got, e)
		}
		appended = append(appended, got)
	}
	noTime, err := s.AppendAudit(ctx, store.AuditEntry{Operation: "mode.switch", Outcome: store.OutcomeDryRun})
	must(t, "append without time", err)
	if noTime.Time.IsZero() {
		t.Errorf("append without time: store did not set Time")
	}
	// A userName that is the email again is no second name.
	same, err := s.AppendAudit(ctx, store.AuditEntry{Operation: "user.replace", Kind: store.KindUser,
		Target: store.Target{Name: "Ana@example.com", UserName: "ana@EXAMPLE.com"}, Legacy: true})
	must(t, "append with the email as userName", err)
	if list, err := s.ListAudit(ctx, store.AuditFilter{Target: "ana@example.com"}); err != nil || len(list) != 1 || !sameEntry(list[0], same) ||
		list[0].Target != (store.Target{Name: "Ana@example.com"}) || list[0].Legacy {
		t.Errorf("entry targeting Ana@example.com reads back as %+v, %v; want %+v, not Legacy", list, err, same)
	}

	list, err := s.ListAudit(ctx, store.AuditFilter{Limit: 3, Operation: "user.create"})
	must(t, "list", err)
	if len(list) != 3 {
		t.Fatalf("list with limit 3: %d entries", len(list))
	}
	for i, e := range list {
		if want := appended[4-i]; !sameEntry(e, want) {
			t.Errorf("list[%d] = %+v, want %+v (newest first)", i, e, want)
		}
	}
}

func testAuditFilters(t *testing.T, open Opener) {
	ctx, s := ctxFor(t), open(t)
	entries := []store.AuditEntry{
		entry("user.create", store.KindUser, "m1", at(0)),
		entry("user.update", store.KindUser, "m1", at(time.Minute)),
		entry("group.create", store.KindGroup, "g1", at(2*time.Minute)),
		entry("user.create", store.KindUser, "m2", at(3*time.Minute)),
	}
	entries[3].Outcome = store.OutcomeFailed
	entries[1].Target = store.Target{Name: "M1@Example.com", UserName: "jdoe"}
	entries[2].Target = store.Target{Name: "Finance"}
	// A refused create: no id, only the target.
	refused := entry("user.create", store.KindUser, "", at(4*time.Minute))
	refused.Target, refused.Outcome = store.Target{Name: "m3@example.com", UserName: "m3@EXAMPLE.com"}, store.OutcomeFailed
	entries = append(entries, refused)
	for _, e := range entries {
		_, err := s.AppendAudit(ctx, e)
		must(t, "append", err)
	}
	cases := []struct {
		name string
		f    store.AuditFilter
		want []string // operation/resource of the results, newest first
	}{
		{"all", store.AuditFilter{}, []string{"user.create/", "user.create/m2", "group.create/g1", "user.update/m1", "user.create/m1"}},
		{"kind", store.AuditFilter{Kind: store.KindGroup}, []string{"group.create/g1"}},
		{"resource", store.AuditFilter{Kind: store.KindUser, ResourceID: "m1"}, []string{"user.update/m1", "user.create/m1"}},
		{"operation", store.AuditFilter{Operation: "user.create"}, []string{"user.create/", "user.create/m2", "user.create/m1"}},
		{"outcome", store.AuditFilter{Outcome: store.OutcomeFailed}, []string{"user.create/", "user.create/m2"}},
		{"since is inclusive", store.AuditFilter{Since: at(time.Minute)}, []string{"user.create/", "user.create/m2", "group.create/g1", "user.update/m1"}},
		{"combined", store.AuditFilter{Operation: "user.create", Outcome: store.OutcomeOK}, []string{"user.create/m1"}},
		{"nothing", store.AuditFilter{ResourceID: "nope"}, nil},
		{"about ids", store.AuditFilter{AboutIDs: []string{"m1", "g1"}}, []string{"group.create/g1", "user.update/m1", "user.create/m1"}},
		{"about and kind", store.AuditFilter{Kind: store.KindUser, AboutIDs: []string{"g1", "m2"}}, []string{"user.create/m2"}},
		{"target, case-insensitive", store.AuditFilter{Target: "m1@EXAMPLE.COM"}, []string{"user.update/m1", "user.create/m1"}},
		{"target by the IdP userName", store.AuditFilter{Kind: store.KindUser, Target: "JDoe"}, []string{"user.update/m1"}},
		{"target without an id", store.AuditFilter{Target: "m3@example.com"}, []string{"user.create/"}},
		{"target is exact", store.AuditFilter{Target: "1@example.com"}, nil},
		{"target is not a pattern", store.AuditFilter{Target: "m_@example.com"}, nil},
		{"target of a group", store.AuditFilter{Kind: store.KindGroup, Target: "finance"}, []string{"group.create/g1"}},
		{"ids or target", store.AuditFilter{AboutIDs: []string{"g1"}, Target: "m2@example.com"}, []string{"user.create/m2", "group.create/g1"}},
		// Mention reads only entries without a target (CheckV1Audit).
		{"mention skips targeted entries", store.AuditFilter{Mention: "created m2"}, nil},
	}
	for _, c := range cases {
		list, err := s.ListAudit(ctx, c.f)
		must(t, c.name, err)
		var got []string
		for _, e := range list {
			got = append(got, e.Operation+"/"+e.ResourceID)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func testAuditDefaultLimit(t *testing.T, open Opener) {
	ctx, s := ctxFor(t), open(t)
	for i := range 105 {
		_, err := s.AppendAudit(ctx, entry("user.update", store.KindUser, "m", at(time.Duration(i)*time.Second)))
		must(t, "append", err)
	}
	list, err := s.ListAudit(ctx, store.AuditFilter{})
	must(t, "list", err)
	if len(list) != 100 {
		t.Fatalf("default limit: %d entries, want 100", len(list))
	}
	sameTime(t, "newest", list[0].Time, at(104*time.Second))
}

func testAuditPrune(t *testing.T, open Opener) {
	ctx, s := ctxFor(t), open(t)
	for i := range 10 {
		_, err := s.AppendAudit(ctx, entry("user.update", store.KindUser, fmt.Sprint("m", i), at(time.Duration(i)*time.Hour)))
		must(t, "append", err)
	}
	n, err := s.PruneAudit(ctx, at(4*time.Hour))
	must(t, "prune", err)
	if n != 4 {
		t.Errorf("pruned %d, want 4 (strictly older than the cutoff)", n)
	}
	list, err := s.ListAudit(ctx, store.AuditFilter{})
	must(t, "list", err)
	if len(list) != 6 || list[len(list)-1].ResourceID != "m4" {
		t.Errorf("after prune: %d entries, oldest %+v; want 6, oldest m4", len(list), list[len(list)-1])
	}
	n, err = s.PruneAudit(ctx, at(4*time.Hour))
	must(t, "prune again", err)
	if n != 0 {
		t.Errorf("second prune deleted %d, want 0", n)
	}
	// IDs keep increasing after a prune.
	e, err := s.AppendAudit(ctx, entry("user.update", store.KindUser, "new", at(20*time.Hour)))
	must(t, "append after prune", err)
	if e.ID <= list[0].ID {
		t.Errorf("id after prune %d <= newest before %d", e.ID, list[0].ID)
	}
}

func testClosed(t *testing.T, open Opener) {
	ctx, s := ctxFor(t), open(t)
	must(t, "ping", s.Ping(ctx))
	must(t, "create", s.CreateToken(ctx, tok("a", "okta")))
	must(t, "close", s.Close())
	must(t, "close twice", s.Close())

	u := store.ErrUnavailable
	wantErr(t, "Ping", s.Ping(ctx), u)
	wantErr(t, "CreateToken", s.CreateToken(ctx, tok("b", "x")), u)
	_, err := s.TokenByHash(ctx, tok("a", "").Hash)
	wantErr(t, "TokenByHash", err, u)
	_, err = s.ListTokens(ctx)
	wantErr(t, "ListTokens", err, u)
	wantErr(t, "RotateToken", s.RotateToken(ctx, "a", time.Time{}, at(0), tok("b", "okta")), u)
	wantErr(t, "RevokeToken", s.RevokeToken(ctx, "okta", at(0)), u)
	wantErr(t, "TouchToken", s.TouchToken(ctx, "a", at(0)), u)
	_, err = s.PutResource(ctx, user("m", ""))
	wantErr(t, "PutResource", err, u)
	_, err = s.GetResource(ctx, store.KindUser, "m")
	wantErr(t, "GetResource", err, u)
	_, err = s.ResourcesByExternalID(ctx, store.KindUser, "x")
	wantErr(t, "ResourcesByExternalID", err, u)
	_, err = s.ResourceByUserName(ctx, store.KindUser, "x")
	wantErr(t, "ResourceByUserName", err, u)
	_, err = s.ListResources(ctx, store.KindUser)
	wantErr(t, "ListResources", err, u)
	_, err = s.ResourcesByID(ctx, store.KindUser, []string{"m"})
	wantErr(t, "ResourcesByID", err, u)
	_, err = s.TombstonedIDs(ctx, store.KindUser)
	wantErr(t, "TombstonedIDs", err, u)
	_, err = s.UpdateResource(ctx, store.KindUser, "m", func(*store.Resource) error { return nil })
	wantErr(t, "UpdateResource", err, u)
	wantErr(t, "DeleteResource", s.DeleteResource(ctx, store.KindUser, "m"), u)
	_, err = s.AppendAudit(ctx, entry("x", store.KindUser, "m", at(0)))
	wantErr(t, "AppendAudit", err, u)
	_, err = s.ListAudit(ctx, store.AuditFilter{})
	wantErr(t, "ListAudit", err, u)
	_, err = s.PruneAudit(ctx, at(0))
	wantErr(t, "PruneAudit", err, u)
}

func testReopen(t *testing.T, open Opener) {
	ctx, s := ctxFor(t), open(t)
	must(t, "create", s.CreateToken(ctx, tok("a", "okta")))
	must(t, "rotate", s.RotateToken(ctx, "a", at(time.Hour), at(time.Minute), tok("b", "okta")))
	must(t, "revoked", s.CreateToken(ctx, tok("c", "entra")))
	must(t, "revoke", s.RevokeToken(ctx, "entra", at(time.Minute)))
	live, err := s.PutResource(ctx, store.Resource{Kind: store.KindUser, ID: "m1", ExternalID: "ext1", UserName: "JDoe"})
	must(t, "put live", err)
	tomb, err := s.PutResource(ctx, store.Resource{Kind: store.KindUser, ID: "m2", ExternalID: "ext2", UserName: "asmith", Tombstoned: true, TombstoneAt: at(time.Hour)})
	must(t, "put tombstone", err)
	e, err := s.AppendAudit(ctx, entry("user.delete", store.KindUser, "m2", at(time.Hour)))
	must(t, "audit", err)
	tokensBefore, err := s.ListTokens(ctx)
	must(t, "list tokens", err)
	must(t, "close", s.Close())

	s = open(t)
	tokensAfter, err := s.ListTokens(ctx)
	must(t, "list tokens after reopen", err)
	if len(tokensAfter) != len(tokensBefore) {
		t.Fatalf("tokens after reopen: %d, want %d", len(tokensAfter), len(tokensBefore))
	}
	for i := range tokensBefore {
		equalToken(t, tokensAfter[i], tokensBefore[i])
	}
	byExt, err := s.ResourcesByExternalID(ctx, store.KindUser, "ext1")
	must(t, "externalId after reopen", err)
	if len(byExt) != 1 {
		t.Fatalf("externalId after reopen: %d records, want 1", len(byExt))
	}
	got := byExt[0]
	if !sameResource(got, live) {
		t.Errorf("live record after reopen = %+v, want %+v", got, live)
	}
	got, err = s.ResourceByUserName(ctx, store.KindUser, "jdoe")
	must(t, "userName after reopen", err)
	if !sameResource(got, live) {
		t.Errorf("by userName after reopen = %+v, want %+v", got, live)
	}
	_, err = s.ResourceByUserName(ctx, store.KindUser, "asmith")
	wantErr(t, "tombstone's userName after reopen", err, store.ErrNotFound)
	got, err = s.GetResource(ctx, store.KindUser, "m2")
	must(t, "tombstone after reopen", err)
	if !sameResource(got, tomb) {
		t.Errorf("tombstone after reopen = %+v, want %+v", got, tomb)
	}
	list, err := s.ListAudit(ctx, store.AuditFilter{})
	must(t, "audit after reopen", err)
	if len(list) != 1 || !sameEntry(list[0], e) {
		t.Errorf("audit after reopen = %+v, want [%+v]", list, e)
	}
	// The constraints survive too.
	wantErr(t, "second current token after reopen", s.CreateToken(ctx, tok("d", "okta")), store.ErrConflict)
	_, err = s.PutResource(ctx, aliased("m3", "JDOE"))
	wantErr(t, "second holder of a userName after reopen", err, store.ErrConflict)
}

// racers is how many goroutines each race test starts, half on each of
// two stores opened on the same database (two replicas).
const racers = 16

func twoReplicas(t *testing.T, open Opener) [2]store.Store {
	return [2]store.Store{open(t), open(t)}
}

// race runs fn(i, store) on racers goroutines released at once and
// returns their errors.
func race(replicas [2]store.Store, fn func(i int, s store.Store) error) []error {
	errs := make([]error, racers)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i := range racers {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			errs[i] = fn(i, replicas[i%2])
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return errs
}

// exactlyOneWinner fails unless one error is nil and all others are
// ErrConflict.
func exactlyOneWinner(t *testing.T, what string, errs []error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("%s: racers %d and %d both won", what, winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("%s: racer %d: %v, want nil or ErrConflict", what, i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("%s: nobody won", what)
	}
	return winner
}

func testRaceCreateExternalID(t *testing.T, open Opener) {
	ctx, rs := ctxFor(t), twoReplicas(t, open)
	errs := race(rs, func(i int, s store.Store) error {
		_, err := s.PutResource(ctx, user(fmt.Sprint("m", i), "same-ext"))
		return err
	})
	for i, err := range errs {
		must(t, fmt.Sprint("create m", i, " with a shared externalId"), err)
	}
	for _, s := range rs {
		got, err := s.ResourcesByExternalID(ctx, store.KindUser, "same-ext")
		must(t, "by externalId", err)
		if len(got) != len(errs) {
			t.Errorf("%d holders of the shared externalId, want %d", len(got), len(errs))
		}
	}
}

// Two replicas creating different members with one IdP userName (in
// different cases): exactly one holds it afterwards.
func testRaceCreateUserName(t *testing.T, open Opener) {
	ctx, rs := ctxFor(t), twoReplicas(t, open)
	errs := race(rs, func(i int, s store.Store) error {
		name := "jdoe"
		if i%2 == 1 {
			name = "JDoe"
		}
		_, err := s.PutResource(ctx, aliased(fmt.Sprint("m", i), name))
		return err
	})
	winner := exactlyOneWinner(t, "create same userName", errs)
	for _, s := range rs {
		got, err := s.ResourceByUserName(ctx, store.KindUser, "JDOE")
		must(t, "by userName", err)
		if got.ID != fmt.Sprint("m", winner) {
			t.Errorf("userName held by %s, winner was m%d", got.ID, winner)
		}
	}
	all, err := rs[0].ListResources(ctx, store.KindUser)
	must(t, "list", err)
	if len(all) != 1 {
		t.Errorf("%d records after the race, want 1", len(all))
	}

	// Existing records racing to take one alias by update: one wins.
	for i := range racers {
		_, err := rs[0].PutResource(ctx, aliased(fmt.Sprint("n", i), ""))
		must(t, "put", err)
	}
	errs = race(rs, func(i int, s store.Store) error {
		_, err := s.UpdateResource(ctx, store.KindUser, fmt.Sprint("n", i), func(r *store.Resource) error {
			r.UserName = "asmith"
			return nil
		})
		return err
	})
	// m<winner> still holds jdoe; the update race is about asmith.
	winner = exactlyOneWinner(t, "update onto same userName", errs)
	got, err := rs[1].ResourceByUserName(ctx, store.KindUser, "ASmith")
	must(t, "by userName", err)
	if got.ID != fmt.Sprint("n", winner) {
		t.Errorf("userName held by %s, winner was n%d", got.ID, winner)
	}
}

func testRaceRotate(t *testing.T, open Opener) {
	ctx, rs := ctxFor(t), twoReplicas(t, open)
	must(t, "create", rs[0].CreateToken(ctx, tok("old", "okta")))
	errs := race(rs, func(i int, s store.Store) error {
		return s.RotateToken(ctx, "old", at(time.Hour), at(time.Minute), tok(fmt.Sprint("next", i), "okta"))
	})
	winner := exactlyOneWinner(t, "rotate same token", errs)
	list, err := rs[1].ListTokens(ctx)
	must(t, "list", err)
	var current []string
	for _, tk := range list {
		if tk.SupersededAt.IsZero() && tk.RevokedAt.IsZero() {
			current = append(current, tk.ID)
		}
	}
	if len(list) != 2 || len(current) != 1 || current[0] != fmt.Sprint("next", winner) {
		t.Errorf("after the race: %d tokens, current %v; want 2 tokens, current [next%d]", len(list), current, winner)
	}
}

// A revocation racing rotations must not miss a successor committed
// while it ran: once both are done, no token of the name is live.
func testRaceRotateRevoke(t *testing.T, open Opener) {
	ctx, rs := ctxFor(t), twoReplicas(t, open)
	for round := range 5 {
		name := fmt.Sprint("okta-", round)
		must(t, "create", rs[0].CreateToken(ctx, tok(name+"-old", name)))
		errs := race(rs, func(i int, s store.Store) error {
			if i%2 == 0 {
				return s.RevokeToken(ctx, name, at(time.Minute))
			}
			return s.RotateToken(ctx, name+"-old", at(time.Hour), at(time.Minute), tok(fmt.Sprint(name, "-next", i), name))
		})
		for i, err := range errs {
			if err != nil && !(i%2 == 1 && errors.Is(err, store.ErrConflict)) {
				t.Errorf("round %d racer %d: %v", round, i, err)
			}
		}
		list, err := rs[1].ListTokens(ctx)
		must(t, "list", err)
		for _, tk := range list {
			if tk.Name == name && tk.RevokedAt.IsZero() {
				t.Errorf("round %d: token %s survived a revocation that finished after it was created", round, tk.ID)
			}
		}
	}
}

func testRaceTombstoneRevive(t *testing.T, open Opener) {
	ctx, rs := ctxFor(t), twoReplicas(t, open)
	start, err := rs[0].PutResource(ctx, user("m1", "ext"))
	must(t, "put", err)
	// Every racer flips the tombstone; a lost update would leave the
	// Version short and, half the time, the flag wrong.
	errs := race(rs, func(i int, s store.Store) error {
		_, err := s.UpdateResource(ctx, store.KindUser, "m1", func(r *store.Resource) error {
			r.Tombstoned = !r.Tombstoned
			return nil
		})
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("racer %d: %v", i, err)
		}
	}
	got, err := rs[1].GetResource(ctx, store.KindUser, "m1")
	must(t, "get", err)
	if got.Version != start.Version+racers || got.Tombstoned != (racers%2 == 1) {
		t.Errorf("after %d flips: %+v, want Version %d, Tombstoned %v", racers, got, start.Version+racers, racers%2 == 1)
	}
	// Revive racing against a new holder of its IdP userName: never two live.
	_, err = rs[0].UpdateResource(ctx, store.KindUser, "m1", func(r *store.Resource) error { r.Tombstoned, r.UserName = true, "jdoe"; return nil })
	must(t, "tombstone", err)
	errs = race(rs, func(i int, s store.Store) error {
		if i%2 == 0 {
			_, err := s.UpdateResource(ctx, store.KindUser, "m1", func(r *store.Resource) error { r.Tombstoned = false; return nil })
			return err
		}
		_, err := s.PutResource(ctx, aliased(fmt.Sprint("n", i), "JDoe"))
		return err
	})
	for i, err := range errs {
		if err != nil && !errors.Is(err, store.ErrConflict) {
			t.Errorf("racer %d: %v", i, err)
		}
	}
	all, err := rs[0].ListResources(ctx, store.KindUser)
	must(t, "list", err)
	live := 0
	for _, r := range all {
		if !r.Tombstoned && r.UserName != "" {
			live++
		}
	}
	if live != 1 {
		t.Errorf("%d live holders of the userName after revive/create race, want 1: %+v", live, all)
	}
}

func testRaceAudit(t *testing.T, open Opener) {
	ctx, rs := ctxFor(t), twoReplicas(t, open)
	ids := make([]int64, racers)
	errs := race(rs, func(i int, s store.Store) error {
		e, err := s.AppendAudit(ctx, entry("user.update", store.KindUser, fmt.Sprint("m", i), at(0)))
		ids[i] = e.ID
		return err
	})
	seen := map[int64]bool{}
	for i, err := range errs {
		must(t, fmt.Sprint("racer ", i), err)
		if seen[ids[i]] {
			t.Errorf("audit id %d assigned twice", ids[i])
		}
		seen[ids[i]] = true
	}
	list, err := rs[0].ListAudit(ctx, store.AuditFilter{Limit: 1000})
	must(t, "list", err)
	if len(list) != racers {
		t.Errorf("%d audit entries, want %d", len(list), racers)
	}
}

// sameResource compares with time.Time.Equal: a location pointer or a
// monotonic reading is not a difference.
func sameResource(a, b store.Resource) bool {
	ok := a.TombstoneAt.Equal(b.TombstoneAt) && a.UpdatedAt.Equal(b.UpdatedAt)
	a.TombstoneAt, b.TombstoneAt, a.UpdatedAt, b.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return ok && a == b
}

func sameEntry(a, b store.AuditEntry) bool {
	ok := a.Time.Equal(b.Time)
	a.Time, b.Time = time.Time{}, time.Time{}
	return ok && a == b
}

// V1Rows are the resource rows an upgrade test writes into a database at
// schema version 1 (before userNames were kept) with that version's own
// SQL, and CheckUpgradedFromV1 then expects to read back.
var V1Rows = []store.Resource{
	{Kind: store.KindUser, ID: "m1", ExternalID: "ext1", Version: 3},
	{Kind: store.KindUser, ID: "m2", ExternalID: "ext2", Version: 1, Tombstoned: true},
	{Kind: store.KindGroup, ID: "g1", Version: 2},
}

// CheckUpgradedFromV1 checks a store just opened on a version-1 database
// holding V1Rows: the records read back unchanged with no userName, and
// userNames work on them (set, found, unique) as on a new database.
func CheckUpgradedFromV1(t *testing.T, s store.Store) {
	t.Helper()
	ctx := ctxFor(t)
	for _, want := range V1Rows {
		got, err := s.GetResource(ctx, want.Kind, want.ID)
		must(t, "read a version-1 record", err)
		if got.ExternalID != want.ExternalID || got.Tombstoned != want.Tombstoned || got.Version != want.Version || got.UserName != "" {
			t.Errorf("version-1 record read back as %+v, want %+v", got, want)
		}
	}
	_, err := s.UpdateResource(ctx, store.KindUser, "m1", func(r *store.Resource) error { r.UserName = "JDoe"; return nil })
	must(t, "give a version-1 record a userName", err)
	got, err := s.ResourceByUserName(ctx, store.KindUser, "jdoe")
	must(t, "by userName", err)
	if got.ID != "m1" || got.ExternalID != "ext1" || got.UserName != "JDoe" || got.Version != 4 {
		t.Errorf("upgraded record = %+v, want m1 with ext1, JDoe, Version 4", got)
	}
	_, err = s.PutResource(ctx, aliased("m3", "JDOE"))
	wantErr(t, "second holder on an upgraded database", err, store.ErrConflict)
	_, err = s.PutResource(ctx, user("m4", "ext1"))
	must(t, "a second externalId holder on an upgraded database", err)
	if rs, err := s.ResourcesByExternalID(ctx, store.KindUser, "ext1"); err != nil || len(rs) != 2 {
		t.Errorf("externalId holders on an upgraded database = %+v, %v; want m1 and m4", rs, err)
	}
}
