// Package config is scim-bridge's configuration: one optional YAML file,
// overridden by SCIM_BRIDGE_* environment variables, then defaults, then
// Validate, which reports every problem at once.
//
// The YAML keys and the environment variable names are part of the
// product's contract; CONFIGURATION.md documents them and
// scim-bridge.example.yml is a complete, working example.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/scimbridge/scim-bridge/internal/secret"
)

// Sigma connection modes.
const (
	ModeAuto = "auto"
	ModeSCIM = "scim"
	ModeREST = "rest"
)

// Config is the whole configuration.
type Config struct {
	// Listen is the SCIM listener's address; SCIM is served under /scim/v2.
	Listen string `yaml:"listen"`
	// AdminListen serves /metrics, /healthz and /readyz.
	AdminListen string `yaml:"admin_listen"`
	// Store is "sqlite:PATH" or a postgres:// URL.
	Store string `yaml:"store"`
	// PublicURL is the SCIM base URL as the IdP reaches it (behind a proxy
	// or load balancer), used in meta.location. Empty: derived from each
	// request's Host and X-Forwarded-Proto.
	PublicURL string `yaml:"public_url"`

	// TLS serves the SCIM listener over HTTPS when set; AdminTLS the
	// admin listener (its own pair, or the same files).
	TLS      TLS `yaml:"tls"`
	AdminTLS TLS `yaml:"admin_tls"`

	Log          Log          `yaml:"log"`
	Sigma        Sigma        `yaml:"sigma"`
	Provisioning Provisioning `yaml:"provisioning"`
	Tokens       Tokens       `yaml:"tokens"`
	Audit        Audit        `yaml:"audit"`
	HTTP         HTTP         `yaml:"http"`
	Seats        Seats        `yaml:"seats"`
}

// Seats is what the org's Sigma contract allows: the limits the seat
// count (scim_bridge_sigma_seats, active members) is compared with by the
// scim_bridge_seats_limit gauge, the seat alerts and the status page. The
// bridge does not refuse a create above a limit; Sigma decides.
type Seats struct {
	// Total is the number of active members the contract allows over all
	// account types; 0: no total limit.
	Total int `yaml:"total"`
	// ByAccountType limits the active members of single account types,
	// named as in Sigma (compared without regard to case).
	ByAccountType map[string]int `yaml:"by_account_type"`
}

// Configured reports whether any seat limit is set.
func (s Seats) Configured() bool { return s.Total > 0 || len(s.ByAccountType) > 0 }

// TLS is a PEM certificate chain and private key. Both set: the listener
// speaks TLS 1.2 or later only, and re-reads the files when they change
// (cert-manager or another rotation) without dropping connections.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Enabled reports whether a certificate pair is configured.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// Log configures logging.
type Log struct {
	Format string `yaml:"format"` // json or text
	Level  string `yaml:"level"`  // debug, info, warn, error
}

// Sigma configures the upstream.
type Sigma struct {
	Mode             string       `yaml:"mode"`
	APIURL           string       `yaml:"api_url"`
	ClientID         string       `yaml:"client_id"`
	ClientSecret     secret.Value `yaml:"client_secret"`
	ClientSecretFile string       `yaml:"client_secret_file"`
	SCIMURL          string       `yaml:"scim_url"`
	SCIMToken        secret.Value `yaml:"scim_token"`
	SCIMTokenFile    string       `yaml:"scim_token_file"`

	// AccountTypeAliases maps names an IdP sends to the org's account type
	// names, e.g. Viewer: View. Keys are matched case-insensitively.
	AccountTypeAliases map[string]string `yaml:"account_type_aliases"`
	// AccountTypes lists the org's custom account types, named exactly as
	// in Sigma. Needed only on the Enterprise SCIM path without REST
	// credentials (REST lists them itself); built-ins are always known.
	AccountTypes []string `yaml:"account_types"`
	// SendInvite makes Sigma email new members an invitation.
	SendInvite bool `yaml:"send_invite"`
	// MaxConcurrent is the ceiling of the adaptive limit on concurrent
	// calls to Sigma.
	MaxConcurrent int `yaml:"max_concurrent"`
	// RequestsPerSecond is the ceiling of the adaptive rate of calls to Sigma.
	RequestsPerSecond float64 `yaml:"requests_per_second"`
	// ReadRetryBudget is how long a read from Sigma that meets 429/5xx
	// keeps being retried inside the IdP's request before it answers 503.
	ReadRetryBudget Duration `yaml:"read_retry_budget"`
	// ProbeInterval is how often auto mode re-checks which path is live.
	ProbeInterval Duration `yaml:"probe_interval"`
}

