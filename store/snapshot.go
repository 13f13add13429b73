package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"sync"
	"time"
)

// Lookups (a list query that an index narrows: Entra's and Okta's
// "userName eq x") run on a few read connections that keep their read
// transaction open from one lookup to the next, and drive the SQLite
// driver directly.
//
// An autocommit statement begins and ends a read transaction of its own:
// each time SQLite takes and drops a lock in the -shm file with fcntl and
// rereads the WAL-index; under a lookup load that was about a quarter of
// the query's cost. A snapshot kept open is only reused while it is
// provably current, which makes every read as fresh as an autocommit one:
//
//   - no directory write of this process has been committed since it
//     began (Store.dirGen, the generation page marks use, moves after such
//     a commit, before the write is acknowledged, so a client that reads
//     after its write returned never gets a snapshot from before it:
//     read-your-writes; lookups read only users, groups and members);
//   - the WAL-index header, which every commit by any process rewrites
//     (see fileFingerprint), is the one read before the snapshot began:
//     token, user and group changes made by admin commands in another
//     process are seen by the next lookup;
//   - it is younger than snapMaxAge (a safety net, as maxAuthAge is).
//
// Otherwise it is ended and a new one begun. A snapshot also keeps the WAL
// frames after it from being folded back by a checkpoint only while it is
// held; the sweeper ends snapshots unused for snapIdle, so that once
// lookups pause, checkpoints (the writer's, the replicator's, 'scimd
// backup') find no reader in the way. When the header cannot be read,
// every lookup ends its snapshot at once (as autocommit would).
//
// Driving the driver connection directly (sql.Conn.Raw) skips
// database/sql's per-query and per-row locking, its context watcher and
// its value conversions, and each connection keeps its own prepared
// statements.
const (
	snapIdle   = 100 * time.Millisecond
	snapMaxAge = time.Second
	// snapStmts bounds the statements each connection keeps prepared; the
	// lookups have few shapes. Longer SQL than maxCachedSQL is never kept.
	snapStmts = 16
)

// snapConn is one read connection held out of the read pool, with its
// open snapshot.
type snapConn struct {
	c     *sql.Conn
	inTx  bool
	gen   int64    // Store.dirGen when the snapshot began
	hdr   [48]byte // WAL-index header read before it began
	began time.Time
	used  time.Time
	stmts map[string]driver.Stmt
	order []string // stmts' keys, oldest first
	// broken: BEGIN or ROLLBACK failed, so whether a transaction is open
	// is unknown; the connection is closed instead of reused.
	broken bool
}

type snapPool struct {
	mu     sync.Mutex
	idle   []*snapConn // most recently used last
	open   int
	max    int
	closed bool
}

// snapConnections is how many read connections serve lookups this way:
// half the read pool, so that the other reads (counts, groups, GET by id)
// always find a connection there.
func snapConnections(readPool int) int { return max(1, readPool/2) }

// getSnap returns an idle lookup connection, takes a new one out of the
// read pool, or returns nil when all are busy (the caller then uses the
// pool as before).
func (s *Store) getSnap(ctx context.Context) *snapConn {
	p := &s.snaps
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	for n := len(p.idle); n > 0; n = len(p.idle) {
		sc := p.idle[n-1]
		p.idle = p.idle[:n-1]
		if !sc.broken {
			p.mu.Unlock()
			return sc
		}
		p.open-- // ended badly by the sweeper
		p.mu.Unlock()
		sc.close()
		p.mu.Lock()
	}
	if p.open >= p.max {
		p.mu.Unlock()
		return nil
	}
	p.open++
	p.mu.Unlock()
	c, err := s.r.Conn(ctx)
	if err != nil {
		p.mu.Lock()
		p.open--
		p.mu.Unlock()
		return nil
	}
	return &snapConn{c: c, stmts: map[string]driver.Stmt{}}
}

// putSnap gives sc back; a connection that failed is closed instead.
func (s *Store) putSnap(sc *snapConn, bad bool) {
	p := &s.snaps
	p.mu.Lock()
	if bad || sc.broken || p.closed {
		p.open--
		p.mu.Unlock()
		sc.close()
		return
	}
	sc.used = time.Now()
	p.idle = append(p.idle, sc)
	p.mu.Unlock()
}

