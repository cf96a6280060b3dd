package scimdir

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/dirkit"
	"github.com/scimbridge/scim-bridge/internal/store"
)

// ---- reading Sigma's SCIM resources -------------------------------------

func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func obj(m map[string]any, key string) map[string]any {
	o, _ := m[key].(map[string]any)
	return o
}

func boolean(m map[string]any, key string) bool {
	switch v := m[key].(type) {
	case bool:
		return v
	case string:
		return strings.EqualFold(v, "true")
	}
	return false
}

func metaTime(res map[string]any, key string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, str(obj(res, "meta"), key))
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// refs reads a SCIM multi-valued reference attribute (groups, members).
func refs(res map[string]any, key string) []directory.Ref {
	arr, _ := res[key].([]any)
	out := make([]directory.Ref, 0, len(arr))
	for _, e := range arr {
		o, _ := e.(map[string]any)
		if id := str(o, "value"); id != "" {
			out = append(out, directory.Ref{ID: id, Display: str(o, "display")})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// scimState is what the bridge compares of a user as Sigma holds it.
type scimState struct {
	id, userName, given, family, userType, userKind string
	active                                          bool
}

func stateOf(res sigma.SCIMResource) scimState {
	name := obj(res, "name")
	return scimState{
		id: str(res, "id"), userName: str(res, "userName"),
		given: str(name, "givenName"), family: str(name, "familyName"),
		userType: str(res, "userType"), userKind: str(obj(res, sigma.SCIMSigmaUserSchema), "userKind"),
		active: boolean(res, "active"),
	}
}

// toUser maps Sigma's SCIM user and its store record (externalId, the
// IdP's own userName) to a User, exactly as the REST path maps the same
// member (one dirkit.UserVersion, so ETags survive a switch of path).
func (d *Directory) toUser(ctx context.Context, res sigma.SCIMResource, r store.Resource) directory.User {
	s := stateOf(res)
	u := directory.User{
		ID:          s.id,
		UserName:    s.userName,
		ExternalID:  r.ExternalID,
		IdPUserName: r.UserName,
		GivenName:   s.given,
		FamilyName:  s.family,
		DisplayName: dirkit.DisplayName(s.given, s.family, s.userName),
		Emails:      []directory.Email{{Value: s.userName, Type: "work", Primary: true}},
		Active:      s.active,
		AccountType: d.types.canonical(ctx, s.userType),
		UserKind:    s.userKind,
		Created:     metaTime(res, "created"),
		Modified:    metaTime(res, "lastModified"),
	}
	if gs := refs(res, "groups"); len(gs) > 0 {
		u.Groups = gs
	}
	u.Version = dirkit.UserVersion(u)
	return u
}

// accountTypeFor resolves the account type of a write: name, else the
// configured default, else (onCreate) DefaultAccountType. An empty result
// on replace means "keep".
func (d *Directory) accountTypeFor(ctx context.Context, name string, onCreate bool) (canonical, scimType string, err error) {
	if strings.TrimSpace(name) == "" {
		name = d.opts.DefaultAccountType
		if strings.TrimSpace(name) == "" {
			if !onCreate {
				return "", "", nil
			}
			name = DefaultAccountType
		}
	}
	return d.types.resolve(ctx, name)
}

func checkUserKind(kind string) error {
	switch kind {
	case "", "internal", "embed":
		return nil
	case "guest":
		return &directory.InvalidValueError{Attribute: "userKind", Value: kind,
			Reason: "Sigma's SCIM provisioning does not support guest users", Valid: []string{"internal", "embed"}}
	}
	return &directory.InvalidValueError{Attribute: "userKind", Value: kind, Reason: "unknown user kind", Valid: []string{"internal", "embed"}}
}

// userOps lists the PATCH operations that make cur what u asks for. Empty
// names, user kind and account type in u mean "keep".
func userOps(cur scimState, u directory.User, scimType string) (ops []sigma.SCIMPatchOp, changed []string) {
	set := func(field, path string, differs bool, v any) {
		if differs {
			ops = append(ops, sigma.SCIMPatchOp{Op: "replace", Path: path, Value: v})
			changed = append(changed, field)
		}
	}
	email := strings.TrimSpace(u.UserName)
	given, family := strings.TrimSpace(u.GivenName), strings.TrimSpace(u.FamilyName)
	set("userName", "userName", email != "" && !strings.EqualFold(email, cur.userName), email)
	set("givenName", "name.givenName", given != "" && given != cur.given, given)
	set("familyName", "name.familyName", family != "" && family != cur.family, family)
	set("userType", "userType", scimType != "" && scimType != cur.userType, scimType)
	set("userKind", sigma.SCIMSigmaUserSchema+":userKind", u.UserKind != "" && u.UserKind != cur.userKind, u.UserKind)
	set("active="+fmt.Sprint(u.Active), "active", u.Active != cur.active, u.Active)
	return ops, changed
}

// predict applies ops to a copy of res (for dry-run answers).
func predict(res sigma.SCIMResource, ops []sigma.SCIMPatchOp) sigma.SCIMResource {
	out := sigma.SCIMResource{}
	for k, v := range res {
		out[k] = v
	}
	name := map[string]any{}
	for k, v := range obj(res, "name") {
		name[k] = v
	}
	ext := map[string]any{}
	for k, v := range obj(res, sigma.SCIMSigmaUserSchema) {
		ext[k] = v
	}
	for _, op := range ops {
		switch op.Path {
		case "name.givenName":
			name["givenName"] = op.Value
		case "name.familyName":
			name["familyName"] = op.Value
		case sigma.SCIMSigmaUserSchema + ":userKind":
			ext["userKind"] = op.Value
		default:
			out[op.Path] = op.Value
		}
	}
	out["name"], out[sigma.SCIMSigmaUserSchema] = name, ext
	return out
}

// getUser reads a user from Sigma; ok is false if Sigma does not know it
// (or shows it no longer: a deactivated member is gone for SCIM).
func (d *Directory) getUser(ctx context.Context, id string) (sigma.SCIMResource, bool, error) {
	res, err := d.scim.GetUser(ctx, id)
	if err == nil {
		d.observe(nil)
		return res, true, nil
	}
	if err = d.missing(ctx, "get user", err); errors.Is(err, directory.ErrNotFound) {
		if res, ok := d.archivedMember(ctx, id); ok {
			return res, true, nil
		}
		return nil, false, nil
	}
	return nil, false, err
}

// liveUser is getUser plus the store's record; ok is false as well when
// the store has tombstoned the user (checked first: no upstream call).
func (d *Directory) liveUser(ctx context.Context, id string) (res sigma.SCIMResource, r store.Resource, ok bool, err error) {
	if strings.TrimSpace(id) == "" {
		return nil, r, false, nil
	}
	r, _, err = d.rec.Get(ctx, store.KindUser, id)
	if err != nil || r.Tombstoned {
		return nil, r, false, err
	}
	res, ok, err = d.getUser(ctx, id)
	return res, r, ok, err
}

// findUser filters Sigma's users by userName (case-insensitively).
func (d *Directory) findUser(ctx context.Context, userName string) (sigma.SCIMResource, bool, error) {
	res, ok, err := d.scim.FindUserByUserName(ctx, strings.TrimSpace(userName))
	if err != nil {
		return nil, false, d.check("find user by userName", err, true)
	}
	d.observe(nil)
	return res, ok, nil
}

// GetUser implements directory.Directory.
func (d *Directory) GetUser(ctx context.Context, id string) (directory.User, error) {
	res, r, ok, err := d.liveUser(ctx, id)
	if err != nil {
		return directory.User{}, fmt.Errorf("get user %s: %w", id, err)
	}
	if !ok {
		return directory.User{}, fmt.Errorf("get user %s: %w", id, directory.ErrNotFound)
	}
	return d.toUser(ctx, res, r), nil
}

// LookupUsers implements directory.Directory for AttrID (one GET),
// AttrEmail (one filtered list: a Sigma member has one email, its
// userName; none for a value without "@"), AttrUserName (the same, plus
// the IdP's own userName in the store, then one GET) and AttrExternalID
// (the store, then one GET).
func (d *Directory) LookupUsers(ctx context.Context, attr directory.Attr, value string) ([]directory.User, error) {
	var id string
	switch attr {
	case directory.AttrID:
		id = value
	case directory.AttrUserName, directory.AttrEmail:
		value = strings.TrimSpace(value)
		if value == "" {
			return nil, nil
		}
		var out []directory.User
		if strings.Contains(value, "@") { // no Sigma email lacks one: no call for a GUID
			res, ok, err := d.findUser(ctx, value)
			if err != nil {
				return nil, fmt.Errorf("look up user by %s: %w", attr, err)
			}
			if ok {
				r, _, err := d.rec.Get(ctx, store.KindUser, str(res, "id"))
				if err != nil {
					return nil, fmt.Errorf("look up user by %s: %w", attr, err)
				}
				if !r.Tombstoned {
					out = append(out, d.toUser(ctx, res, r))
				}
			}
		}
		if attr == directory.AttrUserName {
			// The IdP's own userName, kept in the store.
			holder, err := d.rec.UserNameHolder(ctx, value)
			if err != nil {
				return nil, fmt.Errorf("look up user by %s: %w", attr, err)
			}
			if holder != "" && (len(out) == 0 || out[0].ID != holder) {
				res, r, ok, err := d.liveUser(ctx, holder)
				if err != nil {
					return nil, fmt.Errorf("look up user by %s: %w", attr, err)
				}
				if ok {
					out = append(out, d.toUser(ctx, res, r))
					sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
				}
			}
		}
		return out, nil
	case directory.AttrExternalID:
		var err error
		if id, err = d.rec.IDByExternalID(ctx, store.KindUser, value); err != nil || id == "" {
			return nil, err
		}
	default:
		return nil, &directory.InvalidValueError{Attribute: string(attr), Value: value, Reason: "users cannot be looked up by this attribute"}
	}
	res, r, ok, err := d.liveUser(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("look up user by %s: %w", attr, err)
	}
	if !ok {
		return nil, nil
	}
	return []directory.User{d.toUser(ctx, res, r)}, nil
}

// ListUsers implements directory.Directory: every user Sigma's SCIM shows
// (paged, PageSize at a time, reused for Options.ListCacheTTL), minus
// tombstoned ones, ordered by id.
func (d *Directory) ListUsers(ctx context.Context) ([]directory.User, error) {
	recs, err := d.rec.All(ctx, store.KindUser)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	all, err := d.cachedList(ctx, &d.users, func(ctx context.Context) ([]map[string]any, error) {
		return d.listAll(ctx, "list users", d.scim.FilterUsers)
	})
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	out := make([]directory.User, 0, len(all))
	for _, res := range all {
		r := recs[str(res, "id")]
		if !r.Tombstoned {
			out = append(out, d.toUser(ctx, res, r))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// listAll pages through a Sigma SCIM list. Offset paging over a list that
// changes meanwhile may repeat an entry; repeats are dropped.
func (d *Directory) listAll(ctx context.Context, op string, page func(context.Context, string, int, int) (sigma.SCIMListResponse, error)) ([]map[string]any, error) {
	var out []map[string]any
	seen := map[string]bool{}
	start := 1
	for range 100_000 { // a bound, never reached: Sigma's orgs are far smaller
		lr, err := page(ctx, "", start, PageSize)
		if err != nil {
			return nil, d.check(op, err, true)
		}
		for _, res := range lr.Resources {
			if id := str(res, "id"); id != "" && !seen[id] {
				seen[id] = true
				out = append(out, res)
			}
		}
		if len(lr.Resources) == 0 || start+len(lr.Resources)-1 >= lr.TotalResults {
			break
		}
		start += len(lr.Resources)
	}
	d.observe(nil)
	return out, nil
}

// newUserBody is the POST body Sigma's SCIM documents.
func newUserBody(u directory.User, email, scimType string) sigma.SCIMResource {
	body := sigma.SCIMResource{
		"schemas":  []string{sigma.SCIMUserSchema, sigma.SCIMSigmaUserSchema},
		"userName": email,
		"name":     map[string]any{"givenName": u.GivenName, "familyName": u.FamilyName},
		"emails":   []map[string]any{{"value": email, "type": "work", "primary": true}},
		"active":   u.Active,
		"userType": scimType,
	}
	if u.UserKind != "" {
		body[sigma.SCIMSigmaUserSchema] = map[string]any{"userKind": u.UserKind}
	}
	return body
}

// CreateUser implements directory.Directory with one POST for a new user.
// When Sigma answers 409 the user is looked up: an active, live user is a
// conflict; an inactive or tombstoned one is revived. Sigma's SCIM POST of
// a deleted (deactivated) member's email reactivates that member itself,
// which is the same revival seen from Sigma's side.
func (d *Directory) CreateUser(ctx context.Context, u directory.User) (directory.User, error) {
	const op = "user.create"
	email := strings.TrimSpace(u.UserName)
	fail := func(id string, err error) (directory.User, error) {
		d.audit(ctx, op, store.KindUser, id, store.OutcomeFailed, err, "userName "+email)
		return directory.User{}, fmt.Errorf("create user %s: %w", email, err)
	}
	if email == "" {
		return fail("", &directory.InvalidValueError{Attribute: "userName", Reason: "required"})
	}
	if err := checkUserKind(u.UserKind); err != nil {
		return fail("", err)
	}
	dirkit.CompleteNames(&u)
	_, scimType, err := d.accountTypeFor(ctx, u.AccountType, true)
	if err != nil {
		return fail("", err)
	}
	defer d.locks.Lock("email:" + dirkit.LowerTrim(email))()

	// Sigma is asked to create first: for a new user (the common case) that
	// is the only call. Sigma's 409 (the userName is visible: active, or
	// inactive) sends us down the existing-user path; a deactivated
	// (deleted) member's userName is revived by Sigma's POST itself.
	// Looking up first is needed only in dry-run and when the externalId is
	// already held, possibly by this very user.
	lookFirst := d.opts.DryRun
	if u.ExternalID != "" {
		switch r, err := d.store.ResourceByExternalID(ctx, store.KindUser, u.ExternalID); {
		case err == nil:
			lookFirst = lookFirst || r.ID != ""
		case !errors.Is(err, store.ErrNotFound):
			return fail("", fmt.Errorf("look up externalId in store: %w", err))
		}
	}
	holder, err := d.rec.UserNameHolder(ctx, u.IdPUserName)
	if err != nil {
		return fail("", err)
	}
	lookFirst = lookFirst || holder != ""
	if lookFirst {
		existing, ok, err := d.findUser(ctx, email)
		if err != nil {
			return fail("", err)
		}
		if ok {
			return d.createExisting(ctx, existing, u, scimType)
		}
		// Nobody in Sigma has the email, so whoever holds the externalId
		// or the IdP userName is another user: refused before any write.
		if err := d.rec.CheckExternalID(ctx, store.KindUser, "", u.ExternalID); err != nil {
			return fail("", err)
		}
		if err := d.rec.CheckUserName(ctx, "", u.IdPUserName); err != nil {
			return fail("", err)
		}
	}
	body := newUserBody(u, email, scimType)
	if d.opts.DryRun {
		now := d.opts.Now().UTC().Format(time.RFC3339Nano)
		body["id"] = dirkit.DryRunID(email)
		body["meta"] = map[string]any{"created": now, "lastModified": now}
		d.audit(ctx, op, store.KindUser, "", store.OutcomeDryRun, nil, "would create user "+email)
		return d.toUser(ctx, body, dirkit.UserRecord(dirkit.DryRunID(email), u)), nil
	}
	res, err := d.scim.CreateUser(ctx, body)
	if errors.Is(err, sigma.ErrDuplicate) {
		d.observe(nil)
		existing, ok, ferr := d.findUser(ctx, email)
		if ferr != nil {
			return fail("", ferr)
		}
		if !ok {
			return fail("", fmt.Errorf("userName is taken in Sigma: %w", directory.ErrConflict))
		}
		return d.createExisting(ctx, existing, u, scimType)
	}
	if err != nil {
		return fail("", d.userWriteErr(ctx, "create user", err, u.AccountType))
	}
	if u.Active && !boolean(res, "active") {
		// An ambiguous create that the client resolved by lookup found the
		// user already there, inactive: revive it like any other.
		return d.createExisting(ctx, res, u, scimType)
	}
	d.observe(nil)
	id := str(res, "id")
	r, found, err := d.rec.Get(ctx, store.KindUser, id)
	if err != nil {
		return fail(id, err)
	}
	detail := "created user " + email
	if found && r.Tombstoned {
		detail = "revived deleted user " + email + " (Sigma reactivated the member)"
	}
	if u.ExternalID != "" || u.IdPUserName != "" || found {
		if err := d.rec.Put(ctx, dirkit.UserRecord(id, u)); err != nil {
			return fail(id, err)
		}
	}
	d.audit(ctx, op, store.KindUser, id, store.OutcomeOK, nil, detail)
	return d.toUser(ctx, res, dirkit.UserRecord(id, u)), nil
}

// userWriteErr classifies a failed user write: Sigma refusing the userType
// becomes an *InvalidValueError naming what the IdP sent.
func (d *Directory) userWriteErr(ctx context.Context, op string, err error, sent string) error {
	if ae, ok := badRequest(err); ok && strings.Contains(strings.ToLower(ae.Message), "usertype") {
		d.observe(nil)
		return &directory.InvalidValueError{Attribute: "userType", Value: sent, Reason: "Sigma refused the account type: " + dirkit.Truncate(ae.Message, dirkit.MaxMessage)}
	}
	return d.missing(ctx, op, err)
}

// createExisting finishes a CreateUser whose userName Sigma shows: an
// active, live user is a conflict; an inactive or tombstoned one is
// reactivated, updated to u and untombstoned.
func (d *Directory) createExisting(ctx context.Context, res sigma.SCIMResource, u directory.User, scimType string) (directory.User, error) {
	const op = "user.create"
	id := str(res, "id")
	defer d.locks.Lock("member:" + id)()
	fail := func(err error) (directory.User, error) {
		d.audit(ctx, op, store.KindUser, id, store.OutcomeFailed, err, "userName "+u.UserName)
		return directory.User{}, fmt.Errorf("create user %s: %w", u.UserName, err)
	}
	r, _, err := d.rec.Get(ctx, store.KindUser, id)
	if err != nil {
		return fail(err)
	}
	cur := stateOf(res)
	if cur.active && !r.Tombstoned {
		return fail(fmt.Errorf("userName is taken by user %s: %w", id, directory.ErrConflict))
	}
	if err := d.rec.CheckExternalID(ctx, store.KindUser, id, u.ExternalID); err != nil {
		return fail(err)
	}
	if err := d.rec.CheckUserName(ctx, id, u.IdPUserName); err != nil {
		return fail(err)
	}
	ops, changed := userOps(cur, u, scimType)
	detail := "revived user"
	if len(changed) > 0 {
		detail += "; changed " + strings.Join(changed, ", ")
	}
	if d.opts.DryRun {
		d.audit(ctx, op, store.KindUser, id, store.OutcomeDryRun, nil, "would have "+detail)
		return d.toUser(ctx, predict(res, ops), dirkit.UserRecord(id, u)), nil
	}
	if len(ops) > 0 {
		out, err := d.scim.PatchUser(ctx, id, ops)
		if err != nil {
			return fail(d.userWriteErr(ctx, "update user", err, u.AccountType))
		}
		if res, err = d.afterPatch(ctx, store.KindUser, id, out); err != nil {
			return fail(err)
		}
	}
	if err := d.rec.Put(ctx, dirkit.UserRecord(id, u)); err != nil {
		return fail(err)
	}
	d.audit(ctx, op, store.KindUser, id, store.OutcomeOK, nil, detail)
	return d.toUser(ctx, res, dirkit.UserRecord(id, u)), nil
}

// afterPatch returns the user or group (kind) a PATCH produced, reading
// it back when Sigma answered 204.
func (d *Directory) afterPatch(ctx context.Context, kind store.Kind, id string, out sigma.SCIMResource) (sigma.SCIMResource, error) {
	d.observe(nil)
	if out != nil && str(out, "id") != "" {
		return out, nil
	}
	get := d.getUser
	if kind == store.KindGroup {
		get = d.getGroup
	}
	res, ok, err := get(ctx, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("read %s %s back: %w", kind, id, directory.ErrNotFound)
	}
	return res, nil
}

// ReplaceUser implements directory.Directory. The user is read fresh from
// Sigma and only what differs is sent, as one PATCH of replace operations
// (so a replace that changes nothing writes nothing). Empty names, user
// kind and account type (without a configured default) keep their values.
func (d *Directory) ReplaceUser(ctx context.Context, u directory.User) (directory.User, error) {
	const op = "user.replace"
	fail := func(err error) (directory.User, error) {
		d.audit(ctx, op, store.KindUser, u.ID, store.OutcomeFailed, err, "")
		return directory.User{}, fmt.Errorf("replace user %s: %w", u.ID, err)
	}
	if err := checkUserKind(u.UserKind); err != nil {
		return fail(err)
	}
	canonical, scimType, err := d.accountTypeFor(ctx, u.AccountType, false)
	if err != nil {
		return fail(err)
	}
	defer d.locks.Lock("member:" + u.ID)()
	res, r, ok, err := d.liveUser(ctx, u.ID)
	if err != nil {
		return fail(err)
	}
	if !ok {
		return directory.User{}, fmt.Errorf("replace user %s: %w", u.ID, directory.ErrNotFound)
	}
	extChanged := u.ExternalID != r.ExternalID
	if extChanged {
		if err := d.rec.CheckExternalID(ctx, store.KindUser, u.ID, u.ExternalID); err != nil {
			return fail(err)
		}
	}
	// Exact comparison: a change of case is the IdP's new spelling, kept.
	aliasChanged := u.IdPUserName != r.UserName
	if aliasChanged {
		if err := d.rec.CheckUserName(ctx, u.ID, u.IdPUserName); err != nil {
			return fail(err)
		}
	}
	var recChanged []string
	if extChanged {
		recChanged = append(recChanged, "externalId")
	}
	if aliasChanged {
		recChanged = append(recChanged, "IdP userName")
	}
	if email := strings.TrimSpace(u.UserName); email != "" && !strings.EqualFold(email, str(res, "userName")) {
		// A rename onto a userName another user holds is a conflict, found
		// before anything is written.
		other, taken, err := d.findUser(ctx, email)
		if err != nil {
			return fail(err)
		}
		if taken && str(other, "id") != u.ID {
			return fail(fmt.Errorf("userName %s is taken by user %s: %w", email, str(other, "id"), directory.ErrConflict))
		}
	}
	var changed []string
	if isArchived(res) && !d.opts.DryRun {
		res, changed, err = d.replaceArchived(ctx, res, u, canonical, scimType)
		if err != nil {
			return fail(err)
		}
	} else {
		var ops []sigma.SCIMPatchOp
		ops, changed = userOps(stateOf(res), u, scimType)
		if len(changed)+len(recChanged) > 0 && d.opts.DryRun {
			d.audit(ctx, op, store.KindUser, u.ID, store.OutcomeDryRun, nil, "would have changed "+strings.Join(append(changed, recChanged...), ", "))
			return d.toUser(ctx, predict(res, ops), dirkit.UserRecord(u.ID, u)), nil
		}
		if len(ops) > 0 {
			out, err := d.scim.PatchUser(ctx, u.ID, ops)
			if err != nil {
				return fail(d.userWriteErr(ctx, "update user", err, u.AccountType))
			}
			if res, err = d.afterPatch(ctx, store.KindUser, u.ID, out); err != nil {
				return fail(err)
			}
		}
	}
	changed = append(changed, recChanged...)
	if len(changed) == 0 {
		d.audit(ctx, op, store.KindUser, u.ID, store.OutcomeSkipped, nil, "no change")
		return d.toUser(ctx, res, r), nil
	}
	if len(recChanged) > 0 {
		if err := d.rec.Put(ctx, dirkit.UserRecord(u.ID, u)); err != nil {
			return fail(err)
		}
	}
	d.audit(ctx, op, store.KindUser, u.ID, store.OutcomeOK, nil, "changed "+strings.Join(changed, ", "))
	return d.toUser(ctx, res, dirkit.UserRecord(u.ID, u)), nil
}

// DeleteUser implements directory.Directory: the member is deactivated in
// Sigma (SCIM DELETE, which Sigma answers by deactivating; or, with a REST
// client and Options.DeprovisionOwnerID, a REST deactivation that hands the
// documents over) and tombstoned in the store, which hides it from every
// read until a CreateUser with its userName revives it.
func (d *Directory) DeleteUser(ctx context.Context, id string) error {
	const op = "user.delete"
	fail := func(err error) error {
		d.audit(ctx, op, store.KindUser, id, store.OutcomeFailed, err, "")
		return fmt.Errorf("delete user %s: %w", id, err)
	}
	defer d.locks.Lock("member:" + id)()
	_, r, ok, err := d.liveUser(ctx, id)
	if err != nil {
		return fail(err)
	}
	if !ok {
		return fmt.Errorf("delete user %s: %w", id, directory.ErrNotFound)
	}
	handOver := d.rest != nil && d.opts.DeprovisionOwnerID != ""
	detail := "deactivated in Sigma and tombstoned"
	if handOver {
		detail += "; documents to " + d.opts.DeprovisionOwnerID
	}
	if d.opts.DryRun {
		d.audit(ctx, op, store.KindUser, id, store.OutcomeDryRun, nil, "would have "+detail)
		return nil
	}
	if handOver {
		if _, err := d.rest.DeactivateMember(ctx, id, sigma.DeactivateOptions{NewOwnerID: d.opts.DeprovisionOwnerID}); err != nil {
			return fail(dirkit.UpstreamErr("deactivate member", err))
		}
	} else if err := d.scim.DeleteUser(ctx, id); err != nil {
		if err = d.missing(ctx, "delete user", err); !errors.Is(err, directory.ErrNotFound) {
			return fail(err)
		}
		// Already gone for Sigma's SCIM: tombstoning is all that is left.
	} else {
		d.observe(nil)
	}
	// The tombstone keeps the externalId and the IdP's userName (for the
	// audit and a revival) but no longer holds them: another user may take
	// them.
	r.Tombstoned = true
	if err := d.rec.Put(ctx, r); err != nil {
		return fail(err)
	}
	d.audit(ctx, op, store.KindUser, id, store.OutcomeOK, nil, detail)
	return nil
}

// tombstoned returns the subset of ids the store has tombstoned.
func (d *Directory) tombstoned(ctx context.Context, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, id := range slices.Compact(slices.Sorted(slices.Values(ids))) {
		r, _, err := d.rec.Get(ctx, store.KindUser, id)
		if err != nil {
			return nil, err
		}
		if r.Tombstoned {
			out[id] = true
		}
	}
	return out, nil
}
