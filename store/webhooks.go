package store

// The webhook outbox, delivery side: the state each configured endpoint
// keeps in the database, so that delivery survives restarts and kill -9 and
// the admin commands (scimd webhooks ...) can act beside a running server.
//
// The request path writes one outbox row per change. Each endpoint has a
// cursor over the outbox: a delivery round reads the events past it
// (NewEvents, on the read pool), sends them, and then, in one transaction
// (Settle), moves the cursor and records the counts. An event gets a
// delivery row only when it was not delivered at once: it failed and
// waits for a retry, or an earlier event of its resource is waiting (so
// that each resource's events arrive in commit order), or the admin
// commands asked for it (retry, replay). On the common path, then, an
// event costs the writer nothing beyond its outbox row: no row per event
// made at fan-out and deleted on delivery. Delivery state is per endpoint,
// while the event (and its webhook-id) is shared.

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
)

// OutboxEvent is one stored event.
type OutboxEvent struct {
	Seq        int64
	MsgID      string // webhook-id
	Type       string
	Time       time.Time
	ResourceID string
	data       string
	created    sql.NullString
	modified   sql.NullString
	version    sql.NullInt64
	refs       sql.NullString
}

// Snapshot returns the resource an event carries as it was after the
// change, for rendering as GET would; ok is false for events whose data is
// final (Data).
func (e *OutboxEvent) Snapshot() (r *Resource, k Kind, ok bool, err error) {
	if !e.created.Valid {
		return nil, nil, false, nil
	}
	doc, err := decodeDoc(e.data)
	if err != nil {
		return nil, nil, false, err
	}
	if e.refs.Valid {
		doc["groups"], err = decodeJSONArray(e.refs.String)
		if err != nil {
			return nil, nil, false, err
		}
	}
	k = Users
	if strings.HasPrefix(e.Type, "group.") {
		k = Groups
	}
	return &Resource{ID: e.ResourceID, Doc: doc, Created: e.created.String, Modified: e.modified.String, Version: e.version.Int64}, k, true, nil
}

// Stored returns the resource an event carries with its stored JSON in
// Text and Doc nil, as Query.Raw reads a resource, so that it can be sent
// without decoding; ok is false for events whose data is final and for
// users that were in groups (whose refs only the decoded form carries),
// which Snapshot renders instead.
func (e *OutboxEvent) Stored() (r *Resource, k Kind, ok bool) {
	if !e.created.Valid || e.refs.Valid {
		return nil, nil, false
	}
	k = Users
	if strings.HasPrefix(e.Type, "group.") {
		k = Groups
	}
	return &Resource{ID: e.ResourceID, Text: []byte(e.data), Created: e.created.String, Modified: e.modified.String, Version: e.version.Int64}, k, true
}

// Data is the JSON of an event whose data is final (*.deleted,
// group.members.*).
func (e *OutboxEvent) Data() []byte { return []byte(e.data) }

// Delivery is one pending delivery of an event to an endpoint.
type Delivery struct {
	Seq        int64
	ResourceID string
	Attempts   int
	NextAt     time.Time // zero: due now
	Since      time.Time // when it became pending (a new event: its commit; retry, replay: then); max_age counts from here
}

// DeliveryResult is the outcome of one attempt, or, for a new event
// (New), of its first attempt or of its not being tried.
type DeliveryResult struct {
	Seq int64
	// New: the event came from NewEvents and has no delivery row; one is
	// made unless it was delivered. Attempts 0 and no error: it was not
	// tried, because an earlier event of its resource is pending.
	New        bool
	ResourceID string    // for New
	Since      time.Time // the Delivery's Since (a New event's commit time): an outcome is not recorded over a retry or replay made meanwhile
	Attempts   int       // attempts made, this one included
	Delivered  bool      // a 2xx answer
	Failed     bool      // given up: max_age passed
	Gone       bool      // 410: pause the endpoint, keep the event pending
	NextAt     time.Time // when to try again, if neither
	Error      string    // what went wrong, without secrets
}

// WebhookState is what the database knows about one endpoint.
type WebhookState struct {
	Name        string
	Known       bool // a server or admin command has set the endpoint up
	Paused      *time.Time
	LastSuccess *time.Time
	LastError   string
	LastErrorAt *time.Time
	Delivered   int64 // events delivered, all time
	Failed      int64 // events given up on, all time
	Backlog     int64 // events not yet delivered (pending, or past the cursor)
	Oldest      *time.Time
}

