package scimserver

import (
	"context"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/mapping"
)

func (s *server) userOptions() mapping.UserOptions {
	return mapping.UserOptions{UserNameFromEmail: s.userNameFromEmail}
}

// checkIfMatch answers 412 when the request carries If-Match and none of
// its tags names the current version (weak comparison, "*" matches).
func checkIfMatch(r *http.Request, version string) error {
	h := r.Header.Get("If-Match")
	if h == "" {
		return nil
	}
	cur := strings.Trim(strings.TrimPrefix(mapping.ETag(version), "W/"), `"`)
	for _, tag := range strings.Split(h, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" {
			return nil
		}
		tag = strings.Trim(strings.TrimPrefix(tag, "W/"), `"`)
		if tag != "" && tag == cur {
			return nil
		}
	}
	return errorf(http.StatusPreconditionFailed, "", "the resource has changed since version %s; read it again and retry", h)
}

// writeResource answers one resource with its ETag and, on create, Location.
func (s *server) writeResource(w http.ResponseWriter, r *http.Request, status int, m map[string]any, version string) {
	if et := mapping.ETag(version); et != "" {
		w.Header().Set("ETag", et)
	}
	if meta, ok := m["meta"].(map[string]any); ok && status == http.StatusCreated {
		if loc, ok := meta["location"].(string); ok {
			w.Header().Set("Location", loc)
		}
	}
	proj, err := queryProjection(kindOf(m), r.URL.Query())
	if err != nil {
		s.writeError(w, r, err, "")
		return
	}
	writeJSON(w, status, project(m, proj))
}

func kindOf(m map[string]any) mapping.Kind {
	if meta, ok := m["meta"].(map[string]any); ok && meta["resourceType"] == "Group" {
		return mapping.Group
	}
	return mapping.User
}

func (s *server) listUsers(w http.ResponseWriter, r *http.Request) {
	lq, err := s.parseListQuery(mapping.User, r.URL.Query())
	if err != nil {
		s.writeError(w, r, err, "")
		return
	}
	s.answerUserList(w, r, lq)
}

func (s *server) searchUsers(w http.ResponseWriter, r *http.Request) {
	lq, err := s.parseSearch(mapping.User, r)
	if err != nil {
		s.writeError(w, r, err, "")
		return
	}
	s.answerUserList(w, r, lq)
}

func (s *server) answerUserList(w http.ResponseWriter, r *http.Request, lq listQuery) {
	ctx := r.Context()
	var users []directory.User
	var err error
	if lookups, ok := planLookups(mapping.User, lq.filter); ok {
		seen := map[string]bool{}
		for _, l := range lookups {
			if l.attr == directory.AttrEmail && !mapping.IsEmail(l.value) {
				// A value that is not an email is no member's email: asking
				// would only cost a call. A userName that is not an email is
				// asked for (the directory keeps the IdP's own userNames,
				// "jdoe", and answers a GUID from Entra's test connection
				// without a Sigma call).
				continue
			}
			found, err := s.dir.LookupUsers(ctx, l.attr, l.value)
			if err != nil {
				s.writeError(w, r, err, "user")
				return
			}
			for _, u := range found {
				if !seen[u.ID] {
					seen[u.ID] = true
					users = append(users, u)
				}
			}
		}
		sort.Slice(users, func(i, j int) bool { return users[i].ID < users[j].ID })
	} else if users, err = s.dir.ListUsers(ctx); err != nil {
		s.writeError(w, r, err, "user")
		return
	}
	base := s.base(r)
	if lq.filter == nil && lq.sortBy == nil {
		// The default order is by id: render only the requested page, so an
		// import of a large org does not render every resource per page.
		sort.SliceStable(users, func(i, j int) bool { return users[i].ID < users[j].ID })
		start, end := pageBounds(len(users), lq)
		res := make([]map[string]any, 0, end-start)
		for _, x := range users[start:end] {
			res = append(res, mapping.UserToSCIM(x, base))
		}
		writeJSON(w, http.StatusOK, pageResponse(res, len(users), lq))
		return
	}
	ev := evaluator{kind: mapping.User}
	res := make([]map[string]any, 0, len(users))
	for _, u := range users {
		m := mapping.UserToSCIM(u, base)
		if ev.match(lq.filter, filterView(u, m)) {
			res = append(res, m)
		}
	}
	sortResources(res, lq.sortBy, lq.descending)
	writeJSON(w, http.StatusOK, listResponse(res, lq))
}

