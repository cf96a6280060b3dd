package tokens

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

// Scope is what a token may do. It is fixed when the token is issued and a
// rotation's successor inherits it.
type Scope string

// Token scopes. A leaked token can do no more than its scope allows, and
// from nowhere but its networks (Grant.Networks).
const (
	// ScopeSCIM is SCIM read and write: what an identity provider needs.
	// It is the default and what every token issued before scopes has.
	ScopeSCIM Scope = ""
	// ScopeSCIMRead is SCIM reads only (GET, and POST …/.search): for
	// audits, reconciliation scripts and an IdP's "import" jobs. A write
	// gets 403.
	ScopeSCIMRead Scope = "scim:read"
	// ScopeAdmin opens the admin listener's status page (AdminMiddleware)
	// and nothing else: the SCIM API refuses it with 403, and SCIM tokens
	// do not open the status page.
	ScopeAdmin Scope = "admin"
)

// String is the scope as `token list` shows it.
func (sc Scope) String() string {
	if sc == ScopeSCIM {
		return "scim"
	}
	return string(sc)
}

func (sc Scope) valid() bool {
	return sc == ScopeSCIM || sc == ScopeSCIMRead || sc == ScopeAdmin
}

// Grant limits a new token: what it may do and where it may come from.
// The zero Grant is full SCIM access from any address.
type Grant struct {
	Scope Scope
	// Networks, when not empty, are the only client networks the token is
	// accepted from; a request from elsewhere is refused exactly like an
	// unknown token (401), so a leaked token used from outside learns
	// nothing. The client address is the TCP peer, or with
	// Options.TrustForwardedFor the last X-Forwarded-For entry.
	Networks []netip.Prefix
}

// maxNetworks bounds Grant.Networks (it is kept in one store column and
// checked on every request).
const maxNetworks = 32

func (g Grant) check() error {
	if !g.Scope.valid() {
		return fmt.Errorf("unknown token scope %q (want scim, scim:read or admin)", string(g.Scope))
	}
	if len(g.Networks) > maxNetworks {
		return fmt.Errorf("%d networks: a token may name at most %d", len(g.Networks), maxNetworks)
	}
	for _, p := range g.Networks {
		if !p.IsValid() || p != p.Masked() {
			return fmt.Errorf("network %s is not a CIDR prefix in canonical form (e.g. 10.20.0.0/16)", p)
		}
	}
	return nil
}

// ParseNetwork reads one source network for Grant.Networks: a CIDR prefix
// ("10.20.0.0/16", "2001:db8::/48") or a single address ("192.0.2.7",
// taken as /32 or /128). Host bits are cleared: "10.20.3.4/16" is
// 10.20.0.0/16.
func ParseNetwork(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid network %q: want a CIDR prefix such as 10.20.0.0/16 or an address", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid network %q: want a CIDR prefix such as 10.20.0.0/16 or an address", s)
	}
	if p.Addr().Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, fmt.Errorf("invalid network %q: an IPv4-mapped prefix needs at least 96 bits", s)
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// fromAllowed reports whether a token limited to networks may be used
// from addr (an invalid addr is outside every network).
func fromAllowed(networks []netip.Prefix, addr netip.Addr) bool {
	if len(networks) == 0 {
		return true
	}
	addr = addr.Unmap()
	return slices.ContainsFunc(networks, func(p netip.Prefix) bool { return p.Contains(addr) })
}

// isSCIMRead reports whether r only reads: GET, HEAD, or a POST to a
// …/.search endpoint (RFC 7644 §3.4.3, a query sent as a body).
func isSCIMRead(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return true
	case http.MethodPost:
		return strings.HasSuffix(r.URL.Path, "/.search")
	}
	return false
}

// Forbidden reasons: the values of the reason label of
// scim_bridge_auth_forbidden_total, for valid tokens used beyond their
// scope.
const (
	forbidReadOnly = "read_only"  // a scim:read token tried to write
	forbidAdmin    = "admin_only" // an admin token on the SCIM API
	forbidNotAdmin = "not_admin"  // a SCIM token on the admin status page
)

var allForbidReasons = []string{forbidReadOnly, forbidAdmin, forbidNotAdmin}