// Provisioning configures how IdP requests become Sigma changes.
type Provisioning struct {
	// DefaultAccountType applies when the IdP sends no account type; empty
	// means the org's default.
	DefaultAccountType string `yaml:"default_account_type"`
	// DeprovisionOwnerID is the Sigma memberId that receives a deactivated
	// member's documents; empty leaves documents in place.
	DeprovisionOwnerID string `yaml:"deprovision_owner_id"`
	// DryRun computes, logs and audits every decision and writes nothing
	// to Sigma.
	DryRun bool `yaml:"dry_run"`
	// UserNameFromEmail uses the primary work email when the IdP's
	// userName is not an email address.
	UserNameFromEmail *bool `yaml:"user_name_from_email"`
	// GroupRules drive account types from IdP groups; first match wins.
	GroupRules []GroupRule `yaml:"group_rules"`
	// ResyncInterval is how often the member/team index is reloaded.
	ResyncInterval Duration `yaml:"resync_interval"`
	// PeerPollInterval is how often the index reads the shared audit trail
	// for writes made through other replicas (and marks what they touched
	// for a fresh read); 0 turns it off (one replica).
	PeerPollInterval Duration `yaml:"peer_poll_interval"`
}

// GroupRule says: members of Group get AccountType.
type GroupRule struct {
	Group       string `yaml:"group"`
	AccountType string `yaml:"account_type"`
}

// Tokens configures IdP bearer tokens.
type Tokens struct {
	// CacheTTL bounds how long a replica may keep accepting a token after
	// it was revoked or expired elsewhere.
	CacheTTL Duration `yaml:"cache_ttl"`
	// TrustForwardedFor takes a SCIM client's address from the last
	// X-Forwarded-For entry instead of the TCP peer, for token networks
	// and the failed-authentication limit. Only for a bridge that is
	// reached solely through a proxy that always sets that header.
	TrustForwardedFor bool `yaml:"trust_forwarded_for"`
}

// Audit configures the audit trail.
type Audit struct {
	// Retention is how long audit entries are kept; 0 keeps them forever.
	Retention Duration `yaml:"retention"`
}

// HTTP configures both listeners.
type HTTP struct {
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	ReadTimeout       Duration `yaml:"read_timeout"`
	WriteTimeout      Duration `yaml:"write_timeout"`
	IdleTimeout       Duration `yaml:"idle_timeout"`
	ShutdownTimeout   Duration `yaml:"shutdown_timeout"`
	MaxBodyBytes      int64    `yaml:"max_body_bytes"`
}

// Duration is a time.Duration written as "30s", "5m", "24h" in YAML.
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q (use e.g. 30s, 5m, 24h)", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Default returns the configuration with every default set.
func Default() Config {
	yes := true
	return Config{
		Listen:      ":8080",
		AdminListen: ":9090",
		Store:       "sqlite:scim-bridge.db",
		Log:         Log{Format: "json", Level: "info"},
		Sigma: Sigma{
			Mode:              ModeAuto,
			MaxConcurrent:     32,
			RequestsPerSecond: 500,
			ReadRetryBudget:   Duration(10 * time.Second),
			ProbeInterval:     Duration(time.Minute),
		},
		Provisioning: Provisioning{
			UserNameFromEmail: &yes,
			ResyncInterval:    Duration(5 * time.Minute),
			PeerPollInterval:  Duration(5 * time.Second),
		},
		Tokens: Tokens{CacheTTL: Duration(10 * time.Second)},
		Audit:  Audit{Retention: Duration(90 * 24 * time.Hour)},
		HTTP: HTTP{
			ReadHeaderTimeout: Duration(10 * time.Second),
			ReadTimeout:       Duration(30 * time.Second),
			WriteTimeout:      Duration(70 * time.Second),
			IdleTimeout:       Duration(2 * time.Minute),
			ShutdownTimeout:   Duration(30 * time.Second),
			MaxBodyBytes:      1 << 20,
		},
	}
}

