package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"scimd/store"
)

// TestSign checks the signature against the Standard Webhooks
// specification's published test vector.
func TestSign(t *testing.T) {
	key, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestParseSecret(t *testing.T) {
	for _, tc := range []struct {
		name, secret, err string
	}{
		{"24 bytes", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", ""},
		{"64 bytes", "whsec_" + strings.Repeat("AAAA", 21) + "AA==", ""},
		{"no prefix", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_"},
		{"not base64", "whsec_!!!!", "base64"},
		{"too short", "whsec_c2hvcnQ=", "24 to 64"},
		{"too long", "whsec_" + strings.Repeat("AAAA", 22), "24 to 64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSecret(tc.secret)
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("ParseSecret: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("ParseSecret error %v, want one mentioning %q", err, tc.err)
			case err != nil && strings.Contains(err.Error(), strings.TrimPrefix(tc.secret, "whsec_")):
				t.Errorf("the error repeats the secret: %v", err)
			}
		})
	}
}

func TestMatches(t *testing.T) {
	for _, tc := range []struct {
		patterns []string
		typ      string
		want     bool
	}{
		{nil, "user.created", true},
		{[]string{"user.*"}, "user.created", true},
		{[]string{"user.*"}, "group.created", false},
		{[]string{"group.members.*"}, "group.members.added", true},
		{[]string{"group.members.*"}, "group.updated", false},
		{[]string{"group.*"}, "group.members.removed", true},
		{[]string{"user.deleted"}, "user.deleted", true},
		{[]string{"user.deleted"}, "user.deactivated", false},
	} {
		if got := Matches(tc.patterns, tc.typ); got != tc.want {
			t.Errorf("Matches(%v, %s) = %v, want %v", tc.patterns, tc.typ, got, tc.want)
		}
	}
	for p, want := range map[string]bool{"user.*": true, "user.created": true, "group.members.*": true,
		"*": false, "user.": false, "User.*": false, "user..x": false, "user.*.x": false, "": false} {
		if got := ValidPattern(p); got != want {
			t.Errorf("ValidPattern(%q) = %v, want %v", p, got, want)
		}
	}
}

// TestBackoff: about 1 s, 2 s, 4 s … (±25 % jitter), never over 10 minutes.
func TestBackoff(t *testing.T) {
	for n := 1; n <= 20; n++ {
		nominal := min(time.Second<<(n-1), MaxBackoff)
		for range 50 {
			got := backoff(time.Second, n)
			if got < nominal*3/4 || got > nominal*5/4 || got > MaxBackoff {
				t.Fatalf("backoff(1s, %d) = %s, want within 25%% of %s and at most %s", n, got, nominal, MaxBackoff)
			}
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"": 0, "2": 2 * time.Second, "garbage": 0, "-5": 0,
		"Mon, 30 Nov 2026 12:01:00 GMT": time.Minute,
	} {
		if got := retryAfter(v, now); got != want {
			t.Errorf("retryAfter(%q) = %s, want %s", v, got, want)
		}
	}
}

// TestHeads: each resource's earliest pending event only, and of those the
// ones due; a resource whose head waits holds back its later events.
func TestHeads(t *testing.T) {
	now := time.Now()
	later := now.Add(time.Minute)
	pending := []store.Delivery{
		{Seq: 1, ResourceID: "a", NextAt: later},
		{Seq: 2, ResourceID: "b"},
		{Seq: 3, ResourceID: "a"},
		{Seq: 4, ResourceID: "b"},
		{Seq: 5, ResourceID: "c", NextAt: now.Add(-time.Second)},
	}
	due, next := heads(pending, now)
	var seqs []int64
	for _, d := range due {
		seqs = append(seqs, d.Seq)
	}
	if len(seqs) != 2 || seqs[0] != 2 || seqs[1] != 5 {
		t.Errorf("due = %v, want [2 5]", seqs)
	}
	if !next.Equal(later) {
		t.Errorf("next = %v, want %v", next, later)
	}
}

// TestDispatcherStats: Stats reports an endpoint's state, backlog and
// totals from a real store and a real receiver, without a database read
// per call.
func TestDispatcherStats(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "s.db"), store.Options{Events: func(string) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var up atomic.Bool
	rx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if up.Load() {
			w.WriteHeader(204)
			return
		}
		w.WriteHeader(500)
	}))
	defer rx.Close()
	key, _ := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	d := New(st, Options{Endpoints: []Endpoint{{Name: "rx", URL: rx.URL, Key: key}}, RetryBase: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Render: func(k store.Kind, r *store.Resource) map[string]any { return map[string]any{"id": r.ID} }})
	ctx := context.Background()
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	for _, name := range []string{"a@x", "b@x"} {
		if _, err := st.Create(ctx, store.Actor{Token: "t"}, store.Users, map[string]any{"userName": name}); err != nil {
			t.Fatal(err)
		}
	}
	waitStat(t, d, "failing with a backlog of 2", func(s Stat) bool {
		return s.State == "failing" && s.Backlog == 2 && s.OldestPending > 0 && s.LastError == "HTTP 500" && s.LastErrorAt != nil
	})
	up.Store(true)
	s := waitStat(t, d, "active with everything delivered", func(s Stat) bool {
		return s.State == "active" && s.Backlog == 0 && s.Delivered == 2
	})
	if s.Name != "rx" || s.LastSuccess == nil || s.OldestPending != 0 || s.Failed != 0 {
		t.Errorf("Stats after delivery: %+v", s)
	}
}

