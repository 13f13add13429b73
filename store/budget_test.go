package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"scimd/scim"
)

// costlyFilter is a filter the default limits allow that no index helps:
// n substring tests on every email of every user.
func costlyFilter(t testing.TB, n int) scim.Expr {
	var parts []string
	for i := 0; i < n; i++ {
		parts = append(parts, fmt.Sprintf(`emails.value co "zz%d"`, i))
	}
	f, err := scim.ParseFilter(strings.Join(parts, " or "), scim.FilterLimits{})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func seedMany(t testing.TB, s *Store, n int) {
	docs := make([]map[string]any, 0, n)
	for i := 0; i < n; i++ {
		docs = append(docs, map[string]any{"userName": fmt.Sprintf("u%06d@example.com", i),
			"emails": []any{map[string]any{"value": fmt.Sprintf("u%06d@example.com", i), "type": "work"},
				map[string]any{"value": fmt.Sprintf("x%06d@example.org", i), "type": "home"}}})
	}
	if _, err := s.BulkCreate(context.Background(), Users, docs); err != nil {
		t.Fatal(err)
	}
}

// TestQueryBudgetGivesTooMany: a costly filter that outlives query_timeout
// is interrupted and answered 400 tooMany (RFC 7644 §3.12), for both
// the page and the total.
func TestQueryBudgetGivesTooMany(t *testing.T) {
	s := openWith(t, filepath.Join(t.TempDir(), "x.db"), nil, Options{QueryTimeout: 30 * time.Millisecond})
	seedMany(t, s, 5000)
	ctx := context.Background()
	for _, count := range []int{200, 0} {
		t0 := time.Now()
		_, err := s.ListPage(ctx, Users, Query{Filter: costlyFilter(t, 100), StartIndex: 1, Count: count})
		var se *scim.Error
		if !errors.As(err, &se) || se.Status != 400 || se.ScimType != "tooMany" {
			t.Fatalf("count=%d: costly filter over 5,000 users with a 30ms budget: got %v, want 400 tooMany", count, err)
		}
		if d := time.Since(t0); d > 2*time.Second {
			t.Errorf("count=%d: the refused query still ran %v", count, d)
		}
	}
}

// TestClientGoneStopsQuery: when the request's context ends (the client
// went away), the running query is interrupted and returns at once instead
// of running to its end.
func TestClientGoneStopsQuery(t *testing.T) {
	s := openWith(t, filepath.Join(t.TempDir(), "x.db"), nil, Options{QueryTimeout: time.Minute})
	seedMany(t, s, 2000)
	f := costlyFilter(t, 10)
	t0 := time.Now()
	if _, err := s.ListPage(context.Background(), Users, Query{Filter: f, StartIndex: 1, Count: 200}); err != nil {
		t.Fatal(err)
	}
	full := time.Since(t0)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(full/10, cancel)
	t0 = time.Now()
	_, err := s.ListPage(ctx, Users, Query{Filter: f, StartIndex: 1, Count: 200})
	took := time.Since(t0)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled after %v: got %v, want context.Canceled", full/10, err)
	}
	if took > full/2 {
		t.Errorf("the cancelled query took %v; uncancelled it takes %v", took, full)
	}
	t.Logf("full query %v; cancelled after %v, returned after %v", full, full/10, took)
}

// TestStmtCacheBounded: distinct filter shapes cannot grow the prepared
// statement cache past maxStmts, long SQL is never kept, and queries stay
// right while their statements are evicted.
func TestStmtCacheBounded(t *testing.T) {
	s := openWith(t, filepath.Join(t.TempDir(), "x.db"), nil, Options{})
	seedUsers(t, s, 3)
	ctx := context.Background()
	attrs := []string{"title", "nickName", "locale", "timezone", "userType", "profileUrl", "name.givenName", "name.familyName", "emails.value", "externalId"}
	for i := 0; i < 3*maxStmts; i++ {
		var or []string
		for j, a := range attrs {
			if i&(1<<j) != 0 {
				or = append(or, a+` eq "x"`)
			}
		}
		text := `userName eq "P01"`
		if len(or) > 0 {
			text += " and not (" + strings.Join(or, " or ") + ")"
		}
		f, err := scim.ParseFilter(text, scim.FilterLimits{})
		if err != nil {
			t.Fatal(err)
		}
		total, list, err := s.List(ctx, Users, Query{Filter: f, StartIndex: 1, Count: 10})
		if err != nil || total != 1 || list[0].Doc["userName"] != "p01" {
			t.Fatalf("filter %d: %d results, %v", i, total, err)
		}
	}
	if n := s.stmts.size(); n > maxStmts {
		t.Fatalf("%d statements cached after %d distinct filters, want at most %d", n, 3*maxStmts, maxStmts)
	}
	if _, _, err := s.List(ctx, Users, Query{Filter: costlyFilter(t, 100), StartIndex: 1, Count: 10}); err != nil {
		t.Fatal(err)
	}
	s.stmts.mu.Lock()
	for k := range s.stmts.m {
		if len(k.query) > maxCachedSQL {
			t.Errorf("SQL of %d bytes was cached", len(k.query))
		}
	}
	s.stmts.mu.Unlock()
}

