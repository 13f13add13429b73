package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"scimd/store"
)

// CheckCmd is "scimd check".
type CheckCmd struct {
	JSON bool `name:"json" help:"Print one JSON object: the database, ok, and each check with its problems."`
}

// Help shows examples.
func (CheckCmd) Help() string {
	return `Verifies the database while scimd serve keeps running (a read-only connection in one
read transaction; the server is never blocked): SQLite's PRAGMA integrity_check and
foreign_key_check, the schema version, the user and group counters against the tables,
memberships pointing at existing users and groups, no user both live and kept as deleted,
the columns derived from each stored document (userName and its name key, externalId,
displayName, active), the files' modes (owner only) and the write-ahead log's
size. Prints one line per check; exits 1, naming the problem, when any check fails, so a
timer or monitoring can run it.

Examples:
  scimd check
  scimd check --json | jq '.checks[] | select(.ok | not)'
  scimd check --config /etc/scimd/config.toml || mail -s "scimd check failed" ops@example.org < /dev/null`
}

// Run checks the configured database.
func (c CheckCmd) Run(cli *CLI) error {
	cfg, err := Load(cli.Config)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	r, err := store.Check(ctx, cfg.Database.Path)
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	if c.JSON {
		if err := writeJSONValue(os.Stdout, r); err != nil {
			return err
		}
	} else {
		fmt.Printf("database %s\n", safeText(r.Database))
		tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
		for _, ck := range r.Checks {
			if ck.OK {
				fmt.Fprintf(tw, "ok\t%s\t%s\n", ck.Name, safeText(ck.Summary))
				continue
			}
			for _, p := range ck.Problems {
				fmt.Fprintf(tw, "FAIL\t%s\t%s\n", ck.Name, safeText(p))
			}
		}
		tw.Flush()
	}
	failed := r.Failed()
	if len(failed) == 0 {
		return nil
	}
	var names []string
	n := 0
	for _, f := range failed {
		names = append(names, f.Name)
		n += len(f.Problems)
	}
	// main escapes every error it prints (safeText, cli_safe.go).
	return fmt.Errorf("check found problems in %s (%d lines above); first: %s: %s",
		strings.Join(names, ", "), n, failed[0].Name, failed[0].Summary)
}
