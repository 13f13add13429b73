package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"
)

// TokenPrefix starts every secret so that leaked tokens are easy to find
// with secret scanners.
const TokenPrefix = "scimd_"

// Token is a bearer token's metadata. The secret itself is never stored.
type Token struct {
	Seq       int64
	Name      string
	IDP       string
	Created   time.Time
	Expires   time.Time
	Revoked   *time.Time
	Retires   *time.Time // set when rotated: the old secret stops then
	Successor int64
	LastUsed  *time.Time
	LastAgent string
	// Scope is ScopeWrite or ScopeRead.
	Scope string
}

// Token scopes. A read token may GET, list and search; the server refuses
// its writes with 403 (RFC 7644 §3.12), so a directory reader (a VPN, a
// wiki) never holds the power to change the directory.
const (
	ScopeWrite = "write"
	ScopeRead  = "read"
)

// State is a token's lifecycle state at a moment.
func (t *Token) State(now time.Time) string {
	switch {
	case t.Revoked != nil:
		return "revoked"
	case t.Retires != nil && !now.Before(*t.Retires):
		return "rotated"
	case !now.Before(t.Expires):
		return "expired"
	case t.Retires != nil:
		return "rotating"
	case t.Expires.Sub(now) <= 30*24*time.Hour:
		return "expiring"
	}
	return "active"
}

// Current reports whether t is the live secret of its name: neither
// replaced by a successor nor revoked. Only current tokens are rotated and
// warned about; a replaced secret merely runs out its grace period.
func (t *Token) Current() bool { return t.Successor == 0 && t.Revoked == nil }

// AuthError says why a bearer token was refused; its text is safe to send
// to the client (it never says which part of a secret was wrong). Token is
// the name of the token the secret belongs to, when it is known (expired,
// revoked, rotated), for the log; it is never a secret.
type AuthError struct {
	Reason string
	Token  string
}

func (e *AuthError) Error() string { return e.Reason }

// NewSecret returns a fresh secret: the prefix and 256 bits from
// crypto/rand, base64url without padding.
func NewSecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// HashSecret is the SHA-256 under which a secret is stored and looked up.
// Looking up by hash keeps the check constant-time with respect to the
// secret: no byte-by-byte comparison of secrets ever happens.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

func parseTime(s string) time.Time {
	t, _ := time.Parse(timeFormat, s)
	return t
}

func parseTimePtr(s sql.NullString) *time.Time {
	if !s.Valid {
		return nil
	}
	t := parseTime(s.String)
	return &t
}

// ErrTokenExists is returned when a token name is taken.
var ErrTokenExists = errors.New("a token with that name already exists")

// ErrNoToken is returned for an unknown token name.
var ErrNoToken = errors.New("no token has that name")

// ErrTokenName is returned for a name that is not 1 to 64 letters, digits,
// dots, dashes or underscores starting with a letter or digit. Names become
// file names (token rotate --due writes DIR/NAME.token), so they must be
// safe as one path element.
var ErrTokenName = errors.New("a token name is 1 to 64 letters, digits, '.', '-' or '_', starting with a letter or digit")

// ValidTokenName reports whether name is acceptable for a new token.
func ValidTokenName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i, c := range []byte(name) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i > 0 && (c == '.' || c == '-' || c == '_'):
		default:
			return false
		}
	}
	return true
}

// IssueToken creates a write token and returns its secret, which is shown
// once.
func (s *Store) IssueToken(ctx context.Context, name, idp string, lifetime time.Duration) (string, *Token, error) {
	return s.IssueScopedToken(ctx, name, idp, ScopeWrite, lifetime)
}

// ErrScope is returned for a scope other than ScopeWrite and ScopeRead.
var ErrScope = errors.New(`a token's scope is "write" or "read"`)

