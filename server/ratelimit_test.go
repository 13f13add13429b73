package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"scimd/store"
)

// rlClock is a settable clock for the limiter's windows.
type rlClock struct{ t time.Time }

func (c *rlClock) now() time.Time { return c.t }

func TestAuthLimiterWindow(t *testing.T) {
	clk := &rlClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	l := newAuthLimiter(3, clk.now)
	for i := 1; i <= 3; i++ {
		if limited, _ := l.fail("192.0.2.1"); limited {
			t.Fatalf("failure %d: limited, want allowed (limit 3)", i)
		}
		clk.t = clk.t.Add(time.Second)
	}
	limited, retry := l.fail("192.0.2.1")
	if !limited {
		t.Fatal("failure 4: allowed, want limited")
	}
	if got, want := retry, 57*time.Second; got != want {
		t.Errorf("retry after %v, want %v (the rest of the window)", got, want)
	}
	if limited, _ := l.fail("192.0.2.2"); limited {
		t.Error("another address was limited by the first one's failures")
	}
	clk.t = clk.t.Add(57 * time.Second)
	if limited, _ := l.fail("192.0.2.1"); limited {
		t.Error("still limited after the window ended")
	}
}

func TestAuthLimiterOff(t *testing.T) {
	for _, n := range []int{0, -1} {
		if l := newAuthLimiter(n, time.Now); l != nil {
			t.Errorf("newAuthLimiter(%d) = %v, want nil (off)", n, l)
		}
	}
}

// TestAuthLimiterBoundedMemory sprays failures from far more addresses
// than the limiter tracks: the map stays at its cap, and a fresh window
// still counts correctly afterwards.
func TestAuthLimiterBoundedMemory(t *testing.T) {
	clk := &rlClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	l := newAuthLimiter(2, clk.now)
	start := time.Now()
	for i := 0; i < 5*maxTrackedAddrs; i++ {
		l.fail(fmt.Sprintf("10.%d.%d.%d", i>>16&0xff, i>>8&0xff, i&0xff))
		if i%1000 == 0 {
			clk.t = clk.t.Add(time.Second)
		}
	}
	if got := l.tracked(); got > maxTrackedAddrs {
		t.Fatalf("tracking %d addresses, want at most %d", got, maxTrackedAddrs)
	}
	// A full map must not make each failure scan it: 50,000 failures take
	// milliseconds; quadratic eviction took tens of seconds.
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("%d failures from distinct addresses took %v", 5*maxTrackedAddrs, d)
	}
	clk.t = clk.t.Add(2 * time.Minute)
	for i := 1; i <= 3; i++ {
		limited, _ := l.fail("198.51.100.7")
		if want := i > 2; limited != want {
			t.Errorf("failure %d after the spray: limited %v, want %v", i, limited, want)
		}
	}
	if got := l.tracked(); got > maxTrackedAddrs {
		t.Fatalf("tracking %d addresses, want at most %d", got, maxTrackedAddrs)
	}
}

func TestClientAddr(t *testing.T) {
	for _, tc := range []struct{ remote, want string }{
		{"192.0.2.1:4321", "192.0.2.1"},
		{"[::ffff:192.0.2.1]:4321", "192.0.2.1"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:443", "2001:db8:1:2::/64"},
		{"[fe80::1%eth0]:80", "fe80::/64"},
		{"not-an-address", "not-an-address"},
	} {
		t.Run(tc.remote, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tc.remote}
			if got := clientAddr(r); got != tc.want {
				t.Errorf("clientAddr(%q) = %q, want %q", tc.remote, got, tc.want)
			}
		})
	}
}

// TestRefusedRequestLogBudget: a flood of bad tokens from many addresses
// (each under the per-address limit) adds at most the log's global budget
// of rows, and one summary row says how many were not recorded.
func TestRefusedRequestLogBudget(t *testing.T) {
	e := newEnv(t)
	const flood = 3 * store.FailureRowsPerMinute
	h := e.srv.Handler()
	for i := 0; i < flood; i++ {
		r := httptest.NewRequest("GET", "/scim/v2/Users", nil)
		r.RemoteAddr = fmt.Sprintf("198.51.%d.%d:4000", i/250, i%250)
		r.Header.Set("Authorization", fmt.Sprintf("Bearer scimd_bad%d", i))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 401 {
			t.Fatalf("request %d: %d, want 401", i, w.Code)
		}
	}
	if err := e.srv.FlushUsage(context.Background()); err != nil {
		t.Fatal(err)
	}
	refused, summaries := 0, []string{}
	if _, err := e.st.Events(context.Background(), store.EventQuery{Failed: true}, func(ev *store.Event) error {
		if ev.Op == "dropped" {
			summaries = append(summaries, ev.Detail)
		} else {
			refused++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if refused != store.FailureRowsPerMinute {
		t.Errorf("%d refused requests from %d addresses left %d log rows, want the budget of %d", flood, flood, refused, store.FailureRowsPerMinute)
	}
	want := fmt.Sprintf("%d refused requests were not recorded", flood-store.FailureRowsPerMinute)
	if len(summaries) != 1 || !strings.Contains(summaries[0], want) {
		t.Errorf("summary rows %q, want one saying %q", summaries, want)
	}
}
