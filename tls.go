package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// cipherSuites are the TLS 1.2 suites scimd offers: ECDHE key exchange with
// AES-GCM, the suites Microsoft Entra ID requires
// (../shared/spec/entra-id.md §4), and ChaCha20-Poly1305 for clients without
// AES hardware. No CBC, no RSA key exchange. TLS 1.3 suites are not
// configurable in Go and are all AEAD.
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// checkTLS checks [tls] before anything is opened, so a typo is one clear
// line at startup rather than an ACME failure minutes later.
func checkTLS(c TLSConfig) error {
	if len(c.Domains) == 0 {
		return nil
	}
	for _, d := range c.Domains {
		switch {
		case d == "" || strings.ContainsAny(d, "/: "):
			return fmt.Errorf("[tls] domains: %q is not a host name (write scim.example.org, without scheme, port or path)", d)
		case strings.Contains(d, "*"):
			return fmt.Errorf("[tls] domains: %q: wildcard certificates need the DNS-01 challenge, which scimd does not do; list the names", d)
		case net.ParseIP(d) != nil:
			return fmt.Errorf("[tls] domains: %q: certificates are issued for host names, not IP addresses", d)
		case !certmagic.SubjectQualifiesForCert(d):
			return fmt.Errorf("[tls] domains: %q is not a valid host name", d)
		}
	}
	for _, p := range []struct {
		key  string
		port int
	}{{"https_port", c.HTTPSPort}, {"http_port", c.HTTPPort}} {
		if p.port < 1 || p.port > 65535 {
			return fmt.Errorf("[tls] %s must be between 1 and 65535, not %d", p.key, p.port)
		}
	}
	if c.HTTPSPort == c.HTTPPort {
		return errors.New("[tls] https_port and http_port must differ")
	}
	if c.CA != "" {
		u, err := url.Parse(c.CA)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("[tls] ca must be an https:// ACME directory URL, not %q", c.CA)
		}
	}
	return nil
}

// certStorage is where certificates and the ACME account live: [tls]
// storage, or a "certs" folder beside the database so that one state folder
// (/var/lib/scimd) holds everything worth backing up.
func certStorage(cfg Config) string {
	if cfg.TLS.Storage != "" {
		return cfg.TLS.Storage
	}
	return filepath.Join(filepath.Dir(cfg.Database.Path), "certs")
}

// acme obtains and renews the certificates for [tls] domains through
// certmagic, and answers the ACME challenges: HTTP-01 through httpHandler on
// the HTTP port, TLS-ALPN-01 through tlsConfig on the HTTPS port.
type acme struct {
	magic   *certmagic.Config
	cache   *certmagic.Cache
	issuer  *certmagic.ACMEIssuer
	domains []string
	port    int // the HTTPS port, for redirects
	log     *slog.Logger

	mu      sync.Mutex
	loading map[string]chan struct{} // closed once the stored certificate is in memory
}

// newACME prepares certificate management; nothing touches the network until
// manage.
func newACME(cfg Config, log *slog.Logger) (*acme, error) {
	t := cfg.TLS
	domains := make([]string, len(t.Domains))
	for i, d := range t.Domains {
		domains[i] = strings.ToLower(d)
	}
	var roots *x509.CertPool
	if t.CARoot != "" {
		pem, err := os.ReadFile(t.CARoot)
		if err != nil {
			return nil, fmt.Errorf("[tls] ca_root: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("[tls] ca_root: %s holds no PEM certificate", t.CARoot)
		}
	}
	zl := zap.New(slogCore{h: log.Handler()})
	a := &acme{domains: domains, port: t.HTTPSPort, log: log, loading: map[string]chan struct{}{}}
	a.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return a.magic, nil },
		Logger:           zl,
	})
	a.magic = certmagic.New(a.cache, certmagic.Config{
		Storage: &certmagic.FileStorage{Path: certStorage(cfg)},
		Logger:  zl,
		OnEvent: func(_ context.Context, event string, data map[string]any) error {
			switch event {
			case "cached_managed_cert":
				names, _ := data["sans"].([]string)
				a.mu.Lock()
				for _, n := range names {
					if ch, ok := a.loading[n]; ok {
						close(ch)
						delete(a.loading, n)
					}
				}
				a.mu.Unlock()
			case "cert_obtained":
				log.Info("certificate obtained", "domain", data["identifier"], "renewal", data["renewal"])
			case "cert_failed":
				log.Error("certificate not obtained: check that DNS points here and ports 80 and 443 are open",
					"domain", data["identifier"], "error", data["error"], "renewal", data["renewal"])
			}
			return nil
		},
	})
	a.issuer = certmagic.NewACMEIssuer(a.magic, certmagic.ACMEIssuer{
		CA:           t.CA,
		Email:        t.Email,
		Agreed:       true,
		TrustedRoots: roots,
		// Our own listeners hold these ports: certmagic finds them taken and
		// relies on httpHandler and tlsConfig to answer the challenges.
		AltHTTPPort:    t.HTTPPort,
		AltTLSALPNPort: t.HTTPSPort,
		Logger:         zl,
	})
	if t.CA == "" {
		a.issuer.CA = certmagic.LetsEncryptProductionCA
	}
	a.magic.Issuers = []certmagic.Issuer{a.issuer}
	return a, nil
}

