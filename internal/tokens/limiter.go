package tokens

import (
	"container/list"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// limiter is a token bucket of failed authentications per client address:
// each failure spends one unit, units come back at one per interval up to
// burst. An address with an empty bucket is answered 429 until a unit is
// back. Only failures are counted, so a client presenting a valid token is
// never affected.
//
// Memory is bounded: at most max addresses are tracked; the one that failed
// least recently is forgotten first (forgetting only ever lets an address
// fail again, it never blocks anyone).
type limiter struct {
	burst    float64
	interval time.Duration
	max      int

	mu    sync.Mutex
	addrs map[string]*list.Element // of *bucket
	lru   *list.List               // front: most recent failure
}

type bucket struct {
	addr   string
	tokens float64
	at     time.Time // when tokens was computed
}

func newLimiter(burst int, interval time.Duration, maxAddrs int) *limiter {
	return &limiter{
		burst: float64(burst), interval: interval, max: maxAddrs,
		addrs: make(map[string]*list.Element), lru: list.New(),
	}
}

// refill brings b up to now.
func (l *limiter) refill(b *bucket, now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(l.burst, b.tokens+float64(d)/float64(l.interval))
	}
	b.at = now
}

// blocked reports whether addr has spent its failures and, if so, how long
// until it may fail once more.
func (l *limiter) blocked(addr string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.addrs[addr]
	if !ok {
		return 0, false
	}
	b := e.Value.(*bucket)
	l.refill(b, now)
	if b.tokens >= 1 {
		return 0, false
	}
	return time.Duration((1 - b.tokens) * float64(l.interval)), true
}

// fail spends one unit of addr's bucket and reports whether that emptied it
// (the moment to log once that the address is being limited).
func (l *limiter) fail(addr string, now time.Time) (emptied bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.addrs[addr]
	if !ok {
		for len(l.addrs) >= l.max {
			old := l.lru.Back()
			l.lru.Remove(old)
			delete(l.addrs, old.Value.(*bucket).addr)
		}
		e = l.lru.PushFront(&bucket{addr: addr, tokens: l.burst, at: now})
		l.addrs[addr] = e
	} else {
		l.lru.MoveToFront(e)
	}
	b := e.Value.(*bucket)
	l.refill(b, now)
	if b.tokens >= 1 {
		b.tokens--
	}
	return b.tokens < 1
}

func (l *limiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.addrs)
}

// clientAddr is the key failures are counted under: the peer's IP, or with
// trustXFF the last X-Forwarded-For entry. IPv6 addresses are grouped by
// /64, since one host commonly holds a whole /64.
func clientAddr(r *http.Request, trustXFF bool) string {
	host := r.RemoteAddr
	if trustXFF {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			last := xff[len(xff)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if last = strings.TrimSpace(last); last != "" {
				host = last
			}
		}
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if ip4 := ip.To4(); ip4 != nil {
		return ip4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
