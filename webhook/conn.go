package webhook

// A lean HTTP/1.1 client for the deliverer. An attempt through net/http's
// Transport passes the request to a writer goroutine and the answer back
// from a reader goroutine of its persistent connection, and allocates a
// Request, headers and a response body reader: about half of a delivery's
// CPU time in scimd. At a steady write rate that CPU is taken from the
// requests (issue 12: a webhook may cost at most 15 % of create
// throughput). Here an attempt is one write of the whole request and a
// read of the answer on the caller's goroutine, over connections kept
// alive per endpoint. It is used only where it behaves as net/http would:
// an http or https URL without user info that no proxy applies to
// (HTTP_PROXY and friends); every other endpoint goes through Send.

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// leanClient sends one endpoint's attempts.
type leanClient struct {
	ep     *Endpoint
	addr   string // host:port to dial
	host   string // the Host header
	path   string // the request target
	tls    *tls.Config
	dialer net.Dialer
	idle   chan *leanConn // kept-alive connections, at most conns
}

type leanConn struct {
	c   net.Conn
	br  *bufio.Reader
	buf []byte // the request being written, reused
}

// newLeanClient returns a client for ep, or nil when ep must go through
// net/http (see the file comment).
func newLeanClient(ep *Endpoint, conns int) *leanClient {
	u, err := url.Parse(ep.URL)
	if err != nil || u.User != nil || u.Host == "" {
		return nil
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil
	}
	req := &http.Request{URL: u, Header: http.Header{}}
	if p, err := http.ProxyFromEnvironment(req); err != nil || p != nil {
		return nil
	}
	l := &leanClient{ep: ep, host: u.Host, path: u.RequestURI(), idle: make(chan *leanConn, conns),
		dialer: net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	l.addr = net.JoinHostPort(u.Hostname(), port)
	if u.Scheme == "https" {
		// As net/http's default: the system's roots, the URL's host name,
		// TLS 1.2 at least; HTTP/1.1 only, which every receiver speaks.
		l.tls = &tls.Config{ServerName: u.Hostname(), NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12}
	}
	return l
}

// close closes the kept connections.
func (l *leanClient) close() {
	for {
		select {
		case c := <-l.idle:
			c.c.Close()
		default:
			return
		}
	}
}

func (l *leanClient) dial(ctx context.Context) (*leanConn, error) {
	c, err := l.dialer.DialContext(ctx, "tcp", l.addr)
	if err != nil {
		return nil, err
	}
	if l.tls != nil {
		tc := tls.Client(c, l.tls)
		hctx, cancel := context.WithTimeout(ctx, Timeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			c.Close()
			return nil, err
		}
		c = tc
	}
	return &leanConn{c: c, br: bufio.NewReaderSize(c, 4096)}, nil
}

// send is Send through the lean client: the same request, headers and
// answer.
func (l *leanClient) send(ctx context.Context, msgID string, body []byte, now time.Time) Answer {
	var (
		c      *leanConn
		reused bool
	)
	select {
	case c = <-l.idle:
		reused = true
	default:
	}
	for {
		if c == nil {
			var err error
			if c, err = l.dial(ctx); err != nil {
				return Answer{Err: describe(err)}
			}
		}
		a, keep, retry := l.try(ctx, c, msgID, body, now)
		if keep {
			select {
			case l.idle <- c:
			default:
				c.c.Close()
			}
			return a
		}
		c.c.Close()
		// A kept connection the receiver closed meanwhile fails before
		// any answer: send once more on a new one, as net/http does. (The
		// event keeps its webhook-id: at worst the receiver sees it twice.)
		if !retry || !reused || ctx.Err() != nil {
			return a
		}
		c, reused = nil, false
	}
}

// try makes one attempt on c. keep says c can serve another; retry that
// the attempt failed before any byte of an answer arrived.
func (l *leanClient) try(ctx context.Context, c *leanConn, msgID string, body []byte, now time.Time) (a Answer, keep, retry bool) {
	deadline := now.Add(Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.c.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	b := c.buf[:0]
	b = append(b, "POST "...)
	b = append(b, l.path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, l.host...)
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	for _, h := range attemptHeaders(l.ep, msgID, body, now) {
		b = append(b, "\r\n"...)
		b = append(b, h[0]...)
		b = append(b, ": "...)
		b = append(b, h[1]...)
	}
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	if cap(b) <= 64<<10 {
		c.buf = b
	}
	if _, err := c.c.Write(b); err != nil {
		return Answer{Err: describe(l.cause(ctx, err))}, false, true
	}
	if _, err := c.br.Peek(1); err != nil {
		// Not after a timeout: the receiver had the request and said
		// nothing; that attempt is over.
		var ne net.Error
		return Answer{Err: describe(l.cause(ctx, err))}, false, !(errors.As(err, &ne) && ne.Timeout())
	}
	resp, err := http.ReadResponse(c.br, &http.Request{Method: http.MethodPost})
	if err != nil {
		return Answer{Err: describe(l.cause(ctx, err))}, false, false
	}
	first, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	// Reuse the connection only when the answer was read to its end.
	n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	keep = err == nil && n < 64<<10 && !resp.Close && ctx.Err() == nil
	if keep {
		// A body longer than read so far makes the next read fail: only
		// an ended body leaves the connection at the next answer.
		var one [1]byte
		if m, _ := resp.Body.Read(one[:]); m > 0 {
			keep = false
		}
	}
	resp.Body.Close()
	return answerOf(resp, first, now), keep, false
}

// cause is err, or the context's error when the context ended the attempt
// (the AfterFunc above makes the socket time out).
func (l *leanClient) cause(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
