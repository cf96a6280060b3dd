package app

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// reach remembers what one Sigma path's HTTP calls saw: whether Sigma
// answered, how fast, and the last failure. It wraps the client's
// transport, so /readyz and the status page can say whether Sigma is
// reachable without calling it themselves. Safe for concurrent use.
type reach struct {
	mu        sync.Mutex
	calls     uint64
	lastAt    time.Time // end of the last attempt
	lastOK    bool      // the last attempt got an answer that is not a failure
	lastErr   string    // the last failure, never a secret or an email
	lastErrAt time.Time
	latencies [reachWindow]time.Duration // ring of the last attempts' durations
	next      int
}

// reachWindow is how many recent attempts the latency figures cover.
const reachWindow = 128

// ReachStats is a snapshot of a reach.
type ReachStats struct {
	Calls         uint64
	LastAt        time.Time // zero: no call yet
	LastOK        bool
	LastError     string
	LastErrorAt   time.Time
	P50, P95, Max time.Duration // over the last reachWindow attempts
}

// transport wraps next (nil: http.DefaultTransport) so that every
// attempt is recorded in r.
func (r *reach) transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		start := time.Now()
		resp, err := next.RoundTrip(req)
		r.record(req, resp, err, time.Since(start))
		return resp, err
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// record counts one attempt. A failure is a transport error, a 5xx, or a
// 401/403 (Sigma answered but refused the credentials); anything else,
// 429 and 404 included, is Sigma answering. The failure text names the
// method and host only: paths and queries can hold ids and emails.
func (r *reach) record(req *http.Request, resp *http.Response, err error, d time.Duration) {
	var failure string
	switch {
	case err != nil:
		cause := err
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			cause = ue.Unwrap()
		}
		failure = fmt.Sprintf("%s %s: %v", req.Method, req.URL.Host, cause)
	case resp.StatusCode >= 500:
		failure = fmt.Sprintf("%s %s: answered %s", req.Method, req.URL.Host, resp.Status)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		failure = fmt.Sprintf("%s %s: answered %s (credentials refused)", req.Method, req.URL.Host, resp.Status)
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	r.lastAt, r.lastOK = now, failure == ""
	if failure != "" {
		r.lastErr, r.lastErrAt = failure, now
	}
	r.latencies[r.next%reachWindow] = d
	r.next++
}

// Stats returns a snapshot.
func (r *reach) Stats() ReachStats {
	r.mu.Lock()
	s := ReachStats{Calls: r.calls, LastAt: r.lastAt, LastOK: r.lastOK, LastError: r.lastErr, LastErrorAt: r.lastErrAt}
	lat := slices.Clone(r.latencies[:min(r.next, reachWindow)])
	r.mu.Unlock()
	if len(lat) > 0 {
		slices.Sort(lat)
		s.P50, s.P95, s.Max = lat[len(lat)/2], lat[(len(lat)*95)/100], lat[len(lat)-1]
	}
	return s
}
