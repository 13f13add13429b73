package store

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"time"
)

// Stats is a summary of the directory and the database file, for
// scimd status.
type Stats struct {
	UsersActive   int64
	UsersInactive int64
	UsersDeleted  int64 // kept by [users] on_delete = "deactivate", invisible to SCIM
	Groups        int64
	Memberships   int64
	DBBytes       int64      // the database file
	WALBytes      int64      // its write-ahead log, not yet checkpointed
	LastWrite     *time.Time // the last change made through SCIM; nil if none
	Events        int64      // rows in the provisioning log
	FailedEvents  int64      // of which failed requests
}

// Stats counts users, groups and memberships in one read transaction and
// measures the database files.
func (s *Store) Stats(ctx context.Context) (*Stats, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, classify(err)
	}
	defer tx.Rollback()
	var st Stats
	for _, q := range []struct {
		sql string
		dst *int64
	}{
		{`SELECT count(*) FROM users WHERE active = 1`, &st.UsersActive},
		{`SELECT count(*) FROM users WHERE active = 0`, &st.UsersInactive},
		{`SELECT count(*) FROM users_deleted`, &st.UsersDeleted},
		{`SELECT count(*) FROM groups`, &st.Groups},
		{`SELECT count(*) FROM members`, &st.Memberships},
		{`SELECT count(*) FROM events`, &st.Events},
		{`SELECT count(*) FROM events WHERE status >= 400`, &st.FailedEvents},
	} {
		if err := tx.QueryRowContext(ctx, q.sql).Scan(q.dst); err != nil {
			return nil, classify(err)
		}
	}
	var last string
	err = tx.QueryRowContext(ctx, `SELECT value FROM state WHERE key = 'last_write'`).Scan(&last)
	switch {
	case err == nil:
		t := parseTime(last)
		st.LastWrite = &t
	case !errors.Is(err, sql.ErrNoRows):
		return nil, classify(err)
	}
	if fi, err := os.Stat(s.path); err == nil {
		st.DBBytes = fi.Size()
	}
	if fi, err := os.Stat(s.path + "-wal"); err == nil {
		st.WALBytes = fi.Size()
	}
	return &st, nil
}
