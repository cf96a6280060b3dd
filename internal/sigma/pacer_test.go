package sigma

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// simClock is a fake clock that sleeping advances.
type simClock struct{ t time.Time }

func (c *simClock) now() time.Time { return c.t }
func (c *simClock) sleep(ctx context.Context, d time.Duration) error {
	c.t = c.t.Add(d)
	return ctx.Err()
}

// simCapacity is a server that absorbs perSecond requests (a bucket of a
// tenth of a second, as the emulator's Capacity) on the fake clock.
type simCapacity struct {
	perSecond, tokens float64
	last              time.Time
}

func (s *simCapacity) allow(now time.Time) bool {
	if !s.last.IsZero() {
		s.tokens = min(s.perSecond/10, s.tokens+now.Sub(s.last).Seconds()*s.perSecond)
	}
	s.last = now
	if s.tokens >= 1 {
		s.tokens--
		return true
	}
	return false
}

func simPacer(ceilRate float64, ceilConc int) (*pacer, *simClock, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	clock := &simClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	p := newPacer(ceilRate, ceilConc, newMetrics(reg, PathREST, nil))
	p.now, p.sleep, p.pauseSleep = clock.now, clock.sleep, clock.sleep
	p.lim.SetLimitAt(clock.now(), p.lim.Limit()) // move the limiter onto the fake timeline
	return p, clock, reg
}

// TestPacingConvergesOnCapacity drives a pacer against a server with a
// capacity far below the ceiling, on a fake clock (deterministic: no wall
// clock, no goroutines). After the first 30 simulated seconds the pacer
// delivers within 20% of the capacity with under 5% of calls answered 429,
// and its rate never passes the ceiling.
func TestPacingConvergesOnCapacity(t *testing.T) {
	const capacity, ceiling = 200.0, 1000.0
	p, clock, reg := simPacer(ceiling, 32)
	srv := &simCapacity{perSecond: capacity, tokens: capacity / 10}
	ctx := context.Background()
	start := clock.now()
	var ok, limited int
	var phaseStart time.Time
	maxRate := 0.0
	for clock.now().Sub(start) < 90*time.Second {
		tk, err := p.acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		clock.t = clock.t.Add(2 * time.Millisecond) // the answer's latency
		converged := clock.now().Sub(start) >= 30*time.Second
		if converged && phaseStart.IsZero() {
			phaseStart = clock.now()
		}
		if srv.allow(clock.now()) {
			tk.done(fbAnswered, 2*time.Millisecond, 0)
			if converged {
				ok++
			}
		} else {
			tk.done(fbRateLimited, time.Millisecond, 0)
			if converged {
				limited++
			}
		}
		r, _ := p.limits()
		maxRate = max(maxRate, r)
	}
	got := float64(ok) / clock.now().Sub(phaseStart).Seconds()
	frac := float64(limited) / float64(ok+limited)
	t.Logf("converged: %.1f ok/s against a capacity of %.0f, %.2f%% answered 429, peak rate %.1f", got, capacity, 100*frac, maxRate)
	if got < 0.8*capacity || got > capacity*1.01 {
		t.Errorf("throughput %.1f/s, want within 20%% of the capacity %.0f/s", got, capacity)
	}
	if frac >= 0.05 {
		t.Errorf("%.2f%% of calls answered 429 once converged, want < 5%%", 100*frac)
	}
	if maxRate > ceiling {
		t.Errorf("rate reached %.1f, above the ceiling %.0f", maxRate, ceiling)
	}
	if n := testutil.ToFloat64(p.m.pacingBackoffs.WithLabelValues(backoffRateLimited)); n < 3 {
		t.Errorf("%v backoffs on 429 in 90 s, want several (the pacer keeps probing)", n)
	}
	if g := testutil.ToFloat64(p.m.pacingRate); g != p.rate {
		t.Errorf("rate gauge %v, want %v", g, p.rate)
	}
	if n := testutil.CollectAndCount(reg, "scim_bridge_sigma_pacing_rate_limit"); n != 1 {
		t.Errorf("%d rate gauges, want one (path=rest)", n)
	}
}

// TestPacingGrowsToTheCeilingAndNoFurther: without a capacity the rate
// doubles per simulated second from its start and stops at the ceiling.
func TestPacingGrowsToTheCeilingAndNoFurther(t *testing.T) {
	p, clock, _ := simPacer(500, 32)
	if r, c := p.limits(); r != 50 || c != 8 {
		t.Fatalf("start at %v req/s, %d in flight; want 50 (a tenth of the ceiling) and 8", r, c)
	}
	start := clock.now()
	for clock.now().Sub(start) < 10*time.Second {
		tk, err := p.acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		tk.done(fbAnswered, time.Millisecond, 0)
	}
	if r, _ := p.limits(); r != 500 {
		t.Errorf("rate after 10 s of prompt answers: %v, want the ceiling 500", r)
	}
}

