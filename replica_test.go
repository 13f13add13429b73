package main

// Continuous replication and restore through the built binary (issue 13):
// kill -9 under load, lose the database, restore, and find every write
// acknowledged before the last sync serve published, which must be
// recent; against a file:// replica, SFTP and a real S3 server
// (versitygw); point-in-time restore; an unreachable store that leaves
// SCIM traffic alone.

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
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

	"scimd/replica"
	"scimd/store"
)

// rpSyncInterval is the tests' [replica] sync_interval.
const rpSyncInterval = time.Second

// rpMaxLag bounds how far behind a running replicator on a reachable store
// may be when the machine is lost: one interval to the next staging, then
// the staging and the upload, which on this project's 2-core CI machine,
// running other packages' tests beside six writers, have taken up to 1.2 s
// together. The bound is there to catch a replicator that stalls, not to
// time uploads.
const rpMaxLag = 2*rpSyncInterval + 3*time.Second

// rpFile is a [replica] section for a folder replica.
func rpFile(t *testing.T) string {
	return fmt.Sprintf("[replica]\nurl = \"file://%s\"\nsync_interval = \"1s\"\n", filepath.Join(t.TempDir(), "replica"))
}

// versityVersion is the S3 server the tests run; .ci/deps builds it into
// versityBin's folder.
const versityVersion = "v1.8.0"

// versityBin returns the versitygw binary, building it with the Go
// toolchain into the user cache on first use (outside this module, so its
// many dependencies stay out of go.mod).
func versityBin(t testing.TB) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cache, "scimd-test", "versitygw-"+versityVersion)
	bin := filepath.Join(dir, "versitygw")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	cmd := exec.Command("go", "install", "github.com/versity/versitygw/cmd/versitygw@"+versityVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building versitygw %s (.ci/deps builds it into %s): %v\n%s", versityVersion, dir, err, out)
	}
	return bin
}

// versity is a running versitygw with a POSIX backend in a temp folder.
type versity struct {
	endpoint, secretFile string
	cmd                  *exec.Cmd
	exited               chan struct{}
	log                  *hdLog
}

const (
	versityKey    = "scimd-test-key"
	versityBucket = "scimd-replica"
)

// startVersity runs versitygw on port (0: any free one) and waits until it
// answers.
func startVersity(t *testing.T, port int) *versity {
	t.Helper()
	return startVersityWith(t, port, "scimd-test-secret-"+fmt.Sprint(time.Now().UnixNano()))
}

// startVersityWith is startVersity with a given secret key.
func startVersityWith(t testing.TB, port int, secret string) *versity {
	t.Helper()
	bin := versityBin(t)
	if port == 0 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
	}
	dir := t.TempDir()
	root, meta := filepath.Join(dir, "root"), filepath.Join(dir, "meta")
	for _, d := range []string{filepath.Join(root, versityBucket), meta} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	v := &versity{endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), secretFile: filepath.Join(dir, "secret"), exited: make(chan struct{}), log: &hdLog{}}
	if err := os.WriteFile(v.secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The secret goes through the environment, not the command line.
	v.cmd = exec.Command(bin, "--port", fmt.Sprintf("127.0.0.1:%d", port), "--quiet", "posix", "--sidecar", meta, root)
	v.cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+versityKey, "ROOT_SECRET_ACCESS_KEY="+secret)
	v.cmd.Stdout, v.cmd.Stderr = v.log, v.log
	if err := v.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { v.cmd.Wait(); close(v.exited) }()
	t.Cleanup(v.stop)
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return v
		}
		select {
		case <-v.exited:
			t.Fatalf("versitygw exited:\n%s", v.log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw did not listen on %d:\n%s", port, v.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (v *versity) stop() {
	select {
	case <-v.exited:
	default:
		v.cmd.Process.Kill()
		<-v.exited
	}
}

// section is a [replica] section replicating to path in the bucket.
func (v *versity) section(path string) string {
	return fmt.Sprintf("[replica]\nurl = \"s3://%s/%s\"\nendpoint = %q\nregion = \"us-east-1\"\naccess_key_id = %q\nsecret_access_key_file = %q\nsync_interval = \"1s\"\n",
		versityBucket, path, v.endpoint, versityKey, v.secretFile)
}

// rpS3Env clears AWS_CA_BUNDLE for the scimd processes: the AWS SDK refuses
// it together with Litestream's own HTTP client, and the test machine may
// set it for other tools; the store here is plain HTTP on loopback.
func rpS3Env(t *testing.T) { t.Setenv("AWS_CA_BUNDLE", "") }

// rpAcked records acknowledged writes with the moment of acknowledgement.
type rpAcked struct {
	mu      sync.Mutex
	users   map[string]rpAck // id -> userName, when
	members map[string]time.Time
	refused map[int]int
}

type rpAck struct {
	name string
	at   time.Time
}

func newRPAcked() *rpAcked {
	return &rpAcked{users: map[string]rpAck{}, members: map[string]time.Time{}, refused: map[int]int{}}
}

func (a *rpAcked) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.users) + len(a.members)
}

