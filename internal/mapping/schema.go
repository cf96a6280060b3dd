// Package mapping converts between SCIM resources (as decoded JSON objects)
// and the bridge's model (directory.User, directory.Group), and decides
// account types from group-membership rules. Everything here is pure: no
// I/O, no clock, no Sigma.
//
// The SCIM side is always a map[string]any in canonical form: core
// attributes at the top level under their schema spelling (userName,
// name.givenName, ...), extension attributes nested under their schema URN.
// Normalize turns what an IdP sent (any attribute case, URN-qualified or
// dotted keys) into that form.
package mapping

import (
	"strings"
)

// Schema URNs the bridge serves.
const (
	SchemaUser         = "urn:ietf:params:scim:schemas:core:2.0:User"
	SchemaGroup        = "urn:ietf:params:scim:schemas:core:2.0:Group"
	SchemaEnterprise   = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	SchemaSigmaUser    = "urn:sigma:scim:schemas:extension:2.0:User"
	SchemaListResponse = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	SchemaPatchOp      = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	SchemaSearch       = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
)

// Attribute describes one SCIM attribute (RFC 7643 section 7). Stored
// says whether the bridge keeps it; attributes of the published schemas
// that are not stored are accepted on write and silently dropped, so IdPs
// that send their full default mapping (Entra: title, phoneNumbers,
// addresses, department, manager ...) are not rejected.
type Attribute struct {
	Name            string      `json:"name"`
	Type            string      `json:"type"`
	MultiValued     bool        `json:"multiValued"`
	Description     string      `json:"description,omitempty"`
	Required        bool        `json:"required"`
	CaseExact       bool        `json:"caseExact"`
	CanonicalValues []string    `json:"canonicalValues,omitempty"`
	Mutability      string      `json:"mutability"`
	Returned        string      `json:"returned"`
	Uniqueness      string      `json:"uniqueness"`
	ReferenceTypes  []string    `json:"referenceTypes,omitempty"`
	SubAttributes   []Attribute `json:"subAttributes,omitempty"`
	Stored          bool        `json:"-"`
}

// Sub returns the sub-attribute named name (case-insensitive), or nil.
func (a *Attribute) Sub(name string) *Attribute {
	for i := range a.SubAttributes {
		if strings.EqualFold(a.SubAttributes[i].Name, name) {
			return &a.SubAttributes[i]
		}
	}
	return nil
}

// Schema is a SCIM schema definition as served on /Schemas.
type Schema struct {
	ID          string      `json:"id"`
	Name        string      `json:"name"`
	Description string      `json:"description"`
	Attributes  []Attribute `json:"attributes"`
}

// Attr returns the attribute named name (case-insensitive), or nil.
func (s *Schema) Attr(name string) *Attribute {
	for i := range s.Attributes {
		if strings.EqualFold(s.Attributes[i].Name, name) {
			return &s.Attributes[i]
		}
	}
	return nil
}

func str(name, desc string, stored bool) Attribute {
	return Attribute{Name: name, Type: "string", Description: desc, Mutability: "readWrite", Returned: "default", Uniqueness: "none", Stored: stored}
}

func typed(a Attribute, typ string) Attribute { a.Type = typ; return a }

// ref is a reference attribute to the given resource types (RFC 7643
// 7: "external", "uri", or a resource type name).
func ref(a Attribute, types ...string) Attribute {
	a.Type, a.ReferenceTypes = "reference", types
	return a
}

func multi(name, desc string, stored bool, subs ...Attribute) Attribute {
	return Attribute{Name: name, Type: "complex", MultiValued: true, Description: desc, Mutability: "readWrite", Returned: "default", Uniqueness: "none", SubAttributes: subs, Stored: stored}
}

func valueTypePrimary(stored bool, types ...string) []Attribute {
	t := str("type", "A label indicating the attribute's function.", stored)
	t.CanonicalValues = types
	return []Attribute{
		str("value", "The attribute's value.", stored),
		str("display", "A human-readable name, primarily used for display purposes.", false),
		t,
		typed(str("primary", "Whether this is the primary value.", stored), "boolean"),
	}
}

