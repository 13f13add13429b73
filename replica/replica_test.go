package replica_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"scimd/replica"
	"scimd/store"
)

func fileConfig(t *testing.T, interval time.Duration) replica.Config {
	return replica.Config{URL: "file://" + filepath.Join(t.TempDir(), "replica"), SyncInterval: interval, Retention: 168 * time.Hour}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// waitSynced waits until the replica holds everything written before now.
func waitSynced(t *testing.T, rep *replica.Replicator) {
	t.Helper()
	since := time.Now()
	for deadline := since.Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st := rep.Status()
		if st.LastSync.After(since) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no sync within 30s: %+v", st)
		}
	}
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// TestCheckpointsKeepWALBounded writes six times what Litestream lets the
// WAL hold before it checkpoints (1000 pages, 4 MB), with SQLite's own
// autocheckpoint off as serve runs it: the WAL must stay bounded (the
// changes reach the database file while writes go on) and the replica must
// hold every write.
func TestCheckpointsKeepWALBounded(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "scimd.db")
	st, err := store.Open(db, store.Options{NoAutoCheckpoint: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg := fileConfig(t, 200*time.Millisecond)
	rep, err := replica.Start(db, cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	const users, perBurst, writers = 3200, 400, 8
	pad := strings.Repeat("x", 8000) // 24 MB of user data in all
	var maxWAL atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			n := fileSize(db + "-wal")
			if n > maxWAL.Load() {
				maxWAL.Store(n)
			}
			if os.Getenv("WALTRACE") != "" {
				fmt.Println(time.Now().Format("05.000"), n>>20, fileSize(db)>>20)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	// Bursts of 3.2 MB as fast as the writer goes, each followed by a
	// pause longer than Litestream's one-second staging interval: a WAL
	// that is checkpointed and restarted between bursts stays near one
	// burst's size however many there are; one that is not grows by a
	// burst each time.
	var firstWAL int64
	for burst := 0; burst < users/perBurst; burst++ {
		var wg sync.WaitGroup
		var failed atomic.Value
		for w := 0; w < writers; w++ {
			wg.Go(func() {
				for i := burst*perBurst + w; i < (burst+1)*perBurst; i += writers {
					doc := map[string]any{"userName": fmt.Sprintf("u%05d", i), "title": pad}
					if _, err := st.Create(context.Background(), store.Actor{}, store.Users, doc); err != nil {
						failed.Store(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if err, _ := failed.Load().(error); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond)
		if burst == 0 {
			firstWAL = maxWAL.Load()
		}
	}
	waitSynced(t, rep)
	close(stop)
	<-sampled
	dbBytes := fileSize(db)
	t.Logf("wrote %d users (%d MB of values): WAL %.1f MB after the first burst, at most %.1f MB; database file %.1f MB", users, users*len(pad)>>20,
		float64(firstWAL)/1e6, float64(maxWAL.Load())/1e6, float64(dbBytes)/1e6)
	if dbBytes < 20<<20 {
		t.Errorf("database file is %d bytes after 24 MB of writes: the WAL was not checkpointed into it", dbBytes)
	}
	// The eight bursts put about 100 MB of frames through the WAL (the
	// first alone about 10 MB): a WAL never checkpointed grows to that size
	// (measured: 101 MB). Bounded means within a few of Litestream's 4 MB
	// checkpoint thresholds, however many bursts there are.
	if m := maxWAL.Load(); m > 20<<20 {
		t.Errorf("WAL grew to %.1f MB after eight bursts (%.1f MB after the first): it is not reused after checkpoints",
			float64(m)/1e6, float64(firstWAL)/1e6)
	}
	if err := rep.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	restored := filepath.Join(dir, "restored.db")
	if _, err := replica.Restore(context.Background(), cfg, restored, time.Time{}, quiet()); err != nil {
		t.Fatal(err)
	}
	rs, err := store.Open(restored, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	stats, err := rs.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := stats.UsersActive + stats.UsersInactive; got != users {
		t.Errorf("the replica holds %d users, want %d", got, users)
	}
}

// hostKey is an SSH public key in authorized_keys form (ssh_host_key).
const hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"

func TestValidateAndRedact(t *testing.T) {
	ok := replica.Config{SyncInterval: time.Second, Retention: 168 * time.Hour}
	for _, tc := range []struct {
		name string
		c    replica.Config
		want string // "" for valid
	}{
		{"s3", replica.Config{URL: "s3://bucket/path"}, ""},
		{"s3 endpoint", replica.Config{URL: "s3://bucket", Endpoint: "http://127.0.0.1:9000", Region: "eu", AccessKeyID: "AK"}, ""},
		{"s3 no bucket", replica.Config{URL: "s3:///path"}, "names no bucket"},
		{"s3 password", replica.Config{URL: "s3://AK:SECRET@bucket/path"}, "carries a password"},
		{"file", replica.Config{URL: "file:///var/backups/scimd"}, ""},
		{"file relative", replica.Config{URL: "file://relative/path"}, "ABSOLUTE"},
		{"file endpoint", replica.Config{URL: "file:///abs", Endpoint: "http://x"}, "endpoint does not apply to file://"},
		{"abs", replica.Config{URL: "abs://account@container/scimd"}, ""},
		{"abs endpoint", replica.Config{URL: "abs://container/scimd", Endpoint: "http://127.0.0.1:10000/devstoreaccount1"}, ""},
		{"abs no account", replica.Config{URL: "abs://container/scimd"}, "names no storage account"},
		{"abs no container", replica.Config{URL: "abs://account@/scimd"}, "names no container"},
		{"abs password", replica.Config{URL: "abs://account:KEY@container/scimd"}, "carries a password"},
		{"abs access key", replica.Config{URL: "abs://account@container/scimd", AccessKeyID: "AK"}, "access_key_id does not apply to abs://"},
		{"oss", replica.Config{URL: "oss://bucket.oss-eu-central-1.aliyuncs.com/scimd", AccessKeyID: "AK"}, ""},
		{"oss region", replica.Config{URL: "oss://bucket/scimd", Region: "eu-central-1"}, ""},
		{"oss no bucket", replica.Config{URL: "oss:///scimd"}, "names no bucket"},
		{"sftp", replica.Config{URL: "sftp://backup@host:2222/scimd", SSHKeyFile: "/etc/scimd/id_ed25519", SSHHostKey: hostKey}, ""},
		{"sftp no user", replica.Config{URL: "sftp://host/scimd", SSHHostKey: hostKey}, "names no user"},
		{"sftp no host", replica.Config{URL: "sftp:///scimd", SSHHostKey: hostKey}, "names no host"},
		{"sftp password", replica.Config{URL: "sftp://backup:pw@host/scimd", SSHHostKey: hostKey}, "carries a password"},
		{"sftp no host key", replica.Config{URL: "sftp://backup@host/scimd"}, "needs ssh_host_key"},
		{"sftp bad host key", replica.Config{URL: "sftp://backup@host/scimd", SSHHostKey: "not a key"}, "ssh_host_key"},
		{"webdav", replica.Config{URL: "webdav://backup@dav.lan/scimd"}, ""},
		{"webdavs", replica.Config{URL: "webdavs://dav.example.org/remote.php/dav/files/backup/scimd"}, ""},
		{"webdav password", replica.Config{URL: "webdavs://backup:pw@dav.example.org/scimd"}, "carries a password"},
		{"webdav empty password", replica.Config{URL: "webdavs://backup:@dav.example.org/scimd"}, "carries a password"},
		{"webdav no host", replica.Config{URL: "webdav:///scimd"}, "names no host"},
		{"webdav ssh key", replica.Config{URL: "webdav://dav.lan/scimd", SSHKeyFile: "/k"}, "ssh_key_file does not apply to webdav://"},
		{"nats", replica.Config{URL: "nats://backup@nats.lan:4222/scimd"}, ""},
		{"nats no bucket", replica.Config{URL: "nats://nats.lan:4222/"}, "names no object store bucket"},
		{"nats password", replica.Config{URL: "nats://backup:pw@nats.lan/scimd"}, "carries a password"},
		{"gs", replica.Config{URL: "gs://bucket/path"}, "scheme must be one of s3:// file://"},
		{"ftp", replica.Config{URL: "ftp://host/path"}, "scheme must be one of"},
		{"not a url", replica.Config{URL: "not a url\x7f"}, "url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			c.SyncInterval, c.Retention = ok.SyncInterval, ok.Retention
			err := c.Validate()
			if tc.want == "" && err != nil {
				t.Fatalf("got %v, want no error", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "pw@") || err != nil && strings.Contains(err.Error(), "SECRET") || err != nil && strings.Contains(err.Error(), "KEY@") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
	c := ok
	c.URL = "s3://b/p"
	c.SyncInterval = 0
	if err := c.Validate(); err == nil {
		t.Error("sync_interval 0 accepted")
	}
	for in, want := range map[string]string{
		"s3://b/p?endpoint=x&secretAccessKey=abc": "s3://b/p?endpoint=x&secretAccessKey=REDACTED",
		"s3://b/p":                                                  "s3://b/p",
		"abs://account:KEY@container/p":                             "abs://container/p",
		"abs://account@container/p?sasToken=sv%3D1":                 "abs://container/p?sasToken=REDACTED",
		"oss://b.oss-eu-central-1.aliyuncs.com/p?accessKeySecret=x": "oss://b.oss-eu-central-1.aliyuncs.com/p?accessKeySecret=REDACTED",
		"sftp://user:pw@host/path":                                  "sftp://host/path",
		"webdavs://user:pw@dav.example.org/p":                       "webdavs://dav.example.org/p",
		"webdav://user@dav.lan/p?password=pw":                       "webdav://dav.lan/p?password=REDACTED",
		"nats://user:pw@nats.lan:4222/b?token=t":                    "nats://nats.lan:4222/b?token=REDACTED",
	} {
		if got := replica.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
