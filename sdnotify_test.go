package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// waitLimit bounds every wait in these tests; reaching it is a failure, never a
// measurement.
const waitLimit = 2 * time.Minute

// lineLog collects log output line by line and lets a test wait for a line.
type lineLog struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	changed chan struct{}
}

func newLineLog() *lineLog { return &lineLog{changed: make(chan struct{})} }

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := strings.IndexByte(string(l.partial), '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n") + "\n" + string(l.partial)
}

// wait returns the first line containing every one of subs, waiting for it.
func (l *lineLog) wait(t *testing.T, subs ...string) string {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		l.mu.Lock()
		for _, line := range l.lines {
			if hasAll(line, subs) {
				l.mu.Unlock()
				return line
			}
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no log line with %q; the log:\n%s", subs, l.String())
		}
	}
}

func hasAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// logField reads key=value from a text log line.
func logField(line, key string) string {
	_, v, _ := strings.Cut(line, " "+key+"=")
	v, _, _ = strings.Cut(v, " ")
	return strings.Trim(v, `"`)
}

// notifySocket listens where a service manager would and returns the
// messages it receives.
func notifySocket(t *testing.T, path string) <-chan string {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ch := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				close(ch)
				return
			}
			ch <- string(buf[:n])
		}
	}()
	return ch
}

// nextNotify returns the next message that starts with prefix, skipping
// others (WATCHDOG=1 arrives whenever it is due).
func nextNotify(t *testing.T, ch <-chan string, prefix string) string {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case m, ok := <-ch:
			if !ok {
				t.Fatalf("notify socket closed before %q", prefix)
			}
			if strings.HasPrefix(m, prefix) {
				return m
			}
		case <-deadline:
			t.Fatalf("no %q message on the notify socket", prefix)
		}
	}
}

func TestSDNotify(t *testing.T) {
	t.Run("unset", func(t *testing.T) {
		t.Setenv("NOTIFY_SOCKET", "")
		if err := sdNotify("READY=1"); err != nil {
			t.Errorf("sdNotify without NOTIFY_SOCKET: %v, want nil", err)
		}
	})
	t.Run("path", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "notify")
		ch := notifySocket(t, path)
		t.Setenv("NOTIFY_SOCKET", path)
		if err := sdNotify("READY=1\nSTATUS=x"); err != nil {
			t.Fatal(err)
		}
		if got := nextNotify(t, ch, ""); got != "READY=1\nSTATUS=x" {
			t.Errorf("got %q, want %q", got, "READY=1\nSTATUS=x")
		}
	})
	t.Run("abstract", func(t *testing.T) {
		name := fmt.Sprintf("@scimd-test-%d", os.Getpid())
		ch := notifySocket(t, name)
		t.Setenv("NOTIFY_SOCKET", name)
		if err := sdNotify("STOPPING=1"); err != nil {
			t.Fatal(err)
		}
		if got := nextNotify(t, ch, ""); got != "STOPPING=1" {
			t.Errorf("got %q, want STOPPING=1", got)
		}
	})
	t.Run("bad", func(t *testing.T) {
		t.Setenv("NOTIFY_SOCKET", "vsock:2:1234")
		if err := sdNotify("READY=1"); err == nil {
			t.Error("sdNotify to an unsupported address: nil error")
		}
	})
}

