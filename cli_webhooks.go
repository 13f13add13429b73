package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"scimd/admin"
	"scimd/store"
	"scimd/webhook"
)

// webhookStats turns the deliverer's Stats into the admin listener's
// (metrics scimd_webhook_*, the status page's Webhooks table).
func webhookStats(d *webhook.Dispatcher) []admin.WebhookStat {
	var out []admin.WebhookStat
	for _, s := range d.Stats() {
		out = append(out, admin.WebhookStat{Name: s.Name, State: s.State, Backlog: s.Backlog, OldestPending: s.OldestPending,
			Delivered: s.Delivered, Failed: s.Failed, LastSuccess: s.LastSuccess, LastError: s.LastError})
	}
	return out
}

// WebhooksCmd is "scimd webhooks ...".
type WebhooksCmd struct {
	List   WebhooksListCmd   `cmd:"" help:"Each endpoint: state, backlog, oldest pending event, last success and error."`
	Test   WebhooksTestCmd   `cmd:"" help:"Send a signed webhook.test event to an endpoint now and print its answer."`
	Retry  WebhooksRetryCmd  `cmd:"" help:"Deliver an endpoint's failed events again, now."`
	Replay WebhooksReplayCmd `cmd:"" help:"Deliver again every event since DUR ago, with the same webhook-ids."`
	Resume WebhooksResumeCmd `cmd:"" help:"Resume an endpoint paused by a 410 Gone answer."`
}

// Help shows examples.
func (WebhooksCmd) Help() string {
	return `Endpoints are the [[webhooks]] tables of the config file. "scimd serve" delivers; these
commands read and change the delivery state in the database and work beside a running server,
which notices within a second.

Examples:
  scimd webhooks list
  scimd webhooks test hr-app
  scimd webhooks replay hr-app --since 2h
  scimd webhooks resume hr-app`
}

// webhookRow is one endpoint as webhooks list and status show it. The
// secret is never part of it.
type webhookRow struct {
	Name          string     `json:"name"`
	URL           string     `json:"url"`
	Events        []string   `json:"events"`
	State         string     `json:"state"`
	Backlog       int64      `json:"backlog"`
	OldestPending *float64   `json:"oldest_pending_seconds"`
	Delivered     int64      `json:"delivered"`
	Failed        int64      `json:"failed"`
	LastSuccess   *time.Time `json:"last_success"`
	LastError     string     `json:"last_error"`
	LastErrorAt   *time.Time `json:"last_error_at"`
}

