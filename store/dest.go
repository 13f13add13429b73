package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DestinationError says why a backup or export cannot be written to a
// path. Its message is about the destination only: nothing is wrong with
// the database.
type DestinationError struct {
	Path    string
	Problem string
}

func (e *DestinationError) Error() string { return e.Path + " " + e.Problem }

// CheckDestination refuses a path that a backup or an export must not
// write to. They write only regular files (created, or replaced by a
// rename once complete), so the destination must be absent or a regular
// file, never:
//   - a symbolic link: the rename would replace the link, not what it
//     points at, and following it would write wherever it points;
//   - a device, a named pipe or a socket: a rename as root would replace
//     /dev/null with a file, and a pipe would get no atomic replacement;
//   - a folder;
//   - the live database or its -wal, -shm or -journal, compared by file
//     identity (os.SameFile: device and inode), so a symlinked folder or a
//     hard link that reaches the database is caught, and by resolved path
//     for companions that do not exist at this moment.
func (s *Store) CheckDestination(dest string) error {
	abs, err := filepath.Abs(dest)
	if err != nil {
		return &DestinationError{Path: dest, Problem: "is not a usable path: " + err.Error()}
	}
	dir := filepath.Dir(abs)
	di, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &DestinationError{Path: dest, Problem: "cannot be written: its folder " + dir + " does not exist"}
	case err != nil:
		return &DestinationError{Path: dest, Problem: "cannot be written: " + err.Error()}
	case !di.IsDir():
		return &DestinationError{Path: dest, Problem: "cannot be written: " + dir + " is not a folder"}
	}
	live := s.liveFiles()
	fi, err := os.Lstat(abs)
	if errors.Is(err, fs.ErrNotExist) {
		real := realPath(abs)
		for _, l := range live {
			if real == realPath(l) {
				return &DestinationError{Path: dest, Problem: "is where the live " + liveRole(s.path, l) + " belongs (" + l + "); choose another destination"}
			}
		}
		return nil
	}
	if err != nil {
		return &DestinationError{Path: dest, Problem: "cannot be examined: " + err.Error()}
	}
	if fi.IsDir() {
		return &DestinationError{Path: dest, Problem: "is a folder: name the file to write in it, e.g. " + filepath.Join(dest, "scimd-backup.db")}
	}
	if p := notRegular(fi.Mode()); p != "" {
		return &DestinationError{Path: dest, Problem: p}
	}
	for _, l := range live {
		if li, err := os.Stat(l); err == nil && os.SameFile(fi, li) {
			return &DestinationError{Path: dest, Problem: "is the live " + liveRole(s.path, l) + " (the same file as " + l + "); choose another destination"}
		}
	}
	return nil
}

// liveFiles are the database file and the companions SQLite keeps beside
// it.
func (s *Store) liveFiles() []string {
	return []string{s.path, s.path + "-wal", s.path + "-shm", s.path + "-journal", realPath(s.path) + ".lock"}
}

func liveRole(db, p string) string {
	switch {
	case p == db:
		return "database"
	case p == db+"-wal":
		return "database's write-ahead log"
	case p == db+"-shm":
		return "database's shared-memory index"
	case p == db+"-journal":
		return "database's rollback journal"
	}
	return "database's server lock"
}

// notRegular says what a file that is not a regular file is, or "".
func notRegular(m fs.FileMode) string {
	const only = ": backups and exports are written only to regular files (or to stdout with -)"
	switch {
	case m.IsRegular():
		return ""
	case m&fs.ModeSymlink != 0:
		return "is a symbolic link" + only + "; give the path of the file itself"
	case m&fs.ModeCharDevice != 0:
		return "is a character device" + only
	case m&fs.ModeDevice != 0:
		return "is a block device" + only
	case m&fs.ModeNamedPipe != 0:
		return "is a named pipe (FIFO)" + only
	case m&fs.ModeSocket != 0:
		return "is a socket" + only
	}
	return fmt.Sprintf("is not a regular file (%v)%s", m.Type(), only)
}