// UserSchema is the core User schema with the attributes the bridge
// accepts. Stored ones map to Sigma members; the rest are dropped.
var UserSchema = func() Schema {
	userName := str("userName", "The member's email address, Sigma's unique identifier for the member.", true)
	userName.Required = true
	userName.Uniqueness = "server"
	password := str("password", "Accepted and ignored: members sign in through the org's identity provider.", false)
	password.Mutability = "writeOnly"
	password.Returned = "never"
	name := Attribute{Name: "name", Type: "complex", Description: "The components of the member's name; Sigma requires given and family name, derived from displayName or the email when missing.", Mutability: "readWrite", Returned: "default", Uniqueness: "none", Stored: true,
		SubAttributes: []Attribute{
			str("formatted", "The full name.", false),
			str("familyName", "Sigma lastName.", true),
			str("givenName", "Sigma firstName.", true),
			str("middleName", "Not stored.", false),
			str("honorificPrefix", "Not stored.", false),
			str("honorificSuffix", "Not stored.", false),
		}}
	userType := str("userType", "The Sigma account type (memberType) name.", true)
	active := typed(str("active", "false deactivates the member in Sigma.", true), "boolean")
	groupsSubs := []Attribute{str("value", "The team id.", true), ref(str("$ref", "The group URI.", true), "Group"), str("display", "The team name.", true), str("type", "direct", true)}
	for i := range groupsSubs {
		groupsSubs[i].Mutability = "readOnly"
	}
	groups := multi("groups", "The teams the member belongs to (read-only; change membership through Groups).", true, groupsSubs...)
	groups.Mutability = "readOnly"
	emails := multi("emails", "Email addresses; the primary work email is the member's Sigma email.", true, valueTypePrimary(true, "work", "home", "other")...)
	addresses := multi("addresses", "Not stored.", false,
		str("formatted", "", false), str("streetAddress", "", false), str("locality", "", false),
		str("region", "", false), str("postalCode", "", false), str("country", "", false),
		str("type", "", false), typed(str("primary", "", false), "boolean"))
	return Schema{
		ID: SchemaUser, Name: "User", Description: "User Account (a Sigma member)",
		Attributes: []Attribute{
			userName, name,
			str("displayName", "The name displayed for the member.", true),
			str("nickName", "Not stored.", false),
			ref(str("profileUrl", "Not stored.", false), "external"),
			str("title", "Not stored.", false),
			userType,
			str("preferredLanguage", "Not stored.", false),
			str("locale", "Not stored.", false),
			str("timezone", "Not stored.", false),
			active, password, emails,
			multi("phoneNumbers", "Not stored.", false, valueTypePrimary(false)...),
			multi("ims", "Not stored.", false, valueTypePrimary(false)...),
			multi("photos", "Not stored.", false, valueTypePrimary(false)...),
			addresses, groups,
			multi("entitlements", "Not stored.", false, valueTypePrimary(false)...),
			multi("roles", "Not stored.", false, valueTypePrimary(false)...),
			multi("x509Certificates", "Not stored.", false, valueTypePrimary(false)...),
		},
	}
}()

// EnterpriseSchema is the enterprise User extension. Nothing in it is
// stored: Sigma has no department or manager. It is declared so that IdPs
// sending it (Entra's manager as a bare id, department, employeeNumber)
// are accepted.
var EnterpriseSchema = func() Schema {
	manager := Attribute{Name: "manager", Type: "complex", Description: "Not stored; a bare id string is accepted too (Entra).", Mutability: "readWrite", Returned: "default", Uniqueness: "none",
		SubAttributes: []Attribute{str("value", "", false), ref(str("$ref", "", false), "User"), str("displayName", "", false)}}
	return Schema{
		ID: SchemaEnterprise, Name: "EnterpriseUser", Description: "Enterprise User (accepted, not stored)",
		Attributes: []Attribute{
			str("employeeNumber", "Not stored.", false), str("costCenter", "Not stored.", false),
			str("organization", "Not stored.", false), str("division", "Not stored.", false),
			str("department", "Not stored.", false), manager,
		},
	}
}()

// SigmaUserSchema is the bridge's (and Sigma's) User extension.
var SigmaUserSchema = func() Schema {
	kind := str("userKind", "internal, guest or embed.", true)
	kind.CanonicalValues = []string{"internal", "guest", "embed"}
	return Schema{
		ID: SchemaSigmaUser, Name: "SigmaUser", Description: "Sigma member attributes",
		Attributes: []Attribute{kind, str("accountType", "Alias of userType: the Sigma account type name.", true)},
	}
}()