// filterView is what a filter is evaluated on for user u rendered as m: m
// itself, except that a user the IdP named with a non-email userName
// matches userName filters by that name (what m shows) and by its Sigma
// email too, as LookupUsers does. Otherwise `userName eq "<email>"` would
// find nobody while a POST of that userName answers 409, and an IdP that
// switched its userName mapping to the email could never link the user.
func filterView(u directory.User, m map[string]any) map[string]any {
	if u.IdPUserName == "" || u.UserName == "" {
		return m
	}
	v := make(map[string]any, len(m))
	for k, x := range m {
		v[k] = x
	}
	v["userName"] = []any{u.IdPUserName, u.UserName}
	return v
}

func (s *server) getUser(w http.ResponseWriter, r *http.Request) {
	u, err := s.dir.GetUser(directory.WithFreshRead(r.Context()), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err, "user")
		return
	}
	s.writeResource(w, r, http.StatusOK, mapping.UserToSCIM(u, s.base(r)), u.Version)
}

func (s *server) decodeUser(r *http.Request) (directory.User, error) {
	body, err := decodeObject(r)
	if err != nil {
		return directory.User{}, err
	}
	norm, err := mapping.Normalize(mapping.User, body)
	if err != nil {
		return directory.User{}, err
	}
	return mapping.UserFromSCIM(norm, s.userOptions())
}

func (s *server) createUser(w http.ResponseWriter, r *http.Request) {
	u, err := s.decodeUser(r)
	if err != nil {
		s.writeError(w, r, err, "user")
		return
	}
	created, err := s.dir.CreateUser(r.Context(), u)
	if err != nil {
		what := "a user with userName " + u.UserName
		if u.IdPUserName != "" {
			what = "a user with userName " + u.IdPUserName + " or email " + u.UserName
		}
		s.writeError(w, r, err, what)
		return
	}
	s.writeResource(w, r, http.StatusCreated, mapping.UserToSCIM(created, s.base(r)), created.Version)
}

// keepUnsent fills what a replacement did not say from the current user:
// an IdP that does not manage account types, kinds or externalIds must not
// reset them by omission.
func keepUnsent(u *directory.User, cur directory.User) {
	u.ID = cur.ID
	if u.AccountType == "" {
		u.AccountType = cur.AccountType
	}
	if u.UserKind == "" {
		u.UserKind = cur.UserKind
	}
	if u.ExternalID == "" {
		u.ExternalID = cur.ExternalID
	}
}

func (s *server) replaceUser(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	// The body first: a request that cannot be applied costs no Sigma call.
	u, err := s.decodeUser(r)
	if err != nil {
		s.writeError(w, r, err, "user")
		return
	}
	cur, err := s.dir.GetUser(ctx, chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err, "user")
		return
	}
	if err := checkIfMatch(r, cur.Version); err != nil {
		s.writeError(w, r, err, "user")
		return
	}
	keepUnsent(&u, cur)
	s.saveUser(w, r, cur, u)
}

func (s *server) saveUser(w http.ResponseWriter, r *http.Request, cur, u directory.User) {
	out := cur
	if !sameUser(cur, u) {
		var err error
		if out, err = s.dir.ReplaceUser(r.Context(), u); err != nil {
			s.writeError(w, r, err, "user")
			return
		}
	}
	s.writeResource(w, r, http.StatusOK, mapping.UserToSCIM(out, s.base(r)), out.Version)
}

