// Package directorytest is the conformance suite of directory.Directory.
// Every implementation (the REST members/teams directory and the one over
// Sigma's own SCIM endpoint) runs it against the Sigma emulator:
//
//	directorytest.Run(t, func(t *testing.T) directorytest.Harness { ... })
//
// The suite only speaks the Directory interface. It never assumes the
// upstream org is empty, only that it accepts the account types the
// harness names.
package directorytest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/scimbridge/scim-bridge/internal/directory"
)

// Harness is one fresh Directory under test and what the suite needs to
// know about the org behind it.
type Harness struct {
	// Dir is ready to answer (its first load has completed).
	Dir directory.Directory
	// AccountTypes lists at least two account type names the org accepts,
	// spelled canonically (as the directory reports them on read).
	AccountTypes []string
	// UpstreamWrites, when not nil, returns how many write requests the
	// directory has sent upstream so far. The suite uses it to check that
	// rejected and no-op requests write nothing.
	UpstreamWrites func() int
	// UpstreamCalls, when not nil, returns how many requests (reads
	// included, token requests left out) the directory has sent upstream
	// so far. The suite uses it to check answers that need no call.
	UpstreamCalls func() int
	// LoseNextDeleteAnswer, when not nil, makes the upstream apply the
	// next delete of a group and then drop the connection before it
	// answers (an ambiguous outcome the client retries). The suite skips
	// the case that needs it otherwise.
	LoseNextDeleteAnswer func()
	// LoseNextCreateAnswer, when not nil, makes the upstream apply the
	// next create of a user and the next of a group, drop the connection
	// before it answers, and fail every lookup of that kind after it (of
	// the create's outcome) until heal is called.
	LoseNextCreateAnswer func() (heal func())
	// AuditOutcomes, when not nil, returns the outcomes ("ok", "failed",
	// …) the audit trail records for operation op ("user.create") on
	// resource id, oldest first, intents left out. The suite skips the
	// cases that need it otherwise.
	AuditOutcomes func(op, id string) []string
}

func (h Harness) writes() int {
	if h.UpstreamWrites == nil {
		return 0
	}
	return h.UpstreamWrites()
}

// Run runs the whole suite. newDir is called once per subtest and must
// return an independent directory over an independent upstream org.
func Run(t *testing.T, newDir func(t *testing.T) Harness) {
	setup := func(t *testing.T) (Harness, context.Context) {
		t.Helper()
		h := newDir(t)
		if len(h.AccountTypes) < 2 {
			t.Fatalf("harness: want at least two account types, got %q", h.AccountTypes)
		}
		ctx := directory.WithActor(t.Context(), directory.Actor{RequestID: "conformance", TokenName: "directorytest"})
		return h, ctx
	}
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, h Harness, ctx context.Context)
	}{
		{"Ready", testReady},
		{"UserCreateGet", testUserCreateGet},
		{"UserDefaults", testUserDefaults},
		{"UserLookup", testUserLookup},
		{"UserListOrder", testUserListOrder},
		{"UserDuplicateUserName", testUserDuplicateUserName},
		{"UserSharedExternalID", testUserSharedExternalID},
		{"UserNamesAsSent", testUserNamesAsSent},
		{"UserUnknownAccountType", testUserUnknownAccountType},
		{"UserReplace", testUserReplace},
		{"UserDeactivateReactivate", testUserDeactivateReactivate},
		{"UserCreateRevivesDeactivated", testUserCreateRevivesDeactivated},
		{"UserDeleteAndRevive", testUserDeleteAndRevive},
		{"UserNotFound", testUserNotFound},
		{"UserConcurrentCreate", testUserConcurrentCreate},
		{"UserIdPUserName", testUserIdPUserName},
		{"UserIdPUserNameTaken", testUserIdPUserNameTaken},
		{"UserIdPUserNameDeleteAndRevive", testUserIdPUserNameDeleteAndRevive},
		{"GroupCreateGet", testGroupCreateGet},
		{"GroupDuplicateName", testGroupDuplicateName},
		{"GroupLookup", testGroupLookup},
		{"GroupListOrder", testGroupListOrder},
		{"GroupWithoutMembers", testGroupWithoutMembers},
		{"GroupRename", testGroupRename},
		{"GroupReplaceMembers", testGroupReplaceMembers},
		{"GroupModifyMembers", testGroupModifyMembers},
		{"GroupConcurrentModifyMembers", testGroupConcurrentModifyMembers},
		{"GroupDelete", testGroupDelete},
		{"GroupDeleteAnswerLost", testGroupDeleteAnswerLost},
		{"UserCreateInactive", testUserCreateInactive},
		{"UserCreateAnswerLost", testUserCreateAnswerLost},
		{"GroupCreateAnswerLost", testGroupCreateAnswerLost},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, ctx := setup(t)
			tc.fn(t, h, ctx)
		})
	}
}

// email returns an address unlikely to exist in any seeded org.
func email(local string) string { return local + "@conformance.example.com" }

func newUser(local, given, family string) directory.User {
	return directory.User{
		UserName:   email(local),
		GivenName:  given,
		FamilyName: family,
		Emails:     []directory.Email{{Value: email(local), Type: "work", Primary: true}},
		Active:     true,
	}
}

func mustCreateUser(t *testing.T, ctx context.Context, d directory.Directory, u directory.User) directory.User {
	t.Helper()
	got, err := d.CreateUser(ctx, u)
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", u.UserName, err)
	}
	if got.ID == "" {
		t.Fatalf("CreateUser(%s): empty ID", u.UserName)
	}
	return got
}

func mustGetUser(t *testing.T, ctx context.Context, d directory.Directory, id string) directory.User {
	t.Helper()
	got, err := d.GetUser(ctx, id)
	if err != nil {
		t.Fatalf("GetUser(%s): %v", id, err)
	}
	return got
}

func mustCreateGroup(t *testing.T, ctx context.Context, d directory.Directory, g directory.Group) directory.Group {
	t.Helper()
	got, err := d.CreateGroup(ctx, g)
	if err != nil {
		t.Fatalf("CreateGroup(%s): %v", g.DisplayName, err)
	}
	if got.ID == "" {
		t.Fatalf("CreateGroup(%s): empty ID", g.DisplayName)
	}
	return got
}

func mustGetGroup(t *testing.T, ctx context.Context, d directory.Directory, id string) directory.Group {
	t.Helper()
	got, err := d.GetGroup(ctx, id)
	if err != nil {
		t.Fatalf("GetGroup(%s): %v", id, err)
	}
	return got
}

// checkUser compares the attributes a client controls.
func checkUser(t *testing.T, what string, got, want directory.User) {
	t.Helper()
	if !strings.EqualFold(got.UserName, want.UserName) {
		t.Errorf("%s: UserName = %q, want %q", what, got.UserName, want.UserName)
	}
	if got.GivenName != want.GivenName || got.FamilyName != want.FamilyName {
		t.Errorf("%s: name = %q %q, want %q %q", what, got.GivenName, got.FamilyName, want.GivenName, want.FamilyName)
	}
	if got.ExternalID != want.ExternalID {
		t.Errorf("%s: ExternalID = %q, want %q", what, got.ExternalID, want.ExternalID)
	}
	if got.Active != want.Active {
		t.Errorf("%s: Active = %v, want %v", what, got.Active, want.Active)
	}
	if want.AccountType != "" && got.AccountType != want.AccountType {
		t.Errorf("%s: AccountType = %q, want %q", what, got.AccountType, want.AccountType)
	}
}

// sameUser reports differences between two reads of one unchanged user.
func sameUser(t *testing.T, what string, got, want directory.User) {
	t.Helper()
	checkUser(t, what, got, want)
	if got.ID != want.ID {
		t.Errorf("%s: ID = %q, want %q", what, got.ID, want.ID)
	}
	if got.Version != want.Version {
		t.Errorf("%s: Version = %q, want %q (unchanged user)", what, got.Version, want.Version)
	}
}

func userIDs(us []directory.User) []string {
	ids := make([]string, len(us))
	for i, u := range us {
		ids[i] = u.ID
	}
	return ids
}

