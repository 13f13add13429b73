package webhook

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestLeanClient: the deliverer's own HTTP/1.1 client sends what Send
// sends (method, path, headers, a signature that verifies, the body),
// reads every kind of answer as Send does (status, Retry-After, a
// redirect not followed, the start of the body), and keeps connections
// alive across attempts, opening a new one when the receiver closes it.
func TestLeanClient(t *testing.T) {
	key, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int64
	var bad atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts := r.Header.Get("webhook-timestamp")
		var n int64
		for _, c := range ts {
			n = n*10 + int64(c-'0')
		}
		if r.Method != http.MethodPost || r.URL.RequestURI() != "/hooks/x?a=1" || r.Header.Get("Content-Type") != "application/json" ||
			r.Header.Get("webhook-signature") != Sign(key, r.Header.Get("webhook-id"), n, body) || string(body) != `{"n":1}` {
			bad.Add(1)
		}
		switch r.Header.Get("webhook-id") {
		case "msg_retry":
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusServiceUnavailable)
		case "msg_redirect":
			w.Header().Set("Location", "https://elsewhere.example/")
			w.WriteHeader(http.StatusFound)
		case "msg_close":
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusNoContent)
		case "msg_body":
			io.WriteString(w, strings.Repeat("x", 5000))
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	ep := &Endpoint{Name: "t", URL: srv.URL + "/hooks/x?a=1", Key: key}
	ep.withMACs()
	l := newLeanClient(ep, 4)
	if l == nil {
		t.Fatal("no lean client for a loopback http URL")
	}
	defer l.close()
	ctx := context.Background()
	body := []byte(`{"n":1}`)
	for i := range 50 {
		if a := l.send(ctx, "msg_ok", body, time.Now()); a.Status != 204 || !a.OK() || a.Err != "" {
			t.Fatalf("attempt %d: %+v", i, a)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("50 attempts one after the other opened %d connections, want 1", n)
	}
	if a := l.send(ctx, "msg_retry", body, time.Now()); a.Status != 503 || a.RetryAfter != 7*time.Second || a.Err != "HTTP 503" {
		t.Errorf("503 with Retry-After: %+v", a)
	}
	if a := l.send(ctx, "msg_redirect", body, time.Now()); a.Status != 302 || a.OK() || !strings.Contains(a.Err, "redirect, not followed") {
		t.Errorf("302: %+v", a)
	}
	if a := l.send(ctx, "msg_body", body, time.Now()); a.Status != 200 || len(a.Body) != 1024 {
		t.Errorf("200 with a 5000-byte body: status %d, %d bytes kept", a.Status, len(a.Body))
	}
	before := conns.Load()
	if a := l.send(ctx, "msg_close", body, time.Now()); a.Status != 204 {
		t.Errorf("Connection: close: %+v", a)
	}
	if a := l.send(ctx, "msg_ok", body, time.Now()); a.Status != 204 {
		t.Errorf("after the receiver closed the connection: %+v", a)
	}
	if n := conns.Load() - before; n != 1 {
		t.Errorf("after Connection: close, %d new connections, want 1", n)
	}
	if n := bad.Load(); n != 0 {
		t.Errorf("%d requests differ from what Send sends", n)
	}

	// A refused connection is an answer-less failure, as with Send.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	down := &Endpoint{Name: "d", URL: "http://" + addr + "/", Key: key}
	down.withMACs()
	if a := newLeanClient(down, 1).send(ctx, "msg_x", body, time.Now()); a.Status != 0 || !strings.Contains(a.Err, "refused") {
		t.Errorf("refused: %+v", a)
	}
	// User info in the URL goes through net/http (which turns it into
	// Basic authentication).
	if newLeanClient(&Endpoint{URL: "http://u:p@127.0.0.1:1/"}, 1) != nil {
		t.Error("a lean client for a URL with user info")
	}
}

// TestLeanClientTimeout: a receiver that does not answer fails the attempt
// after Timeout, as "no answer within"; a stopping deliverer (its context
// cancelled) ends the attempt at once.
func TestLeanClientTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go io.Copy(io.Discard, c) // reads, never answers
		}
	}()
	ep := &Endpoint{Name: "t", URL: "http://" + ln.Addr().String() + "/", Key: []byte("k")}
	ep.withMACs()
	l := newLeanClient(ep, 1)
	// Timeout counts from the attempt's time: an attempt made as if
	// Timeout ago times out at once.
	a := l.send(context.Background(), "msg_x", []byte(`{}`), time.Now().Add(-Timeout+50*time.Millisecond))
	if a.Status != 0 || !strings.Contains(a.Err, "no answer within") {
		t.Errorf("stalled receiver: %+v", a)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	a = l.send(ctx, "msg_y", []byte(`{}`), time.Now())
	if a.Status != 0 || time.Since(start) > 5*time.Second {
		t.Errorf("cancelled attempt: %+v after %s", a, time.Since(start))
	}
}
