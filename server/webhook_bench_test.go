package server_test

// Benchmarks for the webhook targets of issue 12, on the same stack and
// client as BenchmarkCreateUser:
//
//	go test -run '^$' -bench 'CreateUserWebhook' -benchtime 15000x ./server
//	go test -run '^$' -bench 'CreateUserWebhook' -benchtime 15000x ./server -args -receiver-sched normal
//	go test -run '^$' -bench 'WebhookBacklogRSS' -benchtime 1x -timeout 30m ./server
//
// CreateUserWebhook alternates the durable create benchmark without and
// with one webhook endpoint (every event type; a receiver in its own
// process answering in about 1 ms) and reports the median ratio of the
// pairs, and how fast events were delivered while the writes ran.

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
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

// receiverSched is the Linux scheduling class CreateUserWebhook's receiver
// runs in. The budget (a webhook costs at most 15 % of durable create
// throughput) is about scimd: a real receiver runs on a machine of its
// own. Here it shares the benchmark's two cores, and its own CPU (25 to
// 30 µs per delivery, reported as receiver-cpu-µs/event: reading,
// checking the signature, waiting its 1 ms and answering) would be counted
// as scimd's cost, almost as much again as scimd's own extra CPU per
// event. "idle" (the default) runs it as SCHED_IDLE (chrt --idle; chrt
// execs the receiver, so the process's pid stays the receiver's): it gets
// only the CPU time scimd and the client leave unused, as a receiver
// elsewhere takes none of theirs; delivered-events/s shows that it still
// keeps pace. "normal" runs it like any process, for the figure with the
// receiver's CPU counted.
var receiverSched = flag.String("receiver-sched", "idle", "CreateUserWebhook's receiver: idle (SCHED_IDLE, standing in for a receiver on its own machine) or normal")

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