// manage starts certificate management: certmagic obtains missing
// certificates and renews due ones in the background until ctx ends. It
// returns once the certificates already in storage are in memory, so a
// restarted scimd answers its first handshake with them.
func (a *acme) manage(ctx context.Context) error {
	waits := map[string]chan struct{}{}
	a.mu.Lock()
	for _, d := range a.domains {
		if a.magic.Storage.Exists(ctx, certmagic.StorageKeys.SiteCert(a.issuer.IssuerKey(), d)) {
			ch := make(chan struct{})
			a.loading[d], waits[d] = ch, ch
		}
	}
	a.mu.Unlock()
	if err := a.magic.ManageAsync(ctx, a.domains); err != nil {
		return err
	}
	limit := time.NewTimer(30 * time.Second)
	defer limit.Stop()
	for d, ch := range waits {
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-limit.C:
			a.log.Warn("stored certificate not loaded yet; HTTPS handshakes fail until it is", "domain", d)
			return nil
		}
	}
	return nil
}

// stop ends certificate maintenance.
func (a *acme) stop() { a.cache.Stop() }

// tlsConfig serves the managed certificates (and TLS-ALPN-01 challenge
// certificates) with TLS 1.2 as the minimum and ECDHE-AEAD suites only.
func (a *acme) tlsConfig() *tls.Config {
	c := a.magic.TLSConfig()
	c.MinVersion = tls.VersionTLS12
	c.CipherSuites = cipherSuites
	return c
}

// httpHandler answers ACME HTTP-01 challenges and redirects everything else
// to HTTPS with 308, which keeps the method and body of a SCIM POST.
func (a *acme) httpHandler() http.Handler {
	return a.issuer.HTTPChallengeHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		// Only redirect to a name we have a certificate for.
		if host = strings.ToLower(host); !slices.Contains(a.domains, host) {
			host = a.domains[0]
		}
		if a.port != 443 {
			host = net.JoinHostPort(host, strconv.Itoa(a.port))
		}
		u := url.URL{Scheme: "https", Host: host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
		w.Header().Set("Connection", "close")
		http.Redirect(w, r, u.String(), http.StatusPermanentRedirect)
	}))
}

// slogCore sends certmagic's zap log entries to scimd's slog handler, so
// ACME progress and errors appear in the same format and stream as the rest.
type slogCore struct{ h slog.Handler }

func (c slogCore) Enabled(l zapcore.Level) bool {
	return c.h.Enabled(context.Background(), slogLevel(l))
}

func (c slogCore) With(fs []zapcore.Field) zapcore.Core { return slogCore{h: c.h.WithAttrs(attrs(fs))} }

func (c slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c slogCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	r := slog.NewRecord(e.Time, slogLevel(e.Level), e.Message, 0)
	if e.LoggerName != "" {
		r.AddAttrs(slog.String("logger", e.LoggerName))
	}
	r.AddAttrs(attrs(fs)...)
	return c.h.Handle(context.Background(), r)
}

func (c slogCore) Sync() error { return nil }

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	}
	return slog.LevelError
}

func attrs(fs []zapcore.Field) []slog.Attr {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fs {
		f.AddTo(enc)
	}
	keys := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]slog.Attr, 0, len(keys))
	for _, k := range keys {
		out = append(out, slog.Any(k, enc.Fields[k]))
	}
	return out
}

// publicURL is the external URL the server names itself by in
// meta.location and Location headers: [server] public_url when set; with
// [tls] domains, https://<first domain> (with https_port when it is not
// 443), because that is the name the certificate and identity providers
// use; otherwise "", and the server takes scheme and host from each
// request. Taking them from the request's Host header is never done under
// TLS: any client can send any Host, and a location naming a host the
// client made up would be stored by the identity provider.
func publicURL(cfg Config) string {
	if cfg.Server.PublicURL != "" || len(cfg.TLS.Domains) == 0 {
		return cfg.Server.PublicURL
	}
	u := "https://" + strings.ToLower(cfg.TLS.Domains[0])
	if cfg.TLS.HTTPSPort != 443 && cfg.TLS.HTTPSPort != 0 {
		u += ":" + strconv.Itoa(cfg.TLS.HTTPSPort)
	}
	return u
}
