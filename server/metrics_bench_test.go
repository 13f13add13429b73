package server_test

// The cost of /metrics (issue 14): the same user lookups as
// BenchmarkLookupUserName, without and with the admin package's request
// observer and the store's batch observer, as 'scimd serve' wires them.
// The target is at most 5 % fewer req/s with metrics on.
//
//	go test -run '^$' -bench LookupUserNameMetrics -benchtime 20000x -count 5 ./server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"testing"
	"time"

	"scimd/admin"
	"scimd/server"
	"scimd/store"
)

func BenchmarkLookupUserNameMetrics(b *testing.B) {
	for _, n := range benchSizes() {
		for _, on := range []bool{false, true} {
			b.Run(fmt.Sprintf("users=%d/metrics=%v", n, on), func(b *testing.B) {
				path, _ := seeded(b, n)
				e := startMetricsBench(b, path, on)
				lookup := func(i int) *http.Request {
					return get(fmt.Sprintf(`%s/Users?filter=userName+eq+%%22user%07d%%40bench.example.com%%22`, e.url, (i*7919)%n))
				}
				e.runN(b, 5000, 200, func(i int) *http.Request { return lookup(i + 1_000_003) }) // warm the page caches
				e.run(b, 200, lookup)
			})
		}
	}
}

// startMetricsBench is startBench with the observers of 'scimd serve' when
// on is set.
func startMetricsBench(b *testing.B, path string, on bool) *benchEnv {
	b.Helper()
	debug.SetGCPercent(server.GCPercent)
	debug.SetMemoryLimit(server.MemoryLimit)
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
