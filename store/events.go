package store

// The provisioning log. Changes are logged by logChange inside their own
// transaction (resources.go); this file reads the log, prunes it, and
// records failed requests, which need no transaction of their own and so
// are batched off the request path.

import (
	"context"
	"database/sql"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"scimd/scim"
)

// Event is one row of the provisioning log: a change made through SCIM
// (Status 200) or a failed request (Status 4xx/5xx). Attrs holds attribute
// names, never values.
type Event struct {
	Seq          int64     `json:"seq"`
	Time         time.Time `json:"time"`
	Token        string    `json:"token"`
	Agent        string    `json:"user_agent"`
	Op           string    `json:"op"`
	ResourceType string    `json:"resource_type"`
	ResourceID   string    `json:"resource_id"`
	Name         string    `json:"name"`
	Attrs        []string  `json:"attributes"`
	Status       int       `json:"status"`
	ScimType     string    `json:"scim_type,omitempty"`
	Detail       string    `json:"detail,omitempty"`
}

// Failed reports whether the event records a refused request.
func (e *Event) Failed() bool { return e.Status >= 400 }

// EventQuery selects log rows. Zero fields select everything.
type EventQuery struct {
	After  int64     // only rows with a larger seq (for --follow)
	Since  time.Time // only rows at or after this time
	User   string    // a user's id or userName: only that user's rows
	Token  string    // only rows made with this token name
	Failed bool      // only failed requests
}

// eventBatch is how many rows Events reads per query, so that a huge log
// streams in constant memory.
var eventBatch = 1000

// Events calls fn for each matching row in log order and returns the seq of
// the last row it saw (q.After when none), from which a follower resumes.
func (s *Store) Events(ctx context.Context, q EventQuery, fn func(*Event) error) (int64, error) {
	conds, args, err := s.eventConds(ctx, q)
	if err != nil {
		return q.After, err
	}
	where := "seq > ?"
	for _, c := range conds {
		where += " AND (" + c + ")"
	}
	last := q.After
	for {
		batch, err := s.eventPage(ctx, where, append([]any{last}, args...), "seq", eventBatch)
		if err != nil {
			return last, err
		}
		for _, e := range batch {
			if err := fn(e); err != nil {
				return last, err
			}
			last = e.Seq
		}
		if len(batch) < eventBatch {
			return last, nil
		}
	}
}

