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
