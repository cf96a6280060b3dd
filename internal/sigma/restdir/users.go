package restdir

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

func active(m sigma.Member) bool { return !m.IsArchived && !m.IsInactive }

// memberOf is the typed member state of m, its groups from the index.
func (d *Directory) memberOf(m sigma.Member) provision.Member {
	pm := provision.Member{
		ID: m.MemberID, Email: m.Email, FirstName: m.FirstName, LastName: m.LastName,
		AccountType: m.MemberType, UserKind: m.UserKind, Active: active(m), Archived: m.IsArchived,
		Created: m.CreatedAt, Modified: m.UpdatedAt,
	}
	d.idx.read(func(x *indexData) {
		for _, tid := range x.memberTeams[m.MemberID] {
			if t, ok := x.teams[tid]; ok {
				pm.Groups = append(pm.Groups, directory.Ref{ID: tid, Display: t.Name})
			}
		}
	})
	sort.Slice(pm.Groups, func(i, j int) bool { return pm.Groups[i].ID < pm.Groups[j].ID })
	return pm
}

// toUser maps a member and its store record (externalId, the IdP's
// userName) to a User.
func (d *Directory) toUser(m sigma.Member, r store.Resource) directory.User {
	return provision.ToUser(d.memberOf(m), r)
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

// userReader is the provision.UserReader of the REST path: an email is
// looked up in the index and, on a miss, confirmed with one
// GET /v2/members?email= — unless the value has no "@", which no Sigma
// email lacks (Entra's test connection asks for a GUID). The IdP's
// userName is looked up in the store on every call, so an alias another
// replica just wrote is seen.
type userReader struct{ d *Directory }

func (u userReader) LiveUser(ctx context.Context, id string) (provision.Member, store.Resource, bool, error) {
	if id == "" {
		return provision.Member{}, store.Resource{}, false, nil
	}
	m, r, ok, err := u.d.liveMember(ctx, id)
	if err != nil || !ok {
		return provision.Member{}, r, false, err
	}
	return u.d.memberOf(m), r, true, nil
}

func (u userReader) ByUserName(ctx context.Context, attr directory.Attr, value string) ([]directory.User, error) {
	d := u.d
	var out []directory.User
	m, ok, err := d.lookupByEmail(ctx, value)
	if err != nil {
		return nil, err
	}
	if ok {
		out = append(out, m)
	}
	if attr == directory.AttrUserName {
		a, ok, err := d.lookupByIdPUserName(ctx, value)
		if err != nil {
			return nil, err
		}
		// Aliases are not emails, so both matching is a corner the edge
		// never creates; answer both rather than pick one.
		if ok && (len(out) == 0 || out[0].ID != a.ID) {
			out = append(out, a)
			sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
		}
	}
	return out, nil
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
			if !recs[m.id].Tombstoned {
				ms = append(ms, m.member())
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

// PageUsers implements directory.UserPager: the users ListUsers would
// return at positions [start, start+count), built only for the page. It
// makes no Sigma call and one store read, of the page's records; its cost
// is the page and, after the index changed, one sort of the member ids.
// Tombstones come from the index's set (indexData.tombs), so a user
// another replica deleted leaves the pages after the next peer poll — or
// at once when it falls on a page, whose records show it.
func (d *Directory) PageUsers(ctx context.Context, start, count int) ([]directory.User, int, error) {
	for attempt := 0; ; attempt++ {
		v := d.idx.pageView()
		total := len(v.ids) - len(v.tomb)
		start := min(max(start, 0), total)
		count := min(max(count, 0), total-start)
		// i is the position in ids of the start-th live member.
		i, t := start, 0
		for t < len(v.tomb) && v.tomb[t] <= i {
			i++
			t++
		}
		page := make([]string, 0, count)
		for ; len(page) < count && i < len(v.ids); i++ {
			if t < len(v.tomb) && v.tomb[t] == i {
				t++
				continue
			}
			page = append(page, v.ids[i])
		}
		recs, err := d.records(ctx, store.KindUser, page)
		if err != nil {
			return nil, 0, fmt.Errorf("list users: %w", err)
		}
		if attempt < 2 && slices.ContainsFunc(page, func(id string) bool { return recs[id].Tombstoned }) {
			// Deleted through another replica since the last poll: record
			// it and cut the page again. (Twice at most: a write racing
			// with the read may keep the state from settling; the page
			// then leaves the users out.)
			d.idx.recordsRead(page, recs)
			continue
		}
		out := make([]directory.User, 0, len(page))
		for _, id := range page {
			if recs[id].Tombstoned {
				continue
			}
			if m, ok := d.idx.member(id); ok {
				out = append(out, d.toUser(m, recs[id]))
			}
		}
		return out, total, nil
	}
}

// records reads the store records of kind with these ids (in batches of
// store.MaxResourcesByID); ids without a record are absent from the map.
func (d *Directory) records(ctx context.Context, kind store.Kind, ids []string) (map[string]store.Resource, error) {
	out := make(map[string]store.Resource, len(ids))
	for chunk := range slices.Chunk(ids, store.MaxResourcesByID) {
		rs, err := d.store.ResourcesByID(ctx, kind, chunk)
		if err != nil {
			return nil, fmt.Errorf("read %s records from store: %w", kind, err)
		}
		for _, r := range rs {
			out[r.ID] = r
		}
	}
	return out, nil
}