// Load reads the YAML file at path (skipped when path is empty), applies
// the environment (looked up with getenv, normally os.Getenv) on top, and
// validates the result. Errors are meant for the operator as they are.
func Load(path string, getenv func(string) string) (Config, error) {
	return load(path, getenv, (*Config).Validate)
}

// LoadForStore is Load for commands that only use the store and logging
// (`scim-bridge token`): the Sigma and listener settings are not required,
// so tokens can be managed before Sigma is configured.
func LoadForStore(path string, getenv func(string) string) (Config, error) {
	return load(path, getenv, func(c *Config) error {
		full := c.Validate()
		var ce *Error
		if !errors.As(full, &ce) {
			return full
		}
		var kept []string
		for _, p := range ce.Problems {
			if strings.HasPrefix(p, "store ") || strings.HasPrefix(p, "log.") {
				kept = append(kept, p)
			}
		}
		if len(kept) == 0 {
			return nil
		}
		return &Error{Problems: kept}
	})
}

func load(path string, getenv func(string) string, validate func(*Config) error) (Config, error) {
	cfg := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("read config file: %w", err)
		}
		if err := decodeYAML(b, &cfg); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	if err := applyEnv(&cfg, getenv); err != nil {
		return Config{}, err
	}
	if err := validate(&cfg); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func decodeYAML(b []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// envVar binds one environment variable to a field.
type envVar struct {
	name string
	set  func(c *Config, v string) error
}

func str(f func(c *Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *f(c) = v; return nil }
}

func boolean(f func(c *Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", v)
		}
		*f(c) = b
		return nil
	}
}

func integer(f func(c *Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("want a whole number, got %q", v)
		}
		*f(c) = n
		return nil
	}
}

// seatsByAccountType parses ACCOUNT_TYPE=SEATS,… (SCIM_BRIDGE_SEATS_BY_ACCOUNT_TYPE);
// it replaces the file's seats.by_account_type.
func seatsByAccountType(c *Config, v string) error {
	m := map[string]int{}
	for item := range strings.SplitSeq(v, ",") {
		name, n, ok := strings.Cut(item, "=")
		seats, err := strconv.Atoi(strings.TrimSpace(n))
		if !ok || err != nil {
			return fmt.Errorf("want ACCOUNT_TYPE=SEATS[,ACCOUNT_TYPE=SEATS…] such as Pro=50,View=450, got %q", v)
		}
		m[strings.TrimSpace(name)] = seats
	}
	c.Seats.ByAccountType = m
	return nil
}

func duration(f func(c *Config) *Duration) func(*Config, string) error {
	return func(c *Config, v string) error { return f(c).UnmarshalText([]byte(v)) }
}

