package server_test

// Benchmarks for the targets of issue 6. Each drives the real handler stack
// (auth, routing, JSON, SQLite) over loopback HTTP with 8 concurrent
// clients against a real database seeded to the size named. Seeded
// databases are cached in .cache/bench/ at the repository root (created on
// first use, never committed) and copied before benchmarks that write.
//
//	go test -run '^$' -bench . -benchtime 20000x ./server             # 1,000 and 100,000 users
//	SCIMD_BENCH_1M=1 go test -run '^$' -bench . -benchtime 20000x -timeout 60m ./server
//
// Each reports req/s (or members/s, users/s) and p50/p99 latency in ms.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"scimd/scim"
	"scimd/server"
	"scimd/store"
)

const benchClients = 8

func benchSizes() []int {
	if os.Getenv("SCIMD_BENCH_1M") != "" {
		return []int{1_000, 100_000, 1_000_000}
	}
	return []int{1_000, 100_000}
}

func cacheDir(b *testing.B) string {
	dir := filepath.Join("..", ".cache", "bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	return dir
}

// createUsers creates benchUser(from) .. benchUser(from+n-1) through the
// store, writers at a time, as concurrent requests would (they share the
// writer's commits), and returns the first error.
func createUsers(st *store.Store, from, n, writers int) error {
	var (
		next   atomic.Int64
		wg     sync.WaitGroup
		failed atomic.Value
	)
	for range writers {
		wg.Go(func() {
			for {
				j := int(next.Add(1)) - 1
				if j >= n || failed.Load() != nil {
					return
				}
				if _, err := st.Create(context.Background(), store.Actor{Token: "bench"}, store.Users, benchUser(from+j)); err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	err, _ := failed.Load().(error)
	return err
}

func benchUser(i int) map[string]any {
	return map[string]any{
		"userName":    fmt.Sprintf("user%07d@bench.example.com", i),
		"externalId":  fmt.Sprintf("ext-%07d", i),
		"active":      true,
		"displayName": fmt.Sprintf("Bench User %d", i),
		"title":       "Engineer",
		"name":        map[string]any{"givenName": "Bench", "familyName": fmt.Sprintf("User%d", i), "formatted": fmt.Sprintf("Bench User%d", i)},
		"emails":      []any{map[string]any{"type": "work", "value": fmt.Sprintf("user%07d@bench.example.com", i), "primary": true}},
		"phoneNumbers": []any{map[string]any{"type": "work", "value": "+1 555 0100"},
			map[string]any{"type": "mobile", "value": "+1 555 0101"}},
		scim.EnterpriseSchema: map[string]any{"employeeNumber": fmt.Sprint(i), "department": "R&D"},
	}
}

// seeded returns the path of a cached database with n users (and the ids of
// a sample of them), creating it on first use.
func seeded(b *testing.B, n int) (string, []string) {
	b.Helper()
	path := filepath.Join(cacheDir(b), fmt.Sprintf("users-%d-v1.db", n))
	idsPath := path + ".ids"
	if _, err := os.Stat(idsPath); err == nil {
		data, err := os.ReadFile(idsPath)
		if err != nil {
			b.Fatal(err)
		}
		return path, strings.Fields(string(data))
	}
	os.Remove(path)
	os.Remove(path + "-wal")
	os.Remove(path + "-shm")
	st, err := store.Open(path, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var sample []string
	const chunk = 20000
	for i := 0; i < n; i += chunk {
		docs := make([]map[string]any, 0, chunk)
		for j := i; j < min(i+chunk, n); j++ {
			docs = append(docs, benchUser(j))
		}
		ids, err := st.BulkCreate(context.Background(), store.Users, docs)
		if err != nil {
			b.Fatal(err)
		}
		for j := 0; j < len(ids); j += max(1, n/2000) {
			sample = append(sample, ids[j])
		}
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(idsPath, []byte(strings.Join(sample, "\n")), 0o644); err != nil {
		b.Fatal(err)
	}
	return path, sample
}

// copyDB copies a cached database to a temp folder for benchmarks that write.
func copyDB(b *testing.B, src string) string {
	dst := filepath.Join(b.TempDir(), "bench.db")
	in, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	out.Close()
	return dst
}

type benchEnv struct {
	clients int // concurrent connections; benchClients when 0
	st      *store.Store
	srv     *server.Server
	url     string
	token   string
	client  *http.Client
	rate    float64 // req/s of the latest run
}

func startBench(b *testing.B, path string, idp string) *benchEnv {
	b.Helper()
	server.TuneRuntime() // the runtime settings 'scimd serve' uses
	st, err := store.Open(path, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	secret, _, err := st.IssueToken(context.Background(), fmt.Sprintf("bench-%d", time.Now().UnixNano()), idp, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	srv := server.New(st, server.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ts := httptest.NewServer(srv.Handler())
	b.Cleanup(func() {
		ts.Close()
		st.Close()
	})
	tr := &http.Transport{MaxIdleConnsPerHost: benchClients * 2, MaxConnsPerHost: benchClients * 2}
	return &benchEnv{st: st, url: ts.URL + "/scim/v2", token: secret, client: &http.Client{Transport: tr}}
}

// run sends b.N requests from benchClients connections; mk builds request
// i. It reports req/s and p50/p99 latency, and fails on any unexpected
// status. The client is a minimal HTTP/1.1 keep-alive client over raw TCP
// (like wrk), so that the measurement is of the server, not of net/http's
// client, which would take a third of the two cores.
func (e *benchEnv) run(b *testing.B, want int, mk func(i int) *http.Request) []time.Duration {
	b.Helper()
	return e.runN(b, b.N, want, mk)
}

// runN is run with an explicit number of requests.
func (e *benchEnv) runN(b *testing.B, total, want int, mk func(i int) *http.Request) []time.Duration {
	b.Helper()
	lat := make([]time.Duration, total)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	host := strings.TrimPrefix(strings.SplitN(e.url, "/scim", 2)[0], "http://")
	b.ResetTimer()
	start := time.Now()
	clients := e.clients
	if clients == 0 {
		clients = benchClients
	}
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", host)
			if err != nil {
				failed.Store(err.Error())
				return
			}
			defer conn.Close()
			br := bufio.NewReaderSize(conn, 64<<10)
			var buf bytes.Buffer
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				req := mk(i)
				buf.Reset()
				fmt.Fprintf(&buf, "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n", req.Method, req.URL.RequestURI(), host, e.token)
				var body []byte
				if req.Body != nil {
					body, _ = io.ReadAll(req.Body)
					fmt.Fprintf(&buf, "Content-Type: application/scim+json; charset=utf-8\r\nContent-Length: %d\r\n", len(body))
				}
				buf.WriteString("\r\n")
				buf.Write(body)
				t0 := time.Now()
				if _, err := conn.Write(buf.Bytes()); err != nil {
					failed.Store(err.Error())
					return
				}
				status, err := readResponse(br)
				if err != nil {
					failed.Store(err.Error())
					return
				}
				lat[i] = time.Since(t0)
				if status != want {
					failed.Store(fmt.Sprintf("request %d: status %d, want %d", i, status, want))
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if f := failed.Load(); f != nil {
		b.Fatal(f)
	}
	slices.Sort(lat)
	e.rate = float64(total) / elapsed.Seconds()
	b.ReportMetric(e.rate, "req/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	return lat
}

// readResponse reads one HTTP/1.1 response with a Content-Length (or no
// body) and returns its status.
func readResponse(br *bufio.Reader) (int, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, err
	}
	length, chunked := 0, false
	for {
		h, err := br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(h) <= 2 {
			break
		}
		if len(h) > 16 && (h[0] == 'C' || h[0] == 'c') && strings.EqualFold(string(h[:15]), "Content-Length:") {
			length, _ = strconv.Atoi(strings.TrimSpace(string(h[15:])))
		}
		if bytes.HasPrefix(h, []byte("Transfer-Encoding: chunked")) {
			chunked = true
		}
	}
	if !chunked {
		_, err := br.Discard(length)
		return status, err
	}
	for { // chunk-size CRLF data CRLF ... 0 CRLF CRLF
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(line)), 16, 64)
		if err != nil {
			return 0, fmt.Errorf("bad chunk size %q", line)
		}
		if _, err := br.Discard(int(n) + 2); err != nil {
			return 0, err
		}
		if n == 0 {
			return status, nil
		}
	}
}

func get(url string) *http.Request {
	r, _ := http.NewRequest("GET", url, nil)
	return r
}

func withBody(method, url, body string) *http.Request {
	r, _ := http.NewRequest(method, url, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/scim+json; charset=utf-8")
	return r
}

func BenchmarkLookupUserName(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			path, _ := seeded(b, n)
			e := startBench(b, path, "entra")
			lookup := func(i int) *http.Request {
				return get(fmt.Sprintf(`%s/Users?filter=userName+eq+%%22user%07d%%40bench.example.com%%22`, e.url, (i*7919)%n))
			}
			e.runN(b, 5000, 200, func(i int) *http.Request { return lookup(i + 1_000_003) }) // warm the page caches
			e.run(b, 200, lookup)
		})
	}
}

func BenchmarkGetUserByID(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			path, ids := seeded(b, n)
			e := startBench(b, path, "entra")
			byID := func(i int) *http.Request { return get(e.url + "/Users/" + ids[i%len(ids)]) }
			e.runN(b, 5000, 200, byID) // warm the page caches
			e.run(b, 200, byID)
		})
	}
}

// entraCreate is the Microsoft SCIM Validator's full user body
// (entra-id.md §2.2(c)) with a unique userName.
func entraCreate(i int) string {
	return fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
"userName":"new%08d@ondricka.us","externalId":"0a21f0f2-8d2a-4f8e-bf98-%012d","active":true,"displayName":"NDSQQTECVAAC","title":"CJSGUNOAAMMQ",
"emails":[{"type":"work","value":"thaddeus%d@hammes.info","primary":true}],"preferredLanguage":"hi",
"name":{"givenName":"Elfrieda","familyName":"Urban","formatted":"Myah","middleName":"Cindy","honorificPrefix":"Minerva","honorificSuffix":"Micaela"},
"addresses":[{"type":"work","formatted":"ZQEHBLETAAQE","streetAddress":"25928 Katlyn Row","locality":"YRAKBQCGOHZF","region":"XCCVLAIDMQYR","postalCode":"cx47 4mz","primary":true,"country":"Sierra Leone"}],
"phoneNumbers":[{"type":"work","value":"10-040-1308","primary":true},{"type":"mobile","value":"10-040-1308"},{"type":"fax","value":"10-040-1308"}],
"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"OXYYEGWVLTGW","department":"ZYWTBPDFHIIP","costCenter":"ASHTVSKANCGL","organization":"DPQRRHJMBXZE","division":"WXNFEJQDRAVI"},
"roles":[{"primary":"True","display":"MRONYWGFFHXQ","value":"WDEIISGWWQBE","type":"XVTUOHMYUFRL"}],
"userType":"GZILLRZCFPNC","nickName":"FOGSIQTKHIPG","locale":"RJWNTUNNOHNZ","timezone":"America/Guayaquil","profileUrl":"BAPNQLJSRQGD","meta":{"resourceType":"User"}}`, i, i, i)
}

func BenchmarkCreateUser(b *testing.B) {
	e := startBench(b, filepath.Join(b.TempDir(), "create.db"), "entra")
	e.run(b, 201, func(i int) *http.Request { return withBody("POST", e.url+"/Users", entraCreate(i)) })
}

// entraPatch is Entra's six-op update (entra-id.md §2.5A).
const entraPatch = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
{"op":"Replace","path":"displayName","value":"Pvlo%d"},
{"op":"Replace","path":"emails[type eq \"work\"].value","value":"Test%d@test.microsoft.com"},
{"op":"Replace","path":"name.givenName","value":"Gtfd"},
{"op":"Replace","path":"name.familyName","value":"Pkqf"},
{"op":"Replace","path":"externalId","value":"Eqpj%d"},
{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"Eqpj%d"}]}`

func BenchmarkPatchUser(b *testing.B) {
	path, ids := seeded(b, 100_000)
	e := startBench(b, copyDB(b, path), "entra")
	e.run(b, 200, func(i int) *http.Request {
		return withBody("PATCH", e.url+"/Users/"+ids[i%len(ids)], fmt.Sprintf(entraPatch, i, i, i, i))
	})
}

// bigGroup makes a group with the first members users of a copy of the
// 100k-user database and returns its id and 50,000 new users to add.
func bigGroup(b *testing.B, members int) (*benchEnv, string, []string) {
	path, _ := seeded(b, 100_000)
	e := startBench(b, copyDB(b, path), "entra")
	ctx := context.Background()
	g, err := e.st.Create(ctx, store.Actor{}, store.Groups, map[string]any{"displayName": fmt.Sprintf("big-%d", time.Now().UnixNano())})
	if err != nil {
		b.Fatal(err)
	}
	var ids []string
	for start := 1; len(ids) < members; start += 200 {
		_, page, err := e.st.List(ctx, store.Users, store.Query{StartIndex: start, Count: 200})
		if err != nil {
			b.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			ids = append(ids, r.ID)
		}
	}
	if err := e.st.BulkAddMembers(ctx, g.ID, ids[:min(members, len(ids))]); err != nil {
		b.Fatal(err)
	}
	defer e.st.Checkpoint(ctx) // start from a folded WAL, as a running server soon would
	extra := make([]map[string]any, 0, 50_000)
	for i := 0; i < 50_000; i++ {
		extra = append(extra, map[string]any{"userName": fmt.Sprintf("extra%07d@bench.example.com", i), "active": true})
	}
	extraIDs, err := e.st.BulkCreate(ctx, store.Users, extra)
	if err != nil {
		b.Fatal(err)
	}
	return e, g.ID, extraIDs
}

// BenchmarkGroupAddOneMember is Entra's initial group sync: one member per
// PATCH, 5 clients at once on the same group. The two sizes show that the
// cost does not depend on how many members the group already has.
func BenchmarkGroupAddOneMember(b *testing.B) {
	for _, members := range []int{10, 100_000} {
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) {
			e, gid, extra := bigGroup(b, members)
			e.clients = 5
			if b.N > len(extra) {
				b.Fatalf("b.N %d > %d prepared users; use -benchtime with at most that many", b.N, len(extra))
			}
			e.run(b, 204, func(i int) *http.Request {
				return withBody("PATCH", e.url+"/Groups/"+gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"members","value":[{"$ref":null,"value":"`+extra[i]+`"}]}]}`)
			})
		})
	}
}

func BenchmarkGroupMembers100(b *testing.B) {
	e, gid, extra := bigGroup(b, 100_000)
	// Alternate: add 100 new members, then remove the same 100.
	lat := e.run(b, 204, func(i int) *http.Request {
		chunk := (i / 2) % (len(extra) / 100)
		var buf bytes.Buffer
		op := "add"
		if i%2 == 1 {
			op = "remove"
		}
		buf.WriteString(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"` + op + `","path":"members","value":[`)
		for j := 0; j < 100; j++ {
			if j > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(`{"value":"` + extra[chunk*100+j] + `"}`)
		}
		buf.WriteString(`]}]}`)
		return withBody("PATCH", e.url+"/Groups/"+gid, buf.String())
	})
	var total time.Duration
	for _, d := range lat {
		total += d
	}
	// Requests run 8 at a time, so wall time is about total/8.
	b.ReportMetric(float64(b.N*100)/(total.Seconds()/benchClients), "members/s")
}

func BenchmarkGetGroupExcludingMembers(b *testing.B) {
	e, gid, _ := bigGroup(b, 100_000)
	e.run(b, 200, func(i int) *http.Request { return get(e.url + "/Groups/" + gid + "?excludedAttributes=members") })
}

// BenchmarkListAllUsers pages through every user with count=200 (sequential,
// as Okta imports) and reports users/s and the slowest page relative to the
// first.
func BenchmarkListAllUsers(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			path, _ := seeded(b, n)
			e := startBench(b, path, "okta")
			b.ResetTimer()
			var users int
			var times []time.Duration
			start := time.Now()
			for it := 0; it < b.N; it++ {
				times = times[:0]
				for si := 1; si <= n; si += 200 {
					req := get(fmt.Sprintf("%s/Users?startIndex=%d&count=200", e.url, si))
					req.Header.Set("Authorization", "Bearer "+e.token)
					t0 := time.Now()
					resp, err := e.client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Fatalf("status %d", resp.StatusCode)
					}
					times = append(times, time.Since(t0))
					users += 200
				}
			}
			el := time.Since(start)
			b.ReportMetric(float64(users)/el.Seconds(), "users/s")
			// Deep pages against the first ones: mean of the last tenth of
			// the walk over the mean of the first tenth (1.0 = flat).
			tenth := max(1, len(times)/10)
			mean := func(d []time.Duration) float64 {
				var t time.Duration
				for _, x := range d {
					t += x
				}
				return float64(t) / float64(len(d))
			}
			b.ReportMetric(mean(times[len(times)-tenth:])/mean(times[:tenth]), "last/first")
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.Sys)/(1<<20), "sys-MB")
		})
	}
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// scimdBinary builds the scimd binary once for the benchmarks that measure
// the real process (export time and memory, server memory).
func scimdBinary(b *testing.B) string {
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "scimd-bench-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "scimd")
		out, err := exec.Command("go", "build", "-o", binPath, "..").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		b.Fatal(binErr)
	}
	return binPath
}

