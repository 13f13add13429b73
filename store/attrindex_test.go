package store

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"scimd/scim"
)

func openWith(t *testing.T, path string, custom []scim.CustomAttribute, opt Options) *Store {
	t.Helper()
	cat, err := scim.NewCatalog(custom)
	if err != nil {
		t.Fatal(err)
	}
	opt.Catalog = cat
	opt.SyncIndexes = true // as serve opens it
	s, err := Open(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var microsoftID = scim.CustomAttribute{Name: "urn:ietf:params:scim:schemas:core:2.0:User:microsoftId", Type: "string", Filterable: true}

// TestDeclaredAttributeFilterUsesIndex proves that a filter on a filterable
// operator attribute is an index lookup, like userName.
func TestDeclaredAttributeFilterUsesIndex(t *testing.T) {
	s := openWith(t, filepath.Join(t.TempDir(), "x.db"), []scim.CustomAttribute{microsoftID}, Options{})
	for _, tc := range []struct{ filter, index string }{
		{`microsoftId eq "ABC"`, "SEARCH user_attrs USING PRIMARY KEY (attr=? AND value=?)"},
		{`urn:ietf:params:scim:schemas:core:2.0:User:microsoftId eq "abc"`, "SEARCH user_attrs USING PRIMARY KEY (attr=? AND value=?)"},
		{`userName eq "x"`, "USING INDEX sqlite_autoindex_users_2"}, // UNIQUE(user_name_fold)
	} {
		f, err := scim.ParseFilter(tc.filter, scim.FilterLimits{})
		if err != nil {
			t.Fatal(err)
		}
		c := &compiler{rt: s.cat.User, k: users, table: "users", attrs: s.attrIdx["users"]}
		where, err := c.expr(f)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := s.r.Query("EXPLAIN QUERY PLAN SELECT id FROM users WHERE "+where, c.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			rows.Scan(&id, &parent, &notused, &detail)
			plan = append(plan, detail)
		}
		rows.Close()
		got := strings.Join(plan, "; ")
		if !strings.Contains(got, tc.index) {
			t.Errorf("%s: plan %q does not use index %s", tc.filter, got, tc.index)
		}
	}
}

// TestDeclarationChangesBetweenOpens: adding a declaration indexes it at
// once; removing it drops the index, hides the values and keeps them, and
// declaring it again brings them back.
func TestDeclarationChangesBetweenOpens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	ctx := context.Background()
	s := openWith(t, path, []scim.CustomAttribute{microsoftID}, Options{})
	r, err := s.Create(ctx, Actor{}, Users, map[string]any{"userName": "a", "microsoftId": "m-1"})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	s2 := openWith(t, path, nil, Options{})
	var n int
	s2.r.QueryRow(`SELECT (SELECT count(*) FROM declared_indexes) + (SELECT count(*) FROM user_attrs)`).Scan(&n)
	if n != 0 {
		t.Errorf("after removing the declaration, %d declared index rows and values remain", n)
	}
	got, err := s2.Get(ctx, Users, r.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	if vis := s2.cat.User.Visible(got.Doc); vis["microsoftId"] != nil {
		t.Errorf("removed attribute still visible: %v", vis)
	}
	// A PUT while hidden must not erase the hidden value.
	if _, err := s2.Replace(ctx, Actor{}, Users, r.ID, map[string]any{"userName": "a", "title": "t"}, ""); err != nil {
		t.Fatal(err)
	}
	s2.Close()

	s3 := openWith(t, path, []scim.CustomAttribute{microsoftID}, Options{})
	f, _ := scim.ParseFilter(`microsoftId eq "M-1"`, scim.FilterLimits{})
	total, list, err := s3.List(ctx, Users, Query{Filter: f, StartIndex: 1, Count: 10})
	if err != nil {
		t.Fatal(err)
	}
	if total != 1 || list[0].Doc["title"] != "t" {
		t.Fatalf("re-declared attribute: got %d results %v", total, list)
	}
}

// TestOnDeleteDeactivate: a deleted user is kept out of sight, and a POST
// of the same userName (any case) brings it back under its old id.
func TestOnDeleteDeactivate(t *testing.T) {
	s := openWith(t, filepath.Join(t.TempDir(), "x.db"), nil, Options{OnDelete: "deactivate"})
	ctx := context.Background()
	r, err := s.Create(ctx, Actor{}, Users, map[string]any{"userName": "ann@x", "active": true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, Actor{}, Users, r.ID, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, Users, r.ID, false); err == nil {
		t.Fatal("deleted user still readable")
	}
	if total, _, _ := s.List(ctx, Users, Query{StartIndex: 1, Count: 10}); total != 0 {
		t.Fatalf("deleted user listed: total %d", total)
	}
	back, err := s.Create(ctx, Actor{}, Users, map[string]any{"userName": "ANN@x", "active": true})
	if err != nil {
		t.Fatal(err)
	}
	if back.ID != r.ID {
		t.Fatalf("reactivated user has id %s, want the old id %s", back.ID, r.ID)
	}
}

// TestReprovisionByExternalID is Okta's re-assignment after a userName
// change: an inactive user with the same externalId comes back (old id). An
// active user holding the externalId is no conflict (RFC 7643 §3.1 makes
// externalId not unique): the POST creates a user.
func TestReprovisionByExternalID(t *testing.T) {
	s := openWith(t, filepath.Join(t.TempDir(), "x.db"), nil, Options{})
	ctx := context.Background()
	r, err := s.Create(ctx, Actor{}, Users, map[string]any{"userName": "old@x", "externalId": "00u1", "active": true})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.Create(ctx, Actor{}, Users, map[string]any{"userName": "other@x", "externalId": "00u1", "active": true})
	if err != nil {
		t.Fatalf("POST with the externalId of an active user: %v, want a new user", err)
	}
	if other.ID == r.ID {
		t.Fatalf("POST with the externalId of an active user returned that user %s, want a new one", r.ID)
	}
	ops, _ := scim.DecodePatch([]byte(`{"Operations":[{"op":"replace","value":{"active":false}}]}`), scim.Limits{})
	if _, err := s.Patch(ctx, Actor{}, Users, r.ID, ops, scim.PatchOptions{}, ""); err != nil {
		t.Fatal(err)
	}
	back, err := s.Create(ctx, Actor{}, Users, map[string]any{"userName": "new@x", "externalId": "00u1", "active": true})
	if err != nil {
		t.Fatal(err)
	}
	if back.ID != r.ID || back.Doc["userName"] != "new@x" || back.Doc["active"] != true {
		t.Fatalf("reprovisioned user: %+v, want id %s with the new userName, active", back, r.ID)
	}
}

// TestExportHidesRemovedDeclarations: an export follows the catalogue like
// SCIM does, so a removed declaration's values are not exported.
func TestExportHidesRemovedDeclarations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	ctx := context.Background()
	s := openWith(t, path, []scim.CustomAttribute{microsoftID}, Options{})
	r, err := s.Create(ctx, Actor{}, Users, map[string]any{"userName": "a", "microsoftId": "m-1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Document(Users, r)["microsoftId"]; got != "m-1" {
		t.Fatalf("declared attribute not exported: %v", got)
	}
	s.Close()
	s2 := openWith(t, path, nil, Options{})
	r2, err := s2.Get(ctx, Users, r.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := s2.Document(Users, r2)["microsoftId"]; ok {
		t.Fatalf("removed declaration still exported: %v", got)
	}
}

// TestListFillsGroupsAcrossChunks: a listed page carries every user's
// groups, the same as reading each user, whatever the page size (the groups
// are fetched 64, 8 or 1 users at a time).
func TestListFillsGroupsAcrossChunks(t *testing.T) {
	s := openWith(t, filepath.Join(t.TempDir(), "x.db"), nil, Options{})
	ctx := context.Background()
	ids := seedUsers(t, s, 75)
	for g := 0; g < 3; g++ {
		var members []any
		for i := g; i < 75; i += 3 + g {
			members = append(members, map[string]any{"value": ids[i]})
		}
		if _, err := s.Create(ctx, Actor{}, Groups, map[string]any{"displayName": fmt.Sprintf("g%d", g), "members": members}); err != nil {
			t.Fatal(err)
		}
	}
	for _, count := range []int{75, 66, 9, 1} {
		_, page, err := s.List(ctx, Users, Query{StartIndex: 1, Count: count, WithRefs: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) != count {
			t.Fatalf("count %d: got %d users", count, len(page))
		}
		for _, r := range page {
			one, err := s.Get(ctx, Users, r.ID, true)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(r.Doc["groups"], one.Doc["groups"]) {
				t.Errorf("count %d, %s: listed groups %v, read groups %v", count, r.Doc["userName"], r.Doc["groups"], one.Doc["groups"])
			}
		}
		// Read raw (stored JSON, groups beside it), the same groups.
		raw, err := s.ListPage(ctx, Users, Query{StartIndex: 1, Count: count, WithRefs: true, Raw: true})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range raw.Resources {
			var got []any
			for _, g := range r.Groups {
				got = append(got, map[string]any{"value": g.ID, "display": g.Display, "type": g.Type})
			}
			if want, _ := page[i].Doc["groups"].([]any); !reflect.DeepEqual(got, want) || r.Doc != nil || len(r.Text) == 0 {
				t.Errorf("count %d, raw %s: groups %v, want %v", count, r.ID, got, want)
			}
		}
	}
}

// TestAdminOpenKeepsIndexes: only the server manages declared-attribute
// indexes; a command opening the database with another config (no
// declarations) leaves them in place.
func TestAdminOpenKeepsIndexes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	openWith(t, path, []scim.CustomAttribute{microsoftID}, Options{}).Close()
	admin, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var n int
	admin.r.QueryRow(`SELECT count(*) FROM declared_indexes`).Scan(&n)
	if n != 1 {
		t.Fatalf("after an admin open there are %d declared indexes, want the server's 1", n)
	}
}

// TestDeepPageWithoutMark: a page that continues no earlier one (no mark)
// is found by skipping rowids, and matches the same slice of a full
// listing, also when deletions left gaps in the sequence.
func TestDeepPageWithoutMark(t *testing.T) {
	s := openWith(t, filepath.Join(t.TempDir(), "x.db"), nil, Options{})
	ctx := context.Background()
	ids := seedUsers(t, s, 60)
	for i := 5; i < 60; i += 7 {
		if err := s.Delete(ctx, Actor{}, Users, ids[i], ""); err != nil {
			t.Fatal(err)
		}
	}
	_, all, err := s.List(ctx, Users, Query{StartIndex: 1, Count: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, start := range []int{2, 17, 40, len(all), len(all) + 1, 500} {
		fresh := openWith(t, s.Path(), nil, Options{}) // no page marks yet
		_, page, err := fresh.List(ctx, Users, Query{StartIndex: start, Count: 7})
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for i := start - 1; i < min(start-1+7, len(all)); i++ {
			want = append(want, all[i].ID)
		}
		var got []string
		for _, r := range page {
			got = append(got, r.ID)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("startIndex %d: got %v, want %v", start, got, want)
		}
	}
}

// TestOnDeleteDeactivateAcrossRestart: a user kept by a deletion before a
// restart is still brought back by a POST of the same userName after it.
func TestOnDeleteDeactivateAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	ctx := context.Background()
	s := openWith(t, path, nil, Options{OnDelete: "deactivate"})
	r, err := s.Create(ctx, Actor{}, Users, map[string]any{"userName": "kim@x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, Actor{}, Users, r.ID, ""); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := openWith(t, path, nil, Options{OnDelete: "deactivate"})
	back, err := s2.Create(ctx, Actor{}, Users, map[string]any{"userName": "KIM@x"})
	if err != nil {
		t.Fatal(err)
	}
	if back.ID != r.ID {
		t.Fatalf("after a restart the POST made a new user %s, want the kept %s", back.ID, r.ID)
	}
}
