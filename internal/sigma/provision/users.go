package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/store"
)

// CreateUser implements directory.Directory. A member this path already
// knows by the email, or one Sigma answers 409 for, goes down the
// existing-member path (createExisting): a conflict while it is active
// and live, a revival when it is deactivated or tombstoned. Sigma is
// asked first only in dry-run and when the IdP userName is held already,
// possibly by this very member. An externalId is never a conflict: RFC
// 7643 gives it no uniqueness, and IdPs send one for several users.
func (w *Workflow) CreateUser(ctx context.Context, u directory.User) (directory.User, error) {
	email := strings.TrimSpace(u.UserName)
	wr := w.begin(ctx, OpUserCreate, store.KindUser, "", email).named(email, u.IdPUserName)
	if email == "" {
		return directory.User{}, wr.fail(&directory.InvalidValueError{Attribute: "userName", Reason: "required"})
	}
	if err := w.Members.CheckUser(u); err != nil {
		return directory.User{}, wr.fail(err)
	}
	directory.CompleteNames(&u)
	at, err := w.Types.ForWrite(ctx, u.AccountType, true)
	if err != nil {
		return directory.User{}, wr.fail(err)
	}
	defer w.locks.Lock("email:" + LowerTrim(email))()

	if m, ok, err := w.Members.Known(ctx, email); err != nil {
		return directory.User{}, wr.fail(err)
	} else if ok {
		return w.createExisting(ctx, wr.on(m.ID), m, u, at)
	}
	holder, err := w.Records.UserNameHolder(ctx, u.IdPUserName)
	if err != nil {
		return directory.User{}, wr.fail(err)
	}
	if w.DryRun || holder != "" {
		m, ok, err := w.Members.FindByEmail(ctx, email)
		if err != nil {
			return directory.User{}, wr.fail(err)
		}
		if ok {
			return w.createExisting(ctx, wr.on(m.ID), m, u, at)
		}
		// Nobody in Sigma has the email, so whoever holds the IdP
		// userName is another user: refused before any write.
		if err := w.Records.CheckUserName(ctx, "", u.IdPUserName); err != nil {
			return directory.User{}, wr.fail(err)
		}
	}
	nm := NewMember{Email: email, FirstName: u.GivenName, LastName: u.FamilyName, AccountType: at, UserKind: u.UserKind, Active: u.Active}
	if w.DryRun {
		now := w.Now()
		m := Member{ID: DryRunID(email), Email: email, FirstName: nm.FirstName, LastName: nm.LastName, AccountType: at.Name,
			UserKind: u.UserKind, Active: u.Active, Created: now, Modified: now}
		wr.done(store.OutcomeDryRun, "would create user "+email)
		w.DryRuns.putUser(m, UserRecord(m.ID, u))
		return ToUser(m, UserRecord(m.ID, u)), nil
	}
	wr.intendCreate()
	m, err := w.Members.Create(ctx, nm)
	if errors.Is(err, directory.ErrConflict) {
		// The email exists (perhaps deactivated, perhaps created by
		// another replica a moment ago, perhaps by an earlier attempt of
		// this create whose answer was lost).
		existing, ok, ferr := w.Members.FindByEmail(ctx, email)
		if ferr != nil {
			// The 409 may answer a retry of Sigma's own client after a
			// lost answer: this create may be the one that made it.
			return directory.User{}, wr.failUnsettled(ferr)
		}
		if !ok {
			return directory.User{}, wr.fail(fmt.Errorf("userName is taken in Sigma: %w", directory.ErrConflict))
		}
		return w.createExisting(ctx, wr.on(existing.ID), existing, u, at)
	}
	if outcomeUnknown(err) {
		return directory.User{}, wr.failUnsettled(err)
	}
	if err != nil {
		return directory.User{}, wr.fail(err)
	}
	wr = wr.on(m.ID)
	if u.Active && !m.Active {
		// An ambiguous create resolved to a member that already existed,
		// deactivated: revive it like any other.
		return w.createExisting(ctx, wr, m, u, at)
	}
	detail := "created user " + email
	// From here on Sigma has the member: a failure leaves the create
	// unsettled, and the IdP's retry finishes it (createExisting).
	if !u.Active && m.Active {
		// A path that cannot create a deactivated member (REST) created it
		// active: deactivate it, as the IdP asked.
		off := false
		if m, err = w.Members.Update(ctx, m, Change{Active: &off}); err != nil {
			return directory.User{}, wr.failUnsettled(err)
		}
		detail += ", deactivated as asked"
	}
	r, found, err := w.Records.Get(ctx, store.KindUser, m.ID)
	if err != nil {
		return directory.User{}, wr.failUnsettled(err)
	}
	if found && r.Tombstoned {
		detail = "revived deleted user " + email + " (Sigma reactivated the member)"
	}
	if rec := UserRecord(m.ID, u); rec != (store.Resource{Kind: store.KindUser, ID: m.ID}) || found {
		if err := w.Records.Put(ctx, UserRecord(m.ID, u)); err != nil {
			return directory.User{}, wr.failUnsettled(err)
		}
	}
	wr.done(store.OutcomeOK, detail)
	return ToUser(m, UserRecord(m.ID, u)), nil
}

