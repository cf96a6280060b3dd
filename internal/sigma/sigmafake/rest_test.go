package sigmafake

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTokenEndpointAcceptsFormAndBasic(t *testing.T) {
	s := startServer(t, Options{})
	r := requestToken(t, s, DefaultClientID, DefaultClientSecret).want(t, http.StatusOK)
	var tok map[string]any
	r.decode(t, &tok)
	if tok["token_type"] != "bearer" || tok["expires_in"] != float64(3600) || tok["access_token"] == "" || tok["refresh_token"] == "" {
		t.Fatalf("token answer = %v", tok)
	}

	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/v2/auth/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(DefaultClientID, DefaultClientSecret)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("basic auth: status %d", resp.StatusCode)
	}

	// The OpenAPI description shows a JSON body; that works too.
	send(t, http.MethodPost, s.URL()+"/v2/auth/token", "", "application/json",
		strings.NewReader(`{"grant_type":"client_credentials","client_id":"fake-client-id","client_secret":"fake-client-secret"}`)).want(t, http.StatusOK)

	requestToken(t, s, DefaultClientID, "wrong").want(t, http.StatusUnauthorized)
	requestToken(t, s, "other-id", DefaultClientSecret).want(t, http.StatusUnauthorized)
	send(t, http.MethodPost, s.URL()+"/v2/auth/token", "", "application/x-www-form-urlencoded", strings.NewReader("client_id=x")).want(t, http.StatusBadRequest)
	if n := s.CountRequests(http.MethodPost, "/v2/auth/token"); n != 6 {
		t.Fatalf("token requests logged = %d, want 6", n)
	}
}

func TestRefreshTokenGrant(t *testing.T) {
	s := startServer(t, Options{})
	var tok struct {
		RefreshToken string `json:"refresh_token"`
	}
	requestToken(t, s, DefaultClientID, DefaultClientSecret).want(t, http.StatusOK).decode(t, &tok)
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
	send(t, http.MethodPost, s.URL()+"/v2/auth/token", "", "application/x-www-form-urlencoded", strings.NewReader(form.Encode())).want(t, http.StatusOK)
	// A refresh token is single use.
	send(t, http.MethodPost, s.URL()+"/v2/auth/token", "", "application/x-www-form-urlencoded", strings.NewReader(form.Encode())).want(t, http.StatusUnauthorized)
}

func TestMissingOrExpiredTokenAnswers401(t *testing.T) {
	clock := newClock()
	s := startServer(t, Options{Now: clock.Now, TokenTTL: 10 * time.Minute})
	c := newREST(t, s)
	c.do(http.MethodGet, "/v2/members?limit=1", nil).want(t, http.StatusOK)

	check := func(r response) {
		t.Helper()
		r.want(t, http.StatusUnauthorized)
		e := r.apiError(t)
		if e.Message != "Token missing or malformed" || e.Code != "unauthorized" || e.RequestID == "" {
			t.Fatalf("401 body = %s", r.body)
		}
	}
	check(send(t, http.MethodGet, s.URL()+"/v2/members", "", "", nil))
	check(send(t, http.MethodGet, s.URL()+"/v2/members", "made-up", "", nil))

	clock.Advance(10*time.Minute - time.Second)
	c.do(http.MethodGet, "/v2/members?limit=1", nil).want(t, http.StatusOK)
	clock.Advance(time.Second)
	check(c.do(http.MethodGet, "/v2/members?limit=1", nil))
}

func TestExpireTokensRevokesIssuedTokens(t *testing.T) {
	s := startServer(t, Options{})
	c := newREST(t, s)
	c.do(http.MethodGet, "/v2/teams?limit=1", nil).want(t, http.StatusOK)
	s.ExpireTokens()
	c.do(http.MethodGet, "/v2/teams?limit=1", nil).want(t, http.StatusUnauthorized)
	newREST(t, s).do(http.MethodGet, "/v2/teams?limit=1", nil).want(t, http.StatusOK)
}

func TestSetClientSecretRotatesAcceptedSecret(t *testing.T) {
	s := startServer(t, Options{})
	s.SetClientSecret("rotated")
	requestToken(t, s, DefaultClientID, DefaultClientSecret).want(t, http.StatusUnauthorized)
	requestToken(t, s, DefaultClientID, "rotated").want(t, http.StatusOK)
}