// IssueScopedToken is IssueToken with a scope (ScopeWrite or ScopeRead).
func (s *Store) IssueScopedToken(ctx context.Context, name, idp, scope string, lifetime time.Duration) (string, *Token, error) {
	if !ValidTokenName(name) {
		return "", nil, ErrTokenName
	}
	if scope != ScopeWrite && scope != ScopeRead {
		return "", nil, ErrScope
	}
	secret := NewSecret()
	now := s.now().UTC()
	t := &Token{Name: name, IDP: idp, Created: now, Expires: now.Add(lifetime), Scope: scope}
	err := s.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRow(`SELECT count(*) FROM tokens WHERE name = ? AND successor IS NULL`, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrTokenExists
		}
		res, err := tx.Exec(`INSERT INTO tokens (name, idp, hash, created, expires, scope) VALUES (?, ?, ?, ?, ?, ?)`,
			name, idp, HashSecret(secret), now.Format(timeFormat), t.Expires.Format(timeFormat), scope)
		if err != nil {
			return err
		}
		t.Seq, _ = res.LastInsertId()
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	return secret, t, nil
}

const tokenCols = `seq, name, idp, created, expires, revoked, retires, coalesce(successor, 0), last_used, coalesce(last_agent, ''), scope`

func scanToken(row interface{ Scan(...any) error }) (*Token, error) {
	var (
		t                          Token
		created, expires           string
		revoked, retires, lastUsed sql.NullString
	)
	if err := row.Scan(&t.Seq, &t.Name, &t.IDP, &created, &expires, &revoked, &retires, &t.Successor, &lastUsed, &t.LastAgent, &t.Scope); err != nil {
		return nil, err
	}
	t.Created, t.Expires = parseTime(created), parseTime(expires)
	t.Revoked, t.Retires, t.LastUsed = parseTimePtr(revoked), parseTimePtr(retires), parseTimePtr(lastUsed)
	return &t, nil
}

