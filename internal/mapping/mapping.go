package mapping

import (
	"cmp"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/scimbridge/scim-bridge/internal/directory"
)

// Error is a request the bridge cannot map. ScimType is the RFC 7644
// scimType keyword ("invalidValue", "invalidSyntax", "mutability"); Detail
// tells the operator what to fix and is safe to show to the IdP.
type Error struct {
	ScimType string
	Detail   string
}

func (e *Error) Error() string { return e.ScimType + ": " + e.Detail }

func invalidValue(format string, args ...any) error {
	return &Error{ScimType: "invalidValue", Detail: fmt.Sprintf(format, args...)}
}

func invalidSyntax(format string, args ...any) error {
	return &Error{ScimType: "invalidSyntax", Detail: fmt.Sprintf(format, args...)}
}

func kindName(k Kind) string {
	if k == Group {
		return "Group"
	}
	return "User"
}

// Normalize returns body in canonical form: attribute names spelled as in
// the schema, URN-qualified and dotted keys ("name.givenName",
// "urn:...:enterprise:2.0:User:department") expanded into nested objects,
// extension attributes under their URN. An attribute (or sub-attribute)
// no schema of kind defines is left out and named in ignored: IdPs send
// attributes of their own (custom extensions, mapping typos) and expect
// them to be ignored. A schemas list naming a schema the bridge does not
// serve for kind is an invalidValue error. Values are not type-checked
// here (UserFromSCIM/GroupFromSCIM do that), except that sub-attribute
// names of complex values are canonicalised too.
func Normalize(k Kind, body map[string]any) (out map[string]any, ignored []string, err error) {
	n := normalizer{k: k, out: map[string]any{}}
	// Sorted keys make the outcome independent of map order when an IdP
	// sends the same attribute twice in different spellings.
	keys := make([]string, 0, len(body))
	for key := range body {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		v := body[key]
		if strings.EqualFold(key, "schemas") {
			if err := checkSchemas(k, v); err != nil {
				return nil, nil, err
			}
			n.out["schemas"] = v
			continue
		}
		p, ok := ResolvePath(k, key)
		if !ok {
			n.ignore(key)
			continue
		}
		if p.Attr == "" { // the key is a schema URN: an object of its attributes
			obj, isObj := v.(map[string]any)
			if v == nil {
				continue
			}
			if !isObj {
				return nil, nil, invalidValue("%q must be an object of that schema's attributes", key)
			}
			subKeys := make([]string, 0, len(obj))
			for sk := range obj {
				subKeys = append(subKeys, sk)
			}
			sort.Strings(subKeys)
			for _, sk := range subKeys {
				if err := n.set(p.Schema+":"+sk, p.Schema, obj[sk]); err != nil {
					return nil, nil, err
				}
			}
			continue
		}
		if p.Schema == "" && p.Def == nil && p.Sub == "" { // id, externalId, meta
			n.out[p.Attr] = v
			continue
		}
		if p.Schema == "" && p.Def == nil { // meta.x: read-only, dropped
			continue
		}
		if err := n.set(key, p.Schema, v); err != nil {
			return nil, nil, err
		}
	}
	return n.out, n.ignored, nil
}

// checkSchemas accepts a schemas list naming only schemas of kind.
func checkSchemas(k Kind, v any) error {
	if v == nil {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		return invalidSyntax("schemas must be a list of schema URNs, got %s", Describe(v))
	}
	core, exts := Schemas(k)
	for _, e := range list {
		urn, _ := e.(string)
		known := strings.EqualFold(urn, core.ID)
		for _, x := range exts {
			known = known || strings.EqualFold(urn, x.ID)
		}
		if !known {
			names := []string{core.ID}
			for _, x := range exts {
				names = append(names, x.ID)
			}
			return invalidValue("schemas names %s, which the bridge does not serve for %ss; use %s", Describe(e), kindName(k), strings.Join(names, ", "))
		}
	}
	return nil
}

// CoreURN returns the core schema URN of kind.
func CoreURN(k Kind) string {
	core, _ := Schemas(k)
	return core.ID
}

