package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The database holds the directory's personal data, so scimd creates it,
// and everything copied from it, readable by its owner only, whatever the
// umask: the database file 0600 (SQLite gives its -wal and -shm the
// database file's mode), backups and exports 0600, folders 0700.
const (
	fileMode = 0o600
	dirMode  = 0o700
)

// createDatabase creates the database file (0600) and any missing folder
// above it (0700) before SQLite opens it. SQLite would create the file with
// 0644 less the umask, and its -wal and -shm with the same mode as the
// file; creating the file first is what makes all three private. An
// existing file is left as it is ('scimd check' reports a loose mode).
func createDatabase(path string) error {
	if _, err := os.Lstat(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return nil // exists, or SQLite will report why it cannot be opened
	}
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := mkdirPrivate(dir); err != nil {
			return fmt.Errorf("store: create the database folder: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, fileMode)
	if errors.Is(err, fs.ErrExist) {
		return nil // another process created it meanwhile
	}
	if err != nil {
		return fmt.Errorf("store: create %s: %w", path, err)
	}
	// The umask applies to OpenFile's mode; Chmod does not heed it.
	err = f.Chmod(fileMode)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// mkdirPrivate creates dir and its missing parents, each 0700 whatever the
// umask.
func mkdirPrivate(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := mkdirPrivate(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, dirMode); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return os.Chmod(dir, dirMode)
}

// createPrivate creates a new file (it must not exist) with mode 0600
// whatever the umask.
func createPrivate(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(fileMode); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return f, nil
}

// realPath resolves symbolic links in path as far as it exists: the whole
// path when it exists, else its folder.
func realPath(path string) string {
	if r, err := filepath.EvalSymlinks(path); err == nil {
		return r
	}
	if r, err := filepath.EvalSymlinks(filepath.Dir(path)); err == nil {
		return filepath.Join(r, filepath.Base(path))
	}
	return path
}

// ServerLock is held by the one "scimd serve" that uses a database. It is
// an flock(2) on "<database>.lock", which holds the holder's PID for the
// error message of the next server. The kernel releases an flock when its
// process ends, however it ends, so a server killed with SIGKILL leaves a
// file but no lock: the next server starts without anyone deleting it.
// Admin commands take no lock; SQLite's own locking keeps them safe beside
// the server.
type ServerLock struct {
	f *os.File
}

// LockedError says that another process holds a database's server lock.
type LockedError struct {
	Database string
	LockFile string
	PID      int // 0 when the holder has not written it yet
}

func (e *LockedError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = "another scimd serve (pid " + strconv.Itoa(e.PID) + ")"
	}
	return fmt.Sprintf("the database %s is in use by %s, which holds %s: only one scimd serve may use a database; stop it first (admin commands work beside it)",
		e.Database, who, e.LockFile)
}

// LockServer takes the server lock of the database at path, or returns a
// *LockedError naming the holder. The lock file sits beside the real
// database file (symbolic links resolved), so two paths to one database
// share one lock.
func LockServer(path string) (*ServerLock, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if err := createDatabase(abs); err != nil {
		return nil, err
	}
	name := realPath(abs) + ".lock"
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, fileMode)
	if err != nil {
		return nil, fmt.Errorf("store: open the server lock %s: %w", name, err)
	}
	if held, err := tryLock(f); err != nil || held {
		defer f.Close()
		if held {
			b := make([]byte, 32)
			n, _ := f.ReadAt(b, 0)
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b[:n])))
			return nil, &LockedError{Database: abs, LockFile: name, PID: pid}
		}
		return nil, fmt.Errorf("store: lock %s: %w", name, err)
	}
	f.Chmod(fileMode)
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &ServerLock{f: f}, nil
}

// Release gives the lock up. The file stays (deleting a lock file others
// may have open races with them); only the PID is cleared.
func (l *ServerLock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	l.f.Truncate(0)
	err := l.f.Close() // closing the last descriptor releases the flock
	l.f = nil
	return err
}