func memberIDs(g directory.Group) []string {
	ids := make([]string, len(g.Members))
	for i, m := range g.Members {
		ids[i] = m.ID
	}
	sort.Strings(ids)
	return ids
}

func sorted(ids ...string) []string {
	s := slices.Clone(ids)
	sort.Strings(s)
	return s
}

func lookupUserIDs(t *testing.T, ctx context.Context, d directory.Directory, attr directory.Attr, v string) []string {
	t.Helper()
	us, err := d.LookupUsers(ctx, attr, v)
	if err != nil {
		t.Fatalf("LookupUsers(%s, %q): %v", attr, v, err)
	}
	return userIDs(us)
}

func lookupGroupIDs(t *testing.T, ctx context.Context, d directory.Directory, attr directory.Attr, v string) []string {
	t.Helper()
	gs, err := d.LookupGroups(ctx, attr, v)
	if err != nil {
		t.Fatalf("LookupGroups(%s, %q): %v", attr, v, err)
	}
	ids := make([]string, len(gs))
	for i, g := range gs {
		ids[i] = g.ID
	}
	return ids
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

func wantWrites(t *testing.T, h Harness, what string, before int) {
	t.Helper()
	if n := h.writes() - before; n != 0 {
		t.Errorf("%s: %d upstream writes, want none", what, n)
	}
}

func testReady(t *testing.T, h Harness, ctx context.Context) {
	if err := h.Dir.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
}

func testUserCreateGet(t *testing.T, h Harness, ctx context.Context) {
	want := newUser("ada.lovelace", "Ada", "Lovelace")
	want.ExternalID = "okta-ada"
	want.AccountType = h.AccountTypes[1]
	got := mustCreateUser(t, ctx, h.Dir, want)
	checkUser(t, "create", got, want)
	if got.Version == "" {
		t.Error("create: empty Version")
	}
	if got.DisplayName == "" {
		t.Error("create: empty DisplayName")
	}
	if got.Created.IsZero() || got.Modified.IsZero() {
		t.Errorf("create: Created %v, Modified %v, want both set", got.Created, got.Modified)
	}
	if !slices.ContainsFunc(got.Emails, func(e directory.Email) bool { return strings.EqualFold(e.Value, want.UserName) }) {
		t.Errorf("create: Emails = %v, want %s among them", got.Emails, want.UserName)
	}
	sameUser(t, "get after create", mustGetUser(t, ctx, h.Dir, got.ID), got)
}

// testUserCreateInactive: a user created with active=false is created
// deactivated, and says so (issue 14 defect 2: the REST path created it
// active and answered active=true).
func testUserCreateInactive(t *testing.T, h Harness, ctx context.Context) {
	want := newUser("ida.rhodes", "Ida", "Rhodes")
	want.Active = false
	got := mustCreateUser(t, ctx, h.Dir, want)
	if got.Active {
		t.Error("create with active=false answered active=true")
	}
	if g := mustGetUser(t, directory.WithFreshRead(ctx), h.Dir, got.ID); g.Active || g.Version != got.Version {
		t.Errorf("get after create = active %v, Version %s; want inactive, Version %s", g.Active, g.Version, got.Version)
	}
}

func testUserDefaults(t *testing.T, h Harness, ctx context.Context) {
	// No account type and no names: the default account type applies and
	// the names Sigma requires are completed rather than refused.
	got := mustCreateUser(t, ctx, h.Dir, directory.User{UserName: email("grace.hopper"), Active: true})
	if got.AccountType == "" {
		t.Error("AccountType empty, want the default")
	}
	if got.GivenName == "" || got.FamilyName == "" {
		t.Errorf("names = %q %q, want both completed", got.GivenName, got.FamilyName)
	}
	if !got.Active {
		t.Error("Active = false, want true")
	}
}

func testUserLookup(t *testing.T, h Harness, ctx context.Context) {
	a := newUser("alan.turing", "Alan", "Turing")
	a.ExternalID = "ext-alan"
	a = mustCreateUser(t, ctx, h.Dir, a)
	b := mustCreateUser(t, ctx, h.Dir, newUser("edsger.dijkstra", "Edsger", "Dijkstra"))

	for _, tc := range []struct {
		attr  directory.Attr
		value string
		want  []string
	}{
		{directory.AttrID, a.ID, []string{a.ID}},
		{directory.AttrID, b.ID, []string{b.ID}},
		{directory.AttrUserName, a.UserName, []string{a.ID}},
		{directory.AttrUserName, strings.ToUpper(b.UserName), []string{b.ID}},
		{directory.AttrEmail, strings.ToUpper(a.UserName), []string{a.ID}},
		{directory.AttrExternalID, "ext-alan", []string{a.ID}},
		{directory.AttrID, "no-such-member-id", nil},
		{directory.AttrUserName, email("nobody"), nil},
		{directory.AttrEmail, email("nobody"), nil},
		{directory.AttrExternalID, "ext-nobody", nil},
		{directory.AttrExternalID, "EXT-ALAN", nil}, // externalId is case-exact
	} {
		got := lookupUserIDs(t, ctx, h.Dir, tc.attr, tc.value)
		if !slices.Equal(got, tc.want) {
			t.Errorf("LookupUsers(%s, %q) = %q, want %q", tc.attr, tc.value, got, tc.want)
		}
	}
	us, err := h.Dir.LookupUsers(ctx, directory.AttrUserName, a.UserName)
	if err != nil || len(us) != 1 {
		t.Fatalf("LookupUsers(userName) = %v, %v", us, err)
	}
	sameUser(t, "lookup", us[0], a)
}

func testUserListOrder(t *testing.T, h Harness, ctx context.Context) {
	var created []string
	for _, n := range []string{"zed", "amy", "kim"} {
		created = append(created, mustCreateUser(t, ctx, h.Dir, newUser(n, n, "List")).ID)
	}
	us, err := h.Dir.ListUsers(ctx)
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	ids := userIDs(us)
	if !slices.IsSorted(ids) {
		t.Errorf("ListUsers not ordered by ID: %q", ids)
	}
	for _, id := range created {
		if !slices.Contains(ids, id) {
			t.Errorf("ListUsers lacks created user %s", id)
		}
	}
	again, err := h.Dir.ListUsers(ctx)
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	if !slices.Equal(userIDs(again), ids) {
		t.Errorf("ListUsers order changed between calls")
	}
}

func testUserDuplicateUserName(t *testing.T, h Harness, ctx context.Context) {
	u := mustCreateUser(t, ctx, h.Dir, newUser("barbara.liskov", "Barbara", "Liskov"))
	dup := newUser("barbara.liskov", "Other", "Person")
	dup.UserName = strings.ToUpper(dup.UserName)
	_, err := h.Dir.CreateUser(ctx, dup)
	wantErr(t, "duplicate CreateUser", err, directory.ErrConflict)
	if err != nil && (!strings.Contains(err.Error(), "userName") || strings.Contains(err.Error(), "externalId")) {
		t.Errorf("duplicate CreateUser: %q does not say that the userName collided", err)
	}
	sameUser(t, "after duplicate", mustGetUser(t, ctx, h.Dir, u.ID), u)
}

// testUserSharedExternalID: externalId is the IdP's own key, not unique
// (RFC 7643; Microsoft's validator sends one for several users): both
// users are created and both are found by it (issue 14 defect 3).
func testUserSharedExternalID(t *testing.T, h Harness, ctx context.Context) {
	a := newUser("ken.thompson", "Ken", "Thompson")
	a.ExternalID = "shared-ext"
	ua := mustCreateUser(t, ctx, h.Dir, a)
	b := newUser("dennis.ritchie", "Dennis", "Ritchie")
	b.ExternalID = "shared-ext"
	ub := mustCreateUser(t, ctx, h.Dir, b)
	if ids := lookupUserIDs(t, ctx, h.Dir, directory.AttrExternalID, "shared-ext"); !slices.Equal(ids, sorted(ua.ID, ub.ID)) {
		t.Errorf("LookupUsers(externalId) = %q, want both users", ids)
	}
	// A replace onto another's externalId is no conflict either.
	c := mustCreateUser(t, ctx, h.Dir, newUser("brian.kernighan", "Brian", "Kernighan"))
	c.ExternalID = "shared-ext"
	if _, err := h.Dir.ReplaceUser(ctx, c); err != nil {
		t.Fatalf("ReplaceUser onto a shared externalId: %v", err)
	}
	if ids := lookupUserIDs(t, ctx, h.Dir, directory.AttrExternalID, "shared-ext"); len(ids) != 3 {
		t.Errorf("LookupUsers(externalId) = %q, want three users", ids)
	}
	// Groups alike.
	g1 := mustCreateGroup(t, ctx, h.Dir, directory.Group{DisplayName: "Conformance Shared A", ExternalID: "shared-gext"})
	g2 := mustCreateGroup(t, ctx, h.Dir, directory.Group{DisplayName: "Conformance Shared B", ExternalID: "shared-gext"})
	if ids := lookupGroupIDs(t, ctx, h.Dir, directory.AttrExternalID, "shared-gext"); !slices.Equal(ids, sorted(g1.ID, g2.ID)) {
		t.Errorf("LookupGroups(externalId) = %q, want both groups", ids)
	}
}

// testUserNamesAsSent: the displayName and name.formatted the IdP sent
// are kept and returned on every read, not re-derived from first and last
// name (issue 14 defect 4).
func testUserNamesAsSent(t *testing.T, h Harness, ctx context.Context) {
	u := newUser("grace.hopper", "Grace", "Hopper")
	u.DisplayName, u.NameFormatted = "Rear Admiral Hopper", "Grace Brewster Murray Hopper"
	created := mustCreateUser(t, ctx, h.Dir, u)
	want := func(what string, got directory.User, display, formatted string) {
		t.Helper()
		if got.DisplayName != display || got.NameFormatted != formatted {
			t.Errorf("%s: displayName %q, name.formatted %q; want %q, %q", what, got.DisplayName, got.NameFormatted, display, formatted)
		}
	}
	want("create", created, u.DisplayName, u.NameFormatted)
	got := mustGetUser(t, ctx, h.Dir, created.ID)
	want("get", got, u.DisplayName, u.NameFormatted)
	if got.Version != created.Version {
		t.Errorf("get: Version %s, want %s", got.Version, created.Version)
	}
	us, err := h.Dir.ListUsers(ctx)
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	if i := slices.IndexFunc(us, func(x directory.User) bool { return x.ID == created.ID }); i < 0 {
		t.Error("ListUsers lacks the user")
	} else {
		want("list", us[i], u.DisplayName, u.NameFormatted)
	}
	// A new displayName alone is a change (stored, nothing upstream) and
	// a new Version; an empty one falls back to the names.
	got.DisplayName = "Amazing Grace"
	before := h.writes()
	changed, err := h.Dir.ReplaceUser(ctx, got)
	if err != nil {
		t.Fatalf("ReplaceUser(displayName): %v", err)
	}
	wantWrites(t, h, "ReplaceUser changing only the displayName", before)
	want("replace", changed, "Amazing Grace", u.NameFormatted)
	if changed.Version == created.Version {
		t.Error("replace: Version unchanged after the displayName changed")
	}
	changed.DisplayName, changed.NameFormatted = "", ""
	cleared, err := h.Dir.ReplaceUser(ctx, changed)
	if err != nil {
		t.Fatalf("ReplaceUser(no displayName): %v", err)
	}
	want("cleared", cleared, "Grace Hopper", "")
	want("get after clearing", mustGetUser(t, ctx, h.Dir, created.ID), "Grace Hopper", "")
}

func wantUnknownAccountType(t *testing.T, h Harness, what string, err error, value string) {
	t.Helper()
	var ive *directory.InvalidValueError
	if !errors.As(err, &ive) {
		t.Fatalf("%s: err = %v, want *InvalidValueError", what, err)
	}
	if ive.Attribute != "userType" || ive.Value != value {
		t.Errorf("%s: InvalidValueError{Attribute %q, Value %q}, want userType %q", what, ive.Attribute, ive.Value, value)
	}
	for _, at := range h.AccountTypes {
		if !slices.Contains(ive.Valid, at) {
			t.Errorf("%s: Valid = %q lacks %q", what, ive.Valid, at)
		}
	}
}

func testUserUnknownAccountType(t *testing.T, h Harness, ctx context.Context) {
	u := newUser("niklaus.wirth", "Niklaus", "Wirth")
	u.AccountType = "No Such Account Type"
	before := h.writes()
	_, err := h.Dir.CreateUser(ctx, u)
	wantUnknownAccountType(t, h, "CreateUser", err, u.AccountType)
	wantWrites(t, h, "CreateUser with an unknown account type", before)
	if ids := lookupUserIDs(t, ctx, h.Dir, directory.AttrUserName, u.UserName); len(ids) != 0 {
		t.Errorf("user created despite an unknown account type: %q", ids)
	}

	u.AccountType = h.AccountTypes[0]
	created := mustCreateUser(t, ctx, h.Dir, u)
	change := created
	change.GivenName = "Klaus"
	change.AccountType = "No Such Account Type"
	before = h.writes()
	_, err = h.Dir.ReplaceUser(ctx, change)
	wantUnknownAccountType(t, h, "ReplaceUser", err, change.AccountType)
	wantWrites(t, h, "ReplaceUser with an unknown account type", before)
	sameUser(t, "after rejected replace", mustGetUser(t, ctx, h.Dir, created.ID), created)
}

func testUserReplace(t *testing.T, h Harness, ctx context.Context) {
	u := newUser("john.backus", "John", "Backus")
	u.ExternalID = "ext-old"
	u.AccountType = h.AccountTypes[0]
	created := mustCreateUser(t, ctx, h.Dir, u)

	change := created
	change.GivenName = "Johnny"
	change.FamilyName = "Backus-Naur"
	change.ExternalID = "ext-new"
	change.AccountType = h.AccountTypes[1]
	got, err := h.Dir.ReplaceUser(ctx, change)
	if err != nil {
		t.Fatalf("ReplaceUser: %v", err)
	}
	checkUser(t, "replace", got, change)
	if got.ID != created.ID {
		t.Errorf("replace: ID = %q, want %q", got.ID, created.ID)
	}
	if got.Version == created.Version {
		t.Error("replace: Version unchanged after a change")
	}
	sameUser(t, "get after replace", mustGetUser(t, ctx, h.Dir, created.ID), got)
	if ids := lookupUserIDs(t, ctx, h.Dir, directory.AttrExternalID, "ext-old"); len(ids) != 0 {
		t.Errorf("old externalId still found: %q", ids)
	}
	if ids := lookupUserIDs(t, ctx, h.Dir, directory.AttrExternalID, "ext-new"); !slices.Equal(ids, []string{created.ID}) {
		t.Errorf("LookupUsers(new externalId) = %q, want %s", ids, created.ID)
	}

	// Replacing with what is already there changes nothing and writes
	// nothing upstream.
	before := h.writes()
	same, err := h.Dir.ReplaceUser(ctx, got)
	if err != nil {
		t.Fatalf("no-op ReplaceUser: %v", err)
	}
	sameUser(t, "no-op replace", same, got)
	wantWrites(t, h, "no-op ReplaceUser", before)
}

func testUserDeactivateReactivate(t *testing.T, h Harness, ctx context.Context) {
	created := mustCreateUser(t, ctx, h.Dir, newUser("frances.allen", "Frances", "Allen"))
	off := created
	off.Active = false
	got, err := h.Dir.ReplaceUser(ctx, off)
	if err != nil {
		t.Fatalf("ReplaceUser(active=false): %v", err)
	}
	checkUser(t, "deactivate", got, off)
	sameUser(t, "get after deactivate", mustGetUser(t, ctx, h.Dir, created.ID), got)
	// A deactivated user is still listed and found, as inactive.
	us, err := h.Dir.ListUsers(ctx)
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	i := slices.IndexFunc(us, func(u directory.User) bool { return u.ID == created.ID })
	if i < 0 || us[i].Active {
		t.Errorf("ListUsers: deactivated user missing or active")
	}
	if ids := lookupUserIDs(t, ctx, h.Dir, directory.AttrUserName, created.UserName); !slices.Equal(ids, []string{created.ID}) {
		t.Errorf("LookupUsers(userName) of a deactivated user = %q", ids)
	}

	on := got
	on.Active = true
	got, err = h.Dir.ReplaceUser(ctx, on)
	if err != nil {
		t.Fatalf("ReplaceUser(active=true): %v", err)
	}
	checkUser(t, "reactivate", got, on)
	sameUser(t, "get after reactivate", mustGetUser(t, ctx, h.Dir, created.ID), got)
}

func testUserCreateRevivesDeactivated(t *testing.T, h Harness, ctx context.Context) {
	created := mustCreateUser(t, ctx, h.Dir, newUser("margaret.hamilton", "Margaret", "Hamilton"))
	off := created
	off.Active = false
	if _, err := h.Dir.ReplaceUser(ctx, off); err != nil {
		t.Fatalf("ReplaceUser(active=false): %v", err)
	}
	again := newUser("margaret.hamilton", "Maggie", "Hamilton")
	again.ExternalID = "ext-maggie"
	got, err := h.Dir.CreateUser(ctx, again)
	if err != nil {
		t.Fatalf("CreateUser of a deactivated user: %v", err)
	}
	if got.ID != created.ID {
		t.Errorf("revived ID = %q, want the existing member %q", got.ID, created.ID)
	}
	checkUser(t, "revive", got, again)
	sameUser(t, "get after revive", mustGetUser(t, ctx, h.Dir, created.ID), got)
}

func testUserDeleteAndRevive(t *testing.T, h Harness, ctx context.Context) {
	u := newUser("tony.hoare", "Tony", "Hoare")
	u.ExternalID = "ext-tony"
	created := mustCreateUser(t, ctx, h.Dir, u)
	if err := h.Dir.DeleteUser(ctx, created.ID); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	_, err := h.Dir.GetUser(ctx, created.ID)
	wantErr(t, "GetUser after delete", err, directory.ErrNotFound)
	for _, q := range []struct {
		attr  directory.Attr
		value string
	}{
		{directory.AttrID, created.ID},
		{directory.AttrUserName, created.UserName},
		{directory.AttrEmail, created.UserName},
		{directory.AttrExternalID, "ext-tony"},
	} {
		if ids := lookupUserIDs(t, ctx, h.Dir, q.attr, q.value); len(ids) != 0 {
			t.Errorf("LookupUsers(%s) after delete = %q, want none", q.attr, ids)
		}
	}
	us, err := h.Dir.ListUsers(ctx)
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	if slices.Contains(userIDs(us), created.ID) {
		t.Error("ListUsers still lists a deleted user")
	}
	wantErr(t, "second DeleteUser", h.Dir.DeleteUser(ctx, created.ID), directory.ErrNotFound)
	_, err = h.Dir.ReplaceUser(ctx, created)
	wantErr(t, "ReplaceUser of a deleted user", err, directory.ErrNotFound)

	// The IdP creating the same userName again revives the member.
	again := newUser("tony.hoare", "Charles", "Hoare")
	again.ExternalID = "ext-tony-2"
	got, err := h.Dir.CreateUser(ctx, again)
	if err != nil {
		t.Fatalf("CreateUser after delete: %v", err)
	}
	if got.ID != created.ID {
		t.Errorf("revived ID = %q, want the existing member %q", got.ID, created.ID)
	}
	checkUser(t, "revive", got, again)
	sameUser(t, "get after revive", mustGetUser(t, ctx, h.Dir, created.ID), got)
	if ids := lookupUserIDs(t, ctx, h.Dir, directory.AttrUserName, created.UserName); !slices.Equal(ids, []string{created.ID}) {
		t.Errorf("LookupUsers(userName) after revive = %q", ids)
	}
}

func testUserNotFound(t *testing.T, h Harness, ctx context.Context) {
	_, err := h.Dir.GetUser(ctx, "no-such-member-id")
	wantErr(t, "GetUser", err, directory.ErrNotFound)
	u := newUser("nobody", "No", "Body")
	u.ID = "no-such-member-id"
	_, err = h.Dir.ReplaceUser(ctx, u)
	wantErr(t, "ReplaceUser", err, directory.ErrNotFound)
	wantErr(t, "DeleteUser", h.Dir.DeleteUser(ctx, "no-such-member-id"), directory.ErrNotFound)
}

func testUserConcurrentCreate(t *testing.T, h Harness, ctx context.Context) {
	const n = 8
	var (
		wg                   sync.WaitGroup
		mu                   sync.Mutex
		ok, conflict, others int
		otherErr             error
	)
	for i := range n {
		wg.Go(func() {
			u := newUser("race", "Race", fmt.Sprintf("Runner%d", i))
			_, err := h.Dir.CreateUser(ctx, u)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, directory.ErrConflict):
				conflict++
			default:
				others++
				otherErr = err
			}
		})
	}
	wg.Wait()
	if ok != 1 || conflict != n-1 {
		t.Errorf("%d concurrent creates: %d ok, %d conflict, %d other (%v); want 1 ok, %d conflict", n, ok, conflict, others, otherErr, n-1)
	}
	if ids := lookupUserIDs(t, ctx, h.Dir, directory.AttrUserName, email("race")); len(ids) != 1 {
		t.Errorf("LookupUsers after concurrent creates = %q, want one user", ids)
	}
}

