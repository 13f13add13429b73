package main

// Issue 14 through the real binary: the [admin] listener's rules (loopback
// or a password, basic auth, its own port), /metrics after real SCIM
// requests, and the alert rules checked by Prometheus' own promtool.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

var adminListeningRE = regexp.MustCompile(`msg="admin listening" addr=(\S+)`)

// newAdminE2E is an installation whose config ends with the given [admin]
// section (and any other extra keys).
func newAdminE2E(t *testing.T, extra string) *e2eServer {
	t.Helper()
	return withAdmin(t, newE2E(t), extra)
}

// withAdmin appends extra to s's config file.
func withAdmin(t *testing.T, s *e2eServer, extra string) *e2eServer {
	t.Helper()
	f, err := os.OpenFile(s.cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("\n" + extra + "\n"); err != nil {
		t.Fatal(err)
	}
	return s
}

// adminBase is the running server's admin URL, from its log line.
func adminBase(t *testing.T, s *e2eServer) string {
	t.Helper()
	m := adminListeningRE.FindStringSubmatch(s.log.String())
	if m == nil {
		t.Fatalf("no admin listening line in the log:\n%s", s.log)
	}
	return "http://" + m[1]
}

type adminResp struct {
	status int
	header http.Header
	body   string
}

// adminGet requests url, with basic auth when user is not empty, or with a
// bearer token when bearer is not empty.
func adminGet(t *testing.T, url, user, pass, bearer string) adminResp {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := e2eClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return adminResp{res.StatusCode, res.Header, string(b)}
}

// serveFails runs scimd serve, which must exit non-zero at once, and
// returns its stderr.
func serveFails(t *testing.T, s *e2eServer) string {
	t.Helper()
	cmd := exec.Command(e2eBin, "serve", "--config", s.cfg)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("scimd serve exited 0, want a refusal:\n%s", stderr.String())
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("scimd serve kept running, want a refusal:\n%s", stderr.String())
	}
	return stderr.String()
}

// TestAdminRefusesPublicWithoutPassword: a listener reachable from other
// hosts needs password_file, and serve does not start without it; an
// empty password file is refused too.
func TestAdminRefusesPublicWithoutPassword(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "scimd.example.org:0"} {
		t.Run(addr, func(t *testing.T) {
			s := newAdminE2E(t, fmt.Sprintf("[admin]\nlisten = %q\n", addr))
			out := serveFails(t, s)
			if !strings.Contains(out, "password_file") || !strings.Contains(out, "loopback") {
				t.Errorf("stderr %q: want a reason naming password_file and loopback", out)
			}
		})
	}
	t.Run("empty password file", func(t *testing.T) {
		s := newE2E(t)
		pw := filepath.Join(s.dir, "admin.pw")
		if err := os.WriteFile(pw, []byte(" \n"), 0o600); err != nil {
			t.Fatal(err)
		}
		s = withAdmin(t, s, fmt.Sprintf("[admin]\nlisten = \"0.0.0.0:0\"\npassword_file = %q\n", pw))
		if out := serveFails(t, s); !strings.Contains(out, "is empty") {
			t.Errorf("stderr %q: want the password file reported empty", out)
		}
	})
	t.Run("loopback without password", func(t *testing.T) {
		s := newAdminE2E(t, "[admin]\nlisten = \"127.0.0.1:0\"\n")
		s.start()
		if r := adminGet(t, adminBase(t, s)+"/metrics", "", "", ""); r.status != 200 {
			t.Errorf("GET /metrics on loopback without password: %d, want 200", r.status)
		}
	})
}

