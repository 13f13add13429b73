// Package webhook delivers the directory's change events to the operator's
// own systems, signed as the Standard Webhooks specification describes
// (github.com/standard-webhooks/standard-webhooks, spec/standard-webhooks.md).
//
// The store writes each event into its outbox inside the transaction of
// the change (store/outbox.go); this package reads the outbox and delivers:
// at least once, in commit order per resource, different resources
// concurrently, retrying with exponential backoff until an endpoint's
// max_age. All delivery state lives in the database, so a restart or a
// kill -9 loses nothing and the admin commands can act beside a running
// server.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Endpoint is one configured receiver ([[webhooks]]).
type Endpoint struct {
	Name   string
	URL    string
	Key    []byte   // the signing key: the base64-decoded part of the whsec_ secret
	Events []string // exact types or "prefix.*"; empty means every type
	MaxAge time.Duration
}

// Defaults of the delivery schedule.
const (
	// DefaultMaxAge is how long an event is retried before it is failed.
	DefaultMaxAge = 72 * time.Hour
	// DefaultRetention is how long delivered events are kept.
	DefaultRetention = 7 * 24 * time.Hour
	// Timeout bounds one attempt, from connecting to the end of the answer.
	Timeout = 10 * time.Second
	// MaxBackoff caps the wait between attempts.
	MaxBackoff = 10 * time.Minute
	// firstBackoff is the wait after the first failed attempt; it doubles.
	firstBackoff = time.Second
)

// SecretPrefix starts every Standard Webhooks symmetric secret.
const SecretPrefix = "whsec_"

// ParseSecret decodes a whsec_ secret into its signing key. The
// specification asks for 24 to 64 random bytes; the error never repeats
// the secret.
func ParseSecret(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return nil, errors.New("the secret must start with whsec_ followed by base64 (Standard Webhooks)")
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, errors.New("the part after whsec_ is not valid base64")
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, fmt.Errorf("the secret decodes to %d bytes; it must be 24 to 64 random bytes", len(key))
	}
	return key, nil
}

// Sign is the webhook-signature header for one attempt: "v1," and the
// base64 HMAC-SHA256 of "id.timestamp.body".
func Sign(key []byte, id string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// ValidPattern reports whether p is an event type or a "prefix.*" pattern:
// lower-case words joined by dots, optionally ending in ".*".
func ValidPattern(p string) bool {
	p = strings.TrimSuffix(p, ".*")
	if p == "" {
		return false
	}
	for _, w := range strings.Split(p, ".") {
		if w == "" {
			return false
		}
		for _, c := range w {
			if c < 'a' || c > 'z' {
				return false
			}
		}
	}
	return true
}

// Matches reports whether an event type is selected by patterns (empty:
// every type). "user.*" selects user.created and every other user.x.y.
func Matches(patterns []string, typ string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(typ, prefix) {
				return true
			}
		} else if p == typ {
			return true
		}
	}
	return false
}

// ValidName reports whether name is 1 to 64 of [A-Za-z0-9._-].
func ValidName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for _, c := range []byte(name) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