func createUsers(t *testing.T, ctx context.Context, d directory.Directory, prefix string, n int) []directory.User {
	t.Helper()
	us := make([]directory.User, n)
	for i := range us {
		us[i] = mustCreateUser(t, ctx, d, newUser(fmt.Sprintf("%s%d", prefix, i), "Member", fmt.Sprintf("Number%d", i)))
	}
	return us
}

func checkMembers(t *testing.T, what string, g directory.Group, want ...directory.User) {
	t.Helper()
	var ids []string
	for _, u := range want {
		ids = append(ids, u.ID)
	}
	if got := memberIDs(g); !slices.Equal(got, sorted(ids...)) {
		t.Errorf("%s: members = %q, want %q", what, got, sorted(ids...))
	}
	for _, m := range g.Members {
		i := slices.IndexFunc(want, func(u directory.User) bool { return u.ID == m.ID })
		if i >= 0 && !strings.EqualFold(m.Display, want[i].UserName) {
			t.Errorf("%s: member %s Display = %q, want %q", what, m.ID, m.Display, want[i].UserName)
		}
	}
}

func userInGroup(t *testing.T, ctx context.Context, d directory.Directory, userID, groupID string) bool {
	t.Helper()
	u := mustGetUser(t, ctx, d, userID)
	return slices.ContainsFunc(u.Groups, func(r directory.Ref) bool { return r.ID == groupID })
}