// rpLoad is hdLoad with acknowledgement times: writers create users and
// add every third one to group until stop closes or the server dies.
func rpLoad(s *hdServer, acked *rpAcked, round, writers int, group string, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("rp%d-w%d-%d@example.com", round, w, i)
				status, body, err := s.request("POST", "/Users", map[string]any{"userName": name, "title": strings.Repeat("t", 200)})
				if err != nil {
					return
				}
				now := time.Now()
				acked.mu.Lock()
				if status != 201 {
					acked.refused[status]++
					acked.mu.Unlock()
					continue
				}
				id, _ := body["id"].(string)
				acked.users[id] = rpAck{name, now}
				acked.mu.Unlock()
				if w%3 != 0 {
					continue
				}
				patch := map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
					"Operations": []any{map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": id}}}}}
				status, _, err = s.request("PATCH", "/Groups/"+group, patch)
				if err != nil {
					return
				}
				now = time.Now()
				acked.mu.Lock()
				if status == 204 {
					acked.members[id] = now
				} else {
					acked.refused[status]++
				}
				acked.mu.Unlock()
			}
		})
	}
	return &wg
}

// rpVerify checks the restored database: intact, and holding every user
// and membership acknowledged before cutoff (the last sync serve
// published). It returns how many writes
// were required and how many later ones made it too, and forgets the later
// ones that were lost.
func rpVerify(t *testing.T, db string, acked *rpAcked, group string, cutoff time.Time) (required, later int, oldestLost time.Time) {
	t.Helper()
	st, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatalf("opening the restored database: %v", err)
	}
	defer st.Close()
	ctx := t.Context()
	if err := st.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
	acked.mu.Lock()
	defer acked.mu.Unlock()
	lost := 0
	for id, a := range acked.users {
		r, err := st.Get(ctx, store.Users, id, false)
		have := err == nil && r.Doc["userName"] == a.name
		switch {
		case a.at.Before(cutoff):
			required++
			if !have {
				lost++
				if lost <= 5 {
					t.Errorf("user %s (%s), acknowledged %s before the last sync, is not in the restored copy: %v", id, a.name, cutoff.Sub(a.at), err)
				}
			}
		case have:
			later++
		default:
			// Lost with the machine, as allowed: later rounds must not
			// expect it.
			if oldestLost.IsZero() || a.at.Before(oldestLost) {
				oldestLost = a.at
			}
			delete(acked.users, id)
		}
	}
	ms, err := st.Members(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, m := range ms {
		have[m.ID] = true
	}
	for id, at := range acked.members {
		switch {
		case at.Before(cutoff):
			required++
			if !have[id] {
				lost++
				t.Errorf("membership of %s, acknowledged %s before the last sync, is not in the restored copy", id, cutoff.Sub(at))
			}
		case have[id]:
			later++
		default:
			if oldestLost.IsZero() || at.Before(oldestLost) {
				oldestLost = at
			}
			delete(acked.members, id)
		}
	}
	if lost > 0 {
		t.Fatalf("%d writes acknowledged before the last sync serve published (%s) were lost", lost, cutoff.Format(time.RFC3339Nano))
	}
	return required, later, oldestLost
}

