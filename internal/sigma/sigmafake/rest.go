package sigmafake

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"
)

// Default page sizes when a paginated endpoint gets no limit (Sigma does
// not document them).
const (
	defaultLimit        = 50
	maxLimit            = 1000
	defaultAccountTypes = 50
)

func (s *Server) routes() http.Handler {
	api := http.NewServeMux()
	api.HandleFunc("GET /v2/whoami", s.whoami)
	api.HandleFunc("GET /v2/accountTypes", s.listAccountTypes)

	api.HandleFunc("GET /v2/members", func(w http.ResponseWriter, r *http.Request) { s.listMembers(w, r, false) })
	api.HandleFunc("GET /v2.1/members", func(w http.ResponseWriter, r *http.Request) { s.listMembers(w, r, true) })
	api.HandleFunc("POST /v2/members", s.createMember)
	api.HandleFunc("GET /v2/members/{memberId}", s.getMember)
	api.HandleFunc("PATCH /v2/members/{memberId}", s.patchMember)
	api.HandleFunc("DELETE /v2/members/{memberId}", s.deleteMember)
	api.HandleFunc("GET /v2/members/{memberId}/teams", s.memberTeams)

	api.HandleFunc("GET /v2/teams", func(w http.ResponseWriter, r *http.Request) { s.listTeams(w, r, false) })
	api.HandleFunc("GET /v2.1/teams", func(w http.ResponseWriter, r *http.Request) { s.listTeams(w, r, true) })
	api.HandleFunc("POST /v2/teams", s.createTeam)
	api.HandleFunc("GET /v2/teams/{teamId}", s.getTeam)
	api.HandleFunc("PATCH /v2/teams/{teamId}", s.patchTeam)
	api.HandleFunc("DELETE /v2/teams/{teamId}", s.deleteTeam)
	api.HandleFunc("GET /v2/teams/{teamId}/members", s.teamMembers)
	api.HandleFunc("PATCH /v2/teams/{teamId}/members", s.patchTeamMembers)
	api.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "Not found")
	})

	root := http.NewServeMux()
	root.HandleFunc("POST /v2/auth/token", s.handleToken)
	root.Handle("/v2/", s.requireREST(api))
	root.Handle("/v2.1/", s.requireREST(api))
	root.Handle("/scim/v2/", s.scimRoutes())
	root.Handle("/scim/v2", s.scimRoutes())
	root.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "Not found")
	})
	return s.serve(root)
}

// ---- views ---------------------------------------------------------------

func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

type memberView struct {
	OrganizationID string  `json:"organizationId"`
	MemberID       string  `json:"memberId"`
	MemberType     string  `json:"memberType"`
	FirstName      string  `json:"firstName"`
	LastName       string  `json:"lastName"`
	Email          string  `json:"email"`
	ProfileImgURL  *string `json:"profileImgUrl"`
	CreatedBy      string  `json:"createdBy"`
	UpdatedBy      string  `json:"updatedBy"`
	CreatedAt      string  `json:"createdAt"`
	UpdatedAt      string  `json:"updatedAt"`
	HomeFolderID   string  `json:"homeFolderId"`
	UserKind       string  `json:"userKind"`
	// Absent means false, as on Sigma.
	IsArchived bool `json:"isArchived,omitempty"`
	IsInactive bool `json:"isInactive,omitempty"`
}

func viewMember(m *Member) memberView {
	v := memberView{
		OrganizationID: m.OrganizationID, MemberID: m.MemberID, MemberType: m.MemberType,
		FirstName: m.FirstName, LastName: m.LastName, Email: m.Email,
		CreatedBy: m.CreatedBy, UpdatedBy: m.UpdatedBy, CreatedAt: ts(m.CreatedAt), UpdatedAt: ts(m.UpdatedAt),
		HomeFolderID: m.HomeFolderID, UserKind: m.UserKind, IsArchived: m.IsArchived, IsInactive: m.IsInactive,
	}
	if m.ProfileImgURL != "" {
		p := m.ProfileImgURL
		v.ProfileImgURL = &p
	}
	return v
}

