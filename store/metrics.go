package store

// What the admin listener (package admin) reads: write-batch statistics
// from the writer goroutine, directory counts kept by triggers, and the
// provisioning log newest first.

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// BatchStats describes one write transaction of the writer goroutine:
// Writes requests shared it (group commit), Failed of them were rolled
// back alone or with it, Duration is the whole transaction and Commit the
// COMMIT itself (the fsync of synchronous=FULL).
type BatchStats struct {
	Writes   int
	Failed   int
	Duration time.Duration
	Commit   time.Duration
}

// observeBatch reports a finished batch to Options.OnBatch.
func (s *Store) observeBatch(start time.Time, results []error, commit *time.Duration) {
	b := BatchStats{Writes: len(results), Duration: time.Since(start), Commit: *commit}
	for _, r := range results {
		if r != nil {
			b.Failed++
		}
	}
	s.opt.OnBatch(b)
}

// Counts is the size of the directory.
type Counts struct {
	UsersActive   int64
	UsersInactive int64
	Groups        int64
	Memberships   int64
}

// Counts reads the directory's size cheaply enough for every metrics
// scrape: users, inactive users and groups come from the counts table that
// triggers keep (migrations 0004 and 0008); memberships are counted on the
// smaller of their two indexes.
func (s *Store) Counts(ctx context.Context) (Counts, error) {
	var c Counts
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return c, classify(err)
	}
	defer tx.Rollback()
	var users int64
	rows, err := tx.QueryContext(ctx, `SELECT name, n FROM counts WHERE name IN ('users', 'users_inactive', 'groups')`)
	if err != nil {
		return c, classify(err)
	}
	for rows.Next() {
		var (
			name string
			n    int64
		)
		if err := rows.Scan(&name, &n); err != nil {
			rows.Close()
			return c, err
		}
		switch name {
		case "users":
			users = n
		case "users_inactive":
			c.UsersInactive = n
		case "groups":
			c.Groups = n
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return c, classify(err)
	}
	c.UsersActive = users - c.UsersInactive
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM members`).Scan(&c.Memberships); err != nil {
		return c, classify(err)
	}
	return c, nil
}

// RecentEvents returns up to limit log rows matching q (its After is
// ignored), newest first, older than the row before (0: from the newest).
// The status page pages through the log with it, as Entra's provisioning
// log does.
func (s *Store) RecentEvents(ctx context.Context, q EventQuery, before int64, limit int) ([]*Event, error) {
	conds, args, err := s.eventConds(ctx, q)
	if err != nil {
		return nil, err
	}
	where := "1"
	if before > 0 {
		where = "seq < ?"
		args = append([]any{before}, args...)
	}
	for _, c := range conds {
		where += " AND (" + c + ")"
	}
	return s.eventPage(ctx, where, args, "seq DESC", limit)
}

// LastWrite is when the directory last changed through SCIM; nil if never.
func (s *Store) LastWrite(ctx context.Context) (*time.Time, error) {
	var last string
	err := s.r.QueryRowContext(ctx, `SELECT value FROM state WHERE key = 'last_write'`).Scan(&last)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, classify(err)
	}
	t := parseTime(last)
	return &t, nil
}

// FailuresSince counts the failed requests logged at or after t.
func (s *Store) FailuresSince(ctx context.Context, t time.Time) (int64, error) {
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM events WHERE status >= 400 AND time >= ?`, t.UTC().Format(timeFormat)).Scan(&n)
	return n, classify(err)
}