func TestTokenEndpointRateLimitAnswers429WithoutBody(t *testing.T) {
	// One token per 1000 s: the second request is over the limit whatever
	// the machine's speed.
	s := startServer(t, Options{TokenRatePerSecond: 0.001})
	requestToken(t, s, DefaultClientID, DefaultClientSecret).want(t, http.StatusOK)
	r := requestToken(t, s, DefaultClientID, DefaultClientSecret).want(t, http.StatusTooManyRequests)
	if len(r.body) != 0 {
		t.Fatalf("429 body = %q, want empty", r.body)
	}
	if v := r.header.Get("Retry-After"); v != "" {
		t.Fatalf("Retry-After = %q, want none", v)
	}
	// Other endpoints are not limited by it.
	s2 := startServer(t, Options{TokenRatePerSecond: 0.001, Members: 3})
	c := newREST(t, s2)
	for range 5 {
		c.do(http.MethodGet, "/v2/members?limit=1", nil).want(t, http.StatusOK)
	}
}

func TestDefaultTokenRateIsOnePerSecond(t *testing.T) {
	s := New(Options{})
	if s.limiter == nil || s.limiter.rate != 1 || s.limiter.burst != 1 {
		t.Fatalf("default limiter = %+v", s.limiter)
	}
	if New(Options{TokenRatePerSecond: -1}).limiter != nil {
		t.Fatal("negative rate must disable the limit")
	}
}

func TestMembersWithoutLimitIsBareArray(t *testing.T) {
	s := startServer(t, Options{Members: 7})
	c := newREST(t, s)
	var arr []memberJSON
	c.do(http.MethodGet, "/v2/members", nil).want(t, http.StatusOK).decode(t, &arr)
	if len(arr) != 7 {
		t.Fatalf("bare array has %d members, want 7", len(arr))
	}
	var obj memberPage
	r := c.do(http.MethodGet, "/v2/members?limit=5", nil).want(t, http.StatusOK)
	r.decode(t, &obj)
	if len(obj.Entries) != 5 || obj.NextPage == nil || obj.Total != nil {
		t.Fatalf("paged answer = %s", r.body)
	}
}

func listAllMembers(t *testing.T, c *rest, path string, limit int) (all []memberJSON, requests int) {
	t.Helper()
	cursor := ""
	for {
		q := url.Values{"limit": {strconv.Itoa(limit)}}
		if cursor != "" {
			q.Set("page", cursor)
		}
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		var p memberPage
		r := c.do(http.MethodGet, path+sep+q.Encode(), nil).want(t, http.StatusOK)
		r.decode(t, &p)
		if !strings.Contains(string(r.body), `"nextPage":`) {
			t.Fatalf("nextPage missing from %s", r.body)
		}
		requests++
		all = append(all, p.Entries...)
		if p.NextPage == nil {
			return all, requests
		}
		cursor = *p.NextPage
		if requests > 10000 {
			t.Fatal("pagination does not end")
		}
	}
}

func TestMembersPaginationWithOpaqueCursors(t *testing.T) {
	s := startServer(t, Options{Members: 25, Seed: 3})
	c := newREST(t, s)
	all, n := listAllMembers(t, c, "/v2/members", 10)
	if n != 3 || len(all) != 25 {
		t.Fatalf("got %d members in %d requests, want 25 in 3", len(all), n)
	}
	seen := map[string]bool{}
	for _, m := range all {
		if seen[m.MemberID] {
			t.Fatalf("member %s listed twice", m.MemberID)
		}
		seen[m.MemberID] = true
	}
	// Exactly divisible: the last full page says null.
	if _, n := listAllMembers(t, c, "/v2/members", 5); n != 5 {
		t.Fatalf("25 members at limit 5 took %d requests, want 5", n)
	}
	for _, r := range s.Requests() {
		if p := r.Query.Get("page"); p != "" {
			if _, err := strconv.Atoi(p); err == nil || strings.Contains(p, "@") {
				t.Fatalf("cursor %q is not opaque", p)
			}
		}
	}
	c.do(http.MethodGet, "/v2/members?limit=10&page=10", nil).want(t, http.StatusBadRequest)
}

func TestMembersLimitOver1000Rejected(t *testing.T) {
	s := startServer(t, Options{Members: 2})
	c := newREST(t, s)
	c.do(http.MethodGet, "/v2/members?limit=1000", nil).want(t, http.StatusOK)
	for _, l := range []string{"1001", "0", "-5", "abc", "2.5"} {
		r := c.do(http.MethodGet, "/v2/members?limit="+l, nil).want(t, http.StatusBadRequest)
		if e := r.apiError(t); e.Code != "bad_request" || e.Message == "" {
			t.Fatalf("limit=%s: body %s", l, r.body)
		}
	}
	c.do(http.MethodGet, "/v2.1/members?limit=1001", nil).want(t, http.StatusBadRequest)
}

