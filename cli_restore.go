package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"scimd/replica"
	"scimd/store"
)

// RestoreCmd is "scimd restore".
type RestoreCmd struct {
	To    string `help:"Restore into PATH instead of [database] path." placeholder:"PATH" type:"path"`
	At    string `help:"Restore the state at this moment (RFC 3339, e.g. 2026-11-30T14:00:00Z), within [replica] retention." placeholder:"TIME"`
	Force bool   `help:"Replace an existing database (stop scimd serve first)."`
}

// Help shows examples.
func (RestoreCmd) Help() string {
	return `Rebuilds the database from the [replica] that scimd serve replicates into, on this machine
or a new one: only the config file (and the replica's credentials) are needed, no running
server. Writes to [database] path, or --to PATH; refuses to replace an existing database
unless --force. The result passes SQLite's full integrity check before it takes the
database's place; the command then prints what it restored up to. Start scimd serve on it
and replication continues into the same replica.

Examples:
  scimd restore --config /etc/scimd/config.toml
  scimd restore --to /tmp/yesterday.db --at 2026-11-29T09:00:00Z
  scimd restore --force`
}

// Run restores.
func (c RestoreCmd) Run(cli *CLI) error {
	cfg, err := Load(cli.Config)
	if err != nil {
		return err
	}
	if cfg.Replica.URL == "" {
		return errors.New("no [replica] url in the config: there is no replica to restore from")
	}
	rc, err := cfg.replicaConfig()
	if err != nil {
		return err
	}
	var at time.Time
	if c.At != "" {
		if at, err = time.Parse(time.RFC3339, c.At); err != nil {
			return fmt.Errorf("--at %q: use RFC 3339, like 2026-11-30T14:00:00Z", c.At)
		}
	}
	dest := cfg.Database.Path
	if c.To != "" {
		dest = c.To
	}
	if dest, err = filepath.Abs(dest); err != nil {
		return err
	}
	if exists(dest) || exists(dest+"-wal") {
		if !c.Force {
			return fmt.Errorf("%s already exists: add --force to replace it (stop scimd serve first), or restore elsewhere with --to", dest)
		}
		// Held until the restored file is in place: refused while serve
		// runs on this database, and no serve starts on it meanwhile.
		lock, err := store.LockServer(dest)
		if err != nil {
			return err
		}
		defer lock.Release()
	}
	// Restore beside the destination, so the final step is a rename on one
	// file system; leftovers of an interrupted run go first.
	tmp := dest + ".restoring"
	for _, f := range []string{tmp, tmp + "-wal", tmp + "-shm", tmp + ".tmp"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	log := newLogger(cfg, os.Stderr)
	// Litestream's restore logs its routine steps to the default logger;
	// this command reports the outcome itself, so only warnings pass.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	ctx := context.Background()
	res, err := replica.Restore(ctx, rc, tmp, at, log)
	if err != nil {
		return err
	}
	// The database holds token hashes and the directory: owner only, as
	// scimd backup leaves its copies.
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	// A WAL left beside the old file would be read as part of the new one.
	for _, f := range []string{dest + "-wal", dest + "-shm"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := os.Rename(tmp, dest); err != nil {
		return err
	}
	// Litestream's staging files of the replaced database would make serve
	// believe it is ahead of the replica; without them it resumes from the
	// replica's last transaction, so a second loss is recoverable too.
	if err := replica.RemoveLocalState(dest); err != nil {
		return err
	}
	cfg.Database.Path = dest
	st, err := openStore(cfg)
	if err != nil {
		return fmt.Errorf("restored %s but cannot open it: %w", dest, err)
	}
	defer st.Close()
	// No second integrity check: replica.Restore ran SQLite's full one on
	// this file before it took the database's place.
	stats, err := st.Stats(ctx)
	if err != nil {
		return err
	}
	tokens, err := st.Tokens(ctx)
	if err != nil {
		return err
	}
	last := "none"
	if stats.LastWrite != nil {
		last = stats.LastWrite.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(os.Stderr, "restored %s from %s up to %s (replica transaction %d): %d users (%d active), %d groups, %d memberships, %d tokens; last change %s; integrity check ok\n",
		dest, replica.Redact(rc.URL), res.Through.UTC().Format(time.RFC3339), res.TXID,
		stats.UsersActive+stats.UsersInactive, stats.UsersActive, stats.Groups, stats.Memberships, len(tokens), last)
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// startReplica starts continuous replication for serve when [replica] is
// set; nil otherwise.
func startReplica(cfg Config, dbPath string, log *slog.Logger) (*replica.Replicator, error) {
	if cfg.Replica.URL == "" {
		return nil, nil
	}
	rc, err := cfg.replicaConfig()
	if err != nil {
		return nil, err
	}
	rep, err := replica.Start(dbPath, rc, log)
	if err != nil {
		return nil, fmt.Errorf("[replica] %w", err)
	}
	log.Info("replicating", "replica", replica.Redact(rc.URL), "sync_interval", rc.SyncInterval.String(), "retention", time.Duration(cfg.Replica.Retention).String())
	return rep, nil
}

// replicaReport is the replica's part of "scimd status".
type replicaReport struct {
	URL         string     `json:"url"`
	LastSync    *time.Time `json:"last_sync"`
	LagSeconds  *float64   `json:"lag_seconds"`
	LastError   string     `json:"last_error"`
	LastErrorAt *time.Time `json:"last_error_at"`
	Errors      int64      `json:"errors"`
	// Published is when serve last reported; old means serve is not
	// running (or not replicating).
	Published *time.Time `json:"published"`
}

// replicaStatus reads what serve published about replication.
func replicaStatus(cfg Config, dbPath string) (*replicaReport, error) {
	if cfg.Replica.URL == "" {
		return nil, nil
	}
	r := &replicaReport{URL: replica.Redact(cfg.Replica.URL)}
	st, ok, err := replica.ReadStatus(dbPath)
	if err != nil || !ok {
		return r, err
	}
	ptr := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	lag := st.Lag.Seconds()
	r.LastSync, r.LagSeconds, r.LastError, r.LastErrorAt = ptr(st.LastSync), &lag, st.LastError, ptr(st.LastErrorAt)
	r.Errors, r.Published = st.Errors, ptr(st.Published)
	return r, nil
}

// printReplica is the text form of replicaReport.
func printReplica(r *replicaReport, now time.Time) string {
	if r.Published == nil {
		return r.URL + ": scimd serve has not replicated yet"
	}
	s := r.URL + ": "
	if r.LastSync == nil {
		s += "never synced"
	} else {
		s += fmt.Sprintf("last sync %s (lag %s)", r.LastSync.Local().Format("2006-01-02 15:04:05"),
			(time.Duration(*r.LagSeconds * float64(time.Second))).Round(100*time.Millisecond))
	}
	if r.LastError != "" {
		s += fmt.Sprintf("; last error %s: %s (%d failed attempts)", r.LastErrorAt.Local().Format("15:04:05"), r.LastError, r.Errors)
	} else if r.Errors > 0 {
		s += fmt.Sprintf("; %d failed attempts since serve started, none since", r.Errors)
	}
	if now.Sub(*r.Published) > time.Minute {
		s += fmt.Sprintf("; serve last reported %s", ago(now.Sub(*r.Published)))
	}
	return s
}