// normalizer collects Normalize's output and what it left out.
type normalizer struct {
	k       Kind
	out     map[string]any
	ignored []string
}

func (n *normalizer) ignore(name string) { n.ignored = append(n.ignored, name) }

func (n *normalizer) set(key, schema string, v any) error {
	if schema == CoreURN(n.k) {
		schema = ""
	}
	p, ok := ResolvePath(n.k, key)
	if !ok || p.Attr == "" || p.Schema != schema && schema != "" {
		n.ignore(key)
		return nil
	}
	if p.Def == nil { // common attribute inside a schema object
		n.out[p.Attr] = v
		return nil
	}
	target := n.out
	if p.Schema != "" {
		ext, _ := n.out[p.Schema].(map[string]any)
		if ext == nil {
			ext = map[string]any{}
			n.out[p.Schema] = ext
		}
		target = ext
	}
	if p.Sub != "" {
		obj, _ := target[p.Attr].(map[string]any)
		if obj == nil {
			obj = map[string]any{}
			target[p.Attr] = obj
		}
		obj[p.Sub] = v
		return nil
	}
	cv := n.canonicalSubs(p.Def, v)
	if old, isObj := target[p.Attr].(map[string]any); isObj {
		if nv, ok := cv.(map[string]any); ok { // "name" after "name.givenName": merge
			for sk, sv := range nv {
				old[sk] = sv
			}
			return nil
		}
	}
	target[p.Attr] = cv
	return nil
}

// canonicalSubs renames the sub-attribute keys of a complex value (or of
// each element of a multi-valued one) to their schema spelling; unknown
// sub-attributes of stored attributes are left out (and reported), of
// unstored ones they are dropped with the attribute anyway.
func (n *normalizer) canonicalSubs(def *Attribute, v any) any {
	if def.Type != "complex" || !def.Stored {
		return v
	}
	fix := func(obj map[string]any) map[string]any {
		out := make(map[string]any, len(obj))
		for sk, sv := range obj {
			sd := def.Sub(sk)
			if sd == nil {
				n.ignore(def.Name + "." + sk)
				continue
			}
			out[sd.Name] = sv
		}
		return out
	}
	switch t := v.(type) {
	case map[string]any:
		if def.MultiValued {
			return []any{fix(t)} // a single object where a list belongs
		}
		return fix(t)
	case []any:
		res := make([]any, 0, len(t))
		for _, e := range t {
			if obj, ok := e.(map[string]any); ok {
				res = append(res, fix(obj))
				continue
			}
			res = append(res, e)
		}
		return res
	}
	return v
}

// UserOptions tune UserFromSCIM.
type UserOptions struct {
	// UserNameFromEmail: when the IdP's userName is not an email address,
	// use the primary (else work, else first) email instead, and remember
	// the IdP's userName in User.IdPUserName. When false such a userName is
	// an invalidValue error, since Sigma identifies members by email.
	UserNameFromEmail bool
}