func writeConfig(b *testing.B, db string) string {
	cfg := filepath.Join(b.TempDir(), "scimd.toml")
	text := fmt.Sprintf("[server]\nlisten = \"127.0.0.1:0\"\n[database]\npath = %q\n", db)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		b.Fatal(err)
	}
	return cfg
}

// BenchmarkExportJSONL runs 'scimd users export --format jsonl' over the
// whole directory and reports its wall time and peak RSS.
func BenchmarkExportJSONL(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			path, _ := seeded(b, n)
			bin, cfg := scimdBinary(b), writeConfig(b, path)
			b.ResetTimer()
			var worstRSS int64
			var total time.Duration
			for i := 0; i < b.N; i++ {
				cmd := exec.Command(bin, "users", "export", "--format", "jsonl", "--config", cfg)
				cmd.Stdout = io.Discard
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				t0 := time.Now()
				if err := cmd.Run(); err != nil {
					b.Fatalf("export: %v\n%s", err, stderr.String())
				}
				total += time.Since(t0)
				if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > worstRSS {
					worstRSS = ru.Maxrss
				}
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "s/export")
			b.ReportMetric(float64(worstRSS)/1024, "peak-RSS-MB")
		})
	}
}

// BenchmarkServerRSS starts 'scimd serve' on the seeded database, drives
// lookups, reads by id and a full list walk through it, and reports the
// server process's peak RSS (VmHWM).
func BenchmarkServerRSS(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			path, ids := seeded(b, n)
			e, cmd := serveBinary(b, path)
			defer func() { cmd.Process.Kill(); cmd.Wait() }()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// Lookups and reads by id from 8 clients, then a full
				// sequential walk of the directory (an Okta import).
				e.runN(b, 30000, 200, func(i int) *http.Request {
					if i%2 == 0 {
						return get(fmt.Sprintf(`%s/Users?filter=userName+eq+%%22user%07d%%40bench.example.com%%22`, e.url, (i*7919)%n))
					}
					return get(e.url + "/Users/" + ids[i%len(ids)])
				})
				e.clients = 1
				e.runN(b, (n+199)/200, 200, func(i int) *http.Request {
					return get(fmt.Sprintf("%s/Users?startIndex=%d&count=200", e.url, 1+i*200))
				})
				e.clients = 0
			}
			status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
			if err != nil {
				b.Fatal(err)
			}
			for _, line := range strings.Split(string(status), "\n") {
				if kb, ok := strings.CutPrefix(line, "VmHWM:"); ok {
					v, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(kb), "kB")))
					b.ReportMetric(float64(v)/1024, "server-peak-RSS-MB")
				}
			}
		})
	}
}

