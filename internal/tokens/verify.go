package tokens

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/scimbridge/scim-bridge/internal/store"
)

// maxNegative bounds the "no such token" cache; past it the cache is
// cleared rather than grown (it only saves store lookups).
const maxNegative = 4096

// Verify checks a bearer token (the part after "Bearer ") presented by a
// client at address from, and returns the token record if it may be used
// now. A refused token gives an *AuthError (Reason missing, malformed,
// unknown, expired, revoked, or network: a token limited to networks that
// do not hold from, which includes an invalid from); any other error means
// the store could not be asked and nothing is known about the token. The
// token's Scope is not checked: the middlewares check it against what the
// request does.
//
// Verify reads the store at most once per token per CacheTTL; see the
// package comment for what that means for revocation.
func (s *Service) Verify(ctx context.Context, bearer string, from netip.Addr) (store.Token, error) {
	tok, err := s.verify(ctx, bearer, from)
	var ae *AuthError
	if errors.As(err, &ae) {
		s.m.failures.WithLabelValues(string(ae.Reason)).Inc()
	}
	return tok, err
}

func (s *Service) verify(ctx context.Context, bearer string, from netip.Addr) (store.Token, error) {
	if bearer == "" {
		return store.Token{}, &AuthError{Reason: ReasonMissing}
	}
	if !wellFormed(s.opts.Prefix, bearer) {
		return store.Token{}, &AuthError{Reason: ReasonMalformed}
	}
	hash := hashSecret(bearer)
	tok, err := s.lookup(ctx, hash)
	if err != nil {
		return store.Token{}, err
	}
	// The cache and store are keyed by the hash; comparing it again in
	// constant time means no code path decides on a secret-dependent
	// early exit.
	if subtle.ConstantTimeCompare(tok.Hash, hash) != 1 {
		return store.Token{}, &AuthError{Reason: ReasonUnknown}
	}
	now := s.now()
	switch stateAt(tok, now) {
	case StateRevoked:
		return store.Token{}, &AuthError{Reason: ReasonRevoked, Name: tok.Name}
	case StateExpired:
		return store.Token{}, &AuthError{Reason: ReasonExpired, Name: tok.Name, Superseded: !tok.SupersededAt.IsZero()}
	}
	if !fromAllowed(tok.Networks, from) {
		return store.Token{}, &AuthError{Reason: ReasonNetwork, Name: tok.Name}
	}
	s.touch(tok.ID, now)
	return tok, nil
}

// lookup returns the token with hash from the cache or the store;
// *AuthError{unknown} if there is none.
func (s *Service) lookup(ctx context.Context, hash []byte) (store.Token, error) {
	key := string(hash)
	now := s.now()
	s.mu.Lock()
	if e, ok := s.pos[key]; ok && s.opts.CacheTTL > 0 && now.Sub(e.fetched) < s.opts.CacheTTL {
		s.mu.Unlock()
		return e.tok, nil
	}
	if at, ok := s.neg[key]; ok && s.opts.NegativeCacheTTL > 0 && now.Sub(at) < s.opts.NegativeCacheTTL {
		s.mu.Unlock()
		return store.Token{}, &AuthError{Reason: ReasonUnknown}
	}
	s.mu.Unlock()

	// Concurrent requests with the same token share one store read. The
	// read is detached from the first caller's cancellation so that one
	// client hanging up does not fail the others.
	v, err, _ := s.sf.Do(key, func() (any, error) {
		s.mu.Lock()
		gen := s.gen
		s.mu.Unlock()
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.StoreTimeout)
		defer cancel()
		tok, err := s.st.TokenByHash(lctx, hash)
		fetched := s.now()
		s.mu.Lock()
		defer s.mu.Unlock()
		if errors.Is(err, store.ErrNotFound) {
			if s.opts.NegativeCacheTTL > 0 && s.gen == gen {
				if len(s.neg) >= maxNegative {
					clear(s.neg)
				}
				s.neg[key] = fetched
			}
			return nil, &AuthError{Reason: ReasonUnknown}
		}
		if err != nil {
			return nil, fmt.Errorf("verify bearer token: %w", err)
		}
		// An invalidation that happened while the read was in flight may
		// have changed the row after we read it: do not cache the old copy.
		if s.opts.CacheTTL > 0 && s.gen == gen {
			s.pos[key] = cacheEntry{tok: tok, fetched: fetched}
			delete(s.neg, key)
		}
		return tok, nil
	})
	if err != nil {
		return store.Token{}, err
	}
	return v.(store.Token), nil
}

// knownGood reports, without asking the store, whether bearer is a token
// this process has verified before (its cache entry may be stale) and that
// may be used from addr. Only a holder of the secret can present it, so
// letting it through to a normal verification costs the store at most one
// read per CacheTTL.
func (s *Service) knownGood(bearer string, from netip.Addr) bool {
	if !wellFormed(s.opts.Prefix, bearer) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.pos[string(hashSecret(bearer))]
	return ok && fromAllowed(e.tok.Networks, from)
}

// invalidate drops every cached record of name (and all negative entries),
// so a change made through this Service is seen here at once.
func (s *Service) invalidate(name string) {
	s.mu.Lock()
	s.gen++
	for k, e := range s.pos {
		if e.tok.Name == name {
			delete(s.pos, k)
		}
	}
	clear(s.neg)
	s.mu.Unlock()
	s.invalidateList()
}

// touch records a verified use, writing it to the store at most once per
// TouchEvery per token, in the background.
func (s *Service) touch(id string, at time.Time) {
	s.touchMu.Lock()
	defer s.touchMu.Unlock()
	ts := s.touches[id]
	if ts == nil {
		ts = &touchState{}
		s.touches[id] = ts
	}
	if at.After(ts.seen) {
		ts.seen = at
	}
	if s.closed || ts.inflight || (!ts.written.IsZero() && at.Sub(ts.written) < s.opts.TouchEvery) {
		return
	}
	ts.inflight = true
	ts.written = at
	s.touchWG.Add(1)
	go func() {
		defer s.touchWG.Done()
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.StoreTimeout)
		defer cancel()
		if err := s.st.TouchToken(ctx, id, at.UTC()); err != nil {
			// Lossy by contract: the next use tries again.
			s.log.Warn("record token last use", "id", id, "err", err)
		}
		s.touchMu.Lock()
		ts.inflight = false
		s.touchMu.Unlock()
	}()
}

func (s *Service) lastSeen(id string) time.Time {
	s.touchMu.Lock()
	defer s.touchMu.Unlock()
	if ts := s.touches[id]; ts != nil {
		return ts.seen
	}
	return time.Time{}
}
