// Package server serves the SCIM 2.0 HTTP API (RFC 7644) over net/http:
// routing under the base path, bearer-token authentication, request
// logging, and handlers that return errors which one function, writeError,
// turns into RFC 7644 §3.12 responses.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"scimd/scim"
	"scimd/store"
)

// Config is what the server needs to know from the operator's config.
type Config struct {
	BasePath   string // "/scim/v2"
	PublicURL  string // external base URL for meta.location; "" = from the request
	MaxBody    int64  // request body limit in bytes
	MaxResults int    // cap on count, advertised as filter.maxResults
	Limits     scim.Limits
	Logger     *slog.Logger
	// RequestLogger, when set, takes the one line logged per request
	// instead of Logger: serve gives it a writer that batches those lines
	// (logwriter.go in package main).
	RequestLogger *slog.Logger
	// RequestLog, when set, takes the request lines at INFO instead, in
	// the text format of log/slog's TextHandler but formatted without slog
	// (reqlog.go); 5xx lines still go to RequestLogger or Logger.
	RequestLog io.Writer
	// HSTS adds Strict-Transport-Security to HTTPS responses.
	HSTS bool
	// AuthFailuresPerMinute is how many refused authentications one client
	// address may have per minute before it gets 429 (ratelimit.go); 0 is
	// no limit. Valid tokens are never limited.
	AuthFailuresPerMinute int
	// Observer, when set, hears about every request once it is answered
	// (observe.go); package admin counts them for /metrics.
	Observer Observer
}

// DefaultConfig holds the built-in defaults.
var DefaultConfig = Config{BasePath: "/scim/v2", MaxBody: 1 << 20, MaxResults: 200}

// Server is the SCIM HTTP API over one store.
type Server struct {
	st  *store.Store
	cat *scim.Catalog
	cfg Config
	log *slog.Logger
	// reqLog is the handler of the per-request line (Config.RequestLogger).
	reqLog slog.Handler
	usage  store.Usage
	mux    *http.ServeMux
	bases  []string // paths the SCIM API answers under (basePaths)
	ready  atomic.Bool
	// authLimit counts refused authentications per address; nil is off.
	authLimit *authLimiter
	// failures queues failed requests for the provisioning log (failures.go).
	failures store.Failures
	// raw renders users from their stored JSON (raw.go).
	raw *rawCatalog
}

// New builds a server. Call FlushUsage periodically (Run does) to persist
// tokens' last-used times.
func New(st *store.Store, cfg Config) *Server {
	if cfg.BasePath == "" {
		cfg.BasePath = DefaultConfig.BasePath
	}
	cfg.BasePath = "/" + strings.Trim(cfg.BasePath, "/")
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultConfig.MaxBody
	}
	if cfg.MaxResults <= 0 {
		cfg.MaxResults = DefaultConfig.MaxResults
	}
	cfg.Limits = cfg.Limits.WithDefaults()
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RequestLogger == nil {
		cfg.RequestLogger = cfg.Logger
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	s := &Server{st: st, cat: st.Catalog(), cfg: cfg, log: cfg.Logger, reqLog: cfg.RequestLogger.Handler(), mux: http.NewServeMux(), bases: basePaths(cfg.BasePath)}
	s.authLimit = newAuthLimiter(cfg.AuthFailuresPerMinute, time.Now)
	s.raw = newRawCatalog(s.cat.User)
	s.routes()
	s.ready.Store(true)
	return s
}

// Handler is the complete HTTP handler: routing, auth, headers and logging.
func (s *Server) Handler() http.Handler { return s }

// FlushUsage writes tokens' last-used times collected since the last call.
// It also waits for queued failure records of the provisioning log.
func (s *Server) FlushUsage(ctx context.Context) error {
	return errors.Join(s.st.FlushUsage(ctx, &s.usage), s.st.FlushFailures(ctx, &s.failures))
}

// handler is an HTTP handler that returns its error instead of writing it.
type handler func(w http.ResponseWriter, r *http.Request) error

