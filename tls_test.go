package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestCheckTLS(t *testing.T) {
	ok := TLSConfig{Domains: []string{"scim.example.org"}, HTTPSPort: 443, HTTPPort: 80}
	for _, tc := range []struct {
		name string
		edit func(*TLSConfig)
		want string // "" = valid
	}{
		{"defaults without domains", func(c *TLSConfig) { *c = Default().TLS }, ""},
		{"one domain", func(c *TLSConfig) {}, ""},
		{"staging CA", func(c *TLSConfig) { c.CA = "https://acme-staging-v02.api.letsencrypt.org/directory" }, ""},
		{"URL as domain", func(c *TLSConfig) { c.Domains = []string{"https://scim.example.org"} }, "not a host name"},
		{"port in domain", func(c *TLSConfig) { c.Domains = []string{"scim.example.org:443"} }, "not a host name"},
		{"empty domain", func(c *TLSConfig) { c.Domains = []string{""} }, "not a host name"},
		{"wildcard", func(c *TLSConfig) { c.Domains = []string{"*.example.org"} }, "DNS-01"},
		{"IP address", func(c *TLSConfig) { c.Domains = []string{"192.0.2.1"} }, "IP addresses"},
		{"port zero", func(c *TLSConfig) { c.HTTPSPort = 0 }, "https_port"},
		{"port too high", func(c *TLSConfig) { c.HTTPPort = 70000 }, "http_port"},
		{"same ports", func(c *TLSConfig) { c.HTTPPort = 443 }, "must differ"},
		{"plain HTTP CA", func(c *TLSConfig) { c.CA = "http://ca.example.org/dir" }, "https://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			c.Domains = append([]string(nil), ok.Domains...)
			tc.edit(&c)
			err := checkTLS(c)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("checkTLS: %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("checkTLS: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestCertStorage(t *testing.T) {
	cfg := Default()
	cfg.Database.Path = "/var/lib/scimd/scimd.db"
	if got, want := certStorage(cfg), "/var/lib/scimd/certs"; got != want {
		t.Errorf("default storage: got %q, want %q", got, want)
	}
	cfg.TLS.Storage = "/srv/certs"
	if got, want := certStorage(cfg), "/srv/certs"; got != want {
		t.Errorf("configured storage: got %q, want %q", got, want)
	}
}

// freePort returns a TCP port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// pebble is a running Pebble ACME server.
type pebble struct {
	dir      string         // its directory URL
	caRoot   string         // PEM file trusted for its HTTPS API ([tls] ca_root)
	issuance *x509.CertPool // the root it issues certificates under
	stop     func()         // kills it; also run at cleanup
}

// buildPebble builds Pebble, Let's Encrypt's ACME test server, from the
// module cache (a tool dependency in go.mod).
func buildPebble(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pebble")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/letsencrypt/pebble/v2/cmd/pebble").CombinedOutput(); err != nil {
		t.Fatalf("building pebble: %v\n%s", err, out)
	}
	return bin
}

// startPebble runs Pebble with real validation: its VA connects to
// localhost:httpPort for HTTP-01 and localhost:tlsPort for TLS-ALPN-01.
func startPebble(t *testing.T, bin string, httpPort, tlsPort int) *pebble {
	t.Helper()
	dir := t.TempDir()
	caPEM, certPEM, keyPEM := testCA(t, "localhost", "127.0.0.1")
	files := map[string][]byte{"ca.pem": caPEM, "cert.pem": certPEM, "key.pem": keyPEM}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	api, mgmt := freePort(t), freePort(t)
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress":                  fmt.Sprintf("127.0.0.1:%d", api),
		"managementListenAddress":        fmt.Sprintf("127.0.0.1:%d", mgmt),
		"certificate":                    filepath.Join(dir, "cert.pem"),
		"privateKey":                     filepath.Join(dir, "key.pem"),
		"httpPort":                       httpPort,
		"tlsPort":                        tlsPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"retryAfter":                     map[string]int{"authz": 1, "order": 1},
		"keyAlgorithm":                   "ecdsa",
		"profiles":                       map[string]any{"default": map[string]any{"description": "test", "validityPeriod": 7776000}},
	}}
	b, _ := json.Marshal(conf)
	confPath := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(confPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out := newLineLog()
	cmd := exec.Command(bin, "-config", confPath)
	// No random sleep before validating, no injected bad nonces, no reuse of
	// earlier authorizations: every order is validated for real, at once.
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	var once sync.Once
	stop := func() { once.Do(func() { cmd.Process.Kill(); <-exited }) }
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("pebble log:\n%s", out.String())
		}
	})

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	p := &pebble{dir: fmt.Sprintf("https://127.0.0.1:%d/dir", api), caRoot: filepath.Join(dir, "ca.pem"), stop: stop}
	deadline := time.Now().Add(waitLimit)
	for {
		resp, err := client.Get(p.dir)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-exited:
			t.Fatalf("pebble exited:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not answer at %s: %v\n%s", p.dir, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, err := client.Get(fmt.Sprintf("https://127.0.0.1:%d/roots/0", mgmt))
	if err != nil {
		t.Fatal(err)
	}
	root, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	p.issuance = x509.NewCertPool()
	if !p.issuance.AppendCertsFromPEM(root) {
		t.Fatalf("pebble /roots/0 is not PEM: %q", root)
	}
	return p
}

// testCA makes a CA and a server certificate for names, signed by it.
func testCA(t *testing.T, names ...string) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "scimd test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ = x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			leaf.IPAddresses = append(leaf.IPAddresses, ip)
		} else {
			leaf.DNSNames = append(leaf.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

// running is serve() in the background.
type running struct {
	addr   string
	logs   *lineLog
	cancel context.CancelFunc
	done   chan error
}

func startServe(t *testing.T, cfg Config) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{logs: newLineLog(), cancel: cancel, done: make(chan error, 1)}
	ready := make(chan string, 1)
	go func() { r.done <- serve(ctx, cfg, r.logs, func(addr string) { ready <- addr }) }()
	select {
	case r.addr = <-ready:
	case err := <-r.done:
		t.Fatalf("serve: %v\n%s", err, r.logs.String())
	case <-time.After(waitLimit):
		t.Fatalf("serve did not become ready:\n%s", r.logs.String())
	}
	t.Cleanup(func() {
		if r.cancel != nil {
			r.stop(t)
		}
		if t.Failed() {
			t.Logf("scimd log:\n%s", r.logs.String())
		}
	})
	return r
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	r.cancel = nil
	if err := <-r.done; err != nil {
		t.Errorf("serve returned %v after cancel, want nil", err)
	}
}

// TestACME obtains real certificates from a real ACME server (Pebble) with
// both challenge types scimd answers, then talks SCIM over HTTPS.
func TestACME(t *testing.T) {
	bin := buildPebble(t)

	t.Run("http-01", func(t *testing.T) {
		httpPort, httpsPort := freePort(t), freePort(t)
		// Pebble validates HTTP-01 against our HTTP port; TLS-ALPN-01 would
		// go to a closed port, so the certificate proves HTTP-01 worked.
		pb := startPebble(t, bin, httpPort, freePort(t))
		dir := t.TempDir()
		cfg := acmeConfig(t, dir, pb, httpPort, httpsPort)
		srv := startServe(t, cfg)
		srv.logs.wait(t, "certificate obtained", "domain=localhost")

		client := httpsClient(pb.issuance)
		base := fmt.Sprintf("https://localhost:%d/scim/v2", httpsPort)
		scimOverHTTPS(t, client, base, issueTestToken(t, cfg))

		t.Run("redirect", func(t *testing.T) {
			for _, tc := range []struct{ host, path, want string }{
				{"localhost", "/scim/v2/Users?filter=userName%20eq%20%22a%22", fmt.Sprintf("https://localhost:%d/scim/v2/Users?filter=userName%%20eq%%20%%22a%%22", httpsPort)},
				{fmt.Sprintf("LOCALHOST:%d", httpPort), "/healthz", fmt.Sprintf("https://localhost:%d/healthz", httpsPort)},
				{"evil.example", "/x", fmt.Sprintf("https://localhost:%d/x", httpsPort)},
			} {
				req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d%s", httpPort, tc.path), strings.NewReader("{}"))
				req.Host = tc.host
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != tc.want {
					t.Errorf("POST http://%s%s: %d Location %q, want 308 %q", tc.host, tc.path, resp.StatusCode, resp.Header.Get("Location"), tc.want)
				}
			}
		})

		t.Run("TLS versions and suites", func(t *testing.T) {
			addr := fmt.Sprintf("localhost:%d", httpsPort)
			for _, tc := range []struct {
				name   string
				conf   *tls.Config
				ok     bool
				suite  uint16
				verTLS uint16
			}{
				{"TLS 1.3", &tls.Config{MinVersion: tls.VersionTLS13}, true, 0, tls.VersionTLS13},
				{"TLS 1.2 ECDHE-ECDSA-AES128-GCM", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}, true, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.VersionTLS12},
				{"TLS 1.2 ECDHE-ECDSA-AES256-GCM", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}}, true, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.VersionTLS12},
				{"TLS 1.2 CBC refused", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}, false, 0, 0},
				{"TLS 1.1 refused", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, false, 0, 0},
			} {
				t.Run(tc.name, func(t *testing.T) {
					c := tc.conf.Clone()
					c.RootCAs, c.ServerName = pb.issuance, "localhost"
					conn, err := tls.Dial("tcp", addr, c)
					if !tc.ok {
						if err == nil {
							conn.Close()
							t.Fatal("handshake succeeded, want it refused")
						}
						return
					}
					if err != nil {
						t.Fatalf("handshake: %v", err)
					}
					defer conn.Close()
					st := conn.ConnectionState()
					if st.Version != tc.verTLS || (tc.suite != 0 && st.CipherSuite != tc.suite) {
						t.Errorf("negotiated %s %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
					}
				})
			}
		})

		// Certificates live beside the database by default.
		certs, _ := filepath.Glob(filepath.Join(dir, "certs", "certificates", "*", "localhost", "localhost.crt"))
		if len(certs) != 1 {
			t.Errorf("certificate files beside the database: %v, want one localhost.crt under %s", certs, filepath.Join(dir, "certs"))
		}

		// After a restart the stored certificate is served at once, with the
		// CA out of reach.
		srv.stop(t)
		pb.stop()
		srv2 := startServe(t, cfg)
		if !strings.HasSuffix(srv2.addr, ":"+strconv.Itoa(httpsPort)) {
			t.Errorf("ready address %q, want the HTTPS port %d", srv2.addr, httpsPort)
		}
		resp, err := client.Get(fmt.Sprintf("https://localhost:%d/healthz", httpsPort))
		if err != nil {
			t.Fatalf("HTTPS right after a restart, Pebble stopped: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET /healthz over HTTPS right after a restart: %d, want 200", resp.StatusCode)
		}
	})

	t.Run("tls-alpn-01", func(t *testing.T) {
		httpPort, httpsPort := freePort(t), freePort(t)
		// HTTP-01 would go to a closed port: only TLS-ALPN-01 on our HTTPS
		// port can succeed.
		pb := startPebble(t, bin, freePort(t), httpsPort)
		dir := t.TempDir()
		cfg := acmeConfig(t, dir, pb, httpPort, httpsPort)
		cfg.TLS.Storage = filepath.Join(dir, "elsewhere")
		srv := startServe(t, cfg)
		srv.logs.wait(t, "certificate obtained", "domain=localhost")
		scimOverHTTPS(t, httpsClient(pb.issuance), fmt.Sprintf("https://localhost:%d/scim/v2", httpsPort), issueTestToken(t, cfg))
		if certs, _ := filepath.Glob(filepath.Join(dir, "elsewhere", "certificates", "*", "localhost", "localhost.crt")); len(certs) != 1 {
			t.Errorf("certificate in [tls] storage: %v, want one", certs)
		}
	})
}