func TestV21MembersAlwaysPaginatedWithTotal(t *testing.T) {
	s := startServer(t, Options{Members: 12})
	c := newREST(t, s)
	var p memberPage
	c.do(http.MethodGet, "/v2.1/members", nil).want(t, http.StatusOK).decode(t, &p)
	if p.Total == nil || *p.Total != 12 || len(p.Entries) != 12 || p.NextPage != nil {
		t.Fatalf("v2.1 without limit: total=%v entries=%d next=%v", p.Total, len(p.Entries), p.NextPage)
	}
	all, n := listAllMembers(t, c, "/v2.1/members", 5)
	if len(all) != 12 || n != 3 {
		t.Fatalf("v2.1 paging: %d members in %d requests", len(all), n)
	}
}

func TestEmailFilterIsExactAndCaseInsensitive(t *testing.T) {
	s := startServer(t, Options{Members: 5})
	s.AddMember(Member{Email: "Ada.Lovelace@example.com", FirstName: "Ada", LastName: "Lovelace"})
	s.AddMember(Member{Email: "ada.lovelace@example.com.au", FirstName: "Ada", LastName: "Other"})
	c := newREST(t, s)
	var p memberPage
	c.do(http.MethodGet, "/v2/members?limit=10&email="+url.QueryEscape("ada.lovelace@EXAMPLE.com"), nil).want(t, http.StatusOK).decode(t, &p)
	if len(p.Entries) != 1 || p.Entries[0].Email != "Ada.Lovelace@example.com" || p.NextPage != nil {
		t.Fatalf("email filter = %+v", p)
	}
	c.do(http.MethodGet, "/v2/members?limit=10&email=nobody%40example.com", nil).want(t, http.StatusOK).decode(t, &p)
	if len(p.Entries) != 0 {
		t.Fatalf("unknown email matched %+v", p.Entries)
	}
}

func TestArchivedAndInactiveHiddenUnlessAsked(t *testing.T) {
	s := startServer(t, Options{Members: 3})
	arch := s.AddMember(Member{Email: "gone@example.com", FirstName: "G", LastName: "One", IsArchived: true})
	inact := s.AddMember(Member{Email: "idle@example.com", FirstName: "I", LastName: "Dle", IsInactive: true})
	c := newREST(t, s)
	ids := func(path string) []string {
		var p memberPage
		c.do(http.MethodGet, path, nil).want(t, http.StatusOK).decode(t, &p)
		var out []string
		for _, m := range p.Entries {
			out = append(out, m.MemberID)
		}
		return out
	}
	base := ids("/v2/members?limit=100")
	if len(base) != 3 || slices.Contains(base, arch.MemberID) || slices.Contains(base, inact.MemberID) {
		t.Fatalf("default listing = %v", base)
	}
	if got := ids("/v2/members?limit=100&includeArchived=true"); len(got) != 4 || !slices.Contains(got, arch.MemberID) {
		t.Fatalf("includeArchived = %v", got)
	}
	if got := ids("/v2/members?limit=100&includeInactive=true"); len(got) != 4 || !slices.Contains(got, inact.MemberID) {
		t.Fatalf("includeInactive = %v", got)
	}
	if got := ids("/v2/members?limit=100&includeInactive=true&includeArchived=true"); len(got) != 5 {
		t.Fatalf("both = %v", got)
	}
	if got := ids("/v2/members?limit=100&email=gone%40example.com"); len(got) != 0 {
		t.Fatalf("email filter shows archived member without includeArchived: %v", got)
	}
	if got := ids("/v2/members?limit=100&email=gone%40example.com&includeArchived=true"); len(got) != 1 {
		t.Fatalf("email filter with includeArchived = %v", got)
	}
	// Absent means false: active members carry no isArchived/isInactive.
	r := c.do(http.MethodGet, "/v2/members/"+base[0], nil).want(t, http.StatusOK)
	if strings.Contains(string(r.body), "isArchived") || strings.Contains(string(r.body), "isInactive") {
		t.Fatalf("active member shows flags: %s", r.body)
	}
}

func TestCreateMember(t *testing.T) {
	clock := newClock()
	s := startServer(t, Options{Now: clock.Now, Members: 1})
	c := newREST(t, s)
	var m memberJSON
	c.do(http.MethodPost, "/v2/members?sendInvite=false", map[string]any{
		"email": "grace@example.com", "firstName": "Grace", "lastName": "Hopper",
	}).want(t, http.StatusOK).decode(t, &m)
	if m.MemberType != "View" || m.UserKind != "internal" || m.Email != "grace@example.com" ||
		m.OrganizationID != s.OrganizationID() || m.CreatedBy != s.OwnerID() || m.HomeFolderID == "" {
		t.Fatalf("created = %+v", m)
	}
	if m.CreatedAt != "2026-03-14T15:09:26.000Z" {
		t.Fatalf("createdAt = %q", m.CreatedAt)
	}
	if got, ok := s.Member(m.MemberID); !ok || got.Email != "grace@example.com" {
		t.Fatalf("state = %+v %v", got, ok)
	}

	c.do(http.MethodPost, "/v2/members", map[string]any{
		"email": "alan@example.com", "firstName": "Alan", "lastName": "Turing", "memberType": "Analyst Creator", "userKind": "embed",
	}).want(t, http.StatusOK).decode(t, &m)
	if m.MemberType != "Analyst Creator" || m.UserKind != "embed" {
		t.Fatalf("created = %+v", m)
	}
}

