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
