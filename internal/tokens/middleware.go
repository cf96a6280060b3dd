package tokens

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/scimbridge/scim-bridge/internal/store"
)

type ctxKey struct{}

// NameFrom returns the name of the token that authenticated the request
// whose context this is, or "" if none did.
func NameFrom(ctx context.Context) string {
	n, _ := ctx.Value(ctxKey{}).(string)
	return n
}

// WithName returns ctx carrying name as the authenticated token name (for
// tests of handlers that sit behind Middleware).
func WithName(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, ctxKey{}, name)
}

// ScimErrorSchema is the schema URN of a SCIM error response (RFC 7644 §3.12).
const ScimErrorSchema = "urn:ietf:params:scim:api:messages:2.0:Error"

// Middleware guards the SCIM API. It authenticates every request with its
// `Authorization: Bearer` token and passes it on with the token's name in
// the context (NameFrom). A refused request gets 401 with a SCIM error
// body saying what to fix and a WWW-Authenticate challenge; it never
// echoes the token. A valid token used beyond its scope gets 403 with a
// SCIM error body: an admin token (ScopeAdmin) on any SCIM endpoint, a
// read-only one (ScopeSCIMRead) on anything but a read. A token presented
// from outside its networks is refused exactly like an unknown one.
//
// Failed authentications are counted per client address; once an address
// has spent Options.FailureBurst failures, its requests get 429 with
// Retry-After until the bucket refills, and they are refused before any
// token is looked up, so a brute-force run costs the store nothing. The
// one exception is a token this process has already verified: it is
// checked as usual (from the cache, or with one store read once the cache
// entry is stale), so an IdP that shares its address with a failing client
// keeps being served. If the store cannot be reached for a token not in
// the cache, the answer is 503.
func (s *Service) Middleware(next http.Handler) http.Handler {
	return s.guard(scimFront, next)
}

// AdminMiddleware guards pages of the admin listener that show more than
// health (the status page): only a token issued with ScopeAdmin (`token
// create --admin`) opens them, from its networks if it has any. The token
// is sent as `Authorization: Bearer <token>`, or, so that a browser can
// prompt for it, as the password of HTTP Basic authentication (any user
// name). A refused request gets 401 text with a Basic challenge; a SCIM
// token gets 403. Failures count against the same per-address limit as on
// the SCIM listener.
func (s *Service) AdminMiddleware(next http.Handler) http.Handler {
	return s.guard(adminFront, next)
}

// front is what differs between the listeners a Service guards: how the
// token is sent, which scopes are admitted, and how refusals are written.
type front struct {
	bearer func(r *http.Request) (string, *AuthError)
	// forbid says why tok may not make request r ("" if it may) and the
	// detail to answer 403 with.
	forbid    func(tok store.Token, r *http.Request) (reason, detail string)
	challenge func(Reason) string
	write     func(w http.ResponseWriter, status int, detail string)
}

var scimFront = front{
	bearer: bearerFrom,
	forbid: func(tok store.Token, r *http.Request) (string, string) {
		switch Scope(tok.Scope) {
		case ScopeAdmin:
			return forbidAdmin, fmt.Sprintf("bearer token %q has the admin scope: it opens the admin status page, not the SCIM API; give the identity provider a token from `scim-bridge token create --name NAME`", tok.Name)
		case ScopeSCIMRead:
			if !isSCIMRead(r) {
				return forbidReadOnly, fmt.Sprintf("bearer token %q is read-only (scope scim:read): %s needs a read-write token from `scim-bridge token create --name NAME`", tok.Name, r.Method)
			}
		}
		return "", ""
	},
	challenge: func(r Reason) string {
		if r == ReasonMissing {
			// RFC 6750 §3.1: no error code when no credentials were sent.
			return `Bearer realm="scim-bridge"`
		}
		return `Bearer realm="scim-bridge", error="invalid_token"`
	},
	write: writeSCIMError,
}

var adminFront = front{
	bearer: adminBearerFrom,
	forbid: func(tok store.Token, _ *http.Request) (string, string) {
		if Scope(tok.Scope) != ScopeAdmin {
			return forbidNotAdmin, fmt.Sprintf("bearer token %q is an identity provider (SCIM) token; the status page needs a token from `scim-bridge token create --admin --name NAME`", tok.Name)
		}
		return "", ""
	},
	challenge: func(Reason) string { return `Basic realm="scim-bridge admin", charset="UTF-8"` },
	write: func(w http.ResponseWriter, status int, detail string) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, detail+"\n")
	},
}

