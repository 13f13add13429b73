package main

// The built binary under load and attack (issue 7): graceful shutdown with
// requests in flight, slowloris, secrets kept out of every output, and the
// [limits] keys reaching the server. Helpers (hd*) are in crash_test.go.

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"scimd/store"
)

// TestShutdownUnderLoad sends SIGTERM while writers keep the server busy
// and one request is still sending its body. Every request either
// completes (and its write is there after a restart) or is never
// acknowledged; the server exits cleanly.
func TestShutdownUnderLoad(t *testing.T) {
	s := hdNew(t, "", "")
	s.start()
	status, g, err := s.request("POST", "/Groups", map[string]any{"displayName": "Drain"})
	if err != nil || status != 201 {
		t.Fatalf("create group: %d %v", status, err)
	}
	group := g["id"].(string)

	acked := hdNewAcked()
	stop := make(chan struct{})
	defer close(stop)
	wg := hdLoad(s, acked, 0, 8, group, stop)

	// A request in flight: headers and half the body sent before SIGTERM,
	// the rest after.
	pr, pw := io.Pipe()
	slow := make(chan error, 1)
	var slowStatus int
	go func() {
		req, _ := http.NewRequest("POST", s.base+"/Users", pr)
		req.Header.Set("Authorization", "Bearer "+s.token)
		res, err := hdClient.Do(req)
		if err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			slowStatus = res.StatusCode
		}
		slow <- err
	}()
	if _, err := pw.Write([]byte(`{"userName": "slow@exa`)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for hdCount(acked) < 30 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}

	exited := make(chan error, 1)
	go func() { exited <- s.stop(syscall.SIGTERM) }()
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(s.log.String(), "shutting down"); {
		if time.Now().After(deadline) {
			t.Fatalf("no shutdown in the log after SIGTERM:\n%s", s.log)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-exited:
		t.Fatalf("the server exited (%v) with a request in flight", err)
	default:
	}
	if _, err := pw.Write([]byte(`mple.com"}`)); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := <-slow; err != nil || slowStatus != 201 {
		t.Errorf("the request in flight at SIGTERM: status %d, error %v; want 201", slowStatus, err)
	}
	if err := <-exited; err != nil {
		t.Errorf("scimd serve exited with %v after SIGTERM, want 0:\n%s", err, s.log)
	}
	wg.Wait()
	if !strings.Contains(s.log.String(), "msg=stopped") {
		t.Errorf("no clean stop in the log:\n%s", s.log)
	}
	t.Logf("%d writes acknowledged, refused: %v", hdCount(acked), acked.other)
	for code := range acked.other {
		if code != 503 {
			t.Errorf("during shutdown %d requests got %d; want completion or 503 only", acked.other[code], code)
		}
	}
	hdVerify(t, s.db, acked, group)

	s.start()
	status, list, err := s.request("GET", "/Users?filter="+url.QueryEscape(`userName eq "slow@example.com"`), nil)
	if err != nil || status != 200 || list["totalResults"] != float64(1) {
		t.Errorf("the request completed during shutdown is missing after restart: %d %v %v", status, list["totalResults"], err)
	}
}

// TestSlowloris: clients sending their headers one byte per second are
// disconnected once read_header_timeout has passed, while the server keeps
// answering everyone else.
func TestSlowloris(t *testing.T) {
	s := hdNew(t, `read_header_timeout = "2s"`, "")
	s.start()
	header := "GET /scim/v2/Users HTTP/1.1\r\nHost: " + s.addr + "\r\nAuthorization: Bearer " + s.token + "\r\nAccept: application/scim+json\r\n\r\n"
	var wg sync.WaitGroup
	for c := 0; c < 3; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", s.addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			start := time.Now()
			done := make(chan struct{})
			go func() {
				for i := 0; i < len(header); i++ {
					if _, err := conn.Write([]byte{header[i]}); err != nil {
						return
					}
					select {
					case <-done:
						return
					case <-time.After(time.Second):
					}
				}
			}()
			conn.SetReadDeadline(time.Now().Add(15 * time.Second))
			_, err = io.Copy(io.Discard, conn) // returns when the server closes
			close(done)
			d := time.Since(start)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Errorf("connection %d still open after %v", c, d)
				return
			}
			if d > 5*time.Second {
				t.Errorf("connection %d closed after %v, want within read_header_timeout (2s) plus a margin", c, d)
			}
		}()
	}
	// Meanwhile normal requests are served.
	time.Sleep(500 * time.Millisecond)
	for i := 0; i < 5; i++ {
		if status, _, err := s.request("GET", "/Users", nil); err != nil || status != 200 {
			t.Errorf("normal request during the slowloris: %d %v", status, err)
		}
	}
	wg.Wait()
}

