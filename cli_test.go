package main

// Tests of the admin CLI (issue 3) that drive the built binary as an
// operator would: CLI commands against a real SQLite file, then HTTP
// requests to a real "scimd serve" on loopback.

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildScimdOnce returns the scimd binary that TestMain (e2e_test.go)
// built for every test of this package.
func buildScimdOnce(t *testing.T) string { return e2eBin }

// admEnv is one installation: a config file and database in a temporary
// folder and, once started, a running "scimd serve".
type admEnv struct {
	t      *testing.T
	bin    string
	dir    string
	cfg    string
	db     string
	base   string
	cmd    *exec.Cmd
	log    *admBuffer
	exited chan error
}

// admBuffer is the goroutine-safe buffer of e2e_test.go.
type admBuffer = e2eLog

func newAdmEnv(t *testing.T, extraConfig string) *admEnv {
	t.Helper()
	dir := t.TempDir()
	e := &admEnv{t: t, bin: buildScimdOnce(t), dir: dir, cfg: filepath.Join(dir, "scimd.toml"), db: filepath.Join(dir, "scimd.db")}
	text := fmt.Sprintf("[server]\nlisten = \"127.0.0.1:0\"\n\n[database]\npath = %q\n\n%s", e.db, extraConfig)
	if err := os.WriteFile(e.cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// run runs scimd with the config file and returns stdout, stderr and the
// exit code.
func (e *admEnv) run(args ...string) (string, string, int) {
	e.t.Helper()
	cmd := exec.Command(e.bin, append(args, "--config", e.cfg)...)
	cmd.Dir = e.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			e.t.Fatalf("scimd %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return stdout.String(), stderr.String(), code
}

// ok runs a command that must succeed.
func (e *admEnv) ok(args ...string) (string, string) {
	e.t.Helper()
	stdout, stderr, code := e.run(args...)
	if code != 0 {
		e.t.Fatalf("scimd %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
	}
	return stdout, stderr
}

// fail runs a command that must fail with one line on stderr, and returns
// that line.
func (e *admEnv) fail(args ...string) string {
	e.t.Helper()
	stdout, stderr, code := e.run(args...)
	if code == 0 {
		e.t.Fatalf("scimd %s: exit 0, want a failure\n%s%s", strings.Join(args, " "), stdout, stderr)
	}
	if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "scimd: ") {
		e.t.Errorf("scimd %s: stderr %q, want one line starting scimd:", strings.Join(args, " "), stderr)
	}
	return stderr
}

// issue creates a token and returns its secret.
func (e *admEnv) issue(name string, extra ...string) string {
	e.t.Helper()
	out, errOut := e.ok(append([]string{"token", "issue", "--name", name}, extra...)...)
	secret := strings.TrimSuffix(out, "\n")
	if !strings.HasPrefix(secret, "scimd_") || strings.ContainsAny(secret, "\n ") {
		e.t.Fatalf("token issue printed %q, want the secret alone on one line", out)
	}
	if strings.Contains(errOut, secret) {
		e.t.Errorf("token issue wrote the secret to stderr")
	}
	return secret
}

var admListening = regexp.MustCompile(`msg=listening addr=(\S+)`)

// start runs "scimd serve" until the test ends (or stop).
func (e *admEnv) start() {
	e.t.Helper()
	e.log = &admBuffer{}
	e.cmd = exec.Command(e.bin, "serve", "--config", e.cfg)
	e.cmd.Stderr = e.log
	if err := e.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.exited = make(chan error, 1)
	cmd, exited := e.cmd, e.exited
	go func() { exited <- cmd.Wait() }()
	e.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
			}
		}
	})
	m := admListening.FindStringSubmatch(e.waitLog("msg=listening"))
	e.base = "http://" + m[1] + "/scim/v2"
}

// stop ends the server with SIGTERM, which flushes tokens' last use.
func (e *admEnv) stop() {
	e.t.Helper()
	e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-e.exited:
		if err != nil {
			e.t.Fatalf("scimd serve exited with %v:\n%s", err, e.log)
		}
	case <-time.After(20 * time.Second):
		e.cmd.Process.Kill()
		e.t.Fatalf("scimd serve did not stop:\n%s", e.log)
	}
}

