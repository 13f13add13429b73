package store

import (
	"context"
	"database/sql"
	"fmt"
)

// SetMaxPageCount caps the database at n pages on the writing connections
// (PRAGMA max_page_count): a write that needs more room fails with
// SQLITE_FULL exactly as on a full disk, and raising the cap is the disk
// getting space back. The cap never goes below the current size. It is
// defined in a _test.go file so that only tests (fault_test.go) can use it.
// The pragma is per connection, so it is set on every connection of the
// writer pool: all of them are taken at once, which also waits for any
// write in progress.
func (s *Store) SetMaxPageCount(n int64) (int64, error) {
	ctx := context.Background()
	var conns []*sql.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var got int64
	for i := 0; i < 2; i++ { // the writer pool's size (store.go)
		c, err := s.w.Conn(ctx)
		if err != nil {
			return 0, err
		}
		conns = append(conns, c)
		if err := c.QueryRowContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", n)).Scan(&got); err != nil {
			return 0, err
		}
	}
	return got, nil
}

// SetReadOnly makes the writing connections refuse every change with
// SQLITE_READONLY (PRAGMA query_only), as a database file or file system
// that became read-only does, or lets them write again.
func (s *Store) SetReadOnly(on bool) error {
	ctx := context.Background()
	var conns []*sql.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	v := 0
	if on {
		v = 1
	}
	for i := 0; i < 2; i++ { // the writer pool's size (store.go)
		c, err := s.w.Conn(ctx)
		if err != nil {
			return err
		}
		conns = append(conns, c)
		if _, err := c.ExecContext(ctx, fmt.Sprintf("PRAGMA query_only = %d", v)); err != nil {
			return err
		}
	}
	return nil
}
