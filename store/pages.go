package store

import (
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
//
// A mark is only true of the directory it was read from: one create or
// delete before it shifts every later position, and a mark reused after
// that serves the wrong slice (issue 11: after deleting pm0001…pm0100,
// startIndex=201 must be pm0301…, not pm0201…). So each mark carries the
// directory generation (Store.dirGen) it was read under, and is used only
// while no users, groups or memberships have changed since. Only this
// process writes the directory, so the in-memory counter sees every change.
type pageMarks struct {
	mu sync.Mutex
	m  map[string]map[int]pageMark
}

type pageMark struct {
	seq int64
	gen int64
}

const maxMarkedQueries = 256

// get returns the mark for startIndex start if it was taken at generation
// gen.
func (p *pageMarks) get(key string, start int, gen int64) (int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m, ok := p.m[key][start]
	if !ok || m.gen != gen {
		return 0, false
	}
	return m.seq, true
}

func (p *pageMarks) put(key string, next int, seq, gen int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil || len(p.m) >= maxMarkedQueries && p.m[key] == nil {
		p.m = map[string]map[int]pageMark{}
	}
	marks := p.m[key]
	if marks == nil || len(marks) > 20000 {
		marks = map[int]pageMark{}
		p.m[key] = marks
	}
	marks[next] = pageMark{seq, gen}
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
