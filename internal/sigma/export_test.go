package sigma

import (
	"context"
	"time"

	"golang.org/x/time/rate"
)

// SetRetryHooks replaces the backoff sleep and jitter of c (tests only);
// the pacer's Retry-After pause no longer waits either.
func SetRetryHooks(c *Client, sleep func(context.Context, time.Duration) error, jitter func(time.Duration) time.Duration) {
	c.co.sleep, c.co.jitter = sleep, jitter
	c.co.pace.pauseSleep = noPause
}

// SetSCIMRetryHooks replaces the backoff sleep and jitter of c (tests only);
// the pacer's Retry-After pause no longer waits either.
func SetSCIMRetryHooks(c *SCIMClient, sleep func(context.Context, time.Duration) error, jitter func(time.Duration) time.Duration) {
	c.co.sleep, c.co.jitter = sleep, jitter
	c.co.pace.pauseSleep = noPause
}

func noPause(ctx context.Context, _ time.Duration) error { return ctx.Err() }

// PacingLimits reports c's current adaptive rate and concurrency limit.
func PacingLimits(c *Client) (float64, int) { return c.co.pace.limits() }

// SetPacingStart sets c's current rate (tests that need to start above
// an emulator's capacity).
func SetPacingStart(c *Client, perSecond float64) {
	p := c.co.pace
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rate = perSecond
	p.lim.SetLimit(rate.Limit(perSecond))
	p.lim.SetBurst(p.burst())
	p.publish()
}

// SetTokenSpacing changes the minimum interval between token requests.
func SetTokenSpacing(c *Client, every time.Duration) {
	c.tokens.minInterval = every
}

// SetClock replaces the clock used for token validity and the account type cache.
func SetClock(c *Client, now func() time.Time) {
	c.tokens.now, c.now = now, now
}

// Backoff exposes the backoff computation.
func Backoff(c *Client, retry int, retryAfter time.Duration) time.Duration {
	return c.co.backoff(retry, retryAfter)
}

// ParseRetryAfter exposes parseRetryAfter.
var ParseRetryAfter = parseRetryAfter