// basePaths lists the paths the SCIM API answers under: the configured base path
// and, when it ends in /v2, its parent too, so that a Tenant URL of either
// https://host/scim/v2 or https://host/scim works (vendors document both).
func basePaths(basePath string) []string {
	out := []string{basePath}
	if p := strings.TrimSuffix(basePath, "/v2"); p != basePath && p != "" {
		out = append(out, p)
	}
	if basePath == "/" {
		out = []string{""}
	}
	return out
}

func (s *Server) routes() {
	s.mux.HandleFunc("/healthz", s.healthz)
	for _, b := range s.bases {
		s.route(b+"/ServiceProviderConfig", map[string]handler{"GET": s.serviceProviderConfig})
		s.route(b+"/ResourceTypes", map[string]handler{"GET": s.resourceTypes})
		s.route(b+"/ResourceTypes/{id}", map[string]handler{"GET": s.resourceType})
		s.route(b+"/Schemas", map[string]handler{"GET": s.schemas})
		s.route(b+"/Schemas/{id}", map[string]handler{"GET": s.schema})
		for _, k := range []store.Kind{store.Users, store.Groups} {
			rt := s.rtOf(k)
			s.route(b+rt.Endpoint, map[string]handler{"GET": s.list(k), "POST": s.create(k)})
			s.route(b+rt.Endpoint+"/.search", map[string]handler{"POST": s.search(k)})
			s.route(b+rt.Endpoint+"/{id}", map[string]handler{"GET": s.get(k), "PUT": s.replace(k), "PATCH": s.patch(k), "DELETE": s.delete(k)})
		}
		// The base path itself and anything under it that no route above
		// takes: a SCIM 404. Registering the base exactly keeps ServeMux
		// from redirecting "/scim/v2" to "/scim/v2/".
		if b != "" {
			s.route(b, map[string]handler{})
		}
		s.route(b+"/", map[string]handler{})
	}
	if !slices.Contains(s.bases, "") {
		// Outside the base path too: a client with a mistyped Tenant URL
		// gets a SCIM error naming the right one, not net/http's text page.
		s.route("/", map[string]handler{})
	}
}

// endpoints are the endpoint names under the base path as registered.
// ASP.NET and Express route without regard to case, and clients written
// against them send "/users" or "/USERS/{id}"; canonicalPath maps any
// spelling onto these.
var endpoints = []string{"Users", "Groups", "ServiceProviderConfig", "ResourceTypes", "Schemas"}

// canonicalPath rewrites the endpoint name right after a base path (and
// ".search" after /Users or /Groups) to its registered spelling, in place.
// The base path and ids are compared and kept exactly as sent.
func (s *Server) canonicalPath(u *url.URL) {
	for _, b := range s.bases {
		rest, ok := strings.CutPrefix(u.Path, b+"/")
		if !ok {
			continue
		}
		seg, tail, _ := strings.Cut(rest, "/")
		name := ""
		for _, e := range endpoints {
			if strings.EqualFold(seg, e) {
				name = e
				break
			}
		}
		if name == "" || seg == name && (tail == ".search" || !strings.EqualFold(tail, ".search")) {
			return // the common case: nothing to rewrite, nothing allocated
		}
		rewrite := func(p string) string {
			_, tail, hasTail := strings.Cut(strings.TrimPrefix(p, b+"/"), "/")
			if !hasTail {
				return b + "/" + name
			}
			if (name == "Users" || name == "Groups") && strings.EqualFold(tail, ".search") {
				tail = ".search"
			}
			return b + "/" + name + "/" + tail
		}
		if rawSeg, _, _ := strings.Cut(strings.TrimPrefix(u.RawPath, b+"/"), "/"); u.RawPath != "" && rawSeg == seg {
			u.RawPath = rewrite(u.RawPath)
		} else {
			u.RawPath = ""
		}
		u.Path = rewrite(u.Path)
		return
	}
}

