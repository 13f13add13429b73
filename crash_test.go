package main

// Crash safety of the built binary (issue 7): writes acknowledged with a 2xx
// survive SIGKILL at any moment. The helpers here (hd*) also serve
// load_test.go; they build their own binary so that they depend on no other
// test file's setup.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"scimd/store"
)

// hdScimd returns the scimd binary that TestMain (e2e_test.go) built.
func hdScimd(t *testing.T) string { return e2eBin }

// hdLog is the goroutine-safe buffer of e2e_test.go.
type hdLog = e2eLog

// hdServer is one installation in a temporary folder: config, database,
// a generic token, and (once started) a running "scimd serve".
type hdServer struct {
	t      *testing.T
	bin    string
	dir    string
	cfg    string
	db     string
	token  string
	cmd    *exec.Cmd
	exited chan error
	log    *hdLog
	logs   []string // stderr of earlier runs
	addr   string
	base   string
}

// hdNew writes a config with serverKeys added under [server] and more
// sections after, and issues a token with the CLI.
func hdNew(t *testing.T, serverKeys, more string) *hdServer {
	t.Helper()
	s := &hdServer{t: t, bin: hdScimd(t), dir: t.TempDir()}
	s.cfg = filepath.Join(s.dir, "scimd.toml")
	s.db = filepath.Join(s.dir, "scimd.db")
	text := fmt.Sprintf("[server]\nlisten = \"127.0.0.1:0\"\nshutdown_timeout = \"10s\"\n%s\n[database]\npath = %q\n%s\n", serverKeys, s.db, more)
	if err := os.WriteFile(s.cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := s.cli("token", "issue", "--name", "hd", "--idp", "generic")
	if err != nil {
		t.Fatalf("token issue: %v\n%s", err, errOut)
	}
	s.token = strings.TrimSpace(out)
	return s
}

// cli runs a scimd command with the server's config.
func (s *hdServer) cli(args ...string) (stdout, stderr string, err error) {
	var o, e bytes.Buffer
	cmd := exec.Command(s.bin, append(args, "--config", s.cfg)...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

var hdListening = regexp.MustCompile(`msg=listening addr=(\S+)`)

// start runs "scimd serve" and waits until it listens.
func (s *hdServer) start() {
	s.t.Helper()
	if s.log != nil {
		s.logs = append(s.logs, s.log.String())
	}
	s.log = &hdLog{}
	s.cmd = exec.Command(s.bin, "serve", "--config", s.cfg)
	s.cmd.Stderr = s.log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	cmd, exited := s.cmd, make(chan error, 1)
	s.exited = exited
	go func() { exited <- cmd.Wait() }()
	s.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.After(20 * time.Second)
	for {
		if m := hdListening.FindStringSubmatch(s.log.String()); m != nil {
			s.addr, s.base = m[1], "http://"+m[1]+"/scim/v2"
			return
		}
		select {
		case err := <-exited:
			s.t.Fatalf("scimd serve exited: %v\n%s", err, s.log)
		case <-deadline:
			s.t.Fatalf("scimd serve did not start listening:\n%s", s.log)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// stop sends sig and waits for the process to end.
func (s *hdServer) stop(sig os.Signal) error {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatal(err)
	}
	select {
	case err := <-s.exited:
		return err
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		s.t.Fatalf("scimd serve did not stop after %v:\n%s", sig, s.log)
	}
	return nil
}

// allLogs is the stderr of every run so far.
func (s *hdServer) allLogs() string {
	out := strings.Join(s.logs, "")
	if s.log != nil {
		out += s.log.String()
	}
	return out
}

var hdClient = &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}

// request sends a SCIM request with the server's token. A transport error
// (the server died or closed the connection) is returned, not fatal.
func (s *hdServer) request(method, path string, body any) (int, map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/scim+json")
	res, err := hdClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, nil, err // the response was cut off: not an acknowledgement
	}
	var m map[string]any
	json.Unmarshal(raw, &m)
	return res.StatusCode, m, nil
}

// hdAcked is what the clients were told was done.
type hdAcked struct {
	mu      sync.Mutex
	users   map[string]string // id -> userName
	members map[string]bool   // member ids of the group, added with a 204
	other   map[int]int       // statuses of the requests that were refused
}

func hdNewAcked() *hdAcked {
	return &hdAcked{users: map[string]string{}, members: map[string]bool{}, other: map[int]int{}}
}

// hdLoad runs writers against s until stop is closed or the server stops
// answering: users POSTs, and PATCHes adding new users to group. Every
// 2xx is recorded in acked.
func hdLoad(s *hdServer, acked *hdAcked, round, writers int, group string, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("r%d-w%d-%d@example.com", round, w, i)
				status, body, err := s.request("POST", "/Users", map[string]any{"userName": name, "title": strings.Repeat("t", 200)})
				if err != nil {
					return // the server is gone
				}
				if status != 201 {
					acked.mu.Lock()
					acked.other[status]++
					acked.mu.Unlock()
					continue // not acknowledged
				}
				id, _ := body["id"].(string)
				acked.mu.Lock()
				acked.users[id] = name
				acked.mu.Unlock()
				if group == "" || w%3 != 0 {
					continue
				}
				patch := map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
					"Operations": []any{map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": id}}}}}
				status, _, err = s.request("PATCH", "/Groups/"+group, patch)
				if err != nil {
					return
				}
				acked.mu.Lock()
				if status == 204 {
					acked.members[id] = true
				} else {
					acked.other[status]++
				}
				acked.mu.Unlock()
			}
		}()
	}
	return &wg
}

// hdVerify opens the database with the store, as the next start would, and
// checks that it is intact and holds every acknowledged write.
func hdVerify(t *testing.T, db string, acked *hdAcked, group string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatalf("reopening after the crash: %v", err)
	}
	defer st.Close()
	if err := st.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
	acked.mu.Lock()
	defer acked.mu.Unlock()
	lost := 0
	for id, name := range acked.users {
		r, err := st.Get(ctx, store.Users, id, false)
		if err != nil || r.Doc["userName"] != name {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged user %s (%s) lost: %v", id, name, err)
			}
		}
	}
	if group != "" {
		ms, err := st.Members(ctx, group)
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, m := range ms {
			have[m.ID] = true
		}
		for id := range acked.members {
			if !have[id] {
				lost++
				t.Errorf("acknowledged membership of %s lost", id)
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d acknowledged writes lost", lost)
	}
}

// TestCrashKeepsAcknowledgedWrites runs the binary under a concurrent write
// load, kills it with SIGKILL at a random moment, and checks on the same
// database that every write that got a 2xx is there and the database passes
// PRAGMA integrity_check. Four rounds, each on the database the previous
// one left.
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	s := hdNew(t, "", "")
	acked := hdNewAcked()
	s.start()
	status, g, err := s.request("POST", "/Groups", map[string]any{"displayName": "Crash"})
	if err != nil || status != 201 {
		t.Fatalf("create group: %d %v", status, err)
	}
	group := g["id"].(string)

	for round := 0; round < 4; round++ {
		if round > 0 {
			s.start()
		}
		stop := make(chan struct{})
		before := hdCount(acked)
		wg := hdLoad(s, acked, round, 8, group, stop)
		// Let some writes through, then kill at a random point of the load.
		deadline := time.Now().Add(10 * time.Second)
		for hdCount(acked) < before+20 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
		if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-s.exited
		close(stop)
		wg.Wait()
		n := hdCount(acked) - before
		if n == 0 {
			t.Fatalf("round %d: no write was acknowledged before the kill:\n%s", round, s.log)
		}
		t.Logf("round %d: %d writes acknowledged before SIGKILL", round, n)
		if len(acked.other) > 0 {
			t.Errorf("round %d: a live server refused writes: %v", round, acked.other)
		}
		hdVerify(t, s.db, acked, group)
	}

	// The server starts on the crashed database and serves what it holds.
	s.start()
	status, list, err := s.request("GET", "/Users?count=0", nil)
	if err != nil || status != 200 {
		t.Fatalf("list after the crashes: %d %v", status, err)
	}
	if total := int(list["totalResults"].(float64)); total < len(acked.users) {
		t.Errorf("totalResults %d after restart, want at least the %d acknowledged users", total, len(acked.users))
	}
}

func hdCount(a *hdAcked) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.users) + len(a.members)
}
