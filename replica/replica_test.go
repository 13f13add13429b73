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

func TestValidateAndRedact(t *testing.T) {
	ok := replica.Config{SyncInterval: time.Second, Retention: 168 * time.Hour}
	for _, tc := range []struct {
		url, endpoint, want string
	}{
		{"s3://bucket/path", "", ""},
		{"s3://bucket", "http://127.0.0.1:9000", ""},
		{"file:///var/backups/scimd", "", ""},
		{"s3:///path", "", "names no bucket"},
		{"file://relative/path", "", "ABSOLUTE"},
		{"file:///abs", "http://x", "s3:// URLs only"},
		{"gs://bucket/path", "", "scheme must be one of s3:// file://"},
		{"not a url\x7f", "", "url"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			c := ok
			c.URL, c.Endpoint = tc.url, tc.endpoint
			err := c.Validate()
			if tc.want == "" && err != nil {
				t.Fatalf("got %v, want no error", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
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
		"sftp://user:pw@host/path":                "sftp://host/path",
		"s3://b/p?endpoint=x&secretAccessKey=abc": "s3://b/p?endpoint=x&secretAccessKey=REDACTED",
		"s3://b/p": "s3://b/p",
	} {
		if got := replica.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