// GroupSchema is the core Group schema; a group is a Sigma team.
var GroupSchema = func() Schema {
	dn := str("displayName", "The team name, unique in the org.", true)
	dn.Required = true
	dn.Uniqueness = "server"
	members := multi("members", "The team's members (users only).", true,
		str("value", "The member's id.", true), ref(str("$ref", "The member URI (users only: Sigma teams do not nest).", true), "User"),
		str("display", "The member's userName.", true), str("type", "User", true))
	return Schema{ID: SchemaGroup, Name: "Group", Description: "Group (a Sigma team)", Attributes: []Attribute{dn, members}}
}()

// Kind selects the resource type a function works on.
type Kind int

// Resource kinds.
const (
	User Kind = iota
	Group
)

// Schemas returns the core schema and the extensions of kind.
func Schemas(k Kind) (core *Schema, extensions []*Schema) {
	if k == Group {
		return &GroupSchema, nil
	}
	return &UserSchema, []*Schema{&EnterpriseSchema, &SigmaUserSchema}
}

// commonAttrs are attributes every resource has (RFC 7643 section 3.1).
var commonAttrs = map[string]string{"id": "id", "externalid": "externalId", "meta": "meta", "schemas": "schemas"}

// Path is a resolved attribute reference: Schema is "" for core and common
// attributes, or the extension URN; Attr and Sub are canonical names
// (Sub empty when the path names the whole attribute).
type Path struct {
	Schema string
	Attr   string
	Sub    string
	Def    *Attribute // nil for common attributes (id, externalId, meta, schemas)
	SubDef *Attribute
}

// String renders the path as a SCIM attribute path.
func (p Path) String() string {
	s := p.Attr
	if p.Sub != "" {
		s += "." + p.Sub
	}
	if p.Schema != "" {
		s = p.Schema + ":" + s
	}
	return s
}

// ResolvePath resolves an attribute path such as "name.givenName",
// "emails.value", "urn:ietf:params:scim:schemas:core:2.0:User:userName" or
// "urn:sigma:scim:schemas:extension:2.0:User:accountType" (any case) to
// its canonical form. ok is false when no schema of kind defines it.
func ResolvePath(k Kind, path string) (Path, bool) {
	core, exts := Schemas(k)
	rest := path
	schema := ""
	lower := strings.ToLower(path)
	if strings.HasPrefix(lower, "urn:") {
		matched := false
		for _, s := range append([]*Schema{core}, exts...) {
			id := strings.ToLower(s.ID)
			if lower == id {
				// The whole schema: an object of its attributes (Attr empty).
				return Path{Schema: s.ID}, true
			}
			if strings.HasPrefix(lower, id+":") {
				rest = path[len(id)+1:]
				if s != core {
					schema = s.ID
				}
				matched = true
				break
			}
		}
		if !matched {
			return Path{}, false
		}
	}
	attr, sub, _ := strings.Cut(rest, ".")
	return resolveIn(k, schema, attr, sub)
}

// ResolveAttr resolves (uri, attr, sub) as split by a filter parser.
func ResolveAttr(k Kind, uri, attr, sub string) (Path, bool) {
	p := attr
	if sub != "" {
		p += "." + sub
	}
	if uri != "" {
		p = uri + ":" + p
	}
	return ResolvePath(k, p)
}

func resolveIn(k Kind, schema, attr, sub string) (Path, bool) {
	core, exts := Schemas(k)
	s := core
	if schema != "" {
		s = nil
		for _, e := range exts {
			if e.ID == schema {
				s = e
			}
		}
		if s == nil {
			return Path{}, false
		}
	} else if name, ok := commonAttrs[strings.ToLower(attr)]; ok {
		p := Path{Attr: name}
		if sub != "" {
			if name != "meta" {
				return Path{}, false
			}
			for _, m := range []string{"created", "lastModified", "location", "version", "resourceType"} {
				if strings.EqualFold(m, sub) {
					p.Sub = m
				}
			}
			if p.Sub == "" {
				return Path{}, false
			}
		}
		return p, true
	}
	def := s.Attr(attr)
	if def == nil {
		return Path{}, false
	}
	p := Path{Schema: schema, Attr: def.Name, Def: def}
	if sub != "" {
		sd := def.Sub(sub)
		if sd == nil {
			return Path{}, false
		}
		p.Sub, p.SubDef = sd.Name, sd
	}
	return p, true
}
