package store

import (
	"container/list"
	"context"
	"database/sql"
	"sync"
)

// Prepared statements are cached per store and per pool, and queries go
// through cq, so that SQL text is parsed once, not on every request.
//
// database/sql prepares a cached statement again on every connection that
// runs it, and each copy holds SQLite's compiled program. Filters are
// client-chosen, so their SQL text is too: left unbounded, 10,000 distinct
// filters over 8 connections kept about 900 MB of programs (issue 11). The
// cache is therefore a small LRU of short statements: the fixed shapes of
// the hot paths (lookups by id, userName, externalId, pages, writes) stay
// prepared, an evicted statement is closed on every connection, and long
// SQL (big filters) is prepared for one use and finalised at once.

const (
	// maxStmts is how many statements stay prepared, across pools.
	maxStmts = 256
	// maxCachedSQL is the longest SQL text kept prepared, in bytes.
	maxCachedSQL = 2048
)

type stmtKey struct {
	db    *sql.DB
	query string
}

// cachedStmt is one entry; refs counts callers between acquire and
// release, so that eviction never closes a statement just handed out.
type cachedStmt struct {
	key     stmtKey
	st      *sql.Stmt
	refs    int
	evicted bool
}

type stmtCache struct {
	mu  sync.Mutex
	m   map[stmtKey]*list.Element
	lru list.List // of *cachedStmt, most recently used first
}

// acquire returns the cached statement for query on db, preparing it if
// needed; nil when it is not to be cached (too long) or cannot be
// prepared (the plain call then reports the error). The caller must
// release it once the statement has been started.
func (c *stmtCache) acquire(db *sql.DB, query string) *cachedStmt {
	if len(query) > maxCachedSQL {
		return nil
	}
	key := stmtKey{db, query}
	c.mu.Lock()
	if e, ok := c.m[key]; ok {
		c.lru.MoveToFront(e)
		cs := e.Value.(*cachedStmt)
		cs.refs++
		c.mu.Unlock()
		return cs
	}
	c.mu.Unlock()
	st, err := db.Prepare(query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[stmtKey]*list.Element{}
	}
	if e, ok := c.m[key]; ok { // prepared meanwhile by another caller
		st.Close()
		cs := e.Value.(*cachedStmt)
		cs.refs++
		return cs
	}
	cs := &cachedStmt{key: key, st: st, refs: 1}
	c.m[key] = c.lru.PushFront(cs)
	for c.lru.Len() > maxStmts {
		old := c.lru.Remove(c.lru.Back()).(*cachedStmt)
		delete(c.m, old.key)
		old.evicted = true
		if old.refs == 0 {
			old.st.Close()
		}
	}
	return cs
}

// release ends one use; an evicted statement is closed by its last user.
// Rows still open keep their statement alive (database/sql defers the
// close until they are closed).
func (c *stmtCache) release(cs *cachedStmt) {
	c.mu.Lock()
	cs.refs--
	closeIt := cs.evicted && cs.refs == 0
	c.mu.Unlock()
	if closeIt {
		cs.st.Close()
	}
}

// size is the number of statements kept prepared.
func (c *stmtCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

func (c *stmtCache) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for e := c.lru.Front(); e != nil; e = e.Next() {
		e.Value.(*cachedStmt).st.Close()
	}
	c.m = nil
	c.lru.Init()
}

// cq runs queries of one transaction, or autocommit queries on one pool,
// through cached prepared statements, under ctx (nil: no deadline). A
// query whose context ends is interrupted inside SQLite.
type cq struct {
	s   *Store
	db  *sql.DB
	tx  *sql.Tx
	ctx context.Context
}

func (s *Store) readQ(tx *sql.Tx) cq { return cq{s, s.r, tx, nil} }

// autoQ runs each query on its own (autocommit) on the read pool: no
// BEGIN/ROLLBACK round trip, for reads that need no snapshot across
// statements.
func (s *Store) autoQ() cq { return cq{s, s.r, nil, nil} }

// ctxQ is autoQ on pool db under ctx.
func (s *Store) ctxQ(ctx context.Context, db *sql.DB) cq { return cq{s, db, nil, ctx} }

// writeQ runs queries on the writer's transaction through statements
// cached on the writer pool. The pool has a second connection so that a
// statement can be prepared while the transaction holds the first;
// database/sql then prepares it once more on the transaction's connection
// and keeps both.
func (s *Store) writeQ(tx *sql.Tx) cq { return cq{s, s.w, tx, nil} }

func (q cq) context() context.Context {
	if q.ctx == nil {
		return context.Background()
	}
	return q.ctx
}

// run calls fn with the statement for query (bound to q's transaction if
// it has one), or with nil when the cache does not serve it.
func (q cq) run(query string, fn func(st *sql.Stmt)) {
	cs := q.s.stmts.acquire(q.db, query)
	if cs == nil {
		fn(nil)
		return
	}
	defer q.s.stmts.release(cs)
	st := cs.st
	if q.tx != nil {
		st = q.tx.StmtContext(q.context(), st)
	}
	fn(st)
}

func (q cq) QueryRow(query string, args ...any) (row *sql.Row) {
	ctx := q.context()
	q.run(query, func(st *sql.Stmt) {
		switch {
		case st != nil:
			row = st.QueryRowContext(ctx, args...)
		case q.tx != nil:
			row = q.tx.QueryRowContext(ctx, query, args...)
		default:
			row = q.db.QueryRowContext(ctx, query, args...)
		}
	})
	return row
}

func (q cq) Query(query string, args ...any) (rows *sql.Rows, err error) {
	ctx := q.context()
	q.run(query, func(st *sql.Stmt) {
		switch {
		case st != nil:
			rows, err = st.QueryContext(ctx, args...)
		case q.tx != nil:
			rows, err = q.tx.QueryContext(ctx, query, args...)
		default:
			rows, err = q.db.QueryContext(ctx, query, args...)
		}
	})
	return rows, err
}

func (q cq) Exec(query string, args ...any) (res sql.Result, err error) {
	ctx := q.context()
	q.run(query, func(st *sql.Stmt) {
		switch {
		case st != nil:
			res, err = st.ExecContext(ctx, args...)
		case q.tx != nil:
			res, err = q.tx.ExecContext(ctx, query, args...)
		default:
			res, err = q.db.ExecContext(ctx, query, args...)
		}
	})
	return res, err
}
