package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// StatusCmd is "scimd status".
type StatusCmd struct {
	JSON   bool      `name:"json" help:"Print one JSON object."`
	Within *Duration `help:"Exit non-zero when a token expires within DUR (default 7d)." placeholder:"DUR"`
}

// Help shows examples.
func (StatusCmd) Help() string {
	return `Counts (users active and inactive, groups, memberships), database size, the last change
made through SCIM, the provisioning log's size and failures, and each token's expiry and
last request with its client (User-Agent). Exits with status 1, naming the token, when a
token has expired or expires within --within (7 days), so monitoring can run it.

Examples:
  scimd status
  scimd status --json | jq .users
  scimd status --within 14d || mail -s "scimd token expiring" ops@example.org < /dev/null`
}

type statusReport struct {
	Database struct {
		Path          string `json:"path"`
		Bytes         int64  `json:"bytes"`
		WALBytes      int64  `json:"wal_bytes"`
		SchemaVersion int    `json:"schema_version"`
	} `json:"database"`
	Users struct {
		Active   int64 `json:"active"`
		Inactive int64 `json:"inactive"`
		Deleted  int64 `json:"deleted_kept"`
	} `json:"users"`
	Groups      int64      `json:"groups"`
	Memberships int64      `json:"memberships"`
	LastWrite   *time.Time `json:"last_write"`
	Log         struct {
		Entries int64 `json:"entries"`
		Failed  int64 `json:"failed"`
	} `json:"log"`
	Tokens   []tokenRow `json:"tokens"`
	Problems []string   `json:"problems"`
	// Webhooks is each [[webhooks]] endpoint's delivery state (cli_webhooks.go).
	Webhooks []webhookRow `json:"webhooks"`
	// Replica is null without [replica] (cli_restore.go).
	Replica *replicaReport `json:"replica"`
}

// Run prints the status and fails when a token needs attention.
func (c StatusCmd) Run(cli *CLI) error {
	within := 7 * 24 * time.Hour
	if c.Within != nil {
		within = time.Duration(*c.Within)
	}
	cfg, err := Load(cli.Config)
	if err != nil {
		return err
	}
	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	stats, err := st.Stats(ctx)
	if err != nil {
		return err
	}
	tokens, err := st.Tokens(ctx)
	if err != nil {
		return err
	}
	var r statusReport
	r.Database.Path = st.Path()
	r.Database.Bytes, r.Database.WALBytes = stats.DBBytes, stats.WALBytes
	r.Database.SchemaVersion, _ = st.SchemaVersion(ctx)
	r.Users.Active, r.Users.Inactive, r.Users.Deleted = stats.UsersActive, stats.UsersInactive, stats.UsersDeleted
	r.Groups, r.Memberships, r.LastWrite = stats.Groups, stats.Memberships, stats.LastWrite
	r.Log.Entries, r.Log.Failed = stats.Events, stats.FailedEvents
	r.Tokens, r.Problems = []tokenRow{}, []string{}
	if r.Replica, err = replicaStatus(cfg, st.Path()); err != nil {
		return err
	}
	now := time.Now()
	for _, t := range tokens {
		state := t.State(now)
		// Show the live secret of each name, and old secrets still in
		// their grace period (a client may still be using one).
		if !t.Current() && state != "rotating" {
			continue
		}
		r.Tokens = append(r.Tokens, newTokenRow(t, now))
		if !t.Current() {
			continue
		}
		switch {
		case !now.Before(t.Expires):
			r.Problems = append(r.Problems, fmt.Sprintf("token %q expired on %s: run 'scimd token rotate %s' and paste the new secret into the identity provider",
				t.Name, t.Expires.Local().Format("2006-01-02"), t.Name))
		case t.Expires.Sub(now) <= within:
			r.Problems = append(r.Problems, fmt.Sprintf("token %q expires in %s (%s): run 'scimd token rotate %s' and paste the new secret into the identity provider",
				t.Name, inTime(t.Expires, now), t.Expires.Local().Format("2006-01-02 15:04"), t.Name))
		}
	}
	if r.Webhooks, err = webhookRows(ctx, cfg, st); err != nil {
		return err
	}
	if c.JSON {
		if err := writeJSONValue(os.Stdout, r); err != nil {
			return err
		}
	} else {
		printStatus(r, now)
		if len(r.Webhooks) > 0 {
			fmt.Println()
			printWebhooks(r.Webhooks)
		}
	}
	if len(r.Problems) > 0 {
		return errors.New(strings.Join(r.Problems, "; "))
	}
	return nil
}

func printStatus(r statusReport, now time.Time) {
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "database\t%s (%s, write-ahead log %s, schema version %d)\n", safeText(r.Database.Path),
		byteSize(r.Database.Bytes), byteSize(r.Database.WALBytes), r.Database.SchemaVersion)
	users := fmt.Sprintf("%d active (licensed), %d inactive", r.Users.Active, r.Users.Inactive)
	if r.Users.Deleted > 0 {
		users += fmt.Sprintf(", %d deleted and kept (on_delete = \"deactivate\")", r.Users.Deleted)
	}
	fmt.Fprintf(tw, "users\t%s\n", users)
	fmt.Fprintf(tw, "groups\t%d (%d memberships)\n", r.Groups, r.Memberships)
	last := "never"
	if r.LastWrite != nil {
		last = r.LastWrite.Local().Format("2006-01-02 15:04:05") + " (" + ago(now.Sub(*r.LastWrite)) + ")"
	}
	fmt.Fprintf(tw, "last write\t%s\n", last)
	fmt.Fprintf(tw, "log\t%d entries, %d failed requests (scimd log --failed)\n", r.Log.Entries, r.Log.Failed)
	if r.Replica != nil {
		fmt.Fprintf(tw, "replica\t%s\n", printReplica(r.Replica, now))
	}
	tw.Flush()
	fmt.Println()
	if len(r.Tokens) == 0 {
		fmt.Println("no tokens: create one with 'scimd token issue --name NAME'")
		return
	}
	tw = tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOKEN\tIDP\tSTATE\tEXPIRES\tDAYS LEFT\tLAST REQUEST\tCLIENT")
	for _, t := range r.Tokens {
		state := t.State
		if !t.Current {
			state += " (old secret)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", safeText(t.Name), safeText(t.IDP), state, t.Expires.Local().Format("2006-01-02"),
			t.DaysLeft, timeOrNever(t.LastUsed), safeText(dash(t.LastAgent)))
	}
	tw.Flush()
}

// byteSize renders a size in B, kB, MB or GB (powers of 1000).
func byteSize(n int64) string {
	f := float64(n)
	for _, u := range []string{"B", "kB", "MB", "GB"} {
		if f < 1000 || u == "GB" {
			if u == "B" {
				return fmt.Sprintf("%d B", n)
			}
			return fmt.Sprintf("%.1f %s", f, u)
		}
		f /= 1000
	}
	return ""
}

// ago renders an elapsed time coarsely.
func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d minutes ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}
