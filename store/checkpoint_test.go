package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// walState reads, from the WAL-index in the -shm file, how many frames the
// WAL holds (mxFrame, in the index header) and how many of them have been
// copied back into the database (nBackfill, in the checkpoint info that
// follows the two header copies); SQLite's file format, "The WAL-Index
// Format". Both are native-endian 32-bit integers.
func walState(t *testing.T, path string) (mxFrame, backfilled uint32) {
	t.Helper()
	b, err := os.ReadFile(path + "-shm")
	if err != nil || len(b) < 100 {
		t.Fatalf("read -shm: %v (%d bytes)", err, len(b))
	}
	return binary.NativeEndian.Uint32(b[16:20]), binary.NativeEndian.Uint32(b[96:100])
}

// TestIdleWriterCheckpointsWAL: once writes pause, the writer copies the
// WAL back into the database file, so that reads no longer look pages up
// in the WAL. SQLite alone would leave a few hundred frames there until
// the WAL reached 1000 pages.
func TestIdleWriterCheckpointsWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	s := openWith(t, path, nil, Options{})
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		if _, err := s.Create(ctx, Actor{}, Users, map[string]any{"userName": fmt.Sprintf("ckpt%02d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if mx, done := walState(t, path); mx == 0 || done == mx {
		t.Fatalf("right after the writes: %d frames, %d copied back; want frames not yet copied", mx, done)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mx, done := walState(t, path)
		if mx > 0 && done == mx {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writer idle for 5 s: %d frames in the WAL, %d copied back; want all", mx, done)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The data is all there, read through a fresh connection.
	if n, _, err := s.List(ctx, Users, Query{StartIndex: 1, Count: 100}); err != nil || n != 50 {
		t.Fatalf("after the checkpoint: %d users, %v; want 50", n, err)
	}
}