// UserFromSCIM maps a normalized SCIM User to the model. Read-only
// attributes (id, meta, groups) and unstored ones (password, title,
// enterprise extension ...) are ignored. Missing given/family names are
// derived from displayName or the email and never cause an error.
// AccountType and UserKind are left empty when the IdP sent none; the
// caller decides whether that means "default" (create) or "unchanged"
// (replace). IdPUserName is the IdP's userName when it was replaced by an
// email (see UserOptions), else empty.
func UserFromSCIM(m map[string]any, opts UserOptions) (directory.User, error) {
	var u directory.User
	var err error
	if u.UserName, err = optString(m, "userName"); err != nil {
		return u, err
	}
	if u.ExternalID, err = optString(m, "externalId"); err != nil {
		return u, err
	}
	if u.DisplayName, err = optString(m, "displayName"); err != nil {
		return u, err
	}
	if u.AccountType, err = optString(m, "userType"); err != nil {
		return u, err
	}
	u.Active = true
	if v, ok := m["active"]; ok && v != nil {
		b, ok := parseBool(v)
		if !ok {
			return u, invalidValue("active must be a boolean (true or false), got %s", Describe(v))
		}
		u.Active = b
	}
	if v, ok := m["name"]; ok && v != nil {
		name, ok := v.(map[string]any)
		if !ok {
			return u, invalidValue("name must be an object with givenName and familyName, got %s", Describe(v))
		}
		if u.GivenName, err = optString(name, "givenName"); err != nil {
			return u, prefixed("name.", err)
		}
		if u.FamilyName, err = optString(name, "familyName"); err != nil {
			return u, prefixed("name.", err)
		}
		formatted, _ := name["formatted"].(string)
		u.NameFormatted = strings.TrimSpace(formatted) // kept as sent (issue 14 defect 4)
	}
	if u.Emails, err = emailsFrom(m["emails"]); err != nil {
		return u, err
	}
	if v, ok := m[SchemaSigmaUser]; ok && v != nil {
		ext, ok := v.(map[string]any)
		if !ok {
			return u, invalidValue("%s must be an object", SchemaSigmaUser)
		}
		at, err := optString(ext, "accountType")
		if err != nil {
			return u, prefixed(SchemaSigmaUser+":", err)
		}
		if at != "" {
			if u.AccountType != "" && !strings.EqualFold(at, u.AccountType) {
				return u, invalidValue("userType %q and %s:accountType %q disagree; send one of them (accountType is an alias of userType)", u.AccountType, SchemaSigmaUser, at)
			}
			u.AccountType = at
		}
		kind, err := optString(ext, "userKind")
		if err != nil {
			return u, prefixed(SchemaSigmaUser+":", err)
		}
		if kind != "" {
			kind = strings.ToLower(kind)
			if kind != "internal" && kind != "guest" && kind != "embed" {
				return u, invalidValue("%s:userKind %q is not a user kind; valid values: internal, guest, embed", SchemaSigmaUser, kind)
			}
			u.UserKind = kind
		}
	}
	u.UserName = strings.TrimSpace(u.UserName)
	if err := checkUserName("userName", u.UserName); err != nil {
		return u, err
	}
	for i, e := range u.Emails {
		if err := checkUserName(fmt.Sprintf("emails[%d].value", i), e.Value); err != nil {
			return u, err
		}
	}
	if u.UserName == "" {
		return u, invalidValue("userName is required: send the member's email address")
	}
	if !IsEmail(u.UserName) {
		email := PrimaryEmail(u.Emails)
		switch {
		case !opts.UserNameFromEmail:
			return u, invalidValue("userName %q is not an email address, and Sigma identifies members by email: map userName to the email in the IdP, or enable using the primary work email", u.UserName)
		case email == "":
			return u, invalidValue("userName %q is not an email address and the user has no email: send a work email in emails or an email as userName", u.UserName)
		}
		u.IdPUserName, u.UserName = u.UserName, email
	}
	if len(u.Emails) == 0 {
		u.Emails = []directory.Email{{Value: u.UserName, Type: "work", Primary: true}}
	}
	directory.CompleteNames(&u)
	return u, nil
}

func prefixed(prefix string, err error) error {
	if e, ok := err.(*Error); ok {
		return &Error{ScimType: e.ScimType, Detail: prefix + e.Detail}
	}
	return err
}

func emailsFrom(v any) ([]directory.Email, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, invalidValue("emails must be a list of objects with value, type and primary, got %s", Describe(v))
	}
	var out []directory.Email
	for i, e := range list {
		obj, ok := e.(map[string]any)
		if !ok {
			return nil, invalidValue("emails[%d] must be an object with value, type and primary, got %s", i, Describe(e))
		}
		var em directory.Email
		var err error
		if em.Value, err = optString(obj, "value"); err != nil {
			return nil, prefixed(fmt.Sprintf("emails[%d].", i), err)
		}
		if em.Type, err = optString(obj, "type"); err != nil {
			return nil, prefixed(fmt.Sprintf("emails[%d].", i), err)
		}
		if p, ok := obj["primary"]; ok && p != nil {
			b, ok := parseBool(p)
			if !ok {
				return nil, invalidValue("emails[%d].primary must be a boolean, got %s", i, Describe(p))
			}
			em.Primary = b
		}
		em.Value = strings.TrimSpace(em.Value)
		if em.Value == "" {
			continue // Entra sends empty work emails for users without one
		}
		if !IsEmail(em.Value) {
			return nil, invalidValue("emails[%d].value %q is not an email address", i, em.Value)
		}
		em.Type = strings.ToLower(em.Type)
		out = append(out, em)
	}
	return out, nil
}