type teamView struct {
	TeamID      string    `json:"teamId"`
	CreatedBy   string    `json:"createdBy"`
	UpdatedBy   string    `json:"updatedBy"`
	CreatedAt   string    `json:"createdAt"`
	UpdatedAt   string    `json:"updatedAt"`
	Name        string    `json:"name"`
	Description *string   `json:"description"`
	Visibility  string    `json:"visibility"`
	IsArchived  bool      `json:"isArchived"`
	Members     *[]string `json:"members,omitempty"`
}

func viewTeam(t *teamRec, withMembers bool) teamView {
	v := teamView{
		TeamID: t.TeamID, CreatedBy: t.CreatedBy, UpdatedBy: t.UpdatedBy,
		CreatedAt: ts(t.CreatedAt), UpdatedAt: ts(t.UpdatedAt), Name: t.Name, Visibility: t.Visibility,
	}
	if t.Description != "" {
		d := t.Description
		v.Description = &d
	}
	if withMembers {
		ms := append([]string{}, t.Members...)
		v.Members = &ms
	}
	return v
}

type page[T any] struct {
	Entries  []T     `json:"entries"`
	NextPage *string `json:"nextPage"`
	Total    *int    `json:"total,omitempty"`
}

// ---- paging helpers ------------------------------------------------------

// parseLimit reads `limit`; present reports whether it was given.
func parseLimit(q map[string][]string) (limit int, present bool, err error) {
	raw, ok := q["limit"]
	if !ok || len(raw) == 0 || raw[0] == "" {
		return defaultLimit, false, nil
	}
	f, perr := strconv.ParseFloat(raw[0], 64)
	if perr != nil || math.IsNaN(f) || f != math.Trunc(f) {
		return 0, true, fmt.Errorf("limit must be an integer")
	}
	if f < 1 || f > maxLimit {
		return 0, true, fmt.Errorf("limit must be between 1 and %d", maxLimit)
	}
	return int(f), true, nil
}

func parseBool(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s must be true or false", name)
	}
	return b, nil
}

// ---- account types, whoami ----------------------------------------------

type accountTypeView struct {
	AccountTypeID   string `json:"accountTypeId"`
	AccountTypeName string `json:"accountTypeName"`
	Description     string `json:"description"`
	IsCustom        bool   `json:"isCustom"`
}

func (s *Server) listAccountTypes(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	size := defaultAccountTypes
	if v := q.Get("pageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("pageSize must be an integer between 1 and %d", maxLimit))
			return
		}
		size = n
	}
	start, ok := s.parseCursor("at", q.Get("pageToken"))
	if !ok {
		writeError(w, http.StatusBadRequest, "bad_request", "Invalid pageToken")
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := struct {
		Entries       []accountTypeView `json:"entries"`
		NextPageToken string            `json:"nextPageToken,omitempty"`
	}{Entries: []accountTypeView{}}
	end := min(start+size, len(s.accountTypes))
	for i := start; i < end; i++ {
		at := s.accountTypes[i]
		out.Entries = append(out.Entries, accountTypeView{at.ID, at.Name, at.Description, at.Custom})
	}
	if end < len(s.accountTypes) {
		out.NextPageToken = s.cursor("at", end)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) whoami(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"userId": s.ownerID, "organizationId": s.orgID})
}

// ---- members -------------------------------------------------------------

