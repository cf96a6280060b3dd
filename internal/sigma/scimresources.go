package sigma

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// SCIMUser is a User of Sigma's Enterprise SCIM endpoint, with the
// attributes the bridge reads and writes typed and every other attribute
// Sigma sends kept in Extra, so a resource read and written back loses
// nothing.
type SCIMUser struct {
	Schemas  []string    `json:"schemas,omitempty"`
	ID       string      `json:"id,omitempty"`
	UserName string      `json:"userName"`
	Name     SCIMName    `json:"name"`
	Emails   []SCIMEmail `json:"emails,omitempty"`
	// Active is false for a member Sigma's SCIM shows as deactivated.
	// Sigma may send it as a JSON string ("true"); both decode.
	Active   bool   `json:"active"`
	UserType string `json:"userType,omitempty"` // the account type, in Sigma's SCIM spelling
	// Sigma is Sigma's user extension (userKind).
	Sigma  *SCIMSigmaUser `json:"urn:sigma:scim:schemas:extension:2.0:User,omitempty"`
	Groups []SCIMRef      `json:"groups,omitempty"`
	Meta   *SCIMMeta      `json:"meta,omitempty"`
	// Extra holds the attributes not modelled above, as Sigma sent them.
	Extra map[string]json.RawMessage `json:"-"`
}

// SCIMGroup is a Group of Sigma's Enterprise SCIM endpoint (a team).
type SCIMGroup struct {
	Schemas     []string                   `json:"schemas,omitempty"`
	ID          string                     `json:"id,omitempty"`
	DisplayName string                     `json:"displayName"`
	Members     []SCIMRef                  `json:"members"`
	Meta        *SCIMMeta                  `json:"meta,omitempty"`
	Extra       map[string]json.RawMessage `json:"-"`
}

// SCIMName is a user's name.
type SCIMName struct {
	GivenName  string `json:"givenName"`
	FamilyName string `json:"familyName"`
	Formatted  string `json:"formatted,omitempty"`
}

// SCIMEmail is one of a user's emails.
type SCIMEmail struct {
	Value   string `json:"value"`
	Type    string `json:"type,omitempty"`
	Primary bool   `json:"primary,omitempty"`
}

// SCIMRef is a member of a group or a group of a user.
type SCIMRef struct {
	Value   string `json:"value"`
	Display string `json:"display,omitempty"`
}

// SCIMSigmaUser is Sigma's extension of the SCIM User.
type SCIMSigmaUser struct {
	UserKind string `json:"userKind,omitempty"`
}

// SCIMMeta is a resource's meta attribute; times that do not parse are
// zero.
type SCIMMeta struct {
	Created      time.Time `json:"-"`
	LastModified time.Time `json:"-"`
}

type scimMetaJSON struct {
	Created      string `json:"created,omitempty"`
	LastModified string `json:"lastModified,omitempty"`
}

func (m SCIMMeta) MarshalJSON() ([]byte, error) {
	return json.Marshal(scimMetaJSON{Created: stampJSON(m.Created), LastModified: stampJSON(m.LastModified)})
}

func (m *SCIMMeta) UnmarshalJSON(b []byte) error {
	var j scimMetaJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	m.Created, m.LastModified = parseStamp(j.Created), parseStamp(j.LastModified)
	return nil
}

func stampJSON(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseStamp(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// The aliases drop the methods, so the typed fields can be (un)marshalled
// with encoding/json and merged with Extra.
type scimUserFields SCIMUser
type scimGroupFields SCIMGroup

func (u SCIMUser) MarshalJSON() ([]byte, error) { return marshalWithExtra(scimUserFields(u), u.Extra) }

func (u *SCIMUser) UnmarshalJSON(b []byte) error {
	var f scimUserFields
	var probe struct {
		Active any `json:"active"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return err
	}
	if v, ok := probe.Active.(string); ok {
		// Sigma has sent "active" as a string: decode the rest, then it.
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		m["active"] = json.RawMessage(fmt.Sprint(strings.EqualFold(v, "true")))
		var err error
		if b, err = json.Marshal(m); err != nil {
			return err
		}
	}
	extra, err := unmarshalWithExtra(b, &f)
	*u = SCIMUser(f)
	u.Extra = extra
	return err
}

func (g SCIMGroup) MarshalJSON() ([]byte, error) {
	return marshalWithExtra(scimGroupFields(g), g.Extra)
}

func (g *SCIMGroup) UnmarshalJSON(b []byte) error {
	var f scimGroupFields
	extra, err := unmarshalWithExtra(b, &f)
	*g = SCIMGroup(f)
	g.Extra = extra
	return err
}

// marshalWithExtra encodes the typed fields and adds the extra attributes
// the typed fields do not set.
func marshalWithExtra(fields any, extra map[string]json.RawMessage) ([]byte, error) {
	b, err := json.Marshal(fields)
	if err != nil || len(extra) == 0 {
		return b, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range extra {
		if _, ok := m[k]; !ok {
			m[k] = v
		}
	}
	return json.Marshal(m)
}

// unmarshalWithExtra decodes b into the typed fields and returns the
// attributes they do not model (nil if none).
func unmarshalWithExtra(b []byte, fields any) (map[string]json.RawMessage, error) {
	if err := json.Unmarshal(b, fields); err != nil {
		return nil, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, err
	}
	for k := range all {
		if modelled[k] {
			delete(all, k)
		}
	}
	if len(all) == 0 {
		return nil, nil
	}
	return all, nil
}

// modelled are the attributes SCIMUser and SCIMGroup type.
var modelled = map[string]bool{"schemas": true, "id": true, "userName": true, "name": true, "emails": true, "active": true,
	"userType": true, SCIMSigmaUserSchema: true, "groups": true, "meta": true, "displayName": true, "members": true}
