package store

import (
	"context"
	"crypto/sha256"
	"os"
	"sync"
	"time"
)

// authCache remembers tokens that authenticated, so a read-heavy sync does
// not query the tokens table on every request. It stays exact: entries are
// valid only while the database and WAL files are unchanged (size and
// modification time), and every commit by any process, including
// 'scimd token revoke' from the CLI, changes the WAL. Entries also expire
// after maxAuthAge as a safety net on file systems with coarse timestamps.
type authCache struct {
	mu      sync.Mutex
	fp      fileFingerprint
	checked time.Time
	m       map[[32]byte]*Token
}

const maxAuthAge = time.Second

type fileFingerprint struct {
	dbSize, walSize   int64
	dbMTime, walMTime int64
}

func (s *Store) fingerprint() fileFingerprint {
	var fp fileFingerprint
	if fi, err := os.Stat(s.path); err == nil {
		fp.dbSize, fp.dbMTime = fi.Size(), fi.ModTime().UnixNano()
	}
	if fi, err := os.Stat(s.path + "-wal"); err == nil {
		fp.walSize, fp.walMTime = fi.Size(), fi.ModTime().UnixNano()
	}
	return fp
}

// AuthenticateCached is Authenticate with the cache in front. Refusals are
// never cached, so their reasons are always current.
func (s *Store) AuthenticateCached(ctx context.Context, secret string) (*Token, error) {
	key := sha256.Sum256([]byte(secret))
	fp := s.fingerprint()
	now := s.now()
	c := &s.auth
	c.mu.Lock()
	if c.fp != fp || now.Sub(c.checked) > maxAuthAge || c.m == nil {
		c.fp, c.checked, c.m = fp, now, map[[32]byte]*Token{}
	}
	t := c.m[key]
	c.mu.Unlock()
	if t != nil {
		switch t.State(now) {
		case "active", "expiring", "rotating":
			return t, nil
		}
	}
	t, err := s.Authenticate(ctx, secret)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.fp == fp && len(c.m) < 10000 {
		c.m[key] = t
	}
	c.mu.Unlock()
	return t, nil
}
