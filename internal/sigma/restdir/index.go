package restdir

import (
	"slices"
	"strings"
	"sync"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/provision"
	"github.com/scimbridge/scim-bridge/internal/store"
)

// indexData is one consistent picture of the org: every member (archived
// and inactive included), every team, and team membership both ways.
type indexData struct {
	members     map[string]entry      // memberId -> member
	byEmail     map[string]string     // lower-cased email -> memberId
	teams       map[string]sigma.Team // teamId -> team (Members cleared)
	byTeamName  map[string]string     // lower-cased name -> teamId
	teamMembers map[string]set        // teamId -> memberIds
	memberTeams map[string][]string   // memberId -> teamIds (a member is in few teams)
	// digests holds each team's provision.MemberDigest of the members
	// teamOf shows (see shown), kept current by every change below, so
	// that a group's Version needs no walk of its members.
	digests map[string]provision.MemberDigest
	// tombs holds the store's tombstone state of users: every user the
	// store has tombstoned (deleted by the IdP through any replica), and
	// users revived since, with the record version it was read at. Read
	// at each full load, then kept by this Directory's own record writes
	// (recordStore), the peer poll and what a page's record read shows
	// (PageUsers); a state read at an older version than the one held is
	// ignored, so a slow read never undoes a newer write.
	tombs   map[string]tombState
	nTombed int // entries of tombs with on set
	// idsVer counts changes of the set of member ids, tombVer of tombs:
	// the sorted views of the index (index.pageView) are rebuilt only
	// after one of them changed.
	idsVer, tombVer uint64
	strs            map[string]string // interned (entryOf)
}

type set map[string]struct{}

func newIndexData() *indexData {
	return &indexData{
		members:     map[string]entry{},
		byEmail:     map[string]string{},
		teams:       map[string]sigma.Team{},
		byTeamName:  map[string]string{},
		teamMembers: map[string]set{},
		memberTeams: map[string][]string{},
		strs:        map[string]string{},
		digests:     map[string]provision.MemberDigest{},
		tombs:       map[string]tombState{},
	}
}

// tombState is a user's tombstone in the store: on, as of record version
// ver (0: from a full load, older than any record read after it).
type tombState struct {
	on  bool
	ver int64
}

// setTombstoned records that user id's store record, at version ver, is
// tombstoned (on) or not; gone says the record does not exist (any
// version).
func (x *indexData) setTombstoned(id string, on bool, ver int64, gone bool) {
	cur, ok := x.tombs[id]
	switch {
	case gone:
		on = false
		if !ok {
			return
		}
		delete(x.tombs, id)
	case ok && cur.ver > ver, !ok && !on:
		return // an older read, or a live user never tombstoned
	default:
		x.tombs[id] = tombState{on: on, ver: ver}
	}
	if cur.on != on {
		if on {
			x.nTombed++
		} else {
			x.nTombed--
		}
		x.tombVer++
	}
}

// shown is how member id appears in a team's member list: left out when
// the member is deactivated (Sigma keeps such members in their teams but
// refuses to add or remove them, so to the IdP they are gone), with an
// empty display when the index does not know it.
func (x *indexData) shown(id string) (directory.Ref, bool) {
	m, ok := x.members[id]
	if ok && !active(m.member()) {
		return directory.Ref{}, false
	}
	return directory.Ref{ID: id, Display: m.email}, true
}

// reshow updates the digests of member id's teams from how it was shown
// (was, wasOK) to how it is shown now.
func (x *indexData) reshow(id string, was directory.Ref, wasOK bool) {
	now, nowOK := x.shown(id)
	if was == now && wasOK == nowOK {
		return
	}
	for _, tid := range x.memberTeams[id] {
		d := x.digests[tid]
		if wasOK {
			d.Remove(was)
		}
		if nowOK {
			d.Add(now)
		}
		x.digests[tid] = d
	}
}