// hasDotSegment reports whether p has a "." or ".." segment, which
// ServeMux would answer with a redirect to the cleaned path.
func hasDotSegment(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// route registers a path whose methods are listed; other methods get a
// SCIM 405 (Okta's SPEC test POSTs to the discovery endpoints), and a path
// with no methods answers 404 for everything.
func (s *Server) route(path string, methods map[string]handler) {
	allow := make([]string, 0, len(methods))
	for m := range methods {
		allow = append(allow, m)
	}
	s.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		h, ok := methods[r.Method]
		if !ok && r.Method == http.MethodHead {
			h, ok = methods["GET"]
		}
		if len(methods) == 0 {
			b := s.bases[0] // the configured base path; "" for "/"
			s.writeError(w, r, scim.NotFound("no SCIM endpoint at %s; endpoints are %s/Users, %s/Groups, %s/ServiceProviderConfig, %s/ResourceTypes and %s/Schemas",
				clip(r.URL.Path), b, b, b, b, b))
			return
		}
		if !ok {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			s.writeError(w, r, scim.MethodNotAllowed("%s is not allowed on %s", r.Method, clip(r.URL.Path)))
			return
		}
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func clip(s string) string { return scim.Clip(s, 120) }

type ctxKey int

// infoKey is the context key of the request's *reqInfo: one value per
// request, so a request is copied once (Request.WithContext), not once per
// thing handlers look up.
const infoKey ctxKey = 0

// reqInfo is filled in as a request passes through, for handlers and the
// log line.
type reqInfo struct {
	id     string      // the request ID (X-Request-Id)
	actor  store.Actor // the authenticated token, once authenticate passed
	status int
	token  string
	errMsg string
	// refused is set when authentication failed (401, or 429 once the
	// client's address is over its limit).
	refused bool
}

// ServeHTTP wraps every request: request ID, common headers, path
// cleaning, authentication for SCIM paths, and the log line.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := requestID()
	info := &reqInfo{id: id}
	r = r.WithContext(context.WithValue(r.Context(), infoKey, info))
	rw := &statusWriter{ResponseWriter: w, info: info}
	h := rw.Header()
	h.Set("X-Request-Id", id)
	h.Set("X-Content-Type-Options", "nosniff")
	if s.cfg.HSTS && r.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	// Tolerate a doubled slash from a Tenant URL typed with a trailing "/".
	if strings.Contains(r.URL.Path, "//") {
		for strings.Contains(r.URL.Path, "//") {
			r.URL.Path = strings.ReplaceAll(r.URL.Path, "//", "/")
		}
		r.URL.RawPath = ""
	}
	if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") && s.isSCIM(strings.TrimSuffix(p, "/")) {
		r.URL.Path = strings.TrimSuffix(p, "/")
		r.URL.RawPath = strings.TrimSuffix(r.URL.RawPath, "/")
	}
	s.canonicalPath(r.URL)
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("panic serving request", "request_id", id, "panic", v)
			if info.status == 0 {
				s.writeError(rw, r, errors.New("panic"))
			}
		}
		s.logRequest(r, info, start, id)
		if s.cfg.Observer != nil {
			s.observe(r, info, start)
		}
	}()
	if s.isSCIM(r.URL.Path) {
		h.Set("Cache-Control", "no-store")
		a, err := s.authenticate(r)
		if err != nil {
			info.errMsg = err.Error()
			info.refused = true
			h.Set("WWW-Authenticate", `Bearer realm="scimd"`)
			s.writeError(rw, r, s.limitAuthFailure(rw, r, err))
			return
		}
		info.token = a.Token
		info.actor = a
		if a.ReadOnly && !readOnlyAllowed(r) {
			s.writeError(rw, r, scim.Forbidden("the token %q has scope read: it may read (GET, POST .search) but not %s; issue a token with --scope write to change the directory", a.Token, r.Method))
			return
		}
	}
	if hasDotSegment(r.URL.Path) {
		s.writeError(rw, r, scim.NotFound("no SCIM endpoint at %s: paths with \".\" or \"..\" segments are not resolved", clip(r.URL.Path)))
		return
	}
	s.mux.ServeHTTP(rw, r)
}