func TestCreateMemberRequiresEmailAndNames(t *testing.T) {
	s := startServer(t, Options{})
	c := newREST(t, s)
	full := map[string]any{"email": "x@example.com", "firstName": "X", "lastName": "Y"}
	for _, field := range []string{"email", "firstName", "lastName"} {
		body := map[string]any{}
		for k, v := range full {
			if k != field {
				body[k] = v
			}
		}
		r := c.do(http.MethodPost, "/v2/members", body).want(t, http.StatusBadRequest)
		if e := r.apiError(t); !strings.Contains(e.Message, field) {
			t.Fatalf("missing %s: message %q does not name it", field, e.Message)
		}
	}
	if n := len(s.Members()); n != 0 {
		t.Fatalf("%d members created by invalid requests", n)
	}
}

func TestCreateDuplicateEmailIs409(t *testing.T) {
	s := startServer(t, Options{})
	s.AddMember(Member{Email: "dup@example.com", FirstName: "D", LastName: "Up"})
	c := newREST(t, s)
	for _, email := range []string{"dup@example.com", "DUP@example.com"} {
		r := c.do(http.MethodPost, "/v2/members", map[string]any{"email": email, "firstName": "A", "lastName": "B"}).want(t, http.StatusConflict)
		if e := r.apiError(t); e.Message != "Duplicate record" || e.Code != "conflict" || e.RequestID == "" {
			t.Fatalf("409 body = %s", r.body)
		}
	}
}

func TestUnknownMemberTypeIs404(t *testing.T) {
	s := startServer(t, Options{Members: 2})
	c := newREST(t, s)
	// Names are exact: "view" is not "View".
	for _, typ := range []string{"Wizard", "view"} {
		r := c.do(http.MethodPost, "/v2/members", map[string]any{"email": "t@example.com", "firstName": "T", "lastName": "T", "memberType": typ}).want(t, http.StatusNotFound)
		if e := r.apiError(t); e.Message != "Member type name is not found" {
			t.Fatalf("memberType %q: body %s", typ, r.body)
		}
	}
	id := s.Members()[1].MemberID
	r := c.do(http.MethodPatch, "/v2/members/"+id, map[string]any{"memberType": "Wizard"}).want(t, http.StatusNotFound)
	if e := r.apiError(t); e.Message != "Member type name is not found" {
		t.Fatalf("patch: body %s", r.body)
	}
	if _, ok := s.MemberByEmail("t@example.com"); ok {
		t.Fatal("member created despite unknown type")
	}
}

func TestPatchMember(t *testing.T) {
	clock := newClock()
	s := startServer(t, Options{Now: clock.Now, Members: 3})
	c := newREST(t, s)
	ms := s.Members()
	id, other := ms[1].MemberID, ms[2].MemberID
	clock.Advance(30 * time.Minute)
	var m memberJSON
	c.do(http.MethodPatch, "/v2/members/"+id, map[string]any{"firstName": "New", "memberType": "Pro", "profileImgUrl": "https://img/x.png"}).
		want(t, http.StatusOK).decode(t, &m)
	if m.FirstName != "New" || m.MemberType != "Pro" || m.LastName != ms[1].LastName || m.ProfileImgURL == nil || m.UpdatedAt != "2026-03-14T15:39:26.000Z" {
		t.Fatalf("patched = %+v", m)
	}
	// Handover fields need a deactivation in the same request.
	for _, body := range []map[string]any{
		{"newOwnerId": other},
		{"archiveDocuments": true},
		{"newOwnerId": other, "isArchived": false},
	} {
		c.do(http.MethodPatch, "/v2/members/"+id, body).want(t, http.StatusBadRequest)
	}
	c.do(http.MethodPatch, "/v2/members/"+id, map[string]any{"isArchived": true, "newOwnerId": "nobody"}).want(t, http.StatusBadRequest)
	if got, _ := s.Member(id); got.IsArchived {
		t.Fatal("rejected request changed the member")
	}
	c.do(http.MethodPatch, "/v2/members/"+id, map[string]any{"isArchived": true, "newOwnerId": other}).want(t, http.StatusOK).decode(t, &m)
	if got, _ := s.Member(id); !m.IsArchived || !got.IsArchived || got.DocumentsTransferredTo != other {
		t.Fatalf("deactivated = %+v / %+v", m, got)
	}
	var re memberJSON
	c.do(http.MethodPatch, "/v2/members/"+id, map[string]any{"isArchived": false}).want(t, http.StatusOK).decode(t, &re)
	if re.IsArchived {
		t.Fatal("reactivation did not clear isArchived")
	}
	c.do(http.MethodPatch, "/v2/members/"+other, map[string]any{"isInactive": true, "archiveDocuments": true}).want(t, http.StatusOK)
	if got, _ := s.Member(other); !got.IsInactive || !got.DocumentsArchived {
		t.Fatalf("inactive = %+v", got)
	}
	c.do(http.MethodPatch, "/v2/members/"+id, map[string]any{"email": strings.ToUpper(ms[0].Email)}).want(t, http.StatusConflict)
	c.do(http.MethodPatch, "/v2/members/nope", map[string]any{"firstName": "x"}).want(t, http.StatusNotFound)
}