func TestWatchdogInterval(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		name, socket, usec, pid string
		want                    time.Duration
	}{
		{"off", "/run/notify", "", "", 0},
		{"no socket", "", "60000000", "", 0},
		{"half", "/run/notify", "60000000", "", 30 * time.Second},
		{"our pid", "/run/notify", "2000000", pid, time.Second},
		{"other pid", "/run/notify", "2000000", "1", 0},
		{"garbage", "/run/notify", "soon", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("NOTIFY_SOCKET", tc.socket)
			t.Setenv("WATCHDOG_USEC", tc.usec)
			t.Setenv("WATCHDOG_PID", tc.pid)
			if got := watchdogInterval(); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestServeUnderSystemd runs the real binary as systemd would (Type=notify,
// WatchdogSec=): READY=1 once it answers, WATCHDOG=1 pings, SIGHUP is
// survived, and SIGTERM sends STOPPING=1 and lets a request that is in
// flight finish and commit before the process exits 0.
func TestServeUnderSystemd(t *testing.T) {
	bin := buildStatic(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.toml")
	cfg := fmt.Sprintf("[server]\nlisten = \"127.0.0.1:0\"\nshutdown_timeout = \"5m\"\n[database]\npath = %q\n", filepath.Join(dir, "scimd.db"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "token", "issue", "--name", "systemd-test", "--idp", "generic", "--config", cfgPath).Output()
	if err != nil {
		t.Fatalf("token issue: %v", err)
	}
	token := strings.TrimSpace(string(out))

	sock := filepath.Join(dir, "notify")
	notes := notifySocket(t, sock)
	logs := newLineLog()
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=200000")
	cmd.Stderr = logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if t.Failed() {
			// A goroutine dump shows where a stuck server is stuck.
			cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case err := <-exited:
				exited <- err
			case <-time.After(10 * time.Second):
			}
		}
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("scimd log:\n%s", logs.String())
		}
	})

	ready := nextNotify(t, notes, "READY=1")
	// READY=1 comes after the listener is bound: the server answers at once.
	addr := logField(logs.wait(t, "msg=listening"), "addr")
	if want := "READY=1\nSTATUS=serving http://" + addr + "/scim/v2"; ready != want {
		t.Errorf("ready message %q, want %q", ready, want)
	}
	if code := getStatus(t, "http://"+addr+"/healthz", ""); code != http.StatusOK {
		t.Fatalf("GET /healthz right after READY=1: %d", code)
	}
	nextNotify(t, notes, "WATCHDOG=1")

	t.Run("SIGHUP", func(t *testing.T) {
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		logs.wait(t, "SIGHUP ignored")
		if code := getStatus(t, "http://"+addr+"/scim/v2/Users", token); code != http.StatusOK {
			t.Errorf("GET /Users after SIGHUP: %d, want 200", code)
		}
	})

	// A POST whose headers the server has read (it asked for the body with
	// 100 Continue) is in flight when SIGTERM arrives.
	body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"in-flight@example.org"}`
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(waitLimit))
	fmt.Fprintf(conn, "POST /scim/v2/Users HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/scim+json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", addr, token, len(body))
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		t.Fatalf("waiting for 100 Continue: %q, %v", line, err)
	}
	if _, err := br.ReadString('\n'); err != nil { // the blank line after 100 Continue
		t.Fatal(err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	nextNotify(t, notes, "STOPPING=1")
	logs.wait(t, "shutting down")

	if _, err := io.WriteString(conn, body); err != nil {
		t.Fatalf("sending the body after SIGTERM: %v", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the response after SIGTERM: %v", err)
	}
	var created struct {
		ID       string `json:"id"`
		UserName string `json:"userName"`
	}
	err = json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || err != nil || created.ID == "" {
		t.Fatalf("in-flight POST during shutdown: %d %+v %v, want 201 with an id", resp.StatusCode, created, err)
	}

	select {
	case err := <-exited:
		exited <- err // for Cleanup
		if err != nil {
			t.Fatalf("scimd exited with %v after SIGTERM, want status 0", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("scimd did not exit after SIGTERM")
	}
	logs.wait(t, "msg=stopped")

	// The acknowledged write survived: a fresh process serves it.
	logs2 := newLineLog()
	cmd2 := exec.Command(bin, "serve", "--config", cfgPath)
	cmd2.Stderr = logs2
	cmd2.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd2.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd2.Process.Signal(syscall.SIGTERM)
		cmd2.Wait()
	}()
	addr2 := logField(logs2.wait(t, "msg=listening"), "addr")
	if code := getStatus(t, "http://"+addr2+"/scim/v2/Users/"+created.ID, token); code != http.StatusOK {
		t.Errorf("GET the user created during shutdown after a restart: %d, want 200", code)
	}
}

// getStatus returns the status of a GET with an optional bearer token.
func getStatus(t *testing.T, url, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
