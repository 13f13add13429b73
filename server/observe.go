package server

import (
	"net/http"
	"time"
)

// Observer hears about every request the server answers. ObserveRequest
// runs on the request's goroutine after the response is written, so it
// must be quick and must not keep the RequestStats' strings beyond the
// call in a way that grows with traffic.
type Observer interface {
	ObserveRequest(RequestStats)
}

// RequestStats describes one answered request. It carries no user data:
// Route is the pattern the request matched, never its path, and Token is
// the name an operator gave a token, never a secret.
type RequestStats struct {
	Method string // as the client sent it
	// Route is the ServeMux pattern that matched ("/scim/v2/Users/{id}",
	// "/healthz"), or "" when none did.
	Route    string
	Status   int
	Token    string // the token's name; "" when none was recognised
	Duration time.Duration
	// AuthRefused is set when authentication failed: a 401, or a 429 once
	// the client's address is over its limit of failures (ratelimit.go).
	AuthRefused bool
}

// observe reports a finished request to the Observer. A request refused
// before routing (a failed authentication, a read-only token's write) has
// no pattern yet; the mux is asked which one it would have matched, which
// costs a lookup on error paths only.
func (s *Server) observe(r *http.Request, info *reqInfo, start time.Time) {
	route := r.Pattern
	if route == "" && (info.refused || info.status >= 400) {
		_, route = s.mux.Handler(r)
	}
	status := info.status
	if status == 0 {
		status = http.StatusOK // a handler that wrote nothing
	}
	s.cfg.Observer.ObserveRequest(RequestStats{Method: r.Method, Route: route, Status: status, Token: info.token,
		// Authentication that failed because the token table could not be
		// read is a 503, an outage rather than a refusal.
		Duration: time.Since(start), AuthRefused: info.refused && (status == http.StatusUnauthorized || status == http.StatusTooManyRequests)})
}