// ErrNoWebhook is returned for an endpoint the database does not know.
var ErrNoWebhook = errors.New("no webhook endpoint has that name")

// OutboxReady is signalled after a commit that stored events, so the
// deliverer need not poll for them.
func (s *Store) OutboxReady() <-chan struct{} { return s.outboxReady }

// typeMatch is the SQL condition for an endpoint's event patterns (exact
// types or "prefix.*", validated by the config), as GLOB patterns.
func typeMatch(patterns []string) (string, []any) {
	if len(patterns) == 0 {
		return "1", nil
	}
	args := make([]any, len(patterns))
	for i, p := range patterns {
		args[i] = p
	}
	return "(type GLOB ?" + strings.Repeat(" OR type GLOB ?", len(patterns)-1) + ")", args
}

// SetupWebhooks makes sure each named endpoint has its row. A new endpoint
// starts at the end of the outbox: it gets the events committed from now
// on, not older ones (webhooks replay delivers those).
func (s *Store) SetupWebhooks(ctx context.Context, names []string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		for _, n := range names {
			if _, err := tx.Exec(`INSERT OR IGNORE INTO webhook_endpoints (name, cursor)
				VALUES (?, (SELECT coalesce(max(seq), 0) FROM outbox))`, n); err != nil {
				return classify(err)
			}
		}
		return nil
	})
}

// NewEvents reads, on the read pool, up to limit events past the
// endpoint's cursor: those it subscribes to and that have no delivery row
// yet (a round that stopped early leaves rows past the cursor), in commit
// order. hi is the highest seq it looked at, subscribed to or not; 0 when
// there was nothing past the cursor. Nothing is written: the round that
// sends them moves the cursor (Settle).
func (s *Store) NewEvents(ctx context.Context, name string, patterns []string, limit int) (events []*OutboxEvent, hi int64, err error) {
	// The subscription is a column, not a condition, so that hi covers
	// the events the endpoint does not want too. data '' is a resource
	// event whose document its resource's row still holds (emitResource).
	cond, args := typeMatch(patterns)
	rows, err := s.ctxQ(ctx, s.r).Query(`SELECT o.seq, o.msg_id, o.type, o.time, o.resource_id,
			CASE WHEN o.data <> '' THEN o.data
				WHEN o.type GLOB 'user.*' THEN coalesce((SELECT doc FROM users WHERE id = o.resource_id), '')
				ELSE coalesce((SELECT doc FROM groups WHERE id = o.resource_id), '') END,
			o.created, o.modified, o.version, o.refs,
			`+cond+` AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.endpoint = ? AND d.seq = o.seq)
		FROM outbox o WHERE o.seq > (SELECT cursor FROM webhook_endpoints WHERE name = ?) ORDER BY o.seq LIMIT ?`,
		append(args, name, name, limit)...)
	if err != nil {
		return nil, 0, classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			e    OutboxEvent
			at   string
			want bool
		)
		if err := rows.Scan(&e.Seq, &e.MsgID, &e.Type, &at, &e.ResourceID, &e.data, &e.created, &e.modified, &e.version, &e.refs, &want); err != nil {
			return nil, 0, err
		}
		hi = e.Seq
		if !want {
			continue
		}
		e.Time = parseTime(at)
		events = append(events, &e)
	}
	return events, hi, classify(rows.Err())
}

// PendingDeliveries lists up to limit pending deliveries of an endpoint in
// commit order, due or not (the deliverer keeps each resource's events in
// order, so a later event waits for an earlier one in backoff).
func (s *Store) PendingDeliveries(ctx context.Context, name string, limit int) ([]Delivery, error) {
	// INDEXED BY: without it SQLite walks the primary key, through every
	// delivered row of the endpoint, to find the few pending ones.
	rows, err := s.ctxQ(ctx, s.r).Query(`SELECT seq, resource_id, attempts, next_at, since FROM webhook_deliveries INDEXED BY webhook_pending
		WHERE endpoint = ? AND state = 0 ORDER BY seq LIMIT ?`, name, limit)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		var (
			d           Delivery
			next, since string
		)
		if err := rows.Scan(&d.Seq, &d.ResourceID, &d.Attempts, &next, &since); err != nil {
			return nil, err
		}
		if next != "" {
			d.NextAt = parseTime(next)
		}
		d.Since = parseTime(since)
		out = append(out, d)
	}
	return out, classify(rows.Err())
}

