package scimserver

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/scimbridge/scim-bridge/internal/mapping"
)

// serviceProviderConfig advertises exactly what the bridge does.
func (s *server) serviceProviderConfig(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"schemas":          []any{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"},
		"documentationUri": "https://github.com/scimbridge/scim-bridge",
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           map[string]any{"supported": true, "maxResults": s.maxResults},
		"changePassword":   map[string]any{"supported": false},
		"sort":             map[string]any{"supported": true},
		"etag":             map[string]any{"supported": true},
		"authenticationSchemes": []any{map[string]any{
			"type":        "oauthbearertoken",
			"name":        "OAuth Bearer Token",
			"description": "Authentication with a bearer token issued by scim-bridge (scim-bridge token create)",
			"specUri":     "https://www.rfc-editor.org/info/rfc6750",
			"primary":     true,
		}},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": s.base(r) + "/ServiceProviderConfig"},
	})
}

var servedSchemas = []*mapping.Schema{&mapping.UserSchema, &mapping.EnterpriseSchema, &mapping.SigmaUserSchema, &mapping.GroupSchema}

func (s *server) schemaJSON(r *http.Request, sc *mapping.Schema) map[string]any {
	return map[string]any{
		"schemas":     []any{"urn:ietf:params:scim:schemas:core:2.0:Schema"},
		"id":          sc.ID,
		"name":        sc.Name,
		"description": sc.Description,
		"attributes":  sc.Attributes,
		"meta":        map[string]any{"resourceType": "Schema", "location": s.base(r) + "/Schemas/" + sc.ID},
	}
}

func discoveryList(items []any) map[string]any {
	return map[string]any{
		"schemas":      []any{mapping.SchemaListResponse},
		"totalResults": len(items),
		"itemsPerPage": len(items),
		"startIndex":   1,
		"Resources":    items,
	}
}

func (s *server) schemas(w http.ResponseWriter, r *http.Request) {
	var items []any
	for _, sc := range servedSchemas {
		items = append(items, s.schemaJSON(r, sc))
	}
	writeJSON(w, http.StatusOK, discoveryList(items))
}

func (s *server) schema(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	for _, sc := range servedSchemas {
		if strings.EqualFold(sc.ID, id) {
			writeJSON(w, http.StatusOK, s.schemaJSON(r, sc))
			return
		}
	}
	writeAPIError(w, errorf(http.StatusNotFound, "", "no schema %q; see /Schemas", id))
}

func (s *server) resourceTypeList(r *http.Request) []map[string]any {
	base := s.base(r)
	return []map[string]any{
		{
			"schemas":     []any{"urn:ietf:params:scim:schemas:core:2.0:ResourceType"},
			"id":          "User",
			"name":        "User",
			"endpoint":    "/Users",
			"description": "Sigma members",
			"schema":      mapping.SchemaUser,
			"schemaExtensions": []any{
				map[string]any{"schema": mapping.SchemaEnterprise, "required": false},
				map[string]any{"schema": mapping.SchemaSigmaUser, "required": false},
			},
			"meta": map[string]any{"resourceType": "ResourceType", "location": base + "/ResourceTypes/User"},
		},
		{
			"schemas":     []any{"urn:ietf:params:scim:schemas:core:2.0:ResourceType"},
			"id":          "Group",
			"name":        "Group",
			"endpoint":    "/Groups",
			"description": "Sigma teams",
			"schema":      mapping.SchemaGroup,
			"meta":        map[string]any{"resourceType": "ResourceType", "location": base + "/ResourceTypes/Group"},
		},
	}
}

func (s *server) resourceTypes(w http.ResponseWriter, r *http.Request) {
	var items []any
	for _, rt := range s.resourceTypeList(r) {
		items = append(items, rt)
	}
	writeJSON(w, http.StatusOK, discoveryList(items))
}

func (s *server) resourceType(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	for _, rt := range s.resourceTypeList(r) {
		if strings.EqualFold(rt["id"].(string), id) {
			writeJSON(w, http.StatusOK, rt)
			return
		}
	}
	writeAPIError(w, errorf(http.StatusNotFound, "", "no resource type %q; see /ResourceTypes", id))
}