// PrimaryEmail returns the primary email, else the first work email, else
// the first email, else "".
func PrimaryEmail(emails []directory.Email) string {
	for _, e := range emails {
		if e.Primary {
			return e.Value
		}
	}
	for _, e := range emails {
		if e.Type == "work" {
			return e.Value
		}
	}
	if len(emails) > 0 {
		return emails[0].Value
	}
	return ""
}

// IsEmail reports whether s looks like an email address: one @ with
// something on both sides, a dot in the domain, no spaces.
func IsEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && domain != "" && !strings.Contains(domain, "@") &&
		strings.Contains(domain, ".") && !strings.ContainsFunc(s, unicode.IsSpace)
}

// UserToSCIM renders u as a SCIM User. base is the SCIM base URL (e.g.
// "https://host/scim/v2") used for meta.location and groups.$ref; when
// empty those are omitted. The password is never rendered. userName is the
// IdP's own (IdPUserName) when it sent one that is not an email, so the
// IdP finds what it sent; the Sigma email is among emails either way.
func UserToSCIM(u directory.User, base string) map[string]any {
	m := map[string]any{
		"schemas":  []any{SchemaUser, SchemaSigmaUser},
		"id":       u.ID,
		"userName": SCIMUserName(u),
		"active":   u.Active,
	}
	if u.ExternalID != "" {
		m["externalId"] = u.ExternalID
	}
	name := map[string]any{}
	if u.GivenName != "" {
		name["givenName"] = u.GivenName
	}
	if u.FamilyName != "" {
		name["familyName"] = u.FamilyName
	}
	if f := cmp.Or(u.NameFormatted, strings.TrimSpace(u.GivenName+" "+u.FamilyName)); f != "" {
		name["formatted"] = f
	}
	if len(name) > 0 {
		m["name"] = name
	}
	dn := u.DisplayName
	if dn == "" {
		dn = strings.TrimSpace(u.GivenName + " " + u.FamilyName)
	}
	if dn != "" {
		m["displayName"] = dn
	}
	emails := u.Emails
	if len(emails) == 0 && u.UserName != "" {
		emails = []directory.Email{{Value: u.UserName, Type: "work", Primary: true}}
	}
	var el []any
	for _, e := range emails {
		o := map[string]any{"value": e.Value, "primary": e.Primary}
		if e.Type != "" {
			o["type"] = e.Type
		}
		el = append(el, o)
	}
	if len(el) > 0 {
		m["emails"] = el
	}
	if u.AccountType != "" {
		m["userType"] = u.AccountType
	}
	ext := map[string]any{}
	if u.AccountType != "" {
		ext["accountType"] = u.AccountType
	}
	kind := u.UserKind
	if kind == "" {
		kind = "internal"
	}
	ext["userKind"] = kind
	m[SchemaSigmaUser] = ext
	if len(u.Groups) > 0 {
		gl := make([]any, 0, len(u.Groups))
		for _, g := range u.Groups {
			o := map[string]any{"value": g.ID, "display": g.Display, "type": "direct"}
			if base != "" {
				o["$ref"] = base + "/Groups/" + g.ID
			}
			gl = append(gl, o)
		}
		m["groups"] = gl
	}
	m["meta"] = meta("User", u.ID, u.Version, u.Created, u.Modified, base, "/Users/")
	return m
}

// SCIMUserName is the userName the IdP sees for u: its IdPUserName when
// set, else the email Sigma knows it by.
func SCIMUserName(u directory.User) string {
	if u.IdPUserName != "" {
		return u.IdPUserName
	}
	return u.UserName
}