// BenchmarkRandomDeepPage asks for count=200 pages at random startIndex
// values, none continuing an earlier page: the worst case for index
// pagination, served by skipping rowids.
func BenchmarkRandomDeepPage(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			path, _ := seeded(b, n)
			e := startBench(b, path, "okta")
			e.run(b, 200, func(i int) *http.Request {
				return get(fmt.Sprintf("%s/Users?startIndex=%d&count=200", e.url, 1+(i*7919*200+13)%n))
			})
		})
	}
}

// BenchmarkGetGroupWithMembers reads a 100,000-member group whole (what
// Okta's group import asks for; Entra always excludes members).
func BenchmarkGetGroupWithMembers(b *testing.B) {
	e, gid, _ := bigGroup(b, 100_000)
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	e.run(b, 200, func(i int) *http.Request { return get(e.url + "/Groups/" + gid) })
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/(1<<20), "alloc-MB/req")
}

// costliestFilter is the most expensive filter the default limits allow
// (max_filter_nodes 200): 100 substring tests on every email of every user,
// which no index can narrow. Each request varies the values.
func costliestFilter(i int) string {
	parts := make([]string, 100)
	for j := range parts {
		parts[j] = fmt.Sprintf(`emails.value co "q%d-%d"`, i, j)
	}
	return url.QueryEscape(strings.Join(parts, " or "))
}

