package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"scimd/scim"
	"scimd/store"
)

// NewClient is the HTTP client deliveries use: Timeout per attempt, and
// redirects never followed (Standard Webhooks: a 3xx is a failure; the
// operator should fix the URL rather than have every event bounce).
func NewClient(conns int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = conns
	tr.MaxConnsPerHost = conns
	tr.ResponseHeaderTimeout = Timeout
	// Receivers answer with an empty or tiny body: asking for gzip would
	// only add a header and a decompressor per delivery.
	tr.DisableCompression = true
	return &http.Client{
		Transport: tr,
		Timeout:   Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Answer is what a receiver said to one attempt.
type Answer struct {
	Status     int           // 0 when no answer came (timeout, refused)
	Body       string        // the first KiB of the answer, for webhooks test
	RetryAfter time.Duration // from Retry-After, 0 when absent
	Err        string        // why the attempt failed; "" on 2xx
}

// OK reports a 2xx answer.
func (a Answer) OK() bool { return a.Status >= 200 && a.Status < 300 }

// Body is the JSON body of an event (Standard Webhooks' recommended shape).
func Body(typ string, at time.Time, data []byte) []byte {
	b := appendBodyStart(make([]byte, 0, len(data)+96), typ, at)
	b = append(b, data...)
	return append(b, '}')
}

// appendBodyStart appends a body up to its data, which the caller appends
// and closes with '}'.
func appendBodyStart(b []byte, typ string, at time.Time) []byte {
	b = append(b, `{"type":`...)
	b = scim.AppendString(b, typ)
	b = append(b, `,"timestamp":"`...)
	b = at.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	return append(b, `","data":`...)
}

// NewMsgID is a fresh webhook-id for an event that is not stored (the
// webhook.test event).
func NewMsgID() string {
	var b [16]byte
	rand.Read(b[:])
	return "msg_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// Send makes one signed attempt. The webhook-timestamp (and so the
// signature) is that of the attempt; the id and the body are the event's
// and never change between attempts.
func Send(ctx context.Context, c *http.Client, ep *Endpoint, msgID string, body []byte, now time.Time) Answer {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return Answer{Err: "the request could not be made: " + describe(err)}
	}
	for _, h := range attemptHeaders(ep, msgID, body, now) {
		req.Header.Set(h[0], h[1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return Answer{Err: describe(err)}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection
	return answerOf(resp, b, now)
}

// attemptHeaders are the headers of one attempt (both Send and the lean
// client send exactly these): Standard Webhooks' three, signed for this
// attempt's timestamp, and the media type and agent.
func attemptHeaders(ep *Endpoint, msgID string, body []byte, now time.Time) [5][2]string {
	ts := now.Unix()
	return [5][2]string{
		{"Content-Type", "application/json"},
		{"User-Agent", "scimd-webhooks"},
		{"webhook-id", msgID},
		{"webhook-timestamp", strconv.FormatInt(ts, 10)},
		{"webhook-signature", ep.sign(msgID, ts, body)},
	}
}

// answerOf is the Answer for a response whose body starts with first.
func answerOf(resp *http.Response, first []byte, now time.Time) Answer {
	a := Answer{Status: resp.StatusCode, Body: string(first), RetryAfter: retryAfter(resp.Header.Get("Retry-After"), now)}
	switch {
	case a.OK():
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		a.Err = fmt.Sprintf("HTTP %d redirect, not followed: configure the final URL", resp.StatusCode)
	default:
		a.Err = fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	return a
}

// describe turns a transport error into text without the URL (which may
// carry credentials in its query or user info).
func describe(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Sprintf("no answer within %s", Timeout)
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Op + ": " + oe.Err.Error()
	}
	return err.Error()
}

// retryAfter reads Retry-After (RFC 9110 §10.2.3): seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// StoredBody is EventBody made from the event's stored JSON text without
// decoding it, through appendStored (Options.AppendStored); ok is false
// when that cannot be done, and EventBody renders the event.
func StoredBody(ev *store.OutboxEvent, appendStored func([]byte, store.Kind, *store.Resource) ([]byte, bool)) (_ []byte, ok bool) {
	if appendStored == nil {
		return nil, false
	}
	res, k, ok := ev.Stored()
	if !ok {
		return nil, false
	}
	b := appendBodyStart(make([]byte, 0, len(res.Text)+512), ev.Type, ev.Time)
	if b, ok = appendStored(b, k, res); !ok {
		return nil, false
	}
	return append(b, '}'), true
}

// EventBody renders a stored event's body. A resource event's data is the
// resource as GET returns it after the change (render), a group without
// its members; other events carry their data as stored.
func EventBody(ev *store.OutboxEvent, render func(store.Kind, *store.Resource) map[string]any) ([]byte, error) {
	res, k, ok, err := ev.Snapshot()
	if err != nil {
		return nil, err
	}
	data := ev.Data()
	if ok {
		m := render(k, res)
		delete(m, "members")
		if data, err = scim.AppendJSON(make([]byte, 0, 1024), m); err != nil {
			return nil, err
		}
	}
	return Body(ev.Type, ev.Time, data), nil
}