// rpLoseMachine deletes the database and its -wal and -shm; newMachine
// also deletes Litestream's staging folder and the published status, as
// a new machine would not have them.
func rpLoseMachine(t *testing.T, db string, newMachine bool) {
	t.Helper()
	for _, f := range []string{db, db + "-wal", db + "-shm"} {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	if newMachine {
		dir, name := filepath.Split(db)
		os.RemoveAll(filepath.Join(dir, "."+name+"-litestream"))
		os.Remove(db + "-replica.json")
	}
}

// rpKillRestore is the disaster drill: serve under a concurrent write load
// is killed with SIGKILL, its database is deleted, scimd restore rebuilds it
// from the replica, and serve starts on the result. The second round runs
// on the restored database and replicates into the same replica, then is
// lost and restored again (from a "new machine").
func rpKillRestore(t *testing.T, section string) {
	s := hdNew(t, "", section)
	s.start()
	status, g, err := s.request("POST", "/Groups", map[string]any{"displayName": "Replicated"})
	if err != nil || status != 201 {
		t.Fatalf("create group: %d %v", status, err)
	}
	group := g["id"].(string)
	acked := newRPAcked()
	var firstCutoff time.Time
	for round := 0; round < 2; round++ {
		if round > 0 {
			s.start()
		}
		// The drill's promise is for a replicator that is running: wait
		// for its first upload (the initial snapshot, which takes a few
		// seconds on a loaded machine) before the load and the clock to
		// the kill start.
		s.waitSynced()
		before := acked.count()
		stop := make(chan struct{})
		wg := rpLoad(s, acked, round, 6, group, stop)
		// Several sync intervals of load, so the kill comes with writes
		// both replicated and in flight.
		time.Sleep(4 * rpSyncInterval)
		killedAt := time.Now()
		if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-s.exited
		close(stop)
		wg.Wait()
		// What serve last published: every write committed before
		// LastSync was staged, and uploaded before it was published.
		st, ok, err := replica.ReadStatus(s.db)
		if err != nil || !ok {
			t.Fatalf("round %d: no replica status after the kill: %v", round, err)
		}
		lag := killedAt.Sub(st.LastSync)
		if lag > rpMaxLag {
			t.Errorf("round %d: the replica was %s behind when serve was killed (last sync %s), more than %s", round, lag.Round(time.Millisecond), st.LastSync.Format(time.RFC3339Nano), rpMaxLag)
		}
		if acked.count()-before < 20 {
			t.Fatalf("round %d: only %d writes acknowledged under load:\n%s", round, acked.count()-before, s.log)
		}
		if len(acked.refused) > 0 {
			t.Errorf("round %d: a live server refused writes: %v", round, acked.refused)
		}
		rpLoseMachine(t, s.db, round == 1)
		_, errOut, err := s.cli("restore")
		if err != nil || !strings.Contains(errOut, "integrity check ok") || !strings.Contains(errOut, "restored "+s.db) {
			t.Fatalf("round %d: scimd restore: %v\n%s", round, err, errOut)
		}
		cutoff := st.LastSync
		if round == 0 {
			firstCutoff = cutoff
		}
		if testing.Verbose() {
			for _, l := range strings.Split(s.log.String(), "\n") {
				if !strings.Contains(l, "msg=request") {
					t.Log(l)
				}
			}
		}
		required, later, oldestLost := rpVerify(t, s.db, acked, group, cutoff)
		lostWindow := time.Duration(0)
		if !oldestLost.IsZero() {
			lostWindow = killedAt.Sub(oldestLost)
		}
		t.Logf("round %d: %d writes acknowledged; the replica's last sync was %s before the kill; the %d acknowledged before it are all restored, and %d later ones too; the oldest write lost was acknowledged %s before the kill; %s",
			round, acked.count()-before, lag.Round(time.Millisecond), required, later, lostWindow.Round(time.Millisecond), strings.TrimSpace(errOut))
		if required == 0 {
			t.Fatalf("round %d: no write was old enough to be required: the test proves nothing", round)
		}
	}
	// serve on the restored database answers the identity provider with
	// the same token and ids.
	s.start()
	checked := 0
	acked.mu.Lock()
	for id, a := range acked.users {
		if checked == 10 || !a.at.Before(firstCutoff) {
			continue
		}
		status, u, err := s.request("GET", "/Users/"+id, nil)
		if err != nil || status != 200 || u["userName"] != a.name {
			t.Errorf("GET /Users/%s on the restored server with the old token: %d %v %v", id, status, u["userName"], err)
		}
		checked++
	}
	acked.mu.Unlock()
	status, grp, err := s.request("GET", "/Groups/"+group+"?excludedAttributes=members", nil)
	if err != nil || status != 200 || grp["displayName"] != "Replicated" {
		t.Fatalf("GET the group on the restored server: %d %v %v", status, grp, err)
	}
	if err := s.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("serve on the restored database: %v\n%s", err, s.log)
	}
}

