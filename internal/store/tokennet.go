package store

import (
	"fmt"
	"net/netip"
	"strings"
)

// FormatNetworks is how both stores keep Token.Networks in one text column:
// the prefixes in canonical form, comma-separated ("" for none).
func FormatNetworks(ps []netip.Prefix) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}

// ParseNetworks reads what FormatNetworks wrote.
func ParseNetworks(s string) ([]netip.Prefix, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	out := make([]netip.Prefix, len(parts))
	for i, part := range parts {
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("stored token network %q: %w", part, err)
		}
		out[i] = p
	}
	return out, nil
}
