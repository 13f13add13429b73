package store

import (
	"database/sql"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"scimd/scim"
)

// pageMarks remembers, per list query, where served pages ended: the
// creation sequence number of the last row of the page that ended just
// before startIndex. It is a small bounded cache; a miss only costs an
// OFFSET query.
type pageMarks struct {
	mu sync.Mutex
	m  map[string]map[int]int64
}

const maxMarkedQueries = 256

func (p *pageMarks) get(key string, start int) (int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	seq, ok := p.m[key][start]
	return seq, ok
}

func (p *pageMarks) put(key string, next int, seq int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil || len(p.m) >= maxMarkedQueries && p.m[key] == nil {
		p.m = map[string]map[int]int64{}
	}
	marks := p.m[key]
	if marks == nil || len(marks) > 20000 {
		marks = map[int]int64{}
		p.m[key] = marks
	}
	marks[next] = seq
}

func argsKey(args []any) string {
	var b strings.Builder
	for _, a := range args {
		fmt.Fprintf(&b, "%T:%v\x00", a, a)
	}
	return b.String()
}

// Cursors (RFC 9865) are opaque to clients: "c" and the creation sequence
// number of the last resource of the previous page, base64url-encoded.
func encodeCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("c" + strconv.FormatInt(seq, 10)))
}

func decodeCursor(c string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < 2 || b[0] != 'c' {
		return 0, &scim.Error{Status: 400, ScimType: "invalidCursor", Detail: "the cursor is not one this server issued; start again with cursor="}
	}
	n, err := strconv.ParseInt(string(b[1:]), 10, 64)
	if err != nil || n < 0 {
		return 0, &scim.Error{Status: 400, ScimType: "invalidCursor", Detail: "the cursor is not one this server issued; start again with cursor="}
	}
	return n, nil
}

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

func (q cq) QueryRow(query string, args ...any) *sql.Row {
	if q.db == nil {
		return q.tx.QueryRow(query, args...)
	}
	st, err := q.s.prep(q.db, query)
	switch {
	case q.tx == nil && (err != nil || st == nil):
		return q.db.QueryRow(query, args...)
	case q.tx == nil:
		return st.QueryRow(args...)
	case err != nil || st == nil:
		return q.tx.QueryRow(query, args...)
	}
	return q.tx.Stmt(st).QueryRow(args...)
}

func (q cq) Query(query string, args ...any) (*sql.Rows, error) {
	if q.db == nil {
		return q.tx.Query(query, args...)
	}
	st, err := q.s.prep(q.db, query)
	switch {
	case q.tx == nil && (err != nil || st == nil):
		return q.db.Query(query, args...)
	case q.tx == nil:
		return st.Query(args...)
	case err != nil || st == nil:
		return q.tx.Query(query, args...)
	}
	return q.tx.Stmt(st).Query(args...)
}

func (q cq) Exec(query string, args ...any) (sql.Result, error) {
	if q.db == nil {
		return q.tx.Exec(query, args...)
	}
	st, err := q.s.prep(q.db, query)
	switch {
	case q.tx == nil && (err != nil || st == nil):
		return q.db.Exec(query, args...)
	case q.tx == nil:
		return st.Exec(args...)
	case err != nil || st == nil:
		return q.tx.Exec(query, args...)
	}
	return q.tx.Stmt(st).Exec(args...)
}
