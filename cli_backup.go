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
	Dest  string `arg:"" help:"The backup file to write." type:"path"`
	Force bool   `help:"Replace DEST if it exists (only once the new copy has passed its check)."`
}

// Help shows examples.
func (BackupCmd) Help() string {
	return `Writes a consistent copy of the database to DEST while scimd serve keeps running and
writing (SQLite VACUUM INTO reads one committed snapshot). The copy is checked with PRAGMA
integrity_check before it is moved to DEST; DEST is a single self-contained SQLite file.
An existing DEST is refused unless --force.

Restore: stop scimd, delete scimd.db-wal and scimd.db-shm beside the database, copy the
backup over the database file, start scimd (see the README).

Examples:
  scimd backup /var/backups/scimd/scimd-$(date +%F).db
  scimd backup --force /var/backups/scimd/latest.db`
}

// Run writes the backup.
func (c BackupCmd) Run(cli *CLI) error {
	st, err := openConfigured(cli)
	if err != nil {
		return err
	}
	defer st.Close()
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
