package admin

// Adapters for the features that report to the admin listener without
// being imported by it: webhooks (issue 12) and replication (issue 13).
// Each gives a collector with the metric names the alert rules in
// deploy/prometheus/alerts.yml use, and a section for the status page.
// serve passes a function that reads the feature's cheap in-memory stats.

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// WebhookStat is one webhook endpoint's delivery state.
type WebhookStat struct {
	Name          string
	State         string // active, paused or failing
	Backlog       int64  // events not yet delivered
	OldestPending time.Duration
	Delivered     int64 // all time
	Failed        int64 // all time: events given up on
	LastSuccess   *time.Time
	LastError     string
}

// Webhooks returns the metrics and the status-page section of the webhook
// endpoints that stats reports at each scrape and page view.
func Webhooks(stats func() []WebhookStat) (prometheus.Collector, Section) {
	c := &webhookCollector{stats: stats,
		backlog:   prometheus.NewDesc("scimd_webhook_backlog_events", "Events not yet delivered to each webhook.", []string{"webhook"}, nil),
		oldest:    prometheus.NewDesc("scimd_webhook_oldest_pending_seconds", "Age of the oldest undelivered event of each webhook; 0 when none.", []string{"webhook"}, nil),
		delivered: prometheus.NewDesc("scimd_webhook_delivered_events_total", "Events delivered to each webhook.", []string{"webhook"}, nil),
		failed:    prometheus.NewDesc("scimd_webhook_failed_events_total", "Events each webhook gave up on.", []string{"webhook"}, nil),
	}
	s := Section{Title: "Webhooks", Rows: func(context.Context) (Table, error) {
		t := Table{Columns: []string{"Webhook", "State", "Backlog", "Oldest waiting", "Delivered", "Given up", "Last success", "Last error"},
			Empty: "No webhooks are configured."}
		for _, w := range stats() {
			lvl := OK
			switch {
			case w.State == "paused" || w.State == "failing" || w.OldestPending > 15*time.Minute:
				lvl = Bad
			case w.Backlog > 100 || w.OldestPending > time.Minute:
				lvl = Warn
			}
			last := "never"
			if w.LastSuccess != nil {
				last = agoText(*w.LastSuccess)
			}
			t.Rows = append(t.Rows, Row{Level: lvl, Cells: []string{w.Name, w.State, strconv.FormatInt(w.Backlog, 10),
				roughly(w.OldestPending), strconv.FormatInt(w.Delivered, 10), strconv.FormatInt(w.Failed, 10), last, w.LastError}})
		}
		return t, nil
	}}
	return c, s
}

type webhookCollector struct {
	stats                              func() []WebhookStat
	backlog, oldest, delivered, failed *prometheus.Desc
}

func (c *webhookCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.backlog
	ch <- c.oldest
	ch <- c.delivered
	ch <- c.failed
}

func (c *webhookCollector) Collect(ch chan<- prometheus.Metric) {
	for _, w := range c.stats() {
		ch <- prometheus.MustNewConstMetric(c.backlog, prometheus.GaugeValue, float64(w.Backlog), w.Name)
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, w.OldestPending.Seconds(), w.Name)
		ch <- prometheus.MustNewConstMetric(c.delivered, prometheus.CounterValue, float64(w.Delivered), w.Name)
		ch <- prometheus.MustNewConstMetric(c.failed, prometheus.CounterValue, float64(w.Failed), w.Name)
	}
}

// ReplicaStat is the replicator's state.
type ReplicaStat struct {
	URL         string    // without credentials
	LastSync    time.Time // zero before the first sync
	Lag         time.Duration
	Errors      int64 // failed sync attempts since serve started
	LastError   string
	LastErrorAt time.Time
}

// Replica returns the metrics and the status-page section of the replica
// that status reports at each scrape and page view.
func Replica(status func() ReplicaStat) (prometheus.Collector, Section) {
	c := &replicaCollector{status: status,
		lag:    prometheus.NewDesc("scimd_replica_lag_seconds", "How far the replica is behind the database.", nil, nil),
		last:   prometheus.NewDesc("scimd_replica_last_sync_timestamp_seconds", "When the last successful sync began (absent before the first).", nil, nil),
		errors: prometheus.NewDesc("scimd_replica_errors_total", "Failed sync attempts since serve started.", nil, nil),
	}
	s := Section{Title: "Replica", Rows: func(context.Context) (Table, error) {
		r := status()
		lvl := OK
		switch {
		case r.Lag > 15*time.Minute:
			lvl = Bad
		case r.Lag > 5*time.Minute || r.LastError != "":
			lvl = Warn
		}
		last := "not yet"
		if !r.LastSync.IsZero() {
			last = agoText(r.LastSync)
		}
		lastErr := r.LastError
		if lastErr != "" && !r.LastErrorAt.IsZero() {
			lastErr = fmt.Sprintf("%s (%s)", lastErr, agoText(r.LastErrorAt))
		}
		return Table{Columns: []string{"Replica", "Behind by", "Last sync", "Errors", "Last error"},
			Rows: []Row{{Level: lvl, Cells: []string{r.URL, roughly(r.Lag), last, strconv.FormatInt(r.Errors, 10), lastErr}}}}, nil
	}}
	return c, s
}

type replicaCollector struct {
	status            func() ReplicaStat
	lag, last, errors *prometheus.Desc
}

func (c *replicaCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lag
	ch <- c.last
	ch <- c.errors
}

func (c *replicaCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.status()
	ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, r.Lag.Seconds())
	if !r.LastSync.IsZero() {
		ch <- prometheus.MustNewConstMetric(c.last, prometheus.GaugeValue, unix(r.LastSync))
	}
	ch <- prometheus.MustNewConstMetric(c.errors, prometheus.CounterValue, float64(r.Errors))
}

// roughly renders a duration for people: "-" for none, else seconds,
// minutes or hours.
func roughly(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + " s"
	case d < 2*time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min"
	}
	return strconv.Itoa(int(d.Hours())) + " h"
}