// OutboxEvents reads the events with the given seqs.
func (s *Store) OutboxEvents(ctx context.Context, seqs []int64) (map[int64]*OutboxEvent, error) {
	out := make(map[int64]*OutboxEvent, len(seqs))
	const chunk = 100
	for len(seqs) > 0 {
		n := min(chunk, len(seqs))
		part := seqs[:n]
		seqs = seqs[n:]
		args := make([]any, n)
		for i, q := range part {
			args[i] = q
		}
		// data '' is a resource event whose document its resource's row
		// still holds (emitResource).
		rows, err := s.r.QueryContext(ctx, `SELECT seq, msg_id, type, time, resource_id,
				CASE WHEN data <> '' THEN data
					WHEN type GLOB 'user.*' THEN coalesce((SELECT doc FROM users WHERE id = resource_id), '')
					ELSE coalesce((SELECT doc FROM groups WHERE id = resource_id), '') END,
				created, modified, version, refs
			FROM outbox WHERE seq IN (?`+strings.Repeat(", ?", n-1)+`)`, args...)
		if err != nil {
			return nil, classify(err)
		}
		for rows.Next() {
			var (
				e  OutboxEvent
				at string
			)
			if err := rows.Scan(&e.Seq, &e.MsgID, &e.Type, &at, &e.ResourceID, &e.data, &e.created, &e.modified, &e.version, &e.refs); err != nil {
				rows.Close()
				return nil, err
			}
			e.Time = parseTime(at)
			out[e.Seq] = &e
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, classify(err)
		}
	}
	return out, nil
}

// Settle stores the outcomes of a round, the endpoint's counters, and the
// cursor's move past the new events the round covered (delivered, or
// given a delivery row here), in one transaction: a round costs the writer
// one job, however many events it sent. An event delivered but not yet
// settled when the process dies is sent again (at-least-once, the same
// webhook-id). cursor 0 leaves the cursor where it is.
func (s *Store) Settle(ctx context.Context, name string, results []DeliveryResult, cursor int64) error {
	if len(results) == 0 && cursor == 0 {
		return nil
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		if len(results) > 0 {
			if err := s.record(tx, name, results); err != nil {
				return err
			}
		}
		if cursor == 0 {
			return nil
		}
		_, err := s.writeQ(tx).Exec(`UPDATE webhook_endpoints SET cursor = max(cursor, ?) WHERE name = ?`, cursor, name)
		return classify(err)
	})
}

func (s *Store) record(tx *sql.Tx, name string, results []DeliveryResult) error {
	now := s.stamp()
	q := s.writeQ(tx)
	var delivered, failed int64
	var lastOK, lastErr, gone bool
	var errText string
	for _, r := range results {
		var err error
		since := r.Since.UTC().Format(timeFormat)
		switch {
		case r.Delivered:
			delivered++
			lastOK = true
			if r.New {
				continue
			}
			// Only the count is kept: the event itself stays in the
			// outbox for replay until the retention passes.
			_, err = q.Exec(`DELETE FROM webhook_deliveries WHERE endpoint = ? AND seq = ? AND since = ?`, name, r.Seq, since)
		case r.Failed:
			failed++
			lastErr, errText = true, r.Error
			if r.New {
				_, err = q.Exec(`INSERT OR IGNORE INTO webhook_deliveries (endpoint, seq, resource_id, state, attempts, since, done_at, last_error)
					VALUES (?, ?, ?, 2, ?, ?, ?, ?)`, name, r.Seq, r.ResourceID, r.Attempts, since, now, r.Error)
				break
			}
			_, err = q.Exec(`UPDATE webhook_deliveries SET state = 2, attempts = ?, done_at = ?, last_error = ? WHERE endpoint = ? AND seq = ? AND since = ?`,
				r.Attempts, now, r.Error, name, r.Seq, since)
		default:
			if r.Error != "" {
				lastErr, errText = true, r.Error
			}
			gone = gone || r.Gone
			next := ""
			if !r.NextAt.IsZero() {
				next = r.NextAt.UTC().Format(timeFormat)
			}
			if r.New {
				_, err = q.Exec(`INSERT OR IGNORE INTO webhook_deliveries (endpoint, seq, resource_id, attempts, since, next_at, last_error)
					VALUES (?, ?, ?, ?, ?, ?, ?)`, name, r.Seq, r.ResourceID, r.Attempts, since, next, r.Error)
				break
			}
			_, err = q.Exec(`UPDATE webhook_deliveries SET attempts = ?, next_at = ?, last_error = ? WHERE endpoint = ? AND seq = ? AND state = 0 AND since = ?`,
				r.Attempts, next, r.Error, name, r.Seq, since)
		}
		if err != nil {
			return classify(err)
		}
	}
	var ok, bad, paused any
	if lastOK {
		ok = now
	}
	if lastErr {
		bad = now
	}
	if gone {
		paused = now
	}
	_, err := q.Exec(`UPDATE webhook_endpoints SET delivered = delivered + ?, failed = failed + ?,
		last_success = coalesce(?, last_success), last_error_at = coalesce(?, last_error_at),
		last_error = CASE WHEN ? IS NULL THEN last_error ELSE ? END, paused = coalesce(?, paused) WHERE name = ?`,
		delivered, failed, ok, bad, bad, errText, paused, name)
	return classify(err)
}