// BenchmarkLookupUnderHeavyFilters: while 8 clients send the costliest
// filters without pause against 100,000 users (each runs until
// [limits] query_timeout stops it with 400 tooMany), one Entra client's
// userName lookups are timed. Reports the lookups' p50/p99 and how many
// heavy requests ended, and how.
func BenchmarkLookupUnderHeavyFilters(b *testing.B) {
	const n = 100_000
	path, _ := seeded(b, n)
	e := startBench(b, path, "entra")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var ok, tooMany, other atomic.Int64
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchClients}}
	for c := 0; c < benchClients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; ; i += benchClients {
				select {
				case <-stop:
					return
				default:
				}
				req := get(e.url + "/Users?count=200&filter=" + costliestFilter(i))
				req.Header.Set("Authorization", "Bearer "+e.token)
				res, err := hc.Do(req)
				if err != nil {
					other.Add(1)
					continue
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				switch {
				case res.StatusCode == 200:
					ok.Add(1)
				case res.StatusCode == 400 && bytes.Contains(body, []byte(`"tooMany"`)):
					tooMany.Add(1)
				default:
					other.Add(1)
				}
			}
		}()
	}
	time.Sleep(time.Second) // let the heavy queries start
	e.clients = 1
	e.run(b, 200, func(i int) *http.Request {
		return get(fmt.Sprintf(`%s/Users?filter=userName+eq+%%22user%07d%%40bench.example.com%%22`, e.url, (i*7919)%n))
	})
	close(stop)
	// The heavy queries in flight end within query_timeout.
	wg.Wait()
	b.ReportMetric(float64(ok.Load()), "heavy-200")
	b.ReportMetric(float64(tooMany.Load()), "heavy-tooMany")
	if other.Load() > 0 {
		b.Errorf("%d heavy requests ended otherwise than 200 or 400 tooMany", other.Load())
	}
}

