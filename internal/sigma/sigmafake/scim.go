package sigmafake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SCIM schema URNs used by Sigma's Enterprise SCIM endpoint.
const (
	SchemaUser      = "urn:ietf:params:scim:schemas:core:2.0:User"
	SchemaGroup     = "urn:ietf:params:scim:schemas:core:2.0:Group"
	SchemaSigmaUser = "urn:sigma:scim:schemas:extension:2.0:User"
	schemaList      = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	schemaError     = "urn:ietf:params:scim:api:messages:2.0:Error"
	schemaPatch     = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	scimContentType = "application/scim+json"
	scimMaxCount    = 1000
	scimDefaultCnt  = 100
)

// scimErr is an RFC 7644 error decided inside a locked section.
type scimErr struct {
	status   int
	scimType string
	detail   string
}

func (e *scimErr) write(w http.ResponseWriter) {
	body := map[string]any{"schemas": []string{schemaError}, "status": strconv.Itoa(e.status), "detail": e.detail}
	if e.scimType != "" {
		body["scimType"] = e.scimType
	}
	writeJSONType(w, e.status, scimContentType, body)
}

func scimError(status int, scimType, format string, args ...any) *scimErr {
	return &scimErr{status, scimType, fmt.Sprintf(format, args...)}
}

// fromHTTP turns a REST-side rule violation into the SCIM error Sigma's SCIM
// endpoint would give: conflicts stay 409, everything else is a 400.
func fromHTTP(e *httpError) *scimErr {
	switch e.status {
	case http.StatusConflict:
		return scimError(http.StatusConflict, "uniqueness", "%s", e.message)
	default:
		return scimError(http.StatusBadRequest, "invalidValue", "%s", e.message)
	}
}

func (s *Server) scimRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /scim/v2/ServiceProviderConfig", s.scimServiceProviderConfig)
	mux.HandleFunc("GET /scim/v2/ResourceTypes", s.scimResourceTypes)
	mux.HandleFunc("GET /scim/v2/Schemas", s.scimSchemas)
	for _, p := range []string{"/scim/v2/ServiceProviderConfig", "/scim/v2/ResourceTypes", "/scim/v2/Schemas"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", http.MethodGet)
			scimError(http.StatusMethodNotAllowed, "", "%s is read-only", r.URL.Path).write(w)
		})
	}
	mux.HandleFunc("GET /scim/v2/Users", s.scimListUsers)
	mux.HandleFunc("POST /scim/v2/Users", s.scimCreateUser)
	mux.HandleFunc("GET /scim/v2/Users/{id}", s.scimGetUser)
	mux.HandleFunc("PUT /scim/v2/Users/{id}", s.scimReplaceUser)
	mux.HandleFunc("PATCH /scim/v2/Users/{id}", s.scimPatchUser)
	mux.HandleFunc("DELETE /scim/v2/Users/{id}", s.scimDeleteUser)
	mux.HandleFunc("GET /scim/v2/Groups", s.scimListGroups)
	mux.HandleFunc("POST /scim/v2/Groups", s.scimCreateGroup)
	mux.HandleFunc("GET /scim/v2/Groups/{id}", s.scimGetGroup)
	mux.HandleFunc("PUT /scim/v2/Groups/{id}", s.scimReplaceGroup)
	mux.HandleFunc("PATCH /scim/v2/Groups/{id}", s.scimPatchGroup)
	mux.HandleFunc("DELETE /scim/v2/Groups/{id}", s.scimDeleteGroup)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		scimError(http.StatusNotFound, "", "Resource not found").write(w)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.authMu.Lock()
		enabled, token := s.scimEnabled, s.scimToken
		s.authMu.Unlock()
		if !enabled {
			writeError(w, http.StatusNotFound, "not_found", "Not found")
			return
		}
		if got, ok := bearer(r); !ok || got != token {
			scimError(http.StatusUnauthorized, "", "Authorization failure: the bearer token is missing or invalid").write(w)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (s *Server) scimServiceProviderConfig(w http.ResponseWriter, r *http.Request) {
	writeJSONType(w, http.StatusOK, scimContentType, map[string]any{
		"schemas":        []string{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"},
		"patch":          map[string]bool{"supported": true},
		"bulk":           map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":         map[string]any{"supported": true, "maxResults": scimMaxCount},
		"changePassword": map[string]bool{"supported": false},
		"sort":           map[string]bool{"supported": false},
		"etag":           map[string]bool{"supported": false},
		"authenticationSchemes": []map[string]any{{
			"type": "oauthbearertoken", "name": "OAuth Bearer Token", "primary": true,
			"description": "Authentication with the static SCIM bearer token from Sigma's Administration > Authentication page",
		}},
	})
}

func (s *Server) scimResourceTypes(w http.ResponseWriter, r *http.Request) {
	base := scimBase(r)
	rt := func(name, endpoint, schema string, ext []map[string]any) map[string]any {
		m := map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:ResourceType"},
			"id":      name, "name": name, "endpoint": endpoint, "schema": schema,
			"meta": map[string]string{"resourceType": "ResourceType", "location": base + "/ResourceTypes/" + name},
		}
		if ext != nil {
			m["schemaExtensions"] = ext
		}
		return m
	}
	res := []map[string]any{
		rt("User", "/Users", SchemaUser, []map[string]any{{"schema": SchemaSigmaUser, "required": false}}),
		rt("Group", "/Groups", SchemaGroup, nil),
	}
	writeJSONType(w, http.StatusOK, scimContentType, listResponse[map[string]any]{
		Schemas: []string{schemaList}, TotalResults: len(res), ItemsPerPage: len(res), StartIndex: 1, Resources: res,
	})
}

func (s *Server) scimSchemas(w http.ResponseWriter, r *http.Request) {
	attr := func(name, typ string, required bool, extra map[string]any) map[string]any {
		a := map[string]any{"name": name, "type": typ, "multiValued": false, "required": required,
			"caseExact": false, "mutability": "readWrite", "returned": "default", "uniqueness": "none"}
		for k, v := range extra {
			a[k] = v
		}
		return a
	}
	schema := func(id, name string, attrs ...map[string]any) map[string]any {
		return map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Schema"},
			"id":      id, "name": name, "attributes": attrs,
			"meta": map[string]string{"resourceType": "Schema", "location": scimBase(r) + "/Schemas/" + id},
		}
	}
	res := []map[string]any{
		schema(SchemaUser, "User",
			attr("userName", "string", true, map[string]any{"uniqueness": "server"}),
			attr("name", "complex", false, nil),
			attr("emails", "complex", false, map[string]any{"multiValued": true}),
			attr("active", "boolean", false, nil),
			attr("userType", "string", true, map[string]any{"caseExact": true,
				"description": "The Sigma account type: built-ins in lower case (view, pro, essential, admin), custom types exactly as named."}),
			attr("externalId", "string", false, map[string]any{"caseExact": true}),
		),
		schema(SchemaSigmaUser, "Sigma User",
			attr("userKind", "string", false, map[string]any{"canonicalValues": []string{"internal", "embed"}}),
		),
		schema(SchemaGroup, "Group",
			attr("displayName", "string", true, map[string]any{"uniqueness": "server"}),
			attr("members", "complex", false, map[string]any{"multiValued": true}),
		),
	}
	writeJSONType(w, http.StatusOK, scimContentType, listResponse[map[string]any]{
		Schemas: []string{schemaList}, TotalResults: len(res), ItemsPerPage: len(res), StartIndex: 1, Resources: res,
	})
}