// TestAdminBasicAuth: with password_file set, every path of the admin
// listener needs user admin and that password (whitespace around it in
// the file trimmed), also on a public address.
func TestAdminBasicAuth(t *testing.T) {
	s := newE2E(t)
	pw := filepath.Join(s.dir, "admin.pw")
	if err := os.WriteFile(pw, []byte("  correct horse battery \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = withAdmin(t, s, fmt.Sprintf("[admin]\nlisten = \"0.0.0.0:0\"\npassword_file = %q\n", pw))
	s.start()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(adminBase(t, s), "http://"))
	base := "http://127.0.0.1:" + port
	for _, path := range []string{"/metrics", "/", "/?failed=1", "/nothing"} {
		for _, tc := range []struct {
			name, user, pass string
			want             int
		}{
			{"no credentials", "", "", 401},
			{"wrong password", "admin", "wrong", 401},
			{"untrimmed password", "admin", "  correct horse battery ", 401},
			{"other user", "root", "correct horse battery", 401},
		} {
			r := adminGet(t, base+path, tc.user, tc.pass, "")
			if r.status != tc.want {
				t.Errorf("GET %s, %s: %d, want %d", path, tc.name, r.status, tc.want)
			}
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("GET %s, %s: WWW-Authenticate %q, want Basic", path, tc.name, r.header.Get("WWW-Authenticate"))
			}
			if strings.Contains(r.body, "scimd_") || strings.Contains(r.body, "<table") {
				t.Errorf("GET %s, %s: the refusal shows content: %.200s", path, tc.name, r.body)
			}
		}
	}
	if r := adminGet(t, base+"/metrics", "admin", "correct horse battery", ""); r.status != 200 || !strings.Contains(r.body, "scimd_users{") {
		t.Errorf("GET /metrics with the password: %d %.200s", r.status, r.body)
	}
	if r := adminGet(t, base+"/", "admin", "correct horse battery", ""); r.status != 200 || !strings.Contains(r.body, "scimd status") {
		t.Errorf("GET / with the password: %d %.200s", r.status, r.body)
	}
	if strings.Contains(s.log.String(), "correct horse") {
		t.Errorf("the password is in the log")
	}
}

// TestAdminPortsSeparate: the SCIM port never serves /metrics or the
// status page, and the admin port never serves SCIM, with or without a
// valid token.
func TestAdminPortsSeparate(t *testing.T) {
	s := newAdminE2E(t, "[admin]\nlisten = \"127.0.0.1:0\"\n")
	secret := s.issue("entra")
	s.start()
	scimRoot := strings.TrimSuffix(s.base, "/scim/v2")
	admin := adminBase(t, s)
	for _, path := range []string{"/metrics", "/", "/?token=entra"} {
		r := adminGet(t, scimRoot+path, "", "", secret)
		if r.status != 404 || strings.Contains(r.body, "scimd_") || strings.Contains(r.body, "<html") {
			t.Errorf("SCIM port GET %s: %d %.200s, want a bare 404", path, r.status, r.body)
		}
	}
	for _, path := range []string{"/scim/v2/Users", "/scim/v2/ServiceProviderConfig", "/scim/Users", "/healthz", "/Users"} {
		r := adminGet(t, admin+path, "", "", secret)
		if r.status != 404 || strings.Contains(r.body, "schemas") {
			t.Errorf("admin port GET %s: %d %.200s, want a bare 404", path, r.status, r.body)
		}
	}
	// The SCIM API itself still works.
	if r := s.do(secret, "GET", "/Users", ""); r.status != 200 {
		t.Errorf("GET /scim/v2/Users: %d", r.status)
	}
}

