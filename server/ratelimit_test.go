package server

import (
	"fmt"
	"net/http"
	"testing"
	"time"
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