func (s *Server) listMembers(w http.ResponseWriter, r *http.Request, v21 bool) {
	q := r.URL.Query()
	limit, paged, err := parseLimit(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	paged = paged || v21
	inclArchived, err := parseBool(r, "includeArchived")
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	inclInactive, err := parseBool(r, "includeInactive")
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	email, search := q.Get("email"), q.Get("search")
	if email != "" && search != "" {
		writeError(w, http.StatusBadRequest, "bad_request", "Using email and search together is not supported")
		return
	}
	start, ok := s.parseCursor("m", q.Get("page"))
	if !ok {
		writeError(w, http.StatusBadRequest, "bad_request", "Invalid page token")
		return
	}
	visible := func(m *Member) bool {
		if m.IsArchived && !inclArchived || m.IsInactive && !inclInactive {
			return false
		}
		if search != "" {
			needle := strings.ToLower(search)
			return strings.Contains(strings.ToLower(m.Email), needle) ||
				strings.Contains(strings.ToLower(m.FirstName+" "+m.LastName), needle)
		}
		return true
	}

	s.mu.RLock()
	entries := []memberView{}
	var next *string
	total := 0
	if email != "" {
		// Exact match, case-insensitive, through the email index.
		if m, ok := s.memberByEmailLocked(email); ok && visible(m) && start == 0 {
			entries = append(entries, viewMember(m))
			total = 1
		}
	} else if !paged {
		for _, m := range s.members {
			if visible(m) {
				entries = append(entries, viewMember(m))
			}
		}
	} else {
		i := start
		for ; i < len(s.members) && len(entries) < limit; i++ {
			if visible(s.members[i]) {
				entries = append(entries, viewMember(s.members[i]))
			}
		}
		// Only announce a next page when one more visible member exists, so
		// N members at limit L take exactly ceil(N/L) requests.
		for ; i < len(s.members); i++ {
			if visible(s.members[i]) {
				c := s.cursor("m", i)
				next = &c
				break
			}
		}
		if v21 {
			for _, m := range s.members {
				if visible(m) {
					total++
				}
			}
		}
	}
	s.mu.RUnlock()

	if !paged {
		writeJSON(w, http.StatusOK, entries)
		return
	}
	out := page[memberView]{Entries: entries, NextPage: next}
	if v21 {
		out.Total = &total
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getMember(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	m, ok := s.memberLocked(r.PathValue("memberId"))
	var v memberView
	if ok {
		v = viewMember(m)
	}
	s.mu.RUnlock()
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "Member not found")
		return
	}
	writeJSON(w, http.StatusOK, v)
}

type createMemberBody struct {
	Email      *string `json:"email"`
	FirstName  *string `json:"firstName"`
	LastName   *string `json:"lastName"`
	MemberType *string `json:"memberType"`
	IsGuest    *bool   `json:"isGuest"`
	UserKind   *string `json:"userKind"`
	AddToTeams []struct {
		TeamID      string `json:"teamId"`
		IsTeamAdmin bool   `json:"isTeamAdmin"`
	} `json:"addToTeams"`
}

// httpError is a REST error decided inside a locked section.
type httpError struct {
	status        int
	code, message string
}

func (e *httpError) write(w http.ResponseWriter) { writeError(w, e.status, e.code, e.message) }

func badRequest(format string, args ...any) *httpError {
	return &httpError{http.StatusBadRequest, "bad_request", fmt.Sprintf(format, args...)}
}

func notFound(msg string) *httpError { return &httpError{http.StatusNotFound, "not_found", msg} }

var (
	errDuplicate       = &httpError{http.StatusConflict, "conflict", "Duplicate record"}
	errMemberTypeName  = notFound("Member type name is not found")
	errInactiveInTeams = badRequest("Inactive members cannot be added or removed from a team")
)

func validUserKind(k string) bool { return k == "internal" || k == "guest" || k == "embed" }

func (s *Server) createMember(w http.ResponseWriter, r *http.Request) {
	if _, err := parseBool(r, "sendInvite"); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	var b createMemberBody
	if err := decodeBody(r, &b); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"email", b.Email}, {"firstName", b.FirstName}, {"lastName", b.LastName}} {
		if f.v == nil || strings.TrimSpace(*f.v) == "" {
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("Missing required field: %s", f.name))
			return
		}
	}
	if _, err := mail.ParseAddress(*b.Email); err != nil || strings.ContainsAny(*b.Email, " <>") {
		writeError(w, http.StatusBadRequest, "bad_request", "Invalid field: email must be an email address")
		return
	}
	kind := "internal"
	if b.IsGuest != nil && *b.IsGuest {
		kind = "guest"
	}
	if b.UserKind != nil {
		if !validUserKind(*b.UserKind) {
			writeError(w, http.StatusBadRequest, "bad_request", "Invalid field: userKind must be one of internal, guest, embed")
			return
		}
		kind = *b.UserKind
	}
	s.mu.Lock()
	m, herr := s.createMemberLocked(*b.Email, *b.FirstName, *b.LastName, b.MemberType, kind, s.ownerID)
	if herr == nil {
		for _, at := range b.AddToTeams {
			if _, ok := s.teamLocked(at.TeamID); !ok {
				herr = notFound("Team not found")
			}
		}
		if herr != nil {
			s.rollbackCreateLocked(m)
		} else {
			for _, at := range b.AddToTeams {
				t, _ := s.teamLocked(at.TeamID)
				t.add(m.MemberID, s.ownerID, at.IsTeamAdmin)
			}
		}
	}
	var v memberView
	if herr == nil {
		v = viewMember(m)
	}
	s.mu.Unlock()
	if herr != nil {
		herr.write(w)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// createMemberLocked validates and inserts a member; memberType nil means
// the org default.
func (s *Server) createMemberLocked(email, first, last string, memberType *string, kind, by string) (*Member, *httpError) {
	if _, dup := s.memberByEmailLocked(email); dup {
		return nil, errDuplicate
	}
	typ := s.defaultType
	if memberType != nil {
		at, ok := s.accountTypeLocked(*memberType)
		if !ok {
			return nil, errMemberTypeName
		}
		typ = at.Name
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	m := &Member{
		MemberID: s.opaqueID(), Email: email, FirstName: first, LastName: last, MemberType: typ,
		UserKind: kind, OrganizationID: s.orgID, HomeFolderID: s.uuid(), CreatedBy: by, UpdatedBy: by,
		CreatedAt: now, UpdatedAt: now,
	}
	s.insertMemberLocked(m)
	return m, nil
}

// rollbackCreateLocked removes the member just inserted by
// createMemberLocked (it is the last one).
func (s *Server) rollbackCreateLocked(m *Member) {
	delete(s.memberByID, m.MemberID)
	delete(s.memberByMail, strings.ToLower(m.Email))
	s.members = s.members[:len(s.members)-1]
}

type patchMemberBody struct {
	MemberType              *string         `json:"memberType"`
	FirstName               *string         `json:"firstName"`
	LastName                *string         `json:"lastName"`
	ProfileImgURL           json.RawMessage `json:"profileImgUrl"`
	Email                   *string         `json:"email"`
	IsArchived              *bool           `json:"isArchived"`
	IsInactive              *bool           `json:"isInactive"`
	UserKind                *string         `json:"userKind"`
	NewOwnerID              *string         `json:"newOwnerId"`
	ArchiveDocuments        *bool           `json:"archiveDocuments"`
	ArchiveScheduledExports *bool           `json:"archiveScheduledExports"`
}

func (s *Server) patchMember(w http.ResponseWriter, r *http.Request) {
	var b patchMemberBody
	if err := decodeBody(r, &b); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	s.mu.Lock()
	m, herr := s.patchMemberLocked(r.PathValue("memberId"), b)
	var v memberView
	if herr == nil {
		v = viewMember(m)
	}
	s.mu.Unlock()
	if herr != nil {
		herr.write(w)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) patchMemberLocked(id string, b patchMemberBody) (*Member, *httpError) {
	m, ok := s.memberLocked(id)
	if !ok {
		return nil, notFound("Member not found")
	}
	deactivating := b.IsArchived != nil && *b.IsArchived || b.IsInactive != nil && *b.IsInactive
	handover := b.NewOwnerID != nil || b.ArchiveDocuments != nil || b.ArchiveScheduledExports != nil
	if handover && !deactivating {
		return nil, badRequest("newOwnerId, archiveDocuments and archiveScheduledExports can only be used when isArchived or isInactive is set to true")
	}
	if b.NewOwnerID != nil && b.ArchiveDocuments != nil && *b.ArchiveDocuments {
		return nil, badRequest("newOwnerId and archiveDocuments cannot be used together")
	}
	if b.NewOwnerID != nil {
		owner, ok := s.memberLocked(*b.NewOwnerID)
		if !ok || owner.MemberID == m.MemberID || owner.IsArchived || owner.IsInactive {
			return nil, badRequest("Invalid field: newOwnerId must be an active member other than the one being deactivated")
		}
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"firstName", b.FirstName}, {"lastName", b.LastName}, {"email", b.Email}} {
		if f.v != nil && strings.TrimSpace(*f.v) == "" {
			return nil, badRequest("Invalid field: %s must not be empty", f.name)
		}
	}
	if b.UserKind != nil && !validUserKind(*b.UserKind) {
		return nil, badRequest("Invalid field: userKind must be one of internal, guest, embed")
	}
	var img *string
	if len(b.ProfileImgURL) > 0 {
		var p *string
		if err := json.Unmarshal(b.ProfileImgURL, &p); err != nil {
			return nil, badRequest("Invalid field: profileImgUrl must be a string or null")
		}
		empty := ""
		if p == nil {
			p = &empty
		}
		img = p
	}
	if b.MemberType != nil {
		if _, ok := s.accountTypeLocked(*b.MemberType); !ok {
			return nil, errMemberTypeName
		}
	}
	if b.Email != nil && !strings.EqualFold(*b.Email, m.Email) {
		if _, err := mail.ParseAddress(*b.Email); err != nil {
			return nil, badRequest("Invalid field: email must be an email address")
		}
		if _, dup := s.memberByEmailLocked(*b.Email); dup {
			return nil, errDuplicate
		}
	}
	// All checks passed: apply.
	if b.Email != nil {
		delete(s.memberByMail, strings.ToLower(m.Email))
		m.Email = *b.Email
		s.memberByMail[strings.ToLower(m.Email)] = s.memberByID[m.MemberID]
	}
	if b.MemberType != nil {
		m.MemberType = *b.MemberType
	}
	if b.FirstName != nil {
		m.FirstName = *b.FirstName
	}
	if b.LastName != nil {
		m.LastName = *b.LastName
	}
	if img != nil {
		m.ProfileImgURL = *img
	}
	if b.UserKind != nil {
		m.UserKind = *b.UserKind
	}
	if b.IsArchived != nil {
		m.IsArchived = *b.IsArchived
	}
	if b.IsInactive != nil {
		m.IsInactive = *b.IsInactive
	}
	if deactivating {
		switch {
		case b.NewOwnerID != nil:
			m.DocumentsTransferredTo = *b.NewOwnerID
		case b.ArchiveDocuments != nil && *b.ArchiveDocuments:
			m.DocumentsArchived = true
		}
	}
	m.UpdatedBy = s.ownerID
	m.UpdatedAt = s.now().UTC().Truncate(time.Millisecond)
	return m, nil
}

func (s *Server) deleteMember(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	m, ok := s.memberLocked(r.PathValue("memberId"))
	if ok && !m.IsArchived {
		// Sigma hands the documents to the owner of the API credentials.
		m.IsArchived = true
		m.DocumentsTransferredTo = s.ownerID
		m.UpdatedBy = s.ownerID
		m.UpdatedAt = s.now().UTC().Truncate(time.Millisecond)
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "Member not found")
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) memberTeams(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, _, err := parseLimit(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	start, ok := s.parseCursor("mt", q.Get("page"))
	if !ok {
		writeError(w, http.StatusBadRequest, "bad_request", "Invalid page token")
		return
	}
	id := r.PathValue("memberId")
	s.mu.RLock()
	_, ok = s.memberLocked(id)
	out := page[teamView]{Entries: []teamView{}}
	total := 0
	if ok {
		for i, t := range s.teams {
			if t.deleted {
				continue
			}
			if _, in := t.info[id]; !in {
				continue
			}
			total++
			if i < start {
				continue
			}
			if len(out.Entries) == limit {
				if out.NextPage == nil {
					c := s.cursor("mt", i)
					out.NextPage = &c
				}
				continue
			}
			out.Entries = append(out.Entries, viewTeam(t, false))
		}
	}
	s.mu.RUnlock()
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "Member not found")
		return
	}
	out.Total = &total
	writeJSON(w, http.StatusOK, out)
}

// ---- teams ---------------------------------------------------------------

func (s *Server) listTeams(w http.ResponseWriter, r *http.Request, v21 bool) {
	q := r.URL.Query()
	limit, paged, err := parseLimit(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	paged = paged || v21
	vis := q.Get("visibility")
	if vis != "" && vis != "public" && vis != "private" {
		writeError(w, http.StatusBadRequest, "bad_request", "visibility must be public or private")
		return
	}
	start, ok := s.parseCursor("t", q.Get("page"))
	if !ok {
		writeError(w, http.StatusBadRequest, "bad_request", "Invalid page token")
		return
	}
	name, desc := q.Get("name"), q.Get("description")
	match := func(t *teamRec) bool {
		return !t.deleted &&
			(name == "" || strings.EqualFold(t.Name, name)) &&
			(desc == "" || t.Description == desc) &&
			(vis == "" || t.Visibility == vis)
	}
	s.mu.RLock()
	entries := []teamView{}
	var next *string
	total := 0
	for i, t := range s.teams {
		if !match(t) {
			continue
		}
		total++
		if !paged {
			entries = append(entries, viewTeam(t, false))
			continue
		}
		if i < start {
			continue
		}
		if len(entries) == limit {
			if next == nil {
				c := s.cursor("t", i)
				next = &c
			}
			continue
		}
		entries = append(entries, viewTeam(t, false))
	}
	s.mu.RUnlock()
	if !paged {
		writeJSON(w, http.StatusOK, entries)
		return
	}
	out := page[teamView]{Entries: entries, NextPage: next}
	if v21 {
		out.Total = &total
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getTeam(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	t, ok := s.teamLocked(r.PathValue("teamId"))
	var v teamView
	if ok {
		v = viewTeam(t, true)
	}
	s.mu.RUnlock()
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "Team not found")
		return
	}
	writeJSON(w, http.StatusOK, v)
}

type createTeamBody struct {
	Name             *string  `json:"name"`
	Description      *string  `json:"description"`
	Members          []string `json:"members"`
	CreateTeamFolder bool     `json:"createTeamFolder"`
	Visibility       *string  `json:"visibility"`
}

func (s *Server) createTeam(w http.ResponseWriter, r *http.Request) {
	var b createTeamBody
	if err := decodeBody(r, &b); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if b.Name == nil || strings.TrimSpace(*b.Name) == "" {
		writeError(w, http.StatusBadRequest, "bad_request", "Missing required field: name")
		return
	}
	vis := "private"
	if b.Visibility != nil {
		if *b.Visibility != "public" && *b.Visibility != "private" {
			writeError(w, http.StatusBadRequest, "bad_request", "Invalid field: visibility must be public or private")
			return
		}
		vis = *b.Visibility
	}
	desc := ""
	if b.Description != nil {
		desc = *b.Description
	}
	s.mu.Lock()
	t, herr := s.createTeamLocked(*b.Name, desc, vis, b.Members, s.ownerID)
	var v struct {
		teamView
		WorkspaceID *string `json:"workspaceId"`
	}
	if herr == nil {
		if b.CreateTeamFolder {
			t.workspaceID = s.uuid()
			id := t.workspaceID
			v.WorkspaceID = &id
		}
		v.teamView = viewTeam(t, true)
	}
	s.mu.Unlock()
	if herr != nil {
		herr.write(w)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) createTeamLocked(name, desc, vis string, members []string, by string) (*teamRec, *httpError) {
	if _, dup := s.teamByNameLocked(name); dup {
		return nil, errDuplicate
	}
	if herr := s.checkJoinableLocked(members); herr != nil {
		return nil, herr
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	t := &teamRec{Team: Team{
		TeamID: s.opaqueID(), Name: name, Description: desc, Visibility: vis,
		CreatedBy: by, UpdatedBy: by, CreatedAt: now, UpdatedAt: now,
	}, info: map[string]teamMember{}}
	for _, id := range members {
		t.add(id, by, false)
	}
	s.insertTeamLocked(t)
	return t, nil
}

// checkJoinableLocked enforces that only existing, active members join or
// leave teams.
func (s *Server) checkJoinableLocked(ids []string) *httpError {
	for _, id := range ids {
		m, ok := s.memberLocked(id)
		if !ok {
			return notFound("Member not found: " + id)
		}
		if m.IsArchived || m.IsInactive {
			return errInactiveInTeams
		}
	}
	return nil
}

type patchTeamBody struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
	Visibility  *string `json:"visibility"`
}

func (s *Server) patchTeam(w http.ResponseWriter, r *http.Request) {
	var b patchTeamBody
	if err := decodeBody(r, &b); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	s.mu.Lock()
	t, herr := s.patchTeamLocked(r.PathValue("teamId"), b, s.ownerID)
	var v teamView
	if herr == nil {
		v = viewTeam(t, false)
	}
	s.mu.Unlock()
	if herr != nil {
		herr.write(w)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) patchTeamLocked(id string, b patchTeamBody, by string) (*teamRec, *httpError) {
	t, ok := s.teamLocked(id)
	if !ok {
		return nil, notFound("Team not found")
	}
	if b.Name != nil {
		if strings.TrimSpace(*b.Name) == "" {
			return nil, badRequest("Invalid field: name must not be empty")
		}
		if other, dup := s.teamByNameLocked(*b.Name); dup && other != t {
			return nil, errDuplicate
		}
	}
	if b.Visibility != nil && *b.Visibility != "public" && *b.Visibility != "private" {
		return nil, badRequest("Invalid field: visibility must be public or private")
	}
	if b.Name != nil {
		t.Name = *b.Name
	}
	if b.Description != nil {
		t.Description = *b.Description
	}
	if b.Visibility != nil {
		t.Visibility = *b.Visibility
	}
	t.UpdatedBy = by
	t.UpdatedAt = s.now().UTC().Truncate(time.Millisecond)
	return t, nil
}

func (s *Server) deleteTeam(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ok := s.deleteTeamLocked(r.PathValue("teamId"))
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "Team not found")
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) deleteTeamLocked(id string) bool {
	t, ok := s.teamLocked(id)
	if ok {
		t.deleted = true
		delete(s.teamByID, id)
	}
	return ok
}

type teamMemberView struct {
	UserID      string `json:"userId"`
	IsTeamAdmin bool   `json:"isTeamAdmin"`
	AddedBy     string `json:"addedBy"`
}

func (s *Server) teamMembers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, _, err := parseLimit(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	id := r.PathValue("teamId")
	start, ok := s.parseCursor("tm", q.Get("page"))
	if !ok {
		writeError(w, http.StatusBadRequest, "bad_request", "Invalid page token")
		return
	}
	s.mu.RLock()
	t, ok := s.teamLocked(id)
	out := page[teamMemberView]{Entries: []teamMemberView{}}
	if ok {
		end := min(start+limit, len(t.Members))
		for i := start; i < end; i++ {
			info := t.info[t.Members[i]]
			out.Entries = append(out.Entries, teamMemberView{t.Members[i], info.admin, info.addedBy})
		}
		if end < len(t.Members) {
			c := s.cursor("tm", end)
			out.NextPage = &c
		}
		total := len(t.Members)
		out.Total = &total
	}
	s.mu.RUnlock()
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "Team not found")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

type patchTeamMembersBody struct {
	Add    []string `json:"add"`
	Remove []string `json:"remove"`
}

func (s *Server) patchTeamMembers(w http.ResponseWriter, r *http.Request) {
	var b patchTeamMembersBody
	if err := decodeBody(r, &b); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	s.mu.Lock()
	herr := s.changeTeamMembersLocked(r.PathValue("teamId"), b.Add, b.Remove, true, s.ownerID)
	s.mu.Unlock()
	if herr != nil {
		herr.write(w)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// changeTeamMembersLocked applies add and remove atomically: every id is
// checked before anything changes. Archived or inactive members can never be
// added; strictRemove (the REST rule) refuses to remove them too.
func (s *Server) changeTeamMembersLocked(teamID string, add, remove []string, strictRemove bool, by string) *httpError {
	t, ok := s.teamLocked(teamID)
	if !ok {
		return notFound("Team not found")
	}
	if herr := s.checkJoinableLocked(add); herr != nil {
		return herr
	}
	if strictRemove {
		if herr := s.checkJoinableLocked(remove); herr != nil {
			return herr
		}
	}
	for _, id := range add {
		t.add(id, by, false)
	}
	for _, id := range remove {
		t.remove(id)
	}
	t.UpdatedBy = by
	t.UpdatedAt = s.now().UTC().Truncate(time.Millisecond)
	return nil
}