// ---- views ---------------------------------------------------------------

type scimMeta struct {
	ResourceType string `json:"resourceType"`
	Created      string `json:"created"`
	LastModified string `json:"lastModified"`
	Location     string `json:"location"`
}

type scimName struct {
	GivenName  string `json:"givenName"`
	FamilyName string `json:"familyName"`
	Formatted  string `json:"formatted,omitempty"`
}

type scimEmail struct {
	Value   string `json:"value"`
	Type    string `json:"type"`
	Primary bool   `json:"primary"`
}

type scimRef struct {
	Value   string `json:"value"`
	Display string `json:"display,omitempty"`
	Ref     string `json:"$ref,omitempty"`
}

type scimUserView struct {
	Schemas     []string    `json:"schemas"`
	ID          string      `json:"id"`
	ExternalID  string      `json:"externalId,omitempty"`
	UserName    string      `json:"userName"`
	Name        scimName    `json:"name"`
	DisplayName string      `json:"displayName,omitempty"`
	Emails      []scimEmail `json:"emails"`
	Active      bool        `json:"active"`
	UserType    string      `json:"userType"`
	Groups      []scimRef   `json:"groups"`
	Ext         struct {
		UserKind string `json:"userKind"`
	} `json:"urn:sigma:scim:schemas:extension:2.0:User"`
	Meta scimMeta `json:"meta"`
}

type scimGroupView struct {
	Schemas     []string  `json:"schemas"`
	ID          string    `json:"id"`
	ExternalID  string    `json:"externalId,omitempty"`
	DisplayName string    `json:"displayName"`
	Members     []scimRef `json:"members,omitempty"`
	Meta        scimMeta  `json:"meta"`
}

func scimBase(r *http.Request) string { return "http://" + r.Host + "/scim/v2" }

