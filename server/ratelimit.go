package server

import (
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"scimd/scim"
)

// maxTrackedAddrs bounds the memory the failure counters can take: at
// about a hundred bytes an entry, 10,000 addresses cost a megabyte.
const maxTrackedAddrs = 10000

// authLimiter counts refused authentications per client address in fixed
// one-minute windows. Once an address has used up its failures for the
// window, further failures from it are answered 429 with Retry-After
// instead of 401, which tells scanners and misconfigured clients to back
// off and keeps the log readable.
//
// Only failures are counted: a request with a valid token is never limited,
// whichever address it comes from. Entra ID quarantines an application that
// sees many errors, and it provisions from shared Azure addresses, so a
// hostile neighbour must not be able to get its requests refused. Secrets
// have 256 random bits; the limit is not what keeps them from being guessed.
type authLimiter struct {
	mu     sync.Mutex
	limit  int
	window time.Duration
	max    int
	now    func() time.Time
	seen   map[string]*failures
}

// failures is one address's count in its current window.
type failures struct {
	start time.Time
	n     int
}

// newAuthLimiter allows perMinute failures per address and minute. It
// returns nil, which limits nothing, when perMinute is zero or negative.
func newAuthLimiter(perMinute int, now func() time.Time) *authLimiter {
	if perMinute <= 0 {
		return nil
	}
	return &authLimiter{limit: perMinute, window: time.Minute, max: maxTrackedAddrs, now: now,
		seen: make(map[string]*failures)}
}

// fail records one failure from addr. It reports whether addr is now over
// its limit and, if so, how long until its window ends.
func (l *authLimiter) fail(addr string) (limited bool, retry time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.seen[addr]
	if f == nil || now.Sub(f.start) >= l.window || now.Before(f.start) {
		if f == nil && len(l.seen) >= l.max {
			l.evict(now)
		}
		f = &failures{start: now}
		l.seen[addr] = f
	}
	f.n++
	if f.n <= l.limit {
		return false, 0
	}
	return true, f.start.Add(l.window).Sub(now)
}

// evict makes room when the map is full: expired windows go first; if that
// frees less than a quarter, arbitrary entries (map order is random) are
// dropped down to three quarters, which forgives those addresses their
// failures so far. Freeing a quarter at a time keeps a spray from many
// addresses at amortised constant cost per failure.
func (l *authLimiter) evict(now time.Time) {
	for k, f := range l.seen {
		if now.Sub(f.start) >= l.window {
			delete(l.seen, k)
		}
	}
	for k := range l.seen {
		if len(l.seen) <= l.max*3/4 {
			break
		}
		delete(l.seen, k)
	}
}

// tracked is the number of addresses with a counter, for tests.
func (l *authLimiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.seen)
}

// clientAddr is the address failures are counted against: the peer's IP
// as net/http saw it (behind a reverse proxy, the proxy's), with IPv6
// addresses reduced to their /64, which one host usually holds whole.
func clientAddr(r *http.Request) string {
	ip := remoteIP(r)
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is6() {
		p, err := a.WithZone("").Prefix(64)
		if err == nil {
			return p.String()
		}
	}
	return a.String()
}

// limitAuthFailure records a refused authentication. While the client's
// address is within its limit it returns err unchanged (a 401); beyond it,
// a 429 with Retry-After. Errors other than 401 (the database could not be
// read) are not the client's failure and are not counted.
func (s *Server) limitAuthFailure(w http.ResponseWriter, r *http.Request, err error) error {
	var se *scim.Error
	if s.authLimit == nil || !errors.As(err, &se) || se.Status != http.StatusUnauthorized {
		return err
	}
	limited, retry := s.authLimit.fail(clientAddr(r))
	if !limited {
		return err
	}
	secs := int((retry + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	w.Header().Del("WWW-Authenticate")
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return scim.TooManyRequests("too many failed authentications from this address; retry in %d seconds with a valid bearer token", secs)
}