func (s *Service) guard(f front, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip, host := clientIP(r, s.opts.TrustForwardedFor)
		addr := limiterKey(ip, host)
		tok, err := s.authenticate(r, f, addr, ip)
		if err == nil {
			if reason, detail := f.forbid(tok, r); reason != "" {
				s.m.forbidden.WithLabelValues(reason).Inc()
				s.log.Debug("token used beyond its scope", "addr", addr, "token_name", tok.Name, "scope", Scope(tok.Scope).String(), "reason", reason)
				f.write(w, http.StatusForbidden, detail)
				return
			}
			next.ServeHTTP(w, r.WithContext(WithName(r.Context(), tok.Name)))
			return
		}
		var le *limitedError
		if errors.As(err, &le) {
			s.m.limited.Inc()
			secs := max(1, int(math.Ceil(le.wait.Seconds())))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			f.write(w, http.StatusTooManyRequests,
				fmt.Sprintf("too many failed authentications from this address; retry after %d seconds with a valid bearer token", secs))
			return
		}
		var ae *AuthError
		if !errors.As(err, &ae) {
			s.log.Error("authenticate request", "err", err)
			w.Header().Set("Retry-After", "5")
			f.write(w, http.StatusServiceUnavailable, "the bridge cannot check bearer tokens right now (token store unavailable); retry later")
			return
		}
		if s.lim.fail(addr, s.now()) {
			s.log.Warn("failed authentications from one address over the limit; answering 429 until it slows down",
				"addr", addr, "last_reason", string(ae.Reason))
		} else {
			s.log.Debug("authentication failed", "addr", addr, "reason", string(ae.Reason), "token_name", ae.Name)
		}
		w.Header().Set("WWW-Authenticate", f.challenge(ae.Reason))
		f.write(w, http.StatusUnauthorized, ae.Detail())
	})
}

// limitedError refuses a request from an address that has spent its
// failures; wait is how long until it may fail once more.
type limitedError struct{ wait time.Duration }

func (e *limitedError) Error() string { return "authenticate: too many failures from this address" }

// authenticate returns the token r carries, or why not. The limiter is
// asked first: a blocked address gets *limitedError without its token
// being looked up, unless the token is one this process has already
// verified and that may be used from ip (see Middleware).
func (s *Service) authenticate(r *http.Request, f front, addr string, ip netip.Addr) (store.Token, error) {
	bearer, aerr := f.bearer(r)
	if wait, blocked := s.lim.blocked(addr, s.now()); blocked && (aerr != nil || !s.knownGood(bearer, ip)) {
		return store.Token{}, &limitedError{wait: wait}
	}
	if aerr != nil {
		s.m.failures.WithLabelValues(string(aerr.Reason)).Inc()
		return store.Token{}, aerr
	}
	return s.Verify(r.Context(), bearer, ip)
}

// bearerFrom extracts the token from the Authorization header. It returns
// an *AuthError (missing or malformed) when there is none to verify.
func bearerFrom(r *http.Request) (string, *AuthError) {
	vals := r.Header.Values("Authorization")
	if len(vals) == 0 || strings.TrimSpace(vals[0]) == "" {
		return "", &AuthError{Reason: ReasonMissing}
	}
	if len(vals) > 1 {
		return "", &AuthError{Reason: ReasonMalformed}
	}
	scheme, tok, ok := strings.Cut(strings.TrimSpace(vals[0]), " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || strings.ContainsAny(tok, " \t") {
		return "", &AuthError{Reason: ReasonMalformed}
	}
	return tok, nil
}

// adminBearerFrom extracts the token from `Authorization: Bearer <token>`
// or from the password of `Authorization: Basic` (what a browser sends
// after prompting).
func adminBearerFrom(r *http.Request) (string, *AuthError) {
	if _, pw, ok := r.BasicAuth(); ok {
		if pw == "" {
			return "", &AuthError{Reason: ReasonMissing}
		}
		return pw, nil
	}
	return bearerFrom(r)
}

type scimError struct {
	Schemas []string `json:"schemas"`
	Status  string   `json:"status"`
	Detail  string   `json:"detail"`
}

func writeSCIMError(w http.ResponseWriter, status int, detail string) {
	body, _ := json.Marshal(scimError{Schemas: []string{ScimErrorSchema}, Status: strconv.Itoa(status), Detail: detail})
	w.Header().Set("Content-Type", "application/scim+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