// GroupToSCIM renders g as a SCIM Group; members is always present.
func GroupToSCIM(g directory.Group, base string) map[string]any {
	members := make([]any, 0, len(g.Members))
	for _, r := range g.Members {
		o := map[string]any{"value": r.ID, "type": "User"}
		if r.Display != "" {
			o["display"] = r.Display
		}
		if base != "" {
			o["$ref"] = base + "/Users/" + r.ID
		}
		members = append(members, o)
	}
	m := map[string]any{
		"schemas":     []any{SchemaGroup},
		"id":          g.ID,
		"displayName": g.DisplayName,
		"members":     members,
		"meta":        meta("Group", g.ID, g.Version, g.Created, g.Modified, base, "/Groups/"),
	}
	if g.ExternalID != "" {
		m["externalId"] = g.ExternalID
	}
	return m
}

// ETag returns the weak entity tag of a resource version.
func ETag(version string) string {
	if version == "" {
		return ""
	}
	return `W/"` + version + `"`
}

func meta(rt, id, version string, created, modified time.Time, base, path string) map[string]any {
	m := map[string]any{"resourceType": rt}
	if !created.IsZero() {
		m["created"] = created.UTC().Format(time.RFC3339Nano)
	}
	if !modified.IsZero() {
		m["lastModified"] = modified.UTC().Format(time.RFC3339Nano)
	}
	if version != "" {
		m["version"] = ETag(version)
	}
	if base != "" {
		m["location"] = base + path + id
	}
	return m
}

// GroupFromSCIM maps a normalized SCIM Group to the model. Members must be
// users referenced by id in value; display and $ref are ignored.
func GroupFromSCIM(m map[string]any) (directory.Group, error) {
	var g directory.Group
	var err error
	if g.DisplayName, err = optString(m, "displayName"); err != nil {
		return g, err
	}
	g.DisplayName = strings.TrimSpace(g.DisplayName)
	if g.DisplayName == "" {
		return g, invalidValue("displayName is required: it becomes the Sigma team name")
	}
	if g.ExternalID, err = optString(m, "externalId"); err != nil {
		return g, err
	}
	ids, err := MemberIDs(m["members"])
	if err != nil {
		return g, err
	}
	for _, id := range ids {
		g.Members = append(g.Members, directory.Ref{ID: id})
	}
	return g, nil
}

// MemberIDs extracts user ids from a members value: a list of objects
// (or one object) with a string value. Duplicates are dropped; members of
// type Group are rejected because Sigma teams do not nest.
func MemberIDs(v any) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	var list []any
	switch t := v.(type) {
	case []any:
		list = t
	case map[string]any:
		list = []any{t}
	default:
		return nil, invalidValue("members must be a list of objects like {\"value\": \"<user id>\"}, got %s", Describe(v))
	}
	seen := map[string]bool{}
	var ids []string
	for i, e := range list {
		obj, ok := e.(map[string]any)
		if !ok {
			return nil, invalidValue("members[%d] must be an object like {\"value\": \"<user id>\"}, got %s", i, Describe(e))
		}
		var id string
		for k, val := range obj {
			if strings.EqualFold(k, "value") {
				s, ok := val.(string)
				if !ok {
					return nil, invalidValue("members[%d].value must be a string user id, got %s", i, Describe(val))
				}
				id = strings.TrimSpace(s)
			}
			if strings.EqualFold(k, "type") {
				if s, _ := val.(string); strings.EqualFold(s, "Group") {
					return nil, invalidValue("members[%d] is a group: Sigma teams cannot contain teams; push nested groups flattened", i)
				}
			}
		}
		if id == "" {
			return nil, invalidValue("members[%d].value is required: the id of a user", i)
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func optString(m map[string]any, key string) (string, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", invalidValue("%s must be a string, got %s", key, Describe(v))
	}
	return s, nil
}

func parseBool(v any) (bool, bool) {
	switch t := v.(type) {
	case bool:
		return t, true
	case string:
		switch strings.ToLower(strings.TrimSpace(t)) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

// ParseBool accepts a JSON boolean or the strings "true"/"false" in any
// case (Entra sends "False").
func ParseBool(v any) (bool, bool) { return parseBool(v) }

// Describe names the JSON type (and short value) of v for error details.
func Describe(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("the string %q", t)
	case bool:
		return fmt.Sprintf("the boolean %v", t)
	case float64, int, int64:
		return fmt.Sprintf("the number %v", t)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