func (x *indexData) putMember(m sigma.Member) {
	was, wasOK := x.shown(m.MemberID)
	defer x.reshow(m.MemberID, was, wasOK)
	id := m.MemberID
	if old, ok := x.members[id]; ok {
		id = old.id // the copy the index holds (teams refer to it too)
		if k := strings.ToLower(old.email); x.byEmail[k] == id {
			delete(x.byEmail, k)
		}
	} else {
		x.idsVer++
	}
	e := x.entryOf(m)
	e.id = id
	x.members[id] = e
	x.byEmail[strings.ToLower(e.email)] = id
}

func (x *indexData) dropMember(id string) {
	x.removeFromTeams(id)
	if old, ok := x.members[id]; ok {
		if k := strings.ToLower(old.email); x.byEmail[k] == id {
			delete(x.byEmail, k)
		}
		delete(x.members, id)
		x.idsVer++
	}
}

// removeFromTeams takes member id out of every team.
func (x *indexData) removeFromTeams(id string) {
	for _, tid := range slices.Clone(x.memberTeams[id]) {
		x.removeMembers(tid, []string{id})
	}
	delete(x.memberTeams, id)
}

func (x *indexData) putTeam(t sigma.Team) {
	t.Members = nil
	if old, ok := x.teams[t.TeamID]; ok {
		if k := strings.ToLower(old.Name); x.byTeamName[k] == t.TeamID {
			delete(x.byTeamName, k)
		}
	}
	x.teams[t.TeamID] = t
	x.byTeamName[strings.ToLower(t.Name)] = t.TeamID
	if x.teamMembers[t.TeamID] == nil {
		x.teamMembers[t.TeamID] = set{}
	}
}

func (x *indexData) dropTeam(id string) {
	if old, ok := x.teams[id]; ok {
		if k := strings.ToLower(old.Name); x.byTeamName[k] == id {
			delete(x.byTeamName, k)
		}
		delete(x.teams, id)
	}
	for mid := range x.teamMembers[id] {
		x.unlink(mid, id)
	}
	delete(x.teamMembers, id)
	delete(x.digests, id)
}

func (x *indexData) addMembers(teamID string, ids []string) {
	if t, ok := x.teams[teamID]; ok {
		teamID = t.TeamID // one copy of each id in the index
	}
	tm := x.teamMembers[teamID]
	if tm == nil {
		tm = set{}
		x.teamMembers[teamID] = tm
	}
	d := x.digests[teamID]
	defer func() { x.digests[teamID] = d }()
	for _, id := range ids {
		if _, in := tm[id]; in {
			continue
		}
		if m, ok := x.members[id]; ok {
			id = m.id // one copy of each id in the index
		}
		tm[id] = struct{}{}
		if r, ok := x.shown(id); ok {
			d.Add(r)
		}
		x.memberTeams[id] = append(x.memberTeams[id], teamID)
	}
}

func (x *indexData) removeMembers(teamID string, ids []string) {
	tm := x.teamMembers[teamID]
	for _, id := range ids {
		if _, in := tm[id]; !in {
			continue
		}
		if r, ok := x.shown(id); ok {
			d := x.digests[teamID]
			d.Remove(r)
			x.digests[teamID] = d
		}
		delete(tm, id)
		x.unlink(id, teamID)
	}
}

// unlink takes teamID out of member id's teams.
func (x *indexData) unlink(id, teamID string) {
	mt := x.memberTeams[id]
	if i := slices.Index(mt, teamID); i >= 0 {
		mt = slices.Delete(mt, i, i+1)
	}
	if len(mt) == 0 {
		delete(x.memberTeams, id)
	} else {
		x.memberTeams[id] = mt
	}
}

