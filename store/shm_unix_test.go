//go:build unix

package store

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMappedHeaderSurvivesTruncation: reading the mapped -shm header after
// the file shrank under the mapping reports failure instead of crashing
// the server (SIGBUS).
func TestMappedHeaderSurvivesTruncation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x-shm")
	want := make([]byte, 2*os.Getpagesize())
	for i := range want {
		want[i] = byte(i)
	}
	if err := os.WriteFile(path, want, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := mapShm(f)
	if m == nil {
		t.Fatal("mapShm: nil for a file longer than a page")
	}
	defer unmapShm(m)
	var hdr [48]byte
	if !copyHeader(&hdr, m) || string(hdr[:]) != string(want[:48]) {
		t.Fatalf("copyHeader: %v, want the file's first 48 bytes", hdr)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	if copyHeader(&hdr, m) {
		t.Error("copyHeader after truncation: true, want false")
	}
}