// sweepSnaps ends the snapshots of connections idle for snapIdle, every
// snapIdle, until the store closes.
func (s *Store) sweepSnaps() {
	defer s.wg.Done()
	t := time.NewTicker(snapIdle)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		// A connection whose ROLLBACK fails here is marked broken and
		// closed by the next getSnap.
		p := &s.snaps
		now := time.Now()
		p.mu.Lock()
		for _, sc := range p.idle {
			if sc.inTx && now.Sub(sc.used) >= snapIdle {
				// A few microseconds under the lock, at most every snapIdle.
				sc.c.Raw(func(dc any) error { return sc.end(dc) })
			}
		}
		p.mu.Unlock()
	}
}

// closeSnaps ends every snapshot and closes the connections (Close).
func (s *Store) closeSnaps() {
	p := &s.snaps
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.open -= len(idle)
	p.mu.Unlock()
	for _, sc := range idle {
		sc.close()
	}
}

func (sc *snapConn) close() {
	sc.c.Raw(func(dc any) error {
		sc.end(dc)
		for _, st := range sc.stmts {
			st.Close()
		}
		sc.stmts = nil
		return nil
	})
	sc.c.Close()
}

// end ends the open snapshot, if any.
func (sc *snapConn) end(dc any) error {
	if !sc.inTx {
		return nil
	}
	sc.inTx = false
	_, err := dc.(driver.ExecerContext).ExecContext(context.Background(), "ROLLBACK", nil)
	if err != nil {
		sc.broken = true
	}
	return err
}

// snapQuery runs query on a lookup connection, in a snapshot that is
// current (see above), and calls row for each row; the values it gets are
// the driver's (int64, float64, string, []byte, nil) and valid only during
// the call. done is false, and nothing was run, when no lookup connection
// was free.
func (s *Store) snapQuery(ctx context.Context, query string, args []any, row func([]driver.Value) error) (done bool, err error) {
	sc := s.getSnap(ctx)
	if sc == nil {
		return false, nil
	}
	err = sc.c.Raw(func(dc any) error { return s.snapRun(ctx, sc, dc, query, args, row) })
	s.putSnap(sc, errors.Is(err, driver.ErrBadConn))
	return true, err
}

func (s *Store) snapRun(ctx context.Context, sc *snapConn, dc any, query string, args []any, row func([]driver.Value) error) error {
	// Moves on before every acknowledgement: read first, so that a commit
	// landing from here on is seen either here or by the next lookup.
	gen := s.dirGen.Load()
	var hdr [48]byte
	hdrOK := s.walHeader(&hdr)
	now := time.Now()
	if sc.inTx && (!hdrOK || gen != sc.gen || hdr != sc.hdr || now.Sub(sc.began) >= snapMaxAge) {
		if err := sc.end(dc); err != nil {
			return err
		}
	}
	if !sc.inTx {
		// BEGIN is deferred: the snapshot starts with the query below,
		// after gen and hdr were read, so it is at least as new as they.
		if _, err := dc.(driver.ExecerContext).ExecContext(ctx, "BEGIN", nil); err != nil {
			sc.broken = true
			return err
		}
		sc.inTx, sc.gen, sc.hdr, sc.began = true, gen, hdr, now
	}
	err := sc.query(ctx, dc, query, args, row)
	if err != nil || !hdrOK {
		// After an error (an interrupt, say) start afresh next time.
		err = errors.Join(err, sc.end(dc))
	}
	return err
}

func (sc *snapConn) query(ctx context.Context, dc any, query string, args []any, row func([]driver.Value) error) error {
	st, keep := sc.stmts[query]
	if !keep {
		var err error
		if st, err = dc.(driver.ConnPrepareContext).PrepareContext(ctx, query); err != nil {
			return err
		}
		if len(query) <= maxCachedSQL {
			keep = true
			if len(sc.order) >= snapStmts {
				old := sc.order[0]
				sc.order = sc.order[1:]
				sc.stmts[old].Close()
				delete(sc.stmts, old)
			}
			sc.stmts[query] = st
			sc.order = append(sc.order, query)
		} else {
			defer st.Close()
		}
	}
	nv := make([]driver.NamedValue, len(args))
	for i, a := range args {
		v, err := driver.DefaultParameterConverter.ConvertValue(a)
		if err != nil {
			return err
		}
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	rows, err := st.(driver.StmtQueryContext).QueryContext(ctx, nv)
	if err != nil {
		return err
	}
	dest := make([]driver.Value, len(rows.Columns()))
	for {
		if err := rows.Next(dest); err == io.EOF {
			break
		} else if err != nil {
			rows.Close()
			return err
		}
		if err := row(dest); err != nil {
			rows.Close()
			return err
		}
	}
	return rows.Close()
}