// TestNoSecretInLogsOrFiles uses tokens the way a deployment does (valid
// and invalid requests, rotation, every inspection command, a backup) and
// then searches the database files, the backup, the server log and every
// command's output for the secrets. Only their hashes may be stored.
func TestNoSecretInLogsOrFiles(t *testing.T) {
	s := hdNew(t, "", "")
	secret, issueErr, err := s.cli("token", "issue", "--name", "grep", "--idp", "entra")
	if err != nil {
		t.Fatalf("token issue: %v %s", err, issueErr)
	}
	secret = strings.TrimSpace(secret)
	if !strings.HasPrefix(secret, store.TokenPrefix) {
		t.Fatalf("token issue printed %q, want a secret", secret)
	}
	s.start()
	s.token = secret
	var outputs []string // everything printed that must hold no secret
	outputs = append(outputs, issueErr)

	status, u, err := s.request("POST", "/Users", map[string]any{"userName": "grep@example.com"})
	if err != nil || status != 201 {
		t.Fatalf("create: %d %v", status, err)
	}
	id := u["id"].(string)
	s.request("PATCH", "/Users/"+id, map[string]any{"Operations": []any{map[string]any{"op": "replace", "path": "active", "value": false}}})
	s.request("GET", "/Users?filter="+url.QueryEscape(`userName eq "grep@example.com"`), nil)
	s.request("POST", "/Users", map[string]any{"userName": "grep@example.com"}) // 409
	s.request("PATCH", "/Users/"+id, map[string]any{"Operations": []any{map[string]any{"op": "frob"}}})
	for _, bad := range []string{
		"Bearer " + secret + "x",
		"Bearer " + secret[:len(secret)-1],
		secret + " trailing",
		"Basic " + base64.StdEncoding.EncodeToString([]byte("grep:"+secret)),
		"Bearer " + strings.ToUpper(secret),
	} {
		req, _ := http.NewRequest("GET", s.base+"/Users", nil)
		req.Header.Set("Authorization", bad)
		res, err := hdClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 401 {
			t.Errorf("bad credential: status %d, want 401", res.StatusCode)
		}
		outputs = append(outputs, string(body))
	}

	rotated, rotErr, err := s.cli("token", "rotate", "grep")
	if err != nil {
		t.Fatalf("token rotate: %v %s", err, rotErr)
	}
	rotated = strings.TrimSpace(rotated)
	outputs = append(outputs, rotErr)
	s.token = rotated
	if status, _, err := s.request("GET", "/Users", nil); err != nil || status != 200 {
		t.Fatalf("rotated token: %d %v", status, err)
	}
	backup := filepath.Join(s.dir, "backup.db")
	for _, args := range [][]string{
		{"token", "list"}, {"token", "list", "--json"},
		{"status"}, {"status", "--json"},
		{"log", "--since", "0"}, {"log", "--since", "0", "--json"},
		{"users", "export", "--format", "json"}, {"users", "list"},
		{"backup", backup},
	} {
		out, errOut, err := s.cli(args...)
		if err != nil && args[0] != "status" { // status exits non-zero for expiring tokens
			t.Errorf("scimd %s: %v\n%s", strings.Join(args, " "), err, errOut)
		}
		outputs = append(outputs, out, errOut)
	}

	secrets := []string{secret, rotated, s.token}
	check := func(when string) {
		files := []string{s.db, s.db + "-wal", s.db + "-shm", backup}
		var stored []byte
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			stored = append(stored, b...)
			hdNoSecret(t, when+" "+filepath.Base(f), b, secrets)
		}
		if !bytes.Contains(stored, store.HashSecret(secret)) {
			t.Errorf("%s: the database files do not hold the token's hash; the search looks in the wrong place", when)
		}
		hdNoSecret(t, when+" server log", []byte(s.allLogs()), secrets)
	}
	check("running:")
	for i, o := range outputs {
		hdNoSecret(t, fmt.Sprintf("output %d", i), []byte(o), secrets)
	}
	if err := s.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("stop: %v", err)
	}
	check("stopped:")
}