// EnvVars lists every environment variable the bridge reads, in the order
// CONFIGURATION.md documents them.
var envVars = []envVar{
	{"SCIM_BRIDGE_LISTEN", str(func(c *Config) *string { return &c.Listen })},
	{"SCIM_BRIDGE_ADMIN_LISTEN", str(func(c *Config) *string { return &c.AdminListen })},
	{"SCIM_BRIDGE_STORE", str(func(c *Config) *string { return &c.Store })},
	{"SCIM_BRIDGE_PUBLIC_URL", str(func(c *Config) *string { return &c.PublicURL })},
	{"SCIM_BRIDGE_TLS_CERT_FILE", str(func(c *Config) *string { return &c.TLS.CertFile })},
	{"SCIM_BRIDGE_TLS_KEY_FILE", str(func(c *Config) *string { return &c.TLS.KeyFile })},
	{"SCIM_BRIDGE_ADMIN_TLS_CERT_FILE", str(func(c *Config) *string { return &c.AdminTLS.CertFile })},
	{"SCIM_BRIDGE_ADMIN_TLS_KEY_FILE", str(func(c *Config) *string { return &c.AdminTLS.KeyFile })},
	{"SCIM_BRIDGE_SIGMA_API_URL", str(func(c *Config) *string { return &c.Sigma.APIURL })},
	{"SCIM_BRIDGE_SIGMA_CLIENT_ID", str(func(c *Config) *string { return &c.Sigma.ClientID })},
	{"SCIM_BRIDGE_SIGMA_CLIENT_SECRET", func(c *Config, v string) error { c.Sigma.ClientSecret = secret.Value(v); return nil }},
	{"SCIM_BRIDGE_SIGMA_CLIENT_SECRET_FILE", str(func(c *Config) *string { return &c.Sigma.ClientSecretFile })},
	{"SCIM_BRIDGE_SIGMA_SCIM_URL", str(func(c *Config) *string { return &c.Sigma.SCIMURL })},
	{"SCIM_BRIDGE_SIGMA_SCIM_TOKEN", func(c *Config, v string) error { c.Sigma.SCIMToken = secret.Value(v); return nil }},
	{"SCIM_BRIDGE_SIGMA_SCIM_TOKEN_FILE", str(func(c *Config) *string { return &c.Sigma.SCIMTokenFile })},
	{"SCIM_BRIDGE_SIGMA_MODE", str(func(c *Config) *string { return &c.Sigma.Mode })},
	{"SCIM_BRIDGE_DEFAULT_ACCOUNT_TYPE", str(func(c *Config) *string { return &c.Provisioning.DefaultAccountType })},
	{"SCIM_BRIDGE_DEPROVISION_OWNER_ID", str(func(c *Config) *string { return &c.Provisioning.DeprovisionOwnerID })},
	{"SCIM_BRIDGE_DRY_RUN", boolean(func(c *Config) *bool { return &c.Provisioning.DryRun })},
	{"SCIM_BRIDGE_LOG_FORMAT", str(func(c *Config) *string { return &c.Log.Format })},
	{"SCIM_BRIDGE_LOG_LEVEL", str(func(c *Config) *string { return &c.Log.Level })},
	{"SCIM_BRIDGE_SHUTDOWN_TIMEOUT", duration(func(c *Config) *Duration { return &c.HTTP.ShutdownTimeout })},
	{"SCIM_BRIDGE_SEATS_TOTAL", integer(func(c *Config) *int { return &c.Seats.Total })},
	{"SCIM_BRIDGE_SEATS_BY_ACCOUNT_TYPE", seatsByAccountType},
}

// EnvNames returns the names of every environment variable the bridge reads.
func EnvNames() []string {
	names := make([]string, len(envVars))
	for i, e := range envVars {
		names[i] = e.name
	}
	return names
}

func applyEnv(cfg *Config, getenv func(string) string) error {
	var problems []string
	for _, e := range envVars {
		v := getenv(e.name)
		if v == "" {
			continue
		}
		if err := e.set(cfg, v); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", e.name, err))
		}
	}
	if len(problems) > 0 {
		return &Error{Problems: problems}
	}
	return nil
}

// Error lists every problem found in a configuration.
type Error struct {
	Problems []string
}

func (e *Error) Error() string {
	return "invalid configuration:\n  - " + strings.Join(e.Problems, "\n  - ")
}