func (s *Server) viewUserLocked(m *Member, base string) scimUserView {
	userType := m.MemberType
	if at, ok := s.accountTypeLocked(m.MemberType); ok {
		userType = scimUserType(at)
	}
	v := scimUserView{
		Schemas:     []string{SchemaUser, SchemaSigmaUser},
		ID:          m.MemberID,
		ExternalID:  m.ExternalID,
		UserName:    m.Email,
		Name:        scimName{GivenName: m.FirstName, FamilyName: m.LastName, Formatted: strings.TrimSpace(m.FirstName + " " + m.LastName)},
		DisplayName: strings.TrimSpace(m.FirstName + " " + m.LastName),
		Emails:      []scimEmail{{Value: m.Email, Type: "work", Primary: true}},
		Active:      !m.IsInactive,
		UserType:    userType,
		Groups:      []scimRef{},
		Meta: scimMeta{ResourceType: "User", Created: ts(m.CreatedAt), LastModified: ts(m.UpdatedAt),
			Location: base + "/Users/" + m.MemberID},
	}
	v.Ext.UserKind = m.UserKind
	for _, t := range s.teams {
		if _, in := t.info[m.MemberID]; in && !t.deleted {
			v.Groups = append(v.Groups, scimRef{Value: t.TeamID, Display: t.Name, Ref: base + "/Groups/" + t.TeamID})
		}
	}
	return v
}

func (s *Server) viewGroupLocked(t *teamRec, base string, withMembers bool) scimGroupView {
	v := scimGroupView{
		Schemas: []string{SchemaGroup}, ID: t.TeamID, ExternalID: t.externalID, DisplayName: t.Name,
		Meta: scimMeta{ResourceType: "Group", Created: ts(t.CreatedAt), LastModified: ts(t.UpdatedAt),
			Location: base + "/Groups/" + t.TeamID},
	}
	if withMembers {
		v.Members = []scimRef{}
		for _, id := range t.Members {
			ref := scimRef{Value: id, Ref: base + "/Users/" + id}
			if m, ok := s.memberLocked(id); ok {
				ref.Display = m.Email
			}
			v.Members = append(v.Members, ref)
		}
	}
	return v
}

type listResponse[T any] struct {
	Schemas      []string `json:"schemas"`
	TotalResults int      `json:"totalResults"`
	ItemsPerPage int      `json:"itemsPerPage"`
	StartIndex   int      `json:"startIndex"`
	Resources    []T      `json:"Resources"`
}

// ---- filters and paging --------------------------------------------------

var eqFilterRE = regexp.MustCompile(`^\s*([A-Za-z.]+)\s+(?i:eq)\s+("(?:[^"\\]|\\.)*")\s*$`)

// parseEqFilter accepts only `<attr> eq "value"` for the one attribute
// Sigma documents for the resource; anything else is invalidFilter.
func parseEqFilter(filter, attr string) (value string, ok bool, err *scimErr) {
	if strings.TrimSpace(filter) == "" {
		return "", false, nil
	}
	m := eqFilterRE.FindStringSubmatch(filter)
	if m == nil || !strings.EqualFold(m[1], attr) {
		return "", false, scimError(http.StatusBadRequest, "invalidFilter", "Unsupported filter %q: only %s eq \"value\" is supported", filter, attr)
	}
	if jerr := json.Unmarshal([]byte(m[2]), &value); jerr != nil {
		return "", false, scimError(http.StatusBadRequest, "invalidFilter", "Invalid filter value in %q", filter)
	}
	return value, true, nil
}

func parsePaging(r *http.Request) (start, count int) {
	q := r.URL.Query()
	start, count = 1, scimDefaultCnt
	if v, err := strconv.Atoi(q.Get("startIndex")); err == nil && v > 1 {
		start = v
	}
	if v, err := strconv.Atoi(q.Get("count")); err == nil {
		count = min(max(v, 0), scimMaxCount)
	}
	return start, count
}

func excludesMembers(r *http.Request) bool {
	for _, a := range strings.Split(r.URL.Query().Get("excludedAttributes"), ",") {
		if strings.EqualFold(strings.TrimSpace(a), "members") {
			return true
		}
	}
	return false
}

// ---- users ---------------------------------------------------------------

// scimVisible: deactivated (archived) members are gone for SCIM; inactive
// ones (active=false) are still listed.
func scimVisible(m *Member) bool { return !m.IsArchived }

func (s *Server) scimListUsers(w http.ResponseWriter, r *http.Request) {
	userName, filtered, serr := parseEqFilter(r.URL.Query().Get("filter"), "userName")
	if serr != nil {
		serr.write(w)
		return
	}
	start, count := parsePaging(r)
	base := scimBase(r)
	out := listResponse[scimUserView]{Schemas: []string{schemaList}, StartIndex: start, Resources: []scimUserView{}}
	s.mu.RLock()
	if filtered {
		if m, ok := s.memberByEmailLocked(userName); ok && scimVisible(m) {
			out.TotalResults = 1
			if start == 1 && count > 0 {
				out.Resources = append(out.Resources, s.viewUserLocked(m, base))
			}
		}
	} else {
		for _, m := range s.members {
			if !scimVisible(m) {
				continue
			}
			out.TotalResults++
			if out.TotalResults >= start && len(out.Resources) < count {
				out.Resources = append(out.Resources, s.viewUserLocked(m, base))
			}
		}
	}
	s.mu.RUnlock()
	out.ItemsPerPage = len(out.Resources)
	writeJSONType(w, http.StatusOK, scimContentType, out)
}

