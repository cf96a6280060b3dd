package tokens

import (
	"container/list"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// limiter is a token bucket of failed authentications per client address,
// kept as a "theoretical arrival time" (GCRA) so the arithmetic is exact:
// each failure moves the address's tat one interval later; an address whose
// tat is more than burst intervals ahead has spent its bucket and is
// answered 429 until it is not. Only failures are counted, so a client
// presenting a valid token is never affected.
//
// Memory is bounded: at most max addresses are tracked; the one that failed
// least recently is forgotten first (forgetting only ever lets an address
// fail again, it never blocks anyone).
type limiter struct {
	window   time.Duration // burst × interval
	interval time.Duration
	max      int

	mu    sync.Mutex
	addrs map[string]*list.Element // of *bucket
	lru   *list.List               // front: most recent failure
}

type bucket struct {
	addr string
	tat  time.Time
}

func newLimiter(burst int, interval time.Duration, maxAddrs int) *limiter {
	return &limiter{
		window: time.Duration(burst) * interval, interval: interval, max: maxAddrs,
		addrs: make(map[string]*list.Element), lru: list.New(),
	}
}

// wait is how long after now one more failure of b would be allowed (<= 0:
// allowed now).
func (l *limiter) wait(b *bucket, now time.Time) time.Duration {
	tat := b.tat
	if tat.Before(now) {
		tat = now
	}
	return tat.Add(l.interval).Sub(now) - l.window
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
	w := l.wait(e.Value.(*bucket), now)
	return w, w > 0
}

// fail spends one failure of addr's bucket and reports whether that emptied
// it (the moment to log once that the address is being limited).
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
		e = l.lru.PushFront(&bucket{addr: addr})
		l.addrs[addr] = e
	} else {
		l.lru.MoveToFront(e)
	}
	b := e.Value.(*bucket)
	if l.wait(b, now) > 0 {
		return true
	}
	if b.tat.Before(now) {
		b.tat = now
	}
	b.tat = b.tat.Add(l.interval)
	return l.wait(b, now) > 0
}

func (l *limiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.addrs)
}

// clientIP is the client's address: the TCP peer's, or with trustXFF the
// last X-Forwarded-For entry (the address the nearest proxy saw). host is
// the raw form, for an address that does not parse (ip invalid).
func clientIP(r *http.Request, trustXFF bool) (ip netip.Addr, host string) {
	host = r.RemoteAddr
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
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, host
	}
	return ip.Unmap(), host
}

// limiterKey is the key failures of a client are counted under: its IP,
// with IPv6 addresses grouped by /64, since one host commonly holds a
// whole /64.
func limiterKey(ip netip.Addr, host string) string {
	switch {
	case !ip.IsValid():
		return host
	case ip.Is4():
		return ip.String()
	}
	return netip.PrefixFrom(ip.WithZone(""), 64).Masked().Addr().String() + "/64"
}

// clientAddr is limiterKey of clientIP.
func clientAddr(r *http.Request, trustXFF bool) string {
	return limiterKey(clientIP(r, trustXFF))
}