// createExisting finishes a CreateUser whose email Sigma already knows:
// an active, untombstoned member is a conflict, unless an earlier attempt
// of this create made it without recording it (unrecordedCreate): that
// member is adopted as created, and updated to u. A deactivated or
// tombstoned one is revived — reactivated, updated to u and untombstoned.
func (w *Workflow) createExisting(ctx context.Context, wr *write, m Member, u directory.User, at AccountType) (directory.User, error) {
	defer w.locks.Lock("member:" + m.ID)()
	r, _, err := w.Records.Get(ctx, store.KindUser, m.ID)
	if err != nil {
		return directory.User{}, wr.fail(err)
	}
	detail := "revived user"
	if m.Active && !r.Tombstoned {
		own, err := w.unrecordedCreate(wr, m.ID)
		if err != nil {
			return directory.User{}, wr.fail(err)
		}
		if !own {
			return directory.User{}, wr.fail(fmt.Errorf("userName is taken by user %s: %w", m.ID, directory.ErrConflict))
		}
		detail = "created user " + wr.subject + " (an earlier attempt's answer was lost; adopted)"
	}
	if err := w.Records.CheckUserName(ctx, m.ID, u.IdPUserName); err != nil {
		return directory.User{}, wr.fail(err)
	}
	c, changed := diff(m, u, at)
	if len(changed) > 0 {
		detail += "; changed " + strings.Join(changed, ", ")
	}
	if w.DryRun {
		wr.done(store.OutcomeDryRun, "would have "+detail)
		return ToUser(c.apply(m), UserRecord(m.ID, u)), nil
	}
	wr.intend(detail)
	// A failure from here on may leave the member revived or changed: the
	// IdP's retry adopts it (unrecordedCreate).
	if !c.IsZero() {
		if m, err = w.Members.Update(ctx, m, c); err != nil {
			return directory.User{}, wr.failUnsettled(err)
		}
	}
	if err := w.Records.Put(ctx, UserRecord(m.ID, u)); err != nil {
		return directory.User{}, wr.failUnsettled(err)
	}
	wr.done(store.OutcomeOK, detail)
	return ToUser(m, UserRecord(m.ID, u)), nil
}

// ReplaceUser implements directory.Directory. The member is read fresh
// from Sigma (an index may lag another replica's write), or taken from the
// fresh read the request made for it (directory.WithReadReuse), and only
// what differs is sent. Empty names, user kind and account type (without a
// configured default) keep their current values: Sigma requires names,
// and an IdP that omits userType on PUT must not reset a licence it
// never managed.
func (w *Workflow) ReplaceUser(ctx context.Context, u directory.User) (directory.User, error) {
	wr := w.begin(ctx, OpUserReplace, store.KindUser, u.ID, u.ID).named(u.UserName, u.IdPUserName)
	if err := w.Members.CheckUser(u); err != nil {
		return directory.User{}, wr.fail(err)
	}
	at, err := w.Types.ForWrite(ctx, u.AccountType, false)
	if err != nil {
		return directory.User{}, wr.fail(err)
	}
	defer w.locks.Lock("member:" + u.ID)()
	r, m, ok, err := w.liveMember(ctx, u.ID)
	if err != nil {
		return directory.User{}, wr.fail(err)
	}
	if !ok {
		return directory.User{}, wr.notFound()
	}
	// Exact comparison: a change of case is the IdP's new spelling, kept.
	aliasChanged := u.IdPUserName != r.UserName
	if aliasChanged {
		if err := w.Records.CheckUserName(ctx, u.ID, u.IdPUserName); err != nil {
			return directory.User{}, wr.fail(err)
		}
	}
	c, changed := diff(m, u, at)
	want := UserRecord(u.ID, u)
	for _, f := range []struct {
		attr      string
		cur, next string
	}{
		{"externalId", r.ExternalID, want.ExternalID}, {"IdP userName", r.UserName, want.UserName},
		{"displayName", r.DisplayName, want.DisplayName}, {"name.formatted", r.NameFormatted, want.NameFormatted},
	} {
		if f.cur != f.next {
			changed = append(changed, f.attr)
		}
	}
	recChanged := r.ExternalID != want.ExternalID || r.UserName != want.UserName ||
		r.DisplayName != want.DisplayName || r.NameFormatted != want.NameFormatted
	if len(changed) == 0 {
		wr.done(store.OutcomeSkipped, "no change")
		return ToUser(m, r), nil
	}
	detail := "changed " + strings.Join(changed, ", ")
	if w.DryRun {
		wr.done(store.OutcomeDryRun, "would have "+detail)
		if IsDryRunID(u.ID) {
			w.DryRuns.putUser(c.apply(m), UserRecord(u.ID, u))
		}
		return ToUser(c.apply(m), UserRecord(u.ID, u)), nil
	}
	wr.intend(detail)
	if !c.IsZero() {
		if m, err = w.Members.Update(ctx, m, c); err != nil {
			return directory.User{}, wr.fail(err)
		}
	}
	if recChanged {
		if err := w.Records.Put(ctx, want); err != nil {
			return directory.User{}, wr.fail(err)
		}
	}
	wr.done(store.OutcomeOK, detail)
	return ToUser(m, UserRecord(u.ID, u)), nil
}

