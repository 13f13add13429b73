//go:build !unix

package store

import "os"

// mapShm maps nothing where syscall.Mmap is missing: the header is read
// with ReadAt.
func mapShm(f *os.File) []byte { return nil }

func unmapShm(b []byte) {}
