package server_test

// The cost of continuous replication (issue 13): durable creates and
// userName lookups with and without a replicator, on the same harness as
// BenchmarkCreateUser and BenchmarkLookupUserName. The replica is a folder
// (file://), so that what is measured is scimd's side of replication
// (Litestream reading the WAL, staging, checkpointing, uploading), not a
// network.
//
//	go test -run '^$' -bench Replication -benchtime 20000x -count 3 ./server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"scimd/replica"
	"scimd/server"
	"scimd/store"
)

// startBenchReplicated is startBench as serve runs with [replica]: the
// store leaves checkpoints to Litestream, which replicates to a folder.
// It returns once the first sync (the initial snapshot) is done.
func startBenchReplicated(b *testing.B, path string) *benchEnv {
	b.Helper()
	server.TuneRuntime() // the runtime settings 'scimd serve' uses
	st, err := store.Open(path, store.Options{NoAutoCheckpoint: true})
	if err != nil {
		b.Fatal(err)
	}
	cfg := replica.Config{URL: "file://" + filepath.Join(b.TempDir(), "replica"), SyncInterval: time.Second, Retention: 168 * time.Hour}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	rep, err := replica.Start(path, cfg, quiet)
	if err != nil {
		b.Fatal(err)
	}
	secret, _, err := st.IssueToken(context.Background(), fmt.Sprintf("bench-%d", time.Now().UnixNano()), "entra", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	since := time.Now()
	for deadline := since.Add(5 * time.Minute); !rep.Status().LastSync.After(since); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("no first sync: %+v", rep.Status())
		}
	}
	srv := server.New(st, server.Config{Logger: quiet})
	ts := httptest.NewServer(srv.Handler())
	b.Cleanup(func() {
		ts.Close()
		if st := rep.Status(); st.Errors > 0 {
			b.Errorf("replication failed during the benchmark: %+v", st)
		}
		rep.Close(context.Background())
		st.Close()
	})
	tr := &http.Transport{MaxIdleConnsPerHost: benchClients * 2, MaxConnsPerHost: benchClients * 2}
	return &benchEnv{st: st, url: ts.URL + "/scim/v2", token: secret, client: &http.Client{Transport: tr}}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkReplication runs create and lookup with replication off and on,
// side by side so that both see the same machine load.
func BenchmarkReplication(b *testing.B) {
	start := map[string]func(b *testing.B, path string) *benchEnv{
		"off":  func(b *testing.B, path string) *benchEnv { return startBench(b, path, "entra") },
		"file": startBenchReplicated,
	}
	for _, mode := range []string{"off", "file"} {
		b.Run("CreateUser/replica="+mode, func(b *testing.B) {
			e := start[mode](b, filepath.Join(b.TempDir(), "create.db"))
			cpu := cpuTime()
			e.run(b, 201, func(i int) *http.Request { return withBody("POST", e.url+"/Users", entraCreate(i)) })
			// CPU per request (server, client and replicator share this
			// process) is steadier than req/s on a shared machine.
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-us/op")
		})
	}
	const n = 100_000
	for _, mode := range []string{"off", "file"} {
		b.Run(fmt.Sprintf("LookupUserName/users=%d/replica=%s", n, mode), func(b *testing.B) {
			path, _ := seeded(b, n)
			e := start[mode](b, copyDB(b, path))
			lookup := func(i int) *http.Request {
				return get(fmt.Sprintf(`%s/Users?filter=userName+eq+%%22user%07d%%40bench.example.com%%22`, e.url, (i*7919)%n))
			}
			e.runN(b, 5000, 200, func(i int) *http.Request { return lookup(i + 1_000_003) })
			e.run(b, 200, lookup)
		})
	}
}