func TestDeleteMemberDeactivates(t *testing.T) {
	s := startServer(t, Options{Members: 3})
	c := newREST(t, s)
	id := s.Members()[2].MemberID
	r := c.do(http.MethodDelete, "/v2/members/"+id, nil).want(t, http.StatusOK)
	if string(r.body) != "{}" {
		t.Fatalf("delete body = %s", r.body)
	}
	got, ok := s.Member(id)
	if !ok || !got.IsArchived || got.DocumentsTransferredTo != s.OwnerID() {
		t.Fatalf("after delete: %+v %v", got, ok)
	}
	var m memberJSON
	c.do(http.MethodGet, "/v2/members/"+id, nil).want(t, http.StatusOK).decode(t, &m)
	if !m.IsArchived {
		t.Fatalf("GET after delete = %+v", m)
	}
	c.do(http.MethodDelete, "/v2/members/unknown", nil).want(t, http.StatusNotFound)
	// Reactivation is possible: it was never deleted.
	c.do(http.MethodPatch, "/v2/members/"+id, map[string]any{"isArchived": false}).want(t, http.StatusOK)
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestRealisticIDsAndTimestamps(t *testing.T) {
	s := startServer(t, Options{Members: 30, Teams: 4})
	c := newREST(t, s)
	var arr []memberJSON
	c.do(http.MethodGet, "/v2/members", nil).want(t, http.StatusOK).decode(t, &arr)
	emails := map[string]bool{}
	for _, m := range arr {
		if strings.Contains(m.MemberID, "@") || uuidRE.MatchString(m.MemberID) || len(m.MemberID) < 20 {
			t.Fatalf("memberId %q is not opaque", m.MemberID)
		}
		for _, v := range []string{m.CreatedAt, m.UpdatedAt} {
			if _, err := time.Parse(time.RFC3339, v); err != nil {
				t.Fatalf("timestamp %q: %v", v, err)
			}
		}
		if emails[strings.ToLower(m.Email)] || !strings.Contains(m.Email, "@") || m.FirstName == "" || m.LastName == "" {
			t.Fatalf("bad seeded member %+v", m)
		}
		emails[strings.ToLower(m.Email)] = true
		if !uuidRE.MatchString(m.OrganizationID) {
			t.Fatalf("organizationId %q", m.OrganizationID)
		}
	}
	if arr[0].MemberID != s.OwnerID() || arr[0].MemberType != "Admin" {
		t.Fatalf("first member is not the admin owner: %+v", arr[0])
	}
	teams := s.Teams()
	if len(teams) != 4 {
		t.Fatalf("%d teams", len(teams))
	}
	for _, tm := range teams {
		if len(tm.Members) == 0 || tm.Name == "" {
			t.Fatalf("seeded team %+v", tm)
		}
	}
}

func TestAddMemberReplacesByID(t *testing.T) {
	s := New(Options{})
	m := s.AddMember(Member{Email: "old@example.com", FirstName: "O", LastName: "L"})
	m.Email = "new@example.com"
	s.AddMember(m)
	if _, ok := s.MemberByEmail("old@example.com"); ok {
		t.Fatal("old email still indexed")
	}
	if got, ok := s.MemberByEmail("NEW@example.com"); !ok || got.MemberID != m.MemberID || len(s.Members()) != 1 {
		t.Fatalf("replaced member %+v %v, %d members", got, ok, len(s.Members()))
	}
}

func TestSeedIsDeterministic(t *testing.T) {
	now := newClock().Now
	a, b := New(Options{Members: 20, Teams: 3, Seed: 42, Now: now}), New(Options{Members: 20, Teams: 3, Seed: 42, Now: now})
	c := New(Options{Members: 20, Teams: 3, Seed: 43})
	if !slices.EqualFunc(a.Members(), b.Members(), func(x, y Member) bool { return x == y }) {
		t.Fatal("same seed, different members")
	}
	if a.Members()[5].MemberID == c.Members()[5].MemberID {
		t.Fatal("different seeds, same ids")
	}
	ta, tb := a.Teams(), b.Teams()
	for i := range ta {
		if ta[i].TeamID != tb[i].TeamID || !slices.Equal(ta[i].Members, tb[i].Members) {
			t.Fatal("same seed, different teams")
		}
	}
}

func TestAccountTypesOwnPagination(t *testing.T) {
	s := startServer(t, Options{AccountTypes: []string{"Admin", "Pro", "Essential", "View", "Analyst Creator"}})
	c := newREST(t, s)
	type atPage struct {
		Entries []struct {
			AccountTypeID   string `json:"accountTypeId"`
			AccountTypeName string `json:"accountTypeName"`
			Description     string `json:"description"`
			IsCustom        bool   `json:"isCustom"`
		} `json:"entries"`
		NextPageToken *string `json:"nextPageToken"`
	}
	var names []string
	custom := map[string]bool{}
	token, requests := "", 0
	for {
		path := "/v2/accountTypes?pageSize=2"
		if token != "" {
			path += "&pageToken=" + url.QueryEscape(token)
		}
		var p atPage
		c.do(http.MethodGet, path, nil).want(t, http.StatusOK).decode(t, &p)
		requests++
		for _, e := range p.Entries {
			if e.AccountTypeID == "" || e.Description == "" {
				t.Fatalf("entry %+v", e)
			}
			names = append(names, e.AccountTypeName)
			custom[e.AccountTypeName] = e.IsCustom
		}
		if p.NextPageToken == nil {
			break
		}
		token = *p.NextPageToken
	}
	if requests != 3 || !slices.Equal(names, []string{"Admin", "Pro", "Essential", "View", "Analyst Creator"}) {
		t.Fatalf("%d requests, names %v", requests, names)
	}
	if custom["View"] || !custom["Analyst Creator"] {
		t.Fatalf("isCustom = %v", custom)
	}
	// The members-style parameters do not page account types.
	var p atPage
	c.do(http.MethodGet, "/v2/accountTypes", nil).want(t, http.StatusOK).decode(t, &p)
	if len(p.Entries) != 5 || p.NextPageToken != nil {
		t.Fatalf("unpaged = %+v", p)
	}
	c.do(http.MethodGet, "/v2/accountTypes?pageToken=bogus", nil).want(t, http.StatusBadRequest)
}

type teamJSON struct {
	TeamID      string   `json:"teamId"`
	Name        string   `json:"name"`
	Description *string  `json:"description"`
	Visibility  string   `json:"visibility"`
	CreatedAt   string   `json:"createdAt"`
	Members     []string `json:"members"`
}

func TestTeamsCRUD(t *testing.T) {
	s := startServer(t, Options{Members: 4})
	c := newREST(t, s)
	ms := s.Members()
	var tm teamJSON
	c.do(http.MethodPost, "/v2/teams", map[string]any{"name": "Data", "description": "d", "members": []string{ms[1].MemberID}}).
		want(t, http.StatusOK).decode(t, &tm)
	if tm.Visibility != "private" || len(tm.Members) != 1 || tm.TeamID == "" {
		t.Fatalf("created team %+v", tm)
	}
	r := c.do(http.MethodPost, "/v2/teams", map[string]any{"name": "data"}).want(t, http.StatusConflict)
	if e := r.apiError(t); e.Message != "Duplicate record" {
		t.Fatalf("dup team: %s", r.body)
	}
	c.do(http.MethodPost, "/v2/teams", map[string]any{"description": "no name"}).want(t, http.StatusBadRequest)
	c.do(http.MethodPost, "/v2/teams", map[string]any{"name": "Ops", "visibility": "public"}).want(t, http.StatusOK)

	var list []teamJSON
	c.do(http.MethodGet, "/v2/teams?name=DATA", nil).want(t, http.StatusOK).decode(t, &list)
	if len(list) != 1 || list[0].TeamID != tm.TeamID || list[0].Members != nil {
		t.Fatalf("name filter = %+v", list)
	}
	c.do(http.MethodPatch, "/v2/teams/"+tm.TeamID, map[string]any{"name": "ops"}).want(t, http.StatusConflict)
	c.do(http.MethodPatch, "/v2/teams/"+tm.TeamID, map[string]any{"name": "Data Science"}).want(t, http.StatusOK).decode(t, &tm)
	if tm.Name != "Data Science" {
		t.Fatalf("renamed %+v", tm)
	}
	c.do(http.MethodGet, "/v2/teams/"+tm.TeamID, nil).want(t, http.StatusOK).decode(t, &tm)
	if len(tm.Members) != 1 || tm.Members[0] != ms[1].MemberID {
		t.Fatalf("get team %+v", tm)
	}
	c.do(http.MethodDelete, "/v2/teams/"+tm.TeamID, nil).want(t, http.StatusOK)
	c.do(http.MethodGet, "/v2/teams/"+tm.TeamID, nil).want(t, http.StatusNotFound)
	// The name is free again.
	c.do(http.MethodPost, "/v2/teams", map[string]any{"name": "Data Science"}).want(t, http.StatusOK)
}

func TestTeamsPagination(t *testing.T) {
	s := startServer(t, Options{Teams: 7})
	c := newREST(t, s)
	var ids []string
	cursor, requests := "", 0
	for {
		path := "/v2/teams?limit=3"
		if cursor != "" {
			path += "&page=" + url.QueryEscape(cursor)
		}
		var p struct {
			Entries  []teamJSON `json:"entries"`
			NextPage *string    `json:"nextPage"`
		}
		c.do(http.MethodGet, path, nil).want(t, http.StatusOK).decode(t, &p)
		requests++
		for _, e := range p.Entries {
			ids = append(ids, e.TeamID)
		}
		if p.NextPage == nil {
			break
		}
		cursor = *p.NextPage
	}
	if requests != 3 || len(ids) != 7 {
		t.Fatalf("%d teams in %d requests", len(ids), requests)
	}
	var p struct {
		Total *int `json:"total"`
	}
	c.do(http.MethodGet, "/v2.1/teams", nil).want(t, http.StatusOK).decode(t, &p)
	if p.Total == nil || *p.Total != 7 {
		t.Fatalf("v2.1 total = %v", p.Total)
	}
}

func TestTeamMembersPagedAndPatched(t *testing.T) {
	s := startServer(t, Options{Members: 8})
	c := newREST(t, s)
	ms := s.Members()
	team := s.AddTeam(Team{Name: "Eng"})
	var add []string
	for _, m := range ms[1:] {
		add = append(add, m.MemberID)
	}
	c.do(http.MethodPatch, "/v2/teams/"+team.TeamID+"/members", map[string]any{"add": add}).want(t, http.StatusOK)
	type tmPage struct {
		Entries []struct {
			UserID      string `json:"userId"`
			IsTeamAdmin bool   `json:"isTeamAdmin"`
			AddedBy     string `json:"addedBy"`
		} `json:"entries"`
		NextPage *string `json:"nextPage"`
		Total    *int    `json:"total"`
	}
	var got []string
	cursor, requests := "", 0
	for {
		path := "/v2/teams/" + team.TeamID + "/members?limit=3"
		if cursor != "" {
			path += "&page=" + url.QueryEscape(cursor)
		}
		var p tmPage
		c.do(http.MethodGet, path, nil).want(t, http.StatusOK).decode(t, &p)
		requests++
		for _, e := range p.Entries {
			if e.AddedBy != s.OwnerID() || e.IsTeamAdmin {
				t.Fatalf("entry %+v", e)
			}
			got = append(got, e.UserID)
		}
		if p.NextPage == nil {
			break
		}
		cursor = *p.NextPage
	}
	if requests != 3 || !slices.Equal(got, add) {
		t.Fatalf("team members %v in %d requests, want %v", got, requests, add)
	}
	c.do(http.MethodPatch, "/v2/teams/"+team.TeamID+"/members", map[string]any{"remove": add[:2]}).want(t, http.StatusOK)
	if tm, _ := s.Team(team.TeamID); len(tm.Members) != len(add)-2 || slices.Contains(tm.Members, add[0]) {
		t.Fatalf("after remove %v", tm.Members)
	}
	c.do(http.MethodPatch, "/v2/teams/nope/members", map[string]any{"add": add[:1]}).want(t, http.StatusNotFound)
	c.do(http.MethodPatch, "/v2/teams/"+team.TeamID+"/members", map[string]any{"add": []string{"unknown"}}).want(t, http.StatusNotFound)
}

func TestArchivedMembersCannotJoinOrLeaveTeams(t *testing.T) {
	s := startServer(t, Options{Members: 3})
	c := newREST(t, s)
	ms := s.Members()
	team := s.AddTeam(Team{Name: "Eng", Members: []string{ms[1].MemberID}})
	arch := s.AddMember(Member{Email: "a@example.com", FirstName: "A", LastName: "A", IsArchived: true})
	inact := s.AddMember(Member{Email: "i@example.com", FirstName: "I", LastName: "I", IsInactive: true})
	for _, id := range []string{arch.MemberID, inact.MemberID} {
		r := c.do(http.MethodPatch, "/v2/teams/"+team.TeamID+"/members", map[string]any{"add": []string{ms[2].MemberID, id}}).want(t, http.StatusBadRequest)
		if e := r.apiError(t); e.Code != "bad_request" {
			t.Fatalf("body %s", r.body)
		}
		c.do(http.MethodPost, "/v2/teams", map[string]any{"name": "T" + id, "members": []string{id}}).want(t, http.StatusBadRequest)
	}
	if tm, _ := s.Team(team.TeamID); len(tm.Members) != 1 {
		t.Fatalf("a rejected batch changed the team: %v", tm.Members)
	}
	// A member deactivated while in a team cannot be removed either.
	c.do(http.MethodDelete, "/v2/members/"+ms[1].MemberID, nil).want(t, http.StatusOK)
	c.do(http.MethodPatch, "/v2/teams/"+team.TeamID+"/members", map[string]any{"remove": []string{ms[1].MemberID}}).want(t, http.StatusBadRequest)
	if tm, _ := s.Team(team.TeamID); !slices.Equal(tm.Members, []string{ms[1].MemberID}) {
		t.Fatalf("team = %v", tm.Members)
	}
}

func TestMemberTeams(t *testing.T) {
	s := startServer(t, Options{Members: 2})
	c := newREST(t, s)
	id := s.Members()[1].MemberID
	a := s.AddTeam(Team{Name: "A", Members: []string{id}})
	s.AddTeam(Team{Name: "B"})
	cc := s.AddTeam(Team{Name: "C", Members: []string{id}})
	var p struct {
		Entries  []teamJSON `json:"entries"`
		NextPage *string    `json:"nextPage"`
		Total    *int       `json:"total"`
	}
	c.do(http.MethodGet, "/v2/members/"+id+"/teams", nil).want(t, http.StatusOK).decode(t, &p)
	if len(p.Entries) != 2 || p.Entries[0].TeamID != a.TeamID || p.Entries[1].TeamID != cc.TeamID || *p.Total != 2 {
		t.Fatalf("member teams %+v", p)
	}
	c.do(http.MethodGet, "/v2/members/"+id+"/teams?limit=1", nil).want(t, http.StatusOK).decode(t, &p)
	if len(p.Entries) != 1 || p.NextPage == nil {
		t.Fatalf("page 1 %+v", p)
	}
	c.do(http.MethodGet, "/v2/members/"+id+"/teams?limit=1&page="+url.QueryEscape(*p.NextPage), nil).want(t, http.StatusOK).decode(t, &p)
	if len(p.Entries) != 1 || p.Entries[0].TeamID != cc.TeamID || p.NextPage != nil {
		t.Fatalf("page 2 %+v", p)
	}
	c.do(http.MethodGet, "/v2/members/nope/teams", nil).want(t, http.StatusNotFound)
}

func TestCreateMemberAddToTeams(t *testing.T) {
	s := startServer(t, Options{})
	team := s.AddTeam(Team{Name: "Eng"})
	c := newREST(t, s)
	var m memberJSON
	c.do(http.MethodPost, "/v2/members", map[string]any{
		"email": "n@example.com", "firstName": "N", "lastName": "N",
		"addToTeams": []map[string]any{{"teamId": team.TeamID, "isTeamAdmin": true}},
	}).want(t, http.StatusOK).decode(t, &m)
	if tm, _ := s.Team(team.TeamID); !slices.Equal(tm.Admins, []string{m.MemberID}) {
		t.Fatalf("team after create %+v", tm)
	}
	c.do(http.MethodPost, "/v2/members", map[string]any{
		"email": "o@example.com", "firstName": "O", "lastName": "O",
		"addToTeams": []map[string]any{{"teamId": "missing"}},
	}).want(t, http.StatusNotFound)
	if _, ok := s.MemberByEmail("o@example.com"); ok {
		t.Fatal("member created although a team was unknown")
	}
}

func TestWhoami(t *testing.T) {
	s := startServer(t, Options{Members: 1})
	var who map[string]string
	newREST(t, s).do(http.MethodGet, "/v2/whoami", nil).want(t, http.StatusOK).decode(t, &who)
	if who["userId"] != s.OwnerID() || who["organizationId"] != s.OrganizationID() {
		t.Fatalf("whoami %v", who)
	}
}

func TestUnknownRESTPathIsJSON404(t *testing.T) {
	s := startServer(t, Options{})
	r := newREST(t, s).do(http.MethodGet, "/v2/nothing", nil).want(t, http.StatusNotFound)
	var e apiErrBody
	if err := json.Unmarshal(r.body, &e); err != nil || e.Code != "not_found" {
		t.Fatalf("body %s", r.body)
	}
}
