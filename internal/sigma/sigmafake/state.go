package sigmafake

import (
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Member is a Sigma member as the emulator holds it.
type Member struct {
	MemberID       string
	Email          string
	FirstName      string
	LastName       string
	MemberType     string // account type name, as Sigma's REST API shows it
	UserKind       string // "internal", "guest" or "embed"
	OrganizationID string
	HomeFolderID   string
	CreatedBy      string
	UpdatedBy      string
	ProfileImgURL  string // "" is served as null
	CreatedAt      time.Time
	UpdatedAt      time.Time
	IsArchived     bool // deactivated (REST DELETE, PATCH isArchived, SCIM DELETE)
	IsInactive     bool // SCIM active=false
	// ExternalID is the externalId last set through SCIM.
	ExternalID string
	// DocumentsTransferredTo is the member that received this member's
	// documents on deactivation (newOwnerId, or the API owner on DELETE).
	DocumentsTransferredTo string
	// DocumentsArchived is set when a deactivation archived the documents.
	DocumentsArchived bool
}

// Team is a Sigma team as the emulator holds it.
type Team struct {
	TeamID      string
	Name        string
	Description string
	Visibility  string // "public" or "private"
	CreatedBy   string
	UpdatedBy   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Members     []string // memberIds in the order they were added
	Admins      []string // the subset of Members that are team admins
}

type teamMember struct {
	admin   bool
	addedBy string
}

type teamRec struct {
	Team
	deleted     bool
	workspaceID string
	externalID  string                // set through SCIM
	info        map[string]teamMember // memberId -> membership
}

func (t *teamRec) snapshot() Team {
	out := t.Team
	out.Members = slices.Clone(t.Members)
	out.Admins = nil
	for _, id := range t.Members {
		if t.info[id].admin {
			out.Admins = append(out.Admins, id)
		}
	}
	if out.Members == nil {
		out.Members = []string{}
	}
	return out
}

func (t *teamRec) add(memberID, by string, admin bool) {
	if _, ok := t.info[memberID]; ok {
		return
	}
	t.info[memberID] = teamMember{admin: admin, addedBy: by}
	t.Members = append(t.Members, memberID)
}

func (t *teamRec) remove(memberID string) {
	if _, ok := t.info[memberID]; !ok {
		return
	}
	delete(t.info, memberID)
	if i := slices.Index(t.Members, memberID); i >= 0 {
		t.Members = slices.Delete(t.Members, i, i+1)
	}
}

type accountType struct {
	ID          string
	Name        string
	Description string
	Custom      bool
}

func (s *Server) newAccountType(name string) accountType {
	builtin := slices.Contains(BuiltinAccountTypes, name) || legacyBuiltins[name]
	desc := "Custom account type " + name
	switch name {
	case "Admin":
		desc = "Full access to all features, including administration of the organization."
	case "Pro":
		desc = "Create, edit and share workbooks, data models and datasets; write to warehouses."
	case "Essential":
		desc = "Explore and analyze data in existing workbooks; create and edit workbooks without write-back."
	case "View":
		desc = "View and interact with workbooks shared with them."
	}
	return accountType{ID: s.randString(22, alnum), Name: name, Description: desc, Custom: !builtin}
}

// scimUserType is the userType Sigma's SCIM endpoint uses for an account
// type: built-ins in lower case ("view", "pro"), custom types exactly as
// named.
func scimUserType(at accountType) string {
	if at.Custom {
		return at.Name
	}
	return strings.ToLower(at.Name)
}

// ---- ids -----------------------------------------------------------------

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// randString needs s.mu held (or to be called before the Server is shared).
// It draws 8 characters from each 64-bit random value.
func (s *Server) randString(n int, alphabet string) string {
	b := make([]byte, n)
	var r uint64
	for i := range b {
		if i%8 == 0 {
			r = s.rnd.Uint64()
		}
		b[i] = alphabet[int(r&0xff)%len(alphabet)]
		r >>= 8
	}
	return string(b)
}

// opaqueID is shaped like Sigma's member and team ids: 27 mixed-case
// alphanumerics, neither an email nor a UUID.
func (s *Server) opaqueID() string { return s.randString(27, alnum) }

// uuid returns a random version-4 UUID string.
func (s *Server) uuid() string {
	const hex = "0123456789abcdef"
	var b [36]byte
	hi, lo := s.rnd.Uint64(), s.rnd.Uint64()
	j := 0
	for i := range 32 {
		switch i {
		case 8, 12, 16, 20:
			b[j] = '-'
			j++
		}
		var nib uint64
		if i < 16 {
			nib = hi >> (4 * i) & 0xf
		} else {
			nib = lo >> (4 * (i - 16)) & 0xf
		}
		switch i {
		case 12:
			nib = 4 // version 4
		case 16:
			nib = 8 | nib&3 // RFC 4122 variant
		}
		b[j] = hex[nib]
		j++
	}
	return string(b[:])
}

// ---- cursors -------------------------------------------------------------

// cursor encodes a position in one of the insertion-ordered slices. Members
// are never removed and deleted teams keep their slot, so a position stays
// valid while the state changes between pages.
func (s *Server) cursor(kind string, pos int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + strconv.Itoa(pos) + ":" + s.cursorSalt))
}

