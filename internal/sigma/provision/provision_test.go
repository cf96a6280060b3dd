package provision

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/store"
)

// The pinned values are what the bridge has always answered: IdPs hold
// these ETags, so a change of formula must be deliberate. They were
// computed independently (sha256 over "len:part;" for each part, first 12
// bytes in hex; a group's members enter as their MemberDigest: the count
// and the lane-wise sum of the first two little-endian uint64s of
// sha256("len:id;len:display;") of each member, "%d:%016x%016x"). The
// group formula changed once, in session 2 of issue 13, so that a page of
// groups without members can carry the same ETag.
func TestVersionsArePinned(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	u := directory.User{ID: "m1", UserName: "ada@example.com", ExternalID: "x1", GivenName: "Ada", FamilyName: "Lovelace",
		DisplayName: "Ada Lovelace", Active: true, AccountType: "Pro", UserKind: "internal", Created: at, Modified: at.Add(time.Hour),
		Groups: []directory.Ref{{ID: "t1", Display: "Eng"}}}
	if got, want := UserVersion(u), "03537eb9233eadba4942b740"; got != want {
		t.Errorf("UserVersion = %s, want %s", got, want)
	}
	u.IdPUserName = "ada"
	if got, want := UserVersion(u), "227008f6f148e507384bc16b"; got != want {
		t.Errorf("UserVersion with IdP userName = %s, want %s", got, want)
	}
	g := directory.Group{ID: "t1", DisplayName: "Eng", ExternalID: "g1", Created: at, Modified: at.Add(time.Hour),
		Members: []directory.Ref{{ID: "m1", Display: "ada@example.com"}}}
	if got, want := GroupVersion(g), "c66609e08aa561a5e65cbf05"; got != want {
		t.Errorf("GroupVersion = %s, want %s", got, want)
	}
	g.Modified = at.Add(2 * time.Hour)
	if got, want := GroupVersion(g), "c66609e08aa561a5e65cbf05"; got != want {
		t.Errorf("GroupVersion changed with Modified: %s, want %s", got, want)
	}
	if got, want := GroupVersionOf(directory.Group{ID: "t1", DisplayName: "Eng", ExternalID: "g1", Created: at}, MemberDigest{}),
		"c9fb6e5d59ba3cca55ee00e9"; got != want {
		t.Errorf("GroupVersionOf an empty group = %s, want %s", got, want)
	}
}

func TestDedupeAndRefIDs(t *testing.T) {
	if got := Dedupe([]string{" a", "b", "", "a", "c ", "b"}); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("Dedupe = %q", got)
	}
	if got := Dedupe([]string{" ", ""}); got != nil {
		t.Errorf("Dedupe of blanks = %q, want nil", got)
	}
	if got := RefIDs([]directory.Ref{{ID: "x"}, {ID: "y"}, {ID: "x"}}); !slices.Equal(got, []string{"x", "y"}) {
		t.Errorf("RefIDs = %q", got)
	}
}

func TestDryRunID(t *testing.T) {
	a, b := DryRunID("Ada@Example.com "), DryRunID("ada@example.com")
	if a != b || len(a) != len("dryrun-")+16 || a[:7] != "dryrun-" {
		t.Errorf("DryRunID = %q and %q, want equal dryrun-<16 hex>", a, b)
	}
	if DryRunID("team:a") == DryRunID("group:a") {
		t.Error("DryRunID does not tell keys apart")
	}
}

func TestTruncate(t *testing.T) {
	if got := Truncate("abcdef", 3); got != "abc…" {
		t.Errorf("Truncate = %q", got)
	}
	if got := Truncate("abc", 3); got != "abc" {
		t.Errorf("Truncate = %q", got)
	}
}

// TestKeyedMutex relies on -race: the counter is written without any
// other synchronisation than the key's lock.
func TestKeyedMutex(t *testing.T) {
	var k KeyedMutex
	counter := 0
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			unlock := k.Lock("a")
			counter++
			unlock()
		})
	}
	// Another key is not blocked by "a".
	unlockB := k.Lock("b")
	unlockB()
	wg.Wait()
	if counter != 50 {
		t.Errorf("counter = %d, want 50", counter)
	}
	if len(k.m) != 0 {
		t.Errorf("%d keys left after every unlock", len(k.m))
	}
}

