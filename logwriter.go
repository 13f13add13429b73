package main

import (
	"io"
	"sync"
)

// logWriter coalesces log lines written at the same moment into one write.
// Every request logs a line, so under load a write(2) per line was a
// visible part of serving a lookup. No line waits for a timer: the first
// writer writes at once, and lines arriving while its write is in the
// kernel are written together right after it, by that same writer, before
// it returns. Nothing is held back when the server is idle, and a line
// whose Write returned is out before the request that logged it finishes
// draining at shutdown.
type logWriter struct {
	w io.Writer

	mu       sync.Mutex
	buf      []byte // lines waiting for the current write to finish
	spare    []byte
	flushing bool
	err      error // the last write's error, reported to the next writer
}

func newLogWriter(w io.Writer) *logWriter { return &logWriter{w: w} }

func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.flushing {
		// Another goroutine is in w.Write and will write this too.
		l.buf = append(l.buf, p...)
		return len(p), l.err
	}
	l.flushing = true
	defer func() { l.flushing = false }()
	out := append(l.spare[:0], p...)
	for {
		l.mu.Unlock()
		_, err := l.w.Write(out)
		l.mu.Lock()
		l.err = err
		if len(l.buf) == 0 {
			if cap(out) <= 64<<10 { // a burst's buffer is not kept
				l.spare = out[:0]
			}
			return len(p), err
		}
		out, l.buf = l.buf, out[:0]
	}
}
