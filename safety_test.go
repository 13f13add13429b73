package main

// Issue 11, "Admin commands cannot destroy what they protect" and "The
// database stays a plain SQLite file": one server per database, private
// file modes whatever the umask, and backups and exports that write only
// regular files and never the live database. Every test drives the built
// binary.

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOneServerPerDatabase: a second "scimd serve" on the same database
// refuses to start and names the first one's PID; admin commands keep
// working beside the server; after kill -9 the lock file is left behind
// but holds nothing, and a new server starts.
func TestOneServerPerDatabase(t *testing.T) {
	e := newAdmEnv(t, "")
	tok := e.issue("entra")
	e.start()
	e.mustCall(201, tok, "POST", "/Users", admUser("alice", "Sales", true))
	pid := e.cmd.Process.Pid

	second := func(cfg string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, e.bin, "serve", "--config", cfg)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if ctx.Err() != nil {
			t.Fatalf("the second scimd serve did not stop by itself:\n%s", stderr.String())
		}
		return stderr.String(), err
	}
	msg, err := second(e.cfg)
	if err == nil {
		t.Fatalf("a second scimd serve on the same database exited 0:\n%s", msg)
	}
	for _, want := range []string{"pid " + strconv.Itoa(pid), "only one scimd serve", e.db + ".lock"} {
		if !strings.Contains(msg, want) {
			t.Errorf("second serve: %q, want it to contain %q", msg, want)
		}
	}
	if strings.Contains(msg, "msg=listening") {
		t.Errorf("the second serve listened before refusing:\n%s", msg)
	}

	// The same database through a symlinked folder is the same database.
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(e.dir, link); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "other.toml")
	os.WriteFile(other, []byte(fmt.Sprintf("[server]\nlisten = \"127.0.0.1:0\"\n[database]\npath = %q\n", filepath.Join(link, "scimd.db"))), 0o600)
	if msg, err := second(other); err == nil || !strings.Contains(msg, "pid "+strconv.Itoa(pid)) {
		t.Errorf("a second serve through a symlinked folder: %v %q, want a refusal naming pid %d", err, msg, pid)
	}

	// Admin commands work beside the server.
	if out, _ := e.ok("users", "list"); !strings.Contains(out, "alice") {
		t.Errorf("users list beside the server: %q", out)
	}
	e.ok("status")
	e.ok("token", "issue", "--name", "okta", "--idp", "okta")
	e.mustCall(201, tok, "POST", "/Users", admUser("bob", "Sales", true))

	// kill -9: the kernel drops the flock; the file stays.
	e.cmd.Process.Kill()
	<-e.exited
	if _, err := os.Stat(e.db + ".lock"); err != nil {
		t.Fatalf("lock file after kill -9: %v", err)
	}
	e.start()
	if b, _ := os.ReadFile(e.db + ".lock"); strings.TrimSpace(string(b)) != strconv.Itoa(e.cmd.Process.Pid) {
		t.Errorf("lock file holds %q, want the new server's pid %d", b, e.cmd.Process.Pid)
	}
	if out, _ := e.ok("users", "list"); !strings.Contains(out, "bob") {
		t.Errorf("after restart: %q", out)
	}
}

