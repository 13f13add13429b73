package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"scimd/store"
)

// BackupCmd is "scimd backup".
type BackupCmd struct {
	Dest  string `arg:"" help:"The backup file to write (a regular file), or - for stdout."`
	Force bool   `help:"Replace DEST if it exists (only once the new copy has passed its check)."`
}

// Help shows examples.
func (BackupCmd) Help() string {
	return `Writes a consistent copy of the database to DEST while scimd serve keeps running and
writing (SQLite VACUUM INTO reads one committed snapshot). The copy is checked with PRAGMA
integrity_check before it is moved to DEST; DEST is a single self-contained SQLite file.
An existing DEST is refused unless --force. DEST must be a regular file (or absent): a
symbolic link, a device, a pipe, a socket, a folder and the live database itself (by any
path, symlinks and hard links included) are refused. With - the verified copy is written to
stdout (made first in a temporary file beside the database). The copy has mode 0600.

Restore: stop scimd, delete scimd.db-wal and scimd.db-shm beside the database, copy the
backup over the database file, start scimd (see the README).

Examples:
  scimd backup /var/backups/scimd/scimd-$(date +%F).db
  scimd backup --force /var/backups/scimd/latest.db
  scimd backup - | gzip > scimd-$(date +%F).db.gz`
}

// Run writes the backup.
func (c BackupCmd) Run(cli *CLI) error {
	st, err := openConfigured(cli)
	if err != nil {
		return err
	}
	defer st.Close()
	if c.Dest == "-" {
		if isTerminal(os.Stdout) {
			return errors.New("stdout is a terminal: redirect it to a file or a pipe (scimd backup - > FILE), or name the file")
		}
		info, err := st.BackupTo(context.Background(), os.Stdout)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "backup written to stdout (%s, %d users, %d groups, schema version %d); integrity check ok\n",
			byteSize(info.Bytes), info.Users, info.Groups, info.SchemaVersion)
		return nil
	}
	info, err := st.Backup(context.Background(), c.Dest, c.Force)
	if errors.Is(err, store.ErrBackupExists) {
		return fmt.Errorf("%s already exists: choose a new name, or add --force to replace it", c.Dest)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "backup written to %s (%s, %d users, %d groups, schema version %d); integrity check ok\n",
		info.Path, byteSize(info.Bytes), info.Users, info.Groups, info.SchemaVersion)
	return nil
}