// setMembers makes ids the whole membership of teamID.
func (x *indexData) setMembers(teamID string, ids []string) {
	keep := make(set, len(ids))
	for _, id := range ids {
		keep[id] = struct{}{}
	}
	var gone []string
	for id := range x.teamMembers[teamID] {
		if _, ok := keep[id]; !ok {
			gone = append(gone, id)
		}
	}
	x.removeMembers(teamID, gone)
	x.addMembers(teamID, ids)
}

// index is the in-memory picture shared by all requests. Every change goes
// through apply; a full reload builds a fresh indexData off to the side and
// replays onto it the changes applied while it was loading, so a write made
// during a resync is never lost when the new picture replaces the old one.
//
// Entries another replica has changed are marked stale (markStale, from
// PollPeers) and re-read from Sigma by the next read that hits them. A mark
// carries a generation: a refresh clears only the mark it saw before its
// upstream read (a mark made meanwhile survives), and a full load clears
// only the marks made before it began (a mark made while it was fetching
// may name a change the fetch missed).
type index struct {
	mu      sync.RWMutex
	data    *indexData
	loading bool
	journal []func(*indexData)

	stale   map[string]uint64 // userKey/teamKey -> generation of its mark
	gen     uint64            // last generation handed out
	loadGen uint64            // gen when the running load began

	// view is the last pageView built, with the picture and the versions
	// it was built from.
	loads    uint64 // full loads committed
	view     pageView
	viewLoad uint64
	viewIDs  uint64
	viewTomb uint64
}

// pageView is the index in ListUsers' order: every member id sorted, and
// the positions in ids of the tombstoned ones, ascending. It is never
// modified once built: callers may keep it.
type pageView struct {
	ids  []string
	tomb []int
}

func newIndex() *index { return &index{data: newIndexData(), stale: map[string]uint64{}} }

func userKey(id string) string { return "user:" + id }
func teamKey(id string) string { return "team:" + id }

// markStale marks the members and teams with these ids stale.
func (ix *index) markStale(members, teams []string) {
	if len(members)+len(teams) == 0 {
		return
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, id := range members {
		ix.gen++
		ix.stale[userKey(id)] = ix.gen
	}
	for _, id := range teams {
		ix.gen++
		ix.stale[teamKey(id)] = ix.gen
	}
}

// staleGen returns the generation of key's mark, 0 when it is not stale.
func (ix *index) staleGen(key string) uint64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.stale[key]
}

// clearStale removes key's mark if it is still the one of generation gen
// (gen 0: nothing to clear).
func (ix *index) clearStale(key string, gen uint64) {
	if gen == 0 {
		return
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.stale[key] == gen {
		delete(ix.stale, key)
	}
}

// staleCount is the number of stale marks.
func (ix *index) staleCount() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.stale)
}

