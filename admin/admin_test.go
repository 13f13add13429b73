package admin

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"scimd/server"
	"scimd/store"
)

func TestIsLoopback(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:9090", true},
		{"127.0.0.2:9090", true},
		{"[::1]:9090", true},
		{"localhost:9090", true},
		{"LOCALHOST:0", true},
		{"0.0.0.0:9090", false},
		{":9090", false},
		{"[::]:9090", false},
		{"10.0.0.5:9090", false},
		{"monitor.internal:9090", false},
		{"127.0.0.1", false}, // no port: not an address serve could bind
	} {
		if got := IsLoopback(tc.addr); got != tc.want {
			t.Errorf("IsLoopback(%q) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		listen, pw string
		ok         bool
	}{
		{"", "", true},
		{"127.0.0.1:9090", "", true},
		{"0.0.0.0:9090", "", false},
		{"0.0.0.0:9090", "/etc/scimd/admin.pw", true},
		{"127.0.0.1:9090", "/etc/scimd/admin.pw", true},
	} {
		if err := Check(tc.listen, tc.pw); (err == nil) != tc.ok {
			t.Errorf("Check(%q, %q) = %v, want ok %v", tc.listen, tc.pw, err, tc.ok)
		}
	}
}

func TestClean(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"bjensen@example.com", "bjensen@example.com"},
		{"Zoë Ångström 李", "Zoë Ångström 李"},
		{"عبد الله", "عبد الله"}, // right-to-left text itself is fine
		{"eve\u202Egnp.exe", "eve\uFFFDgnp.exe"},
		{"a\u2066b\u2069c", "a\uFFFDb\uFFFDc"},
		{"mark\u200F", "mark\uFFFD"},
		{"tab\there\nnl\x1b[31m", "tab\uFFFDhere\uFFFDnl\uFFFD[31m"},
		{"c1\u0085", "c1\uFFFD"},
	} {
		if got := clean(tc.in); got != tc.want {
			t.Errorf("clean(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestObserveRequestAllocs: once a request shape has been seen, counting
// it allocates nothing (the label children are resolved once).
func TestObserveRequestAllocs(t *testing.T) {
	m := NewMetrics("test")
	rs := server.RequestStats{Method: "GET", Route: "/scim/v2/Users", Status: 200, Token: "entra", Duration: time.Millisecond}
	m.ObserveRequest(rs)
	if n := testing.AllocsPerRun(1000, func() { m.ObserveRequest(rs) }); n != 0 {
		t.Errorf("ObserveRequest allocates %v times per request, want 0", n)
	}
	refused := server.RequestStats{Method: "GET", Route: "/scim/v2/Users", Status: 401, Duration: time.Millisecond, AuthRefused: true}
	m.ObserveRequest(refused)
	if n := testing.AllocsPerRun(1000, func() { m.ObserveRequest(refused) }); n > 1 {
		t.Errorf("ObserveRequest of a refusal allocates %v times, want at most 1", n)
	}
}

// TestMethodLabel: made-up methods cannot create series.
func TestMethodLabel(t *testing.T) {
	m := NewMetrics("test")
	for i := range 100 {
		m.ObserveRequest(server.RequestStats{Method: "X" + strings.Repeat("Y", i), Route: "/healthz", Status: 405})
	}
	if n := len(*m.series.Load()); n != 1 {
		t.Errorf("%d series after 100 made-up methods, want 1", n)
	}
}

// TestPlugIns: a feature's collector shows on /metrics and its section on
// the status page, escaped, with a Bad row announced at the top.
func TestPlugIns(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "scimd.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	backlog := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "scimd_webhook_backlog_events", Help: "test"}, []string{"webhook"})
	backlog.WithLabelValues("crm").Set(42)
	a, err := New(Options{Store: st, Metrics: NewMetrics("test"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Collectors: []prometheus.Collector{backlog},
		Sections: []Section{{Title: "Webhooks", Rows: func(context.Context) (Table, error) {
			return Table{Columns: []string{"Webhook", "Backlog"}, Rows: []Row{
				{Level: OK, Cells: []string{"audit", "0"}},
				{Level: Bad, Cells: []string{"<b>crm</b>", "42"}},
			}}, nil
		}}}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a)
	defer ts.Close()
	get := func(path string) string {
		t.Helper()
		res, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, res.StatusCode, b)
		}
		return string(b)
	}
	if m := get("/metrics"); !strings.Contains(m, `scimd_webhook_backlog_events{webhook="crm"} 42`) {
		t.Errorf("/metrics lacks the plugged-in collector:\n%s", m)
	}
	page := get("/")
	for _, want := range []string{"<h2>Webhooks</h2>", `<td class="bad">&lt;b&gt;crm&lt;/b&gt;</td>`, `<td class="ok">audit</td>`,
		"Webhooks: &lt;b&gt;crm&lt;/b&gt; needs attention."} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
}

// TestStatusHeaders: the page allows its own style sheet and nothing else.
func TestStatusHeaders(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "scimd.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, err := New(Options{Store: st, Metrics: NewMetrics("test")})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	a.ServeHTTP(w, httptest.NewRequest("GET", "http://127.0.0.1:9090/", nil))
	csp := w.Header().Get("Content-Security-Policy")
	if w.Code != 200 || !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, styleHash) || strings.Contains(csp, "script-src") {
		t.Errorf("GET /: %d, CSP %q", w.Code, csp)
	}
	if !strings.Contains(w.Body.String(), "<style>"+statusCSS+"</style>") {
		t.Errorf("the style sheet is not inlined verbatim, so its hash would not match")
	}
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		w := httptest.NewRecorder()
		a.ServeHTTP(w, httptest.NewRequest(m, "http://127.0.0.1:9090/", nil))
		if w.Code != http.StatusMethodNotAllowed && w.Code != http.StatusNotFound {
			t.Errorf("%s /: %d, want 405 or 404", m, w.Code)
		}
	}
}

// TestHostCheck: without a password, only requests addressed to localhost
// or an IP address are answered (no DNS rebinding); with one, the
// password decides.
func TestHostCheck(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "scimd.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	open, err := New(Options{Store: st, Metrics: NewMetrics("test")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		host string
		want int
	}{
		{"127.0.0.1:9090", 200},
		{"localhost:9090", 200},
		{"LOCALHOST", 200},
		{"[::1]:9090", 200},
		{"10.1.2.3:9090", 200},
		{"attacker.example:9090", 403},
		{"attacker.example", 403},
		{"localhost.attacker.example:9090", 403},
	} {
		r := httptest.NewRequest("GET", "/metrics", nil)
		r.Host = tc.host
		w := httptest.NewRecorder()
		open.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("Host %q: %d, want %d", tc.host, w.Code, tc.want)
		}
	}
	locked, err := New(Options{Store: st, Metrics: NewMetrics("test"), Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/metrics", nil)
	r.Host = "scimd.internal:9090"
	r.SetBasicAuth("admin", "pw")
	w := httptest.NewRecorder()
	locked.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Errorf("with the password, Host scimd.internal: %d, want 200", w.Code)
	}
}

