package store

import (
	"context"
	"fmt"
	"math/rand"
	"path/filepath"
	"reflect"
	"strings"
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
			if _, ok := s.marks.get(key, start, s.dirGen.Load()); !ok {
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

// TestPagesAfterDeletes is issue 11's case: a page mark remembered before
// a hundred deletes must not be reused after them. startIndex=201 of the
// 300 remaining users is positions 201–300, pm0301…pm0400.
func TestPagesAfterDeletes(t *testing.T) {
	s := openWith(t, filepath.Join(t.TempDir(), "x.db"), nil, Options{})
	ctx := context.Background()
	var ids []string
	for i := 1; i <= 400; i++ {
		r, err := s.Create(ctx, Actor{}, Users, map[string]any{"userName": fmt.Sprintf("pm%04d", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	f, err := scim.ParseFilter(`userName sw "pm"`, scim.FilterLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ListPage(ctx, Users, Query{Filter: f, StartIndex: 1, Count: 200}); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[:100] {
		if err := s.Delete(ctx, Actor{}, Users, id, ""); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []Query{{Filter: f, StartIndex: 201, Count: 200}, {StartIndex: 201, Count: 200}} {
		p, err := s.ListPage(ctx, Users, q)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, r := range p.Resources {
			names = append(names, r.Doc["userName"].(string))
		}
		if len(names) != 100 || names[0] != "pm0301" || names[99] != "pm0400" || p.Total != 300 {
			t.Errorf("filter %v: startIndex=201 gave %d users (%s…), total %d; want 100, pm0301…pm0400, total 300",
				q.Filter, len(names), strings.Join(names[:min(2, len(names))], ","), p.Total)
		}
	}
}

// TestPagesMatchOffsetModel is a property test: random interleavings of
// creates, deletes and page reads (sequential walks, which use page marks,
// and random startIndex values), each page compared with the same slice of
// a plain ORDER BY seq LIMIT … OFFSET … over the current rows, and with an
// in-memory model of the directory.
func TestPagesMatchOffsetModel(t *testing.T) {
	ctx := context.Background()
	for seed := int64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewSource(seed))
			s := openWith(t, filepath.Join(t.TempDir(), "x.db"), nil, Options{})
			type user struct{ id, name string }
			var model []user // creation order
			next := 0
			create := func() {
				prefix := []string{"a", "b"}[rng.Intn(2)]
				name := fmt.Sprintf("%s%05d", prefix, next)
				next++
				r, err := s.Create(ctx, Actor{}, Users, map[string]any{"userName": name})
				if err != nil {
					t.Fatal(err)
				}
				model = append(model, user{r.ID, name})
			}
			for i := 0; i < 60; i++ {
				create()
			}
			filters := []string{"", `userName sw "a"`, `userName sw "b"`}
			walk := map[string]int{} // filter -> next startIndex of a walk in progress
			for step := 0; step < 400; step++ {
				switch op := rng.Intn(10); {
				case op < 2:
					for n := rng.Intn(5) + 1; n > 0; n-- {
						create()
					}
				case op < 4 && len(model) > 0:
					for n := rng.Intn(5) + 1; n > 0 && len(model) > 0; n-- {
						k := rng.Intn(len(model))
						if err := s.Delete(ctx, Actor{}, Users, model[k].id, ""); err != nil {
							t.Fatal(err)
						}
						model = append(model[:k], model[k+1:]...)
					}
				default:
					text := filters[rng.Intn(len(filters))]
					count := []int{3, 7, 10}[rng.Intn(3)]
					start, ok := walk[text]
					if !ok || rng.Intn(4) == 0 {
						start = 1 + rng.Intn(len(model)+5)
					}
					var f scim.Expr
					var want []string
					for _, u := range model {
						if text == "" || strings.HasPrefix(u.name, text[len(text)-2:len(text)-1]) {
							want = append(want, u.id)
						}
					}
					if text != "" {
						var err error
						if f, err = scim.ParseFilter(text, scim.FilterLimits{}); err != nil {
							t.Fatal(err)
						}
					}
					p, err := s.ListPage(ctx, Users, Query{Filter: f, StartIndex: start, Count: count})
					if err != nil {
						t.Fatal(err)
					}
					lo, hi := min(start-1, len(want)), min(start-1+count, len(want))
					if got := pageIDs(p); !reflect.DeepEqual(got, want[lo:hi]) && !(len(got) == 0 && lo == hi) {
						t.Fatalf("step %d: filter %q startIndex %d count %d: got %d ids, want the model's %d (positions %d–%d)",
							step, text, start, count, len(got), hi-lo, lo+1, hi)
					}
					// The same slice as SQLite's own OFFSET over the rows now.
					where, args := "1", []any{}
					if text != "" {
						where, args = "instr(user_name_fold, ?) = 1", []any{text[len(text)-2 : len(text)-1]}
					}
					rows, err := s.r.Query(`SELECT id FROM users WHERE `+where+` ORDER BY seq LIMIT ? OFFSET ?`, append(args, count, start-1)...)
					if err != nil {
						t.Fatal(err)
					}
					var sqlIDs []string
					for rows.Next() {
						var id string
						rows.Scan(&id)
						sqlIDs = append(sqlIDs, id)
					}
					rows.Close()
					if got := pageIDs(p); !reflect.DeepEqual(got, sqlIDs) {
						t.Fatalf("step %d: filter %q startIndex %d: page differs from ORDER BY seq LIMIT %d OFFSET %d", step, text, start, count, start-1)
					}
					if len(p.Resources) == count {
						walk[text] = start + count
					} else {
						delete(walk, text)
					}
				}
			}
		})
	}
}