// eventConds turns a query (all but After) into SQL conditions and their
// arguments.
func (s *Store) eventConds(ctx context.Context, q EventQuery) (conds []string, args []any, err error) {
	if !q.Since.IsZero() {
		conds = append(conds, "time >= ?")
		args = append(args, q.Since.UTC().Format(timeFormat))
	}
	if q.Token != "" {
		conds = append(conds, "token = ?")
		args = append(args, q.Token)
	}
	if q.Failed {
		conds = append(conds, "status >= 400")
	}
	if q.User != "" {
		// A user is known by id or userName; the current id of a userName
		// also finds rows logged under an earlier userName.
		ids := []any{q.User}
		rows, err := s.r.QueryContext(ctx, `SELECT id FROM users WHERE user_name_fold = ?`, scim.NameKey(q.User))
		if err != nil {
			return nil, nil, classify(err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, nil, err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, classify(err)
		}
		conds = append(conds, "resource_type = 'User' AND (resource_id IN (?"+strings.Repeat(", ?", len(ids)-1)+") OR name = ? COLLATE NOCASE)")
		args = append(append(args, ids...), q.User)
	}
	return conds, args, nil
}

// eventPage reads up to limit rows in the given order ("seq" or
// "seq DESC").
func (s *Store) eventPage(ctx context.Context, where string, args []any, order string, limit int) ([]*Event, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT seq, time, token, agent, op, resource_type, resource_id, name, attrs, status, scim_type, detail
		FROM events WHERE `+where+` ORDER BY `+order+` LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []*Event
	for rows.Next() {
		var (
			e         Event
			at, attrs string
		)
		if err := rows.Scan(&e.Seq, &at, &e.Token, &e.Agent, &e.Op, &e.ResourceType, &e.ResourceID, &e.Name, &attrs, &e.Status, &e.ScimType, &e.Detail); err != nil {
			return nil, err
		}
		e.Time = parseTime(at)
		if err := json.Unmarshal([]byte(attrs), &e.Attrs); err != nil || e.Attrs == nil {
			e.Attrs = []string{}
		}
		out = append(out, &e)
	}
	return out, classify(rows.Err())
}

// pruneBatch bounds how many rows one pruning transaction deletes, so that
// pruning a large backlog never holds the writer for long.
var pruneBatch = 5000

// PruneEvents deletes log rows older than before, in small transactions,
// and returns how many it deleted.
func (s *Store) PruneEvents(ctx context.Context, before time.Time) (int64, error) {
	cut := before.UTC().Format(timeFormat)
	return s.pruneBatches(ctx, func(tx *sql.Tx) (int64, error) {
		res, err := tx.Exec(`DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE time < ? ORDER BY time LIMIT ?)`, cut, pruneBatch)
		if err != nil {
			return 0, classify(err)
		}
		n, _ := res.RowsAffected()
		return n, nil
	})
}

// pruneBatches runs batch, which deletes at most pruneBatch rows and says
// how many, in one write transaction after another until a batch comes up
// short, and returns the total.
func (s *Store) pruneBatches(ctx context.Context, batch func(tx *sql.Tx) (int64, error)) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.write(ctx, func(tx *sql.Tx) error {
			var err error
			n, err = batch(tx)
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < int64(pruneBatch) {
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}

// Failures collects failed requests for the log. The server adds to it on
// the request path without waiting for the database: one goroutine at a
// time writes what has accumulated, so a burst of failures becomes a few
// group-committed transactions, and a flood beyond maxPendingFailures is
// counted instead of stored. The zero value is ready to use.
//
// The log also has a global budget, FailureRowsPerMinute, whatever
// addresses the failures come from: the per-address limiter (server's
// ratelimit.go) cannot stop a flood of bad tokens from many addresses, and
// each would otherwise be a row. Failures beyond the budget are counted,
// and one summary row per minute says how many were not recorded.
type Failures struct {
	mu      sync.Mutex
	idle    *sync.Cond
	pending []Event
	dropped int
	running bool

	window  time.Time   // start of the current budget minute
	logged  int         // rows admitted in the window
	skipped int         // failures over the budget, not yet reported
	timer   *time.Timer // reports skipped at the window's end
}

const maxPendingFailures = 10000

// FailureRowsPerMinute is the provisioning log's budget for refused
// requests: at most this many rows a minute, plus one summary row.
const FailureRowsPerMinute = 600

// RecordFailure queues a failed request for the log and returns at once.
// The detail is redacted (see redactDetail) before it is stored.
func (s *Store) RecordFailure(f *Failures, e Event) {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	e.Detail = redactDetail(e.Detail)
	f.mu.Lock()
	if e.Time.Sub(f.window) >= time.Minute || e.Time.Before(f.window) {
		f.reportSkipped(s)
		f.window, f.logged = e.Time, 0
	}
	if f.logged >= FailureRowsPerMinute {
		if f.skipped == 0 {
			// Report at the window's end even if no failure follows.
			f.timer = time.AfterFunc(time.Until(f.window.Add(time.Minute)), func() {
				f.mu.Lock()
				start := f.reportSkipped(s)
				f.mu.Unlock()
				if start {
					go s.drainFailures(f)
				}
			})
		}
		f.skipped++
		f.mu.Unlock()
		return
	}
	f.logged++
	if len(f.pending) < maxPendingFailures {
		f.pending = append(f.pending, e)
	} else {
		f.dropped++
	}
	start := !f.running
	f.running = true
	f.mu.Unlock()
	if start {
		go s.drainFailures(f)
	}
}

// reportSkipped queues the summary row of failures skipped over the
// budget, with f.mu held. It reports whether the caller must start a
// drain.
func (f *Failures) reportSkipped(s *Store) (start bool) {
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
	if f.skipped == 0 {
		return false
	}
	f.pending = append(f.pending, Event{Time: s.now(), Op: "dropped", Status: 429,
		Detail: strconv.Itoa(f.skipped) + " refused requests were not recorded: more than " + strconv.Itoa(FailureRowsPerMinute) + " arrived within a minute (the log's budget)"})
	f.skipped = 0
	start = !f.running
	f.running = true
	return start
}

func (s *Store) drainFailures(f *Failures) {
	for {
		f.mu.Lock()
		batch, dropped := f.pending, f.dropped
		f.pending, f.dropped = nil, 0
		if len(batch) == 0 && dropped == 0 {
			f.running = false
			if f.idle != nil {
				f.idle.Broadcast()
			}
			f.mu.Unlock()
			return
		}
		f.mu.Unlock()
		// A failure record that cannot be written is lost: the request it
		// describes already failed and was logged on stderr.
		_ = s.writeFailures(context.Background(), batch, dropped)
	}
}

// FlushFailures waits until every failure recorded so far is written. The
// server calls it when it stops.
func (s *Store) FlushFailures(ctx context.Context, f *Failures) error {
	f.mu.Lock()
	if f.idle == nil {
		f.idle = sync.NewCond(&f.mu)
	}
	for f.running {
		f.idle.Wait()
	}
	if f.skipped > 0 {
		f.reportSkipped(s)
		f.running = false // this call writes the batch itself
	}
	batch, dropped := f.pending, f.dropped
	f.pending, f.dropped = nil, 0
	f.mu.Unlock()
	if len(batch) == 0 && dropped == 0 {
		return nil
	}
	return s.writeFailures(ctx, batch, dropped)
}

func (s *Store) writeFailures(ctx context.Context, batch []Event, dropped int) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		st, err := tx.Prepare(`INSERT INTO events (time, token, agent, op, resource_type, resource_id, name, attrs, status, scim_type, detail)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return classify(err)
		}
		defer st.Close()
		for _, e := range batch {
			if e.Attrs == nil {
				e.Attrs = []string{}
			}
			attrs, _ := json.Marshal(e.Attrs)
			if _, err := st.Exec(e.Time.UTC().Format(timeFormat), e.Token, clipText(e.Agent, 300), e.Op, e.ResourceType,
				clipText(e.ResourceID, 100), e.Name, string(attrs), e.Status, e.ScimType, e.Detail); err != nil {
				return classify(err)
			}
		}
		if dropped > 0 {
			if _, err := st.Exec(s.stamp(), "", "", "dropped", "", "", "", "[]", 503, "",
				strconv.Itoa(dropped)+" failed requests were not logged: too many arrived at once"); err != nil {
				return classify(err)
			}
		}
		return nil
	})
}

// clipText cuts s to at most n bytes on a character boundary.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// quoted matches a double-quoted string as error details write them (%q).
var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// redactDetail keeps an error detail fit for the log, which must never hold
// attribute values: every quoted string in it (where details put the
// client's values, e.g. `userName "x" is already taken`) becomes "…", and
// the result is at most 500 bytes. Attribute names, ids and scimType are
// not quoted and stay readable.
func redactDetail(d string) string {
	return clipText(quoted.ReplaceAllString(d, `"…"`), 500)
}