// DeleteUser implements directory.Directory: Sigma cannot delete a
// member, so it is deprovisioned (deactivated, documents handed over
// where configured) and tombstoned in the store, which hides it from
// every read until a CreateUser with its email revives it.
func (w *Workflow) DeleteUser(ctx context.Context, id string) error {
	wr := w.begin(ctx, OpUserDelete, store.KindUser, id, id)
	defer w.locks.Lock("member:" + id)()
	r, m, ok, err := w.liveMember(ctx, id)
	if err != nil {
		return wr.fail(err)
	}
	if !ok {
		return wr.notFound()
	}
	wr.named(m.Email, r.UserName)
	detail := "tombstoned"
	if m.Active {
		detail = "deactivated and tombstoned"
	}
	if w.DryRun {
		wr.done(store.OutcomeDryRun, "would have "+detail)
		w.DryRuns.dropUser(id)
		return nil
	}
	wr.intend(detail)
	if err := w.Members.Deprovision(ctx, m); err != nil {
		return wr.fail(err)
	}
	// The tombstone keeps the externalId and the IdP's userName (a revival
	// can be matched) but no longer holds them: another user may take them.
	r.Tombstoned = true
	if err := w.Records.Put(ctx, r); err != nil {
		return wr.fail(err)
	}
	wr.done(store.OutcomeOK, detail)
	return nil
}

// liveMember reads the store's record of id and, unless it is a
// tombstone (no upstream call then), the member fresh from Sigma; ok is
// false for a tombstone or a member Sigma does not know. A fresh read the
// request made already (GetUser with directory.WithReadReuse) is reused.
func (w *Workflow) liveMember(ctx context.Context, id string) (store.Resource, Member, bool, error) {
	if strings.TrimSpace(id) == "" {
		return store.Resource{}, Member{}, false, nil
	}
	if v, ok := directory.ReusedRead(ctx, freshUserKey(id)); ok {
		f := v.(freshUser) // read fresh by this request a moment ago (GetUser)
		return f.r, f.m, true, nil
	}
	r, _, err := w.record(ctx, store.KindUser, id)
	if err != nil || r.Tombstoned {
		return r, Member{}, false, err
	}
	m, ok, err := w.Members.Get(ctx, id)
	return r, m, ok, err
}

// diff is the Change that makes m what u asks for, and the SCIM names of
// what it changes (userName, givenName, familyName, userType, userKind,
// active=…). Empty names, user kind and account type mean "keep"; the
// email is compared case-insensitively, as Sigma compares it.
func diff(m Member, u directory.User, at AccountType) (c Change, changed []string) {
	set := func(attr, cur, want string, eq func(a, b string) bool, dst **string) {
		if want == "" || eq(cur, want) {
			return
		}
		*dst = &want
		changed = append(changed, attr)
	}
	exact := func(a, b string) bool { return a == b }
	set("userName", m.Email, strings.TrimSpace(u.UserName), strings.EqualFold, &c.Email)
	set("givenName", m.FirstName, strings.TrimSpace(u.GivenName), exact, &c.FirstName)
	set("familyName", m.LastName, strings.TrimSpace(u.FamilyName), exact, &c.LastName)
	if at.Name != "" && at.Name != m.AccountType {
		c.AccountType = &at
		changed = append(changed, "userType")
	}
	set("userKind", m.UserKind, u.UserKind, exact, &c.UserKind)
	if u.Active != m.Active {
		active := u.Active
		c.Active = &active
		changed = append(changed, fmt.Sprintf("active=%t", u.Active))
	}
	return c, changed
}