func (s *Server) parseCursor(kind, c string) (int, bool) {
	if c == "" {
		return 0, true
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, false
	}
	parts := strings.Split(string(b), ":")
	if len(parts) != 3 || parts[0] != kind || parts[2] != s.cursorSalt {
		return 0, false
	}
	n, err := strconv.Atoi(parts[1])
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// ---- seeding -------------------------------------------------------------

var firstNames = []string{
	"Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Sophia", "Elijah", "Isabella", "James",
	"Ava", "William", "Mia", "Benjamin", "Evelyn", "Lucas", "Harper", "Henry", "Luna", "Theodore",
	"Camila", "Jack", "Gianna", "Levi", "Aisha", "Mateo", "Priya", "Hiroshi", "Chloé", "Søren",
	"Fatima", "Diego", "Yuki", "Ananya", "Kwame", "Ingrid", "Rafael", "Mei", "Omar", "Zoë",
	"Nadia", "Tomasz", "Leila", "Arjun", "Freya", "Malik", "Elena", "Jonas", "Sakura", "Mateus",
}

var lastNames = []string{
	"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
	"Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
	"Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
	"Nakamura", "Patel", "Okafor", "Kowalski", "Müller", "O'Brien", "Nguyen", "Kim", "Chen", "Singh",
	"Haddad", "Larsen", "Dubois", "Rossi", "Novak", "Silva", "Ivanova", "Cohen", "Yilmaz", "Van der Berg",
}

var teamNames = []string{
	"Engineering", "Sales", "Marketing", "Finance", "Customer Success", "Data Platform", "People Ops",
	"Legal", "Product", "Design", "Security", "Analytics", "Operations", "Executive", "Partnerships",
}

const seedDomain = "example.com"

// foldedFirst and foldedLast are the seed names as email local parts.
var foldedFirst, foldedLast = foldAll(firstNames), foldAll(lastNames)

func foldAll(names []string) []string {
	fold := strings.NewReplacer("é", "e", "ø", "o", "ë", "e", "ü", "u", "'", "", " ", "")
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.ToLower(fold.Replace(n))
	}
	return out
}