// TestFeatureAdapters: the webhook and replica adapters export the metric
// names the alert rules use, pass Prometheus' linter, and colour their
// rows by health.
func TestFeatureAdapters(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "scimd.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ok := time.Now().Add(-time.Minute)
	hc, hs := Webhooks(func() []WebhookStat {
		return []WebhookStat{
			{Name: "audit", State: "active", Delivered: 10, LastSuccess: &ok},
			{Name: "crm", State: "failing", Backlog: 250, OldestPending: 40 * time.Minute, Delivered: 3, Failed: 2, LastError: "503 from https://crm.example.com/hook"},
		}
	})
	rc, rs := Replica(func() ReplicaStat {
		return ReplicaStat{URL: "s3://backups/scimd", LastSync: time.Unix(1_800_000_000, 0), Lag: 7 * time.Minute, Errors: 4, LastError: "timeout"}
	})
	a, err := New(Options{Store: st, Metrics: NewMetrics("test"), Collectors: []prometheus.Collector{hc, rc}, Sections: []Section{hs, rs}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a)
	defer ts.Close()
	res, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	metrics := string(b)
	for _, want := range []string{
		`scimd_webhook_backlog_events{webhook="crm"} 250`,
		`scimd_webhook_oldest_pending_seconds{webhook="crm"} 2400`,
		`scimd_webhook_failed_events_total{webhook="crm"} 2`,
		`scimd_webhook_delivered_events_total{webhook="audit"} 10`,
		`scimd_replica_lag_seconds 420`,
		`scimd_replica_last_sync_timestamp_seconds 1.8e+09`,
		`scimd_replica_errors_total 4`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: run .ci/deps, which installs Debian's prometheus package")
	}
	lint := exec.Command(promtool, "check", "metrics")
	lint.Stdin = strings.NewReader(metrics)
	if out, err := lint.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	res, err = http.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	page := string(b)
	for _, want := range []string{`<td class="ok">audit</td>`, `<td class="bad">crm</td>`, `<td class="warn">s3://backups/scimd</td>`,
		"<td>7 min</td>", "<td>40 min</td>", "Webhooks: crm needs attention."} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
}

// TestFilterKeepsRevokedToken: filtering by the name of a token that is no
// longer listed (revoked) keeps that name selected in the form.
func TestFilterKeepsRevokedToken(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "scimd.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if _, _, err := st.IssueToken(ctx, "gone", "okta", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := st.RevokeToken(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Store: st, Metrics: NewMetrics("test")})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	a.ServeHTTP(w, httptest.NewRequest("GET", "http://127.0.0.1/?token=gone", nil))
	if body := w.Body.String(); w.Code != 200 || !strings.Contains(body, `<option value="gone" selected>gone</option>`) ||
		strings.Contains(body, `data-token="gone"`) {
		t.Errorf("GET /?token=gone: %d; want the revoked name selected in the filter and absent from the tokens", w.Code)
	}
}
