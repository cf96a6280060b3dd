package sigma

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/sync/singleflight"

	"github.com/scimbridge/scim-bridge/internal/secret"
)

const tokenEndpoint = "/v2/auth/token"

// tokenCache holds the one access token shared by every caller of a Client.
//
// oauth2.ReuseTokenSource is not enough: it cannot be told that a token it
// still believes valid was rejected with a 401. Here a 401 drops exactly the
// token that was rejected (by generation), and fetches are coalesced through
// singleflight so that any number of concurrent callers cause one token
// request. The token endpoint allows about one request per second, so a
// token request is sent no sooner than minInterval after the previous one
// ended (measured from its end, so the server sees at least that spacing
// between arrivals).
type tokenCache struct {
	tokenURL    string
	clientID    string
	source      secret.Source
	hc          *http.Client
	m           *metrics
	log         *slog.Logger
	minInterval time.Duration
	now         func() time.Time
	lastDone    time.Time // end of the previous token request; guarded by the singleflight

	mu  sync.Mutex
	tok *oauth2.Token
	gen uint64
	sf  singleflight.Group
}

// fetchTimeout bounds one coalesced fetch; it runs detached from the first
// caller's context so that caller's cancellation does not fail the others.
const fetchTimeout = 30 * time.Second

func (t *tokenCache) valid(tok *oauth2.Token) bool {
	if tok == nil || tok.AccessToken == "" {
		return false
	}
	if tok.Expiry.IsZero() {
		return true
	}
	at, ok := tok.Extra("refresh_at").(time.Time)
	if !ok {
		at = tok.Expiry
	}
	return t.now().Before(at)
}

// refreshJitter is the largest share of a token's lifetime by which its
// refresh is moved earlier at random. Replicas started together each hold
// their own token, fetched in the same second; without it they would all
// refresh in the same second an hour later and trip the token endpoint's
// 1 request/s limit, every hour (issue 10.7).
const refreshJitter = 0.1

// stamp records on a freshly fetched tok when this cache will refresh it:
// a margin before expiry (30s, at most a quarter of the lifetime, so that
// short-lived tokens are not refetched on every call), plus a random share
// of up to refreshJitter of the lifetime. With Sigma's 1h tokens replicas
// refresh anywhere from 6m30s to 30s before expiry.
func (t *tokenCache) stamp(tok *oauth2.Token) *oauth2.Token {
	now := t.now()
	refresh := tok.Expiry
	if life := tok.Expiry.Sub(now); !tok.Expiry.IsZero() && life > 0 {
		margin := min(30*time.Second, life/4)
		jitter := time.Duration(rand.Float64() * refreshJitter * float64(life))
		refresh = tok.Expiry.Add(-margin - jitter)
	}
	return tok.WithExtra(map[string]any{"refresh_at": refresh})
}

// authorize implements authorizer.
func (t *tokenCache) authorize(ctx context.Context, req *http.Request) (uint64, error) {
	tok, gen, err := t.get(ctx)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	return gen, nil
}

// rejected implements authorizer: drop the token if it is still the one
// that was rejected.
func (t *tokenCache) rejected(_ context.Context, gen uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.gen == gen {
		t.tok = nil
	}
}

