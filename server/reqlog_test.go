package server

import (
	"bytes"
	"context"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"
)

// slogLine is the request line as slog.TextHandler prints it, built the
// way logRequest builds it for the slog path.
func slogLine(l *requestLine) string {
	var buf bytes.Buffer
	h := slog.NewTextHandler(&buf, nil)
	rec := slog.NewRecord(l.time, slog.LevelInfo, "request", 0)
	rec.AddAttrs(slog.String("method", l.method), slog.String("path", l.path), slog.Int("status", l.status),
		slog.Float64("duration_ms", l.durationMS), slog.String("request_id", l.id),
		slog.String("remote", l.remote), slog.String("user_agent", l.userAgent))
	if l.token != "" {
		rec.AddAttrs(slog.String("token", l.token))
	}
	if l.err != "" {
		rec.AddAttrs(slog.String("error", l.err))
	}
	h.Handle(context.Background(), rec)
	return buf.String()
}

// TestRequestLineMatchesSlog: the request line written without slog is
// byte for byte what slog.TextHandler prints, for ordinary requests and
// for awkward values (quotes, '=', spaces of every kind, control and
// invalid bytes, non-printable runes, empty strings, odd durations and
// time zones), so nothing reading scimd's log can tell them apart.
func TestRequestLineMatchesSlog(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("CET", 3600), time.FixedZone("X", -(9*3600 + 30*60))}
	base := time.Date(2026, 11, 30, 21, 59, 59, 999_999_999, time.UTC)
	odd := []string{"", " ", "a b", "a=b", `say "hi"`, `back\slash`, "tab\there", "nl\nx", "\x00", "\x7f", "del\x7fok",
		"caf\u00e9", "\u00a0nbsp", "\u2028", "\u200b", "\ufffd", "bad\xffutf8", "\xe2\x82", "emoji\U0001F600",
		"Mozilla/5.0 (compatible)", "Go-http-client/1.1", "/scim/v2/Users/2819c223-7f76-453a-919d-413861904646",
		"ünïcödé/päth", "a\u0301", "\u061c", "x\u3000y"}
	durations := []float64{0, 0.001, 0.05, 1.5, 2.107, 12.345, 999.999, 1234567.891, 1e21, 0.00001}
	check := func(l requestLine) {
		t.Helper()
		var got []byte
		got = appendRequestLine(got, &l)
		if want := slogLine(&l); string(got) != want {
			t.Fatalf("request line differs from slog's:\n got %q\nwant %q", got, want)
		}
	}
	check(requestLine{time: base, method: "GET", path: "/scim/v2/Users", status: 200, durationMS: 0.412,
		id: "0c25c8df97db2ac9", remote: "127.0.0.1", userAgent: "Go-http-client/1.1", token: "entra"})
	for _, s := range odd {
		check(requestLine{time: base, method: s, path: s, status: 404, durationMS: 1, id: s, remote: s, userAgent: s, token: s, err: s})
	}
	for _, tm := range []time.Time{time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 1e6, time.UTC), base.In(time.FixedZone("GMT", 0)), time.Date(2028, 2, 29, 9, 5, 7, 7e6, time.UTC)} {
		check(requestLine{time: tm, method: "GET", path: "/", status: 200, durationMS: 1, id: "x", remote: "r", userAgent: "u"})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func() string {
		if rng.IntN(3) == 0 {
			return odd[rng.IntN(len(odd))]
		}
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return string(b)
	}
	for i := range 5000 {
		tm := base.Add(time.Duration(rng.Int64N(int64(400 * 24 * time.Hour)))).In(zones[i%len(zones)])
		check(requestLine{time: tm, method: pick(), path: pick(), status: rng.IntN(600), durationMS: durations[i%len(durations)] * float64(rng.IntN(3)+1),
			id: pick(), remote: pick(), userAgent: pick(), token: pick(), err: pick()})
	}
}