// TestAdminDefaultAddressBusy: the default address taken (by Prometheus,
// say) leaves serve running without the admin listener; an address the
// operator chose that is taken stops it.
func TestAdminDefaultAddressBusy(t *testing.T) {
	hold, err := net.Listen("tcp", defaultAdminListen)
	if err == nil {
		defer hold.Close()
	} // else another process holds it already, which is the case under test
	s := newE2E(t)
	secret := s.issue("entra")
	s.start()
	if !strings.Contains(s.log.String(), "admin listener off") {
		t.Errorf("no warning about the busy default address:\n%s", s.log)
	}
	if r := s.do(secret, "GET", "/Users", ""); r.status != 200 {
		t.Errorf("SCIM without the admin listener: %d", r.status)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := newAdminE2E(t, fmt.Sprintf("[admin]\nlisten = %q\n", ln.Addr().String()))
	if out := serveFails(t, busy); !strings.Contains(out, "[admin] listen") {
		t.Errorf("stderr %q: want the [admin] address named", out)
	}
}

// scrape reads /metrics into series -> value; series are written as the
// exposition format prints them (labels sorted by name).
func scrape(t *testing.T, url string) (map[string]float64, string) {
	t.Helper()
	r := adminGet(t, url, "", "", "")
	if r.status != 200 {
		t.Fatalf("GET %s: %d %s", url, r.status, r.body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(r.body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out, r.body
}

// TestAdminMetrics drives real SCIM traffic through the binary and reads
// the figures back from /metrics: requests by route pattern, status and
// token; refused and rate-limited authentications; write batches; the
// directory counts; each token's expiry and last use; the Go and process
// collectors. No label carries a user's data or a secret.
func TestAdminMetrics(t *testing.T) {
	s := newAdminE2E(t, "[limits]\nauth_failures_per_minute = 2\n[admin]\nlisten = \"127.0.0.1:0\"\n")
	entra := s.issue("entra")
	s.issue("soon", "--expires", "5d")
	reader := s.issue("reader", "--scope", "read")
	s.start()
	admin := adminBase(t, s)

	r := s.do(entra, "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen@example.com","active":true}`).must(t, 201)
	id := r.str("id")
	s.do(entra, "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"jsmith@example.com","active":false}`).must(t, 201)
	s.do(entra, "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen@example.com"}`).must(t, 409)
	s.do(entra, "GET", "/Users/"+id, "").must(t, 200)
	s.do(entra, "GET", "/Users/"+id+"x", "").must(t, 404)
	s.do(entra, "POST", "/Groups", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Staff","members":[{"value":%q}]}`, id)).must(t, 201)
	// A read-only token's write is refused before routing, and still
	// counted under the route it was sent to.
	s.do(reader, "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x@example.com"}`).must(t, 403)
	bogus := "scimd_" + strings.Repeat("A", 43)
	for range 3 { // two refusals, then 429
		s.do(bogus, "GET", "/Users", "")
	}
	s.do(bogus, "GET", "/Users", "").must(t, 429)

	var got map[string]float64
	var text string
	deadline := time.Now().Add(15 * time.Second) // last use is flushed every 5 seconds
	for {
		got, text = scrape(t, admin+"/metrics")
		if _, ok := got[`scimd_token_last_used_timestamp_seconds{token="entra"}`]; ok || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	for _, tc := range []struct {
		series string
		want   float64
	}{
		{`scimd_http_requests_total{method="POST",route="/scim/v2/Users",status="201",token="entra"}`, 2},
		{`scimd_http_requests_total{method="POST",route="/scim/v2/Users",status="409",token="entra"}`, 1},
		{`scimd_http_requests_total{method="GET",route="/scim/v2/Users/{id}",status="200",token="entra"}`, 1},
		{`scimd_http_requests_total{method="GET",route="/scim/v2/Users/{id}",status="404",token="entra"}`, 1},
		{`scimd_http_requests_total{method="POST",route="/scim/v2/Groups",status="201",token="entra"}`, 1},
		{`scimd_http_requests_total{method="GET",route="/scim/v2/Users",status="401",token=""}`, 2},
		{`scimd_http_requests_total{method="GET",route="/scim/v2/Users",status="429",token=""}`, 2},
		{`scimd_http_requests_total{method="POST",route="/scim/v2/Users",status="403",token="reader"}`, 1},
		{`scimd_http_request_duration_seconds_count{method="POST",route="/scim/v2/Users"}`, 4},
		{`scimd_auth_refused_total{token=""}`, 4},
		{`scimd_auth_rate_limited_total`, 2},
		{`scimd_users{state="active"}`, 1},
		{`scimd_users{state="inactive"}`, 1},
		{`scimd_groups`, 1},
		{`scimd_memberships`, 1},
		{`scimd_store_failed_writes_total`, 1}, // the 409
		{`scimd_scrape_error`, 0},
		{`scimd_token_info{idp="entra",scope="write",state="expiring",token="soon"}`, 1},
	} {
		if v, ok := got[tc.series]; !ok || v != tc.want {
			t.Errorf("%s = %v (present %v), want %v", tc.series, v, ok, tc.want)
		}
	}
	// Writes so far: the two users, the failed 409, the group, plus token
	// last-use flushes; all in at least one batch, each commit timed.
	if got[`scimd_store_writes_total`] < 4 || got[`scimd_store_write_batches_total`] < 1 ||
		got[`scimd_store_commit_duration_seconds_count`] < 1 || got[`scimd_store_write_batches_total`] > got[`scimd_store_writes_total`] {
		t.Errorf("store metrics: writes %v, batches %v, commits timed %v", got[`scimd_store_writes_total`],
			got[`scimd_store_write_batches_total`], got[`scimd_store_commit_duration_seconds_count`])
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes", `scimd_build_info{version="dev"}`} {
		if _, ok := got[name]; !ok {
			t.Errorf("%s missing from /metrics", name)
		}
	}

	// Token expiry and last use agree with what scimd token list reads
	// from the database.
	out, _ := s.cli("token", "list", "--json")
	var tokens []struct {
		Name     string     `json:"name"`
		Expires  time.Time  `json:"expires"`
		LastUsed *time.Time `json:"last_used"`
	}
	if err := json.Unmarshal([]byte(out), &tokens); err != nil {
		t.Fatalf("token list --json: %v\n%s", err, out)
	}
	for _, tok := range tokens {
		series := fmt.Sprintf(`scimd_token_expiry_timestamp_seconds{token=%q}`, tok.Name)
		if v, ok := got[series]; !ok || math.Abs(v-float64(tok.Expires.UnixMilli())/1000) > 0.001 {
			t.Errorf("%s = %v (present %v), want %v", series, v, ok, tok.Expires.Unix())
		}
		lu, ok := got[fmt.Sprintf(`scimd_token_last_used_timestamp_seconds{token=%q}`, tok.Name)]
		switch {
		case tok.LastUsed == nil && ok:
			t.Errorf("token %s was never used, yet has a last-use series", tok.Name)
		case tok.LastUsed != nil && (!ok || math.Abs(lu-float64(tok.LastUsed.UnixMilli())/1000) > 0.001):
			t.Errorf("token %s last used %v, /metrics says %v (present %v)", tok.Name, tok.LastUsed, lu, ok)
		}
	}
	if soon := got[`scimd_token_expiry_timestamp_seconds{token="soon"}`]; math.Abs(soon-float64(time.Now().Add(5*24*time.Hour).Unix())) > 120 {
		t.Errorf("token soon expires at %v, want about 5 days from now", soon)
	}
	if _, ok := got[`scimd_token_last_used_timestamp_seconds{token="entra"}`]; !ok {
		t.Errorf("no last use for token entra after its requests")
	}

	for _, secret := range []string{"bjensen", "jsmith", "Staff", id, entra, bogus, "scimd_A"} {
		if strings.Contains(text, secret) {
			t.Errorf("/metrics contains %q: no user data or secret may appear in a label", secret)
		}
	}

	// Prometheus' own linter accepts the exposition, and every scimd
	// metric the alert rules use (but those of webhooks and replication,
	// which those features export) is one that scimd exports.
	promtool := needPromtool(t)
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	rules, err := os.ReadFile(filepath.Join("deploy", "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range regexp.MustCompile(`scimd_[a-z_]+`).FindAllString(string(rules), -1) {
		if strings.HasPrefix(name, "scimd_webhook_") || strings.HasPrefix(name, "scimd_replica_") {
			continue
		}
		if !strings.Contains(text, "\n"+name+"{") && !strings.Contains(text, "\n"+name+" ") {
			t.Errorf("alerts.yml uses %s, which /metrics does not export", name)
		}
	}
}

// needPromtool finds promtool; .ci/deps installs it (Debian's prometheus).
func needPromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: run .ci/deps, which installs Debian's prometheus package")
	}
	return p
}

// TestAlertRules: the shipped rules are valid and their unit tests (one
// firing case per alert) pass, as in .ci/run.
func TestAlertRules(t *testing.T) {
	promtool := needPromtool(t)
	dir := filepath.Join("deploy", "prometheus")
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// Every alert has a unit test that expects it to fire.
	rules, _ := os.ReadFile(filepath.Join(dir, "alerts.yml"))
	tests, _ := os.ReadFile(filepath.Join(dir, "alerts_test.yml"))
	fired := regexp.MustCompile(`alertname: (\w+)\n\s+exp_alerts:\n\s+- exp_labels`).FindAllStringSubmatch(string(tests), -1)
	have := map[string]bool{}
	for _, m := range fired {
		have[m[1]] = true
	}
	for _, m := range regexp.MustCompile(`- alert: (\w+)`).FindAllStringSubmatch(string(rules), -1) {
		if !have[m[1]] {
			t.Errorf("alert %s has no unit test in alerts_test.yml that fires it", m[1])
		}
	}
}

// defaultProcs is the runtime's GOMAXPROCS for this machine, read before
// the testing package applies -cpu; runtime.NumCPU when the test's own
// environment sets GOMAXPROCS.
var defaultProcs = func() int {
	if os.Getenv("GOMAXPROCS") != "" {
		return runtime.NumCPU()
	}
	return runtime.GOMAXPROCS(0)
}()

// TestServeProcs: "scimd serve" runs with one processor more than the
// runtime's default (server.Procs: 3 on two CPUs), and GOMAXPROCS in the
// environment overrides that, as GOGC and GOMEMLIMIT do theirs. Read back
// through the binary's /metrics.
func TestServeProcs(t *testing.T) {
	for _, c := range []struct {
		env  string
		want int
	}{
		// Empty is unset, for Go's runtime and for serve alike.
		{"GOMAXPROCS=", defaultProcs + 1},
		{"GOMAXPROCS=1", 1},
	} {
		s := newAdminE2E(t, "[admin]\nlisten = \"127.0.0.1:0\"\n")
		s.env = []string{c.env}
		s.start()
		m, _ := scrape(t, adminBase(t, s)+"/metrics")
		if got := m["go_sched_gomaxprocs_threads"]; got != float64(c.want) {
			t.Errorf("with %s: go_sched_gomaxprocs_threads %v, want %d", c.env, got, c.want)
		}
	}
}
