package sigma

import (
	"context"
	"time"
)

// SetRetryHooks replaces the backoff sleep and jitter of c (tests only).
func SetRetryHooks(c *Client, sleep func(context.Context, time.Duration) error, jitter func(time.Duration) time.Duration) {
	c.co.sleep, c.co.jitter = sleep, jitter
}

// SetSCIMRetryHooks replaces the backoff sleep and jitter of c (tests only).
func SetSCIMRetryHooks(c *SCIMClient, sleep func(context.Context, time.Duration) error, jitter func(time.Duration) time.Duration) {
	c.co.sleep, c.co.jitter = sleep, jitter
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