// webhookRows reads every configured endpoint's state.
func webhookRows(ctx context.Context, cfg Config, st *store.Store) ([]webhookRow, error) {
	rows := []webhookRow{}
	now := time.Now()
	for _, w := range cfg.Webhooks {
		s, err := st.WebhookStatus(ctx, w.Name, w.Events)
		if err != nil {
			return nil, err
		}
		r := webhookRow{Name: w.Name, URL: redactURL(w.URL), Events: w.Events, State: webhook.StateOf(s), Backlog: s.Backlog,
			Delivered: s.Delivered, Failed: s.Failed, LastSuccess: s.LastSuccess, LastError: s.LastError, LastErrorAt: s.LastErrorAt}
		if r.Events == nil {
			r.Events = []string{}
		}
		if !s.Known {
			r.State = "new" // no server has run with it yet
		}
		if s.Oldest != nil && s.Backlog > 0 {
			age := now.Sub(*s.Oldest).Seconds()
			r.OldestPending = &age
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// redactURL hides a password in a URL's user info.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return u.Redacted()
}

// WebhooksListCmd is "scimd webhooks list".
type WebhooksListCmd struct {
	JSON bool `name:"json" help:"Print a JSON array."`
}

// Help shows examples.
func (WebhooksListCmd) Help() string {
	return `States: active; failing (the last attempt failed; events are retried with backoff);
paused (the receiver answered 410 Gone: run 'scimd webhooks resume NAME'); new (no server has
run with it yet). BACKLOG counts events
not yet delivered; OLDEST is the age of the oldest of them.

Examples:
  scimd webhooks list
  scimd webhooks list --json | jq '.[] | select(.backlog > 1000)'`
}

// Run lists the endpoints.
func (c WebhooksListCmd) Run(cli *CLI) error {
	cfg, err := Load(cli.Config)
	if err != nil {
		return err
	}
	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	rows, err := webhookRows(context.Background(), cfg, st)
	if err != nil {
		return err
	}
	if c.JSON {
		return writeJSONValue(os.Stdout, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(os.Stderr, "no webhooks: add a [[webhooks]] table to the config file (see config.toml.example)")
		return nil
	}
	printWebhooks(rows)
	return nil
}

func printWebhooks(rows []webhookRow) {
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tURL\tSTATE\tBACKLOG\tOLDEST\tLAST SUCCESS\tLAST ERROR")
	for _, r := range rows {
		oldest := "-"
		if r.OldestPending != nil {
			oldest = (time.Duration(*r.OldestPending) * time.Second).Round(time.Second).String()
		}
		lastErr := "-"
		if r.LastError != "" && r.LastErrorAt != nil {
			lastErr = r.LastErrorAt.Local().Format("2006-01-02 15:04:05") + " " + r.LastError
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.Name, r.URL, r.State, r.Backlog, oldest, timeOrNever(r.LastSuccess), lastErr)
	}
	tw.Flush()
}

// WebhooksTestCmd is "scimd webhooks test".
type WebhooksTestCmd struct {
	Name string `arg:"" help:"The endpoint's name."`
}

// Help shows examples.
func (WebhooksTestCmd) Help() string {
	return `Sends {"type":"webhook.test",…} signed with the endpoint's secret, from this command (not
the server), and prints the HTTP status and the start of the answer. Exits non-zero unless the
answer is 2xx. Nothing is stored.

Examples:
  scimd webhooks test hr-app`
}

// Run sends the test event.
func (c WebhooksTestCmd) Run(cli *CLI) error {
	cfg, err := Load(cli.Config)
	if err != nil {
		return err
	}
	w, err := cfg.webhook(c.Name)
	if err != nil {
		return err
	}
	ep, err := w.endpoint()
	if err != nil {
		return err
	}
	now := time.Now()
	data := fmt.Appendf(nil, `{"webhook":%q}`, ep.Name)
	a := webhook.Send(context.Background(), webhook.NewClient(1), &ep, webhook.NewMsgID(), webhook.Body("webhook.test", now, data), now)
	if a.Status == 0 {
		return fmt.Errorf("webhook %q: no answer: %s", c.Name, a.Err)
	}
	fmt.Printf("HTTP %d\n", a.Status)
	if a.Body != "" {
		fmt.Println(strings.TrimRight(a.Body, "\n"))
	}
	if !a.OK() {
		return fmt.Errorf("webhook %q answered %s", c.Name, a.Err)
	}
	return nil
}

// webhookStore opens the database for an admin command on one configured
// endpoint, making sure the database knows it.
func webhookStore(cli *CLI, name string) (Config, *store.Store, error) {
	cfg, err := Load(cli.Config)
	if err != nil {
		return cfg, nil, err
	}
	if _, err := cfg.webhook(name); err != nil {
		return cfg, nil, err
	}
	st, err := openStore(cfg)
	if err != nil {
		return cfg, nil, err
	}
	if err := st.SetupWebhooks(context.Background(), []string{name}); err != nil {
		st.Close()
		return cfg, nil, err
	}
	return cfg, st, nil
}

// WebhooksRetryCmd is "scimd webhooks retry".
type WebhooksRetryCmd struct {
	Name string `arg:"" help:"The endpoint's name."`
}

// Help shows examples.
func (WebhooksRetryCmd) Help() string {
	return `Events are failed when they could not be delivered within the endpoint's max_age
(72h by default). This makes them pending again, due at once, with a fresh max_age; a running
server delivers them within a second, in their original order.

Examples:
  scimd webhooks retry hr-app`
}

// Run retries failed events.
func (c WebhooksRetryCmd) Run(cli *CLI) error {
	_, st, err := webhookStore(cli, c.Name)
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := st.RetryWebhook(context.Background(), c.Name)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "webhook %q: %d failed event(s) will be delivered again\n", c.Name, n)
	return nil
}

// WebhooksReplayCmd is "scimd webhooks replay".
type WebhooksReplayCmd struct {
	Name  string   `arg:"" help:"The endpoint's name."`
	Since Duration `required:"" help:"How far back, e.g. 2h or 3d (at most [events] retention)." placeholder:"DUR"`
}

// Help shows examples.
func (WebhooksReplayCmd) Help() string {
	return `Delivers again every kept event of the last DUR that the endpoint subscribes to, with
its original webhook-id, so a receiver that deduplicates by id sees no duplicates and one that
lost data can rebuild it. Events older than [events] retention are gone.

Examples:
  scimd webhooks replay hr-app --since 2h`
}

// Run replays.
func (c WebhooksReplayCmd) Run(cli *CLI) error {
	if c.Since <= 0 {
		return errors.New("--since must be positive, e.g. 2h")
	}
	cfg, st, err := webhookStore(cli, c.Name)
	if err != nil {
		return err
	}
	defer st.Close()
	w, _ := cfg.webhook(c.Name)
	n, err := st.ReplayWebhook(context.Background(), c.Name, w.Events, time.Now().Add(-time.Duration(c.Since)))
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "webhook %q: %d event(s) since %s will be delivered again\n", c.Name, n, fmtDuration(time.Duration(c.Since)))
	return nil
}

// WebhooksResumeCmd is "scimd webhooks resume".
type WebhooksResumeCmd struct {
	Name string `arg:"" help:"The endpoint's name."`
}

// Help shows examples.
func (WebhooksResumeCmd) Help() string {
	return `A receiver that answers 410 Gone says it wants no more events: scimd pauses the endpoint
and keeps its events. Once the receiver wants them again, resume delivers the backlog in order.

Examples:
  scimd webhooks resume hr-app`
}

// Run resumes.
func (c WebhooksResumeCmd) Run(cli *CLI) error {
	_, st, err := webhookStore(cli, c.Name)
	if err != nil {
		return err
	}
	defer st.Close()
	was, err := st.ResumeWebhook(context.Background(), c.Name)
	if err != nil {
		return err
	}
	if !was {
		fmt.Fprintf(os.Stderr, "webhook %q was not paused; its pending events are due now\n", c.Name)
		return nil
	}
	fmt.Fprintf(os.Stderr, "webhook %q resumed: its backlog is delivered in order\n", c.Name)
	return nil
}
