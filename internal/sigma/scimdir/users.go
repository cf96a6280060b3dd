package scimdir

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/provision"
	"github.com/scimbridge/scim-bridge/internal/store"
)

// memberOf is the typed member state of Sigma's SCIM user u: the same
// state the REST path reads for the same member, so both give the same
// User and Version (provision.ToUser).
func (d *Directory) memberOf(ctx context.Context, u sigma.SCIMUser) provision.Member {
	m := provision.Member{
		ID: u.ID, Email: u.UserName, FirstName: u.Name.GivenName, LastName: u.Name.FamilyName,
		AccountType: d.Types.Canonical(ctx, u.UserType), Active: u.Active,
	}
	if u.Sigma != nil {
		m.UserKind = u.Sigma.UserKind
	}
	if u.Meta != nil {
		m.Created, m.Modified = u.Meta.Created, u.Meta.LastModified
	}
	m.Groups = refs(u.Groups)
	return m
}

// refs are SCIM references as directory refs, ordered by ID (nil if none).
func refs(rs []sigma.SCIMRef) []directory.Ref {
	var out []directory.Ref
	for _, r := range rs {
		if r.Value != "" {
			out = append(out, directory.Ref{ID: r.Value, Display: r.Display})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// checkUserKind refuses what Sigma's SCIM provisioning cannot create.
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

// getUser reads a user from Sigma; ok is false if Sigma does not know it
// (or shows it no longer: a deactivated member is gone for SCIM, unless
// REST shows it archived, see archived.go).
func (d *Directory) getUser(ctx context.Context, id string) (provision.Member, bool, error) {
	u, err := d.scim.GetUser(ctx, id)
	if err == nil {
		d.observe(nil)
		return d.memberOf(ctx, u), true, nil
	}
	if err = d.missing(ctx, "get user", err); errors.Is(err, directory.ErrNotFound) {
		if m, ok := d.archivedMember(ctx, id); ok {
			return m, true, nil
		}
		return provision.Member{}, false, nil
	}
	return provision.Member{}, false, err
}

// liveUser is getUser plus the store's record; ok is false as well when
// the store has tombstoned the user (checked first: no upstream call).
func (d *Directory) liveUser(ctx context.Context, id string) (m provision.Member, r store.Resource, ok bool, err error) {
	if strings.TrimSpace(id) == "" {
		return m, r, false, nil
	}
	r, _, err = d.rec.Get(ctx, store.KindUser, id)
	if err != nil || r.Tombstoned {
		return m, r, false, err
	}
	m, ok, err = d.getUser(ctx, id)
	return m, r, ok, err
}

// findUser filters Sigma's users by userName (case-insensitively).
func (d *Directory) findUser(ctx context.Context, userName string) (provision.Member, bool, error) {
	u, ok, err := d.scim.FindUserByUserName(ctx, strings.TrimSpace(userName))
	if err != nil {
		return provision.Member{}, false, d.check("find user by userName", err, true)
	}
	d.observe(nil)
	if !ok {
		return provision.Member{}, false, nil
	}
	return d.memberOf(ctx, u), true, nil
}

// userReader is the provision.UserReader of the SCIM path: an id is one
// GET, an email one filtered list (a Sigma member has one email, its
// userName; none for a value without "@"), the IdP's own userName the
// store and then one GET, an externalId the store and one GET per holder.
type userReader struct{ d *Directory }

func (u userReader) LiveUser(ctx context.Context, id string) (provision.Member, store.Resource, bool, error) {
	return u.d.liveUser(ctx, id)
}

func (u userReader) ByUserName(ctx context.Context, attr directory.Attr, value string) ([]directory.User, error) {
	return u.d.lookupByUserName(ctx, attr, value)
}

// lookupByUserName answers AttrEmail and AttrUserName lookups.
func (d *Directory) lookupByUserName(ctx context.Context, attr directory.Attr, value string) ([]directory.User, error) {
	var out []directory.User
	if strings.Contains(value, "@") { // no Sigma email lacks one: no call for a GUID
		m, ok, err := d.findUser(ctx, value)
		if err != nil {
			return nil, err
		}
		if ok {
			r, _, err := d.rec.Get(ctx, store.KindUser, m.ID)
			if err != nil {
				return nil, err
			}
			if !r.Tombstoned {
				out = append(out, provision.ToUser(m, r))
			}
		}
	}
	if attr != directory.AttrUserName {
		return out, nil
	}
	// The IdP's own userName, kept in the store.
	holder, err := d.rec.UserNameHolder(ctx, value)
	if err != nil || holder == "" || (len(out) > 0 && out[0].ID == holder) {
		return out, err
	}
	m, r, ok, err := d.liveUser(ctx, holder)
	if err != nil || !ok {
		return out, err
	}
	out = append(out, provision.ToUser(m, r))
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// ListUsers implements directory.Directory: every user Sigma's SCIM shows
// (paged, PageSize at a time, reused for Options.ListCacheTTL), minus
// tombstoned ones, ordered by id.
func (d *Directory) ListUsers(ctx context.Context) ([]directory.User, error) {
	recs, err := d.rec.All(ctx, store.KindUser)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	all, err := cachedList(ctx, d, &d.users, func(ctx context.Context) ([]sigma.SCIMUser, error) {
		return listAll(ctx, d, "list users", d.scim.FilterUsers, func(u sigma.SCIMUser) string { return u.ID })
	})
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	out := make([]directory.User, 0, len(all))
	for _, u := range all {
		if r := recs[u.ID]; !r.Tombstoned {
			out = append(out, provision.ToUser(d.memberOf(ctx, u), r))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// listAll pages through a Sigma SCIM list. Offset paging over a list that
// changes meanwhile may repeat an entry; repeats are dropped.
func listAll[T any](ctx context.Context, d *Directory, op string, page func(context.Context, string, int, int) (sigma.SCIMListResponse[T], error), id func(T) string) ([]T, error) {
	var out []T
	seen := map[string]bool{}
	start := 1
	for range 100_000 { // a bound, never reached: Sigma's orgs are far smaller
		lr, err := page(ctx, "", start, PageSize)
		if err != nil {
			return nil, d.check(op, err, true)
		}
		for _, res := range lr.Resources {
			if k := id(res); k != "" && !seen[k] {
				seen[k] = true
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

// tombstoned returns the subset of user ids the store has tombstoned.
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