// readOnlyAllowed reports whether a read-scope token may make request r:
// GET and HEAD anywhere, and POST to a /.search endpoint (a query sent in
// the body, RFC 7644 §3.4.3). Everything else is a write.
func readOnlyAllowed(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return true
	case http.MethodPost:
		return strings.HasSuffix(r.URL.Path, "/.search")
	}
	return false
}

func (s *Server) isSCIM(p string) bool {
	for _, b := range s.bases {
		if p == b || strings.HasPrefix(p, b+"/") {
			return true
		}
	}
	return false
}

func (s *Server) logRequest(r *http.Request, info *reqInfo, start time.Time, id string) {
	level := slog.LevelInfo
	if info.status >= 500 {
		level = slog.LevelError
	}
	if r.URL.Path == "/healthz" {
		level = slog.LevelDebug
	}
	if s.cfg.RequestLog != nil && level == slog.LevelInfo {
		l := requestLine{time: time.Now(), method: r.Method, path: r.URL.Path, status: info.status,
			durationMS: float64(time.Since(start).Microseconds()) / 1000, id: id, remote: remoteIP(r),
			userAgent: r.UserAgent(), token: info.token, err: info.errMsg}
		writeRequestLine(s.cfg.RequestLog, &l)
		return
	}
	ctx := r.Context()
	h := s.reqLog
	if !h.Enabled(ctx, level) {
		return
	}
	// The record is built here rather than by Logger.Log: one line per
	// request is worth skipping the caller lookup (no handler here prints
	// the source) and boxing every value.
	rec := slog.NewRecord(time.Now(), level, "request", 0)
	rec.AddAttrs(slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", info.status),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000), slog.String("request_id", id),
		slog.String("remote", remoteIP(r)), slog.String("user_agent", r.UserAgent()))
	if info.token != "" {
		rec.AddAttrs(slog.String("token", info.token))
	}
	if info.errMsg != "" {
		rec.AddAttrs(slog.String("error", info.errMsg))
	}
	h.Handle(ctx, rec)
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func requestID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// statusWriter remembers the status for the log line.
type statusWriter struct {
	http.ResponseWriter
	info *reqInfo
}

func (w *statusWriter) WriteHeader(code int) {
	if w.info.status == 0 {
		w.info.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.info.status == 0 {
		w.info.status = 200
	}
	return w.ResponseWriter.Write(b)
}

// authenticate checks the bearer token. Okta's header-auth mode has been
// seen both with and without the "Bearer " prefix, so a bare scimd_ secret
// is accepted too.
func (s *Server) authenticate(r *http.Request) (store.Actor, error) {
	h := r.Header.Get("Authorization")
	if strings.TrimSpace(h) == "" {
		return store.Actor{}, scim.Unauthorized("no Authorization header: send Authorization: Bearer <token> with a token from 'scimd token issue'")
	}
	secret, ok := scim.BearerSecret(h, store.TokenPrefix)
	if !ok {
		return store.Actor{}, scim.Unauthorized("the Authorization header is malformed: expected \"Bearer <token>\"")
	}
	t, err := s.st.AuthenticateCached(r.Context(), secret)
	if err != nil {
		var ae *store.AuthError
		if errors.As(err, &ae) {
			if info := infoOf(r); info != nil {
				info.token = ae.Token // name of an expired/revoked token, for the logs
			}
			return store.Actor{}, scim.Unauthorized("%s", ae.Reason)
		}
		return store.Actor{}, err
	}
	s.usage.Touch(t.Seq, r.UserAgent(), time.Now())
	return store.Actor{Token: t.Name, IDP: t.IDP, Agent: r.UserAgent(), ReadOnly: t.Scope == store.ScopeRead}, nil
}

func actorOf(r *http.Request) store.Actor {
	if info := infoOf(r); info != nil {
		return info.actor
	}
	return store.Actor{}
}

// infoOf is what ServeHTTP put in r's context (nil for a request that did
// not come through it).
func infoOf(r *http.Request) *reqInfo {
	info, _ := r.Context().Value(infoKey).(*reqInfo)
	return info
}

// requestIDOf is r's request ID.
func requestIDOf(r *http.Request) string {
	if info := infoOf(r); info != nil {
		return info.id
	}
	return ""
}

// writeError is the one place errors become HTTP responses. SCIM errors are
// sent as they are; store unavailability is 503; anything else is a 500
// carrying only the request ID, with the details in the log.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var se *scim.Error
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &se):
	case errors.As(err, &mbe):
		se = scim.TooLarge("the request body is larger than %d bytes", s.cfg.MaxBody)
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrBusy):
		id := requestIDOf(r)
		s.log.Error("write failed: database unavailable", "request_id", id, "error", err)
		se = scim.Unavailable("the database cannot accept changes right now (request %s); reads still work, retry later", id)
		w.Header().Set("Retry-After", "30")
	case r.Context().Err() != nil:
		// The client closed the connection while the request was being
		// served: nobody reads the answer, and the failure is not the
		// server's, so it is
		// recorded as a client error and logged without ERROR, like a body
		// cut off halfway (body.go).
		se = scim.BadRequest("the client closed the connection before the request completed")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		se = scim.Unavailable("the request was cancelled before it completed")
	default:
		id := requestIDOf(r)
		s.log.Error("internal error", "request_id", id, "error", err)
		se = &scim.Error{Status: 500, Detail: "internal error; the server log has the details under request id " + id}
	}
	if info := infoOf(r); info != nil && info.errMsg == "" {
		info.errMsg = se.Detail
	}
	s.recordFailure(r, se)
	writeJSON(w, se.Status, se)
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// putBuf returns b, the buffer got from bp and possibly grown, to the
// pool, unless it grew past twice streamAt: one huge response must not
// keep its buffer alive for every later small one.
func putBuf(bp *[]byte, b []byte) {
	if cap(b) <= 2*streamAt {
		*bp = b[:0]
		bufPool.Put(bp)
	}
}