func (s *Server) scimGetUser(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	m, ok := s.memberLocked(r.PathValue("id"))
	ok = ok && scimVisible(m)
	var v scimUserView
	if ok {
		v = s.viewUserLocked(m, scimBase(r))
	}
	s.mu.RUnlock()
	if !ok {
		scimError(http.StatusNotFound, "", "User %s not found", r.PathValue("id")).write(w)
		return
	}
	writeJSONType(w, http.StatusOK, scimContentType, v)
}

// userInput is a SCIM user write after validation.
type userInput struct {
	userName, givenName, familyName, externalID string
	accountType                                 string // REST account type name
	active                                      bool
	userKind                                    string
}

func jsonType(v any) string {
	if v == nil {
		return "null"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// parseUserLocked validates a full user representation (POST and PUT).
func (s *Server) parseUserLocked(body map[string]any) (userInput, *scimErr) {
	in := userInput{active: true, userKind: "internal"}
	str := func(key string, v any, required bool) (string, *scimErr) {
		if v == nil && !required {
			return "", nil
		}
		sv, ok := v.(string)
		if !ok {
			return "", scimError(http.StatusBadRequest, "invalidValue", "Expecting string at %s but instead got: %s", key, jsonType(v))
		}
		return sv, nil
	}
	var serr *scimErr
	if in.userName, serr = str("userName", body["userName"], true); serr != nil {
		return in, serr
	}
	if strings.TrimSpace(in.userName) == "" || !strings.Contains(in.userName, "@") {
		return in, scimError(http.StatusBadRequest, "invalidValue", "userName must be an email address")
	}
	userType, serr := str("userType", body["userType"], true)
	if serr != nil {
		return in, serr
	}
	at, ok := s.accountTypeBySCIMLocked(userType)
	if !ok {
		return in, scimError(http.StatusBadRequest, "invalidValue", "Invalid userType %q: not an account type of this organization", userType)
	}
	in.accountType = at.Name
	if name, ok := body["name"].(map[string]any); ok {
		if in.givenName, serr = str("name.givenName", name["givenName"], false); serr != nil {
			return in, serr
		}
		if in.familyName, serr = str("name.familyName", name["familyName"], false); serr != nil {
			return in, serr
		}
	}
	if in.externalID, serr = str("externalId", body["externalId"], false); serr != nil {
		return in, serr
	}
	if v, ok := body["active"]; ok && v != nil {
		b, ok := scimBool(v)
		if !ok {
			return in, scimError(http.StatusBadRequest, "invalidValue", "Expecting boolean at active but instead got: %s", jsonType(v))
		}
		in.active = b
	}
	if ext, ok := body[SchemaSigmaUser].(map[string]any); ok {
		if v, ok := ext["userKind"]; ok && v != nil {
			kind, serr := str("userKind", v, true)
			if serr != nil {
				return in, serr
			}
			if serr := checkSCIMUserKind(kind); serr != nil {
				return in, serr
			}
			in.userKind = kind
		}
	}
	return in, nil
}

func checkSCIMUserKind(kind string) *scimErr {
	switch kind {
	case "internal", "embed":
		return nil
	case "guest":
		return scimError(http.StatusBadRequest, "invalidValue", "Guest users are not supported by SCIM provisioning")
	}
	return scimError(http.StatusBadRequest, "invalidValue", "Invalid userKind %q", kind)
}

// scimBool accepts JSON booleans and the strings "true"/"false" in any case
// (Entra sends "False").
func scimBool(v any) (bool, bool) {
	switch b := v.(type) {
	case bool:
		return b, true
	case string:
		switch strings.ToLower(b) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

func decodeSCIM(r *http.Request) (map[string]any, *scimErr) {
	var body map[string]any
	if err := decodeBody(r, &body); err != nil {
		return nil, scimError(http.StatusBadRequest, "invalidSyntax", "%s", err.Error())
	}
	return body, nil
}

func (s *Server) scimCreateUser(w http.ResponseWriter, r *http.Request) {
	body, serr := decodeSCIM(r)
	if serr != nil {
		serr.write(w)
		return
	}
	s.mu.Lock()
	v, serr := s.scimCreateUserLocked(body, scimBase(r))
	s.mu.Unlock()
	if serr != nil {
		serr.write(w)
		return
	}
	w.Header().Set("Location", v.Meta.Location)
	writeJSONType(w, http.StatusCreated, scimContentType, v)
}

func (s *Server) scimCreateUserLocked(body map[string]any, base string) (scimUserView, *scimErr) {
	in, serr := s.parseUserLocked(body)
	if serr != nil {
		return scimUserView{}, serr
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	if m, ok := s.memberByEmailLocked(in.userName); ok {
		if scimVisible(m) {
			return scimUserView{}, scimError(http.StatusConflict, "uniqueness", "User with userName %s already exists", in.userName)
		}
		// Provisioning a deactivated member's email reactivates that member.
		m.IsArchived = false
		s.applyUserLocked(m, in, now)
		return s.viewUserLocked(m, base), nil
	}
	typ := in.accountType
	m, herr := s.createMemberLocked(in.userName, in.givenName, in.familyName, &typ, in.userKind, s.ownerID)
	if herr != nil {
		return scimUserView{}, fromHTTP(herr)
	}
	m.IsInactive = !in.active
	m.ExternalID = in.externalID
	return s.viewUserLocked(m, base), nil
}

func (s *Server) applyUserLocked(m *Member, in userInput, now time.Time) {
	if !strings.EqualFold(m.Email, in.userName) {
		delete(s.memberByMail, strings.ToLower(m.Email))
		s.memberByMail[strings.ToLower(in.userName)] = s.memberByID[m.MemberID]
	}
	m.Email = in.userName
	m.FirstName, m.LastName = in.givenName, in.familyName
	m.ExternalID = in.externalID
	m.MemberType = in.accountType
	m.IsInactive = !in.active
	m.UserKind = in.userKind
	m.UpdatedBy = s.ownerID
	m.UpdatedAt = now
}

func (s *Server) scimReplaceUser(w http.ResponseWriter, r *http.Request) {
	body, serr := decodeSCIM(r)
	if serr != nil {
		serr.write(w)
		return
	}
	s.mu.Lock()
	v, serr := func() (scimUserView, *scimErr) {
		m, ok := s.memberLocked(r.PathValue("id"))
		if !ok || !scimVisible(m) {
			return scimUserView{}, scimError(http.StatusNotFound, "", "User %s not found", r.PathValue("id"))
		}
		in, serr := s.parseUserLocked(body)
		if serr != nil {
			return scimUserView{}, serr
		}
		if other, dup := s.memberByEmailLocked(in.userName); dup && other != m {
			return scimUserView{}, scimError(http.StatusConflict, "uniqueness", "User with userName %s already exists", in.userName)
		}
		s.applyUserLocked(m, in, s.now().UTC().Truncate(time.Millisecond))
		return s.viewUserLocked(m, scimBase(r)), nil
	}()
	s.mu.Unlock()
	if serr != nil {
		serr.write(w)
		return
	}
	writeJSONType(w, http.StatusOK, scimContentType, v)
}

type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

type patchRequest struct {
	Schemas    []string  `json:"schemas"`
	Operations []patchOp `json:"Operations"`
}

func decodePatch(r *http.Request) (patchRequest, *scimErr) {
	var p patchRequest
	if err := decodeBody(r, &p); err != nil {
		return p, scimError(http.StatusBadRequest, "invalidSyntax", "%s", err.Error())
	}
	if len(p.Operations) == 0 {
		return p, scimError(http.StatusBadRequest, "invalidSyntax", "Operations must not be empty")
	}
	for i := range p.Operations {
		op := strings.ToLower(p.Operations[i].Op)
		if op != "add" && op != "replace" && op != "remove" {
			return p, scimError(http.StatusBadRequest, "invalidSyntax", "Unsupported op %q", p.Operations[i].Op)
		}
		p.Operations[i].Op = op
	}
	return p, nil
}

func (s *Server) scimPatchUser(w http.ResponseWriter, r *http.Request) {
	p, serr := decodePatch(r)
	if serr != nil {
		serr.write(w)
		return
	}
	s.mu.Lock()
	v, serr := func() (scimUserView, *scimErr) {
		m, ok := s.memberLocked(r.PathValue("id"))
		if !ok || !scimVisible(m) {
			return scimUserView{}, scimError(http.StatusNotFound, "", "User %s not found", r.PathValue("id"))
		}
		// Work on a copy so a failing operation changes nothing.
		in := userInput{userName: m.Email, givenName: m.FirstName, familyName: m.LastName, externalID: m.ExternalID,
			accountType: m.MemberType, active: !m.IsInactive, userKind: m.UserKind}
		for _, op := range p.Operations {
			if op.Path == "" {
				obj, ok := op.Value.(map[string]any)
				if !ok {
					return scimUserView{}, scimError(http.StatusBadRequest, "invalidValue", "An operation without path needs an object value")
				}
				for k, v := range obj {
					if serr := s.patchUserAttrLocked(&in, op.Op, k, v); serr != nil {
						return scimUserView{}, serr
					}
				}
				continue
			}
			if serr := s.patchUserAttrLocked(&in, op.Op, op.Path, op.Value); serr != nil {
				return scimUserView{}, serr
			}
		}
		if other, dup := s.memberByEmailLocked(in.userName); dup && other != m {
			return scimUserView{}, scimError(http.StatusConflict, "uniqueness", "User with userName %s already exists", in.userName)
		}
		s.applyUserLocked(m, in, s.now().UTC().Truncate(time.Millisecond))
		return s.viewUserLocked(m, scimBase(r)), nil
	}()
	s.mu.Unlock()
	if serr != nil {
		serr.write(w)
		return
	}
	writeJSONType(w, http.StatusOK, scimContentType, v)
}

// patchUserAttrLocked applies one attribute of a PATCH operation to in.
// Attributes Sigma does not store (title, phoneNumbers, ...) are ignored.
func (s *Server) patchUserAttrLocked(in *userInput, op, path string, v any) *scimErr {
	remove := op == "remove"
	str := func(key string) (string, *scimErr) {
		if remove {
			return "", nil
		}
		sv, ok := v.(string)
		if !ok {
			return "", scimError(http.StatusBadRequest, "invalidValue", "Expecting string at %s but instead got: %s", key, jsonType(v))
		}
		return sv, nil
	}
	lp := strings.ToLower(path)
	var serr *scimErr
	switch {
	case lp == "active":
		if remove {
			return scimError(http.StatusBadRequest, "mutability", "active cannot be removed")
		}
		b, ok := scimBool(v)
		if !ok {
			return scimError(http.StatusBadRequest, "invalidValue", "Expecting boolean at active but instead got: %s", jsonType(v))
		}
		in.active = b
	case lp == "username":
		if remove {
			return scimError(http.StatusBadRequest, "mutability", "userName cannot be removed")
		}
		if in.userName, serr = str("userName"); serr != nil {
			return serr
		}
		if !strings.Contains(in.userName, "@") {
			return scimError(http.StatusBadRequest, "invalidValue", "userName must be an email address")
		}
	case lp == "name.givenname":
		in.givenName, serr = str("name.givenName")
	case lp == "name.familyname":
		in.familyName, serr = str("name.familyName")
	case lp == "name":
		if remove {
			in.givenName, in.familyName = "", ""
			return nil
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return scimError(http.StatusBadRequest, "invalidValue", "Expecting object at name but instead got: %s", jsonType(v))
		}
		for k, vv := range obj {
			if serr := s.patchUserAttrLocked(in, op, "name."+k, vv); serr != nil {
				return serr
			}
		}
	case lp == "externalid":
		in.externalID, serr = str("externalId")
	case lp == "usertype":
		if remove || v == nil {
			return scimError(http.StatusBadRequest, "invalidValue", "Expecting string at userType but instead got: null")
		}
		var ut string
		if ut, serr = str("userType"); serr != nil {
			return serr
		}
		at, ok := s.accountTypeBySCIMLocked(ut)
		if !ok {
			return scimError(http.StatusBadRequest, "invalidValue", "Invalid userType %q: not an account type of this organization", ut)
		}
		in.accountType = at.Name
	case lp == strings.ToLower(SchemaSigmaUser):
		obj, ok := v.(map[string]any)
		if !ok {
			return scimError(http.StatusBadRequest, "invalidValue", "Expecting object at %s", SchemaSigmaUser)
		}
		for k, vv := range obj {
			if serr := s.patchUserAttrLocked(in, op, SchemaSigmaUser+":"+k, vv); serr != nil {
				return serr
			}
		}
	case lp == strings.ToLower(SchemaSigmaUser+":userKind"):
		if remove {
			return scimError(http.StatusBadRequest, "mutability", "userKind cannot be removed")
		}
		var kind string
		if kind, serr = str("userKind"); serr != nil {
			return serr
		}
		if serr := checkSCIMUserKind(kind); serr != nil {
			return serr
		}
		in.userKind = kind
	}
	return serr
}

func (s *Server) scimDeleteUser(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	m, ok := s.memberLocked(r.PathValue("id"))
	ok = ok && scimVisible(m)
	if ok {
		m.IsArchived = true
		m.UpdatedBy = s.ownerID
		m.UpdatedAt = s.now().UTC().Truncate(time.Millisecond)
	}
	s.mu.Unlock()
	if !ok {
		scimError(http.StatusNotFound, "", "User %s not found", r.PathValue("id")).write(w)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ---- groups --------------------------------------------------------------

func (s *Server) scimListGroups(w http.ResponseWriter, r *http.Request) {
	name, filtered, serr := parseEqFilter(r.URL.Query().Get("filter"), "displayName")
	if serr != nil {
		serr.write(w)
		return
	}
	start, count := parsePaging(r)
	base, withMembers := scimBase(r), !excludesMembers(r)
	out := listResponse[scimGroupView]{Schemas: []string{schemaList}, StartIndex: start, Resources: []scimGroupView{}}
	s.mu.RLock()
	for _, t := range s.teams {
		if t.deleted || filtered && !strings.EqualFold(t.Name, name) {
			continue
		}
		out.TotalResults++
		if out.TotalResults >= start && len(out.Resources) < count {
			out.Resources = append(out.Resources, s.viewGroupLocked(t, base, withMembers))
		}
	}
	s.mu.RUnlock()
	out.ItemsPerPage = len(out.Resources)
	writeJSONType(w, http.StatusOK, scimContentType, out)
}

func (s *Server) scimGetGroup(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	t, ok := s.teamLocked(r.PathValue("id"))
	var v scimGroupView
	if ok {
		v = s.viewGroupLocked(t, scimBase(r), !excludesMembers(r))
	}
	s.mu.RUnlock()
	if !ok {
		scimError(http.StatusNotFound, "", "Group %s not found", r.PathValue("id")).write(w)
		return
	}
	writeJSONType(w, http.StatusOK, scimContentType, v)
}

// memberValues reads a SCIM members array: [{"value":"id"}, ...].
func memberValues(v any) ([]string, *scimErr) {
	if v == nil {
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok {
		if obj, isObj := v.(map[string]any); isObj {
			arr = []any{obj}
		} else {
			return nil, scimError(http.StatusBadRequest, "invalidValue", "Expecting array at members but instead got: %s", jsonType(v))
		}
	}
	var out []string
	for _, e := range arr {
		obj, ok := e.(map[string]any)
		id, isStr := obj["value"].(string)
		if !ok || !isStr || id == "" {
			return nil, scimError(http.StatusBadRequest, "invalidValue", "Each member needs a string value")
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

func (s *Server) scimCreateGroup(w http.ResponseWriter, r *http.Request) {
	body, serr := decodeSCIM(r)
	if serr != nil {
		serr.write(w)
		return
	}
	name, ok := body["displayName"].(string)
	if !ok || strings.TrimSpace(name) == "" {
		scimError(http.StatusBadRequest, "invalidValue", "Expecting string at displayName but instead got: %s", jsonType(body["displayName"])).write(w)
		return
	}
	members, serr := memberValues(body["members"])
	if serr != nil {
		serr.write(w)
		return
	}
	extID, _ := body["externalId"].(string)
	s.mu.Lock()
	var v scimGroupView
	t, herr := s.createTeamLocked(name, "", "private", members, s.ownerID)
	if herr == nil {
		t.externalID = extID
		v = s.viewGroupLocked(t, scimBase(r), true)
	}
	s.mu.Unlock()
	if herr != nil {
		fromHTTP(herr).write(w)
		return
	}
	w.Header().Set("Location", v.Meta.Location)
	writeJSONType(w, http.StatusCreated, scimContentType, v)
}

// setTeamMembersLocked makes the team's members exactly ids.
func (s *Server) setTeamMembersLocked(t *teamRec, ids []string) *httpError {
	var add, remove []string
	for _, id := range ids {
		if _, in := t.info[id]; !in {
			add = append(add, id)
		}
	}
	for _, id := range t.Members {
		if !slices.Contains(ids, id) {
			remove = append(remove, id)
		}
	}
	if len(add) == 0 && len(remove) == 0 {
		return nil
	}
	// Sigma's own SCIM endpoint must let IdPs drop deprovisioned users from
	// groups, so only additions are checked here.
	return s.changeTeamMembersLocked(t.TeamID, add, remove, false, s.ownerID)
}

func (s *Server) scimReplaceGroup(w http.ResponseWriter, r *http.Request) {
	body, serr := decodeSCIM(r)
	if serr != nil {
		serr.write(w)
		return
	}
	name, ok := body["displayName"].(string)
	if !ok || strings.TrimSpace(name) == "" {
		scimError(http.StatusBadRequest, "invalidValue", "Expecting string at displayName but instead got: %s", jsonType(body["displayName"])).write(w)
		return
	}
	members, serr := memberValues(body["members"])
	if serr != nil {
		serr.write(w)
		return
	}
	s.mu.Lock()
	v, serr := func() (scimGroupView, *scimErr) {
		t, ok := s.teamLocked(r.PathValue("id"))
		if !ok {
			return scimGroupView{}, scimError(http.StatusNotFound, "", "Group %s not found", r.PathValue("id"))
		}
		if herr := s.checkRenameLocked(t, name); herr != nil {
			return scimGroupView{}, fromHTTP(herr)
		}
		if herr := s.setTeamMembersLocked(t, members); herr != nil {
			return scimGroupView{}, fromHTTP(herr)
		}
		s.patchTeamLocked(t.TeamID, patchTeamBody{Name: &name}, s.ownerID)
		if ext, ok := body["externalId"].(string); ok {
			t.externalID = ext
		}
		return s.viewGroupLocked(t, scimBase(r), true), nil
	}()
	s.mu.Unlock()
	if serr != nil {
		serr.write(w)
		return
	}
	writeJSONType(w, http.StatusOK, scimContentType, v)
}

func (s *Server) checkRenameLocked(t *teamRec, name string) *httpError {
	if other, dup := s.teamByNameLocked(name); dup && other != t {
		return errDuplicate
	}
	return nil
}

var memberFilterPathRE = regexp.MustCompile(`^(?i:members)\[\s*(?i:value)\s+(?i:eq)\s+("(?:[^"\\]|\\.)*")\s*\]$`)

func (s *Server) scimPatchGroup(w http.ResponseWriter, r *http.Request) {
	p, serr := decodePatch(r)
	if serr != nil {
		serr.write(w)
		return
	}
	s.mu.Lock()
	v, serr := func() (scimGroupView, *scimErr) {
		t, ok := s.teamLocked(r.PathValue("id"))
		if !ok {
			return scimGroupView{}, scimError(http.StatusNotFound, "", "Group %s not found", r.PathValue("id"))
		}
		// Compute the final state first so the request is all or nothing.
		name, extID := t.Name, t.externalID
		members := slices.Clone(t.Members)
		setName := func(v any) *scimErr {
			n, ok := v.(string)
			if !ok || strings.TrimSpace(n) == "" {
				return scimError(http.StatusBadRequest, "invalidValue", "Expecting string at displayName but instead got: %s", jsonType(v))
			}
			name = n
			return nil
		}
		for _, op := range p.Operations {
			lp := strings.ToLower(op.Path)
			switch {
			case op.Path == "":
				obj, ok := op.Value.(map[string]any)
				if !ok {
					return scimGroupView{}, scimError(http.StatusBadRequest, "invalidValue", "An operation without path needs an object value")
				}
				for k, v := range obj {
					switch strings.ToLower(k) {
					case "displayname":
						if serr := setName(v); serr != nil {
							return scimGroupView{}, serr
						}
					case "externalid":
						extID, _ = v.(string)
					case "members":
						ids, serr := memberValues(v)
						if serr != nil {
							return scimGroupView{}, serr
						}
						if op.Op == "replace" {
							members = ids
						} else {
							for _, id := range ids {
								if !slices.Contains(members, id) {
									members = append(members, id)
								}
							}
						}
					}
				}
			case lp == "displayname":
				if op.Op == "remove" {
					return scimGroupView{}, scimError(http.StatusBadRequest, "mutability", "displayName cannot be removed")
				}
				if serr := setName(op.Value); serr != nil {
					return scimGroupView{}, serr
				}
			case lp == "externalid":
				extID, _ = op.Value.(string)
			case lp == "members":
				ids, serr := memberValues(op.Value)
				if serr != nil {
					return scimGroupView{}, serr
				}
				switch op.Op {
				case "add":
					for _, id := range ids {
						if !slices.Contains(members, id) {
							members = append(members, id)
						}
					}
				case "replace":
					members = ids
				case "remove":
					if op.Value == nil {
						members = nil
					} else {
						members = slices.DeleteFunc(members, func(id string) bool { return slices.Contains(ids, id) })
					}
				}
			case memberFilterPathRE.MatchString(op.Path):
				if op.Op != "remove" {
					return scimGroupView{}, scimError(http.StatusBadRequest, "invalidPath", "Only remove is supported on %s", op.Path)
				}
				var id string
				if err := json.Unmarshal([]byte(memberFilterPathRE.FindStringSubmatch(op.Path)[1]), &id); err != nil {
					return scimGroupView{}, scimError(http.StatusBadRequest, "invalidPath", "Invalid path %s", op.Path)
				}
				members = slices.DeleteFunc(members, func(m string) bool { return m == id })
			default:
				return scimGroupView{}, scimError(http.StatusBadRequest, "invalidPath", "Unsupported path %q", op.Path)
			}
		}
		if herr := s.checkRenameLocked(t, name); herr != nil {
			return scimGroupView{}, fromHTTP(herr)
		}
		if herr := s.setTeamMembersLocked(t, members); herr != nil {
			return scimGroupView{}, fromHTTP(herr)
		}
		if name != t.Name {
			s.patchTeamLocked(t.TeamID, patchTeamBody{Name: &name}, s.ownerID)
		}
		t.externalID = extID
		return s.viewGroupLocked(t, scimBase(r), true), nil
	}()
	s.mu.Unlock()
	if serr != nil {
		serr.write(w)
		return
	}
	writeJSONType(w, http.StatusOK, scimContentType, v)
}

func (s *Server) scimDeleteGroup(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ok := s.deleteTeamLocked(r.PathValue("id"))
	s.mu.Unlock()
	if !ok {
		scimError(http.StatusNotFound, "", "Group %s not found", r.PathValue("id")).write(w)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
