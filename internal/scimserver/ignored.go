package scimserver

import (
	"context"
	"slices"

	"github.com/scimbridge/scim-bridge/internal/mapping"
)

// ignored records attributes a write left out because no served schema
// defines them: a counter by resource (never by name: names are the IdP's
// and unbounded) and their names at debug level.
func (s *server) ignored(ctx context.Context, k mapping.Kind, names []string) {
	if len(names) == 0 {
		return
	}
	slices.Sort(names)
	names = slices.Compact(names)
	resource := "users"
	if k == mapping.Group {
		resource = "groups"
	}
	s.metrics.ignored.WithLabelValues(resource).Add(float64(len(names)))
	loggerFrom(ctx, s.log).Debug("unknown attributes ignored", "resource", resource, "attributes", names)
}