// staleMembersOf returns the members of teamID that are marked stale.
func (ix *index) staleMembersOf(teamID string) []string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if len(ix.stale) == 0 {
		return nil
	}
	var out []string
	for id := range ix.data.teamMembers[teamID] {
		if ix.stale[userKey(id)] != 0 {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// apply runs fn on the current picture (and remembers it for the picture
// being loaded, if any). fn must be idempotent.
func (ix *index) apply(fn func(*indexData)) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	fn(ix.data)
	if ix.loading {
		ix.journal = append(ix.journal, fn)
	}
}

// pageView returns the member ids in order and the tombstoned positions
// among them, rebuilt only after the member ids (a sort) or the
// tombstones (a search per tombstone) changed.
func (ix *index) pageView() pageView {
	ix.mu.RLock()
	v, ok := ix.view, ix.viewCurrent()
	ix.mu.RUnlock()
	if ok {
		return v
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.viewCurrent() {
		return ix.view
	}
	x := ix.data
	ids := ix.view.ids
	if ix.viewLoad != ix.loads || ix.viewIDs != x.idsVer || ids == nil {
		ids = make([]string, 0, len(x.members))
		for id := range x.members {
			ids = append(ids, id)
		}
		slices.Sort(ids)
	}
	tomb := make([]int, 0, x.nTombed)
	for id, st := range x.tombs {
		if !st.on {
			continue
		}
		if i, ok := slices.BinarySearch(ids, id); ok {
			tomb = append(tomb, i)
		}
	}
	slices.Sort(tomb)
	ix.view = pageView{ids: ids, tomb: tomb}
	ix.viewLoad, ix.viewIDs, ix.viewTomb = ix.loads, x.idsVer, x.tombVer
	return ix.view
}

// viewCurrent reports whether ix.view was built from the picture as it is;
// ix.mu must be held.
func (ix *index) viewCurrent() bool {
	return ix.view.ids != nil && ix.viewLoad == ix.loads && ix.viewIDs == ix.data.idsVer && ix.viewTomb == ix.data.tombVer
}

// recordsRead records the store's tombstone state of the users whose
// records were read (recs) among ids: an id without a record has none.
func (ix *index) recordsRead(ids []string, recs map[string]store.Resource) {
	ix.apply(func(x *indexData) {
		for _, id := range ids {
			r, ok := recs[id]
			x.setTombstoned(id, r.Tombstoned, r.Version, !ok)
		}
	})
}

// recordWritten records the tombstone state of a user record this
// Directory wrote (gone: deleted).
func (ix *index) recordWritten(r store.Resource, gone bool) {
	ix.apply(func(x *indexData) { x.setTombstoned(r.ID, r.Tombstoned, r.Version, gone) })
}

// read runs fn under the read lock; fn must not keep references to maps.
func (ix *index) read(fn func(*indexData)) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	fn(ix.data)
}

func (ix *index) beginLoad() {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.loading, ix.journal = true, nil
	ix.loadGen = ix.gen
}

func (ix *index) abortLoad() {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.loading, ix.journal = false, nil
}

func (ix *index) commitLoad(next *indexData) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, fn := range ix.journal {
		fn(next)
	}
	ix.data, ix.loading, ix.journal = next, false, nil
	ix.loads++
	for k, g := range ix.stale {
		if g <= ix.loadGen {
			delete(ix.stale, k)
		}
	}
}

func (ix *index) member(id string) (sigma.Member, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	m, ok := ix.data.members[id]
	return m.member(), ok
}

func (ix *index) memberByEmail(email string) (sigma.Member, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	m, ok := ix.data.members[ix.data.byEmail[strings.ToLower(strings.TrimSpace(email))]]
	return m.member(), ok
}

func (ix *index) team(id string) (sigma.Team, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	t, ok := ix.data.teams[id]
	return t, ok
}

func (ix *index) teamByName(name string) (sigma.Team, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	t, ok := ix.data.teams[ix.data.byTeamName[strings.ToLower(strings.TrimSpace(name))]]
	return t, ok
}

func (ix *index) sizes() (members, teams, memberships int) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for _, s := range ix.data.teamMembers {
		memberships += len(s)
	}
	return len(ix.data.members), len(ix.data.teams), memberships
}

func (ix *index) putMember(m sigma.Member) {
	ix.apply(func(x *indexData) { x.putMember(m) })
}

func (ix *index) dropMember(id string) {
	ix.apply(func(x *indexData) { x.dropMember(id) })
}

// putTeamWithMembers records t and, when members is not nil, makes it the
// team's whole membership.
func (ix *index) putTeamWithMembers(t sigma.Team, members []string) {
	members = slices.Clone(members)
	ix.apply(func(x *indexData) {
		x.putTeam(t)
		if members != nil {
			x.setMembers(t.TeamID, members)
		}
	})
}

func (ix *index) dropTeam(id string) {
	ix.apply(func(x *indexData) { x.dropTeam(id) })
}

func (ix *index) changeMembers(teamID string, add, remove []string) {
	add, remove = slices.Clone(add), slices.Clone(remove)
	ix.apply(func(x *indexData) {
		x.addMembers(teamID, add)
		x.removeMembers(teamID, remove)
	})
}