func TestReplicaKillRestoreFile(t *testing.T) {
	rpKillRestore(t, rpFile(t))
}

func TestReplicaKillRestoreS3(t *testing.T) {
	rpS3Env(t)
	v := startVersity(t, 0)
	rpKillRestore(t, v.section("scimd"))
}

func (s *hdServer) replicaStatus() replicaReport {
	s.t.Helper()
	out, errOut, err := s.cli("status", "--json")
	if err != nil {
		s.t.Fatalf("scimd status --json: %v\n%s", err, errOut)
	}
	var r struct {
		Replica *replicaReport `json:"replica"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Replica == nil {
		s.t.Fatalf("status --json has no replica: %v\n%s", err, out)
	}
	return *r.Replica
}

// waitSynced waits until the replica holds everything written before now.
func (s *hdServer) waitSynced() {
	s.t.Helper()
	since := time.Now()
	deadline := since.Add(30 * time.Second)
	for {
		r := s.replicaStatus()
		if r.LastSync != nil && r.LastSync.After(since) {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the replica did not sync within 30s: %+v\n%s", r, s.log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (s *hdServer) createUsers(prefix string, n int) map[string]string {
	s.t.Helper()
	ids := map[string]string{}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%s%d@example.com", prefix, i)
		status, body, err := s.request("POST", "/Users", map[string]any{"userName": name})
		if err != nil || status != 201 {
			s.t.Fatalf("create %s: %d %v", name, status, err)
		}
		ids[body["id"].(string)] = name
	}
	return ids
}

// rpHas reports which of ids the database at path holds.
func rpHas(t *testing.T, path string, ids map[string]string) int {
	t.Helper()
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n := 0
	for id := range ids {
		if _, err := st.Get(t.Context(), store.Users, id, false); err == nil {
			n++
		}
	}
	return n
}

// TestReplicaPointInTime restores the state of an earlier moment with
// --at, the latest state without it, and checks the command's refusals.
func TestReplicaPointInTime(t *testing.T) {
	s := hdNew(t, "", rpFile(t)+"[admin]\nlisten = \"127.0.0.1:0\"\n")
	s.start()
	early := s.createUsers("early", 5)
	s.waitSynced()

	// The admin listener exports the replica's state (issue 14's names).
	m := regexp.MustCompile(`msg="admin listening" addr=(\S+)`).FindStringSubmatch(s.log.String())
	if m == nil {
		t.Fatalf("no admin listener in the log:\n%s", s.log)
	}
	res, err := http.Get("http://" + m[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{"\nscimd_replica_lag_seconds ", "\nscimd_replica_last_sync_timestamp_seconds ", "\nscimd_replica_errors_total 0\n"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q", strings.TrimSpace(want))
		}
	}
	time.Sleep(1500 * time.Millisecond)
	at := time.Now().UTC()
	time.Sleep(1500 * time.Millisecond)
	late := s.createUsers("late", 5)
	s.waitSynced()

	if _, errOut, err := s.cli("restore"); err == nil || !strings.Contains(errOut, "already exists") || !strings.Contains(errOut, "--force") {
		t.Errorf("restore over the live database without --force: %v\n%s", err, errOut)
	}
	if _, errOut, err := s.cli("restore", "--force"); err == nil || !strings.Contains(errOut, "stop it first") {
		t.Errorf("restore --force while serve runs on the database: %v\n%s", err, errOut)
	}
	if _, errOut, err := s.cli("restore", "--to", filepath.Join(s.dir, "x.db"), "--at", "yesterday"); err == nil || !strings.Contains(errOut, "RFC 3339") {
		t.Errorf("restore --at yesterday: %v\n%s", err, errOut)
	}
	if _, errOut, err := s.cli("restore", "--to", filepath.Join(s.dir, "x.db"), "--at", at.Add(-time.Hour).Format(time.RFC3339)); err == nil || !strings.Contains(errOut, "no backup") {
		t.Errorf("restore --at before replication began: %v\n%s", err, errOut)
	}

	then := filepath.Join(s.dir, "then.db")
	_, errOut, err := s.cli("restore", "--to", then, "--at", at.Format(time.RFC3339Nano))
	if err != nil || !strings.Contains(errOut, "integrity check ok") {
		t.Fatalf("restore --at: %v\n%s", err, errOut)
	}
	if got := rpHas(t, then, early); got != len(early) {
		t.Errorf("--at %s: %d of the %d users created before it, want all", at, got, len(early))
	}
	if got := rpHas(t, then, late); got != 0 {
		t.Errorf("--at %s: %d of the %d users created after it, want none", at, got, len(late))
	}
	now := filepath.Join(s.dir, "now.db")
	if _, errOut, err := s.cli("restore", "--to", now); err != nil {
		t.Fatalf("restore --to: %v\n%s", err, errOut)
	}
	if got := rpHas(t, now, late); got != len(late) {
		t.Errorf("latest: %d of the %d late users, want all", got, len(late))
	}
	// --force replaces an existing file once serve is gone.
	if _, errOut, err := s.cli("restore", "--to", then, "--force"); err != nil {
		t.Fatalf("restore --to existing --force: %v\n%s", err, errOut)
	}
	if got := rpHas(t, then, late); got != len(late) {
		t.Errorf("after --force: %d of the %d late users, want all", got, len(late))
	}
}

// TestReplicaStoreUnreachable starts serve with an S3 store that is down:
// SCIM writes go on as usual, serve warns with a growing lag, status shows
// the error; once the store is up, replication catches up and a restore
// has everything.
func TestReplicaStoreUnreachable(t *testing.T) {
	rpS3Env(t)
	port := freePort(t)
	// The section needs the secret file before versitygw exists: write one
	// with the secret versitygw will get.
	pending := &versity{endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), secretFile: filepath.Join(t.TempDir(), "secret")}
	s := hdNew(t, "", pending.section("down"))
	// versitygw gets its own secret; give it the same one.
	secret := "unreachable-test-secret"
	if err := os.WriteFile(pending.secretFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	s.start()
	t0 := time.Now()
	ids := s.createUsers("while-down", 30)
	if took := time.Since(t0); took > 10*time.Second {
		t.Errorf("30 creates took %s with the store down: replication is in SCIM's way", took)
	}
	// The S3 client retries a refused connection for a while before an
	// attempt fails.
	var first replicaReport
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if first = s.replicaStatus(); first.LastError != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no error in status after 60s with the store down: %+v\n%s", first, s.log)
		}
	}
	time.Sleep(2 * time.Second)
	// Litestream, when its first staging cannot reach the store, closes
	// the descriptor of the database it had opened, which releases every
	// POSIX lock of serve on the file: serve must still hold SQLite's
	// shared lock, or another process closing the database could
	// checkpoint and delete the WAL under it.
	if !rpSharedLockHeld(t, s.db) {
		t.Errorf("with the store down, serve no longer holds SQLite's shared lock on the database file")
	}
	second := s.replicaStatus()
	if second.Errors == 0 || first.LastSync != nil || first.Published == nil {
		t.Errorf("status while the store is down: %+v", second)
	}
	if first.LagSeconds == nil || second.LagSeconds == nil || *second.LagSeconds <= *first.LagSeconds {
		t.Errorf("lag did not grow: %v then %v", first.LagSeconds, second.LagSeconds)
	}
	if !strings.Contains(s.log.String(), "replica: cannot sync, retrying") || !strings.Contains(s.log.String(), "lag=") {
		t.Errorf("no warning with the lag in serve's log:\n%s", s.log)
	}
	if out, _, _ := s.cli("status"); !strings.Contains(out, "last error") {
		t.Errorf("scimd status does not show the error:\n%s", out)
	}

	startVersityWith(t, port, secret)
	s.waitSynced()
	if !rpSharedLockHeld(t, s.db) {
		t.Errorf("after the store came back, serve no longer holds SQLite's shared lock on the database file")
	}
	if r := s.replicaStatus(); r.LastError != "" {
		t.Errorf("after recovery, last_error = %q", r.LastError)
	}
	if err := s.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.log.String(), "replica: caught up") {
		t.Errorf("serve did not log the recovery:\n%s", s.log)
	}
	for _, l := range strings.Split(s.log.String(), "\n") {
		if strings.Contains(l, "replica:") {
			t.Log(l)
		}
	}
	rpLoseMachine(t, s.db, true)
	if _, errOut, err := s.cli("restore"); err != nil {
		t.Fatalf("restore: %v\n%s", err, errOut)
	}
	if got := rpHas(t, s.db, ids); got != len(ids) {
		t.Errorf("restored %d of the %d users written while the store was down", got, len(ids))
	}
}

// TestReplicaConfig: [replica] is validated at load, the secret is read
// from its file or the environment and never accepted inline, and restore
// without a replica says so.
func TestReplicaConfig(t *testing.T) {
	dir, secret, load := replicaConfigLoader(t)
	for _, tc := range []struct{ body, want string }{
		{"[replica]\nurl = \"ftp://host/x\"\n", "[replica] url"},
		{"[replica]\nurl = \"s3://b/p\"\nsync_interval = \"0s\"\n", "sync_interval"},
		{"[replica]\nurl = \"s3://b/p\"\nretention = \"10m\"\n", "retention"},
		{"[replica]\nurl = \"s3://b/p\"\nsecret_access_key = \"inline\"\n", "unknown key replica.secret_access_key"},
	} {
		if _, err := load(tc.body); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error with %q", tc.body, err, tc.want)
		}
	}

	t.Setenv("AWS_ACCESS_KEY_ID", "from-env")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
	cfg, err := load("[replica]\nurl = \"s3://b/p\"\n")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cfg.replicaConfig()
	if err != nil || rc.AccessKeyID != "from-env" || rc.SecretAccessKey != "env-secret" || rc.SyncInterval != time.Second || rc.Retention != 168*time.Hour {
		t.Errorf("from the environment: %+v %v", rc, err)
	}
	cfg, err = load(fmt.Sprintf("[replica]\nurl = \"s3://b/p\"\naccess_key_id = \"AKID\"\nsecret_access_key_file = %q\n", secret))
	if err != nil {
		t.Fatal(err)
	}
	if rc, err := cfg.replicaConfig(); err != nil || rc.AccessKeyID != "AKID" || rc.SecretAccessKey != "s3cr3t" {
		t.Errorf("from the file: %+v %v", rc, err)
	}
	cfg.Replica.SecretAccessKeyFile = filepath.Join(dir, "missing")
	if _, err := cfg.replicaConfig(); err == nil || !strings.Contains(err.Error(), "secret_access_key_file") {
		t.Errorf("missing secret file: %v", err)
	}

	s := hdNew(t, "", "")
	if _, errOut, err := s.cli("restore"); err == nil || !strings.Contains(errOut, "no [replica] url") {
		t.Errorf("restore without [replica]: %v\n%s", err, errOut)
	}
	out, _, err := s.cli("status", "--json")
	if err != nil || !strings.Contains(out, `"replica": null`) {
		t.Errorf("status --json without [replica] should say \"replica\": null: %v\n%s", err, out)
	}
}

// BenchmarkDisasterRecovery measures the recovery time for 100,000 users
// (README, "Disaster recovery"): a directory of 100,000 users and a
// 1,000-member group replicated to versitygw, serve killed with SIGKILL and
// the database deleted; then the time of scimd restore, and of restore
// plus serve answering the old token with a restored user.
//
//	go test -run '^$' -bench DisasterRecovery -benchtime 1x .
func BenchmarkDisasterRecovery(b *testing.B) {
	const users = 100_000
	for range b.N {
		b.StopTimer()
		rpDisasterDrill(b, users)
	}
}

func rpDisasterDrill(b *testing.B, users int) {
	b.Setenv("AWS_CA_BUNDLE", "")
	ctx := b.Context()
	dir := b.TempDir()
	db := filepath.Join(dir, "scimd.db")
	st, err := store.Open(db, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var ids []string
	for i := 0; i < users; i += 5000 {
		docs := make([]map[string]any, 0, 5000)
		for j := i; j < min(i+5000, users); j++ {
			docs = append(docs, map[string]any{"userName": fmt.Sprintf("user%06d@dr.example.com", j), "displayName": fmt.Sprintf("User %d", j),
				"emails": []any{map[string]any{"value": fmt.Sprintf("user%06d@dr.example.com", j), "type": "work", "primary": true}}})
		}
		got, err := st.BulkCreate(ctx, store.Users, docs)
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, got...)
	}
	g, err := st.Create(ctx, store.Actor{}, store.Groups, map[string]any{"displayName": "Everyone"})
	if err != nil {
		b.Fatal(err)
	}
	if err := st.BulkAddMembers(ctx, g.ID, ids[:1000]); err != nil {
		b.Fatal(err)
	}
	secret, _, err := st.IssueToken(ctx, "dr", "entra", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	st.Checkpoint(ctx)
	st.Close()

	v := startVersityWith(b, 0, "scimd-bench-secret")
	cfg := filepath.Join(dir, "scimd.toml")
	text := fmt.Sprintf("[server]\nlisten = \"127.0.0.1:0\"\n[database]\npath = %q\n%s", db, v.section("dr"))
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		b.Fatal(err)
	}
	serve := func() (*exec.Cmd, *hdLog, string) {
		log := &hdLog{}
		cmd := exec.Command(e2eBin, "serve", "--config", cfg)
		cmd.Stderr = log
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			if m := hdListening.FindStringSubmatch(log.String()); m != nil {
				return cmd, log, m[1]
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				b.Fatalf("serve did not start:\n%s", log)
			}
		}
	}
	cmd, log, _ := serve()
	// Wait for the initial snapshot to be in the replica.
	since := time.Now()
	for deadline := since.Add(5 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		out, _ := exec.Command(e2eBin, "status", "--json", "--config", cfg).Output()
		var r struct {
			Replica replicaReport `json:"replica"`
		}
		json.Unmarshal(out, &r)
		if r.Replica.LastSync != nil && r.Replica.LastSync.After(since) {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			b.Fatalf("no sync:\n%s", log)
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	for _, f := range []string{db, db + "-wal", db + "-shm", db + "-replica.json"} {
		os.Remove(f)
	}
	os.RemoveAll(filepath.Join(dir, ".scimd.db-litestream"))

	b.StartTimer()
	t0 := time.Now()
	out, err := exec.Command(e2eBin, "restore", "--config", cfg).CombinedOutput()
	if err != nil {
		b.Fatalf("restore: %v\n%s", err, out)
	}
	restored := time.Since(t0)
	cmd, log, addr := serve()
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	req, _ := http.NewRequest("GET", "http://"+addr+"/scim/v2/Users/"+ids[users/2], nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		b.Fatalf("GET a restored user: %v %v\n%s", res, err, log)
	}
	res.Body.Close()
	total := time.Since(t0)
	b.StopTimer()
	b.ReportMetric(restored.Seconds(), "restore-s")
	b.ReportMetric(total.Seconds(), "restore+serve-s")
	fi, _ := os.Stat(db)
	b.ReportMetric(float64(fi.Size())/1e6, "db-MB")
	b.Logf("%s", strings.TrimSpace(string(out)))
}

// replicaConfigLoader gives the config tests a folder, a secret file in it
// holding "s3cr3t", and a function that loads a config file written there.
func replicaConfigLoader(t *testing.T) (dir, secret string, load func(body string) (Config, error)) {
	dir = t.TempDir()
	secret = filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("s3cr3t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, secret, func(body string) (Config, error) {
		p := filepath.Join(dir, "c.toml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return Load(p)
	}
}

// rpSharedLockHeld reports whether another process (serve) holds a read
// lock on the database file's SHARED byte range, as every SQLite
// connection in WAL mode does while it is open (os_unix.c: SHARED_FIRST is
// PENDING_BYTE + 2, 510 bytes).
func rpSharedLockHeld(t *testing.T, db string) bool {
	t.Helper()
	f, err := os.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	// This test process has no SQLite connection to the file, so closing
	// the descriptor releases nothing of SQLite's.
	defer f.Close()
	const pendingByte = 0x40000000
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0, Start: pendingByte + 2, Len: 510}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_GETLK, &lk); err != nil {
		t.Fatalf("F_GETLK: %v", err)
	}
	return lk.Type == syscall.F_RDLCK
}
