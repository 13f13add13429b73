// Package admin serves scimd's operator endpoints on a listener of their
// own, never on the SCIM port: /metrics in the Prometheus text format and
// a status page at / (status.go). Both are read-only. The listener is
// meant for loopback or a private network; anywhere else it requires HTTP
// basic auth (user "admin", the password from [admin] password_file).
//
// Other features plug in without this package importing them: a
// prometheus.Collector in Options.Collectors adds metrics and a Section
// adds a table to the status page. Webhooks and Replica (features.go) make
// both from a function that reads the feature's in-memory stats, with the
// metric names that deploy/prometheus/alerts.yml uses.
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"scimd/store"
)

// Options configure the admin handler.
type Options struct {
	Store   *store.Store
	Metrics *Metrics // from NewMetrics, already fed by the store and the SCIM server
	// Password, when not empty, is required as HTTP basic auth with the
	// user "admin" on every path.
	Password string
	Version  string
	Logger   *slog.Logger
	// Collectors are registered beside scimd's own metrics: each feature
	// that has something to report (webhooks, replication) passes its own.
	Collectors []prometheus.Collector
	// Sections are extra tables on the status page, shown in this order
	// between the tokens and the provisioning activity.
	Sections []Section
	// Now is the clock; nil means time.Now. Tests set it.
	Now func() time.Time
}

// Admin is the handler of the admin listener.
type Admin struct {
	opt  Options
	mux  *http.ServeMux
	pass [32]byte // SHA-256 of the password, compared in constant time
}

// New builds the handler. It registers the store collector and
// opt.Collectors in the metrics registry.
func New(opt Options) (*Admin, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	reg := opt.Metrics.Registry()
	if err := reg.Register(newStoreCollector(opt.Store, opt.Now)); err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	for _, c := range opt.Collectors {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("admin: %w", err)
		}
	}
	a := &Admin{opt: opt, mux: http.NewServeMux()}
	if opt.Password != "" {
		a.pass = sha256.Sum256([]byte(opt.Password))
	}
	a.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(opt.Logger.Handler(), slog.LevelWarn), Registry: reg}))
	a.mux.HandleFunc("GET /{$}", a.status)
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not found: the admin listener serves /metrics and the status page at /", http.StatusNotFound)
	})
	return a, nil
}

// ServeHTTP checks basic auth, when a password is set, before anything.
func (a *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	if a.opt.Password == "" && !localHost(r.Host) {
		// Without a password the listener is loopback-only, and a web page
		// could still reach it through DNS rebinding (its own name resolved
		// to 127.0.0.1): such a request names that page's host.
		http.Error(w, "forbidden: without [admin] password_file the admin listener answers only requests addressed to localhost or an IP address", http.StatusForbidden)
		return
	}
	if a.opt.Password != "" && !a.authorized(r) {
		h.Set("WWW-Authenticate", `Basic realm="scimd admin", charset="UTF-8"`)
		http.Error(w, "unauthorized: log in as user admin with the password from [admin] password_file", http.StatusUnauthorized)
		return
	}
	a.mux.ServeHTTP(w, r)
}

// authorized compares hashes of the user and password in constant time, so
// the time taken tells nothing about how much of either was right.
func (a *Admin) authorized(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	u := sha256.Sum256([]byte(user))
	want := sha256.Sum256([]byte("admin"))
	p := sha256.Sum256([]byte(pass))
	return subtle.ConstantTimeCompare(u[:], want[:])&subtle.ConstantTimeCompare(p[:], a.pass[:]) == 1
}

// localHost reports whether a Host header names localhost or an IP
// address (with or without a port), as a browser on the machine, an SSH
// tunnel or a local Prometheus would send.
func localHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	_, err := netip.ParseAddr(host)
	return err == nil
}

// NewHTTPServer wraps h with the admin listener's own timeouts: short,
// since it serves a page and a scrape, never a large sync, and independent
// of [server]'s, which are sized for identity providers.
func NewHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// IsLoopback reports whether a listen address ("host:port") binds only
// the loopback interface. An empty host binds every interface; a host name
// other than localhost could resolve anywhere, so it counts as public.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// ReadPassword reads a password file: the whole file with surrounding
// whitespace (a trailing newline from an editor or echo) trimmed. An empty
// password is an error, since it would look protected and be guessable.
func ReadPassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("[admin] password_file: %w", err)
	}
	p := strings.TrimSpace(string(b))
	if p == "" {
		return "", fmt.Errorf("[admin] password_file %s is empty", path)
	}
	return p, nil
}

// ErrPublicWithoutPassword is returned by Check for a listener reachable
// from other hosts without a password.
var ErrPublicWithoutPassword = errors.New("not a loopback address and no password_file is set")

// Check validates the [admin] settings: a listen address other than
// loopback needs a password.
func Check(listen, passwordFile string) error {
	if listen == "" || passwordFile != "" || IsLoopback(listen) {
		return nil
	}
	return fmt.Errorf("[admin] listen %q is %w: set [admin] password_file (basic auth, user admin), or listen on 127.0.0.1", listen, ErrPublicWithoutPassword)
}

// statusTimeout bounds the database reads of one status page.
const statusTimeout = 10 * time.Second

func (a *Admin) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), statusTimeout)
}
