//go:build !unix

package store

import "os"

// tryLock cannot lock on systems without flock(2): scimd is deployed on
// Linux (README, "Install on a VPS"); elsewhere it builds and runs, and
// only the one-server-per-database guard is missing.
func tryLock(f *os.File) (held bool, err error) { return false, nil }