// umaskRun runs scimd under umask 000 (through sh, so the umask is the
// child's own) and returns its combined output.
func umaskRun(t *testing.T, e *admEnv, args ...string) string {
	t.Helper()
	cmd := exec.Command("sh", append([]string{"-c", `umask 000; exec "$0" "$@"`, e.bin}, append(args, "--config", e.cfg)...)...)
	cmd.Dir = e.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("umask 000; scimd %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestFileModesUnderUmask000: with umask 000 the database, its -wal and
// -shm, the server lock, backups and exports are 0600, and the folders
// scimd creates for the database are 0700.
func TestFileModesUnderUmask000(t *testing.T) {
	e := newAdmEnv(t, "")
	// A database in folders that do not exist yet.
	e.db = filepath.Join(e.dir, "state", "scimd", "scimd.db")
	os.WriteFile(e.cfg, []byte(fmt.Sprintf("[server]\nlisten = \"127.0.0.1:0\"\n[database]\npath = %q\n", e.db)), 0o600)
	umaskRun(t, e, "token", "issue", "--name", "entra")

	// serve under umask 000 too: SQLite creates -wal and -shm itself.
	e.log = &admBuffer{}
	e.cmd = exec.Command("sh", "-c", `umask 000; exec "$0" "$@"`, e.bin, "serve", "--config", e.cfg)
	e.cmd.Stderr = e.log
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e.exited = make(chan error, 1)
	go func() { e.exited <- e.cmd.Wait() }()
	t.Cleanup(func() { e.cmd.Process.Kill(); <-e.exited })
	e.base = "http://" + admListening.FindStringSubmatch(e.waitLog("msg=listening"))[1] + "/scim/v2"
	tok := e.issue("okta")
	e.mustCall(201, tok, "POST", "/Users", admUser("alice", "Sales", true))

	backup := filepath.Join(e.dir, "backup.db")
	umaskRun(t, e, "backup", backup)
	export := filepath.Join(e.dir, "users.jsonl")
	umaskRun(t, e, "users", "export", "--output", export)
	gexport := filepath.Join(e.dir, "groups.csv")
	umaskRun(t, e, "groups", "export", "--output", gexport)

	for _, c := range []struct {
		path string
		want fs.FileMode
	}{
		{filepath.Join(e.dir, "state"), fs.ModeDir | 0o700},
		{filepath.Join(e.dir, "state", "scimd"), fs.ModeDir | 0o700},
		{e.db, 0o600}, {e.db + "-wal", 0o600}, {e.db + "-shm", 0o600}, {e.db + ".lock", 0o600},
		{backup, 0o600}, {export, 0o600}, {gexport, 0o600},
	} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Errorf("%s: %v", c.path, err)
			continue
		}
		if fi.Mode() != c.want {
			t.Errorf("%s: mode %v, want %v", c.path, fi.Mode(), c.want)
		}
	}
}

// TestBackupNeverReplacesTheLiveDatabase: backup --force refuses a
// destination that is the live database or its -wal/-shm, reached through
// a symlinked folder or a hard link, and the server keeps its data.
func TestBackupNeverReplacesTheLiveDatabase(t *testing.T) {
	e := newAdmEnv(t, "")
	tok := e.issue("entra")
	e.start()
	e.mustCall(201, tok, "POST", "/Users", admUser("alice", "Sales", true))
	before, err := os.Stat(e.db)
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "state")
	if err := os.Symlink(e.dir, link); err != nil {
		t.Fatal(err)
	}
	hard := filepath.Join(e.dir, "hard.db")
	if err := os.Link(e.db, hard); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ dest, want string }{
		{filepath.Join(link, "scimd.db"), "is the live database (the same file as " + e.db},
		{hard, "is the live database (the same file as " + e.db},
		{filepath.Join(link, "scimd.db-wal"), "write-ahead log"},
		{filepath.Join(link, "scimd.db-shm"), "shared-memory index"},
		{filepath.Join(link, "scimd.db-journal"), "rollback journal"},
		{e.db, "is the live database"},
	} {
		for _, args := range [][]string{{"backup", "--force", c.dest}, {"users", "export", "--output", c.dest}} {
			msg := e.fail(args...)
			if !strings.Contains(msg, c.want) {
				t.Errorf("scimd %s: %q, want it to contain %q", strings.Join(args, " "), msg, c.want)
			}
		}
	}
	after, err := os.Stat(e.db)
	if err != nil || !os.SameFile(before, after) {
		t.Fatalf("the live database file was replaced")
	}
	// Writes after the refused backups are on the file the server uses.
	e.mustCall(201, tok, "POST", "/Users", admUser("bob", "Sales", true))
	e.stop()
	if out, _ := e.ok("users", "list"); !strings.Contains(out, "alice") || !strings.Contains(out, "bob") {
		t.Errorf("after the refused backups: %q", out)
	}
}