// variedFilter is filter number i of a family of distinct shapes as large
// as the default limits allow: a userName lookup and'ed with 90 other
// comparisons whose attributes are drawn from i, so each compiles to
// different (and long) SQL text.
func variedFilter(i, n int) string {
	attrs := []string{"title", "displayName", "nickName", "profileUrl", "locale", "timezone", "preferredLanguage",
		"userType", "name.givenName", "name.familyName", "name.formatted", "emails.value", "phoneNumbers.value", "externalId"}
	or := make([]string, 90)
	x := uint64(i)*0x9E3779B97F4A7C15 + 1
	for j := range or {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		or[j] = fmt.Sprintf(`%s eq "v%d"`, attrs[x%uint64(len(attrs))], j)
	}
	f := fmt.Sprintf(`userName eq "user%07d@bench.example.com" and not (%s)`, (i*7919)%n, strings.Join(or, " or "))
	return url.QueryEscape(f)
}

// BenchmarkVariedFiltersRSS starts 'scimd serve' on 100,000 users, sends
// 10,000 distinct filters from 8 connections, and reports the server
// process's peak RSS (VmHWM) and the final RSS.
func BenchmarkVariedFiltersRSS(b *testing.B) {
	const n = 100_000
	path, _ := seeded(b, n)
	e, cmd := serveBinary(b, path)
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.runN(b, 10_000, 200, func(i int) *http.Request {
			return get(e.url + "/Users?filter=" + variedFilter(i, n))
		})
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		for key, metric := range map[string]string{"VmHWM:": "server-peak-RSS-MB", "VmRSS:": "server-RSS-MB"} {
			if kb, ok := strings.CutPrefix(line, key); ok {
				v, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(kb), "kB")))
				b.ReportMetric(float64(v)/1024, metric)
			}
		}
	}
}

// serveBinary starts the built 'scimd serve' on the database at path with a
// fresh token, and returns a client for it and the process (the caller
// kills it).
func serveBinary(b *testing.B, path string) (*benchEnv, *exec.Cmd) {
	bin, cfg := scimdBinary(b), writeConfig(b, path)
	tok, err := exec.Command(bin, "token", "issue", "--name", fmt.Sprintf("rss-%d", time.Now().UnixNano()), "--config", cfg).Output()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", cfg)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	addr := ""
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if _, a, ok := strings.Cut(sc.Text(), "msg=listening addr="); ok {
			addr = strings.Fields(a)[0]
			break
		}
	}
	go io.Copy(io.Discard, stderr)
	if addr == "" {
		cmd.Process.Kill()
		cmd.Wait()
		b.Fatal("server did not report its address")
	}
	return &benchEnv{url: "http://" + addr + "/scim/v2", token: strings.TrimSpace(string(tok))}, cmd
}
