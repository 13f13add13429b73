package main

// End-to-end tests for issue 2: the real binary, built once in TestMain,
// driven as an operator and an identity provider drive it: CLI commands
// with a config file, "scimd serve" on a free loopback port with a database
// in a temporary folder, SCIM over real HTTP, kill -9 and restart.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
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
)

// e2eBin is the scimd binary built by TestMain.
var e2eBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "scimd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	e2eBin = filepath.Join(dir, "scimd")
	if out, err := exec.Command("go", "build", "-o", e2eBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// e2eServer is one scimd installation: a config file and database in a
// temporary folder, and (once started) a running "scimd serve".
type e2eServer struct {
	t       *testing.T
	dir     string
	cfg     string
	base    string // http://127.0.0.1:PORT/scim/v2
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the server process has ended
	exitErr error         // its exit status, once exited is closed
	log     *e2eLog
	// env is added to the server's environment, after the test's own, so
	// NAME=VALUE here wins (os/exec keeps the last value of a name).
	env []string
}

// e2eLog collects the server's stderr.
type e2eLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *e2eLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *e2eLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor returns the log once it contains want, or fails after 2 s.
// Request lines may wait a few milliseconds to be written (logwriter.go).
func (l *e2eLog) waitFor(t *testing.T, want string) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		text := l.String()
		if strings.Contains(text, want) {
			return text
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log has no %q after 2 s:\n%s", want, text)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newE2E(t *testing.T) *e2eServer {
	t.Helper()
	dir := t.TempDir()
	s := &e2eServer{t: t, dir: dir, cfg: filepath.Join(dir, "scimd.toml")}
	text := fmt.Sprintf("[server]\nlisten = \"127.0.0.1:0\"\n\n[database]\npath = %q\n", filepath.Join(dir, "scimd.db"))
	if err := os.WriteFile(s.cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// cli runs a scimd command with the config file and returns stdout and
// stderr; it fails the test when the command fails.
func (s *e2eServer) cli(args ...string) (string, string) {
	s.t.Helper()
	stdout, stderr, err := runScimd(s.dir, nil, append(args, "--config", s.cfg)...)
	if err != nil {
		s.t.Fatalf("scimd %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return stdout, stderr
}

func runScimd(dir string, env []string, args ...string) (string, string, error) {
	cmd := exec.Command(e2eBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// issue creates a token with the CLI and returns the secret.
func (s *e2eServer) issue(name string, extra ...string) string {
	s.t.Helper()
	out, errOut := s.cli(append([]string{"token", "issue", "--name", name}, extra...)...)
	secret := strings.TrimSuffix(out, "\n")
	if !strings.HasPrefix(secret, "scimd_") || strings.ContainsAny(secret, "\n ") {
		s.t.Fatalf("token issue printed %q, want the secret alone on one line", out)
	}
	if !strings.Contains(errOut, name) || strings.Contains(errOut, secret) {
		s.t.Errorf("token issue stderr %q: want the metadata without the secret", errOut)
	}
	return secret
}

var e2eListeningRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// start runs "scimd serve" and waits until it listens. The server is
// stopped (SIGTERM) when the test ends, if it is still running.
func (s *e2eServer) start() {
	s.t.Helper()
	s.log = &e2eLog{}
	s.cmd = exec.Command(e2eBin, "serve", "--config", s.cfg)
	s.cmd.Stderr = s.log
	if s.env != nil {
		s.cmd.Env = append(os.Environ(), s.env...)
	}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.exited = make(chan struct{})
	cmd, exited := s.cmd, s.exited
	go func() { s.exitErr = cmd.Wait(); close(exited) }()
	s.t.Cleanup(func() {
		select {
		case <-exited:
		default:
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := e2eListeningRE.FindStringSubmatch(s.log.String()); m != nil {
			s.base = "http://" + m[1] + "/scim/v2"
			return
		}
		select {
		case <-exited:
			s.t.Fatalf("scimd serve exited: %v\n%s", s.exitErr, s.log)
		case <-time.After(20 * time.Millisecond):
		}
	}
	s.t.Fatalf("scimd serve did not start listening:\n%s", s.log)
}

// stop sends sig and returns the exit error.
func (s *e2eServer) stop(sig os.Signal) error {
	s.t.Helper()
	s.cmd.Process.Signal(sig)
	select {
	case <-s.exited:
		return s.exitErr
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
		s.t.Fatalf("scimd serve did not stop after %v:\n%s", sig, s.log)
	}
	return nil
}

type e2eResp struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

var e2eClient = &http.Client{Timeout: 20 * time.Second}

// do sends one request. hdr holds header pairs; Entra's defaults (scim+json
// with charset, no User-Agent) apply unless overridden.
func (s *e2eServer) do(token, method, path, body string, hdr ...string) *e2eResp {
	s.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header["User-Agent"] = nil
	if body != "" {
		req.Header.Set("Content-Type", "application/scim+json; charset=utf-8")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := e2eClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := &e2eResp{status: res.StatusCode, header: res.Header, body: b}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &r.json); err != nil {
			s.t.Fatalf("%s %s: %d, body is not a JSON object: %s", method, path, res.StatusCode, b)
		}
	}
	return r
}

func (r *e2eResp) must(t *testing.T, status int) *e2eResp {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	return r
}

// at reads a dotted path ("Resources.0.id"); the enterprise URN is one key.
func (r *e2eResp) at(path string) any {
	const ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	var parts []string
	if rest, ok := strings.CutPrefix(path, ent+"."); ok {
		parts = append([]string{ent}, strings.Split(rest, ".")...)
	} else {
		parts = strings.Split(path, ".")
	}
	var v any = r.json
	for _, p := range parts {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			var i int
			if _, err := fmt.Sscan(p, &i); err != nil || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func (r *e2eResp) str(path string) string { s, _ := r.at(path).(string); return s }

func (r *e2eResp) total() int { n, _ := r.at("totalResults").(float64); return int(n) }

func (s *e2eServer) members(token, gid string) []string {
	s.t.Helper()
	r := s.do(token, "GET", "/Groups/"+gid, "").must(s.t, 200)
	var out []string
	l, _ := r.at("members").([]any)
	for _, m := range l {
		out = append(out, m.(map[string]any)["value"].(string))
	}
	return out
}

func patch(ops ...string) string {
	return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + strings.Join(ops, ",") + `]}`
}

func sameIDs(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, x := range a {
		seen[x]++
	}
	for _, x := range b {
		seen[x]--
		if seen[x] < 0 {
			return false
		}
	}
	return true
}

// TestE2EEntraSync replays one Entra ID provisioning cycle against the
// binary: Test Connection, lookup, create, update, manager, disable, group
// create, concurrent memberships, removal, deletes.
func TestE2EEntraSync(t *testing.T) {
	s := newE2E(t)
	tok := s.issue("entra") // --idp defaults to entra
	s.start()

	// Test Connection, on the wire as Entra sends it.
	for _, path := range []string{
		"/Users?filter=userName+eq+%22cf4d78e8-cc4f-4d5d-b8b9-183561c0104a%22",
		"/Groups?excludedAttributes=members&filter=displayName+eq+%22cf4d78e8-cc4f-4d5d-b8b9-183561c0104a%22",
	} {
		r := s.do(tok, "GET", path, "").must(t, 200)
		if r.total() != 0 || r.header.Get("Content-Type") != "application/scim+json" {
			t.Fatalf("Test Connection %s: %s %s", path, r.header.Get("Content-Type"), r.body)
		}
	}
	if r := s.do("scimd_wrong", "GET", "/Users", ""); r.status != 401 || r.str("status") != "401" || r.str("detail") == "" {
		t.Fatalf("wrong token: %d %s", r.status, r.body)
	}

	// Lookup, create, duplicate.
	if s.do(tok, "GET", `/Users?filter=userName+eq+"alex%40contoso.com"`, "").must(t, 200).total() != 0 {
		t.Fatal("lookup before create found a user")
	}
	user := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
		"externalId":"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef","userName":"alex@contoso.com","active":true,"displayName":"Alex",
		"emails":[{"primary":true,"type":"work","value":"alex@contoso.com"}],"meta":{"resourceType":"User"},
		"name":{"formatted":"Alex Wu","familyName":"Wu","givenName":"Alex"},"roles":[{"primary":"True","value":"Admin"}],
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"701","department":"Sales"}}`
	alex := s.do(tok, "POST", "/Users", user).must(t, 201).str("id")
	s.do(tok, "POST", "/Users", strings.Replace(user, "alex@", "ALEX@", 1)).must(t, 409)
	boss := s.do(tok, "POST", "/Users", `{"userName":"boss@contoso.com","active":true}`).must(t, 201).str("id")
	r := s.do(tok, "GET", `/Users?filter=userName+eq+%22ALEX%40CONTOSO.COM%22`, "").must(t, 200)
	if r.total() != 1 || r.str("Resources.0.id") != alex {
		t.Fatalf("case-insensitive lookup: %s", r.body)
	}

	// Update, with Entra's capitalised ops, a filtered replace creating a
	// work phone, and the manager as a plain id.
	s.do(tok, "PATCH", "/Users/"+alex, patch(
		`{"op":"Replace","path":"displayName","value":"Alex W."}`,
		`{"op":"Replace","path":"name.givenName","value":"Alexander"}`,
		`{"op":"Replace","path":"phoneNumbers[type eq \"work\"].value","value":"+1 555 0100"}`,
		`{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"`+boss+`"}`,
	)).must(t, 200)
	r = s.do(tok, "GET", "/Users/"+alex, "").must(t, 200)
	for path, want := range map[string]any{"displayName": "Alex W.", "name.givenName": "Alexander", "name.familyName": "Wu",
		"phoneNumbers.0.value": "+1 555 0100", "roles.0.primary": true,
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.manager.value": boss,
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.department":    "Sales"} {
		if got := r.at(path); got != want {
			t.Errorf("after update: %s = %v, want %v", path, got, want)
		}
	}

	// Disable with the string "False"; the user stays visible.
	s.do(tok, "PATCH", "/Users/"+alex, patch(`{"op":"Replace","path":"active","value":"False"}`)).must(t, 200)
	r = s.do(tok, "GET", `/Users?filter=userName+eq+%22alex%40contoso.com%22`, "").must(t, 200)
	if r.at("Resources.0.active") != false {
		t.Errorf("disabled user: %s", r.body)
	}

	// Groups: create, lookup without members, five concurrent one-member
	// PATCHes (replace adds for an entra token), then removals.
	gid := s.do(tok, "POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group",
		"http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],"externalId":"8aa1a0c0","displayName":"Sales",
		"meta":{"resourceType":"Group"}}`).must(t, 201).str("id")
	r = s.do(tok, "GET", `/Groups?excludedAttributes=members&filter=displayName+eq+%22sales%22`, "").must(t, 200)
	if r.total() != 1 || r.at("Resources.0.members") != nil {
		t.Errorf("group lookup: %s", r.body)
	}
	ids := []string{alex, boss}
	for i := range 3 {
		ids = append(ids, s.do(tok, "POST", "/Users", fmt.Sprintf(`{"userName":"m%d@contoso.com"}`, i)).must(t, 201).str("id"))
	}
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := patch(`{"op":"Add","path":"members","value":[{"$ref":null,"value":"` + id + `"}]}`)
			if i%2 == 1 {
				body = patch(`{"op":"replace","path":"members","value":[{"value":"` + id + `"}]}`)
			}
			if r := s.do(tok, "PATCH", "/Groups/"+gid, body); r.status != 204 {
				t.Errorf("member PATCH: %d %s", r.status, r.body)
			}
		}()
	}
	wg.Wait()
	if got := s.members(tok, gid); !sameIDs(got, ids) {
		t.Fatalf("members %v, want %v", got, ids)
	}
	s.do(tok, "PATCH", "/Groups/"+gid, patch(`{"op":"Remove","path":"members","value":[{"$ref":null,"value":"`+ids[4]+`"}]}`)).must(t, 204)
	s.do(tok, "PATCH", "/Groups/"+gid, patch(`{"op":"remove","path":"members[value eq \"`+ids[3]+`\"]"}`)).must(t, 204)
	if got := s.members(tok, gid); !sameIDs(got, ids[:3]) {
		t.Fatalf("members after removals %v, want %v", got, ids[:3])
	}
	if r := s.do(tok, "GET", "/Users/"+alex, "").must(t, 200); r.str("groups.0.value") != gid {
		t.Errorf("alex's groups: %s", r.body)
	}

	// Deletes.
	s.do(tok, "DELETE", "/Users/"+alex, "").must(t, 204)
	s.do(tok, "GET", "/Users/"+alex, "").must(t, 404)
	s.do(tok, "DELETE", "/Users/"+alex, "").must(t, 404)
	if got := s.members(tok, gid); !sameIDs(got, ids[1:3]) {
		t.Errorf("members after deleting a member: %v", got)
	}
	s.do(tok, "DELETE", "/Groups/"+gid, "").must(t, 204)
	s.do(tok, "GET", "/Groups/"+gid, "").must(t, 404)

	// The request log names the token, never its secret.
	if err := s.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("scimd serve after SIGTERM: %v\n%s", err, s.log)
	}
	logs := s.log.String()
	if !strings.Contains(logs, "token=entra") || strings.Contains(logs, tok) || strings.Contains(logs, tok[len(tok)-16:]) {
		t.Errorf("request log: want token=entra and no secret:\n%s", logs)
	}
	if !strings.Contains(logs, "msg=stopped") {
		t.Errorf("no clean stop in the log:\n%s", logs)
	}
}

// TestE2EOktaLifecycle replays Okta: create with the placeholder password,
// PUT of the whole user, path-less deactivate, and Group Push.
func TestE2EOktaLifecycle(t *testing.T) {
	s := newE2E(t)
	tok := s.issue("okta", "--idp", "okta")
	s.start()
	okta := []string{"User-Agent", "Okta SCIM Client 1.0.0", "Accept", "application/scim+json", "Content-Type", "application/json"}

	s.do(tok, "GET", "/Users?startIndex=1&count=2", "", okta...).must(t, 200)
	if s.do(tok, "GET", "/Users?filter=userName%20eq%20%22test.user%40okta.local%22&startIndex=1&count=100", "", okta...).must(t, 200).total() != 0 {
		t.Fatal("existence check found a user")
	}
	r := s.do(tok, "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"test.user@okta.local",
		"name":{"givenName":"Test","familyName":"User"},"emails":[{"primary":true,"value":"test.user@okta.local","type":"work"}],
		"displayName":"Test User","locale":"en-US","externalId":"00ujl29u0le5T6Aj10h7","groups":[],"password":"1mz050nq","active":true}`, okta...).must(t, 201)
	id := r.str("id")
	if r.at("active") != true || r.at("password") != nil || r.str("name.givenName") != "Test" {
		t.Errorf("create response: %s", r.body)
	}
	r = s.do(tok, "PUT", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"`+id+`",
		"userName":"test.user@okta.local","name":{"givenName":"Another","middleName":"Excited","familyName":"User"},
		"emails":[{"primary":true,"value":"test.user@okta.local","type":"work","display":"test.user@okta.local"}],
		"active":true,"groups":[],"meta":{"resourceType":"User"}}`, okta...).must(t, 200)
	if r.str("name.givenName") != "Another" || r.str("name.middleName") != "Excited" || r.str("id") != id {
		t.Errorf("PUT response: %s", r.body)
	}
	s.do(tok, "PATCH", "/Users/"+id, patch(`{"op":"replace","value":{"active":false}}`), okta...).must(t, 200)
	r = s.do(tok, "GET", "/Users?filter=userName%20eq%20%22test.user%40okta.local%22", "", okta...).must(t, 200)
	if r.at("Resources.0.active") != false {
		t.Errorf("after deactivate: %s", r.body)
	}
	s.do(tok, "PATCH", "/Users/"+id, patch(`{"op":"replace","value":{"active":true}}`), okta...).must(t, 200)
	other := s.do(tok, "POST", "/Users", `{"userName":"other@okta.local","active":true}`, okta...).must(t, 201).str("id")

	// Group Push.
	if s.do(tok, "GET", "/Groups?filter=displayName%20eq%20%22Test%20SCIMv2%22", "", okta...).must(t, 200).total() != 0 {
		t.Fatal("group link check found a group")
	}
	gid := s.do(tok, "POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Test SCIMv2","members":[]}`, okta...).must(t, 201).str("id")
	s.do(tok, "PATCH", "/Groups/"+gid, patch(`{"op":"add","path":"members","value":[{"value":"`+id+`","display":"test.user@okta.local"}]}`), okta...).must(t, 204)
	s.do(tok, "PATCH", "/Groups/"+gid, patch(`{"op":"replace","value":{"id":"`+gid+`","displayName":"Test SCIMv2"}}`), okta...).must(t, 204)
	s.do(tok, "PATCH", "/Groups/"+gid, patch(
		`{"op":"remove","path":"members[value eq \"`+id+`\"]"}`,
		`{"op":"add","path":"members","value":[{"value":"`+other+`","display":"other@okta.local"}]}`), okta...).must(t, 204)
	if got := s.members(tok, gid); !sameIDs(got, []string{other}) {
		t.Errorf("members after push: %v", got)
	}
	// A full push: replace on an okta token replaces the whole list.
	s.do(tok, "PATCH", "/Groups/"+gid, patch(`{"op":"replace","path":"members","value":[{"value":"`+id+`"}]}`), okta...).must(t, 204)
	if got := s.members(tok, gid); !sameIDs(got, []string{id}) {
		t.Errorf("members after full push: %v, want [%s]", got, id)
	}
	// Okta's header mode without "Bearer ".
	s.do("", "GET", "/Groups/"+gid, "", append(okta, "Authorization", tok)...).must(t, 200)
	s.do(tok, "DELETE", "/Groups/"+gid, "", okta...).must(t, 204)
	s.log.waitFor(t, `user_agent="Okta SCIM Client 1.0.0"`)
}

// TestE2ERequestLog: each request's line reaches stderr within moments,
// with nothing else happening, in slog's text format with every field; a
// 5xx-free server writes its request lines batched but never loses one
// on a clean stop.
func TestE2ERequestLog(t *testing.T) {
	s := newE2E(t)
	tok := s.issue("entra")
	s.start()
	r := s.do(tok, "GET", "/Users?filter=userName+eq+%22nobody%40example.com%22", "", "User-Agent", "Azure AD SCIM Provisioning")
	r.must(t, 200)
	id := r.header.Get("X-Request-Id")
	text := s.log.waitFor(t, "request_id="+id)
	var line string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, "request_id="+id) {
			line = l
		}
	}
	re := regexp.MustCompile(`^time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d) level=INFO msg=request method=GET path=/scim/v2/Users status=200 duration_ms=[0-9.e+-]+ request_id=` + id + ` remote=127\.0\.0\.1 user_agent="Azure AD SCIM Provisioning" token=entra$`)
	if !re.MatchString(line) {
		t.Errorf("request line %q does not match %s", line, re)
	}
	for i := range 50 {
		s.do(tok, "GET", fmt.Sprintf("/Users?filter=userName+eq+%%22u%d%%40example.com%%22", i), "").must(t, 200)
	}
	if err := s.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("scimd serve after SIGTERM: %v\n%s", err, s.log)
	}
	if n := strings.Count(s.log.String(), "msg=request "); n != 51 {
		t.Errorf("%d request lines after a clean stop, want 51", n)
	}
}

// TestE2EKillKeepsAcknowledgedWrites: every write that was answered 2xx is
// there after kill -9 and a restart on the same database.
func TestE2EKillKeepsAcknowledgedWrites(t *testing.T) {
	s := newE2E(t)
	tok := s.issue("entra")
	s.start()
	gid := s.do(tok, "POST", "/Groups", `{"displayName":"durable"}`).must(t, 201).str("id")
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := s.do(tok, "POST", "/Users", fmt.Sprintf(`{"userName":"d%d@example.com","title":"T%d"}`, i, i))
			if r.status != 201 {
				t.Errorf("create %d: %d %s", i, r.status, r.body)
				return
			}
			id := r.str("id")
			if r := s.do(tok, "PATCH", "/Groups/"+gid, patch(`{"op":"add","path":"members","value":[{"value":"`+id+`"}]}`)); r.status != 204 {
				t.Errorf("member add %d: %d %s", i, r.status, r.body)
				return
			}
			mu.Lock()
			acked = append(acked, id)
			mu.Unlock()
		}()
	}
	wg.Wait()
	last := s.do(tok, "PATCH", "/Users/"+acked[0], patch(`{"op":"Replace","path":"active","value":"False"}`)).must(t, 200)
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-s.exited

	s.start()
	if got := s.members(tok, gid); !sameIDs(got, acked) {
		t.Errorf("after kill -9: %d members, want %d", len(got), len(acked))
	}
	r := s.do(tok, "GET", "/Users/"+acked[0], "").must(t, 200)
	if r.at("active") != false || r.str("meta.version") != last.str("meta.version") {
		t.Errorf("after kill -9: %s, want active false at %s", r.body, last.str("meta.version"))
	}
	if n := s.do(tok, "GET", "/Users?count=0", "").must(t, 200).total(); n != 20 {
		t.Errorf("after kill -9: %d users, want 20", n)
	}
}

// TestE2EConfig: --config before or after the subcommand, SCIMD_CONFIG,
// built-in defaults, and strict decoding that names an unknown key.
func TestE2EConfig(t *testing.T) {
	s := newE2E(t)
	// SCIMD_CONFIG without the flag, then --config before the subcommand.
	if _, stderr, err := runScimd(s.dir, []string{"SCIMD_CONFIG=" + s.cfg}, "token", "issue", "--name", "from-env", "--idp", "okta"); err != nil {
		t.Fatalf("token issue with SCIMD_CONFIG: %v %s", err, stderr)
	}
	out, stderr, err := runScimd(s.dir, nil, "--config", s.cfg, "token", "list", "--json")
	if err != nil {
		t.Fatalf("token list: %v %s", err, stderr)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 || list[0]["name"] != "from-env" || list[0]["idp"] != "okta" {
		t.Errorf("token list --json: %v %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "scimd.db")); err != nil {
		t.Errorf("the configured database was not created: %v", err)
	}

	// No flag and no variable: the defaults, scimd.db in the current folder.
	cwd := t.TempDir()
	if _, stderr, err := runScimd(cwd, []string{"SCIMD_CONFIG="}, "token", "issue", "--name", "defaults"); err != nil {
		t.Fatalf("token issue on defaults: %v %s", err, stderr)
	}
	if _, err := os.Stat(filepath.Join(cwd, "scimd.db")); err != nil {
		t.Errorf("defaults: no scimd.db in the current folder: %v", err)
	}

	// An unknown key is an error naming it, on one line, for every command.
	bad := filepath.Join(s.dir, "bad.toml")
	os.WriteFile(bad, []byte("[server]\nlisten = \"127.0.0.1:0\"\nlisten_port = 8080\n"), 0o600)
	for _, args := range [][]string{{"serve"}, {"token", "issue", "--name", "x"}} {
		_, stderr, err := runScimd(s.dir, nil, append(args, "--config", bad)...)
		if err == nil {
			t.Errorf("scimd %v with an unknown key succeeded", args)
			continue
		}
		if !strings.Contains(stderr, "listen_port") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("scimd %v: stderr %q, want one line naming listen_port", args, stderr)
		}
	}

	out, _, err = runScimd(s.dir, nil, "version")
	if err != nil || !strings.HasPrefix(out, "scimd ") {
		t.Errorf("scimd version: %v %q", err, out)
	}
}
