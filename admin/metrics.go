package admin

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"scimd/server"
	"scimd/store"
)

// Metrics holds scimd's Prometheus metrics in a registry of their own (not
// the library's global one, so tests and a second server never share
// counts). Build it before the store and the SCIM server, hand ObserveBatch
// to store.Options.OnBatch and the Metrics itself to server.Config.Observer;
// New then adds the collectors that read the store at each scrape.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	refused  *prometheus.CounterVec
	limited  prometheus.Counter

	batches prometheus.Counter
	writes  prometheus.Counter
	failed  prometheus.Counter
	commit  prometheus.Histogram

	// series caches the label children of each request shape, so a
	// request costs one map lookup and two atomic updates: no lock, no
	// label slice, no status string, no hashing of label values. The map
	// is never changed once published; a new shape (rare: shapes come from
	// closed sets and token names) copies it under mu.
	mu     sync.Mutex
	series atomic.Pointer[map[seriesKey]*series]
}

type seriesKey struct {
	method, route, token string
	status               int
}

type series struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// maxSeries bounds the request series. Every label comes from a closed set
// (methods, routes, statuses) or from the operator (token names), so this
// is never reached in practice; past it, new shapes are counted under one
// overflow series rather than growing memory.
const maxSeries = 4096

// NewMetrics registers scimd's request and store metrics and the Go and
// process collectors.
func NewMetrics(version string) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.series.Store(&map[seriesKey]*series{})
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scimd_http_requests_total",
		Help: "HTTP requests answered on the SCIM port, by method, route pattern, status and token name."},
		[]string{"method", "route", "status", "token"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "scimd_http_request_duration_seconds",
		Help:    "Time to answer HTTP requests on the SCIM port, by method and route pattern.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}},
		[]string{"method", "route"})
	m.refused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scimd_auth_refused_total",
		Help: "Requests refused because of their bearer token (401, or 429 once limited); token is the name of a known but expired, revoked or rotated token, empty otherwise."},
		[]string{"token"})
	m.limited = prometheus.NewCounter(prometheus.CounterOpts{Name: "scimd_auth_rate_limited_total",
		Help: "Requests answered 429 because their address had too many refused authentications ([limits] auth_failures_per_minute)."})
	m.batches = prometheus.NewCounter(prometheus.CounterOpts{Name: "scimd_store_write_batches_total",
		Help: "Write transactions committed or attempted by the writer (group commit: one per batch of concurrent writes)."})
	m.writes = prometheus.NewCounter(prometheus.CounterOpts{Name: "scimd_store_writes_total",
		Help: "Writes carried by those transactions; writes/batches is the average batch size."})
	m.failed = prometheus.NewCounter(prometheus.CounterOpts{Name: "scimd_store_failed_writes_total",
		Help: "Writes that were rolled back (a refused change, or a transaction that failed)."})
	m.commit = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "scimd_store_commit_duration_seconds",
		Help:    "Time of each COMMIT, which includes the fsync of synchronous=FULL.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}})
	build := prometheus.NewGauge(prometheus.GaugeOpts{Name: "scimd_build_info", Help: "Always 1; version is scimd's.",
		ConstLabels: prometheus.Labels{"version": version}})
	build.Set(1)
	m.reg.MustRegister(m.requests, m.duration, m.refused, m.limited, m.batches, m.writes, m.failed, m.commit, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is where the metrics live; features register their collectors
// here (or pass them to New).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// method maps the request method onto a closed set, so a client sending
// made-up methods cannot create series.
func method(m string) string {
	switch m {
	case "GET":
		return "GET"
	case "POST":
		return "POST"
	case "PUT":
		return "PUT"
	case "PATCH":
		return "PATCH"
	case "DELETE":
		return "DELETE"
	case "HEAD":
		return "HEAD"
	case "OPTIONS":
		return "OPTIONS"
	}
	return "other"
}

// ObserveRequest implements server.Observer.
func (m *Metrics) ObserveRequest(r server.RequestStats) {
	k := seriesKey{method: method(r.Method), route: r.Route, token: r.Token, status: r.Status}
	if k.route == "" {
		k.route = "none"
	}
	s := (*m.series.Load())[k]
	if s == nil {
		s = m.newSeries(k)
	}
	s.requests.Inc()
	s.duration.Observe(r.Duration.Seconds())
	if r.AuthRefused {
		m.refused.WithLabelValues(r.Token).Inc()
		if r.Status == 429 {
			m.limited.Inc()
		}
	}
}

func (m *Metrics) newSeries(k seriesKey) *series {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.series.Load()
	if s := old[k]; s != nil {
		return s
	}
	if len(old) >= maxSeries {
		k = seriesKey{method: "other", route: "overflow", status: 0}
		if s := old[k]; s != nil {
			return s
		}
	}
	s := &series{requests: m.requests.WithLabelValues(k.method, k.route, strconv.Itoa(k.status), k.token),
		duration: m.duration.WithLabelValues(k.method, k.route)}
	next := make(map[seriesKey]*series, len(old)+1)
	for key, v := range old {
		next[key] = v
	}
	next[k] = s
	m.series.Store(&next)
	return s
}

// ObserveBatch is store.Options.OnBatch.
func (m *Metrics) ObserveBatch(b store.BatchStats) {
	m.batches.Inc()
	m.writes.Add(float64(b.Writes))
	if b.Failed > 0 {
		m.failed.Add(float64(b.Failed))
	}
	if b.Commit > 0 {
		m.commit.Observe(b.Commit.Seconds())
	}
}

// storeCollector reads the directory counts and the tokens at each scrape.
// Both are cheap: the counts come from trigger-kept counters, and there
// are a handful of tokens.
type storeCollector struct {
	st  *store.Store
	now func() time.Time

	users, groups, members, lastWrite   *prometheus.Desc
	expiry, lastUsed, tokenInfo, failed *prometheus.Desc
}

func newStoreCollector(st *store.Store, now func() time.Time) *storeCollector {
	return &storeCollector{st: st, now: now,
		users:     prometheus.NewDesc("scimd_users", "Users in the directory, by state (active: licensed).", []string{"state"}, nil),
		groups:    prometheus.NewDesc("scimd_groups", "Groups in the directory.", nil, nil),
		members:   prometheus.NewDesc("scimd_memberships", "Group memberships in the directory.", nil, nil),
		lastWrite: prometheus.NewDesc("scimd_last_write_timestamp_seconds", "When the directory last changed through SCIM.", nil, nil),
		expiry:    prometheus.NewDesc("scimd_token_expiry_timestamp_seconds", "When each token's current secret expires.", []string{"token"}, nil),
		lastUsed: prometheus.NewDesc("scimd_token_last_used_timestamp_seconds",
			"When each token (any of its unrevoked secrets) last authenticated a request; absent while it never has.", []string{"token"}, nil),
		tokenInfo: prometheus.NewDesc("scimd_token_info", "Always 1: each token's identity provider, scope and state.",
			[]string{"token", "idp", "scope", "state"}, nil),
		failed: prometheus.NewDesc("scimd_scrape_error", "1 when reading the database for this scrape failed.", nil, nil),
	}
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.users, c.groups, c.members, c.lastWrite, c.expiry, c.lastUsed, c.tokenInfo, c.failed} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	failed := 0.0
	if n, err := c.st.Counts(ctx); err != nil {
		failed = 1
	} else {
		ch <- prometheus.MustNewConstMetric(c.users, prometheus.GaugeValue, float64(n.UsersActive), "active")
		ch <- prometheus.MustNewConstMetric(c.users, prometheus.GaugeValue, float64(n.UsersInactive), "inactive")
		ch <- prometheus.MustNewConstMetric(c.groups, prometheus.GaugeValue, float64(n.Groups))
		ch <- prometheus.MustNewConstMetric(c.members, prometheus.GaugeValue, float64(n.Memberships))
	}
	if t, err := c.st.LastWrite(ctx); err != nil {
		failed = 1
	} else if t != nil {
		ch <- prometheus.MustNewConstMetric(c.lastWrite, prometheus.GaugeValue, unix(*t))
	}
	if tokens, err := tokenViews(ctx, c.st, c.now()); err != nil {
		failed = 1
	} else {
		for _, t := range tokens {
			ch <- prometheus.MustNewConstMetric(c.expiry, prometheus.GaugeValue, unix(t.Expires), t.Name)
			ch <- prometheus.MustNewConstMetric(c.tokenInfo, prometheus.GaugeValue, 1, t.Name, t.IDP, t.Scope, t.State)
			if t.LastUsed != nil {
				ch <- prometheus.MustNewConstMetric(c.lastUsed, prometheus.GaugeValue, unix(*t.LastUsed), t.Name)
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(c.failed, prometheus.GaugeValue, failed)
}

func unix(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }
