package tokens

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scim-bridge/internal/store"
)

func TestSecretFormat(t *testing.T) {
	seen := make(map[string]bool)
	for range 200 {
		s, hash, display, err := newSecret(DefaultPrefix)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(s, "scimb_") || len(s) != len("scimb_")+bodyLen+checksumLen {
			t.Fatalf("secret %q has the wrong shape", s)
		}
		if !wellFormed(DefaultPrefix, s) {
			t.Fatalf("issued secret not well formed")
		}
		if string(hash) != string(hashSecret(s)) || len(hash) != 32 {
			t.Fatalf("hash is not the SHA-256 of the secret")
		}
		if display != s[:len("scimb_")+displayLen] {
			t.Fatalf("display prefix %q is not the secret's start", display)
		}
		if seen[s] {
			t.Fatalf("duplicate secret")
		}
		seen[s] = true
		// Any single changed character breaks the checksum or alphabet.
		for _, i := range []int{6, 20, len(s) - 1} {
			b := []byte(s)
			b[i] = map[bool]byte{true: 'A', false: 'B'}[b[i] != 'A']
			if wellFormed(DefaultPrefix, string(b)) {
				t.Fatalf("secret with character %d changed still well formed", i)
			}
		}
	}
	for _, bad := range []string{"", "scimb_", "scimb_abc", "ghp_" + strings.Repeat("a", 49), strings.Repeat("a", 55)} {
		if wellFormed(DefaultPrefix, bad) {
			t.Errorf("wellFormed(%q) = true", bad)
		}
	}
}

func TestCreateListRevoke(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	svc, _, _ := newService(t, openSQLite(t), c, Options{})

	okta := mustCreate(t, svc, "okta-prod", 0)
	entra := mustCreate(t, svc, "entra", 90*24*time.Hour)
	if _, _, err := svc.Create(ctx, "okta-prod", 0); !errors.Is(err, store.ErrConflict) ||
		!strings.Contains(err.Error(), "token rotate okta-prod") {
		t.Fatalf("second create of okta-prod: got %v, want a conflict saying to rotate", err)
	}
	for _, bad := range []string{"", "has space", "-leading", strings.Repeat("x", 65), "ünï"} {
		if _, _, err := svc.Create(ctx, bad, 0); !errors.Is(err, ErrInvalidName) {
			t.Errorf("create %q: got %v, want ErrInvalidName", bad, err)
		}
	}
	for _, s := range []string{okta, entra} {
		if _, err := svc.Verify(ctx, s, testAddr); err != nil {
			t.Fatalf("verify fresh token: %v", err)
		}
	}

	infos, err := svc.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 || infos[0].Name != "entra" || infos[1].Name != "okta-prod" {
		t.Fatalf("list = %+v, want entra then okta-prod", infos)
	}
	for _, i := range infos {
		if i.State != StateActive || !i.CreatedAt.Equal(c.Now()) || i.LastUsedAt.IsZero() {
			t.Errorf("%s: state %s created %v last used %v; want active, created now, used", i.Name, i.State, i.CreatedAt, i.LastUsedAt)
		}
	}
	if want := c.Now().Add(90 * 24 * time.Hour); !infos[0].ExpiresAt.Equal(want) {
		t.Errorf("entra expires %v, want %v", infos[0].ExpiresAt, want)
	}

	if err := svc.Revoke(ctx, "okta-prod"); err != nil {
		t.Fatal(err)
	}
	var ae *AuthError
	if _, err := svc.Verify(ctx, okta, testAddr); !errors.As(err, &ae) || ae.Reason != ReasonRevoked {
		t.Fatalf("verify revoked token on the revoking replica: got %v, want revoked at once", err)
	}
	if err := svc.Revoke(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoke unknown name: got %v, want ErrNotFound", err)
	}
	// A revoked name can be issued afresh.
	c.Add(time.Minute)
	fresh := mustCreate(t, svc, "okta-prod", 0)
	if _, err := svc.Verify(ctx, fresh, testAddr); err != nil {
		t.Fatalf("verify re-created token: %v", err)
	}

	c.Add(90 * 24 * time.Hour)
	if _, err := svc.Verify(ctx, entra, testAddr); !errors.As(err, &ae) || ae.Reason != ReasonExpired {
		t.Fatalf("verify after ttl: got %v, want expired", err)
	}
	infos, _ = svc.List(ctx)
	got := map[string][]State{}
	for _, i := range infos {
		got[i.Name] = append(got[i.Name], i.State)
	}
	if len(got["entra"]) != 1 || got["entra"][0] != StateExpired ||
		len(got["okta-prod"]) != 2 || got["okta-prod"][0] != StateRevoked || got["okta-prod"][1] != StateActive {
		t.Fatalf("states after revoke and expiry = %v", got)
	}
}

