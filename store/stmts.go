package store

import "database/sql"

// Prepared statements are cached per store and per pool, and queries go
// through cq, so that SQL text is parsed once, not on every request.

// maxStmts caps the statement cache, so that a client sending endless
// filter shapes cannot grow it without bound.
const maxStmts = 1024

// prep returns the statement for query prepared on db, from the cache, or
// nil when the cache is full and the caller should prepare on its
// transaction instead.
func (s *Store) prep(db *sql.DB, query string) (*sql.Stmt, error) {
	key := stmtKey{db == s.w, query}
	if v, ok := s.stmts.Load(key); ok {
		return v.(*sql.Stmt), nil
	}
	if s.nstmts.Load() >= maxStmts {
		return nil, nil
	}
	st, err := db.Prepare(query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.stmts.LoadOrStore(key, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	s.nstmts.Add(1)
	return st, nil
}

type stmtKey struct {
	writer bool
	query  string
}

// cq runs queries of one transaction through cached prepared statements.
type cq struct {
	s  *Store
	db *sql.DB
	tx *sql.Tx
}

func (s *Store) readQ(tx *sql.Tx) cq { return cq{s, s.r, tx} }

// autoQ runs each query on its own (autocommit) on the read pool: no
// BEGIN/ROLLBACK round trip, for reads that need no snapshot across
// statements.
func (s *Store) autoQ() cq { return cq{s, s.r, nil} }

// writeQ runs queries on the writer's transaction through statements
// cached on the writer pool. The pool has a second connection so that a
// statement can be prepared while the transaction holds the first;
// database/sql then prepares it once more on the transaction's connection
// and keeps both.
func (s *Store) writeQ(tx *sql.Tx) cq { return cq{s, s.w, tx} }

// stmt is the cached statement for query, bound to q's transaction if it
// has one; nil when the cache cannot serve it (full, or a prepare error that
// the plain call will report).
func (q cq) stmt(query string) *sql.Stmt {
	st, err := q.s.prep(q.db, query)
	if err != nil || st == nil {
		return nil
	}
	if q.tx != nil {
		return q.tx.Stmt(st)
	}
	return st
}

func (q cq) QueryRow(query string, args ...any) *sql.Row {
	if st := q.stmt(query); st != nil {
		return st.QueryRow(args...)
	}
	if q.tx != nil {
		return q.tx.QueryRow(query, args...)
	}
	return q.db.QueryRow(query, args...)
}

func (q cq) Query(query string, args ...any) (*sql.Rows, error) {
	if st := q.stmt(query); st != nil {
		return st.Query(args...)
	}
	if q.tx != nil {
		return q.tx.Query(query, args...)
	}
	return q.db.Query(query, args...)
}

func (q cq) Exec(query string, args ...any) (sql.Result, error) {
	if st := q.stmt(query); st != nil {
		return st.Exec(args...)
	}
	if q.tx != nil {
		return q.tx.Exec(query, args...)
	}
	return q.db.Exec(query, args...)
}
