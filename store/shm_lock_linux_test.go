//go:build linux

package store

import (
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// fOFDGetLK is F_OFD_GETLK (linux/fcntl.h). An open file description lock
// query conflicts with POSIX record locks even of the same process, so it
// shows this process the locks SQLite holds.
const fOFDGetLK = 36

// shmDMS is the byte of the -shm file on which every process that has the
// WAL-index open holds a shared lock (SQLite's os_unix.c, UNIX_SHM_DMS).
const shmDMS = 128

// dmsHeld reports whether a shared lock is held on the DMS byte, asked
// through probe, a descriptor of the -shm the caller keeps open.
func dmsHeld(t *testing.T, probe *os.File) bool {
	t.Helper()
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0, Start: shmDMS, Len: 1}
	if err := syscall.FcntlFlock(probe.Fd(), fOFDGetLK, &lk); err != nil {
		t.Fatalf("F_OFD_GETLK: %v", err)
	}
	return lk.Type != syscall.F_UNLCK
}

// TestShmLocksSurviveFirstReads: many requests reading the WAL-index
// header at once, the first thing a started server does, leave SQLite's
// locks on the -shm in place. When two of them each opened the file and
// one closed its copy, the close released every POSIX lock of the process
// on it; the next process to open the database (scimd status, say) then
// truncated the -shm under the server, whose writes then failed with
// SQLITE_IOERR_IN_PAGE. The race needs two first callers to meet, so the
// test starts fresh stores until it has given it many chances.
func TestShmLocksSurviveFirstReads(t *testing.T) {
	for round := range 40 {
		path := filepath.Join(t.TempDir(), "scimd.db")
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		probe, err := os.Open(path + "-shm")
		if err != nil {
			t.Fatal(err)
		}
		if !dmsHeld(t, probe) {
			t.Fatal("SQLite holds no lock on the -shm's DMS byte after Open: the probe proves nothing")
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				<-start
				var hdr [48]byte
				s.walHeader(&hdr)
			})
		}
		close(start)
		wg.Wait()
		held := dmsHeld(t, probe)
		s.Close()
		// Only now: closing the probe releases this process's locks too.
		probe.Close()
		if !held {
			t.Fatalf("round %d: after concurrent first reads of the WAL-index header, SQLite's lock on the -shm is gone", round)
		}
	}
}