func TestDiff(t *testing.T) {
	m := Member{Email: "ada@example.com", FirstName: "Ada", LastName: "Lovelace", AccountType: "Pro", UserKind: "internal", Active: true}
	c, changed := diff(m, directory.User{UserName: " ADA@example.com ", GivenName: "Ada", UserKind: "internal", Active: true}, AccountType{})
	if !c.IsZero() || changed != nil {
		t.Errorf("no change asked: change %+v, changed %q", c, changed)
	}
	c, changed = diff(m, directory.User{UserName: "ada@new.example", GivenName: " Augusta ", FamilyName: "King", UserKind: "embed"},
		AccountType{Name: "Viewer", SCIM: "viewer"})
	if !slices.Equal(changed, []string{"userName", "givenName", "familyName", "userType", "userKind", "active=false"}) {
		t.Errorf("changed = %q", changed)
	}
	for name, got := range map[string]*string{"ada@new.example": c.Email, "Augusta": c.FirstName, "King": c.LastName, "embed": c.UserKind} {
		if got == nil || *got != name {
			t.Errorf("change %+v: want %q set", c, name)
		}
	}
	if c.AccountType == nil || c.AccountType.Name != "Viewer" || c.Active == nil || *c.Active {
		t.Errorf("change %+v: want account type Viewer and active=false", c)
	}
	if got := c.apply(m); got.Email != "ada@new.example" || got.AccountType != "Viewer" || got.Active {
		t.Errorf("apply = %+v", got)
	}
}

// The digest is the members' set: order, and the way the set was reached
// (adds and removes), do not change it.
func TestMemberDigestIsTheSet(t *testing.T) {
	refs := []directory.Ref{{ID: "m1", Display: "a@x"}, {ID: "m2", Display: "b@x"}, {ID: "m3", Display: "c@x"}}
	want := DigestOf(refs)
	var d MemberDigest
	d.Add(refs[2])
	d.Add(directory.Ref{ID: "m9", Display: "z@x"})
	d.Add(refs[0])
	d.Remove(directory.Ref{ID: "m9", Display: "z@x"})
	d.Add(refs[1])
	if d != want || d.Len() != 3 {
		t.Errorf("digest reached by adds and removes = %v, want %v", d, want)
	}
	if DigestOf(refs[:2]) == want || DigestOf([]directory.Ref{{ID: "m1", Display: "a@y"}, refs[1], refs[2]}) == want {
		t.Error("a different member set has the same digest")
	}
	g := directory.Group{ID: "t1", DisplayName: "Eng", Members: refs}
	if GroupVersion(g) != GroupVersionOf(directory.Group{ID: "t1", DisplayName: "Eng"}, want) {
		t.Error("GroupVersionOf the digest differs from GroupVersion with the members")
	}
}

// TestDryRunsBound: the dry-run record keeps DryRunMax users; the oldest
// is forgotten first, and an updated one keeps its place.
func TestDryRunsBound(t *testing.T) {
	d := NewDryRuns()
	id := func(i int) string { return DryRunID(fmt.Sprintf("u%d@x", i)) }
	for i := range DryRunMax + 1 {
		d.putUser(Member{ID: id(i), Email: fmt.Sprintf("u%d@x", i)}, store.Resource{})
		if i == 1 {
			d.putUser(Member{ID: id(0), Email: "u0@x", FirstName: "Updated"}, store.Resource{})
		}
	}
	if _, ok := d.user(id(0)); ok {
		t.Error("the oldest dry-run user is still recorded past the bound")
	}
	for _, i := range []int{1, DryRunMax} {
		if _, ok := d.user(id(i)); !ok {
			t.Errorf("dry-run user %d forgotten", i)
		}
	}
	if us, ok := d.LookupUsers(directory.AttrEmail, "U5@x"); !ok || len(us) != 1 || us[0].ID != id(5) {
		t.Errorf("LookupUsers(email) = %v, %v", us, ok)
	}
}