// WebhookStatus reads an endpoint's state and backlog: pending deliveries
// plus the events past its cursor that it subscribes to and that have no
// delivery row.
func (s *Store) WebhookStatus(ctx context.Context, name string, patterns []string) (*WebhookState, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, classify(err)
	}
	defer tx.Rollback()
	w := &WebhookState{Name: name}
	var (
		cur                       int64
		paused, lastOK, lastErrAt sql.NullString
	)
	err = tx.QueryRowContext(ctx, `SELECT cursor, paused, last_success, last_error, last_error_at, delivered, failed
		FROM webhook_endpoints WHERE name = ?`, name).Scan(&cur, &paused, &lastOK, &w.LastError, &lastErrAt, &w.Delivered, &w.Failed)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return w, nil
	case err != nil:
		return nil, classify(err)
	}
	w.Known = true
	w.Paused, w.LastSuccess, w.LastErrorAt = parseTimePtr(paused), parseTimePtr(lastOK), parseTimePtr(lastErrAt)
	var oldest sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT count(*), (SELECT o.time FROM webhook_deliveries d JOIN outbox o ON o.seq = d.seq
			WHERE d.endpoint = ? AND d.state = 0 ORDER BY d.seq LIMIT 1)
		FROM webhook_deliveries WHERE endpoint = ? AND state = 0`, name, name).Scan(&w.Backlog, &oldest); err != nil {
		return nil, classify(err)
	}
	cond, args := typeMatch(patterns)
	var more int64
	var first sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT count(*), min(time) FROM outbox o WHERE seq > ?
			AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.endpoint = ? AND d.seq = o.seq) AND `+cond, append([]any{cur, name}, args...)...).
		Scan(&more, &first); err != nil {
		return nil, classify(err)
	}
	w.Backlog += more
	if !oldest.Valid {
		oldest = first
	}
	w.Oldest = parseTimePtr(oldest)
	return w, nil
}

// ResumeWebhook lifts the pause a 410 Gone put on an endpoint; its pending
// events are delivered again. It reports whether it was paused.
func (s *Store) ResumeWebhook(ctx context.Context, name string) (bool, error) {
	var was bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		var paused sql.NullString
		if err := tx.QueryRow(`SELECT paused FROM webhook_endpoints WHERE name = ?`, name).Scan(&paused); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNoWebhook
			}
			return classify(err)
		}
		was = paused.Valid
		// Due at once: the pause, not the backoff, held them.
		if _, err := tx.Exec(`UPDATE webhook_deliveries SET next_at = '' WHERE endpoint = ? AND state = 0`, name); err != nil {
			return classify(err)
		}
		_, err := tx.Exec(`UPDATE webhook_endpoints SET paused = NULL WHERE name = ?`, name)
		return classify(err)
	})
	return was, err
}