// writeJSON sends a SCIM JSON body with the SCIM media type. Bodies up to
// streamAt bytes go out in one piece with a Content-Length; a larger one (a
// group with tens of thousands of members) is written as it is encoded,
// with chunked transfer encoding, so its size never has to fit in one
// buffer.
func writeJSON(w http.ResponseWriter, status int, v any) {
	bp := bufPool.Get().(*[]byte)
	sw := &streamWriter{w: w, status: status}
	b, err := scim.StreamJSON(sw, (*bp)[:0], v, streamAt)
	switch {
	case err != nil && !sw.started:
		status = 500
		b = append(b[:0], `{"schemas":["`+scim.ErrorSchema+`"],"status":"500","detail":"response encoding failed"}`...)
	case err != nil:
		// Part of the body is out: the client sees a truncated response.
		putBuf(bp, b)
		return
	}
	b = append(b, '\n')
	if !sw.started {
		w.Header().Set("Content-Type", "application/scim+json")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(status)
	}
	w.Write(b)
	putBuf(bp, b)
}

// streamAt is the body size past which responses are streamed: above a
// full page of 200 users, so lists keep their Content-Length and one write.
const streamAt = 1 << 20

// streamWriter sends the headers (without Content-Length) before the first
// piece of a streamed body.
type streamWriter struct {
	w       http.ResponseWriter
	status  int
	started bool
}

func (s *streamWriter) Write(p []byte) (int, error) {
	if !s.started {
		s.started = true
		s.w.Header().Set("Content-Type", "application/scim+json")
		s.w.WriteHeader(s.status)
	}
	return s.w.Write(p)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !s.ready.Load() {
		w.WriteHeader(503)
		w.Write([]byte("starting\n"))
		return
	}
	w.Write([]byte("ok\n"))
}
