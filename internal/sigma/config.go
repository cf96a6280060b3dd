// Package sigma talks to Sigma Computing: the REST API v2 (members, teams,
// account types, OAuth2 client-credentials auth) through Client, and the
// Enterprise SCIM endpoint through SCIMClient.
//
// Both clients share one HTTP core that paces upstream calls adaptively
// (see pacer.go: it starts from a safe rate, raises it while Sigma answers
// promptly, cuts it on 429 or rising latency, and never exceeds the
// configured ceilings), retries what is safe to retry (429, 5xx and
// transport errors, with exponential backoff and full jitter, honouring
// Retry-After; reads on a time budget, writes a number of times), decodes Sigma's error bodies into
// *APIError, counts and times every call, and never puts a secret into an
// error, a log line or a metric. A create whose outcome is unknown (the
// connection dropped after the request was sent, or a 5xx) is never blindly
// repeated: the client first looks the object up by its natural key.
//
// The wire format follows Sigma's official OpenAPI description of the
// members, teams, account-type and auth endpoints.
package sigma

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/scimbridge/scim-bridge/internal/secret"
)

// Defaults applied by NewClient to zero Config fields.
const (
	// DefaultMaxConcurrent and DefaultRequestsPerSecond are the ceilings of
	// the adaptive pacing; it starts at 8 calls in flight and 50 req/s
	// (a tenth of the rate ceiling, at least 20) and adapts from there.
	DefaultMaxConcurrent     = 32
	DefaultRequestsPerSecond = 500
	DefaultMaxRetries        = 4
	DefaultReadRetryBudget   = 10 * time.Second
	DefaultAccountTypeTTL    = 5 * time.Minute
	DefaultRetryBaseDelay    = 250 * time.Millisecond
	DefaultRetryMaxDelay     = 15 * time.Second
	DefaultPageSize          = 1000 // Sigma's maximum for limit=
	// TeamMembersBatchSize is how many member ids ModifyTeamMembers sends in
	// one PATCH /v2/teams/{teamId}/members (add and remove counted together).
	// Sigma documents no limit; 100 keeps each request small enough that a
	// failure of one batch is cheap to retry and its error easy to attribute.
	TeamMembersBatchSize = 100
)

// Config configures a REST Client. Zero values take the documented defaults.
type Config struct {
	// BaseURL is the REST host (https://aws-api.sigmacomputing.com) or a
	// region name understood by ResolveHost. Without /v2: the client adds
	// it (a trailing /v2 is tolerated and dropped).
	BaseURL string
	// ClientID is the API client id (not secret, but not logged either).
	ClientID string
	// ClientSecret yields the API client secret. It is read on every token
	// request, so a rotated secret file is picked up; after the token
	// endpoint rejects the credentials the source is Refresh()ed once.
	ClientSecret secret.Source
	// HTTPClient is used for all calls (token and API). Optional; default
	// has a 60 s overall timeout per attempt.
	HTTPClient *http.Client
	// MaxConcurrent is the ceiling of the adaptive concurrency limit on
	// upstream API calls (default 32).
	MaxConcurrent int
	// RequestsPerSecond is the ceiling of the adaptive upstream call rate
	// (default 500). Waiting callers give up with an error as soon as
	// their context deadline would pass before their turn.
	RequestsPerSecond float64
	// MaxRetries is how many times a failed retryable write (anything but
	// GET) is repeated (default 4; negative means never). The re-send after
	// a 401 with a fresh token does not count.
	MaxRetries int
	// ReadRetryBudget is how long a failed retryable read (GET) keeps being
	// retried, counted from its first attempt (default 10 s; negative means
	// never retried). A Retry-After beyond what is left ends it at once.
	ReadRetryBudget time.Duration
	// RetryBaseDelay and RetryMaxDelay shape the backoff: attempt n sleeps a
	// uniformly random duration in [0, min(RetryMaxDelay, RetryBaseDelay*2^n))
	// ("full jitter"), or the server's Retry-After when it sent one.
	// Defaults 250 ms and 15 s.
	RetryBaseDelay time.Duration
	RetryMaxDelay  time.Duration
	// SendInvite makes CreateMember ask Sigma to email an invitation
	// (default false: the IdP's SSO is how people arrive).
	SendInvite bool
	// AccountTypeAliases maps incoming account type names to the org's names
	// ("Viewer" -> "View"). Keys are matched case-insensitively.
	AccountTypeAliases map[string]string
	// AccountTypeTTL is how long the account type list is cached (default 5m).
	AccountTypeTTL time.Duration
	// Logger receives debug lines about retries and token refreshes.
	// Optional; default discards.
	Logger *slog.Logger
}

