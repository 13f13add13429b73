package server_test

// Benchmarks for the webhook targets of issue 12, on the same stack and
// client as BenchmarkCreateUser:
//
//	go test -run '^$' -bench 'CreateUserWebhook' -benchtime 20000x ./server
//	go test -run '^$' -bench 'WebhookBacklogRSS' -benchtime 1x -timeout 30m ./server
//
// CreateUserWebhook runs the durable create benchmark without and with one
// webhook endpoint (every event type; a receiver answering in about 1 ms)
// and reports, with the endpoint, how fast events were delivered while
// the writes ran and how long the last of them took to arrive.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"scimd/server"
	"scimd/store"
	"scimd/webhook"
)

const benchSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// benchReceiver counts accepted deliveries (distinct webhook-ids) and
// answers each after delay.
type benchReceiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	seen  map[string]bool
	n     atomic.Int64
	last  atomic.Int64 // unix nanos of the latest new id
	delay time.Duration
}

func newBenchReceiver(b *testing.B, delay time.Duration) *benchReceiver {
	rx := &benchReceiver{seen: map[string]bool{}, delay: delay}
	rx.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if rx.delay > 0 {
			time.Sleep(rx.delay)
		}
		id := r.Header.Get("webhook-id")
		rx.mu.Lock()
		if !rx.seen[id] {
			rx.seen[id] = true
			rx.n.Add(1)
			rx.last.Store(time.Now().UnixNano())
		}
		rx.mu.Unlock()
		w.WriteHeader(204)
	}))
	b.Cleanup(rx.srv.Close)
	return rx
}

// waitFor waits until n events arrived and returns when the last did.
func (rx *benchReceiver) waitFor(b *testing.B, n int64, within time.Duration) time.Time {
	deadline := time.Now().Add(within)
	for rx.n.Load() < n {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d events delivered after %s", rx.n.Load(), n, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Unix(0, rx.last.Load())
}

// startHookBench is startBench with one webhook endpoint delivering to rx.
func startHookBench(b *testing.B, path string, rx *benchReceiver) *benchEnv {
	b.Helper()
	e := startBenchWith(b, path, store.Options{Events: func(string) bool { return true }})
	key, err := webhook.ParseSecret(benchSecret)
	if err != nil {
		b.Fatal(err)
	}
	srv := server.New(e.st, server.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	d := webhook.New(e.st, webhook.Options{
		Endpoints: []webhook.Endpoint{{Name: "bench", URL: rx.srv.URL, Key: key}},
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Render:    func(k store.Kind, r *store.Resource) map[string]any { return srv.RenderAt(e.url, k, r) },
	})
	if err := d.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(d.Stop) // before the store closes (cleanups run last-in first-out)
	return e
}

// startBenchWith is startBench with store options.
func startBenchWith(b *testing.B, path string, opt store.Options) *benchEnv {
	b.Helper()
	st, err := store.Open(path, opt)
	if err != nil {
		b.Fatal(err)
	}
	secret, _, err := st.IssueToken(context.Background(), fmt.Sprintf("bench-%d", time.Now().UnixNano()), "entra", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	srv := server.New(st, server.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ts := httptest.NewServer(srv.Handler())
	b.Cleanup(func() {
		ts.Close()
		st.Close()
	})
	return &benchEnv{st: st, url: ts.URL + "/scim/v2", token: secret}
}

// BenchmarkCreateUserWebhook: durable POST /Users without and with a
// webhook endpoint whose receiver answers in about 1 ms.
func BenchmarkCreateUserWebhook(b *testing.B) {
	b.Run("webhook=off", func(b *testing.B) {
		e := startBench(b, filepath.Join(b.TempDir(), "create.db"), "entra")
		e.run(b, 201, func(i int) *http.Request { return withBody("POST", e.url+"/Users", entraCreate(i)) })
	})
	b.Run("webhook=on", func(b *testing.B) {
		rx := newBenchReceiver(b, time.Millisecond)
		e := startHookBench(b, filepath.Join(b.TempDir(), "create.db"), rx)
		start := time.Now()
		e.run(b, 201, func(i int) *http.Request { return withBody("POST", e.url+"/Users", entraCreate(i)) })
		writesDone := time.Now()
		last := rx.waitFor(b, int64(b.N), 10*time.Minute)
		b.ReportMetric(float64(b.N)/last.Sub(start).Seconds(), "delivered-events/s")
		b.ReportMetric(float64(max(0, last.Sub(writesDone).Milliseconds())), "drain-after-writes-ms")
	})
}

// BenchmarkWebhookBacklogRSS: 100,000 events wait in the outbox (committed
// through the store, as requests would); then 'scimd serve' starts with the
// endpoint and drains them to a receiver answering in about 1 ms. Reports
// the drain rate (delivery capacity) and the server's peak
// RSS (VmHWM).
func BenchmarkWebhookBacklogRSS(b *testing.B) {
	const n = 100_000
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		db := filepath.Join(dir, "backlog.db")
		st, err := store.Open(db, store.Options{Events: func(string) bool { return true }})
		if err != nil {
			b.Fatal(err)
		}
		if err := st.SetupWebhooks(context.Background(), []string{"bench"}); err != nil {
			b.Fatal(err)
		}
		var next atomic.Int64
		var wg sync.WaitGroup
		var failed atomic.Value
		for range 16 {
			wg.Go(func() {
				for {
					j := int(next.Add(1)) - 1
					if j >= n {
						return
					}
					if _, err := st.Create(context.Background(), store.Actor{Token: "bench"}, store.Users, benchUser(j)); err != nil {
						failed.Store(err)
						return
					}
				}
			})
		}
		wg.Wait()
		st.Close()
		if f := failed.Load(); f != nil {
			b.Fatal(f)
		}
		rx := newBenchReceiver(b, time.Millisecond)
		cfg := filepath.Join(dir, "scimd.toml")
		text := fmt.Sprintf("[server]\nlisten = \"127.0.0.1:0\"\n[database]\npath = %q\n[[webhooks]]\nname = \"bench\"\nurl = %q\nsecret = %q\n",
			db, rx.srv.URL, benchSecret)
		if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		cmd := exec.Command(scimdBinary(b), "serve", "--config", cfg)
		cmd.Stderr = io.Discard
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		var peak int64
		done := make(chan struct{})
		go func() { // sample RSS while draining; VmHWM keeps the peak anyway
			defer close(done)
			for rx.n.Load() < n {
				time.Sleep(50 * time.Millisecond)
				if cmd.ProcessState != nil {
					return
				}
			}
		}()
		last := rx.waitFor(b, n, 20*time.Minute)
		<-done
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
		if err == nil {
			for _, line := range strings.Split(string(status), "\n") {
				if kb, ok := strings.CutPrefix(line, "VmHWM:"); ok {
					v, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(kb), "kB")))
					peak = int64(v)
				}
			}
		}
		cmd.Process.Kill()
		cmd.Wait()
		b.StopTimer()
		b.ReportMetric(float64(n)/last.Sub(start).Seconds(), "drained-events/s")
		b.ReportMetric(float64(peak)/1024, "server-peak-RSS-MB")
	}
}
