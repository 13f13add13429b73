package store

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"

	"scimd/scim"
)

func seedUsers(t *testing.T, s *Store, n int) []string {
	t.Helper()
	var ids []string
	for i := 0; i < n; i++ {
		r, err := s.Create(context.Background(), Actor{}, Users, map[string]any{"userName": fmt.Sprintf("p%02d", i), "active": i%2 == 0})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	return ids
}

func pageIDs(p *Page) []string {
	var out []string
	for _, r := range p.Resources {
		out = append(out, r.ID)
	}
	return out
}

// TestCursorPagination walks a list with RFC 9865 cursors: every resource
// once, in creation order, nextCursor on every page but the last, and a
// refused cursor that the server did not issue.
func TestCursorPagination(t *testing.T) {
	s := openWith(t, filepath.Join(t.TempDir(), "x.db"), nil, Options{})
	ctx := context.Background()
	ids := seedUsers(t, s, 25)
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		c := cursor
		p, err := s.ListPage(ctx, Users, Query{Count: 10, Cursor: &c})
		if err != nil {
			t.Fatal(err)
		}
		if p.Total != 25 {
			t.Fatalf("page %d: total %d, want 25", pages, p.Total)
		}
		got = append(got, pageIDs(p)...)
		if p.NextCursor == "" {
			if pages != 2 {
				t.Fatalf("walk ended after %d pages, want 3", pages+1)
			}
			break
		}
		cursor = p.NextCursor
	}
	if !reflect.DeepEqual(got, ids) {
		t.Fatalf("cursor walk: got %v, want %v", got, ids)
	}

	// A filtered walk sees only matches.
	f, _ := scim.ParseFilter(`active eq true`, scim.FilterLimits{})
	first := ""
	p, err := s.ListPage(ctx, Users, Query{Filter: f, Count: 5, Cursor: &first})
	if err != nil {
		t.Fatal(err)
	}
	next := p.NextCursor
	p2, err := s.ListPage(ctx, Users, Query{Filter: f, Count: 100, Cursor: &next})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(p.Resources) + len(p2.Resources); n != 13 || p2.NextCursor != "" {
		t.Errorf("filtered cursor walk: %d users, last nextCursor %q; want 13 and none", n, p2.NextCursor)
	}

	bad := "not-a-cursor"
	_, err = s.ListPage(ctx, Users, Query{Count: 10, Cursor: &bad})
	if se, ok := err.(*scim.Error); !ok || se.ScimType != "invalidCursor" || se.Status != 400 {
		t.Errorf("unknown cursor: %v, want 400 invalidCursor", err)
	}
	sortBy, _ := scim.ParseAttrPath("userName")
	_, err = s.ListPage(ctx, Users, Query{Count: 10, Cursor: &first, SortBy: &sortBy})
	if se, ok := err.(*scim.Error); !ok || se.ScimType != "invalidValue" {
		t.Errorf("cursor with sortBy: %v, want 400 invalidValue", err)
	}
}

// TestIndexPagesContinueFromMarks: a sequential startIndex walk continues
// from where the previous page ended (the page mark is used), and returns
// the same slices as a full listing.
func TestIndexPagesContinueFromMarks(t *testing.T) {
	s := openWith(t, filepath.Join(t.TempDir(), "x.db"), nil, Options{})
	ctx := context.Background()
	ids := seedUsers(t, s, 23)
	var got []string
	for start := 1; start <= 23; start += 5 {
		if start > 1 {
			key := "users\x00" + "1" + "\x00"
			if _, ok := s.marks.get(key, start); !ok {
				t.Fatalf("no page mark for startIndex %d after the page before it", start)
			}
		}
		p, err := s.ListPage(ctx, Users, Query{StartIndex: start, Count: 5})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, pageIDs(p)...)
	}
	if !reflect.DeepEqual(got, ids) {
		t.Fatalf("index walk: got %v, want %v", got, ids)
	}
}

// TestTotalsFollowDeletes: unfiltered totals come from counters kept by
// triggers; they follow creates, deletes and soft deletes.
func TestTotalsFollowDeletes(t *testing.T) {
	ctx := context.Background()
	for _, onDelete := range []string{"delete", "deactivate"} {
		s := openWith(t, filepath.Join(t.TempDir(), "x.db"), nil, Options{OnDelete: onDelete})
		ids := seedUsers(t, s, 12)
		for _, id := range ids[:4] {
			if err := s.Delete(ctx, Actor{}, Users, id, ""); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Create(ctx, Actor{}, Users, map[string]any{"userName": "p00"}); err != nil { // reactivates under deactivate
			t.Fatal(err)
		}
		total, _, err := s.List(ctx, Users, Query{StartIndex: 1, Count: 0})
		if err != nil {
			t.Fatal(err)
		}
		var counted int
		s.r.QueryRow(`SELECT count(*) FROM users`).Scan(&counted)
		if total != 9 || counted != 9 {
			t.Errorf("on_delete %s: total %d, rows %d; want 9", onDelete, total, counted)
		}
	}
}