func TestVerifyIsCached(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	st := &counting{Store: openSQLite(t)}
	svc, _, _ := newService(t, st, c, Options{CacheTTL: 10 * time.Second})
	secret := mustCreate(t, svc, "okta", 0)
	for range 100 {
		if _, err := svc.Verify(ctx, secret, testAddr); err != nil {
			t.Fatal(err)
		}
	}
	if n := st.byHash.Load(); n != 1 {
		t.Fatalf("100 verifications within CacheTTL read the store %d times, want 1", n)
	}
	svc.touchWG.Wait() // last-used writes run in the background
	if n := st.touches.Load(); n != 1 {
		t.Fatalf("100 uses within TouchEvery wrote last-used %d times, want 1", n)
	}
	c.Add(10 * time.Second)
	if _, err := svc.Verify(ctx, secret, testAddr); err != nil {
		t.Fatal(err)
	}
	if n := st.byHash.Load(); n != 2 {
		t.Fatalf("after CacheTTL the store was read %d times in all, want 2", n)
	}

	// Unknown tokens: remembered only for NegativeCacheTTL.
	unknown, _, _, _ := newSecret(DefaultPrefix)
	for range 5 {
		if _, err := svc.Verify(ctx, unknown, testAddr); !isReason(err, ReasonUnknown) {
			t.Fatalf("unknown token: %v", err)
		}
	}
	if n := st.byHash.Load(); n != 3 {
		t.Fatalf("5 verifications of one unknown token read the store %d more times, want 1", n-2)
	}
	c.Add(DefaultNegativeCacheTTL)
	_, _ = svc.Verify(ctx, unknown, testAddr)
	if n := st.byHash.Load(); n != 4 {
		t.Fatalf("unknown token not looked up again after NegativeCacheTTL")
	}

	// Malformed tokens never reach the store.
	_, _ = svc.Verify(ctx, "scimb_notarealtoken", testAddr)
	if n := st.byHash.Load(); n != 4 {
		t.Fatalf("a malformed token was looked up in the store")
	}
}

// TestTokenFromOtherReplicaAcceptedAtOnce: a token issued on replica A is
// accepted by replica B immediately, even if B had just refused it.
func TestTokenFromOtherReplicaAcceptedAtOnce(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			c := newClock()
			open := b.newDB(t)
			a, _, _ := newService(t, open(t), c, Options{})
			bsvc, _, _ := newService(t, open(t), c, Options{})
			if _, err := bsvc.Verify(ctx, "scimb_x", testAddr); !isReason(err, ReasonMalformed) {
				t.Fatalf("malformed: %v", err)
			}
			secret := mustCreate(t, a, "okta", 0)
			if tok, err := bsvc.Verify(ctx, secret, testAddr); err != nil || tok.Name != "okta" {
				t.Fatalf("replica B verifying a token A just issued: %v", err)
			}
		})
	}
}

// TestRotationOverlap moves an injected clock through a rotation: the old
// secret works within the overlap on both replicas, and stops after it —
// on the rotating replica at the overlap's end, on the other one at most
// CacheTTL later.
func TestRotationOverlap(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			c := newClock()
			const ttl = 5 * time.Second
			open := b.newDB(t)
			a, _, _ := newService(t, open(t), c, Options{CacheTTL: ttl})
			other, _, _ := newService(t, open(t), c, Options{CacheTTL: ttl})

			old := mustCreate(t, a, "okta", 30*24*time.Hour)
			mustVerify(t, other, old) // other replica now has old cached
			c.Add(time.Hour)
			next, tok, err := a.Rotate(ctx, "okta", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if want := c.Now().Add(30 * 24 * time.Hour); !tok.ExpiresAt.Equal(want) {
				t.Errorf("successor expires %v, want the old lifetime again (%v)", tok.ExpiresAt, want)
			}
			for _, svc := range []*Service{a, other} {
				mustVerify(t, svc, old)
				mustVerify(t, svc, next)
			}
			states := listStates(t, a)
			if len(states) != 2 || states[0] != StateOverlap || states[1] != StateActive {
				t.Fatalf("states during overlap = %v, want [overlap active]", states)
			}

			c.Add(59 * time.Minute)
			mustVerify(t, a, old)
			mustVerify(t, other, old)

			c.Add(time.Minute)
			var ae *AuthError
			if _, err := a.Verify(ctx, old, testAddr); !errors.As(err, &ae) || ae.Reason != ReasonExpired || !ae.Superseded {
				t.Fatalf("old token after overlap on the rotating replica: %v, want expired (superseded)", err)
			}
			if !strings.Contains(ae.Detail(), "newest token") {
				t.Errorf("detail %q does not say to use the new token", ae.Detail())
			}
			c.Add(ttl)
			if _, err := other.Verify(ctx, old, testAddr); !isReason(err, ReasonExpired) {
				t.Fatalf("old token after overlap + CacheTTL on the other replica: %v, want expired", err)
			}
			mustVerify(t, a, next)
			mustVerify(t, other, next)
			if states := listStates(t, a); states[0] != StateExpired || states[1] != StateActive {
				t.Fatalf("states after overlap = %v, want [expired active]", states)
			}

			// Zero overlap: the old token stops at once.
			third, _, err := a.Rotate(ctx, "okta", 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Verify(ctx, next, testAddr); !isReason(err, ReasonExpired) {
				t.Fatalf("old token after rotation with no overlap: %v, want expired", err)
			}
			mustVerify(t, a, third)
			if _, _, err := a.Rotate(ctx, "nobody", 0); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("rotate unknown name: %v, want ErrNotFound", err)
			}
		})
	}
}

// TestRevokeWithinCacheTTL: a revocation is effective at once on the
// replica that made it and within CacheTTL everywhere else.
func TestRevokeWithinCacheTTL(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			c := newClock()
			const ttl = 10 * time.Second
			open := b.newDB(t)
			a, _, _ := newService(t, open(t), c, Options{CacheTTL: ttl})
			other, _, _ := newService(t, open(t), c, Options{CacheTTL: ttl})
			secret := mustCreate(t, a, "okta", 0)
			mustVerify(t, other, secret)
			if err := a.Revoke(ctx, "okta"); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Verify(ctx, secret, testAddr); !isReason(err, ReasonRevoked) {
				t.Fatalf("revoking replica: %v, want revoked", err)
			}
			// The other replica may serve its cached record until the TTL ends...
			c.Add(ttl - time.Millisecond)
			mustVerify(t, other, secret)
			// ...and not a moment longer.
			c.Add(time.Millisecond)
			var ae *AuthError
			if _, err := other.Verify(ctx, secret, testAddr); !errors.As(err, &ae) || ae.Reason != ReasonRevoked || ae.Name != "okta" {
				t.Fatalf("other replica after CacheTTL: %v, want revoked", err)
			}
		})
	}
}

func mustVerify(t *testing.T, svc *Service, secret string) {
	t.Helper()
	if _, err := svc.Verify(context.Background(), secret, testAddr); err != nil {
		t.Fatalf("verify: %v", err)
	}
}

func isReason(err error, r Reason) bool {
	var ae *AuthError
	return errors.As(err, &ae) && ae.Reason == r
}

func listStates(t *testing.T, svc *Service) []State {
	t.Helper()
	infos, err := svc.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []State
	for _, i := range infos {
		out = append(out, i.State)
	}
	return out
}

// TestLastUsedCoalescedAndFlushed: uses within TouchEvery cost no write;
// Close writes the latest one.
func TestLastUsedCoalescedAndFlushed(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	st := &counting{Store: openSQLite(t)}
	svc := New(st, Options{Now: c.Now, TouchEvery: time.Minute}, nil, nil)
	secret := mustCreate(t, svc, "okta", 0)
	first := c.Now()
	mustVerify(t, svc, secret)
	c.Add(30 * time.Second)
	mustVerify(t, svc, secret)
	last := c.Now()
	svc.touchWG.Wait()
	if n := st.touches.Load(); n != 1 {
		t.Fatalf("%d last-used writes within TouchEvery, want 1", n)
	}
	ts, _ := st.ListTokens(ctx)
	if !ts[0].LastUsedAt.Equal(first) {
		t.Fatalf("stored last use %v, want %v", ts[0].LastUsedAt, first)
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	ts, _ = st.ListTokens(ctx)
	if !ts[0].LastUsedAt.Equal(last) {
		t.Fatalf("after Close, stored last use %v, want %v", ts[0].LastUsedAt, last)
	}
	c.Add(time.Hour)
	mustVerify(t, svc, secret) // still verifies after Close, records nothing
	if n := st.touches.Load(); n != 2 {
		t.Fatalf("%d last-used writes in all, want 2", n)
	}
}
