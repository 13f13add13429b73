package store

import (
	"context"
	"crypto/sha256"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// authCache remembers tokens that authenticated, so a read-heavy sync does
// not query the tokens table on every request. It stays exact: entries are
// valid only while the database's committed state is unchanged (see
// fileFingerprint), and every commit by any process, including
// 'scimd token revoke' from the CLI, changes it. Entries also expire
// after maxAuthAge as a safety net.
type authCache struct {
	mu      sync.Mutex
	fp      fileFingerprint
	checked time.Time
	m       map[[32]byte]*Token
	shm     atomic.Pointer[os.File] // the database's -shm file, opened on first use
	shmMem  atomic.Pointer[[]byte]  // its first page, mapped (shm_unix.go)
	shmOpen sync.Mutex              // one opener: see shmFile
}

const maxAuthAge = time.Second

// fileFingerprint identifies the committed state of the database. Its
// exact part is the WAL-index header: the first 48 bytes of the -shm file,
// which every connection of every process rewrites on each commit (its
// change counter, last frame and salts; SQLite's file format, section
// "The WAL-Index Format"). The file sizes and times stand in only when
// the header cannot be read.
type fileFingerprint struct {
	hdr               [48]byte
	dbSize, walSize   int64
	dbMTime, walMTime int64
}

func (s *Store) fingerprint() fileFingerprint {
	var fp fileFingerprint
	if s.walHeader(&fp.hdr) {
		return fp // exact on its own
	}
	if fi, err := os.Stat(s.path); err == nil {
		fp.dbSize, fp.dbMTime = fi.Size(), fi.ModTime().UnixNano()
	}
	if fi, err := os.Stat(s.path + "-wal"); err == nil {
		fp.walSize, fp.walMTime = fi.Size(), fi.ModTime().UnixNano()
	}
	return fp
}

// shmFile keeps the -shm file open for reading the WAL-index header, and
// maps its first page when it can.
//
// The file is opened once and closed only after SQLite's connections
// (Close). SQLite's locks on the -shm are POSIX record locks, which belong
// to the process, and closing any descriptor of the file releases all of
// them: among them the shared "DMS" lock that tells other processes the
// WAL-index is in use. Without it the next process to open the database
// (scimd status, say) believes itself the only one, truncates the -shm
// and rebuilds it, and this process's mappings past its new end fault:
// every write failed with SQLITE_IOERR_IN_PAGE until the WAL was reset. So
// two first callers must not each open the file and the loser close its
// copy: they take turns.
func (s *Store) shmFile() *os.File {
	if f := s.auth.shm.Load(); f != nil {
		return f
	}
	s.auth.shmOpen.Lock()
	defer s.auth.shmOpen.Unlock()
	if f := s.auth.shm.Load(); f != nil {
		return f
	}
	select {
	case <-s.done: // closed, or closing: nothing may open it again
		return nil
	default:
	}
	f, err := os.Open(s.path + "-shm")
	if err != nil {
		return nil
	}
	if m := mapShm(f); m != nil {
		s.auth.shmMem.Store(&m)
	}
	s.auth.shm.Store(f)
	return f
}

// walHeader reads the WAL-index header (see fileFingerprint) into hdr; false
// when it cannot be read. Read from the mapping, it may be torn by a commit
// writing it at the same moment: then it differs from the header before the
// commit, which only makes a caller start afresh, and a write is
// acknowledged only after its commit has written the header.
func (s *Store) walHeader(hdr *[48]byte) bool {
	f := s.shmFile()
	if f == nil {
		return false
	}
	if m := s.auth.shmMem.Load(); m != nil {
		if copyHeader(hdr, *m) {
			return true
		}
		s.auth.shmMem.Store(nil) // it faulted: read the file from now on
	}
	n, _ := f.ReadAt(hdr[:], 0)
	return n == len(hdr)
}

// copyHeader copies the header from the mapping, turning a fault (the file
// shrunk under the mapping, which SQLite does not do while this store has
// it open) into false instead of a crash.
func copyHeader(hdr *[48]byte, m []byte) (ok bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	copy(hdr[:], m)
	return true
}

// AuthenticateCached is Authenticate with the cache in front. Refusals are
// never cached, so their reasons are always current.
func (s *Store) AuthenticateCached(ctx context.Context, secret string) (*Token, error) {
	key := sha256.Sum256([]byte(secret))
	fp := s.fingerprint()
	now := s.now()
	c := &s.auth
	c.mu.Lock()
	if c.fp != fp || now.Sub(c.checked) > maxAuthAge || c.m == nil {
		c.fp, c.checked, c.m = fp, now, map[[32]byte]*Token{}
	}
	t := c.m[key]
	c.mu.Unlock()
	if t != nil {
		switch t.State(now) {
		case "active", "expiring", "rotating":
			return t, nil
		}
	}
	t, err := s.Authenticate(ctx, secret)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.fp == fp && len(c.m) < 10000 {
		c.m[key] = t
	}
	c.mu.Unlock()
	return t, nil
}
