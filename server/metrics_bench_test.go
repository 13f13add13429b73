package server_test

// The cost of /metrics (issue 14): the same user lookups as
// BenchmarkLookupUserName against two servers on one database, one
// without and one with the admin package's request observer and the
// store's batch observer, as 'scimd serve' wires them. req/s and latency
// are those with metrics; off-req/s is without; cost-% is the difference,
// whose target is at most 5.
//
//	go test -run '^$' -bench LookupUserNameMetrics -benchtime 20000x -count 5 ./server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"scimd/admin"
	"scimd/server"
	"scimd/store"
)

func BenchmarkLookupUserNameMetrics(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			path, _ := seeded(b, n)
			off, on := startMetricsBench(b, path, false), startMetricsBench(b, path, true)
			lookup := func(e *benchEnv) func(i int) *http.Request {
				return func(i int) *http.Request {
					return get(fmt.Sprintf(`%s/Users?filter=userName+eq+%%22user%07d%%40bench.example.com%%22`, e.url, (i*7919)%n))
				}
			}
			off.runN(b, 5000, 200, lookup(off)) // warm the page caches
			on.runN(b, 5000, 200, lookup(on))
			// Alternate chunks between the two servers, so that whatever
			// else the machine does weighs on both alike.
			const chunk = 1000
			var took [2]time.Duration
			var lat [2][]time.Duration
			for done := 0; done < b.N; done += chunk {
				k := min(chunk, b.N-done)
				for j, e := range []*benchEnv{off, on} {
					t0 := time.Now()
					lat[j] = append(lat[j], e.runN(b, k, 200, lookup(e))...)
					took[j] += time.Since(t0)
				}
			}
			rate := func(j int) float64 { return float64(b.N) / took[j].Seconds() }
			slices.Sort(lat[1])
			b.ReportMetric(rate(1), "req/s")
			b.ReportMetric(rate(0), "off-req/s")
			b.ReportMetric(100*(1-rate(1)/rate(0)), "cost-%")
			b.ReportMetric(float64(lat[1][len(lat[1])/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[1][len(lat[1])*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// startMetricsBench is startBench with the observers of 'scimd serve' when
// on is set.
func startMetricsBench(b *testing.B, path string, on bool) *benchEnv {
	b.Helper()
	server.TuneRuntime() // the runtime settings 'scimd serve' uses
	var (
		m    *admin.Metrics
		opt  store.Options
		scfg = server.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	)
	if on {
		m = admin.NewMetrics("bench")
		opt.OnBatch = m.ObserveBatch
		scfg.Observer = m
	}
	st, err := store.Open(path, opt)
	if err != nil {
		b.Fatal(err)
	}
	secret, _, err := st.IssueToken(context.Background(), fmt.Sprintf("bench-%d", time.Now().UnixNano()), "entra", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(server.New(st, scfg).Handler())
	if on {
		// The store collector registered, as serve does.
		if _, err := admin.New(admin.Options{Store: st, Metrics: m}); err != nil {
			b.Fatal(err)
		}
	}
	b.Cleanup(func() {
		ts.Close()
		st.Close()
	})
	tr := &http.Transport{MaxIdleConnsPerHost: benchClients * 2, MaxConnsPerHost: benchClients * 2}
	return &benchEnv{st: st, url: ts.URL + "/scim/v2", token: secret, client: &http.Client{Transport: tr}}
}
