package sigma

import (
	"slices"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// refreshInstant is the first whole second from now at which c no longer
// takes tok for valid (and so fetches a new one).
func refreshInstant(c *tokenCache, clock *time.Time, tok *oauth2.Token) time.Time {
	start := *clock
	defer func() { *clock = start }()
	for *clock = start; c.valid(tok); *clock = clock.Add(time.Second) {
	}
	return *clock
}

// TestTokenRefreshIsJittered pins issue 10.7: replicas that fetched their
// Sigma token in the same second must not all refresh it in the same
// second (the token endpoint allows about one request per second). Each
// cache refreshes between refreshJitter of the lifetime plus the margin
// and the margin before expiry, and twenty replicas spread over minutes.
func TestTokenRefreshIsJittered(t *testing.T) {
	clock := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	const life = time.Hour
	var at []time.Time
	for range 20 {
		c := &tokenCache{now: now}
		tok := c.stamp(&oauth2.Token{AccessToken: "a", Expiry: clock.Add(life)})
		if !c.valid(tok) {
			t.Fatal("a fresh token is not valid")
		}
		r := refreshInstant(c, &clock, tok)
		earliest, latest := clock.Add(life-30*time.Second-life/10), clock.Add(life-30*time.Second)
		if r.Before(earliest) || r.After(latest.Add(time.Second)) {
			t.Fatalf("refresh at +%s, want between +%s and +%s", r.Sub(clock), earliest.Sub(clock), latest.Sub(clock))
		}
		at = append(at, r)
	}
	slices.SortFunc(at, time.Time.Compare)
	if spread := at[len(at)-1].Sub(at[0]); spread < life/40 {
		t.Errorf("20 replicas refresh within %s of each other, want them spread over minutes", spread)
	}
	if distinct := len(slices.Compact(at)); distinct < 15 {
		t.Errorf("20 replicas refresh in only %d distinct seconds", distinct)
	}

	// A short-lived token (the emulator's, in tests) is not refetched on
	// every call: it lives at least 65% of its lifetime.
	c := &tokenCache{now: now}
	tok := c.stamp(&oauth2.Token{AccessToken: "a", Expiry: clock.Add(100 * time.Second)})
	if r := refreshInstant(c, &clock, tok); r.Sub(clock) < 65*time.Second {
		t.Errorf("a 100s token is refreshed after %s, want at least 65s", r.Sub(clock))
	}
	// A token without expiry is kept; one already expired is not.
	if tok := c.stamp(&oauth2.Token{AccessToken: "a"}); !c.valid(tok) {
		t.Error("a token without expiry is not valid")
	}
	if tok := c.stamp(&oauth2.Token{AccessToken: "a", Expiry: clock.Add(-time.Second)}); c.valid(tok) {
		t.Error("an expired token is valid")
	}
}
