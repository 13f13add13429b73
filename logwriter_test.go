package main

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowSink records each write and takes a while over it, as a pipe to
// the journal does under load.
type slowSink struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (s *slowSink) Write(p []byte) (int, error) {
	time.Sleep(200 * time.Microsecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.b.Write(p)
}

// TestLogWriterCoalescesWholeLines: lines logged concurrently all arrive,
// each once and whole, in fewer writes than lines; a line logged alone is
// written before its Write returns.
func TestLogWriterCoalescesWholeLines(t *testing.T) {
	sink := &slowSink{}
	w := newLogWriter(sink)
	const writers, lines = 8, 200
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range lines {
				fmt.Fprintf(w, "msg=request writer=%d line=%d pad=%s\n", g, i, strings.Repeat("x", i%50+1))
			}
		})
	}
	wg.Wait()
	got := strings.Split(strings.TrimSuffix(sink.b.String(), "\n"), "\n")
	if len(got) != writers*lines {
		t.Fatalf("got %d lines, want %d", len(got), writers*lines)
	}
	seen := map[string]bool{}
	for _, l := range got {
		var g, i int
		var pad string
		if _, err := fmt.Sscanf(l, "msg=request writer=%d line=%d pad=%s", &g, &i, &pad); err != nil || pad != strings.Repeat("x", i%50+1) || seen[l] {
			t.Fatalf("torn or repeated line %q", l)
		}
		seen[l] = true
	}
	if sink.writes >= writers*lines {
		t.Errorf("%d writes for %d lines: nothing was coalesced", sink.writes, writers*lines)
	}
	before := sink.b.Len()
	fmt.Fprintf(w, "alone\n")
	if sink.b.Len() != before+len("alone\n") {
		t.Errorf("a line logged alone was not written before Write returned")
	}
}

// TestLogWriterDeferredLines: request lines (Deferred) are batched into a
// few writes, are out within a few milliseconds with nothing else logged,
// and an immediate line writes them first, keeping the order logged.
func TestLogWriterDeferredLines(t *testing.T) {
	sink := &slowSink{}
	w := newLogWriter(sink)
	// Longer than requestLogDelay, so that a slow CI machine cannot let
	// the timer fire while the 100 lines are still being logged.
	w.delay = 300 * time.Millisecond
	d := w.Deferred()
	for i := range 100 {
		fmt.Fprintf(d, "msg=request line=%d\n", i)
	}
	sink.mu.Lock()
	early := sink.writes
	sink.mu.Unlock()
	if early != 0 {
		t.Errorf("%d writes right after 100 deferred lines: they were not batched", early)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		sink.mu.Lock()
		n, text := sink.writes, sink.b.String()
		sink.mu.Unlock()
		if strings.Count(text, "\n") == 100 {
			if n != 1 {
				t.Errorf("100 deferred lines took %d writes, want 1", n)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deferred lines not written 2 s later (%d of 100 out)", strings.Count(text, "\n"))
		}
		time.Sleep(time.Millisecond)
	}

	// An immediate line takes the waiting deferred lines with it, in order.
	fmt.Fprintf(d, "msg=request line=deferred\n")
	fmt.Fprintf(w, "level=ERROR msg=now\n")
	sink.mu.Lock()
	tail := sink.b.String()
	sink.mu.Unlock()
	if !strings.HasSuffix(tail, "msg=request line=deferred\nlevel=ERROR msg=now\n") {
		t.Errorf("after an immediate line the log ends %q", tail[max(0, len(tail)-80):])
	}

	// Flush writes what waits, before it returns.
	fmt.Fprintf(d, "msg=request line=last\n")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	sink.mu.Lock()
	tail = sink.b.String()
	sink.mu.Unlock()
	if !strings.HasSuffix(tail, "msg=request line=last\n") {
		t.Errorf("Flush left the last line unwritten")
	}

	// Past deferredMax, a deferred line is written at once.
	big := strings.Repeat("x", deferredMax)
	fmt.Fprintf(d, "%s\n", big)
	sink.mu.Lock()
	tail = sink.b.String()
	sink.mu.Unlock()
	if !strings.HasSuffix(tail, big+"\n") {
		t.Errorf("a deferred line past %d bytes waited", deferredMax)
	}
}
