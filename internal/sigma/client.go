package sigma

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"
)

// Client calls Sigma's REST API v2. It is safe for concurrent use; all
// callers share one access token, one pacing budget and one account type
// cache, so build one Client per Sigma org and share it.
type Client struct {
	co      *core
	tokens  *tokenCache
	invite  bool
	aliases map[string]string // lower-cased alias -> target name
	atTTL   time.Duration

	atMu     sync.Mutex
	atList   []AccountType
	atLoaded time.Time
	atSF     singleflight.Group
	now      func() time.Time
}

// NewClient checks cfg, applies defaults and registers the client's metrics
// on reg (nil: not registered). It makes no network call; use Ping for that.
func NewClient(cfg Config, reg prometheus.Registerer) (*Client, error) {
	base, err := ResolveHost(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("new sigma client: %w", err)
	}
	var problems []string
	if strings.TrimSpace(cfg.ClientID) == "" {
		problems = append(problems, "client id is empty")
	}
	if cfg.ClientSecret == nil {
		problems = append(problems, "client secret source is missing")
	}
	if cfg.MaxConcurrent < 0 || cfg.RequestsPerSecond < 0 || cfg.AccountTypeTTL < 0 || cfg.RetryBaseDelay < 0 || cfg.RetryMaxDelay < 0 {
		problems = append(problems, "negative pacing, delay or ttl")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("new sigma client: %s", strings.Join(problems, "; "))
	}
	cfg = withDefaults(cfg)
	m := newMetrics(reg, PathREST, restEndpoints)
	tc := &tokenCache{
		tokenURL:    base + tokenEndpoint,
		clientID:    cfg.ClientID,
		source:      cfg.ClientSecret,
		hc:          cfg.HTTPClient,
		m:           m,
		log:         cfg.Logger,
		minInterval: time.Second,
		now:         time.Now,
	}
	c := &Client{
		co:      newCore(base, tc, cfg, m),
		tokens:  tc,
		invite:  cfg.SendInvite,
		aliases: make(map[string]string, len(cfg.AccountTypeAliases)),
		atTTL:   cfg.AccountTypeTTL,
		now:     time.Now,
	}
	for k, v := range cfg.AccountTypeAliases {
		c.aliases[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	return c, nil
}

func withDefaults(cfg Config) Config {
	if cfg.MaxConcurrent == 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.RequestsPerSecond == 0 {
		cfg.RequestsPerSecond = DefaultRequestsPerSecond
	}
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = DefaultMaxRetries
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}
	switch {
	case cfg.ReadRetryBudget == 0:
		cfg.ReadRetryBudget = DefaultReadRetryBudget
	case cfg.ReadRetryBudget < 0:
		cfg.ReadRetryBudget = 0
	}
	if cfg.RetryBaseDelay == 0 {
		cfg.RetryBaseDelay = DefaultRetryBaseDelay
	}
	if cfg.RetryMaxDelay == 0 {
		cfg.RetryMaxDelay = DefaultRetryMaxDelay
	}
	if cfg.AccountTypeTTL == 0 {
		cfg.AccountTypeTTL = DefaultAccountTypeTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 60 * time.Second}
	}
	return cfg
}

// BaseURL is the resolved REST host the client talks to.
func (c *Client) BaseURL() string { return c.co.base }

// Ping obtains an access token (from the cache or the token endpoint),
// proving that the host is reachable and the client credentials work. It is
// what readiness and `scim-bridge check` call.
func (c *Client) Ping(ctx context.Context) error {
	if _, _, err := c.tokens.get(ctx); err != nil {
		return fmt.Errorf("sigma auth: %w", err)
	}
	return nil
}

// wrap prefixes err with op unless it is nil.
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// isNotFound reports whether err is a plain 404.
func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