// seed fills the org with n realistic members and t teams. The first member
// is the Admin owning the API credentials. Seeded members are all active.
func (s *Server) seed(n, t int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UTC().Truncate(time.Millisecond)
	s.members = slices.Grow(s.members, n)
	if n > len(s.memberByID) {
		// Pre-size the indexes: growing maps dominates seeding 100k members.
		s.memberByID = make(map[string]int, n)
		s.memberByMail = make(map[string]int, n)
	}
	used := make(map[string]int, len(firstNames)*len(lastNames))
	types := s.seedTypes()
	for i := range n {
		fi, li := s.rnd.IntN(len(firstNames)), s.rnd.IntN(len(lastNames))
		first, last := firstNames[fi], lastNames[li]
		local := foldedFirst[fi] + "." + foldedLast[li]
		if i == 0 {
			local = "admin"
		}
		k := used[local]
		used[local] = k + 1
		if k > 0 {
			local += strconv.Itoa(k + 1)
		}
		created := now.Add(-time.Duration(s.rnd.Int64N(int64(730 * 24 * time.Hour)))).Truncate(time.Millisecond)
		m := &Member{
			Email:          local + "@" + seedDomain,
			FirstName:      first,
			LastName:       last,
			MemberType:     types.pick(s, i),
			UserKind:       "internal",
			OrganizationID: s.orgID,
			HomeFolderID:   s.uuid(),
			CreatedBy:      s.ownerID,
			UpdatedBy:      s.ownerID,
			CreatedAt:      created,
			UpdatedAt:      created,
		}
		if i == 0 {
			m.MemberID = s.ownerID
			m.MemberType = s.adminType()
		} else {
			m.MemberID = s.opaqueID()
			if i%40 == 39 {
				m.UserKind = "guest"
			}
		}
		s.insertMemberLocked(m)
	}
	for i := range t {
		name := teamNames[i%len(teamNames)]
		if i >= len(teamNames) {
			name += " " + strconv.Itoa(i/len(teamNames)+1)
		}
		created := now.Add(-time.Duration(s.rnd.Int64N(int64(365 * 24 * time.Hour)))).Truncate(time.Millisecond)
		tr := &teamRec{Team: Team{
			TeamID:      s.opaqueID(),
			Name:        name,
			Description: name + " team",
			Visibility:  "private",
			CreatedBy:   s.ownerID,
			UpdatedBy:   s.ownerID,
			CreatedAt:   created,
			UpdatedAt:   created,
		}, info: map[string]teamMember{}}
		if i%3 == 0 {
			tr.Visibility = "public"
		}
		s.insertTeamLocked(tr)
	}
	if t > 0 {
		// Everyone but the owner is in one team; every fifth member in a second.
		for i := 1; i < len(s.members); i++ {
			m := s.members[i]
			first := s.teams[i%t]
			first.add(m.MemberID, s.ownerID, len(first.Members) == 0)
			if i%5 == 0 && t > 1 {
				s.teams[(i/5)%t].add(m.MemberID, s.ownerID, false)
			}
		}
	}
}

type seedTypeSet struct {
	view, essential, pro, custom, admin string
	fallback                            string
}

func (s *Server) seedTypes() seedTypeSet {
	ts := seedTypeSet{fallback: s.defaultType}
	for _, at := range s.accountTypes {
		switch {
		case at.Name == "View":
			ts.view = at.Name
		case at.Name == "Essential":
			ts.essential = at.Name
		case at.Name == "Pro":
			ts.pro = at.Name
		case at.Name == "Admin":
			ts.admin = at.Name
		case at.Custom && ts.custom == "":
			ts.custom = at.Name
		}
	}
	return ts
}

// pick spreads account types realistically: mostly View, then Essential
// and Pro, a few custom and Admin.
func (ts seedTypeSet) pick(s *Server, i int) string {
	r := s.rnd.IntN(100)
	var t string
	switch {
	case r < 50:
		t = ts.view
	case r < 70:
		t = ts.essential
	case r < 90:
		t = ts.pro
	case r < 98:
		t = ts.custom
	case i%2 == 0:
		t = ts.admin
	}
	if t == "" {
		t = ts.fallback
	}
	return t
}

func (s *Server) adminType() string {
	for _, at := range s.accountTypes {
		if at.Name == "Admin" {
			return "Admin"
		}
	}
	return s.defaultType
}

func (s *Server) insertMemberLocked(m *Member) {
	s.memberByID[m.MemberID] = len(s.members)
	s.memberByMail[strings.ToLower(m.Email)] = len(s.members)
	s.members = append(s.members, m)
}

func (s *Server) insertTeamLocked(t *teamRec) {
	s.teamByID[t.TeamID] = len(s.teams)
	s.teams = append(s.teams, t)
}

func (s *Server) memberLocked(id string) (*Member, bool) {
	i, ok := s.memberByID[id]
	if !ok {
		return nil, false
	}
	return s.members[i], true
}

func (s *Server) memberByEmailLocked(email string) (*Member, bool) {
	i, ok := s.memberByMail[strings.ToLower(email)]
	if !ok {
		return nil, false
	}
	return s.members[i], true
}

func (s *Server) teamLocked(id string) (*teamRec, bool) {
	i, ok := s.teamByID[id]
	if !ok || s.teams[i].deleted {
		return nil, false
	}
	return s.teams[i], true
}

func (s *Server) teamByNameLocked(name string) (*teamRec, bool) {
	for _, t := range s.teams {
		if !t.deleted && strings.EqualFold(t.Name, name) {
			return t, true
		}
	}
	return nil, false
}

func (s *Server) accountTypeLocked(name string) (accountType, bool) {
	for _, at := range s.accountTypes {
		if at.Name == name {
			return at, true
		}
	}
	return accountType{}, false
}