// Region is one of Sigma's regional API hosts, as listed in the servers
// section of Sigma's OpenAPI description.
type Region struct {
	Name        string // short name accepted by ResolveHost
	URL         string
	Description string
}

// regions are the 13 hosts of the official description's servers list.
var regions = []Region{
	{"gcp-us", "https://api.sigmacomputing.com", "GCP (US)"},
	{"gcp-ksa", "https://api.sa.gcp.sigmacomputing.com", "GCP (KSA, Saudi Arabia)"},
	{"aws-us-west", "https://aws-api.sigmacomputing.com", "AWS US (West)"},
	{"aws-us-east", "https://api.us-a.aws.sigmacomputing.com", "AWS US (East)"},
	{"aws-ca", "https://api.ca.aws.sigmacomputing.com", "AWS Canada"},
	{"aws-eu", "https://api.eu.aws.sigmacomputing.com", "AWS Europe"},
	{"aws-au", "https://api.au.aws.sigmacomputing.com", "AWS Australia and APAC"},
	{"aws-uk", "https://api.uk.aws.sigmacomputing.com", "AWS UK"},
	{"azure-us", "https://api.us.azure.sigmacomputing.com", "Azure US"},
	{"azure-eu", "https://api.eu.azure.sigmacomputing.com", "Azure Europe"},
	{"azure-ca", "https://api.ca.azure.sigmacomputing.com", "Azure Canada"},
	{"azure-uk", "https://api.uk.azure.sigmacomputing.com", "Azure United Kingdom"},
	{"azure-au", "https://api.au.azure.sigmacomputing.com", "Azure Australia"},
}

// Regions returns the region names ResolveHost accepts, with their hosts:
// gcp-us, gcp-ksa, aws-us-west, aws-us-east, aws-ca, aws-eu, aws-au, aws-uk,
// azure-us, azure-eu, azure-ca, azure-uk, azure-au.
func Regions() []Region { return append([]Region(nil), regions...) }

// ResolveHost turns a region name (case-insensitive, see Regions) or a full
// http(s) URL into the base URL the client uses: scheme and host (plus any
// path prefix of a proxy), without a trailing slash and without /v2.
func ResolveHost(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("resolve sigma host: empty (want a URL or one of %s)", regionNames())
	}
	for _, r := range regions {
		if strings.EqualFold(s, r.Name) {
			return r.URL, nil
		}
	}
	if !strings.Contains(s, "://") {
		return "", fmt.Errorf("resolve sigma host: %q is neither a URL nor a region (want one of %s)", s, regionNames())
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("resolve sigma host: invalid URL")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("resolve sigma host: scheme %q not supported (want https)", u.Scheme)
	}
	if u.Host == "" {
		return "", fmt.Errorf("resolve sigma host: URL has no host")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("resolve sigma host: URL must not carry credentials, a query or a fragment")
	}
	p := strings.TrimRight(u.Path, "/")
	p = strings.TrimSuffix(p, "/v2")
	return u.Scheme + "://" + u.Host + strings.TrimRight(p, "/"), nil
}

func regionNames() string {
	names := make([]string, len(regions))
	for i, r := range regions {
		names[i] = r.Name
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
