package restdir

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/dirkit"
	"github.com/scimbridge/scim-bridge/internal/store"
)

func active(m sigma.Member) bool { return !m.IsArchived && !m.IsInactive }

// toUser maps a member and its store record (externalId, the IdP's
// userName) to a User; its groups come from the index.
func (d *Directory) toUser(m sigma.Member, r store.Resource) directory.User {
	u := directory.User{
		ID:          m.MemberID,
		UserName:    m.Email,
		ExternalID:  r.ExternalID,
		IdPUserName: r.UserName,
		GivenName:   m.FirstName,
		FamilyName:  m.LastName,
		DisplayName: dirkit.DisplayName(m.FirstName, m.LastName, m.Email),
		Emails:      []directory.Email{{Value: m.Email, Type: "work", Primary: true}},
		Active:      active(m),
		AccountType: m.MemberType,
		UserKind:    m.UserKind,
		Created:     m.CreatedAt,
		Modified:    m.UpdatedAt,
	}
	d.idx.read(func(x *indexData) {
		for tid := range x.memberTeams[m.MemberID] {
			if t, ok := x.teams[tid]; ok {
				u.Groups = append(u.Groups, directory.Ref{ID: tid, Display: t.Name})
			}
		}
	})
	sort.Slice(u.Groups, func(i, j int) bool { return u.Groups[i].ID < u.Groups[j].ID })
	u.Version = dirkit.UserVersion(u)
	return u
}

// resolveAccountType returns the canonical account type for a write:
// name, else Options.DefaultAccountType, else "" (Sigma's org default).
func (d *Directory) resolveAccountType(ctx context.Context, name string) (string, error) {
	if strings.TrimSpace(name) == "" {
		name = d.opts.DefaultAccountType
		if strings.TrimSpace(name) == "" {
			return "", nil
		}
	}
	at, err := d.client.ResolveAccountType(ctx, name)
	if err != nil {
		return "", upstreamErr("resolve account type", err)
	}
	return at, nil
}

