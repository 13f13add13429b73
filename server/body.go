package server

import (
	"compress/flate"
	"compress/gzip"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"

	"scimd/scim"
)

// readBody reads a request body within the configured limit.
//
// Content-Type: RFC 7644 §3.1 names application/scim+json and allows
// application/json. Entra sends the first (with or without a charset), Okta's
// SPEC test the second, and some clients none at all. Any JSON media type is
// read: application/json, text/json, and every "+json" type, with a charset
// parameter of utf-8 or none (RFC 8259 §8.1: JSON between systems is UTF-8).
// Anything else (text/plain, application/xml, forms, multipart) is 415: such
// a body was not meant for a SCIM server, and reading it as JSON would only
// give a confusing syntax error.
//
// Content-Encoding: gzip (and its old alias x-gzip, RFC 9110 §8.4.1.3) is
// decoded; the limit applies to the decoded bytes, so a small compressed
// body that expands to gigabytes (a "gzip bomb") is refused with 413 after
// max_body_bytes of output. identity is no encoding. Every other coding is
// 415 with Accept-Encoding: gzip (RFC 9110 §15.5.16), never ignored: a body
// read without decoding it would be garbage.
//
// A body the client stops sending halfway (it disconnected, or its
// Content-Length promised more than it sent) is the client's failure: 400,
// or 408 when the server's read timeout ran out, never a 500.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if err := checkMediaType(r.Header.Get("Content-Type")); err != nil {
		return nil, err
	}
	gz, err := checkEncoding(r.Header.Values("Content-Encoding"))
	if err != nil {
		w.Header().Set("Accept-Encoding", "gzip")
		return nil, err
	}
	if r.ContentLength > s.cfg.MaxBody {
		return nil, scim.TooLarge("the request body is %d bytes; at most %d are accepted", r.ContentLength, s.cfg.MaxBody)
	}
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
	if !gz {
		b, err := io.ReadAll(body)
		if err != nil {
			return nil, bodyError(err, len(b))
		}
		return b, nil
	}
	zr, err := gzip.NewReader(body)
	if err != nil {
		return nil, bodyError(err, 0)
	}
	b, err := io.ReadAll(io.LimitReader(zr, s.cfg.MaxBody+1))
	if err != nil {
		return nil, bodyError(err, len(b))
	}
	if int64(len(b)) > s.cfg.MaxBody {
		return nil, scim.TooLarge("the request body is more than %d bytes once decompressed; at most %d are accepted", s.cfg.MaxBody, s.cfg.MaxBody)
	}
	return b, nil
}

// checkMediaType accepts no Content-Type and the JSON media types (see
// readBody); anything else is 415.
func checkMediaType(ct string) error {
	switch ct {
	case "", "application/scim+json", "application/json", "application/scim+json; charset=utf-8", "application/json; charset=utf-8":
		return nil // what Entra, Okta and nearly everyone send: no parsing
	}
	if strings.TrimSpace(ct) == "" {
		return nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return scim.UnsupportedMediaType("Content-Type %q is not a media type; send application/scim+json", clip(ct))
	}
	typ, sub, _ := strings.Cut(mt, "/")
	if !(sub == "json" && (typ == "application" || typ == "text") || strings.HasSuffix(sub, "+json")) {
		return scim.UnsupportedMediaType("Content-Type %q is not JSON; send the body as application/scim+json (application/json is accepted too)", clip(mt))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return scim.UnsupportedMediaType("charset %q is not supported; send the body as UTF-8 (RFC 8259 §8.1)", clip(cs))
	}
	return nil
}

// checkEncoding reads the Content-Encoding header lines: no coding, or
// gzip alone (identity anywhere is no coding). It reports whether the body
// is gzip-compressed.
func checkEncoding(values []string) (gz bool, err error) {
	n := 0
	for _, v := range values {
		for c := range strings.SplitSeq(v, ",") {
			switch c = strings.ToLower(strings.TrimSpace(c)); c {
			case "", "identity":
			case "gzip", "x-gzip":
				gz = true
				n++
			default:
				return false, scim.UnsupportedMediaType("Content-Encoding %q is not supported; send the body uncompressed or with gzip", clip(c))
			}
		}
	}
	if n > 1 {
		return false, scim.UnsupportedMediaType("Content-Encoding applies gzip %d times; send the body compressed once at most", n)
	}
	return gz, nil
}

// bodyError turns a failure to read the body into the client's error. n
// is how many bytes were read before it.
func bodyError(err error, n int) error {
	var mbe *http.MaxBytesError
	var ne net.Error
	var corrupt flate.CorruptInputError
	switch {
	case errors.As(err, &mbe):
		return err // writeError: 413
	case errors.Is(err, gzip.ErrHeader), errors.Is(err, gzip.ErrChecksum), errors.As(err, &corrupt):
		return scim.InvalidSyntax("the request body says Content-Encoding: gzip but is not valid gzip data")
	case errors.As(err, &ne) && ne.Timeout():
		return scim.RequestTimeout("the request body was not received in time (%d bytes arrived)", n)
	}
	return scim.BadRequest("the request body ended early after %d bytes: the client closed the connection or sent less than it announced", n)
}