// TestIndexedFilters: which filters count as index lookups (the main read
// pool) and which as heavy (the small pool, see listPage).
func TestIndexedFilters(t *testing.T) {
	s := openWith(t, filepath.Join(t.TempDir(), "x.db"), []scim.CustomAttribute{microsoftID}, Options{})
	for _, tc := range []struct {
		filter  string
		indexed bool
	}{
		{`userName eq "a"`, true},
		{`USERNAME eq "a"`, true},
		{`id eq "x"`, true},
		{`externalId eq "x"`, true},
		{`microsoftId eq "m"`, true},
		{`userName eq "a" and title co "x"`, true},
		{`title co "x" and externalId eq "e"`, true},
		{`userName eq "a" or externalId eq "b"`, true},
		{`userName eq "a" or title eq "b"`, false},
		{`userName sw "a"`, false},
		{`title eq "x"`, false},
		{`not (userName eq "a")`, false},
		{`emails[value eq "a"]`, false},
	} {
		f, err := scim.ParseFilter(tc.filter, scim.FilterLimits{})
		if err != nil {
			t.Fatal(err)
		}
		c := &compiler{rt: s.cat.User, k: users, table: "users", attrs: s.attrIdx["users"]}
		if got := c.indexed(f); got != tc.indexed {
			t.Errorf("%s: indexed %v, want %v", tc.filter, got, tc.indexed)
		}
		if len(c.args) != 0 {
			t.Errorf("%s: indexed left %d arguments behind", tc.filter, len(c.args))
		}
	}
}

// TestPointLookupRunsUnwatched: a filter that matches at most one
// resource through a unique index (eq on userName, id or a group's
// displayName, alone or in an and) runs without the query budget and
// without a watched context, because it cannot run long; any other
// filter keeps both. Under a context that has already ended, the point
// lookups still answer and the others stop.
func TestPointLookupRunsUnwatched(t *testing.T) {
	s := openWith(t, filepath.Join(t.TempDir(), "x.db"), nil, Options{})
	seedMany(t, s, 50)
	ctx := context.Background()
	u, err := s.ListPage(ctx, Users, Query{Filter: mustFilter(t, `userName eq "u000007@example.com"`), StartIndex: 1, Count: 10})
	if err != nil || len(u.Resources) != 1 {
		t.Fatalf("lookup: %v, %+v", err, u)
	}
	id := u.Resources[0].ID
	if _, err := s.Create(ctx, Actor{}, Groups, map[string]any{"displayName": "Ops"}); err != nil {
		t.Fatal(err)
	}
	ended, cancel := context.WithCancel(ctx)
	cancel()
	for _, c := range []struct {
		k      Kind
		filter string
		point  bool
	}{
		{Users, `userName eq "U000007@example.com"`, true},
		{Users, `id eq "` + id + `"`, true},
		{Users, `userName eq "u000007@example.com" and active eq true`, true},
		{Users, `active eq true and id eq "` + id + `"`, true},
		{Groups, `displayName eq "ops"`, true},
		{Users, `externalId eq "x"`, false}, // not unique
		{Users, `userName eq "u000007@example.com" or userName eq "u000008@example.com"`, false},
		{Users, `userName sw "u00000"`, false},
		{Users, `emails.value eq "u000007@example.com"`, false},
		{Users, `userName eq null`, false},
	} {
		k := c.k
		if got := (&compiler{rt: k.rt(s), k: k}).unique(mustFilter(t, c.filter)); got != c.point {
			t.Errorf("%s: unique = %v, want %v", c.filter, got, c.point)
		}
		p, err := s.ListPage(ended, k, Query{Filter: mustFilter(t, c.filter), StartIndex: 1, Count: 10})
		switch {
		case c.point && (err != nil || len(p.Resources) != 1):
			t.Errorf("%s under an ended context: %v, %+v; want the one match", c.filter, err, p)
		case !c.point && !errors.Is(err, context.Canceled):
			t.Errorf("%s under an ended context: %v; want context.Canceled", c.filter, err)
		}
	}
}

func mustFilter(t *testing.T, s string) scim.Expr {
	t.Helper()
	f, err := scim.ParseFilter(s, scim.FilterLimits{})
	if err != nil {
		t.Fatal(err)
	}
	return f
}
