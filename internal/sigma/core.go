package sigma

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// maxBody caps how much of one answer is read (a 1000-member page is ~0.5 MB).
const maxBody = 64 << 20

// authorizer adds credentials to a request and reacts to a 401.
type authorizer interface {
	// authorize sets the Authorization header; gen identifies the credential
	// used, so that a late 401 does not discard a newer one.
	authorize(ctx context.Context, req *http.Request) (gen uint64, err error)
	// rejected is told that the credential gen got a 401.
	rejected(ctx context.Context, gen uint64)
}

// core is the HTTP machinery shared by Client and SCIMClient.
type core struct {
	base       string // scheme://host[/prefix], no trailing slash
	hc         *http.Client
	auth       authorizer
	pace       *pacer
	maxRetries int           // for calls other than reads
	readBudget time.Duration // how long a read keeps retrying
	baseDelay  time.Duration
	maxDelay   time.Duration
	m          *metrics
	log        *slog.Logger

	// Test hooks: sleep waits d or until ctx is done; jitter returns a
	// uniformly random duration in [0, d); now is the clock of the read
	// budget.
	sleep  func(ctx context.Context, d time.Duration) error
	jitter func(d time.Duration) time.Duration
	now    func() time.Time
}

// newCore builds the shared machinery from checked, defaulted settings.
func newCore(base string, auth authorizer, cfg Config, m *metrics) *core {
	return &core{
		base:       base,
		hc:         cfg.HTTPClient,
		auth:       auth,
		pace:       newPacer(cfg.RequestsPerSecond, cfg.MaxConcurrent, m),
		maxRetries: cfg.MaxRetries,
		readBudget: cfg.ReadRetryBudget,
		baseDelay:  cfg.RetryBaseDelay,
		maxDelay:   cfg.RetryMaxDelay,
		m:          m,
		log:        cfg.Logger,
		sleep:      sleepCtx,
		jitter:     fullJitter,
		now:        time.Now,
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func fullJitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}

// call describes one logical upstream call.
type call struct {
	method   string
	endpoint string // template for metrics and errors
	path     string // escaped path below base
	query    url.Values
	body     any    // JSON-encoded when non-nil
	ctype    string // Content-Type for body; default application/json
	accept   string
	out      any // JSON-decoded from a 2xx body when non-nil

	// unsafe marks a call that must not be blindly repeated (a create).
	// When an attempt's outcome is unknown (transport error, 5xx) or a retry
	// meets 409, resolve is asked whether the object exists; true ends the
	// call successfully (resolve has filled the caller's result).
	unsafe  bool
	resolve func(ctx context.Context) (bool, error)
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// do runs c with pacing, auth, retries and metrics.
func (co *core) do(ctx context.Context, c *call) error {
	var payload []byte
	if c.body != nil {
		var err error
		if payload, err = json.Marshal(c.body); err != nil {
			return fmt.Errorf("%s %s: encode body: %w", c.method, c.endpoint, err)
		}
	}
	target := co.base + c.path
	if len(c.query) > 0 {
		target += "?" + c.query.Encode()
	}
	reauthed := false
	ambiguous := false // some earlier attempt may have been performed
	retries := 0
	started := co.now()
	var slept time.Duration // backoff asked for so far (the budget's clock when sleeps are faked)
	for {
		err := co.attempt(ctx, c, target, payload)
		if err == nil {
			return nil
		}
		var ae *APIError
		if !errors.As(err, &ae) {
			return err // context or encoding errors: final
		}
		switch {
		case ae.Status == http.StatusUnauthorized && ae.Endpoint == c.endpoint && !reauthed:
			// A 401 from the API itself (not the token endpoint): the
			// credential is stale. Re-send once with a fresh one, at once.
			reauthed = true
			co.log.DebugContext(ctx, "sigma credential rejected, re-authenticating",
				"method", c.method, "endpoint", c.endpoint, "request_id", ae.RequestID)
			continue
		case ae.Status == http.StatusConflict && ambiguous && c.resolve != nil:
			if ok, rerr := c.resolve(ctx); rerr == nil && ok {
				return nil
			}
			return ae
		}
		if !ae.Retryable {
			return ae
		}
		if c.unsafe && ae.Reason != ReasonRateLimited && ae.Endpoint == c.endpoint {
			// The request may have been performed (a 429 comes from the CDN
			// before the API; a token failure means nothing was sent). Look
			// before repeating, and also when no retry is left, so that a
			// performed create is reported as the success it was.
			ambiguous = true
			if c.resolve == nil {
				return ae
			}
			ok, rerr := c.resolve(ctx)
			if rerr != nil {
				return fmt.Errorf("%w (and the lookup of its outcome failed: %v)", ae, rerr)
			}
			if ok {
				return nil
			}
		}
		delay, ok := co.nextDelay(ctx, c, retries, max(co.now().Sub(started), slept), ae)
		if !ok {
			return ae
		}
		co.m.retries.WithLabelValues(c.endpoint, ae.Reason).Inc()
		co.log.DebugContext(ctx, "sigma call failed, retrying",
			"method", c.method, "endpoint", c.endpoint, "status", ae.Status, "reason", ae.Reason,
			"request_id", ae.RequestID, "retry", retries+1, "delay", delay)
		if err := co.sleep(ctx, delay); err != nil {
			return ae
		}
		slept += delay
		retries++
	}
}

// nextDelay decides whether a retryable failure is tried again and after
// how long. A read (GET) retries while its time budget lasts (spent is the
// time since its first attempt, pacing waits included); anything else
// retries up to maxRetries times. Neither waits past the caller's deadline:
// then the real cause is returned instead.
func (co *core) nextDelay(ctx context.Context, c *call, retries int, spent time.Duration, ae *APIError) (time.Duration, bool) {
	delay := co.backoff(retries, ae.RetryAfter)
	if c.method == http.MethodGet {
		left := co.readBudget - spent
		if left <= 0 || (ae.RetryAfter > 0 && ae.RetryAfter > left) {
			return 0, false // Sigma asked for more time than is left
		}
		delay = min(delay, left)
	} else if retries >= co.maxRetries {
		return 0, false
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < delay {
		return 0, false
	}
	return delay, true
}

// backoff is full jitter over an exponential ceiling, or Retry-After.
func (co *core) backoff(retry int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, maxPause)
	}
	ceil := co.baseDelay
	for i := 0; i < retry && ceil < co.maxDelay; i++ {
		ceil *= 2
	}
	ceil = min(ceil, co.maxDelay)
	return co.jitter(ceil)
}

// attempt sends c once.
func (co *core) attempt(ctx context.Context, c *call, target string, payload []byte) error {
	t, err := co.pace.acquire(ctx)
	if err != nil {
		return err
	}
	fb, latency, retryAfter := fbNone, time.Duration(0), time.Duration(0)
	defer func() { t.done(fb, latency, retryAfter) }()

	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, target, body)
	if err != nil {
		return fmt.Errorf("%s %s: build request: %w", c.method, c.endpoint, err)
	}
	if payload != nil {
		req.Header.Set("Content-Type", firstNonEmpty(c.ctype, "application/json"))
	}
	req.Header.Set("Accept", firstNonEmpty(c.accept, "application/json"))
	req.Header.Set("User-Agent", "scim-bridge")
	gen, err := co.auth.authorize(ctx, req)
	if err != nil {
		return err // already an *APIError (token endpoint) or a context error
	}

	start := time.Now()
	resp, err := co.hc.Do(req)
	if err != nil {
		co.m.observe(c.endpoint, c.method, 0, ReasonTransport, time.Since(start).Seconds())
		if ctx.Err() != nil {
			return fmt.Errorf("%s %s: %w", c.method, c.endpoint, ctx.Err())
		}
		return &APIError{Method: c.method, Endpoint: c.endpoint, Reason: ReasonTransport,
			Retryable: true, Err: redactURLError(err)}
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 4<<20 {
			bufPool.Put(buf)
		}
	}()
	_, rerr := buf.ReadFrom(io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	reason, _ := reasonFor(resp.StatusCode)
	if rerr != nil {
		// The connection broke while reading: the call may have been performed.
		co.m.observe(c.endpoint, c.method, 0, ReasonTransport, time.Since(start).Seconds())
		if ctx.Err() != nil {
			return fmt.Errorf("%s %s: %w", c.method, c.endpoint, ctx.Err())
		}
		return &APIError{Method: c.method, Endpoint: c.endpoint, Reason: ReasonTransport,
			Retryable: true, Err: fmt.Errorf("read answer: %w", redactURLError(rerr))}
	}
	latency = time.Since(start)
	co.m.observe(c.endpoint, c.method, resp.StatusCode, reason, latency.Seconds())
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		fb = fbRateLimited
	case resp.StatusCode >= 500:
		fb = fbServerError
	default:
		fb = fbAnswered
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		ae := newHTTPError(c.method, c.endpoint, resp, buf.Bytes())
		retryAfter = ae.RetryAfter
		if resp.StatusCode == http.StatusUnauthorized {
			co.auth.rejected(ctx, gen)
		}
		return ae
	}
	if c.out != nil && buf.Len() > 0 {
		if err := json.Unmarshal(buf.Bytes(), c.out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", c.method, c.endpoint, err)
		}
	}
	return nil
}

// redactURLError strips the query (which may hold an email) from a
// *url.Error's URL. Credentials never travel in URLs, so the rest is safe.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		cp := *ue
		if u, perr := url.Parse(cp.URL); perr == nil {
			u.RawQuery, u.User, u.Fragment = "", nil, ""
			cp.URL = u.String()
		} else {
			cp.URL = "<url>"
		}
		return &cp
	}
	return err
}
