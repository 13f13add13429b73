package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"scimd/scim"
)

// lookup is Entra's matching query, through the lookup path of listPage.
func lookup(t *testing.T, s *Store, userName string) *Resource {
	t.Helper()
	f, err := scim.ParseFilter(`userName eq "`+userName+`"`, scim.FilterLimits{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.ListPage(context.Background(), Users, Query{Filter: f, StartIndex: 1, Count: 100, WithRefs: true})
	if err != nil {
		t.Fatalf("lookup %q: %v", userName, err)
	}
	switch len(p.Resources) {
	case 0:
		return nil
	case 1:
		return p.Resources[0]
	}
	t.Fatalf("lookup %q: %d users", userName, len(p.Resources))
	return nil
}

// snapsOpen counts the idle lookup connections holding a snapshot.
func snapsOpen(s *Store) (n int, began []time.Time) {
	s.snaps.mu.Lock()
	defer s.snaps.mu.Unlock()
	for _, sc := range s.snaps.idle {
		if sc.inTx {
			n++
			began = append(began, sc.began)
		}
	}
	return n, began
}

func TestLookupReusesSnapshotUntilAWrite(t *testing.T) {
	s := openTestStore(t, nil)
	create(t, s, Users, `{"userName":"ann","displayName":"Ann"}`)
	lookup(t, s, "ann")
	n, began := snapsOpen(s)
	if n != 1 {
		t.Fatalf("after a lookup: %d snapshots kept, want 1", n)
	}
	lookup(t, s, "ann")
	if _, again := snapsOpen(s); !slices.Equal(again, began) {
		t.Errorf("second lookup began a new snapshot (%v, first %v); want the first one reused", again, began)
	}
	// A write acknowledged in this process: the next lookup sees it.
	r := lookup(t, s, "ann")
	if _, err := s.Replace(context.Background(), Actor{Token: "test", IDP: "generic"}, Users, r.ID, map[string]any{"userName": "ann", "displayName": "Ann B"}, ""); err != nil {
		t.Fatal(err)
	}
	if got := lookup(t, s, "ann").Doc["displayName"]; got != "Ann B" {
		t.Errorf("lookup right after the write: displayName %v, want %q", got, "Ann B")
	}
	create(t, s, Users, `{"userName":"bob"}`)
	if lookup(t, s, "bob") == nil {
		t.Error("lookup right after the create: not found")
	}
}

// TestLookupSeesOtherProcessWrites: another process (here a second Store
// on the same file, with its own write counter) writes while this one
// holds a snapshot; the next lookup sees it, through the WAL-index header.
func TestLookupSeesOtherProcessWrites(t *testing.T) {
	s := openTestStore(t, nil)
	create(t, s, Users, `{"userName":"ann"}`)
	other, err := Open(s.Path(), Options{Catalog: s.Catalog()})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for i, name := range []string{"bob", "cid", "dee"} {
		if lookup(t, s, "ann") == nil {
			t.Fatal("ann not found")
		}
		if n, _ := snapsOpen(s); n == 0 {
			t.Fatal("no snapshot kept: the test would prove nothing")
		}
		create(t, other, Users, `{"userName":"`+name+`"}`)
		if lookup(t, s, name) == nil {
			t.Errorf("write %d: %s, created by another process, not found by the next lookup", i, name)
		}
	}
}

// TestIdleSnapshotsEnd: once lookups pause, no snapshot holds the WAL, so
// a TRUNCATE checkpoint (the replicator's, or another process's) empties
// it without waiting.
func TestIdleSnapshotsEnd(t *testing.T) {
	s := openTestStore(t, nil)
	create(t, s, Users, `{"userName":"ann"}`)
	lookup(t, s, "ann") // a snapshot with the WAL's frames
	create(t, s, Users, `{"userName":"bob"}`)
	time.Sleep(3 * snapIdle)
	if n, _ := snapsOpen(s); n != 0 {
		t.Errorf("%d snapshots still open %s after the last lookup", n, 3*snapIdle)
	}
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: s.Path()}).EscapedPath()+"?_pragma=busy_timeout(100)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var busy, log, done int
	if err := db.QueryRow("PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &log, &done); err != nil {
		t.Fatal(err)
	}
	if busy != 0 {
		t.Errorf("wal_checkpoint(TRUNCATE) was blocked by a reader (busy %d, log %d, checkpointed %d)", busy, log, done)
	}
	if fi, err := os.Stat(s.Path() + "-wal"); err != nil || fi.Size() != 0 {
		t.Errorf("WAL after the checkpoint: %v, %v; want empty", fi.Size(), err)
	}
	if lookup(t, s, "bob") == nil {
		t.Error("bob not found after the checkpoint")
	}
}

// TestLookupReadsOwnWritesUnderLoad: while other clients keep every lookup
// connection busy with snapshots, each write is seen by the lookup that
// follows its acknowledgement.
func TestLookupReadsOwnWritesUnderLoad(t *testing.T) {
	s := openTestStore(t, nil)
	id := create(t, s, Users, `{"userName":"ann","displayName":"v0"}`).ID
	create(t, s, Users, `{"userName":"bob"}`)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 * s.snaps.max {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				lookup(t, s, "bob")
			}
		})
	}
	for i := 1; i <= 50; i++ {
		want := fmt.Sprintf("v%d", i)
		if _, err := s.Replace(context.Background(), Actor{Token: "test", IDP: "generic"}, Users, id, map[string]any{"userName": "ann", "displayName": want}, ""); err != nil {
			t.Fatal(err)
		}
		if got := lookup(t, s, "ann").Doc["displayName"]; got != want {
			t.Errorf("write %d: lookup after it has displayName %v, want %q", i, got, want)
		}
	}
	close(stop)
	wg.Wait()
}