// RetryWebhook makes an endpoint's failed events pending again, due now,
// with a fresh max_age; it returns how many.
func (s *Store) RetryWebhook(ctx context.Context, name string) (int64, error) {
	var n int64
	now := s.stamp()
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := s.knownWebhook(tx, name); err != nil {
			return err
		}
		res, err := tx.Exec(`UPDATE webhook_deliveries SET state = 0, attempts = 0, next_at = '', since = ?, done_at = NULL
			WHERE endpoint = ? AND state = 2`, now, name)
		if err != nil {
			return classify(err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}

// ReplayWebhook delivers again, with their original webhook-ids, the
// events since a time that the endpoint subscribes to and that are still
// kept ([events] retention), whether they were delivered, failed or never
// sent to it. It returns how many became pending.
func (s *Store) ReplayWebhook(ctx context.Context, name string, patterns []string, since time.Time) (int64, error) {
	var n int64
	now := s.stamp()
	cond, args := typeMatch(patterns)
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := s.knownWebhook(tx, name); err != nil {
			return err
		}
		a := append([]any{name, now, since.UTC().Format(timeFormat), name}, args...)
		res, err := tx.Exec(`INSERT INTO webhook_deliveries (endpoint, seq, resource_id, since)
			SELECT ?, seq, resource_id, ? FROM outbox WHERE time >= ? AND seq <= (SELECT cursor FROM webhook_endpoints WHERE name = ?) AND `+cond+`
			ON CONFLICT (endpoint, seq) DO UPDATE SET state = 0, attempts = 0, next_at = '', since = excluded.since, done_at = NULL, last_error = ''`, a...)
		if err != nil {
			return classify(err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}

func (s *Store) knownWebhook(tx *sql.Tx, name string) error {
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM webhook_endpoints WHERE name = ?`, name).Scan(&n); err != nil {
		return classify(err)
	}
	if n == 0 {
		return ErrNoWebhook
	}
	return nil
}

// PruneOutbox deletes events older than before that every named endpoint
// has passed and none of them still has pending, in small transactions,
// and returns how many. Delivery rows go with their events. Events pending
// only for an endpoint no longer configured do not hold pruning back.
func (s *Store) PruneOutbox(ctx context.Context, before time.Time, names []string) (int64, error) {
	if len(names) == 0 {
		// No endpoint: nothing can be pending any more.
		names = []string{""}
	}
	cut := before.UTC().Format(timeFormat)
	in := "?" + strings.Repeat(", ?", len(names)-1)
	return s.pruneBatches(ctx, func(tx *sql.Tx) (int64, error) {
		args := []any{cut}
		for _, nm := range names {
			args = append(args, nm)
		}
		for _, nm := range names {
			args = append(args, nm)
		}
		args = append(args, pruneBatch)
		// Never the row with the highest seq: seq must keep growing
		// (migration 0012).
		rows, err := tx.Query(`DELETE FROM outbox WHERE seq IN (SELECT o.seq FROM outbox o WHERE o.time < ?
			AND o.seq < (SELECT max(seq) FROM outbox)
			AND o.seq <= coalesce((SELECT min(cursor) FROM webhook_endpoints WHERE name IN (`+in+`)), 9223372036854775807)
			AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.endpoint IN (`+in+`) AND d.seq = o.seq AND d.state = 0)
			ORDER BY o.seq LIMIT ?) RETURNING seq`, args...)
		if err != nil {
			return 0, classify(err)
		}
		var gone []int64
		for rows.Next() {
			var seq int64
			if err := rows.Scan(&seq); err != nil {
				rows.Close()
				return 0, err
			}
			gone = append(gone, seq)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, classify(err)
		}
		// Their failed rows (and any of endpoints no longer
		// configured) go with them, by primary key.
		for _, seq := range gone {
			if _, err := tx.Exec(`DELETE FROM webhook_deliveries WHERE endpoint IN (SELECT name FROM webhook_endpoints) AND seq = ?`, seq); err != nil {
				return 0, classify(err)
			}
		}
		return int64(len(gone)), nil
	})
}

// decodeJSONArray parses a small JSON array of objects (a user's groups).
func decodeJSONArray(text string) ([]any, error) {
	doc, err := decodeDoc(`{"a":` + text + `}`)
	if err != nil {
		return nil, err
	}
	l, _ := doc["a"].([]any)
	return l, nil
}
