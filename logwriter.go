package main

import (
	"io"
	"sync"
	"time"
)

// requestLogDelay bounds how long a request's log line may wait to be
// written together with others (see logWriter.Deferred).
const requestLogDelay = 5 * time.Millisecond

// logWriter puts the server's log lines into as few write(2) calls as it
// can. Every request logs a line, and under load a write per line was
// about a tenth of the CPU a lookup costs.
//
// Two ways in, one ordered stream out:
//   - Write, for every line but the request lines: the line, and any lines
//     waiting before it, are written at once. If another goroutine's write
//     is in the kernel, that goroutine writes it right after, before its
//     own Write returns.
//   - Deferred, for request lines: the line waits at most requestLogDelay
//     (or until 32 KiB have gathered, or the next immediate line), so that
//     a busy server writes its request lines many to a write. The same
//     batching as nginx's access_log "buffer=…flush=…", with a bound short
//     enough that a tail -f never notices. The price: on kill -9 (or a
//     power loss) the request lines of the last few milliseconds can be
//     lost; the provisioning log in the database (scimd log) is not.
//
// Flush writes whatever waits; serve calls it on the way out.
type logWriter struct {
	w     io.Writer
	delay time.Duration

	mu       sync.Mutex
	buf      []byte // lines not yet handed to w, in the order logged
	spare    []byte
	flushing bool // a goroutine is in w.Write; it writes buf before it stops
	armed    bool // the timer will flush buf
	timer    *time.Timer
	err      error // the last write's error, reported to the next writer
}

// deferredMax is how much may wait before a deferred line is written at once.
const deferredMax = 32 << 10

func newLogWriter(w io.Writer) *logWriter {
	l := &logWriter{w: w, delay: requestLogDelay}
	l.timer = time.AfterFunc(time.Hour, l.timed)
	l.timer.Stop()
	return l
}

func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if !l.flushing {
		l.flushLocked()
	}
	return len(p), l.err
}

// Deferred is the writer for request lines (see logWriter).
func (l *logWriter) Deferred() io.Writer { return deferredWriter{l} }

type deferredWriter struct{ l *logWriter }

func (d deferredWriter) Write(p []byte) (int, error) {
	l := d.l
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	switch {
	case l.flushing:
		// written by the goroutine in w.Write
	case len(l.buf) >= deferredMax:
		l.flushLocked()
	case !l.armed:
		l.armed = true
		l.timer.Reset(l.delay)
	}
	return len(p), l.err
}

// timed is the timer's flush.
func (l *logWriter) timed() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.armed = false
	if !l.flushing && len(l.buf) > 0 {
		l.flushLocked()
	}
}

// Flush writes every line logged so far before it returns.
func (l *logWriter) Flush() error {
	l.mu.Lock()
	for l.flushing { // another goroutine is writing: wait for it to finish
		l.mu.Unlock()
		time.Sleep(time.Millisecond)
		l.mu.Lock()
	}
	if len(l.buf) > 0 {
		l.flushLocked()
	}
	err := l.err
	l.mu.Unlock()
	return err
}

// flushLocked writes buf, and whatever is added to it meanwhile, with mu
// held on entry and exit but not during the writes.
func (l *logWriter) flushLocked() {
	l.flushing = true
	if l.armed {
		l.armed = false
		l.timer.Stop()
	}
	for len(l.buf) > 0 {
		out := l.buf
		l.buf = l.spare[:0]
		l.mu.Unlock()
		_, err := l.w.Write(out)
		l.mu.Lock()
		l.err = err
		if cap(out) <= 64<<10 { // a burst's buffer is not kept
			l.spare = out[:0]
		} else {
			l.spare = nil
		}
	}
	l.flushing = false
}
