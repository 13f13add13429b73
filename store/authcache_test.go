package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestAuthCacheSeesRevocationByAnotherProcess: a token revoked through a
// second connection to the file (as 'scimd token revoke' does while serve
// runs) is refused on the very next request, although it was cached.
func TestAuthCacheSeesRevocationByAnotherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	server := openWith(t, path, nil, Options{})
	ctx := context.Background()
	secret, _, err := server.IssueToken(ctx, "entra", "entra", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ { // fill the cache
		if _, err := server.AuthenticateCached(ctx, secret); err != nil {
			t.Fatalf("fresh token refused: %v", err)
		}
	}
	cli := openWith(t, path, nil, Options{})
	if err := cli.RevokeToken(ctx, "entra"); err != nil {
		t.Fatal(err)
	}
	if _, err := server.AuthenticateCached(ctx, secret); err == nil {
		t.Fatal("revoked token still accepted from the cache")
	}
}

// TestAuthCacheHonoursExpiry: a cached token stops working when it expires,
// without any write to the database.
func TestAuthCacheHonoursExpiry(t *testing.T) {
	s := openWith(t, filepath.Join(t.TempDir(), "x.db"), nil, Options{})
	ctx := context.Background()
	now := time.Now()
	s.now = func() time.Time { return now }
	secret, _, err := s.IssueToken(ctx, "okta", "okta", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateCached(ctx, secret); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Hour)
	if _, err := s.AuthenticateCached(ctx, secret); err == nil {
		t.Fatal("expired token accepted from the cache")
	}
}

// TestFingerprintHeaderChangesOnEveryCommit: the WAL-index header part of
// the fingerprint, which does not depend on file timestamps, differs after
// each commit by another connection.
func TestFingerprintHeaderChangesOnEveryCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	server := openWith(t, path, nil, Options{})
	other := openWith(t, path, nil, Options{})
	ctx := context.Background()
	prev := server.fingerprint().hdr
	if prev == ([48]byte{}) {
		t.Fatal("could not read the WAL-index header")
	}
	for i := 0; i < 5; i++ {
		if _, _, err := other.IssueToken(ctx, fmt.Sprintf("t%d", i), "generic", time.Hour); err != nil {
			t.Fatal(err)
		}
		cur := server.fingerprint().hdr
		if cur == prev {
			t.Fatalf("commit %d left the WAL-index header unchanged", i)
		}
		prev = cur
	}
}
