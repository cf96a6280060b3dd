package tokens

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
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

// Middleware authenticates every request with its `Authorization: Bearer`
// token and passes it on with the token's name in the context (NameFrom).
// A refused request gets 401 with a SCIM error body saying what to fix and
// a WWW-Authenticate challenge; it never echoes the token.
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
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr := clientAddr(r, s.opts.TrustForwardedFor)
		name, err := s.authenticate(r, addr)
		if err == nil {
			next.ServeHTTP(w, r.WithContext(WithName(r.Context(), name)))
			return
		}
		var le *limitedError
		if errors.As(err, &le) {
			s.m.limited.Inc()
			secs := max(1, int(math.Ceil(le.wait.Seconds())))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			writeSCIMError(w, http.StatusTooManyRequests,
				fmt.Sprintf("too many failed authentications from this address; retry after %d seconds with a valid bearer token", secs))
			return
		}
		var ae *AuthError
		if !errors.As(err, &ae) {
			s.log.Error("authenticate request", "err", err)
			w.Header().Set("Retry-After", "5")
			writeSCIMError(w, http.StatusServiceUnavailable, "the bridge cannot check bearer tokens right now (token store unavailable); retry later")
			return
		}
		if s.lim.fail(addr, s.now()) {
			s.log.Warn("failed authentications from one address over the limit; answering 429 until it slows down",
				"addr", addr, "last_reason", string(ae.Reason))
		} else {
			s.log.Debug("authentication failed", "addr", addr, "reason", string(ae.Reason), "token_name", ae.Name)
		}
		challenge := `Bearer realm="scim-bridge", error="invalid_token"`
		if ae.Reason == ReasonMissing {
			// RFC 6750 §3.1: no error code when no credentials were sent.
			challenge = `Bearer realm="scim-bridge"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
		writeSCIMError(w, http.StatusUnauthorized, ae.Detail())
	})
}

// limitedError refuses a request from an address that has spent its
// failures; wait is how long until it may fail once more.
type limitedError struct{ wait time.Duration }

func (e *limitedError) Error() string { return "authenticate: too many failures from this address" }

// authenticate returns the name of the token r carries, or why not. The
// limiter is asked first: a blocked address gets *limitedError without its
// token being looked up, unless the token is one this process has already
// verified (see Middleware).
func (s *Service) authenticate(r *http.Request, addr string) (string, error) {
	bearer, aerr := bearerFrom(r)
	if wait, blocked := s.lim.blocked(addr, s.now()); blocked && (aerr != nil || !s.knownGood(bearer)) {
		return "", &limitedError{wait: wait}
	}
	if aerr != nil {
		s.m.failures.WithLabelValues(string(aerr.Reason)).Inc()
		return "", aerr
	}
	t, err := s.Verify(r.Context(), bearer)
	return t.Name, err
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
