package main

// "scimd check" (issue 11) through the built binary: beside a running
// server under write load it passes without holding the writer up, and
// each kind of damage it knows makes it exit non-zero naming the check.

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestCheckBesideServe(t *testing.T) {
	e := newAdmEnv(t, "")
	tok := e.issue("entra")
	e.start()
	var ids []string
	for _, n := range []string{"alice", "bob", "carol"} {
		ids = append(ids, e.mustCall(201, tok, "POST", "/Users", admUser(n, "Sales", true))["id"].(string))
	}
	e.mustCall(201, tok, "POST", "/Groups", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Sales",
		"members":[{"value":%q},{"value":%q}]}`, ids[0], ids[1]))

	// Writers keep going while check runs: every write is acknowledged,
	// and check passes each time.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var acked, failed atomic.Int64
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if st, _ := e.call(tok, "POST", "/Users", admUser(fmt.Sprintf("load-%d-%d", w, i), "Ops", true)); st == 201 {
					acked.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	for range 3 {
		out, _ := e.ok("check")
		for _, want := range []string{"ok  ", "integrity", "foreign keys", "counters", "memberships", "columns", "files"} {
			if !strings.Contains(out, want) {
				t.Errorf("check output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "FAIL") {
			t.Errorf("check under load failed:\n%s", out)
		}
	}
	out, _ := e.ok("check", "--json")
	close(stop)
	wg.Wait()
	t.Logf("writes acknowledged beside check: %d", acked.Load())
	if failed.Load() > 0 || acked.Load() == 0 {
		t.Errorf("writes beside check: %d acknowledged, %d failed", acked.Load(), failed.Load())
	}
	var r struct {
		OK     bool `json:"ok"`
		Checks []struct {
			Name string `json:"name"`
			OK   bool   `json:"ok"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || !r.OK || len(r.Checks) < 8 {
		t.Fatalf("check --json: %v %+v\n%s", err, r, out)
	}

	// Damage the live database behind the server's back, one kind at a
	// time; check must name it, then pass again once it is undone.
	db, err := sql.Open("sqlite", "file:"+e.db+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var gseq int64
	db.QueryRow(`SELECT seq FROM groups`).Scan(&gseq)
	exec(`PRAGMA foreign_keys = OFF`)
	for _, c := range []struct {
		name, damage, undo string
		want               []string
	}{
		{"counter", `UPDATE counts SET n = n + 5 WHERE name = 'users'`, `UPDATE counts SET n = n - 5 WHERE name = 'users'`,
			[]string{"counters", "the counter of users says"}},
		{"counter row", `DELETE FROM counts WHERE name = 'groups'`, `INSERT INTO counts (name, n) VALUES ('groups', 1)`,
			[]string{"counters", "the counter of groups is missing"}},
		{"dangling group", `INSERT INTO members (group_seq, member_kind, member_seq) VALUES (999999, 0, 1)`, `DELETE FROM members WHERE group_seq = 999999`,
			[]string{"foreign keys", "refers to a missing groups row"}},
		{"dangling member", fmt.Sprintf(`INSERT INTO members (group_seq, member_kind, member_seq) VALUES (%d, 0, 888888)`, gseq),
			`DELETE FROM members WHERE member_seq = 888888`, []string{"memberships", "lists a member user (seq 888888) that does not exist"}},
		{"fold", `UPDATE users SET user_name_fold = 'not-carol' WHERE user_name = 'carol'`, `UPDATE users SET user_name_fold = 'carol' WHERE user_name = 'carol'`,
			[]string{"columns", `its name key is "not-carol"`}},
		{"external id", `UPDATE users SET external_id = 'x-1' WHERE user_name = 'carol'`, `UPDATE users SET external_id = (SELECT json_extract(doc, '$.externalId')) WHERE user_name = 'carol'`,
			[]string{"columns", `column external_id is "x-1"`}},
		{"kept and live", fmt.Sprintf(`INSERT INTO users_deleted (id, user_name, user_name_fold, doc, created, deleted, version) VALUES (%q, 'carol', 'carol', '{}', '', '', 1)`, ids[2]),
			`DELETE FROM users_deleted WHERE user_name = 'carol'`, []string{"kept users", "is both live (\"carol\") and kept as deleted"}},
	} {
		exec(c.damage)
		stdout, stderr, code := e.run("check")
		if code == 0 {
			t.Errorf("%s: check exited 0 on a damaged database:\n%s", c.name, stdout)
		}
		for _, w := range c.want {
			if !strings.Contains(stdout, w) {
				t.Errorf("%s: check output lacks %q:\n%s", c.name, w, stdout)
			}
		}
		if !strings.Contains(stderr, c.want[0]) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%s: stderr %q, want one line naming %q", c.name, stderr, c.want[0])
		}
		exec(c.undo)
		if stdout, _, code := e.run("check"); code != 0 {
			t.Errorf("%s undone: check still fails:\n%s", c.name, stdout)
		}
	}

	// A database others may read.
	os.Chmod(e.db, 0o644)
	if stdout, _, code := e.run("check"); code == 0 || !strings.Contains(stdout, "has mode 0644") {
		t.Errorf("check of a 0644 database: exit %d\n%s", code, stdout)
	}
	os.Chmod(e.db, 0o600)

	// Damage SQLite itself finds, on a copy: a newer schema version and a
	// page overwritten with garbage.
	copyCfg := func(t *testing.T, mutate func(path string)) (string, int) {
		dir := t.TempDir()
		path := filepath.Join(dir, "copy.db")
		e.ok("backup", path)
		mutate(path)
		cfg := filepath.Join(dir, "c.toml")
		os.WriteFile(cfg, []byte(fmt.Sprintf("[database]\npath = %q\n", path)), 0o600)
		stdout, stderr, err := runScimd(dir, nil, "check", "--config", cfg)
		code := 0
		if err != nil {
			code = 1
		}
		return stdout + stderr, code
	}
	out, code := copyCfg(t, func(p string) {
		c, _ := sql.Open("sqlite", p)
		c.Exec(`PRAGMA user_version = 99`)
		c.Close()
	})
	if code == 0 || !strings.Contains(out, "schema version 99 is newer") {
		t.Errorf("check of a newer schema: exit %d\n%s", code, out)
	}
	out, code = copyCfg(t, func(p string) {
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := f.Stat()
		junk := []byte(strings.Repeat("\xde\xad\xbe\xef", 1024))
		for off := int64(4096); off+4096 <= fi.Size(); off += 3 * 4096 { // every third page after the header's
			f.WriteAt(junk, off)
		}
		f.Close()
	})
	if code == 0 || !strings.Contains(out, "integrity") {
		t.Errorf("check of a corrupt copy: exit %d\n%s", code, out)
	}
}

// TestSystemdCheckJob runs scimd-check.service's command line, as its
// timer would (minus systemd), against a real database: exit 0 when it is
// sound, non-zero (a failed unit) when a counter is wrong.
func TestSystemdCheckJob(t *testing.T) {
	d := unitDirectives(t, "scimd-check.service")
	args := strings.Fields(strings.Join(d["Service.ExecStart"], ""))
	if len(args) < 2 || args[0] != "/usr/local/bin/scimd" || args[1] != "check" {
		t.Fatalf("ExecStart=%q, want /usr/local/bin/scimd check …", args)
	}
	e := newAdmEnv(t, "")
	e.issue("entra")
	for i, a := range args {
		switch a {
		case "/usr/local/bin/scimd":
			args[i] = e.bin
		case "/etc/scimd/config.toml":
			args[i] = e.cfg
		}
	}
	if out, err := osexec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%q: %v\n%s", args, err, out)
	}
	db, err := sql.Open("sqlite", e.db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE counts SET n = 7 WHERE name = 'groups'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	out, err := osexec.Command(args[0], args[1:]...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "the counter of groups says 7") {
		t.Errorf("the check job on a wrong counter: %v\n%s", err, out)
	}
}