// hdNoSecret fails if b holds any secret, whole or its random part alone.
func hdNoSecret(t *testing.T, where string, b []byte, secrets []string) {
	t.Helper()
	for _, sec := range secrets {
		for _, needle := range []string{sec, strings.TrimPrefix(sec, store.TokenPrefix)} {
			if i := bytes.Index(b, []byte(needle)); i >= 0 {
				t.Errorf("%s holds a secret at byte %d", where, i)
			}
		}
	}
}

// TestLimitsFromConfig sets every [limits] key low in the config file and
// checks that the running binary enforces each one (every request below
// would pass at the defaults) and advertises max_results.
func TestLimitsFromConfig(t *testing.T) {
	s := hdNew(t, "", `[limits]
max_body_bytes = 4096
max_results = 2
max_operations = 2
max_members = 3
max_depth = 5
max_value_length = 10
max_filter_length = 40
max_filter_nodes = 3
auth_failures_per_minute = 2
`)
	s.start()
	var users []any
	for i := 0; i < 4; i++ {
		status, u, err := s.request("POST", "/Users", map[string]any{"userName": fmt.Sprintf("l%d", i)})
		if err != nil || status != 201 {
			t.Fatalf("create: %d %v", status, err)
		}
		users = append(users, map[string]any{"value": u["id"]})
	}
	status, g, err := s.request("POST", "/Groups", map[string]any{"displayName": "L"})
	if err != nil || status != 201 {
		t.Fatalf("create group: %d %v", status, err)
	}
	uid := users[0].(map[string]any)["value"].(string)
	patch := func(ops ...any) map[string]any { return map[string]any{"Operations": ops} }
	title := func(v string) any { return map[string]any{"op": "replace", "path": "title", "value": v} }

	for _, tc := range []struct {
		key          string
		method, path string
		body         any
		status       int
		scimType     string
	}{
		{"max_body_bytes", "POST", "/Users", map[string]any{"userName": "big", "x": strings.Repeat("x", 5000)}, 413, ""},
		{"max_operations", "PATCH", "/Users/" + uid, patch(title("a"), title("b"), title("c")), 400, "invalidValue"},
		{"max_members", "PATCH", "/Groups/" + g["id"].(string), patch(map[string]any{"op": "add", "path": "members", "value": users}), 400, "invalidValue"},
		{"max_depth", "POST", "/Users", map[string]any{"userName": "d", "x": []any{[]any{[]any{[]any{[]any{}}}}}}, 400, "invalidSyntax"},
		{"max_value_length", "POST", "/Users", map[string]any{"userName": "v", "title": "12345678901"}, 400, "invalidValue"},
		{"max_filter_length", "GET", "/Users?filter=" + url.QueryEscape(`userName eq "`+strings.Repeat("a", 30)+`"`), nil, 400, "invalidFilter"},
		{"max_filter_nodes", "GET", "/Users?filter=" + url.QueryEscape(`title pr or title pr or title pr`), nil, 400, "invalidFilter"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			status, body, err := s.request(tc.method, tc.path, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := body["scimType"].(string); status != tc.status || got != tc.scimType {
				t.Errorf("status %d scimType %q, want %d %q: %v", status, got, tc.status, tc.scimType, body["detail"])
			}
		})
	}
	t.Run("max_results", func(t *testing.T) {
		_, list, err := s.request("GET", "/Users?count=100", nil)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(list["Resources"].([]any)); n != 2 {
			t.Errorf("%d resources on a page, want 2", n)
		}
		_, spc, err := s.request("GET", "/ServiceProviderConfig", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := spc["filter"].(map[string]any)["maxResults"]; got != float64(2) {
			t.Errorf("filter.maxResults %v, want 2", got)
		}
	})
	t.Run("auth_failures_per_minute", func(t *testing.T) {
		var got []int
		for i := 0; i < 3; i++ {
			req, _ := http.NewRequest("GET", s.base+"/Users", nil)
			req.Header.Set("Authorization", "Bearer "+store.NewSecret())
			res, err := hdClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			got = append(got, res.StatusCode)
		}
		if fmt.Sprint(got) != "[401 401 429]" {
			t.Errorf("statuses %v, want [401 401 429]", got)
		}
		if status, _, err := s.request("GET", "/Users", nil); err != nil || status != 200 {
			t.Errorf("valid token after the limit: %d %v", status, err)
		}
	})
}