// Validate checks the whole configuration and returns an *Error naming
// every bad field, or nil.
func (c *Config) Validate() error {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }

	for _, l := range []struct{ field, env, v string }{
		{"listen", "SCIM_BRIDGE_LISTEN", c.Listen},
		{"admin_listen", "SCIM_BRIDGE_ADMIN_LISTEN", c.AdminListen},
	} {
		if _, port, err := net.SplitHostPort(l.v); err != nil || port == "" {
			add("%s (%s): %q is not a host:port address such as :8080 or 127.0.0.1:8080", l.field, l.env, l.v)
		}
	}
	if c.Listen != "" && c.Listen == c.AdminListen && !strings.HasSuffix(c.Listen, ":0") {
		add("admin_listen (SCIM_BRIDGE_ADMIN_LISTEN): must differ from listen (%s)", c.Listen)
	}
	switch {
	case strings.HasPrefix(c.Store, "sqlite:"):
		if strings.TrimPrefix(c.Store, "sqlite:") == "" {
			add("store (SCIM_BRIDGE_STORE): sqlite needs a file path, e.g. sqlite:/var/lib/scim-bridge/state.db")
		}
	case strings.HasPrefix(c.Store, "postgres://"), strings.HasPrefix(c.Store, "postgresql://"):
		if u, err := url.Parse(c.Store); err != nil || u.Host == "" {
			add("store (SCIM_BRIDGE_STORE): malformed postgres URL; want postgres://USER:PASSWORD@HOST:5432/DB")
		}
	default:
		add("store (SCIM_BRIDGE_STORE): %q is neither sqlite:PATH nor a postgres:// URL", redactDSN(c.Store))
	}

	for _, t := range []struct {
		field, env string
		v          TLS
	}{
		{"tls", "SCIM_BRIDGE_TLS", c.TLS},
		{"admin_tls", "SCIM_BRIDGE_ADMIN_TLS", c.AdminTLS},
	} {
		if t.v.Enabled() && (t.v.CertFile == "" || t.v.KeyFile == "") {
			add("%s (%s_CERT_FILE, %s_KEY_FILE): set both the certificate and the key file, or neither", t.field, t.env, t.env)
		}
	}
	if c.PublicURL != "" {
		checkURL(add, "public_url (SCIM_BRIDGE_PUBLIC_URL)", c.PublicURL, "the SCIM base URL the IdP uses, e.g. https://scim.example.com/scim/v2")
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		add("log.format (SCIM_BRIDGE_LOG_FORMAT): %q is not json or text", c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level (SCIM_BRIDGE_LOG_LEVEL): %q is not debug, info, warn or error", c.Log.Level)
	}

	s := c.Sigma
	if s.APIURL != "" && !looksLikeRegion(s.APIURL) {
		checkURL(add, "sigma.api_url (SCIM_BRIDGE_SIGMA_API_URL)", s.APIURL, "a Sigma API host such as https://aws-api.sigmacomputing.com, or a region name such as aws-us-west or aws-eu")
		if u, err := url.Parse(s.APIURL); err == nil && strings.HasPrefix(strings.TrimSuffix(u.Path, "/"), "/v2") {
			add("sigma.api_url (SCIM_BRIDGE_SIGMA_API_URL): give the host without /v2 (%s)", u.Scheme+"://"+u.Host)
		}
	}
	if s.SCIMURL != "" {
		checkURL(add, "sigma.scim_url (SCIM_BRIDGE_SIGMA_SCIM_URL)", s.SCIMURL, "Sigma's Directory Base URL, as shown when SCIM provisioning was enabled")
	}
	if !s.ClientSecret.IsZero() && s.ClientSecretFile != "" {
		add("sigma.client_secret (SCIM_BRIDGE_SIGMA_CLIENT_SECRET): set both as a value and as a file (client_secret_file); choose one")
	}
	if !s.SCIMToken.IsZero() && s.SCIMTokenFile != "" {
		add("sigma.scim_token (SCIM_BRIDGE_SIGMA_SCIM_TOKEN): set both as a value and as a file (scim_token_file); choose one")
	}
	hasSecret := !s.ClientSecret.IsZero() || s.ClientSecretFile != ""
	hasToken := !s.SCIMToken.IsZero() || s.SCIMTokenFile != ""
	rest := s.APIURL != "" || s.ClientID != "" || hasSecret
	scim := s.SCIMURL != "" || hasToken
	restMissing := missing(map[string]bool{
		"sigma.api_url (SCIM_BRIDGE_SIGMA_API_URL)":                                          s.APIURL == "",
		"sigma.client_id (SCIM_BRIDGE_SIGMA_CLIENT_ID)":                                      s.ClientID == "",
		"sigma.client_secret or client_secret_file (SCIM_BRIDGE_SIGMA_CLIENT_SECRET[_FILE])": !hasSecret,
	})
	scimMissing := missing(map[string]bool{
		"sigma.scim_url (SCIM_BRIDGE_SIGMA_SCIM_URL)":                               s.SCIMURL == "",
		"sigma.scim_token or scim_token_file (SCIM_BRIDGE_SIGMA_SCIM_TOKEN[_FILE])": !hasToken,
	})
	switch s.Mode {
	case ModeREST:
		if len(restMissing) > 0 {
			add("sigma.mode (SCIM_BRIDGE_SIGMA_MODE): rest needs %s", strings.Join(restMissing, ", "))
		}
	case ModeSCIM:
		if len(scimMissing) > 0 {
			add("sigma.mode (SCIM_BRIDGE_SIGMA_MODE): scim needs %s", strings.Join(scimMissing, ", "))
		}
	case ModeAuto:
		switch {
		case !rest && !scim:
			add("sigma: no connection configured; set the REST API credentials (SCIM_BRIDGE_SIGMA_API_URL, _CLIENT_ID, _CLIENT_SECRET) and/or the Enterprise SCIM endpoint (SCIM_BRIDGE_SIGMA_SCIM_URL, _SCIM_TOKEN)")
		default:
			if rest && len(restMissing) > 0 {
				add("sigma: REST API configuration is incomplete: missing %s", strings.Join(restMissing, ", "))
			}
			if scim && len(scimMissing) > 0 {
				add("sigma: Enterprise SCIM configuration is incomplete: missing %s", strings.Join(scimMissing, ", "))
			}
		}
	default:
		add("sigma.mode (SCIM_BRIDGE_SIGMA_MODE): %q is not auto, scim or rest", s.Mode)
	}
	if s.MaxConcurrent < 1 {
		add("sigma.max_concurrent: must be at least 1, got %d", s.MaxConcurrent)
	}
	if s.RequestsPerSecond <= 0 {
		add("sigma.requests_per_second: must be above 0, got %g", s.RequestsPerSecond)
	}
	if b := s.ReadRetryBudget.D(); b < 0 || b > 5*time.Minute {
		add("sigma.read_retry_budget: must be between 0s and 5m, got %s", b)
	}
	if s.ProbeInterval.D() < time.Second {
		add("sigma.probe_interval: must be at least 1s, got %s", s.ProbeInterval.D())
	}
	aliases := make([]string, 0, len(s.AccountTypeAliases))
	for k := range s.AccountTypeAliases {
		aliases = append(aliases, k)
	}
	sort.Strings(aliases)
	for _, k := range aliases {
		v := s.AccountTypeAliases[k]
		if strings.TrimSpace(k) == "" || strings.TrimSpace(v) == "" {
			add("sigma.account_type_aliases: %q: %q: alias and account type must both be non-empty", k, v)
		}
	}

	for i, r := range c.Provisioning.GroupRules {
		if strings.TrimSpace(r.Group) == "" {
			add("provisioning.group_rules[%d].group: must name an IdP group (displayName)", i)
		}
		if strings.TrimSpace(r.AccountType) == "" {
			add("provisioning.group_rules[%d].account_type: must name a Sigma account type", i)
		}
	}
	if c.Provisioning.ResyncInterval.D() < time.Second {
		add("provisioning.resync_interval: must be at least 1s, got %s", c.Provisioning.ResyncInterval.D())
	}
	if p := c.Provisioning.PeerPollInterval.D(); p != 0 && (p < 100*time.Millisecond || p > c.Provisioning.ResyncInterval.D()) {
		add("provisioning.peer_poll_interval: must be 0s (off) or between 100ms and resync_interval, got %s", p)
	}
	if c.Tokens.CacheTTL.D() < 0 || c.Tokens.CacheTTL.D() > 5*time.Minute {
		add("tokens.cache_ttl: must be between 0s and 5m, got %s", c.Tokens.CacheTTL.D())
	}
	if c.Audit.Retention.D() < 0 {
		add("audit.retention: must not be negative, got %s", c.Audit.Retention.D())
	}
	h := c.HTTP
	for _, d := range []struct {
		name string
		v    Duration
	}{
		{"http.read_header_timeout", h.ReadHeaderTimeout},
		{"http.read_timeout", h.ReadTimeout},
		{"http.write_timeout", h.WriteTimeout},
		{"http.idle_timeout", h.IdleTimeout},
		{"http.shutdown_timeout (SCIM_BRIDGE_SHUTDOWN_TIMEOUT)", h.ShutdownTimeout},
	} {
		if d.v <= 0 {
			add("%s: must be above 0, got %s", d.name, d.v.D())
		}
	}
	if h.MaxBodyBytes < 1024 {
		add("http.max_body_bytes: must be at least 1024, got %d", h.MaxBodyBytes)
	}

	validateSeats(add, c.Seats)

	if len(p) > 0 {
		return &Error{Problems: p}
	}
	return nil
}

