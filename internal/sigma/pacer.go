package sigma

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Adaptive pacing. Sigma publishes no rate limits, so a fixed rate is either
// too slow or too fast for a given org. A pacer starts from a safe rate and
// concurrency, raises both while Sigma answers promptly and callers are
// actually held back, and cuts both multiplicatively when Sigma answers 429
// (pausing every caller for its Retry-After when it sends one) or when
// answers take much longer than usual. It never exceeds the configured
// ceilings (sigma.requests_per_second, sigma.max_concurrent).
//
// The rules, per answered call (a ticket):
//   - slow start (until the first cut): every held-back success adds 1 req/s
//     to the rate and 1 to the concurrency limit, so each doubles per round;
//   - afterwards: every held-back success adds pacingGrowth req/s (about
//     +5% of the rate per second at that rate) and 1/limit to the concurrency
//     limit (+1 per round);
//   - a 429 multiplies both by pacingCut429, a latency rise by
//     pacingCutLatency; calls sent before a cut cannot cause another one
//     (they belong to the same congestion event);
//   - no cut goes below pacingFloorRate / pacingFloorConc (or the ceilings).
//
// Token requests are not paced here: they keep their own one-per-second
// spacing (tokenCache).
const (
	pacingStartRate = 20 // req/s before anything is known (or a tenth of the ceiling, if higher)
	pacingStartConc = 8  // calls in flight before anything is known
	// pacingFloorRate and pacingFloorConc are what a cut never goes below
	// (or the ceilings, when lower): the fixed pace the bridge ran at before
	// it adapted. Without a floor, a few per cent of scattered 429s (bare
	// 429s that do not grow with the rate, as Sigma sends under load from
	// other clients) pinned the rate near 3 req/s: each 429 cuts by 30%
	// while growth is about 5% a second. Below the floor, 429s are absorbed
	// by the retries and Retry-After pauses, as before adaptive pacing.
	pacingFloorRate  = 20.0
	pacingFloorConc  = 8
	pacingGrowth     = 0.05
	pacingCut429     = 0.7
	pacingCutLatency = 0.9
	// A latency rise is the smoothed answer time exceeding
	// latencyRiseFactor × its usual (lowest smoothed) value by more than
	// latencyRiseFloor, so that sub-millisecond jitter is no signal.
	latencyRiseFactor = 2.0
	latencyRiseFloor  = 100 * time.Millisecond
	latencyAlpha      = 0.1   // EWMA weight of a new latency sample
	latencyBaseDrift  = 0.002 // how fast the usual latency follows a lasting change
	maxPause          = 5 * time.Minute
)

// pacer is the adaptive rate and concurrency limit of one Sigma API. Safe
// for concurrent use.
type pacer struct {
	ceilRate float64
	ceilConc int
	m        *metrics
	// now is the clock of the limits; sleep waits for a rate turn and
	// pauseSleep for the end of a Retry-After pause (test hooks).
	now        func() time.Time
	sleep      func(ctx context.Context, d time.Duration) error
	pauseSleep func(ctx context.Context, d time.Duration) error

	mu        sync.Mutex
	lim       *rate.Limiter // at rate, on p.now's timeline
	rate      float64
	conc      float64 // concurrency limit; int(conc) slots
	inflight  int
	queue     []chan struct{} // callers waiting for a slot, FIFO
	slowStart bool
	issued    uint64 // tickets issued so far
	cutAt     uint64 // issued when the last cut happened
	paused    time.Time
	latEWMA   float64 // seconds; 0 = no sample yet
	latBase   float64 // the usual smoothed latency
}

func newPacer(ceilRate float64, ceilConc int, m *metrics) *pacer {
	p := &pacer{
		ceilRate:   ceilRate,
		ceilConc:   ceilConc,
		m:          m,
		now:        time.Now,
		sleep:      sleepCtx,
		pauseSleep: sleepCtx,
		slowStart:  true,
	}
	p.rate = min(ceilRate, max(pacingStartRate, ceilRate/10))
	p.conc = float64(min(ceilConc, pacingStartConc))
	p.lim = rate.NewLimiter(rate.Limit(p.rate), p.burst())
	p.publish()
	return p
}

// ticket is one call's permission to go out.
type ticket struct {
	seq      uint64
	rateHeld bool // the caller waited for the rate: more rate would have helped
	concHeld bool // the caller waited for a slot: more concurrency would have helped
	released bool
	pacer    *pacer
}

// feedback is what the pacer learns from one attempt.
type feedback int

const (
	fbNone        feedback = iota // no answer from the API (transport error, token trouble): learn nothing
	fbAnswered                    // the API answered (2xx, 4xx other than 429)
	fbServerError                 // 5xx: Sigma is in trouble, but not asking us to slow down; do not grow
	fbRateLimited                 // 429
)

func (p *pacer) burst() int { return max(1, int(math.Ceil(p.rate/20))) } // ~50 ms of calls

func (p *pacer) limit() int { return max(1, int(p.conc)) }

func (p *pacer) publish() {
	p.m.pacingRate.Set(p.rate)
	p.m.pacingConc.Set(float64(p.limit()))
}