// sameUser compares the writable attributes. The IdP's own userName is
// compared exactly: a new spelling is the IdP's to keep.
func sameUser(a, b directory.User) bool {
	return strings.EqualFold(a.UserName, b.UserName) && a.IdPUserName == b.IdPUserName && a.ExternalID == b.ExternalID &&
		a.GivenName == b.GivenName && a.FamilyName == b.FamilyName &&
		a.DisplayName == b.DisplayName && a.Active == b.Active &&
		strings.EqualFold(a.AccountType, b.AccountType) && a.UserKind == b.UserKind &&
		slices.Equal(a.Emails, b.Emails)
}

func (s *server) patchUser(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ops, err := parsePatch(r)
	if err != nil {
		s.writeError(w, r, err, "user")
		return
	}
	cur, err := s.dir.GetUser(ctx, chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err, "user")
		return
	}
	if err := checkIfMatch(r, cur.Version); err != nil {
		s.writeError(w, r, err, "user")
		return
	}
	m := mapping.UserToSCIM(cur, "")
	// Patch the account type through one spelling only (see aliasOf).
	if ext, ok := m[mapping.SchemaSigmaUser].(map[string]any); ok {
		delete(ext, "accountType")
	}
	up := userPatcher{id: cur.ID}
	for _, op := range ops {
		if err := up.apply(m, op); err != nil {
			s.writeError(w, r, err, "user")
			return
		}
	}
	norm, err := mapping.Normalize(mapping.User, m)
	if err != nil {
		s.writeError(w, r, err, "user")
		return
	}
	opts := s.userOptions()
	if un, _ := norm["userName"].(string); cur.IdPUserName != "" && strings.EqualFold(strings.TrimSpace(un), cur.IdPUserName) {
		// The userName is the one the bridge rendered, not one the IdP sent
		// in this PATCH: the user keeps it even when taking non-email
		// userNames has been switched off since.
		opts.UserNameFromEmail = true
	}
	u, err := mapping.UserFromSCIM(norm, opts)
	if err != nil {
		s.writeError(w, r, err, "user")
		return
	}
	keepUnsent(&u, cur)
	s.saveUser(w, r, cur, u)
}

func (s *server) deleteUser(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := chi.URLParam(r, "id")
	if r.Header.Get("If-Match") != "" {
		cur, err := s.dir.GetUser(ctx, id)
		if err != nil {
			s.writeError(w, r, err, "user")
			return
		}
		if err := checkIfMatch(r, cur.Version); err != nil {
			s.writeError(w, r, err, "user")
			return
		}
	}
	if err := s.dir.DeleteUser(ctx, id); err != nil {
		s.writeError(w, r, err, "user")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// applyRules recomputes the account type of each user from their groups
// after a membership change. A user no rule matches keeps their type.
// Failures are logged, not returned: the membership change the IdP asked
// for has happened, and the next change retries.
func (s *server) applyRules(ctx context.Context, userIDs []string) {
	if len(s.rules) == 0 {
		return
	}
	log := loggerFrom(ctx, s.log)
	for _, id := range userIDs {
		u, err := s.dir.GetUser(ctx, id)
		if err != nil {
			log.Warn("account type rules: read user", "user_id", id, "err", err)
			continue
		}
		names := make([]string, 0, len(u.Groups))
		for _, g := range u.Groups {
			names = append(names, g.Display)
		}
		want, ok := s.rules.AccountTypeFor(names)
		if !ok || strings.EqualFold(want, u.AccountType) {
			continue
		}
		from := u.AccountType
		u.AccountType = want
		if _, err := s.dir.ReplaceUser(ctx, u); err != nil {
			log.Warn("account type rules: set account type", "user_id", id, "account_type", want, "err", err)
			continue
		}
		log.Info("account type set by group rule", "user_id", id, "from", from, "to", want)
	}
}