// waitLog waits until the server's stderr has a line containing all of
// subs, and returns that line.
func (e *admEnv) waitLog(subs ...string) string {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(e.log.String(), "\n") {
			all := true
			for _, s := range subs {
				all = all && strings.Contains(line, s)
			}
			if all {
				return line
			}
		}
		select {
		case err := <-e.exited:
			e.t.Fatalf("scimd serve exited (%v) before logging %q:\n%s", err, subs, e.log)
		case <-time.After(20 * time.Millisecond):
		}
	}
	e.t.Fatalf("no log line with %q:\n%s", subs, e.log)
	return ""
}

// poll runs a command until its stdout contains want (failure records
// reach the log asynchronously) and returns that stdout.
func (e *admEnv) poll(want string, args ...string) string {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, _ := e.ok(args...)
		if strings.Contains(out, want) {
			return out
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("scimd %s never printed %q; last:\n%s", strings.Join(args, " "), want, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var admClient = &http.Client{Timeout: 20 * time.Second}

// call sends a SCIM request and returns the status and decoded body.
func (e *admEnv) call(token, method, path, body string) (int, map[string]any) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/scim+json")
	req.Header.Set("User-Agent", "cli-test/1.0")
	resp, err := admClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// mustCall is call that requires a status.
func (e *admEnv) mustCall(status int, token, method, path, body string) map[string]any {
	e.t.Helper()
	got, m := e.call(token, method, path, body)
	if got != status {
		e.t.Fatalf("%s %s: status %d, want %d: %v", method, path, got, status, m)
	}
	return m
}

func TestCLITokenLifecycle(t *testing.T) {
	e := newAdmEnv(t, "")
	entra := e.issue("entra")
	if msg := e.fail("token", "issue", "--name", "entra"); !strings.Contains(msg, "already exists") {
		t.Errorf("duplicate name: %q", msg)
	}
	e.fail("token", "issue", "--name", "../x")
	expired := e.issue("expired", "--expires", "1ms", "--idp", "okta")
	soon := e.issue("soon", "--expires", "3d", "--idp", "generic")
	due := e.issue("due1", "--expires", "10d")

	e.start()
	// Warnings at startup: within 30 days, and already expired.
	e.waitLog("level=WARN", "token expires soon", "token=soon")
	e.waitLog("level=WARN", "token=due1")
	e.waitLog("level=ERROR", "token expired", "token=expired")

	e.mustCall(200, entra, "GET", "/Users", "")
	for _, tc := range []struct{ name, token, detail string }{
		{"expired", expired, "expired"},
		{"unknown", "scimd_" + strings.Repeat("A", 43), "not known"},
		{"missing", "", "Authorization"},
	} {
		got, body := e.call(tc.token, "GET", "/Users", "")
		if detail, _ := body["detail"].(string); got != 401 || !strings.Contains(detail, tc.detail) {
			t.Errorf("%s token: %d %q, want 401 with %q", tc.name, got, detail, tc.detail)
		}
	}

	// The refusal is in the log under the expired token's name.
	if out := e.poll(`"status":401`, "log", "--failed", "--json", "--token", "expired"); strings.Contains(out, expired) {
		t.Errorf("the log holds a secret: %s", out)
	}

	out, _ := e.ok("token", "list", "--json")
	for _, sec := range []string{entra, expired, soon, due} {
		if strings.Contains(out, sec) || strings.Contains(out, sec[6:20]) {
			t.Fatalf("token list shows a secret")
		}
	}
	var rows []tokenRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, r := range rows {
		states[r.Name] = r.State
	}
	if want := map[string]string{"entra": "active", "expired": "expired", "soon": "expiring", "due1": "expiring"}; !mapsEqual(states, want) {
		t.Errorf("states %v, want %v", states, want)
	}
	table, _ := e.ok("token", "list")
	if !strings.Contains(table, "LAST USED") || !strings.Contains(table, "expiring") {
		t.Errorf("token list table:\n%s", table)
	}

	// Revocation reaches the running server at once.
	e.ok("token", "revoke", "entra")
	if got, body := e.call(entra, "GET", "/Users", ""); got != 401 || !strings.Contains(fmt.Sprint(body["detail"]), "revoked") {
		t.Errorf("after revoke: %d %v, want 401 revoked", got, body["detail"])
	}
	e.fail("token", "revoke", "nosuch")

	// Rotation by name: both secrets work during the grace period.
	newSoon, _ := e.ok("token", "rotate", "soon", "--grace", "1h")
	newSoon = strings.TrimSpace(newSoon)
	if !strings.HasPrefix(newSoon, "scimd_") || newSoon == soon {
		t.Fatalf("rotate printed %q", newSoon)
	}
	e.mustCall(200, soon, "GET", "/Users", "")
	e.mustCall(200, newSoon, "GET", "/Users", "")

	// Rotation of what is due: files of mode 0600, old secrets kept.
	dir := filepath.Join(e.dir, "new-tokens")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	stdout, stderr := e.ok("token", "rotate", "--due", "--out-dir", dir)
	if !strings.Contains(stdout, "rotated due1") || strings.Contains(stdout, "scimd_") {
		t.Errorf("rotate --due stdout %q: want what was rotated, no secret", stdout)
	}
	if !strings.Contains(stderr, `skipped "expired"`) {
		t.Errorf("rotate --due stderr %q: want the expired token skipped", stderr)
	}
	fi, err := os.Stat(filepath.Join(dir, "due1.token"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("due1.token mode %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(filepath.Join(dir, "due1.token"))
	newDue := strings.TrimSpace(string(b))
	if !strings.HasPrefix(newDue, "scimd_") || newDue == due {
		t.Fatalf("due1.token holds %q", b)
	}
	e.mustCall(200, due, "GET", "/Users", "")
	e.mustCall(200, newDue, "GET", "/Users", "")
	e.ok("token", "revoke", "due1", "--old")
	if got, _ := e.call(due, "GET", "/Users", ""); got != 401 {
		t.Errorf("old due1 secret after revoke --old: %d, want 401", got)
	}
	e.mustCall(200, newDue, "GET", "/Users", "")
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("out-dir holds %d files, want only due1.token", len(entries))
	}
	_, stderr = e.ok("token", "rotate", "--due", "--out-dir", dir)
	if !strings.Contains(stderr, "nothing to rotate") && !strings.Contains(stderr, "skipped") {
		t.Errorf("second rotate --due: %q", stderr)
	}
	e.fail("token", "rotate")
	e.fail("token", "rotate", "soon", "--due")
	e.fail("token", "rotate", "--due", "--out-dir", filepath.Join(e.dir, "missing"))

	// Last use is written when the server stops at the latest.
	e.stop()
	out, _ = e.ok("token", "list", "--json")
	rows = nil
	json.Unmarshal([]byte(out), &rows)
	used := false
	for _, r := range rows {
		if r.Name == "due1" && r.LastUsed != nil && r.LastAgent == "cli-test/1.0" {
			used = true
		}
	}
	if !used {
		t.Errorf("token list shows no last use of due1 by cli-test/1.0:\n%s", out)
	}

	// status fails while a live token has expired, and names it.
	if msg := e.fail("status"); !strings.Contains(msg, `"expired"`) {
		t.Errorf("status: %q, want the expired token named", msg)
	}
	e.ok("token", "revoke", "expired")
	out, _ = e.ok("status")
	if !strings.Contains(out, "due1") || !strings.Contains(out, "cli-test/1.0") {
		t.Errorf("status shows no last request per token:\n%s", out)
	}
	e.issue("week", "--expires", "6d")
	if msg := e.fail("status"); !strings.Contains(msg, `"week" expires in 6 days`) {
		t.Errorf("status with a token expiring in 6 days: %q", msg)
	}
	e.ok("status", "--within", "5d")
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

const admAcme = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"

func admUser(name, dept string, active bool) string {
	return fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%[1]q,"active":%[2]v,
		"name":{"givenName":"Given %[1]s","familyName":"Family"},
		"emails":[{"value":"%[1]s@work.example","type":"work","primary":true},{"value":"%[1]s@home.example","type":"home"}],
		"phoneNumbers":[{"value":"+1 555 0100","type":"mobile"}],
		"addresses":[{"type":"work","locality":"Paris","country":"FR"}],
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"E-%[1]s","department":%[3]q},
		%[4]q:{"badge":"B-%[1]s"}}`, name, active, dept, admAcme)
}

func TestCLIExportsLogAndBackup(t *testing.T) {
	e := newAdmEnv(t, `[[attributes]]
name = "`+admAcme+`:badge"
type = "string"
`)
	tok := e.issue("entra")
	e.start()
	ids := map[string]string{}
	for _, u := range []struct {
		name, dept string
		active     bool
	}{{"alice", "Sales", true}, {"bob", "Sales", true}, {"carol", "R&D", false}} {
		ids[u.name] = e.mustCall(201, tok, "POST", "/Users", admUser(u.name, u.dept, u.active))["id"].(string)
	}
	e.mustCall(201, tok, "POST", "/Groups", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Sales EMEA",
		"members":[{"value":%q},{"value":%q}]}`, ids["alice"], ids["bob"]))
	e.mustCall(200, tok, "PATCH", "/Users/"+ids["bob"], `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations":[{"op":"replace","path":"active","value":false}]}`)
	e.mustCall(409, tok, "POST", "/Users", admUser("alice", "Sales", true))
	e.mustCall(404, tok, "GET", "/Users/no-such-id", "")

	t.Run("users export csv", func(t *testing.T) {
		out, stderr := e.ok("users", "export")
		if strings.Contains(stderr, "\r") {
			t.Errorf("progress bar drawn on a pipe: %q", stderr)
		}
		recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 4 {
			t.Fatalf("%d CSV records, want a header and 3 users:\n%s", len(recs), out)
		}
		row := map[string]string{}
		for i, h := range recs[0] {
			row[h] = recs[1][i]
		}
		for h, want := range map[string]string{
			"id": ids["alice"], "userName": "alice", "name.givenName": "Given alice", "emails.work": "alice@work.example",
			"emails.home": "alice@home.example", "phoneNumbers.mobile": "'+1 555 0100" /* CSV neutralised (cli_safe.go) */, "addresses.work.locality": "Paris",
			"enterprise.employeeNumber": "E-alice", "enterprise.department": "Sales", admAcme + ":badge": "B-alice",
			"groups": "Sales EMEA", "active": "true",
		} {
			if row[h] != want {
				t.Errorf("column %s = %q, want %q", h, row[h], want)
			}
		}
	})

	t.Run("users export json and jsonl", func(t *testing.T) {
		out, _ := e.ok("users", "export", "--format", "jsonl", "--inactive")
		var names []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var doc map[string]any
			if err := json.Unmarshal([]byte(line), &doc); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			names = append(names, doc["userName"].(string))
		}
		if got := strings.Join(names, ","); got != "bob,carol" {
			t.Errorf("inactive users %s, want bob,carol", got)
		}
		file := filepath.Join(e.dir, "users.json")
		e.ok("users", "export", "--output", file, "--filter", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "Sales"`)
		fi, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("export file mode %v, want 0600", fi.Mode().Perm())
		}
		b, _ := os.ReadFile(file)
		var docs []map[string]any
		if err := json.Unmarshal(b, &docs); err != nil {
			t.Fatalf("--output users.json is not a JSON array: %v\n%s", err, b)
		}
		if len(docs) != 2 || docs[0]["userName"] != "alice" || docs[1]["userName"] != "bob" {
			t.Errorf("filtered export: %v", docs)
		}
		ent, _ := docs[0]["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"].(map[string]any)
		if ent["employeeNumber"] != "E-alice" || docs[0]["groups"] == nil {
			t.Errorf("JSON export lacks enterprise attributes or groups: %v", docs[0])
		}
		if msg := e.fail("users", "export", "--filter", "userName eq"); !strings.Contains(msg, "--filter") {
			t.Errorf("bad filter: %q", msg)
		}
		e.fail("users", "export", "--format", "xml")
		e.fail("users", "export", "--active", "--inactive")
	})

	t.Run("groups export", func(t *testing.T) {
		out, _ := e.ok("groups", "export")
		recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil || len(recs) != 2 {
			t.Fatalf("groups CSV %v:\n%s", err, out)
		}
		if got := strings.Join(recs[0], ","); got != "id,externalId,displayName,members,memberGroups,meta.created,meta.lastModified" {
			t.Errorf("header %s", got)
		}
		if recs[1][2] != "Sales EMEA" || recs[1][3] != "alice;bob" {
			t.Errorf("group row %v, want Sales EMEA with alice;bob", recs[1])
		}
		out, _ = e.ok("groups", "export", "--format", "jsonl")
		if !strings.Contains(out, `"display":"alice"`) {
			t.Errorf("groups jsonl without member userNames: %s", out)
		}
	})

	t.Run("list and show", func(t *testing.T) {
		out, _ := e.ok("users", "list")
		if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 4 || !strings.HasPrefix(lines[0], "USERNAME") {
			t.Errorf("users list:\n%s", out)
		}
		out, _ = e.ok("users", "list", "--active", "--json")
		var rows []userRow
		if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 1 || rows[0].UserName != "alice" || rows[0].Groups != 1 {
			t.Errorf("users list --active --json: %v\n%s", err, out)
		}
		out, _ = e.ok("users", "show", "ALICE")
		for _, want := range []string{"emails.work", "alice@work.example", "enterprise.department", "groups", "Sales EMEA"} {
			if !strings.Contains(out, want) {
				t.Errorf("users show lacks %q:\n%s", want, out)
			}
		}
		out, _ = e.ok("users", "show", ids["carol"], "--json")
		var doc map[string]any
		if err := json.Unmarshal([]byte(out), &doc); err != nil || doc["userName"] != "carol" {
			t.Errorf("users show --json: %v\n%s", err, out)
		}
		if msg := e.fail("users", "show", "nobody"); !strings.Contains(msg, "nobody") {
			t.Errorf("unknown user: %q", msg)
		}
		out, _ = e.ok("groups", "list")
		if !strings.Contains(out, "Sales EMEA") {
			t.Errorf("groups list:\n%s", out)
		}
		out, _ = e.ok("groups", "show", "sales emea")
		if !strings.Contains(out, "alice;bob") {
			t.Errorf("groups show:\n%s", out)
		}
	})

	t.Run("log", func(t *testing.T) {
		var failed []map[string]any
		deadline := time.Now().Add(20 * time.Second)
		for len(failed) < 2 && time.Now().Before(deadline) {
			out, _ := e.ok("log", "--failed", "--json")
			failed = nil
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(line), &m) == nil {
					failed = append(failed, m)
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		if len(failed) != 2 {
			t.Fatalf("log --failed: %v, want the 409 and the 404", failed)
		}
		f := failed[0]
		if f["status"] != 409.0 || f["scim_type"] != "uniqueness" || f["token"] != "entra" || f["user_agent"] != "cli-test/1.0" ||
			f["op"] != "create" || f["resource_type"] != "User" {
			t.Errorf("409 record: %v", f)
		}
		if strings.Contains(fmt.Sprint(f), "alice") {
			t.Errorf("failure record holds an attribute value: %v", f)
		}
		if g := failed[1]; g["status"] != 404.0 || g["resource_id"] != "no-such-id" || g["op"] != "get" {
			t.Errorf("404 record: %v", g)
		}

		out, _ := e.ok("log", "--user", "BOB", "--json")
		var ops []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var m map[string]any
			json.Unmarshal([]byte(line), &m)
			ops = append(ops, fmt.Sprint(m["op"]))
			if m["name"] != "bob" {
				t.Errorf("log --user BOB shows %v", m)
			}
		}
		if got := strings.Join(ops, ","); got != "create,disable" {
			t.Errorf("bob's log %s, want create,disable", got)
		}
		out, _ = e.ok("log", "--since", "1h")
		if !strings.Contains(out, "member add") && !strings.Contains(out, "create         Group") {
			t.Errorf("log lacks the group:\n%s", out)
		}
		if !strings.Contains(out, "attrs=") || !strings.Contains(out, "token=entra") || !strings.Contains(out, `agent="cli-test/1.0"`) {
			t.Errorf("log lines:\n%s", out)
		}
		if strings.Contains(out, "Given alice") || strings.Contains(out, "@work.example") {
			t.Errorf("log shows attribute values:\n%s", out)
		}
		out, _ = e.ok("log", "--token", "nosuch", "--json")
		if out != "" {
			t.Errorf("log --token nosuch: %q", out)
		}
		e.fail("log", "--since", "yesterday")
	})

	t.Run("log follow", func(t *testing.T) {
		cmd := exec.Command(e.bin, "log", "--follow", "--json", "--since", "1m", "--token", "entra", "--config", e.cfg)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Wait()
		defer cmd.Process.Signal(syscall.SIGINT)
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		timeout := time.After(20 * time.Second)
		wait := func(sub string) {
			for {
				select {
				case line, ok := <-lines:
					if !ok {
						t.Fatal("log --follow ended")
					}
					if strings.Contains(line, sub) {
						return
					}
				case <-timeout:
					t.Fatalf("log --follow did not show %s", sub)
				}
			}
		}
		// The last entry so far (the 404) ends the backlog; a user created
		// after it must arrive through following.
		wait(`"resource_id":"no-such-id"`)
		e.mustCall(201, tok, "POST", "/Users", admUser("dave", "Ops", true))
		wait(`"name":"dave"`)
	})

	t.Run("backup while serving", func(t *testing.T) {
		dest := filepath.Join(e.dir, "backup.db")
		_, stderr := e.ok("backup", dest)
		if !strings.Contains(stderr, "integrity check ok") {
			t.Errorf("backup stderr %q", stderr)
		}
		if msg := e.fail("backup", dest); !strings.Contains(msg, "already exists") {
			t.Errorf("backup over an existing file: %q", msg)
		}
		e.mustCall(201, tok, "POST", "/Users", admUser("erin", "Ops", true))
		e.ok("backup", dest, "--force")

		// The backup is a working database: point a config at it.
		restored := newAdmEnv(t, "")
		if err := copyFile(dest, restored.db); err != nil {
			t.Fatal(err)
		}
		out, _ := restored.ok("users", "list", "--json")
		var rows []userRow
		json.Unmarshal([]byte(out), &rows)
		var names []string
		for _, r := range rows {
			names = append(names, r.UserName)
		}
		if !slices.Contains(names, "erin") || len(names) != 5 {
			t.Errorf("restored users %v, want 5 including erin", names)
		}
	})

	t.Run("status", func(t *testing.T) {
		out, _ := e.ok("status", "--json")
		var r statusReport
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		if r.Users.Active != 3 || r.Users.Inactive != 2 || r.Groups != 1 || r.Memberships != 2 || r.LastWrite == nil || r.Database.Bytes == 0 {
			t.Errorf("status: %+v", r)
		}
		if r.Log.Failed != 2 {
			t.Errorf("status counts %d failed requests, want 2", r.Log.Failed)
		}
	})
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o600)
}

func TestCLILogRetention(t *testing.T) {
	e := newAdmEnv(t, "[log]\nretention = \"30d\"\n")
	tok := e.issue("entra")
	e.ok("status") // creates the database
	db, err := sql.Open("sqlite", e.db)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`INSERT INTO events (time, token, agent, op, resource_type, resource_id, name, attrs, status)
		VALUES ('2001-01-01T00:00:00.000Z', 'entra', 'old', 'create', 'User', 'x', 'ancient', '[]', 200)`)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := e.ok("log", "--since", "0"); !strings.Contains(out, "ancient") {
		t.Fatalf("the old row is not in the log:\n%s", out)
	}
	e.start()
	e.waitLog("pruned the provisioning log", "deleted=1")
	e.mustCall(201, tok, "POST", "/Users", admUser("fresh", "Ops", true))
	out, _ := e.ok("log", "--since", "0")
	if strings.Contains(out, "ancient") || !strings.Contains(out, "fresh") {
		t.Errorf("after pruning:\n%s", out)
	}
}

func TestCLIHelpShowsExamples(t *testing.T) {
	e := newAdmEnv(t, "")
	for _, cmd := range []string{"token", "token issue", "token list", "token revoke", "token rotate",
		"users", "users list", "users show", "users export", "groups", "groups list", "groups show", "groups export",
		"status", "log", "backup", "serve", "version"} {
		t.Run(cmd, func(t *testing.T) {
			out, _, code := e.run(append(strings.Fields(cmd), "--help")...)
			if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "scimd "+cmd) {
				t.Errorf("scimd %s --help (exit %d):\n%s", cmd, code, out)
			}
		})
	}
}

func TestProgressBar(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, "exporting users", 200)
	for i := 0; i < 200; i++ {
		p.add(1)
	}
	p.finish()
	out := b.String()
	if !strings.HasPrefix(out, "\rexporting users   0% [") || !strings.HasSuffix(out, "100% ["+strings.Repeat("#", 30)+"] 200/200\n") {
		t.Errorf("progress output %q", out)
	}
	if n := strings.Count(out, "\r"); n < 100 || n > 110 {
		t.Errorf("redrawn %d times for 200 steps, want about once per percent", n)
	}
	var none *progress
	none.add(1) // a nil bar draws nothing
	none.finish()

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if isTerminal(w) {
		t.Errorf("a pipe is taken for a terminal")
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"24h", now.Add(-24 * time.Hour), true},
		{"7d", now.Add(-7 * 24 * time.Hour), true},
		{"0", time.Time{}, true},
		{"2026-11-01T08:00:00Z", time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC), true},
		{"2026-11-01", time.Date(2026, 11, 1, 0, 0, 0, 0, time.Local), true},
		{"yesterday", time.Time{}, false},
	} {
		got, err := parseSince(tc.in, now)
		if (err == nil) != tc.ok || !got.Equal(tc.want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