func acmeConfig(t *testing.T, dir string, pb *pebble, httpPort, httpsPort int) Config {
	cfg := Default()
	cfg.Database.Path = filepath.Join(dir, "scimd.db")
	cfg.TLS = TLSConfig{Domains: []string{"localhost"}, Email: "admin@example.org", CA: pb.dir, CARoot: pb.caRoot,
		HTTPSPort: httpsPort, HTTPPort: httpPort}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// issueTestToken issues a token through the store, as "scimd token issue" does.
func issueTestToken(t *testing.T, cfg Config) string {
	t.Helper()
	st, err := openStore(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	secret, _, err := st.IssueToken(context.Background(), "acme-test", "generic", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// httpsClient trusts only roots and never follows redirects.
func httpsClient(roots *x509.CertPool) *http.Client {
	return &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// scimOverHTTPS creates a user and reads it back over HTTPS, checking the
// certificate chain, HSTS and meta.location.
func scimOverHTTPS(t *testing.T, client *http.Client, base, token string) {
	t.Helper()
	body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"tls@example.org"}`
	req, _ := http.NewRequest(http.MethodPost, base+"/Users", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s/Users over HTTPS: %v", base, err)
	}
	var u struct {
		ID   string `json:"id"`
		Meta struct {
			Location string `json:"location"`
		} `json:"meta"`
	}
	err = json.NewDecoder(resp.Body).Decode(&u)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || err != nil {
		t.Fatalf("POST /Users over HTTPS: %d %v", resp.StatusCode, err)
	}
	if len(resp.TLS.VerifiedChains) == 0 {
		t.Error("no verified certificate chain")
	}
	if got := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(got, "max-age=") {
		t.Errorf("Strict-Transport-Security: %q, want max-age=…", got)
	}
	if want := base + "/Users/" + u.ID; u.Meta.Location != want {
		t.Errorf("meta.location %q, want %q", u.Meta.Location, want)
	}
	req, _ = http.NewRequest(http.MethodGet, u.Meta.Location, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %d, want 200", u.Meta.Location, resp.StatusCode)
	}
}