// TestBackupAndExportWriteOnlyRegularFiles: a device, a pipe, a socket, a
// symlink and a folder are refused as a backup or export destination with
// a message naming what the destination is (never blaming the database),
// and are left as they were; /dev/null is still the null device.
func TestBackupAndExportWriteOnlyRegularFiles(t *testing.T) {
	e := newAdmEnv(t, "")
	tok := e.issue("entra")
	e.start()
	e.mustCall(201, tok, "POST", "/Users", admUser("alice", "Sales", true))

	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	target := filepath.Join(dir, "target.csv")
	os.WriteFile(target, []byte("keep me\n"), 0o600)
	symlink := filepath.Join(dir, "link.csv")
	if err := os.Symlink(target, symlink); err != nil {
		t.Fatal(err)
	}
	nullBefore, err := os.Lstat("/dev/null")
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct{ dest, want string }{
		{"/dev/null", "/dev/null is a character device"},
		{"/dev/full", "/dev/full is a character device"},
		{fifo, fifo + " is a named pipe"},
		{sock, sock + " is a socket"},
		{symlink, symlink + " is a symbolic link"},
		{dir, dir + " is a folder"},
		{filepath.Join(dir, "missing", "x.db"), "its folder " + filepath.Join(dir, "missing") + " does not exist"},
	}
	for _, c := range cases {
		for _, args := range [][]string{
			{"backup", c.dest}, {"backup", "--force", c.dest},
			{"users", "export", "--output", c.dest}, {"groups", "export", "-o", c.dest},
		} {
			msg := e.fail(args...)
			if !strings.Contains(msg, c.want) {
				t.Errorf("scimd %s: %q, want it to contain %q", strings.Join(args, " "), msg, c.want)
			}
			if strings.Contains(msg, "database") {
				t.Errorf("scimd %s: %q blames the database for the destination", strings.Join(args, " "), msg)
			}
		}
	}

	nullAfter, err := os.Lstat("/dev/null")
	if err != nil || nullAfter.Mode()&fs.ModeCharDevice == 0 || nullAfter.Mode()&fs.ModeDevice == 0 ||
		nullAfter.Sys().(*syscall.Stat_t).Rdev != nullBefore.Sys().(*syscall.Stat_t).Rdev {
		t.Fatalf("/dev/null is no longer the null device: %v %v", nullAfter.Mode(), err)
	}
	for p, want := range map[string]fs.FileMode{fifo: fs.ModeNamedPipe, sock: fs.ModeSocket, symlink: fs.ModeSymlink} {
		if fi, err := os.Lstat(p); err != nil || fi.Mode().Type() != want {
			t.Errorf("%s changed: %v %v", p, fi.Mode(), err)
		}
	}
	if b, _ := os.ReadFile(target); string(b) != "keep me\n" {
		t.Errorf("the symlink's target was written: %q", b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 4 {
		t.Errorf("temporary files left in %s: %v", dir, entries)
	}

	// Stdout with "-" works for both.
	out, _ := e.ok("users", "export", "--output", "-", "--format", "jsonl")
	if !strings.Contains(out, `"userName":"alice"`) {
		t.Errorf("export to stdout: %q", out)
	}
	out, stderr := e.ok("backup", "-")
	if !strings.HasPrefix(out, "SQLite format 3\x00") || !strings.Contains(stderr, "integrity check ok") {
		t.Errorf("backup to stdout: %d bytes starting %q; stderr %q", len(out), out[:min(len(out), 16)], stderr)
	}
	restored := newAdmEnv(t, "")
	os.WriteFile(restored.db, []byte(out), 0o600)
	if list, _ := restored.ok("users", "list"); !strings.Contains(list, "alice") {
		t.Errorf("the backup written to stdout does not hold alice: %q", list)
	}
	// An ordinary file is still replaced with --force.
	plain := filepath.Join(t.TempDir(), "plain.db")
	os.WriteFile(plain, []byte("old"), 0o644)
	e.ok("backup", "--force", plain)
	if fi, err := os.Stat(plain); err != nil || fi.Mode() != 0o600 || fi.Size() < 4096 {
		t.Errorf("backup --force over a regular file: %v %v", fi, err)
	}
}

// TestBackupWriteFailureBlamesTheDestination: when the destination cannot
// take the copy (here a file size limit, as a full disk would), the error
// names the destination's folder, says the database is not affected, and
// leaves no temporary file; the database still checks clean.
func TestBackupWriteFailureBlamesTheDestination(t *testing.T) {
	e := newAdmEnv(t, "")
	tok := e.issue("entra")
	e.start()
	e.mustCall(201, tok, "POST", "/Users", admUser("alice", "Sales", true))
	dir := t.TempDir()
	// 100 blocks (51 or 102 kB): more than the -shm, less than any copy.
	cmd := exec.Command("sh", "-c", `ulimit -f 100; exec "$0" "$@"`, e.bin, "backup", filepath.Join(dir, "b.db"), "--config", e.cfg)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("backup beyond the file size limit succeeded:\n%s", out)
	}
	msg := string(out)
	for _, want := range []string{"writing the copy in " + dir, "the database is not affected"} {
		if !strings.Contains(msg, want) {
			t.Errorf("backup failure %q, want it to contain %q", msg, want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files left behind: %v", entries)
	}
	e.ok("check")
}