// acquire waits for a slot and a turn. It fails at once, without waiting,
// when ctx's deadline would pass before the turn comes.
func (p *pacer) acquire(ctx context.Context) (*ticket, error) {
	p.m.pacingWaiting.Inc()
	defer p.m.pacingWaiting.Dec()
	t := &ticket{pacer: p}

	p.mu.Lock()
	if p.inflight >= p.limit() || len(p.queue) > 0 {
		t.concHeld = true
		ch := make(chan struct{})
		p.queue = append(p.queue, ch)
		p.mu.Unlock()
		select {
		case <-ch: // the slot was handed over (inflight counts it)
		case <-ctx.Done():
			p.mu.Lock()
			if !p.dequeue(ch) {
				p.releaseLocked() // granted while we gave up: pass it on
			}
			p.mu.Unlock()
			return nil, fmt.Errorf("wait for sigma concurrency limit: %w", ctx.Err())
		}
		p.mu.Lock()
	} else {
		p.inflight++
	}
	if now := p.now(); p.paused.After(now) {
		// Sigma asked for a pause (Retry-After): nobody goes before it ends.
		d := p.paused.Sub(now)
		p.mu.Unlock()
		if err := p.wait(ctx, now, d, p.pauseSleep); err != nil {
			p.release()
			return nil, fmt.Errorf("wait for sigma rate limit (Retry-After): %w", err)
		}
		p.mu.Lock()
	}
	now := p.now()
	r := p.lim.ReserveN(now, 1)
	p.issued++
	t.seq = p.issued
	p.mu.Unlock()

	if d := r.DelayFrom(now); d > 0 {
		t.rateHeld = true
		if err := p.wait(ctx, now, d, p.sleep); err != nil {
			r.CancelAt(p.now())
			p.release()
			return nil, fmt.Errorf("wait for sigma rate limit: %w", err)
		}
	}
	return t, nil
}

// wait sleeps d, failing at once when ctx's deadline is sooner.
func (p *pacer) wait(ctx context.Context, now time.Time, d time.Duration, sleep func(context.Context, time.Duration) error) error {
	if dl, ok := ctx.Deadline(); ok && dl.Before(now.Add(d)) {
		return fmt.Errorf("%w before our turn", context.DeadlineExceeded)
	}
	return sleep(ctx, d)
}

func (p *pacer) dequeue(ch chan struct{}) bool {
	for i, c := range p.queue {
		if c == ch {
			p.queue = append(p.queue[:i], p.queue[i+1:]...)
			return true
		}
	}
	return false
}

func (p *pacer) release() {
	p.mu.Lock()
	p.releaseLocked()
	p.mu.Unlock()
}

// releaseLocked frees a slot and hands free slots to waiting callers.
func (p *pacer) releaseLocked() {
	p.inflight--
	p.grant()
}

func (p *pacer) grant() {
	for len(p.queue) > 0 && p.inflight < p.limit() {
		ch := p.queue[0]
		p.queue = p.queue[1:]
		p.inflight++
		close(ch)
	}
}

// done returns t's slot and feeds the outcome of its attempt back.
// latency is the attempt's answer time; retryAfter Sigma's Retry-After.
func (t *ticket) done(fb feedback, latency, retryAfter time.Duration) {
	p := t.pacer
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.released {
		return
	}
	t.released = true
	p.releaseLocked()
	switch fb {
	case fbRateLimited:
		if retryAfter > 0 {
			if until := p.now().Add(min(retryAfter, maxPause)); until.After(p.paused) {
				p.paused = until
			}
		}
		p.cut(t, pacingCut429, backoffRateLimited)
	case fbAnswered:
		if p.observeLatency(latency) {
			p.cut(t, pacingCutLatency, backoffLatency)
			return
		}
		p.grow(t)
	}
}

// observeLatency updates the smoothed and usual latency and reports a rise.
func (p *pacer) observeLatency(d time.Duration) bool {
	s := d.Seconds()
	if p.latEWMA == 0 {
		p.latEWMA, p.latBase = s, s
		return false
	}
	p.latEWMA += latencyAlpha * (s - p.latEWMA)
	if p.latEWMA < p.latBase {
		p.latBase = p.latEWMA
	} else {
		p.latBase += latencyBaseDrift * (p.latEWMA - p.latBase)
	}
	return p.latEWMA > latencyRiseFactor*p.latBase && p.latEWMA-p.latBase > latencyRiseFloor.Seconds()
}

// cut lowers both limits by factor, once per congestion event: a call
// issued before the previous cut does not cut again.
func (p *pacer) cut(t *ticket, factor float64, cause string) {
	if t.seq <= p.cutAt {
		return
	}
	p.cutAt = p.issued
	p.slowStart = false
	p.rate = max(min(p.ceilRate, pacingFloorRate), p.rate*factor)
	p.conc = max(float64(min(p.ceilConc, pacingFloorConc)), p.conc*factor)
	p.lim.SetLimitAt(p.now(), rate.Limit(p.rate))
	p.lim.SetBurstAt(p.now(), p.burst())
	p.m.pacingBackoffs.WithLabelValues(cause).Inc()
	p.publish()
}

// grow raises what held t back, up to the ceilings.
func (p *pacer) grow(t *ticket) {
	changed := false
	if t.rateHeld && p.rate < p.ceilRate {
		step := pacingGrowth
		if p.slowStart {
			step = 1
		}
		p.rate = min(p.ceilRate, p.rate+step)
		p.lim.SetLimitAt(p.now(), rate.Limit(p.rate))
		p.lim.SetBurstAt(p.now(), p.burst())
		changed = true
	}
	if t.concHeld && p.conc < float64(p.ceilConc) {
		step := 1 / p.conc
		if p.slowStart {
			step = 1
		}
		p.conc = min(float64(p.ceilConc), p.conc+step)
		p.grant()
		changed = true
	}
	if changed {
		p.publish()
	}
}

// limits reports the current rate and concurrency limit (tests, status).
func (p *pacer) limits() (float64, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rate, p.limit()
}
