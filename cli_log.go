package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"scimd/store"
)

// LogCmd is "scimd log".
type LogCmd struct {
	Since  string `help:"Start this long ago (24h, 7d), or at a date (2026-11-01) or time (RFC 3339); 0 for the whole log." default:"24h" placeholder:"DUR|DATE"`
	User   string `help:"Only entries about this user (userName, any case, or id)." placeholder:"USER"`
	Token  string `help:"Only entries made with this token." placeholder:"NAME"`
	Failed bool   `help:"Only failed requests."`
	JSON   bool   `name:"json" help:"One JSON object per line (JSON Lines), also with --follow."`
	Follow bool   `short:"f" help:"Keep printing new entries as they are written, until Ctrl-C."`
}

// Help shows examples.
func (LogCmd) Help() string {
	return `The provisioning log: every change made through SCIM (create, replace, patch, delete,
disable, enable, member add, member remove), written in the same transaction as the change,
with the token, the client's User-Agent, the resource and the names of the attributes that
changed (never their values); and every failed /Users or /Groups request with its status,
scimType and detail (quoted values in details are replaced by "…"). Entries older than
[log] retention (90d) are deleted by scimd serve.

Examples:
  scimd log
  scimd log --since 7d --failed
  scimd log --user bjensen@example.com --since 0
  scimd log --token entra --json | jq -r 'select(.status >= 400) | .detail'
  scimd log --follow`
}

// Run prints the log.
func (c LogCmd) Run(cli *CLI) error {
	since, err := parseSince(c.Since, time.Now())
	if err != nil {
		return err
	}
	st, err := openConfigured(cli)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	q := store.EventQuery{Since: since, User: c.User, Token: c.Token, Failed: c.Failed}
	emit := func(e *store.Event) error {
		if c.JSON {
			b, err := marshalCompact(e)
			if err != nil {
				return err
			}
			w.Write(b)
			return w.WriteByte('\n')
		}
		return writeEvent(w, e)
	}
	n := 0
	last, err := st.Events(ctx, q, func(e *store.Event) error { n++; return emit(e) })
	if err != nil {
		return err
	}
	if !c.Follow {
		if n == 0 && !c.JSON {
			fmt.Fprintln(os.Stderr, "no log entries match (try a longer --since, e.g. --since 30d)")
		}
		return nil
	}
	if err := w.Flush(); err != nil {
		return err
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		q.After = last
		last, err = st.Events(ctx, q, emit)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
}

// parseSince reads --since: a duration back from now, a date, an RFC 3339
// time, or 0 for no bound.
func parseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		return t, nil
	}
	d, err := ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since %q: use a duration (24h, 7d), a date (2026-11-01) or an RFC 3339 time", s)
	}
	return now.Add(-d), nil
}

// writeEvent prints one entry as a line: time, status, operation, resource,
// token, then the attribute names or the failure, then the client.
func writeEvent(w io.Writer, e *store.Event) error {
	status := "ok "
	if e.Failed() {
		status = fmt.Sprint(e.Status)
	}
	what := "attrs=" + strings.Join(e.Attrs, ",")
	if e.Failed() {
		what = e.Detail
		if e.ScimType != "" {
			what = e.ScimType + ": " + what
		}
	} else if len(e.Attrs) == 0 {
		what = "-"
	}
	if !e.Failed() && e.Detail != "" {
		what += " (" + e.Detail + ")" // which members changed
	}
	// Every field but the time and status comes from a client: escaped
	// (cli_safe.go); %q escapes the agent's unprintable runes likewise.
	_, err := fmt.Fprintf(w, "%s  %s  %-13s  %-5s  %s  %s  token=%s  %s  agent=%q\n",
		e.Time.Local().Format("2006-01-02 15:04:05"), status, safeText(e.Op), safeText(dash(e.ResourceType)), safeText(dash(e.Name)),
		safeText(dash(e.ResourceID)), safeText(dash(e.Token)), safeText(what), e.Agent)
	return err
}

// startAdminJobs runs serve's background jobs: token expiry warnings and
// provisioning-log retention. The returned function stops them and waits,
// so serve can close the store afterwards.
func startAdminJobs(ctx context.Context, cfg Config, st *store.Store, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); watchTokens(ctx, st, log) }()
	go func() { defer wg.Done(); pruneLog(ctx, st, time.Duration(cfg.Log.Retention), log) }()
	return func() { cancel(); wg.Wait() }
}

// pruneLog deletes log entries older than retention at startup and then
// every hour.
func pruneLog(ctx context.Context, st *store.Store, retention time.Duration, log *slog.Logger) {
	prune := func() {
		n, err := st.PruneEvents(ctx, time.Now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("pruning the provisioning log failed", "error", err)
		case n > 0:
			log.Info("pruned the provisioning log", "deleted", n, "retention", fmtDuration(retention))
		}
	}
	everyHour(ctx, prune)
}
