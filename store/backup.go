package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrBackupExists is returned when a backup's destination already exists
// and overwriting was not asked for.
var ErrBackupExists = errors.New("the destination already exists")

// BackupInfo describes a verified backup.
type BackupInfo struct {
	Path          string
	Bytes         int64
	Users, Groups int64
	SchemaVersion int
}

// Backup writes a consistent copy of the database to dest while the server
// keeps running. VACUUM INTO reads one committed snapshot (WAL lets the
// server write meanwhile) into a temporary file beside dest; the copy is
// switched to a single-file journal mode, checked with PRAGMA
// integrity_check, synced, and only then moved to dest, so dest is either
// absent or a complete, verified database. Without overwrite an existing
// dest is ErrBackupExists. dest must pass CheckDestination: a regular file
// or nothing, and never the live database by any path.
func (s *Store) Backup(ctx context.Context, dest string, overwrite bool) (*BackupInfo, error) {
	if err := s.CheckDestination(dest); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	abs, err := filepath.Abs(dest)
	if err != nil {
		return nil, err
	}
	if _, err := os.Lstat(abs); err == nil && !overwrite {
		return nil, ErrBackupExists
	}
	tmp, info, err := s.snapshot(ctx, filepath.Dir(abs), filepath.Base(abs))
	if err != nil {
		return nil, err
	}
	defer removeCopy(tmp)
	// The copy took a while: look at the destination again just before
	// replacing it, so what it is now is what was checked.
	if err := s.CheckDestination(dest); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if overwrite {
		err = os.Rename(tmp, abs)
	} else {
		// A hard link never replaces an existing file, so a destination
		// created meanwhile is not clobbered.
		err = os.Link(tmp, abs)
		if errors.Is(err, os.ErrExist) {
			return nil, ErrBackupExists
		}
		if err != nil { // file systems without hard links
			if _, serr := os.Lstat(abs); serr == nil {
				return nil, ErrBackupExists
			}
			err = os.Rename(tmp, abs)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("backup: move the copy to %s: %w", dest, err)
	}
	syncFile(filepath.Dir(abs))
	info.Path = abs
	if fi, err := os.Stat(abs); err == nil {
		info.Bytes = fi.Size()
	}
	return info, nil
}

// BackupTo writes a verified copy of the database to w (the CLI's stdout),
// made in a temporary file beside the database.
func (s *Store) BackupTo(ctx context.Context, w io.Writer) (*BackupInfo, error) {
	tmp, info, err := s.snapshot(ctx, filepath.Dir(s.path), filepath.Base(s.path)+"-backup")
	if err != nil {
		return nil, err
	}
	defer removeCopy(tmp)
	f, err := os.Open(tmp)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	n, err := io.Copy(w, f)
	if err != nil {
		return nil, fmt.Errorf("backup: writing to stdout: %w", err)
	}
	info.Path, info.Bytes = "-", n
	return info, nil
}

func removeCopy(tmp string) {
	for _, p := range []string{tmp, tmp + "-journal", tmp + "-wal", tmp + "-shm"} {
		os.Remove(p)
	}
}

// snapshot writes a verified, synced, 0600 copy of the database to a new
// temporary file in dir and returns its name. The file is created (empty,
// 0600) before SQLite writes into it, so the copy is never readable by
// others, whatever the umask, not even while it is written. Errors say
// whether the destination or the database failed.
func (s *Store) snapshot(ctx context.Context, dir, base string) (string, *BackupInfo, error) {
	var rnd [6]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(dir, "."+base+".tmp-"+hex.EncodeToString(rnd[:]))
	f, err := createPrivate(tmp)
	if err != nil {
		return "", nil, fmt.Errorf("backup: cannot create a file in %s: %w", dir, errors.Unwrap(err))
	}
	f.Close()
	src, err := sql.Open("sqlite", "file:"+(&url.URL{Path: s.path}).EscapedPath()+"?_pragma=busy_timeout(10000)")
	if err != nil {
		removeCopy(tmp)
		return "", nil, err
	}
	src.SetMaxOpenConns(1)
	_, err = src.ExecContext(ctx, `VACUUM INTO ?`, tmp)
	src.Close()
	if err != nil {
		removeCopy(tmp)
		return "", nil, copyError(dir, err)
	}
	info, err := verifyCopy(ctx, tmp)
	if err != nil {
		removeCopy(tmp)
		return "", nil, err
	}
	if want, err := s.SchemaVersion(ctx); err == nil && want != info.SchemaVersion {
		removeCopy(tmp)
		return "", nil, fmt.Errorf("backup: the copy has schema version %d, the database %d", info.SchemaVersion, want)
	}
	// The copy holds the whole directory: readable by its owner only.
	if err := os.Chmod(tmp, fileMode); err != nil {
		removeCopy(tmp)
		return "", nil, fmt.Errorf("backup: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		removeCopy(tmp)
		return "", nil, fmt.Errorf("backup: writing the copy in %s: %w", dir, err)
	}
	return tmp, info, nil
}

// copyError words a failed VACUUM INTO: most codes mean the destination's
// file system failed (full, read-only, I/O error), and SQLite's own words
// for them ("database or disk is full") would send the operator to the
// database; corruption is the database's.
func copyError(dir string, err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("backup: copying the database: %w", err)
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
		return fmt.Errorf("backup: reading the database failed: %v (run 'scimd check')", err)
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_INTERRUPT:
		return fmt.Errorf("backup: the database was busy: %v; try again", err)
	case sqlite3.SQLITE_FULL:
		return fmt.Errorf("backup: the file system of %s is full; the database is not affected", dir)
	case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM:
		return fmt.Errorf("backup: %s is not writable; the database is not affected", dir)
	case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN:
		return fmt.Errorf("backup: writing the copy in %s failed (I/O error, code %d); the database is not affected", dir, se.Code())
	}
	return fmt.Errorf("backup: writing the copy in %s failed: %v", dir, err)
}

// verifyCopy makes the copy a self-contained rollback-journal database and
// runs the full integrity check on it.
func verifyCopy(ctx context.Context, path string) (*BackupInfo, error) {
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath())
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var mode string
	if err := db.QueryRowContext(ctx, `PRAGMA journal_mode = DELETE`).Scan(&mode); err != nil {
		return nil, fmt.Errorf("backup: open the copy: %w", err)
	}
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return nil, fmt.Errorf("backup: integrity check: %w", err)
	}
	var problems []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			rows.Close()
			return nil, err
		}
		if r != "ok" {
			problems = append(problems, r)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("backup: integrity check: %w", err)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("backup: the copy failed its integrity check (%d problems, first: %s); the destination was not written", len(problems), problems[0])
	}
	info := &BackupInfo{}
	if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&info.SchemaVersion); err != nil {
		return nil, err
	}
	if err := db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM groups)`).Scan(&info.Users, &info.Groups); err != nil {
		return nil, fmt.Errorf("backup: read the copy: %w", err)
	}
	return info, nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
