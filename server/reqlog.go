package server

import (
	"io"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// The request line in log/slog's text format, written without slog.
//
// Every request logs one line, and formatting it through slog.TextHandler
// (a record, its attributes, the handler's generic value and quoting code)
// cost about 4 µs of a lookup's CPU. The line's shape is fixed, so it is
// built here directly into a pooled buffer, byte for byte as the text
// handler would print it (TestRequestLineMatchesSlog compares the two on
// awkward input), and anything reading scimd's log sees no difference.

// requestLine is what one request's log line says.
type requestLine struct {
	time       time.Time
	method     string
	path       string
	status     int
	durationMS float64
	id         string
	remote     string
	userAgent  string
	token      string // "" = not written
	err        string // "" = not written
}

var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// writeRequestLine writes l as one INFO line to w.
func writeRequestLine(w io.Writer, l *requestLine) {
	bp := lineBufs.Get().(*[]byte)
	b := appendRequestLine((*bp)[:0], l)
	w.Write(b)
	if cap(b) <= 4<<10 {
		*bp = b[:0]
		lineBufs.Put(bp)
	}
}

func appendRequestLine(b []byte, l *requestLine) []byte {
	b = append(b, "time="...)
	// slog's text handler prints times as RFC 3339 with exactly three
	// digits of milliseconds, truncated (not rounded).
	b = l.time.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	b = append(b, " level=INFO msg=request method="...)
	b = appendLogString(b, l.method)
	b = append(b, " path="...)
	b = appendLogString(b, l.path)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(l.status), 10)
	b = append(b, " duration_ms="...)
	b = strconv.AppendFloat(b, l.durationMS, 'g', -1, 64)
	b = append(b, " request_id="...)
	b = appendLogString(b, l.id)
	b = append(b, " remote="...)
	b = appendLogString(b, l.remote)
	b = append(b, " user_agent="...)
	b = appendLogString(b, l.userAgent)
	if l.token != "" {
		b = append(b, " token="...)
		b = appendLogString(b, l.token)
	}
	if l.err != "" {
		b = append(b, " error="...)
		b = appendLogString(b, l.err)
	}
	return append(b, '\n')
}

// appendLogString appends s as slog's text handler prints a string value:
// bare when every character is printable and none is a space, '=' or '"',
// otherwise Go-quoted. (An empty string is quoted, so it stays visible.)
func appendLogString(b []byte, s string) []byte {
	if logNeedsQuote(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

func logNeedsQuote(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			// Printable ASCII and DEL pass, except space, '=' and '"'.
			if c < ' ' || c == ' ' || c == '=' || c == '"' {
				return true
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += n
	}
	return false
}