func testGroupCreateGet(t *testing.T, h Harness, ctx context.Context) {
	us := createUsers(t, ctx, h.Dir, "gcg", 2)
	g := mustCreateGroup(t, ctx, h.Dir, directory.Group{
		DisplayName: "Conformance Engineering",
		ExternalID:  "ext-eng",
		Members:     []directory.Ref{{ID: us[0].ID}, {ID: us[1].ID}},
	})
	if g.DisplayName != "Conformance Engineering" || g.ExternalID != "ext-eng" {
		t.Errorf("create: DisplayName %q ExternalID %q", g.DisplayName, g.ExternalID)
	}
	checkMembers(t, "create", g, us...)
	if g.Version == "" {
		t.Error("create: empty Version")
	}
	got := mustGetGroup(t, ctx, h.Dir, g.ID)
	checkMembers(t, "get", got, us...)
	if got.DisplayName != g.DisplayName || got.ExternalID != g.ExternalID || got.Version != g.Version {
		t.Errorf("get = %+v, want %+v", got, g)
	}
	if !userInGroup(t, ctx, h.Dir, us[0].ID, g.ID) {
		t.Error("member's Groups lacks the new group")
	}

	empty := mustCreateGroup(t, ctx, h.Dir, directory.Group{DisplayName: "Conformance Empty"})
	checkMembers(t, "empty group", mustGetGroup(t, ctx, h.Dir, empty.ID))
}