// get returns a valid access token, fetching one if needed.
func (t *tokenCache) get(ctx context.Context) (string, uint64, error) {
	if tok, gen, ok := t.cached(); ok {
		return tok, gen, nil
	}
	ch := t.sf.DoChan("token", func() (any, error) {
		if _, _, ok := t.cached(); ok {
			return nil, nil // a flight that just ended already refreshed it
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		defer cancel()
		tok, err := t.fetch(fctx)
		if err != nil {
			return nil, err
		}
		t.mu.Lock()
		t.tok = tok
		t.gen++
		t.mu.Unlock()
		return nil, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return "", 0, r.Err
		}
	case <-ctx.Done():
		return "", 0, fmt.Errorf("wait for sigma token: %w", ctx.Err())
	}
	if tok, gen, ok := t.cached(); ok {
		return tok, gen, nil
	}
	// Invalidated between the flight and now by a concurrent 401: report it
	// as retryable auth failure so the caller's loop tries again.
	return "", 0, &APIError{Status: http.StatusUnauthorized, Code: "unauthorized", Method: "POST",
		Endpoint: tokenEndpoint, Reason: ReasonAuth, Retryable: true, Message: "token invalidated while fetching"}
}

func (t *tokenCache) cached() (string, uint64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.valid(t.tok) {
		return t.tok.AccessToken, t.gen, true
	}
	return "", 0, false
}

// fetch asks the token endpoint for a new token. The secret is read from
// its source each time; if the endpoint rejects the credentials, the source
// is re-read from its origin once and the request repeated.
func (t *tokenCache) fetch(ctx context.Context) (*oauth2.Token, error) {
	sec, err := t.source.Current(ctx)
	if err != nil {
		return nil, fmt.Errorf("read sigma client secret: %w", err)
	}
	tok, err := t.request(ctx, sec)
	var ae *APIError
	if errors.As(err, &ae) && ae.Reason == ReasonAuth {
		t.log.DebugContext(ctx, "sigma token endpoint rejected the credentials, re-reading the client secret")
		sec2, rerr := t.source.Refresh(ctx)
		if rerr != nil {
			return nil, fmt.Errorf("%w (re-reading the client secret failed: %v)", ae, rerr)
		}
		tok, err = t.request(ctx, sec2)
	}
	return tok, err
}

func (t *tokenCache) request(ctx context.Context, sec secret.Value) (*oauth2.Token, error) {
	if wait := time.Until(t.lastDone.Add(t.minInterval)); wait > 0 {
		if err := sleepCtx(ctx, wait); err != nil {
			return nil, fmt.Errorf("wait for sigma token endpoint: %w", err)
		}
	}
	defer func() { t.lastDone = time.Now() }()
	cc := clientcredentials.Config{
		ClientID:     t.clientID,
		ClientSecret: sec.Reveal(),
		TokenURL:     t.tokenURL,
		// Explicit: auto-detection would send a second request after every
		// rejection, doubling load on a 1 request/s endpoint.
		AuthStyle: oauth2.AuthStyleInParams,
	}
	t.m.tokenRefresh.Inc()
	start := time.Now()
	tok, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, t.hc))
	elapsed := time.Since(start).Seconds()
	if err == nil {
		t.m.observe(tokenEndpoint, "POST", http.StatusOK, ReasonOK, elapsed)
		t.log.DebugContext(ctx, "sigma token obtained", "expires", tok.Expiry)
		return t.stamp(tok), nil
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		ae := newHTTPError("POST", tokenEndpoint, re.Response, re.Body)
		if ae.Status == http.StatusBadRequest && (ae.Code == "invalid_client" || ae.Code == "unauthorized_client" || ae.Code == "invalid_grant") {
			ae.Reason = ReasonAuth
		}
		if ae.Message == "" {
			var oe struct {
				Desc string `json:"error_description"`
			}
			if json.Unmarshal(re.Body, &oe) == nil {
				ae.Message = oe.Desc
			}
		}
		ae.Message = scrub(ae.Message, sec)
		t.m.observe(tokenEndpoint, "POST", ae.Status, ae.Reason, elapsed)
		return nil, ae
	}
	if ctx.Err() != nil {
		t.m.observe(tokenEndpoint, "POST", 0, ReasonTransport, elapsed)
		return nil, fmt.Errorf("sigma token request: %w", ctx.Err())
	}
	t.m.observe(tokenEndpoint, "POST", 0, ReasonTransport, elapsed)
	// oauth2 formats transport errors with %v, so they cannot be unwrapped;
	// the text holds the token URL (no credentials: they travel in the
	// form body) and, defensively, is scrubbed of the secret anyway.
	return nil, &APIError{Method: "POST", Endpoint: tokenEndpoint, Reason: ReasonTransport,
		Retryable: true, Err: errors.New(scrub(err.Error(), sec))}
}

// scrub removes any occurrence of the secret from s.
func scrub(s string, sec secret.Value) string {
	if v := sec.Reveal(); len(v) >= 4 {
		s = strings.ReplaceAll(s, v, secret.Redacted)
	}
	return s
}
