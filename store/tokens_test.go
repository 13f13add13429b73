package store

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// admStore opens a store on a new file with a clock the test moves.
func admStore(t *testing.T) (*Store, *time.Time) {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "scimd.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	now := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	return s, &now
}

func TestTokenNames(t *testing.T) {
	s, _ := admStore(t)
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"entra", true},
		{"okta-prod_2.eu", true},
		{"E", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{"../etc", false},
		{"a/b", false},
		{".hidden", false},
		{"-flag", false},
		{"with space", false},
		{"ünïcode", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := s.IssueToken(context.Background(), tc.name, "entra", time.Hour)
			if got := err == nil; got != tc.ok {
				t.Fatalf("IssueToken(%q) error = %v, want ok=%v", tc.name, err, tc.ok)
			}
			if !tc.ok && !errors.Is(err, ErrTokenName) {
				t.Errorf("error = %v, want ErrTokenName", err)
			}
		})
	}
}

// authReason authenticates and returns the refusal reason ("" when accepted).
func authReason(t *testing.T, s *Store, secret string) (string, string) {
	t.Helper()
	tok, err := s.Authenticate(context.Background(), secret)
	if err == nil {
		return "", tok.Name
	}
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("Authenticate: %v, want an *AuthError", err)
	}
	return ae.Reason, ae.Token
}

func TestTokenLifecycle(t *testing.T) {
	ctx := context.Background()
	s, now := admStore(t)
	secret, tok, err := s.IssueToken(ctx, "entra", "entra", 365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) != len(TokenPrefix)+43 {
		t.Errorf("secret %q: want %s and 43 base64url characters (256 bits)", secret, TokenPrefix)
	}
	if got, want := tok.Expires, now.Add(365*24*time.Hour); !got.Equal(want) {
		t.Errorf("expires %v, want %v", got, want)
	}
	if _, _, err := s.IssueToken(ctx, "entra", "okta", time.Hour); !errors.Is(err, ErrTokenExists) {
		t.Errorf("second issue of the same name: %v, want ErrTokenExists", err)
	}

	tests := []struct {
		name, secret, reason, token string
	}{
		{"valid", secret, "", "entra"},
		{"empty", "", "no bearer token", ""},
		{"malformed", "Basic abc", "malformed", ""},
		{"unknown", NewSecret(), "not known", ""},
		{"one character changed", secret[:len(secret)-1] + string(secret[len(secret)-1]^1), "not known", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reason, name := authReason(t, s, tc.secret)
			if tc.reason == "" && reason != "" || !strings.Contains(reason, tc.reason) {
				t.Errorf("reason %q, want one containing %q", reason, tc.reason)
			}
			if name != tc.token {
				t.Errorf("token %q, want %q", name, tc.token)
			}
		})
	}

	*now = now.Add(336 * 24 * time.Hour)
	list, _ := s.Tokens(ctx)
	if got := list[0].State(*now); got != "expiring" {
		t.Errorf("29 days before expiry: state %q, want expiring", got)
	}
	*now = now.Add(30 * 24 * time.Hour)
	if reason, name := authReason(t, s, secret); !strings.Contains(reason, "expired") || name != "entra" {
		t.Errorf("after expiry: reason %q token %q, want expired, entra", reason, name)
	}

	secret2, _, err := s.IssueToken(ctx, "okta", "okta", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(ctx, "okta"); err != nil {
		t.Fatal(err)
	}
	if reason, name := authReason(t, s, secret2); !strings.Contains(reason, "revoked") || name != "okta" {
		t.Errorf("after revoke: reason %q token %q, want revoked, okta", reason, name)
	}
	if err := s.RevokeToken(ctx, "nosuch"); !errors.Is(err, ErrNoToken) {
		t.Errorf("revoke unknown: %v, want ErrNoToken", err)
	}
}