func (s *Server) accountTypeBySCIMLocked(userType string) (accountType, bool) {
	for _, at := range s.accountTypes {
		if scimUserType(at) == userType {
			return at, true
		}
	}
	return accountType{}, false
}

// ---- inspection and setup for tests -------------------------------------

// Members returns copies of all members, archived and inactive included, in
// creation order.
func (s *Server) Members() []Member {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Member, len(s.members))
	for i, m := range s.members {
		out[i] = *m
	}
	return out
}

// Member returns a copy of the member with id.
func (s *Server) Member(id string) (Member, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, ok := s.memberLocked(id)
	if !ok {
		return Member{}, false
	}
	return *m, true
}

// MemberByEmail returns a copy of the member with email (case-insensitive).
func (s *Server) MemberByEmail(email string) (Member, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, ok := s.memberByEmailLocked(email)
	if !ok {
		return Member{}, false
	}
	return *m, true
}

// Teams returns copies of all existing teams in creation order.
func (s *Server) Teams() []Team {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Team
	for _, t := range s.teams {
		if !t.deleted {
			out = append(out, t.snapshot())
		}
	}
	return out
}

// Team returns a copy of the team with id.
func (s *Server) Team(id string) (Team, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.teamLocked(id)
	if !ok {
		return Team{}, false
	}
	return t.snapshot(), true
}

// AddMember inserts m as is (no validation beyond filling blanks: id,
// organization, home folder, kind, type, creator and timestamps) and
// returns the stored copy. A member with the same MemberID is replaced; an
// email already used by another member is taken over in the email index.
func (s *Server) AddMember(m Member) Member {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UTC().Truncate(time.Millisecond)
	if m.MemberID == "" {
		m.MemberID = s.opaqueID()
	}
	if m.OrganizationID == "" {
		m.OrganizationID = s.orgID
	}
	if m.HomeFolderID == "" {
		m.HomeFolderID = s.uuid()
	}
	if m.UserKind == "" {
		m.UserKind = "internal"
	}
	if m.MemberType == "" {
		m.MemberType = s.defaultType
	}
	if m.CreatedBy == "" {
		m.CreatedBy = s.ownerID
	}
	if m.UpdatedBy == "" {
		m.UpdatedBy = m.CreatedBy
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = now
	}
	if m.UpdatedAt.IsZero() {
		m.UpdatedAt = m.CreatedAt
	}
	if i, ok := s.memberByID[m.MemberID]; ok {
		if prev := strings.ToLower(s.members[i].Email); s.memberByMail[prev] == i {
			delete(s.memberByMail, prev)
		}
		*s.members[i] = m
		s.memberByMail[strings.ToLower(m.Email)] = i
		return m
	}
	cp := m
	s.insertMemberLocked(&cp)
	return m
}

// AddTeam inserts t (filling id, visibility and timestamps when empty) with
// its Members (Admins among them marked team admin), and returns the copy.
func (s *Server) AddTeam(t Team) Team {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UTC().Truncate(time.Millisecond)
	if t.TeamID == "" {
		t.TeamID = s.opaqueID()
	}
	if t.Visibility == "" {
		t.Visibility = "private"
	}
	if t.CreatedBy == "" {
		t.CreatedBy = s.ownerID
	}
	if t.UpdatedBy == "" {
		t.UpdatedBy = t.CreatedBy
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now
	}
	if t.UpdatedAt.IsZero() {
		t.UpdatedAt = t.CreatedAt
	}
	members, admins := t.Members, t.Admins
	t.Members, t.Admins = nil, nil
	tr := &teamRec{Team: t, info: map[string]teamMember{}}
	for _, id := range members {
		tr.add(id, s.ownerID, slices.Contains(admins, id))
	}
	s.insertTeamLocked(tr)
	return tr.snapshot()
}

// AccountTypes returns the org's account type names in listing order.
func (s *Server) AccountTypes() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, len(s.accountTypes))
	for i, at := range s.accountTypes {
		out[i] = at.Name
	}
	return out
}

// SCIMUserType returns the SCIM userType Sigma uses for the account type
// name (built-ins lower-cased, custom as named), or false if unknown.
func (s *Server) SCIMUserType(accountTypeName string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	at, ok := s.accountTypeLocked(accountTypeName)
	if !ok {
		return "", false
	}
	return scimUserType(at), true
}