func testGroupDuplicateName(t *testing.T, h Harness, ctx context.Context) {
	g := mustCreateGroup(t, ctx, h.Dir, directory.Group{DisplayName: "Conformance Dup"})
	_, err := h.Dir.CreateGroup(ctx, directory.Group{DisplayName: "Conformance Dup"})
	wantErr(t, "duplicate CreateGroup", err, directory.ErrConflict)
	gs, err := h.Dir.ListGroups(ctx)
	if err != nil {
		t.Fatalf("ListGroups: %v", err)
	}
	n := 0
	for _, x := range gs {
		if x.DisplayName == g.DisplayName {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d groups named %q, want 1", n, g.DisplayName)
	}
}

func testGroupLookup(t *testing.T, h Harness, ctx context.Context) {
	a := mustCreateGroup(t, ctx, h.Dir, directory.Group{DisplayName: "Conformance Alpha", ExternalID: "ext-alpha"})
	b := mustCreateGroup(t, ctx, h.Dir, directory.Group{DisplayName: "Conformance Beta"})
	for _, tc := range []struct {
		attr  directory.Attr
		value string
		want  []string
	}{
		{directory.AttrID, a.ID, []string{a.ID}},
		{directory.AttrDisplayName, "Conformance Beta", []string{b.ID}},
		{directory.AttrExternalID, "ext-alpha", []string{a.ID}},
		{directory.AttrID, "no-such-team-id", nil},
		{directory.AttrDisplayName, "Conformance Gamma", nil},
		{directory.AttrExternalID, "ext-gamma", nil},
	} {
		got := lookupGroupIDs(t, ctx, h.Dir, tc.attr, tc.value)
		if !slices.Equal(got, tc.want) {
			t.Errorf("LookupGroups(%s, %q) = %q, want %q", tc.attr, tc.value, got, tc.want)
		}
	}
}

func testGroupListOrder(t *testing.T, h Harness, ctx context.Context) {
	var created []string
	for _, n := range []string{"Conformance Z", "Conformance A", "Conformance K"} {
		created = append(created, mustCreateGroup(t, ctx, h.Dir, directory.Group{DisplayName: n}).ID)
	}
	gs, err := h.Dir.ListGroups(ctx)
	if err != nil {
		t.Fatalf("ListGroups: %v", err)
	}
	var ids []string
	for _, g := range gs {
		ids = append(ids, g.ID)
	}
	if !slices.IsSorted(ids) {
		t.Errorf("ListGroups not ordered by ID: %q", ids)
	}
	for _, id := range created {
		if !slices.Contains(ids, id) {
			t.Errorf("ListGroups lacks created group %s", id)
		}
	}
}

// testGroupWithoutMembers: under directory.WithoutMembers a group read
// returns the Version the group has with its members (or the members as
// usual, for a directory that ignores the option).
func testGroupWithoutMembers(t *testing.T, h Harness, ctx context.Context) {
	us := createUsers(t, ctx, h.Dir, "lean", 3)
	g := mustCreateGroup(t, ctx, h.Dir, directory.Group{DisplayName: "Conformance Lean", ExternalID: "ext-lean",
		Members: []directory.Ref{{ID: us[0].ID}, {ID: us[1].ID}, {ID: us[2].ID}}})
	u := us[2]
	u.Active = false // a deactivated member is not shown: the version follows
	if _, err := h.Dir.ReplaceUser(ctx, u); err != nil {
		t.Fatalf("deactivate: %v", err)
	}
	full := mustGetGroup(t, ctx, h.Dir, g.ID)
	lean := directory.WithoutMembers(ctx)
	check := func(what string, got directory.Group) {
		t.Helper()
		if got.Version != full.Version {
			t.Errorf("%s without members: version %s, with members %s", what, got.Version, full.Version)
		}
		if got.Members != nil && len(got.Members) != len(full.Members) {
			t.Errorf("%s without members: %d members, neither none nor the %d of the group", what, len(got.Members), len(full.Members))
		}
	}
	for _, c := range []context.Context{lean, directory.WithFreshRead(lean)} {
		got, err := h.Dir.GetGroup(c, g.ID)
		if err != nil {
			t.Fatalf("GetGroup without members: %v", err)
		}
		check("GetGroup", got)
	}
	for _, l := range []struct {
		attr  directory.Attr
		value string
	}{{directory.AttrID, g.ID}, {directory.AttrDisplayName, g.DisplayName}, {directory.AttrExternalID, "ext-lean"}} {
		gs, err := h.Dir.LookupGroups(lean, l.attr, l.value)
		if err != nil || len(gs) != 1 {
			t.Fatalf("LookupGroups(%s) without members = %d groups, %v", l.attr, len(gs), err)
		}
		check("LookupGroups("+string(l.attr)+")", gs[0])
	}
	gs, err := h.Dir.ListGroups(lean)
	if err != nil {
		t.Fatalf("ListGroups without members: %v", err)
	}
	i := slices.IndexFunc(gs, func(x directory.Group) bool { return x.ID == g.ID })
	if i < 0 {
		t.Fatalf("ListGroups without members lacks %s", g.ID)
	}
	check("ListGroups", gs[i])
}

func testGroupRename(t *testing.T, h Harness, ctx context.Context) {
	us := createUsers(t, ctx, h.Dir, "ren", 1)
	g := mustCreateGroup(t, ctx, h.Dir, directory.Group{DisplayName: "Conformance Old", Members: []directory.Ref{{ID: us[0].ID}}})
	other := mustCreateGroup(t, ctx, h.Dir, directory.Group{DisplayName: "Conformance Taken"})

	g.DisplayName = "Conformance New"
	got, err := h.Dir.ReplaceGroup(ctx, g)
	if err != nil {
		t.Fatalf("ReplaceGroup(rename): %v", err)
	}
	if got.DisplayName != "Conformance New" {
		t.Errorf("rename: DisplayName = %q", got.DisplayName)
	}
	checkMembers(t, "rename", got, us...)
	if got.Version == g.Version {
		t.Error("rename: Version unchanged")
	}
	if ids := lookupGroupIDs(t, ctx, h.Dir, directory.AttrDisplayName, "Conformance Old"); len(ids) != 0 {
		t.Errorf("old name still found: %q", ids)
	}
	if ids := lookupGroupIDs(t, ctx, h.Dir, directory.AttrDisplayName, "Conformance New"); !slices.Equal(ids, []string{g.ID}) {
		t.Errorf("LookupGroups(new name) = %q", ids)
	}

	got.DisplayName = other.DisplayName
	_, err = h.Dir.ReplaceGroup(ctx, got)
	wantErr(t, "rename onto a taken name", err, directory.ErrConflict)
	if after := mustGetGroup(t, ctx, h.Dir, g.ID); after.DisplayName != "Conformance New" {
		t.Errorf("after refused rename: DisplayName = %q", after.DisplayName)
	}
}

func testGroupReplaceMembers(t *testing.T, h Harness, ctx context.Context) {
	us := createUsers(t, ctx, h.Dir, "rep", 3)
	g := mustCreateGroup(t, ctx, h.Dir, directory.Group{
		DisplayName: "Conformance Replace",
		Members:     []directory.Ref{{ID: us[0].ID}, {ID: us[1].ID}},
	})
	g.Members = []directory.Ref{{ID: us[1].ID}, {ID: us[2].ID}}
	got, err := h.Dir.ReplaceGroup(ctx, g)
	if err != nil {
		t.Fatalf("ReplaceGroup: %v", err)
	}
	checkMembers(t, "replace", got, us[1], us[2])
	checkMembers(t, "get after replace", mustGetGroup(t, ctx, h.Dir, g.ID), us[1], us[2])
	if userInGroup(t, ctx, h.Dir, us[0].ID, g.ID) {
		t.Error("removed member still lists the group")
	}
	if !userInGroup(t, ctx, h.Dir, us[2].ID, g.ID) {
		t.Error("added member does not list the group")
	}

	before := h.writes()
	same, err := h.Dir.ReplaceGroup(ctx, got)
	if err != nil {
		t.Fatalf("no-op ReplaceGroup: %v", err)
	}
	checkMembers(t, "no-op replace", same, us[1], us[2])
	wantWrites(t, h, "no-op ReplaceGroup", before)

	// Members nil: a rename that leaves membership as Sigma has it, even
	// a member added after the caller read the group (another request,
	// another replica).
	stale := got
	if _, err := h.Dir.ModifyGroupMembers(ctx, g.ID, []string{us[0].ID}, nil); err != nil {
		t.Fatalf("ModifyGroupMembers: %v", err)
	}
	stale.Members = nil
	stale.DisplayName = got.DisplayName + " Renamed"
	renamed, err := h.Dir.ReplaceGroup(ctx, stale)
	if err != nil {
		t.Fatalf("ReplaceGroup(nil members): %v", err)
	}
	if renamed.DisplayName != stale.DisplayName {
		t.Errorf("rename with nil members: displayName %q, want %q", renamed.DisplayName, stale.DisplayName)
	}
	checkMembers(t, "rename with nil members", renamed, us[0], us[1], us[2])
	if fresh, err := h.Dir.GetGroup(directory.WithFreshRead(ctx), g.ID); err != nil {
		t.Fatalf("GetGroup: %v", err)
	} else {
		checkMembers(t, "group after rename with nil members", fresh, us[0], us[1], us[2])
	}

	got = renamed
	got.Members = []directory.Ref{}
	emptied, err := h.Dir.ReplaceGroup(ctx, got)
	if err != nil {
		t.Fatalf("ReplaceGroup(no members): %v", err)
	}
	checkMembers(t, "replace with no members", emptied)

	_, err = h.Dir.ReplaceGroup(ctx, directory.Group{ID: "no-such-team-id", DisplayName: "Conformance Ghost"})
	wantErr(t, "ReplaceGroup of an unknown group", err, directory.ErrNotFound)
}

func testGroupModifyMembers(t *testing.T, h Harness, ctx context.Context) {
	us := createUsers(t, ctx, h.Dir, "mod", 3)
	g := mustCreateGroup(t, ctx, h.Dir, directory.Group{DisplayName: "Conformance Modify"})

	got, err := h.Dir.ModifyGroupMembers(ctx, g.ID, []string{us[0].ID, us[1].ID}, nil)
	if err != nil {
		t.Fatalf("add: %v", err)
	}
	checkMembers(t, "add", got, us[0], us[1])
	if !userInGroup(t, ctx, h.Dir, us[1].ID, g.ID) {
		t.Error("added member does not list the group")
	}

	got, err = h.Dir.ModifyGroupMembers(ctx, g.ID, []string{us[2].ID}, []string{us[0].ID})
	if err != nil {
		t.Fatalf("add and remove: %v", err)
	}
	checkMembers(t, "add and remove", got, us[1], us[2])

	// Removing a non-member and re-adding a member are no-ops, not errors.
	got, err = h.Dir.ModifyGroupMembers(ctx, g.ID, []string{us[1].ID}, []string{us[0].ID})
	if err != nil {
		t.Fatalf("idempotent modify: %v", err)
	}
	checkMembers(t, "idempotent modify", got, us[1], us[2])
	checkMembers(t, "get after modify", mustGetGroup(t, ctx, h.Dir, g.ID), us[1], us[2])

	// Without an answer (the edge's 204) the change is made all the same,
	// and the group returned may hold only its id: no member list is built.
	got, err = h.Dir.ModifyGroupMembers(directory.WithoutAnswer(ctx), g.ID, []string{us[0].ID}, []string{us[2].ID})
	if err != nil {
		t.Fatalf("modify without an answer: %v", err)
	}
	if got.ID != g.ID || len(got.Members) != 0 {
		t.Errorf("modify without an answer returned %s with %d members, want only the id %s", got.ID, len(got.Members), g.ID)
	}
	checkMembers(t, "get after a modify without an answer", mustGetGroup(t, ctx, h.Dir, g.ID), us[0], us[1])
	if _, err := h.Dir.ModifyGroupMembers(ctx, g.ID, []string{us[2].ID}, []string{us[0].ID}); err != nil {
		t.Fatalf("restore: %v", err)
	}

	// Adding a user that does not exist is the caller's mistake; nothing changes.
	_, err = h.Dir.ModifyGroupMembers(ctx, g.ID, []string{"no-such-member-id", us[0].ID}, nil)
	var ive *directory.InvalidValueError
	if !errors.As(err, &ive) || ive.Attribute != "members" || ive.Value != "no-such-member-id" {
		t.Errorf("add of an unknown user: err = %v, want *InvalidValueError for members %q", err, "no-such-member-id")
	}
	checkMembers(t, "after refused add", mustGetGroup(t, ctx, h.Dir, g.ID), us[1], us[2])

	_, err = h.Dir.ModifyGroupMembers(ctx, "no-such-team-id", []string{us[0].ID}, nil)
	wantErr(t, "modify of an unknown group", err, directory.ErrNotFound)
}

func testGroupConcurrentModifyMembers(t *testing.T, h Harness, ctx context.Context) {
	const n = 8
	us := createUsers(t, ctx, h.Dir, "conc", n)
	g := mustCreateGroup(t, ctx, h.Dir, directory.Group{DisplayName: "Conformance Concurrent"})
	run := func(what string, fn func(u directory.User) error) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for _, u := range us {
			wg.Go(func() { errs <- fn(u) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("concurrent %s: %v", what, err)
			}
		}
	}
	run("add", func(u directory.User) error {
		_, err := h.Dir.ModifyGroupMembers(ctx, g.ID, []string{u.ID}, nil)
		return err
	})
	checkMembers(t, "after concurrent adds", mustGetGroup(t, ctx, h.Dir, g.ID), us...)

	// Half remove themselves while the other half are re-added.
	run("add/remove", func(u directory.User) error {
		i := slices.IndexFunc(us, func(x directory.User) bool { return x.ID == u.ID })
		var err error
		if i%2 == 0 {
			_, err = h.Dir.ModifyGroupMembers(ctx, g.ID, nil, []string{u.ID})
		} else {
			_, err = h.Dir.ModifyGroupMembers(ctx, g.ID, []string{u.ID}, nil)
		}
		return err
	})
	var odd []directory.User
	for i, u := range us {
		if i%2 == 1 {
			odd = append(odd, u)
		}
	}
	checkMembers(t, "after concurrent add/remove", mustGetGroup(t, ctx, h.Dir, g.ID), odd...)
}

// testUserCreateAnswerLost: Sigma applies a create whose answer is lost,
// and the lookups of its outcome fail too, so the directory cannot tell
// whether the member exists: a retryable error. The IdP's retry of the
// same create (same request id, as IdPs resend their X-Request-Id) ends
// with the member Sigma made — a success, not a 409, which Okta and Entra
// take for a failure —, one member with the email, the externalId kept,
// and one ok entry in the audit trail. A create after that is a conflict
// again (soak defect C: the retry was answered 409 and the trail had no
// ok entry).
func testUserCreateAnswerLost(t *testing.T, h Harness, ctx context.Context) {
	if h.LoseNextCreateAnswer == nil || h.AuditOutcomes == nil {
		t.Skip("harness cannot lose a create's answer or read the audit trail")
	}
	u := newUser("grace.hopper", "Grace", "Hopper")
	u.ExternalID = "ext-lost-create"
	answerLost(t, h, "CreateUser", func() error { _, err := h.Dir.CreateUser(ctx, u); return err })
	got, err := h.Dir.CreateUser(ctx, u)
	if err != nil {
		t.Fatalf("the IdP's retry of the create: %v, want the member Sigma created", err)
	}
	if got.ExternalID != u.ExternalID || got.GivenName != "Grace" || !got.Active {
		t.Errorf("the retry answered %+v", got)
	}
	if ids := lookupUserIDs(t, ctx, h.Dir, directory.AttrUserName, u.UserName); !slices.Equal(ids, []string{got.ID}) {
		t.Errorf("LookupUsers(userName) = %q, want only %s", ids, got.ID)
	}
	if ids := lookupUserIDs(t, ctx, h.Dir, directory.AttrExternalID, u.ExternalID); !slices.Equal(ids, []string{got.ID}) {
		t.Errorf("LookupUsers(externalId) = %q, want only %s", ids, got.ID)
	}
	oneOK(t, h, "user.create", got.ID)
	_, err = h.Dir.CreateUser(ctx, u)
	wantErr(t, "CreateUser once the lost create is recorded", err, directory.ErrConflict)
}

// answerLost runs create with its answer, and the lookups after it, lost:
// the directory cannot know the outcome and must say so with a retryable
// error (the IdP retries).
func answerLost(t *testing.T, h Harness, what string, create func() error) {
	t.Helper()
	heal := h.LoseNextCreateAnswer()
	err := create()
	heal()
	var ue *directory.UpstreamError
	if !errors.As(err, &ue) || !ue.Retryable {
		t.Fatalf("%s with its answer and the lookups lost: %v, want a retryable *directory.UpstreamError", what, err)
	}
}

// oneOK checks that the audit trail has exactly one ok entry of op on id.
func oneOK(t *testing.T, h Harness, op, id string) {
	t.Helper()
	outs := h.AuditOutcomes(op, id)
	if oks := len(slices.DeleteFunc(slices.Clone(outs), func(o string) bool { return o != "ok" })); oks != 1 {
		t.Errorf("audit outcomes of %s %s = %q, want exactly one ok", op, id, outs)
	}
}

// testGroupCreateAnswerLost is testUserCreateAnswerLost for a group: the
// retry gets the team Sigma made, with the members and externalId asked
// for, and the trail one ok entry.
func testGroupCreateAnswerLost(t *testing.T, h Harness, ctx context.Context) {
	if h.LoseNextCreateAnswer == nil || h.AuditOutcomes == nil {
		t.Skip("harness cannot lose a create's answer or read the audit trail")
	}
	us := createUsers(t, ctx, h.Dir, "lostgrp", 2)
	g := directory.Group{DisplayName: "Conformance Lost Create", ExternalID: "ext-lost-group",
		Members: []directory.Ref{{ID: us[0].ID}, {ID: us[1].ID}}}
	answerLost(t, h, "CreateGroup", func() error { _, err := h.Dir.CreateGroup(ctx, g); return err })
	got, err := h.Dir.CreateGroup(ctx, g)
	if err != nil {
		t.Fatalf("the IdP's retry of the create: %v, want the team Sigma created", err)
	}
	if got.ExternalID != g.ExternalID {
		t.Errorf("the retry answered externalId %q", got.ExternalID)
	}
	checkMembers(t, "after the retry", mustGetGroup(t, ctx, h.Dir, got.ID), us...)
	if ids := lookupGroupIDs(t, ctx, h.Dir, directory.AttrDisplayName, g.DisplayName); !slices.Equal(ids, []string{got.ID}) {
		t.Errorf("LookupGroups(displayName) = %q, want only %s", ids, got.ID)
	}
	oneOK(t, h, "group.create", got.ID)
	_, err = h.Dir.CreateGroup(ctx, g)
	wantErr(t, "CreateGroup once the lost create is recorded", err, directory.ErrConflict)
}

// testGroupDeleteAnswerLost: Sigma deletes the team but the answer is
// lost; the retry finds it gone. For the IdP the delete succeeded, and the
// group's name and externalId are free (issue 14 defect 1: the bridge
// answered 404 and never tombstoned the group, so a later create with the
// same externalId was refused).
func testGroupDeleteAnswerLost(t *testing.T, h Harness, ctx context.Context) {
	if h.LoseNextDeleteAnswer == nil {
		t.Skip("harness cannot lose an answer")
	}
	g := mustCreateGroup(t, ctx, h.Dir, directory.Group{DisplayName: "Conformance Lost Answer", ExternalID: "ext-lost"})
	h.LoseNextDeleteAnswer()
	if err := h.Dir.DeleteGroup(ctx, g.ID); err != nil {
		t.Fatalf("DeleteGroup whose answer was lost: %v, want success", err)
	}
	_, err := h.Dir.GetGroup(ctx, g.ID)
	wantErr(t, "GetGroup after delete", err, directory.ErrNotFound)
	if ids := lookupGroupIDs(t, ctx, h.Dir, directory.AttrExternalID, "ext-lost"); len(ids) != 0 {
		t.Errorf("LookupGroups(externalId) after delete = %q", ids)
	}
	again := mustCreateGroup(t, ctx, h.Dir, directory.Group{DisplayName: "Conformance Lost Answer", ExternalID: "ext-lost"})
	if ids := lookupGroupIDs(t, ctx, h.Dir, directory.AttrExternalID, "ext-lost"); !slices.Equal(ids, []string{again.ID}) {
		t.Errorf("LookupGroups(externalId) after re-create = %q, want %s", ids, again.ID)
	}
}

func testGroupDelete(t *testing.T, h Harness, ctx context.Context) {
	us := createUsers(t, ctx, h.Dir, "del", 1)
	g := mustCreateGroup(t, ctx, h.Dir, directory.Group{DisplayName: "Conformance Doomed", ExternalID: "ext-doomed", Members: []directory.Ref{{ID: us[0].ID}}})
	if err := h.Dir.DeleteGroup(ctx, g.ID); err != nil {
		t.Fatalf("DeleteGroup: %v", err)
	}
	_, err := h.Dir.GetGroup(ctx, g.ID)
	wantErr(t, "GetGroup after delete", err, directory.ErrNotFound)
	for _, q := range []struct {
		attr  directory.Attr
		value string
	}{
		{directory.AttrID, g.ID},
		{directory.AttrDisplayName, g.DisplayName},
		{directory.AttrExternalID, "ext-doomed"},
	} {
		if ids := lookupGroupIDs(t, ctx, h.Dir, q.attr, q.value); len(ids) != 0 {
			t.Errorf("LookupGroups(%s) after delete = %q", q.attr, ids)
		}
	}
	if userInGroup(t, ctx, h.Dir, us[0].ID, g.ID) {
		t.Error("former member still lists the deleted group")
	}
	gs, err := h.Dir.ListGroups(ctx)
	if err != nil {
		t.Fatalf("ListGroups: %v", err)
	}
	if slices.ContainsFunc(gs, func(x directory.Group) bool { return x.ID == g.ID }) {
		t.Error("ListGroups still lists the deleted group")
	}
	wantErr(t, "second DeleteGroup", h.Dir.DeleteGroup(ctx, g.ID), directory.ErrNotFound)
	_, err = h.Dir.ModifyGroupMembers(ctx, g.ID, []string{us[0].ID}, nil)
	wantErr(t, "ModifyGroupMembers after delete", err, directory.ErrNotFound)

	// The name and externalId are free again.
	again := mustCreateGroup(t, ctx, h.Dir, directory.Group{DisplayName: "Conformance Doomed", ExternalID: "ext-doomed"})
	if ids := lookupGroupIDs(t, ctx, h.Dir, directory.AttrExternalID, "ext-doomed"); !slices.Equal(ids, []string{again.ID}) {
		t.Errorf("LookupGroups(externalId) after re-create = %q, want %s", ids, again.ID)
	}
}

// aliased is a user whose IdP sent userName alias (not an email), which
// the edge replaced by the work email.
func aliased(local, alias string) directory.User {
	u := newUser(local, "Alias", "User")
	u.IdPUserName = alias
	return u
}

func wantAlias(t *testing.T, what string, got directory.User, want string) {
	t.Helper()
	if got.IdPUserName != want {
		t.Errorf("%s: IdPUserName = %q, want %q", what, got.IdPUserName, want)
	}
}

func testUserIdPUserName(t *testing.T, h Harness, ctx context.Context) {
	u := aliased("jane.roe", "JRoe")
	u.ExternalID = "ext-jroe"
	created := mustCreateUser(t, ctx, h.Dir, u)
	checkUser(t, "create", created, u)
	wantAlias(t, "create", created, "JRoe")
	got := mustGetUser(t, ctx, h.Dir, created.ID)
	sameUser(t, "get", got, created)
	wantAlias(t, "get", got, "JRoe")
	us, err := h.Dir.ListUsers(ctx)
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	if i := slices.IndexFunc(us, func(x directory.User) bool { return x.ID == created.ID }); i < 0 {
		t.Error("ListUsers lacks the user")
	} else {
		wantAlias(t, "list", us[i], "JRoe")
	}

	// Found by its IdP userName in any case, and by its email as before;
	// its IdP userName is not an email.
	for _, tc := range []struct {
		attr  directory.Attr
		value string
		want  []string
	}{
		{directory.AttrUserName, "JRoe", []string{created.ID}},
		{directory.AttrUserName, "jroe", []string{created.ID}},
		{directory.AttrUserName, "JROE", []string{created.ID}},
		{directory.AttrUserName, u.UserName, []string{created.ID}},
		{directory.AttrUserName, "jroe2", nil},
		{directory.AttrUserName, "3f0c6b1e-5a4e-4c8e-9e55-0f1c1d2e3f40", nil},
		{directory.AttrEmail, "jroe", nil},
	} {
		if got := lookupUserIDs(t, ctx, h.Dir, tc.attr, tc.value); !slices.Equal(got, tc.want) {
			t.Errorf("LookupUsers(%s, %q) = %q, want %q", tc.attr, tc.value, got, tc.want)
		}
	}
	found, err := h.Dir.LookupUsers(ctx, directory.AttrUserName, "jroe")
	if err != nil || len(found) != 1 {
		t.Fatalf("LookupUsers(jroe) = %v, %v", found, err)
	}
	sameUser(t, "lookup by IdP userName", found[0], created)
	wantAlias(t, "lookup by IdP userName", found[0], "JRoe")

	// A value without "@" is no Sigma email: answered without a call.
	if h.UpstreamCalls != nil {
		calls := h.UpstreamCalls()
		lookupUserIDs(t, ctx, h.Dir, directory.AttrUserName, "3f0c6b1e-5a4e-4c8e-9e55-0f1c1d2e3f40")
		lookupUserIDs(t, ctx, h.Dir, directory.AttrEmail, "jroe")
		if n := h.UpstreamCalls() - calls; n != 0 {
			t.Errorf("lookups of values without @ cost %d upstream calls, want none", n)
		}
	}

	// Changing it (case included) is a change, kept in the store alone
	// (nothing is written upstream); the old one is gone.
	prev := created
	created.IdPUserName = "jane.r"
	before := h.writes()
	changed, err := h.Dir.ReplaceUser(ctx, created)
	if err != nil {
		t.Fatalf("ReplaceUser(new IdP userName): %v", err)
	}
	wantWrites(t, h, "ReplaceUser changing only the IdP userName", before)
	wantAlias(t, "replace", changed, "jane.r")
	if changed.Version == prev.Version {
		t.Error("replace: Version unchanged after the IdP userName changed")
	}
	sameUser(t, "get after replace", mustGetUser(t, ctx, h.Dir, created.ID), changed)
	if ids := lookupUserIDs(t, ctx, h.Dir, directory.AttrUserName, "jroe"); len(ids) != 0 {
		t.Errorf("old IdP userName still found: %q", ids)
	}
	if ids := lookupUserIDs(t, ctx, h.Dir, directory.AttrUserName, "Jane.R"); !slices.Equal(ids, []string{created.ID}) {
		t.Errorf("LookupUsers(new IdP userName) = %q, want %s", ids, created.ID)
	}
	changed.IdPUserName = "Jane.R"
	recased, err := h.Dir.ReplaceUser(ctx, changed)
	if err != nil {
		t.Fatalf("ReplaceUser(IdP userName in another case): %v", err)
	}
	wantAlias(t, "replace with another case", recased, "Jane.R")

	// An unchanged replace writes nothing; an empty one clears it.
	before = h.writes()
	same, err := h.Dir.ReplaceUser(ctx, recased)
	if err != nil {
		t.Fatalf("no-op ReplaceUser: %v", err)
	}
	sameUser(t, "no-op replace", same, recased)
	wantWrites(t, h, "no-op ReplaceUser with an IdP userName", before)
	recased.IdPUserName = ""
	cleared, err := h.Dir.ReplaceUser(ctx, recased)
	if err != nil {
		t.Fatalf("ReplaceUser(no IdP userName): %v", err)
	}
	wantAlias(t, "cleared", cleared, "")
	wantAlias(t, "get after clearing", mustGetUser(t, ctx, h.Dir, created.ID), "")
	if ids := lookupUserIDs(t, ctx, h.Dir, directory.AttrUserName, "jane.r"); len(ids) != 0 {
		t.Errorf("cleared IdP userName still found: %q", ids)
	}
}

func testUserIdPUserNameTaken(t *testing.T, h Harness, ctx context.Context) {
	a := mustCreateUser(t, ctx, h.Dir, aliased("alias.holder", "shared.login"))

	// Another person with the same IdP userName, in any case: refused
	// before anything is written.
	before := h.writes()
	_, err := h.Dir.CreateUser(ctx, aliased("alias.other", "Shared.Login"))
	wantErr(t, "CreateUser with a taken IdP userName", err, directory.ErrConflict)
	wantWrites(t, h, "refused CreateUser", before)
	if ids := lookupUserIDs(t, ctx, h.Dir, directory.AttrEmail, email("alias.other")); len(ids) != 0 {
		t.Errorf("user created despite the clash: %q", ids)
	}

	b := mustCreateUser(t, ctx, h.Dir, newUser("alias.other", "Alias", "Other"))
	b.IdPUserName = "SHARED.LOGIN"
	before = h.writes()
	_, err = h.Dir.ReplaceUser(ctx, b)
	wantErr(t, "ReplaceUser onto a taken IdP userName", err, directory.ErrConflict)
	wantWrites(t, h, "refused ReplaceUser", before)
	wantAlias(t, "after refused replace", mustGetUser(t, ctx, h.Dir, b.ID), "")
	if ids := lookupUserIDs(t, ctx, h.Dir, directory.AttrUserName, "shared.login"); !slices.Equal(ids, []string{a.ID}) {
		t.Errorf("LookupUsers(IdP userName) = %q, want the holder %s", ids, a.ID)
	}
	// The holder itself re-created: the usual uniqueness conflict.
	_, err = h.Dir.CreateUser(ctx, aliased("alias.holder", "shared.login"))
	wantErr(t, "CreateUser of the holder again", err, directory.ErrConflict)
}

func testUserIdPUserNameDeleteAndRevive(t *testing.T, h Harness, ctx context.Context) {
	a := mustCreateUser(t, ctx, h.Dir, aliased("alias.leaver", "leaver"))
	if err := h.Dir.DeleteUser(ctx, a.ID); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if ids := lookupUserIDs(t, ctx, h.Dir, directory.AttrUserName, "leaver"); len(ids) != 0 {
		t.Errorf("deleted user found by its IdP userName: %q", ids)
	}
	// The IdP userName is free for someone else...
	b := mustCreateUser(t, ctx, h.Dir, aliased("alias.joiner", "LEAVER"))
	if ids := lookupUserIDs(t, ctx, h.Dir, directory.AttrUserName, "leaver"); !slices.Equal(ids, []string{b.ID}) {
		t.Errorf("LookupUsers(IdP userName) = %q, want the new holder %s", ids, b.ID)
	}
	// ...so reviving the old user under it is a conflict that writes nothing.
	before := h.writes()
	_, err := h.Dir.CreateUser(ctx, aliased("alias.leaver", "leaver"))
	wantErr(t, "revive onto a taken IdP userName", err, directory.ErrConflict)
	wantWrites(t, h, "refused revive", before)
	_, err = h.Dir.GetUser(ctx, a.ID)
	wantErr(t, "GetUser after refused revive", err, directory.ErrNotFound)

	// Once the new holder is gone, the revival works and takes it back.
	if err := h.Dir.DeleteUser(ctx, b.ID); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	got, err := h.Dir.CreateUser(ctx, aliased("alias.leaver", "leaver"))
	if err != nil {
		t.Fatalf("revive: %v", err)
	}
	if got.ID != a.ID {
		t.Errorf("revived ID = %q, want the existing member %q", got.ID, a.ID)
	}
	wantAlias(t, "revive", got, "leaver")
	sameUser(t, "get after revive", mustGetUser(t, ctx, h.Dir, a.ID), got)
	if ids := lookupUserIDs(t, ctx, h.Dir, directory.AttrUserName, "Leaver"); !slices.Equal(ids, []string{a.ID}) {
		t.Errorf("LookupUsers(IdP userName) after revive = %q, want %s", ids, a.ID)
	}
}