func TestRotateGrace(t *testing.T) {
	ctx := context.Background()
	s, now := admStore(t)
	old, _, err := s.IssueToken(ctx, "entra", "okta", 100*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	fresh, nt, err := s.RotateToken(ctx, "entra", 365*24*time.Hour, 24*time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	if nt.IDP != "okta" || nt.Name != "entra" {
		t.Errorf("successor %s/%s, want entra/okta (same name and idp)", nt.Name, nt.IDP)
	}
	for _, sec := range []string{old, fresh} {
		if reason, _ := authReason(t, s, sec); reason != "" {
			t.Errorf("during grace: %q refused: %s", sec[:10], reason)
		}
	}
	list, _ := s.Tokens(ctx)
	if got, want := list[0].State(*now)+","+list[1].State(*now), "rotating,active"; got != want {
		t.Errorf("states %s, want %s", got, want)
	}
	if list[0].Current() || !list[1].Current() {
		t.Errorf("Current: old %v new %v, want false, true", list[0].Current(), list[1].Current())
	}
	*now = now.Add(25 * time.Hour)
	if reason, _ := authReason(t, s, old); !strings.Contains(reason, "grace period is over") {
		t.Errorf("after grace: old secret reason %q, want grace period is over", reason)
	}
	if reason, _ := authReason(t, s, fresh); reason != "" {
		t.Errorf("after grace: new secret refused: %s", reason)
	}
	if _, _, err := s.RotateToken(ctx, "nosuch", time.Hour, 0, false); !errors.Is(err, ErrNoToken) {
		t.Errorf("rotate unknown: %v, want ErrNoToken", err)
	}
}

func TestRevokeReplaced(t *testing.T) {
	ctx := context.Background()
	s, _ := admStore(t)
	old, _, err := s.IssueToken(ctx, "entra", "entra", 100*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	fresh, _, err := s.RotateToken(ctx, "entra", 365*24*time.Hour, 7*24*time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.RevokeReplaced(ctx, "entra")
	if err != nil || n != 1 {
		t.Fatalf("RevokeReplaced = %d, %v; want 1", n, err)
	}
	if reason, _ := authReason(t, s, old); !strings.Contains(reason, "revoked") {
		t.Errorf("old secret: %q, want revoked", reason)
	}
	if reason, _ := authReason(t, s, fresh); reason != "" {
		t.Errorf("current secret refused: %s", reason)
	}
	if n, err := s.RevokeReplaced(ctx, "entra"); err != nil || n != 0 {
		t.Errorf("second RevokeReplaced = %d, %v; want 0", n, err)
	}
	if _, err := s.RevokeReplaced(ctx, "nosuch"); !errors.Is(err, ErrNoToken) {
		t.Errorf("unknown name: %v, want ErrNoToken", err)
	}
}

func TestRotateKeepsOldUntilExpiry(t *testing.T) {
	ctx := context.Background()
	s, now := admStore(t)
	old, ot, err := s.IssueToken(ctx, "entra", "entra", 20*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.RotateToken(ctx, "entra", 365*24*time.Hour, 0, true); err != nil {
		t.Fatal(err)
	}
	list, _ := s.Tokens(ctx)
	if list[0].Retires == nil || !list[0].Retires.Equal(ot.Expires) {
		t.Fatalf("old secret retires %v, want its expiry %v", list[0].Retires, ot.Expires)
	}
	*now = now.Add(19 * 24 * time.Hour)
	if reason, _ := authReason(t, s, old); reason != "" {
		t.Errorf("a day before its expiry the old secret is refused: %s", reason)
	}
	*now = now.Add(2 * 24 * time.Hour)
	if reason, _ := authReason(t, s, old); reason == "" {
		t.Errorf("after its expiry the old secret still works")
	}
}

func TestDueTokens(t *testing.T) {
	ctx := context.Background()
	s, now := admStore(t)
	day := 24 * time.Hour
	for _, tc := range []struct {
		name string
		life time.Duration
	}{{"soon", 10 * day}, {"later", 40 * day}, {"expired", day}, {"revoked", 5 * day}, {"rotated", 3 * day}} {
		if _, _, err := s.IssueToken(ctx, tc.name, "entra", tc.life); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RevokeToken(ctx, "revoked"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.RotateToken(ctx, "rotated", 365*day, 0, true); err != nil {
		t.Fatal(err)
	}
	*now = now.Add(2 * day)
	due, err := s.DueTokens(ctx, 30*day)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tok := range due {
		got = append(got, tok.Name)
	}
	// Soonest first; the revoked token and the replaced secret are not
	// current, and "later" is outside the window.
	if want := "expired,soon"; strings.Join(got, ",") != want {
		t.Errorf("due %v, want %s", got, want)
	}
}

func TestUsageFlush(t *testing.T) {
	ctx := context.Background()
	s, now := admStore(t)
	_, tok, err := s.IssueToken(ctx, "entra", "entra", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var u Usage
	u.Touch(tok.Seq, "Azure AD SCIM Background Worker", *now)
	if list, _ := s.Tokens(ctx); list[0].LastUsed != nil {
		t.Fatalf("last used written before a flush")
	}
	if err := s.FlushUsage(ctx, &u); err != nil {
		t.Fatal(err)
	}
	list, _ := s.Tokens(ctx)
	if list[0].LastUsed == nil || !list[0].LastUsed.Equal(*now) || list[0].LastAgent != "Azure AD SCIM Background Worker" {
		t.Errorf("after flush: last used %v by %q", list[0].LastUsed, list[0].LastAgent)
	}
}

func TestDaysLeft(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   time.Duration
		want int
	}{
		{5 * 24 * time.Hour, 5},
		{5*24*time.Hour - time.Minute, 5},
		{4*24*time.Hour + time.Hour, 5},
		{time.Hour, 1},
		{0, 0},
		{-time.Hour, 0},
		{-25 * time.Hour, -1},
	} {
		if got := DaysLeft(now.Add(tc.in), now); got != tc.want {
			t.Errorf("DaysLeft(now+%v) = %d, want %d", tc.in, got, tc.want)
		}
	}
}