// startHookBench is startBench with the store options and the webhook
// deliverer 'scimd serve' has with one endpoint delivering to url (every
// event type); with url "" it is the same stack without [[webhooks]],
// as serve runs it then. Both are otherwise identical, so that a pair of
// runs differs only by the webhook.
func startHookBench(b *testing.B, path, url string) *benchEnv {
	b.Helper()
	var opt store.Options
	if url != "" {
		opt.Events = func(string) bool { return true }
	}
	e := startBenchWith(b, path, opt)
	if url == "" {
		return e
	}
	key, err := webhook.ParseSecret(benchSecret)
	if err != nil {
		b.Fatal(err)
	}
	d := webhook.New(e.st, webhook.Options{
		Endpoints: []webhook.Endpoint{{Name: "bench", URL: url, Key: key}},
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Render:    func(k store.Kind, r *store.Resource) map[string]any { return e.srv.RenderAt(e.url, k, r) },
		AppendStored: func(b []byte, k store.Kind, r *store.Resource) ([]byte, bool) {
			return e.srv.AppendStoredAt(b, e.url, k, r)
		},
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
	server.TuneRuntime() // the runtime settings 'scimd serve' uses
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
	return &benchEnv{st: st, srv: srv, url: ts.URL + "/scim/v2", token: secret}
}

// remoteReceiver is testdata/hookreceiver running in its own process, as a
// real receiver runs on its own machine: its CPU is not scimd's.
type remoteReceiver struct {
	url  string
	cmd  *exec.Cmd
	once sync.Once
	cpu  time.Duration
}

// startRemoteReceiver builds and starts hookreceiver, answering after
// delay, in the scheduling class -receiver-sched names.
func startRemoteReceiver(b *testing.B, delay time.Duration) *remoteReceiver {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "hookreceiver")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/hookreceiver").CombinedOutput(); err != nil {
		b.Fatalf("go build hookreceiver: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-delay", delay.String(), "-secret", benchSecret)
	switch *receiverSched {
	case "idle":
		// chrt sets the class before it execs the receiver, so every
		// thread of it has the class.
		cmd = exec.Command("chrt", append([]string{"--idle", "0"}, cmd.Args...)...)
	case "normal":
	default:
		b.Fatalf("-receiver-sched %q: want idle or normal", *receiverSched)
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	rx := &remoteReceiver{cmd: cmd}
	b.Cleanup(func() { rx.stop() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("hookreceiver did not start: %v", err)
	}
	rx.url = strings.TrimSpace(line)
	return rx
}

// stop ends the receiver and returns the CPU time it used in all (user
// and system, from its exit status).
func (rx *remoteReceiver) stop() time.Duration {
	rx.once.Do(func() {
		rx.cmd.Process.Kill()
		rx.cmd.Wait()
		if ps := rx.cmd.ProcessState; ps != nil {
			rx.cpu = ps.UserTime() + ps.SystemTime()
		}
	})
	return rx.cpu
}

// count is how many distinct events arrived with a valid signature, when
// the latest new one did, and how many carried a bad signature.
func (rx *remoteReceiver) count(b *testing.B) (n int64, last time.Time, bad int64) {
	resp, err := http.Get(rx.url)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var ns int64
	if _, err := fmt.Fscan(resp.Body, &n, &ns, &bad); err != nil {
		b.Fatal(err)
	}
	return n, time.Unix(0, ns), bad
}

// waitFor waits until n events arrived and returns when the last did.
func (rx *remoteReceiver) waitFor(b *testing.B, n int64, within time.Duration) time.Time {
	deadline := time.Now().Add(within)
	for {
		got, last, bad := rx.count(b)
		if bad > 0 {
			b.Fatalf("%d deliveries with a bad signature", bad)
		}
		if got >= n {
			return last
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d events delivered after %s", got, n, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// hookPairs is how many without/with pairs CreateUserWebhook runs. On the
// shared 2-core machine single pairs ranged from 0.4 to 1.6 while other
// jobs ran; nine pairs give a median that moves by a few points between
// runs instead of ten.
const hookPairs = 9

// BenchmarkCreateUserWebhook: durable POST /Users, b.N per run, without
// and with a webhook endpoint whose receiver answers in about 1 ms, in
// hookPairs alternating pairs (each run on a fresh database), so that a
// change in the machine's load hits both sides alike. The receiver is a
// separate process (remoteReceiver). Reports the median of each side's
// req/s, the median of the pairs' with/without ratios (the issue's
// budget: at least 0.85), and how fast events were delivered while the
// writes ran. Give it runs of 15,000 creates a side (-benchtime 15000x,
// about two seconds each): in runs of 3,000 (0.4 s) a good part of the
// delivery came after the last write, outside the measured time, and the
// ratio came out a few points better than it is.
func BenchmarkCreateUserWebhook(b *testing.B) {
	rx := startRemoteReceiver(b, time.Millisecond)
	if b.N > 1 && b.N < 10000 {
		b.Logf("runs of %d creates a side: too short for the ratio (see the doc comment); use -benchtime 15000x", b.N)
	}
	var off, on, ratio, delivered, drain, cpuOff, cpuOn []float64
	total := int64(0)
	for p := range hookPairs {
		var pair [2]float64
		for side, url := range []string{"", rx.url} {
			// The profile label lets -cpuprofile be read per side
			// (pprof -tagfocus side=on): the goroutines of the server,
			// the store and the deliverer inherit it.
			pprof.Do(context.Background(), pprof.Labels("side", [...]string{"off", "on"}[side]), func(context.Context) {
				e := startHookBench(b, filepath.Join(b.TempDir(), fmt.Sprintf("create-%d-%d.db", p, side)), url)
				cpu := cpuTime()
				start := time.Now()
				e.run(b, 201, func(i int) *http.Request { return withBody("POST", e.url+"/Users", entraCreate(i)) })
				writesDone := time.Now()
				pair[side] = e.rate
				if url != "" {
					total += int64(b.N)
					last := rx.waitFor(b, total, 10*time.Minute)
					delivered = append(delivered, float64(b.N)/last.Sub(start).Seconds())
					drain = append(drain, float64(max(0, last.Sub(writesDone).Milliseconds())))
				}
				// CPU of this process (client, server, store and, on,
				// deliverer) per create, up to the last delivery: steadier
				// than the rates on a shared machine.
				perReq := float64((cpuTime() - cpu).Microseconds()) / float64(b.N)
				if url == "" {
					cpuOff = append(cpuOff, perReq)
				} else {
					cpuOn = append(cpuOn, perReq)
				}
			})
		}
		off, on, ratio = append(off, pair[0]), append(on, pair[1]), append(ratio, pair[1]/pair[0])
	}
	b.ReportMetric(median(off), "req/s")
	b.ReportMetric(median(off), "off-req/s")
	b.ReportMetric(median(on), "on-req/s")
	b.ReportMetric(median(ratio), "on/off")
	b.ReportMetric(median(delivered), "delivered-events/s")
	b.ReportMetric(median(drain), "drain-after-writes-ms")
	b.ReportMetric(median(cpuOff), "off-cpu-µs/req")
	b.ReportMetric(median(cpuOn), "on-cpu-µs/req")
	// What the receiver spent per delivery (its few status requests from
	// waitFor included): the CPU a receiver on the same cores takes from
	// the benchmark unless -receiver-sched idle keeps it to spare time.
	b.ReportMetric(float64(rx.stop().Microseconds())/float64(total), "receiver-cpu-µs/event")
	b.Logf("on/off per pair: %.3f", ratio)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
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
		err = createUsers(st, 0, n, 16)
		st.Close()
		if err != nil {
			b.Fatal(err)
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