// applyPatch predicts the member after p (for dry-run answers).
func applyPatch(m sigma.Member, p sigma.MemberPatch) sigma.Member {
	for _, f := range []struct {
		src *string
		dst *string
	}{{p.Email, &m.Email}, {p.FirstName, &m.FirstName}, {p.LastName, &m.LastName}, {p.MemberType, &m.MemberType}, {p.UserKind, &m.UserKind}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	return m
}

// member returns the member id from the index or, on a miss, a stale
// entry (another replica changed it) or when ctx asks for a fresh read,
// from one upstream GET; ok is false if Sigma does not know the id.
func (d *Directory) member(ctx context.Context, id string) (sigma.Member, bool, error) {
	gen := d.idx.staleGen(userKey(id))
	m, ok := d.idx.member(id)
	if ok && gen == 0 && !directory.FreshRead(ctx) {
		d.m.lookups.WithLabelValues("user", "hit").Inc()
		return m, true, nil
	}
	m, err := d.client.GetMember(ctx, id)
	if errors.Is(err, sigma.ErrNotFound) {
		if gen != 0 {
			d.idx.dropMember(id)
			d.idx.clearStale(userKey(id), gen)
		}
		d.m.lookups.WithLabelValues("user", "miss").Inc()
		return m, false, nil
	}
	if err != nil {
		return m, false, upstreamErr("get member", err)
	}
	result := "upstream_hit"
	if ok && gen != 0 {
		result = "refreshed"
	}
	d.m.lookups.WithLabelValues("user", result).Inc()
	d.idx.putMember(m)
	d.idx.clearStale(userKey(id), gen)
	return m, true, nil
}

// indexedMemberByEmail returns the member with email from the index,
// re-reading it with one GET /v2/members/{id} when it is stale; ok is
// false when the index has none or the re-read member has another email
// now.
func (d *Directory) indexedMemberByEmail(ctx context.Context, email string) (sigma.Member, bool, error) {
	m, ok := d.idx.memberByEmail(email)
	if !ok {
		return m, false, nil
	}
	key := userKey(m.MemberID)
	gen := d.idx.staleGen(key)
	if gen == 0 {
		d.m.lookups.WithLabelValues("user", "hit").Inc()
		return m, true, nil
	}
	f, err := d.client.GetMember(ctx, m.MemberID)
	switch {
	case errors.Is(err, sigma.ErrNotFound):
		d.idx.dropMember(m.MemberID)
		d.idx.clearStale(key, gen)
		return m, false, nil
	case err != nil:
		return m, false, upstreamErr("get member", err)
	}
	d.idx.putMember(f)
	d.idx.clearStale(key, gen)
	if !strings.EqualFold(strings.TrimSpace(f.Email), strings.TrimSpace(email)) {
		return f, false, nil // renamed elsewhere: the email may be another's now
	}
	d.m.lookups.WithLabelValues("user", "refreshed").Inc()
	return f, true, nil
}

// liveMember is member plus the store's record; ok is false as well when
// the store has tombstoned the member.
func (d *Directory) liveMember(ctx context.Context, id string) (m sigma.Member, r store.Resource, ok bool, err error) {
	// The store first: a tombstoned member costs no Sigma call.
	r, _, err = d.rec.Get(ctx, store.KindUser, id)
	if err != nil || r.Tombstoned {
		return m, r, false, err
	}
	m, ok, err = d.member(ctx, id)
	return m, r, ok && err == nil, err
}

// memberByEmail returns the member with email from the index (re-read
// when stale) or, on a miss, from one GET /v2/members?email= (archived and
// inactive included).
func (d *Directory) memberByEmail(ctx context.Context, email string) (sigma.Member, bool, error) {
	if m, ok, err := d.indexedMemberByEmail(ctx, email); err != nil || ok {
		return m, ok, err
	}
	m, ok, err := d.client.FindMemberByEmail(ctx, strings.TrimSpace(email))
	if err != nil {
		return m, false, upstreamErr("find member by email", err)
	}
	if !ok {
		d.m.lookups.WithLabelValues("user", "miss").Inc()
		return m, false, nil
	}
	d.m.lookups.WithLabelValues("user", "upstream_hit").Inc()
	d.idx.putMember(m)
	return m, true, nil
}

// GetUser implements directory.Directory.
func (d *Directory) GetUser(ctx context.Context, id string) (directory.User, error) {
	m, r, ok, err := d.liveMember(ctx, id)
	if err != nil {
		return directory.User{}, fmt.Errorf("get user %s: %w", id, err)
	}
	if !ok {
		return directory.User{}, fmt.Errorf("get user %s: %w", id, directory.ErrNotFound)
	}
	return d.toUser(m, r), nil
}

// LookupUsers implements directory.Directory for AttrID, AttrUserName (the
// email, or the IdP's own userName kept in the store), AttrEmail (the same
// email: a member has one) and AttrExternalID.
//
// An email is looked up in the index and, on a miss, confirmed with one
// GET /v2/members?email= — unless the value has no "@", which no Sigma
// email lacks (Entra's test connection asks for a GUID). The IdP's
// userName is looked up in the store on every call, so an alias another
// replica just wrote is seen.
func (d *Directory) LookupUsers(ctx context.Context, attr directory.Attr, value string) ([]directory.User, error) {
	var id string
	switch attr {
	case directory.AttrID:
		id = value
	case directory.AttrUserName, directory.AttrEmail:
		if strings.TrimSpace(value) == "" {
			return nil, nil
		}
		var out []directory.User
		u, ok, err := d.lookupByEmail(ctx, value)
		if err != nil {
			return nil, fmt.Errorf("look up user by %s: %w", attr, err)
		}
		if ok {
			out = append(out, u)
		}
		if attr == directory.AttrUserName {
			a, ok, err := d.lookupByIdPUserName(ctx, value)
			if err != nil {
				return nil, fmt.Errorf("look up user by %s: %w", attr, err)
			}
			// Aliases are not emails, so both matching is a corner the
			// edge never creates; answer both rather than pick one.
			if ok && (len(out) == 0 || out[0].ID != a.ID) {
				out = append(out, a)
				sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
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
	if id == "" {
		return nil, nil
	}
	m, r, ok, err := d.liveMember(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("look up user by %s: %w", attr, err)
	}
	if !ok {
		return nil, nil
	}
	return []directory.User{d.toUser(m, r)}, nil
}

// lookupByEmail returns the live user whose email is email.
func (d *Directory) lookupByEmail(ctx context.Context, email string) (directory.User, bool, error) {
	var m sigma.Member
	var ok bool
	if strings.Contains(email, "@") {
		var err error
		if m, ok, err = d.memberByEmail(ctx, email); err != nil {
			return directory.User{}, false, err
		}
	} else {
		var err error
		if m, ok, err = d.indexedMemberByEmail(ctx, email); err != nil {
			return directory.User{}, false, err
		}
	}
	if !ok {
		return directory.User{}, false, nil
	}
	r, _, err := d.rec.Get(ctx, store.KindUser, m.MemberID)
	if err != nil || r.Tombstoned {
		return directory.User{}, false, err
	}
	return d.toUser(m, r), true, nil
}

// lookupByIdPUserName returns the live user the store records the IdP
// userName name for.
func (d *Directory) lookupByIdPUserName(ctx context.Context, name string) (directory.User, bool, error) {
	r, err := d.store.ResourceByUserName(ctx, store.KindUser, strings.TrimSpace(name))
	if errors.Is(err, store.ErrNotFound) {
		return directory.User{}, false, nil
	}
	if err != nil {
		return directory.User{}, false, fmt.Errorf("look up userName in store: %w", err)
	}
	m, ok, err := d.member(ctx, r.ID)
	if !ok || err != nil {
		return directory.User{}, false, err
	}
	return d.toUser(m, r), true, nil
}

// ListUsers implements directory.Directory.
func (d *Directory) ListUsers(ctx context.Context) ([]directory.User, error) {
	recs, err := d.rec.All(ctx, store.KindUser)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	var ms []sigma.Member
	d.idx.read(func(x *indexData) {
		ms = make([]sigma.Member, 0, len(x.members))
		for _, m := range x.members {
			if !recs[m.MemberID].Tombstoned {
				ms = append(ms, m)
			}
		}
	})
	sort.Slice(ms, func(i, j int) bool { return ms[i].MemberID < ms[j].MemberID })
	out := make([]directory.User, len(ms))
	for i, m := range ms {
		out[i] = d.toUser(m, recs[m.MemberID])
	}
	return out, nil
}

// CreateUser implements directory.Directory. The email is checked in the
// index only: on a miss the create is sent and Sigma's 409 (the email
// exists, possibly archived) sends us down the existing-member path, which
// saves the IdP's lookup-then-create a second upstream lookup.
func (d *Directory) CreateUser(ctx context.Context, u directory.User) (directory.User, error) {
	const op = "user.create"
	email := strings.TrimSpace(u.UserName)
	fail := func(id string, err error) (directory.User, error) {
		d.audits.Record(ctx, op, store.KindUser, id, store.OutcomeFailed, err, "userName "+email)
		return directory.User{}, fmt.Errorf("create user %s: %w", email, err)
	}
	if email == "" {
		return fail("", &directory.InvalidValueError{Attribute: "userName", Reason: "required"})
	}
	dirkit.CompleteNames(&u)
	at, err := d.resolveAccountType(ctx, u.AccountType)
	if err != nil {
		return fail("", err)
	}
	defer d.locks.Lock("email:" + dirkit.LowerTrim(email))()

	if m, ok := d.idx.memberByEmail(email); ok {
		// Confirm against Sigma: another replica may have changed it.
		fresh, err := d.client.GetMember(ctx, m.MemberID)
		switch {
		case errors.Is(err, sigma.ErrNotFound):
			d.idx.dropMember(m.MemberID)
		case err != nil:
			return fail(m.MemberID, upstreamErr("get member", err))
		case !strings.EqualFold(fresh.Email, email):
			d.idx.putMember(fresh) // renamed elsewhere; the email is free
		default:
			d.idx.putMember(fresh)
			return d.createExisting(ctx, fresh, u, at)
		}
	}
	if err := d.rec.CheckExternalID(ctx, store.KindUser, "", u.ExternalID); err != nil {
		return fail("", err)
	}
	err = d.rec.CheckUserName(ctx, "", u.IdPUserName)
	if errors.Is(err, directory.ErrConflict) {
		// Held perhaps by this very member, deactivated and missing from
		// the index (another replica wrote it): only Sigma can tell.
		existing, ok, ferr := d.client.FindMemberByEmail(ctx, email)
		if ferr != nil {
			return fail("", upstreamErr("find member by email", ferr))
		}
		if ok {
			d.idx.putMember(existing)
			return d.createExisting(ctx, existing, u, at)
		}
	}
	if err != nil {
		return fail("", err)
	}
	nm := sigma.NewMember{Email: email, FirstName: u.GivenName, LastName: u.FamilyName, MemberType: at, UserKind: u.UserKind}
	if d.opts.DryRun {
		// No create to be refused with 409: ask Sigma whether the email exists.
		if existing, ok, err := d.client.FindMemberByEmail(ctx, email); err != nil {
			return fail("", upstreamErr("find member by email", err))
		} else if ok {
			d.idx.putMember(existing)
			return d.createExisting(ctx, existing, u, at)
		}
		m := sigma.Member{MemberID: dirkit.DryRunID(email), Email: email, FirstName: nm.FirstName, LastName: nm.LastName,
			MemberType: at, UserKind: u.UserKind, CreatedAt: d.opts.Now(), UpdatedAt: d.opts.Now()}
		d.audits.Record(ctx, op, store.KindUser, "", store.OutcomeDryRun, nil, "would create member "+email)
		return d.toUser(m, dirkit.UserRecord(m.MemberID, u)), nil
	}
	m, err := d.client.CreateMember(ctx, nm)
	if errors.Is(err, sigma.ErrDuplicate) {
		// The email exists (perhaps archived, perhaps created by another
		// replica a moment ago).
		existing, ok, ferr := d.client.FindMemberByEmail(ctx, email)
		if ferr != nil {
			return fail("", upstreamErr("find member by email", ferr))
		}
		if !ok {
			return fail("", upstreamErr("create member", err))
		}
		d.idx.putMember(existing)
		return d.createExisting(ctx, existing, u, at)
	}
	if err != nil {
		return fail("", upstreamErr("create member", err))
	}
	d.idx.putMember(m)
	if !active(m) {
		// An ambiguous create resolved to a member that already existed,
		// deactivated: revive it like any other.
		return d.createExisting(ctx, m, u, at)
	}
	if u.ExternalID != "" || u.IdPUserName != "" {
		if err := d.rec.Put(ctx, dirkit.UserRecord(m.MemberID, u)); err != nil {
			return fail(m.MemberID, err)
		}
	}
	d.audits.Record(ctx, op, store.KindUser, m.MemberID, store.OutcomeOK, nil, "created member "+email)
	return d.toUser(m, dirkit.UserRecord(m.MemberID, u)), nil
}

// createExisting finishes a CreateUser whose email Sigma already knows:
// an active, untombstoned member is a conflict; a deactivated or
// tombstoned one is reactivated, updated to u and untombstoned.
func (d *Directory) createExisting(ctx context.Context, m sigma.Member, u directory.User, at string) (directory.User, error) {
	const op = "user.create"
	defer d.locks.Lock("member:" + m.MemberID)()
	fail := func(err error) (directory.User, error) {
		d.audits.Record(ctx, op, store.KindUser, m.MemberID, store.OutcomeFailed, err, "userName "+u.UserName)
		return directory.User{}, fmt.Errorf("create user %s: %w", u.UserName, err)
	}
	r, _, err := d.rec.Get(ctx, store.KindUser, m.MemberID)
	if err != nil {
		return fail(err)
	}
	if active(m) && !r.Tombstoned {
		return fail(fmt.Errorf("userName is taken by member %s: %w", m.MemberID, directory.ErrConflict))
	}
	if err := d.rec.CheckExternalID(ctx, store.KindUser, m.MemberID, u.ExternalID); err != nil {
		return fail(err)
	}
	if err := d.rec.CheckUserName(ctx, m.MemberID, u.IdPUserName); err != nil {
		return fail(err)
	}
	p, changed := dirkit.MemberPatch(m, u, at)
	detail := "reactivated member"
	if len(changed) > 0 {
		detail += "; changed " + strings.Join(changed, ", ")
	}
	if d.opts.DryRun {
		m = applyPatch(m, p)
		m.IsArchived, m.IsInactive = false, false
		d.audits.Record(ctx, op, store.KindUser, m.MemberID, store.OutcomeDryRun, nil, "would have "+detail)
		return d.toUser(m, dirkit.UserRecord(m.MemberID, u)), nil
	}
	if !active(m) {
		if m, err = d.client.ReactivateMember(ctx, m.MemberID); err != nil {
			return fail(upstreamErr("reactivate member", err))
		}
		d.idx.putMember(m)
	}
	if len(changed) > 0 {
		if m, err = d.client.UpdateMember(ctx, m.MemberID, p); err != nil {
			return fail(upstreamErr("update member", err))
		}
		d.idx.putMember(m)
	}
	if err := d.rec.Put(ctx, dirkit.UserRecord(m.MemberID, u)); err != nil {
		return fail(err)
	}
	d.audits.Record(ctx, op, store.KindUser, m.MemberID, store.OutcomeOK, nil, detail)
	return d.toUser(m, dirkit.UserRecord(m.MemberID, u)), nil
}

// ReplaceUser implements directory.Directory. The member is read fresh
// from Sigma (the index may lag another replica's write) and only the
// fields that differ are patched. Empty names, user kind and account type
// (without a configured default) keep their current values: Sigma
// requires names, and an IdP that omits userType on PUT must not reset a
// licence it never managed.
func (d *Directory) ReplaceUser(ctx context.Context, u directory.User) (directory.User, error) {
	const op = "user.replace"
	fail := func(err error) (directory.User, error) {
		d.audits.Record(ctx, op, store.KindUser, u.ID, store.OutcomeFailed, err, "")
		return directory.User{}, fmt.Errorf("replace user %s: %w", u.ID, err)
	}
	at, err := d.resolveAccountType(ctx, u.AccountType)
	if err != nil {
		return fail(err)
	}
	defer d.locks.Lock("member:" + u.ID)()
	r, _, err := d.rec.Get(ctx, store.KindUser, u.ID)
	if err != nil {
		return fail(err)
	}
	if r.Tombstoned {
		return directory.User{}, fmt.Errorf("replace user %s: %w", u.ID, directory.ErrNotFound)
	}
	m, err := d.client.GetMember(ctx, u.ID)
	if errors.Is(err, sigma.ErrNotFound) {
		d.idx.dropMember(u.ID)
		return directory.User{}, fmt.Errorf("replace user %s: %w", u.ID, directory.ErrNotFound)
	}
	if err != nil {
		return fail(upstreamErr("get member", err))
	}
	d.idx.putMember(m)
	if u.ExternalID != r.ExternalID {
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
	p, changed := dirkit.MemberPatch(m, u, at)
	reactivate := u.Active && !active(m)
	deactivate := !u.Active && active(m)
	if reactivate {
		changed = append(changed, "active=true")
	}
	if deactivate {
		changed = append(changed, "active=false")
	}
	if u.ExternalID != r.ExternalID {
		changed = append(changed, "externalId")
	}
	if aliasChanged {
		changed = append(changed, "IdP userName")
	}
	if len(changed) == 0 {
		d.audits.Record(ctx, op, store.KindUser, u.ID, store.OutcomeSkipped, nil, "no change")
		return d.toUser(m, r), nil
	}
	detail := "changed " + strings.Join(changed, ", ")
	if d.opts.DryRun {
		m = applyPatch(m, p)
		if reactivate || deactivate {
			m.IsArchived, m.IsInactive = deactivate, false
		}
		d.audits.Record(ctx, op, store.KindUser, u.ID, store.OutcomeDryRun, nil, "would have "+detail)
		return d.toUser(m, dirkit.UserRecord(u.ID, u)), nil
	}
	// Reactivate first and deactivate last: Sigma may refuse changes to a
	// deactivated member.
	if reactivate {
		if m, err = d.client.ReactivateMember(ctx, u.ID); err != nil {
			return fail(upstreamErr("reactivate member", err))
		}
		d.idx.putMember(m)
	}
	if p != (sigma.MemberPatch{}) {
		if m, err = d.client.UpdateMember(ctx, u.ID, p); err != nil {
			return fail(upstreamErr("update member", err))
		}
		d.idx.putMember(m)
	}
	if deactivate {
		if m, err = d.client.DeactivateMember(ctx, u.ID, sigma.DeactivateOptions{NewOwnerID: d.opts.DeprovisionOwnerID}); err != nil {
			return fail(upstreamErr("deactivate member", err))
		}
		d.idx.putMember(m)
	}
	if u.ExternalID != r.ExternalID || aliasChanged {
		if err := d.rec.Put(ctx, dirkit.UserRecord(u.ID, u)); err != nil {
			return fail(err)
		}
	}
	d.audits.Record(ctx, op, store.KindUser, u.ID, store.OutcomeOK, nil, detail)
	return d.toUser(m, dirkit.UserRecord(u.ID, u)), nil
}

// DeleteUser implements directory.Directory: Sigma cannot delete a member,
// so it is deactivated (documents to Options.DeprovisionOwnerID) and
// tombstoned in the store, which hides it from every read until a
// CreateUser with its email revives it.
func (d *Directory) DeleteUser(ctx context.Context, id string) error {
	const op = "user.delete"
	fail := func(err error) error {
		d.audits.Record(ctx, op, store.KindUser, id, store.OutcomeFailed, err, "")
		return fmt.Errorf("delete user %s: %w", id, err)
	}
	defer d.locks.Lock("member:" + id)()
	r, _, err := d.rec.Get(ctx, store.KindUser, id)
	if err != nil {
		return fail(err)
	}
	if r.Tombstoned {
		return fmt.Errorf("delete user %s: %w", id, directory.ErrNotFound)
	}
	m, err := d.client.GetMember(ctx, id)
	if errors.Is(err, sigma.ErrNotFound) {
		d.idx.dropMember(id)
		return fmt.Errorf("delete user %s: %w", id, directory.ErrNotFound)
	}
	if err != nil {
		return fail(upstreamErr("get member", err))
	}
	d.idx.putMember(m)
	detail := "tombstoned"
	if active(m) {
		detail = "deactivated and tombstoned"
	}
	if d.opts.DryRun {
		d.audits.Record(ctx, op, store.KindUser, id, store.OutcomeDryRun, nil, "would have "+detail)
		return nil
	}
	if active(m) {
		if m, err = d.client.DeactivateMember(ctx, id, sigma.DeactivateOptions{NewOwnerID: d.opts.DeprovisionOwnerID}); err != nil {
			return fail(upstreamErr("deactivate member", err))
		}
		d.idx.putMember(m)
	}
	// The tombstone keeps the externalId and the IdP's userName (a revival
	// can be matched) but no longer holds them: another user may take them.
	r.Tombstoned = true
	if err := d.rec.Put(ctx, r); err != nil {
		return fail(err)
	}
	d.audits.Record(ctx, op, store.KindUser, id, store.OutcomeOK, nil, detail)
	return nil
}