// Authenticate finds the token a secret belongs to and checks that it may
// be used now. The error is an *AuthError whose reason can be shown.
func (s *Store) Authenticate(ctx context.Context, secret string) (*Token, error) {
	if secret == "" {
		return nil, &AuthError{Reason: "no bearer token was sent"}
	}
	if !strings.HasPrefix(secret, TokenPrefix) {
		return nil, &AuthError{Reason: "the bearer token is malformed: scimd tokens start with " + TokenPrefix}
	}
	t, err := scanToken(s.autoQ().QueryRow(`SELECT `+tokenCols+` FROM tokens WHERE hash = ?`, HashSecret(secret)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &AuthError{Reason: "the bearer token is not known to this server"}
	}
	if err != nil {
		return nil, classify(err)
	}
	now := s.now()
	switch t.State(now) {
	case "revoked":
		return nil, &AuthError{fmt.Sprintf("the bearer token %q was revoked", t.Name), t.Name}
	case "rotated":
		return nil, &AuthError{fmt.Sprintf("the bearer token %q was replaced by a rotated token and its grace period is over", t.Name), t.Name}
	case "expired":
		return nil, &AuthError{fmt.Sprintf("the bearer token %q expired on %s; issue or rotate a token with scimd token rotate", t.Name, t.Expires.Format("2006-01-02")), t.Name}
	}
	return t, nil
}

// Tokens lists every token, oldest first within a name.
func (s *Store) Tokens(ctx context.Context) ([]*Token, error) {
	return s.queryTokens(ctx, `ORDER BY name, seq`)
}

// queryTokens reads the tokens that a WHERE/ORDER BY tail selects.
func (s *Store) queryTokens(ctx context.Context, tail string, args ...any) ([]*Token, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+tokenCols+` FROM tokens `+tail, args...)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []*Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken revokes every secret of the named token at once.
func (s *Store) RevokeToken(ctx context.Context, name string) error {
	now := s.stamp()
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE tokens SET revoked = ? WHERE name = ? AND revoked IS NULL`, now, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var c int
			tx.QueryRow(`SELECT count(*) FROM tokens WHERE name = ?`, name).Scan(&c)
			if c == 0 {
				return ErrNoToken
			}
		}
		return nil
	})
}

// RevokeReplaced revokes the old secrets of the named token that are still
// in their grace period after a rotation, keeping the current one: once
// the identity provider uses the new secret, the old one need not wait
// for its grace to end. It returns how many secrets it revoked.
func (s *Store) RevokeReplaced(ctx context.Context, name string) (int64, error) {
	now := s.stamp()
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		var c int
		if err := tx.QueryRow(`SELECT count(*) FROM tokens WHERE name = ?`, name).Scan(&c); err != nil {
			return err
		}
		if c == 0 {
			return ErrNoToken
		}
		res, err := tx.Exec(`UPDATE tokens SET revoked = ? WHERE name = ? AND successor IS NOT NULL AND revoked IS NULL
			AND (retires IS NULL OR retires > ?)`, now, name, now)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}

// RotateToken issues a successor with the same name and idp and lets the
// current secret work until grace has passed (or, when graceToExpiry, until
// its own expiry). It returns the new secret.
func (s *Store) RotateToken(ctx context.Context, name string, lifetime, grace time.Duration, graceToExpiry bool) (string, *Token, error) {
	secret := NewSecret()
	now := s.now().UTC()
	var nt *Token
	err := s.write(ctx, func(tx *sql.Tx) error {
		old, err := scanToken(tx.QueryRow(`SELECT `+tokenCols+` FROM tokens WHERE name = ? AND successor IS NULL AND revoked IS NULL ORDER BY seq DESC LIMIT 1`, name))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNoToken
		}
		if err != nil {
			return err
		}
		// The successor keeps the scope: rotating a read token must not
		// hand out write access.
		nt = &Token{Name: name, IDP: old.IDP, Created: now, Expires: now.Add(lifetime), Scope: old.Scope}
		res, err := tx.Exec(`INSERT INTO tokens (name, idp, hash, created, expires, scope) VALUES (?, ?, ?, ?, ?, ?)`,
			name, old.IDP, HashSecret(secret), now.Format(timeFormat), nt.Expires.Format(timeFormat), old.Scope)
		if err != nil {
			return err
		}
		nt.Seq, _ = res.LastInsertId()
		retires := now.Add(grace)
		if graceToExpiry || retires.After(old.Expires) {
			retires = old.Expires
		}
		_, err = tx.Exec(`UPDATE tokens SET successor = ?, retires = ? WHERE seq = ?`, nt.Seq, retires.Format(timeFormat), old.Seq)
		return err
	})
	if err != nil {
		return "", nil, err
	}
	return secret, nt, nil
}

// DueTokens lists the current tokens (see Token.Current) that expire
// before now+within, soonest first; token rotate --due rotates them.
func (s *Store) DueTokens(ctx context.Context, within time.Duration) ([]*Token, error) {
	limit := s.now().Add(within).UTC().Format(timeFormat)
	return s.queryTokens(ctx, `WHERE successor IS NULL AND revoked IS NULL AND expires <= ? ORDER BY expires, name`, limit)
}

// Usage batches "last used" updates so that requests do not each write to
// the database: Touch records in memory and Flush writes what changed.
type Usage struct {
	mu   sync.Mutex
	seen map[int64]usage
}

type usage struct {
	at    time.Time
	agent string
}

// Touch records that a token was used now by a client.
func (u *Usage) Touch(seq int64, agent string, at time.Time) {
	u.mu.Lock()
	if u.seen == nil {
		u.seen = map[int64]usage{}
	}
	u.seen[seq] = usage{at, agent}
	u.mu.Unlock()
}

// FlushUsage writes the recorded uses to the database.
func (s *Store) FlushUsage(ctx context.Context, u *Usage) error {
	u.mu.Lock()
	seen := u.seen
	u.seen = nil
	u.mu.Unlock()
	if len(seen) == 0 {
		return nil
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		for seq, x := range seen {
			if _, err := tx.Exec(`UPDATE tokens SET last_used = ?, last_agent = ? WHERE seq = ?`, x.at.UTC().Format(timeFormat), x.agent, seq); err != nil {
				return err
			}
		}
		return nil
	})
}

// DaysLeft counts the days from now until t, started days included, as
// scimd token list, scimd status and the admin listener show them: a token
// issued for 5d shows 5, not 4 a second later; one with 4 days and 3
// hours left shows 5, one with an hour left 1; 0 or less once t has passed.
func DaysLeft(t, now time.Time) int {
	return int(math.Ceil(t.Sub(now).Hours() / 24))
}