func validateSeats(add func(string, ...any), s Seats) {
	if s.Total < 0 {
		add("seats.total (SCIM_BRIDGE_SEATS_TOTAL): must be a number of seats, or 0 for no total limit; got %d", s.Total)
	}
	names := make([]string, 0, len(s.ByAccountType))
	for k := range s.ByAccountType {
		names = append(names, k)
	}
	sort.Strings(names)
	const field = "seats.by_account_type (SCIM_BRIDGE_SEATS_BY_ACCOUNT_TYPE)"
	seen := map[string]string{}
	for _, k := range names {
		n := s.ByAccountType[k]
		switch {
		case strings.TrimSpace(k) == "":
			add("%s: an account type name is empty", field)
		case seen[strings.ToLower(k)] != "":
			add("%s: %q and %q are the same account type (names are compared without regard to case); keep one", field, seen[strings.ToLower(k)], k)
		case n < 1:
			add("%s: %q: must be at least 1 seat, got %d; remove the account type for no limit", field, k, n)
		case s.Total > 0 && n > s.Total:
			add("%s: %q: %d seats is more than seats.total (%d)", field, k, n, s.Total)
		}
		seen[strings.ToLower(k)] = k
	}
}

// looksLikeRegion reports whether v is shaped like a region name rather
// than a URL. Whether the region exists is checked by the sigma package,
// which owns the region table, when the client is built.
func looksLikeRegion(v string) bool {
	if v == "" {
		return false
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

func missing(m map[string]bool) []string {
	var out []string
	for k, v := range m {
		if v {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func checkURL(add func(string, ...any), field, v, want string) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		add("%s: %q is not a URL; want %s", field, redactURL(v), want)
		return
	}
	if u.User != nil {
		add("%s: must not carry credentials in the URL; use the secret settings", field)
	}
}

// redactURL hides userinfo in a URL-like string for error messages.
func redactURL(v string) string {
	if u, err := url.Parse(v); err == nil && u.User != nil {
		u.User = url.User("redacted")
		return u.String()
	}
	return v
}

// redactDSN hides passwords in a store DSN for error messages.
func redactDSN(v string) string {
	if u, err := url.Parse(v); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "redacted")
		}
		return u.String()
	}
	return v
}

// RedactedStore returns the store setting safe to print.
func (c *Config) RedactedStore() string { return redactDSN(c.Store) }
