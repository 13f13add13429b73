package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
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
// dest is ErrBackupExists.
func (s *Store) Backup(ctx context.Context, dest string, overwrite bool) (*BackupInfo, error) {
	abs, err := filepath.Abs(dest)
	if err != nil {
		return nil, err
	}
	if abs == s.path || abs == s.path+"-wal" || abs == s.path+"-shm" {
		return nil, fmt.Errorf("backup: %s is the live database; choose another destination", dest)
	}
	if fi, err := os.Stat(abs); err == nil {
		if fi.IsDir() {
			return nil, fmt.Errorf("backup: %s is a directory; name the backup file, e.g. %s", dest, filepath.Join(dest, "scimd.db"))
		}
		if !overwrite {
			return nil, ErrBackupExists
		}
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(filepath.Dir(abs), "."+filepath.Base(abs)+".tmp-"+hex.EncodeToString(rnd[:]))
	defer func() {
		for _, p := range []string{tmp, tmp + "-journal", tmp + "-wal", tmp + "-shm"} {
			os.Remove(p)
		}
	}()

	src, err := sql.Open("sqlite", "file:"+(&url.URL{Path: s.path}).EscapedPath()+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, err
	}
	src.SetMaxOpenConns(1)
	_, err = src.ExecContext(ctx, `VACUUM INTO ?`, tmp)
	src.Close()
	if err != nil {
		return nil, fmt.Errorf("backup: copy to %s: %w", filepath.Dir(abs), classify(err))
	}

	info, err := verifyCopy(ctx, tmp)
	if err != nil {
		return nil, err
	}
	if want, err := s.SchemaVersion(ctx); err == nil && want != info.SchemaVersion {
		return nil, fmt.Errorf("backup: the copy has schema version %d, the database %d", info.SchemaVersion, want)
	}
	// The copy holds the whole directory: readable by its owner only.
	if err := os.Chmod(tmp, 0o600); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := syncFile(tmp); err != nil {
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
			if _, serr := os.Stat(abs); serr == nil {
				return nil, ErrBackupExists
			}
			err = os.Rename(tmp, abs)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	syncFile(filepath.Dir(abs))
	info.Path = abs
	if fi, err := os.Stat(abs); err == nil {
		info.Bytes = fi.Size()
	}
	return info, nil
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
