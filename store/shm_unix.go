//go:build unix

package store

import (
	"os"
	"syscall"
)

// mapShm maps the first page of the -shm file read-only, so that the
// WAL-index header is read from memory, without a system call, on every
// request (the token cache and lookup snapshots each check it); nil when
// the file is not yet that long. The file never shrinks while a
// connection of this store has the database open (SQLite truncates it only
// when the first connection opens it), and copyHeader survives a fault.
func mapShm(f *os.File) []byte {
	n := os.Getpagesize()
	if fi, err := f.Stat(); err != nil || fi.Size() < int64(n) {
		return nil
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, n, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil
	}
	return b
}

func unmapShm(b []byte) { syscall.Munmap(b) }