func waitStat(t *testing.T, d *Dispatcher, what string, cond func(Stat) bool) Stat {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := d.Stats()
		if len(s) != 1 {
			t.Fatalf("Stats() has %d endpoints, want 1", len(s))
		}
		if cond(s[0]) {
			return s[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("Stats never showed %s: %+v", what, s[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDownReceiverIsHeld: when nothing gets through, a round stops after
// one attempt per connection and the endpoint waits for the backoff,
// instead of trying every pending event (each up to 10 s when the
// receiver does not answer).
func TestDownReceiverIsHeld(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "s.db"), store.Options{Events: func(string) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var hits atomic.Int64
	rx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(503)
	}))
	defer rx.Close()
	key, _ := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	ctx := context.Background()
	if err := st.SetupWebhooks(ctx, []string{"rx"}); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if _, err := st.Create(ctx, store.Actor{}, store.Users, map[string]any{"userName": fmt.Sprintf("u%d@x", i)}); err != nil {
			t.Fatal(err)
		}
	}
	d := New(st, Options{Endpoints: []Endpoint{{Name: "rx", URL: rx.URL, Key: key}}, RetryBase: 2 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Render: func(k store.Kind, r *store.Resource) map[string]any { return map[string]any{"id": r.ID} }})
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	time.Sleep(time.Second) // well inside the first backoff (1.5 s at least)
	if n := hits.Load(); n == 0 || n > 2*conns {
		t.Errorf("%d attempts in the first second for 200 events at a down receiver, want 1 to %d", n, 2*conns)
	}
}

// TestSignReusesState: an endpoint's pooled HMAC states sign exactly as a
// fresh one does, however often they are reused (each is reset first).
func TestSignReusesState(t *testing.T) {
	key, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	ep := Endpoint{Key: key}
	ep.withMACs()
	for i := range 5 {
		body := []byte(strings.Repeat("x", i*100))
		id := fmt.Sprintf("msg_%d", i)
		if got, want := ep.sign(id, int64(1614265330+i), body), Sign(key, id, int64(1614265330+i), body); got != want {
			t.Fatalf("attempt %d: pooled %s, fresh %s", i, got, want)
		}
	}
}

// TestChainStopsAtFailure: a resource's new events are sent in commit
// order, and when one of them fails, the later ones wait behind it (they
// are not sent before it succeeds), while other resources' events go on.
func TestChainStopsAtFailure(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "s.db"), store.Options{Events: func(string) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var (
		mu     sync.Mutex
		got    = map[string][]string{} // per user, the titles delivered, in order
		failed bool
	)
	rx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			Data struct{ UserName, Title string }
		}
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			t.Error(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if ev.Data.UserName == "a@x" && ev.Data.Title == "t1" && !failed {
			failed = true
			w.WriteHeader(503)
			return
		}
		got[ev.Data.UserName] = append(got[ev.Data.UserName], ev.Data.Title)
		w.WriteHeader(204)
	}))
	defer rx.Close()
	ctx := context.Background()
	if err := st.SetupWebhooks(ctx, []string{"rx"}); err != nil {
		t.Fatal(err)
	}
	// Committed before the deliverer starts, so that one round takes
	// each user's three events together.
	for _, name := range []string{"a@x", "b@x"} {
		u, err := st.Create(ctx, store.Actor{}, store.Users, map[string]any{"userName": name})
		if err != nil {
			t.Fatal(err)
		}
		for _, title := range []string{"t1", "t2"} {
			if _, err := st.Replace(ctx, store.Actor{}, store.Users, u.ID, map[string]any{"userName": name, "title": title}, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	key, _ := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	d := New(st, Options{Endpoints: []Endpoint{{Name: "rx", URL: rx.URL, Key: key}}, RetryBase: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Render: func(k store.Kind, r *store.Resource) map[string]any {
			return map[string]any{"id": r.ID, "userName": r.Doc["userName"], "title": r.Doc["title"]}
		}})
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	waitStat(t, d, "all six delivered", func(s Stat) bool { return s.Delivered == 6 && s.Backlog == 0 })
	mu.Lock()
	defer mu.Unlock()
	for _, u := range []string{"a@x", "b@x"} {
		if want := []string{"", "t1", "t2"}; !slices.Equal(got[u], want) {
			t.Errorf("%s: delivered %q, want %q (commit order)", u, got[u], want)
		}
	}
	if !failed {
		t.Error("the receiver never failed an event")
	}
}