// TestPacingHonoursRetryAfter: a 429 with Retry-After holds every caller
// until it has passed, and cuts the rate once for the whole burst of 429s
// that were already in flight.
func TestPacingHonoursRetryAfter(t *testing.T) {
	p, clock, _ := simPacer(1000, 8) // starts at 100 req/s: one cut stays above the floor
	ctx := context.Background()
	var inFlight []*ticket
	for range 5 {
		tk, err := p.acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		inFlight = append(inFlight, tk)
	}
	before, _ := p.limits()
	for _, tk := range inFlight {
		tk.done(fbRateLimited, time.Millisecond, 3*time.Second)
	}
	after, _ := p.limits()
	if want := before * pacingCut429; after != want {
		t.Errorf("rate %v after five 429s of one burst, want one cut to %v", after, want)
	}
	t0 := clock.now()
	if _, err := p.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if waited := clock.now().Sub(t0); waited < 3*time.Second {
		t.Errorf("next call went out after %v, want the 3 s Retry-After", waited)
	}
	// A deadline sooner than the pause fails at once, with a deadline error.
	p.done429(10 * time.Second)
	dctx, cancel := context.WithDeadline(ctx, clock.now().Add(time.Second))
	defer cancel()
	t1 := clock.now()
	if _, err := p.acquire(dctx); err == nil || !isDeadline(err) {
		t.Errorf("acquire within a pause past the deadline: %v", err)
	}
	if clock.now() != t1 {
		t.Error("acquire slept although the deadline was sooner than the pause")
	}
}

func (p *pacer) done429(retryAfter time.Duration) {
	tk, _ := p.acquire(context.Background())
	tk.done(fbRateLimited, time.Millisecond, retryAfter)
}

func isDeadline(err error) bool { return errors.Is(err, context.DeadlineExceeded) }

// TestPacingBacksOffOnRisingLatency: answers that slow from 5 ms to 600 ms
// cut the limits without any 429; 5xx answers never raise them.
func TestPacingBacksOffOnRisingLatency(t *testing.T) {
	p, _, _ := simPacer(1000, 32)
	ctx := context.Background()
	feed := func(n int, fb feedback, lat time.Duration) {
		for range n {
			tk, err := p.acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			tk.done(fb, lat, 0)
		}
	}
	feed(200, fbAnswered, 5*time.Millisecond)
	high, _ := p.limits()
	feed(100, fbServerError, 5*time.Millisecond)
	if r, _ := p.limits(); r != high {
		t.Errorf("5xx answers moved the rate from %v to %v", high, r)
	}
	feed(60, fbAnswered, 600*time.Millisecond)
	low, _ := p.limits()
	if low >= high {
		t.Errorf("rate %v after answers slowed 120-fold, want below %v", low, high)
	}
	if n := testutil.ToFloat64(p.m.pacingBackoffs.WithLabelValues(backoffLatency)); n < 1 {
		t.Errorf("latency backoffs = %v, want at least 1", n)
	}
	if n := testutil.ToFloat64(p.m.pacingBackoffs.WithLabelValues(backoffRateLimited)); n != 0 {
		t.Errorf("429 backoffs = %v without any 429", n)
	}
}

// TestPacingScattered429sKeepTheFloor: 5% of answers are bare 429s whatever
// the rate (Sigma busy with other clients, not a limit the bridge crosses).
// Cutting by 30% per 429 against ~5%/s of growth would pin the rate near
// 3 req/s; the floor (the fixed pace before adaptive pacing) holds it at
// 20 req/s and 8 in flight, and every 429 still cuts down to it.
// Deterministic: a fake clock and a seeded sequence.
func TestPacingScattered429sKeepTheFloor(t *testing.T) {
	p, clock, _ := simPacer(500, 32)
	ctx := context.Background()
	start := clock.now()
	n, low := 0, 1e9
	for clock.now().Sub(start) < 120*time.Second {
		tk, err := p.acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		clock.t = clock.t.Add(2 * time.Millisecond)
		n++
		if n%20 == 0 { // every 20th answer: 5%
			tk.done(fbRateLimited, 2*time.Millisecond, 0)
		} else {
			tk.done(fbAnswered, 2*time.Millisecond, 0)
		}
		if clock.now().Sub(start) > 10*time.Second {
			r, _ := p.limits()
			low = min(low, r)
		}
	}
	r, c := p.limits()
	t.Logf("after 120 s of 5%% scattered 429s: rate %.1f req/s (lowest %.1f), %d in flight, %d calls", r, low, c, n)
	if low < pacingFloorRate {
		t.Errorf("rate fell to %.1f req/s under scattered 429s, want never below the floor %v", low, pacingFloorRate)
	}
	if c < pacingFloorConc {
		t.Errorf("concurrency limit %d, want at least the floor %d", c, pacingFloorConc)
	}
	if got := float64(n) / 120; got < 0.9*pacingFloorRate {
		t.Errorf("delivered %.1f calls/s, want at least about the floor %v", got, pacingFloorRate)
	}
	// A ceiling below the floor still wins.
	q, _, _ := simPacer(5, 2)
	q.cut(&ticket{seq: 1}, pacingCut429, backoffRateLimited)
	if r, c := q.limits(); r > 5 || c > 2 {
		t.Errorf("ceiling 5 req/s, 2 in flight: after a cut %v req/s, %d in flight", r, c)
	}
}
