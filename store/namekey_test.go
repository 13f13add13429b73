package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"scimd/scim"
)

// rawExec runs statements on a database file without the store, the way an
// older scimd left it.
func rawExec(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func rawValue(t *testing.T, path, query string, args ...any) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v string
	if err := db.QueryRow(query, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return v
}

func sqlLit(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// TestMigrateFromV1RekeysNames: a database written before names were
// compared in NFC holds keys made by simple case folding alone, so a name
// stored decomposed has a decomposed key. Opening it recomputes the keys
// once, in Go: the decomposed name is then found by any form and conflicts
// with its precomposed twin, while the stored names stay as they were sent.
// Two names that only the new rule makes equal do not stop the database
// from opening.
func TestMigrateFromV1RekeysNames(t *testing.T) {
	ctx := context.Background()
	path := migCopyV1(t)
	const (
		joseID  = "0b1c2d3e-0000-4000-8000-000000000001"
		zoeNFC  = "0b1c2d3e-0000-4000-8000-000000000002"
		zoeNFD  = "0b1c2d3e-0000-4000-8000-000000000003"
		cafeID  = "0b1c2d3e-0000-4000-8000-000000000004"
		joseNFD = "JOSE\u0301@example.com"
		cafeNFD = "Cafe\u0301"
	)
	user := func(id, name string) string {
		return fmt.Sprintf(`INSERT INTO users (id, user_name, user_name_fold, doc, created, modified) VALUES (%s, %s, %s, %s, '2026-11-23T23:13:25.000Z', '2026-11-23T23:13:25.000Z')`,
			sqlLit(id), sqlLit(name), sqlLit(scim.Fold(name)), sqlLit(`{"userName":"`+name+`"}`))
	}
	rawExec(t, path,
		user(joseID, joseNFD),
		user(zoeNFC, "Zo\u00eb"),
		user(zoeNFD, "zoe\u0308"),
		fmt.Sprintf(`INSERT INTO groups (id, display_name, display_name_fold, doc, created, modified) VALUES (%s, %s, %s, %s, '2026-11-23T23:13:25.000Z', '2026-11-23T23:13:25.000Z')`,
			sqlLit(cafeID), sqlLit(cafeNFD), sqlLit(scim.Fold(cafeNFD)), sqlLit(`{"displayName":"`+cafeNFD+`"}`)),
	)

	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("opening a version 1 database with decomposed names: %v", err)
	}
	find := func(k Kind, filter string) []string {
		t.Helper()
		f, err := scim.ParseFilter(filter, scim.FilterLimits{})
		if err != nil {
			t.Fatal(err)
		}
		_, found, err := s.List(ctx, k, Query{Filter: f, StartIndex: 1, Count: 10})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range found {
			ids = append(ids, r.ID)
		}
		return ids
	}
	for _, f := range []string{`userName eq "jos` + "\u00e9" + `@example.com"`, `userName eq "` + joseNFD + `"`, `userName sw "JOS` + "\u00c9" + `"`} {
		if got := find(Users, f); len(got) != 1 || got[0] != joseID {
			t.Errorf("filter %s: %v, want [%s]", f, got, joseID)
		}
	}
	if got := find(Groups, `displayName eq "CAF`+"\u00c9"+`"`); len(got) != 1 || got[0] != cafeID {
		t.Errorf("group lookup in the other form: %v, want [%s]", got, cafeID)
	}
	if r, err := s.FindUser(ctx, "Jos\u00e9@Example.com"); err != nil || r.ID != joseID {
		t.Errorf("FindUser in the other form: %v, %v; want %s", r, err, joseID)
	}
	// The provisioning log finds the user's rows by the name in any form
	// (scimd log --user): make one row, then look it up.
	ops, _ := scim.DecodePatch([]byte(`{"Operations":[{"op":"replace","value":{"active":false}}]}`), scim.Limits{})
	if _, err := s.Patch(ctx, Actor{Token: "t"}, Users, joseID, ops, scim.PatchOptions{}, ""); err != nil {
		t.Fatal(err)
	}
	logged := 0
	if _, err := s.Events(ctx, EventQuery{User: "jos\u00e9@EXAMPLE.com"}, func(*Event) error { logged++; return nil }); err != nil || logged != 1 {
		t.Errorf("log rows of the user named in the other form: %d, %v; want 1", logged, err)
	}
	_, err = s.Create(ctx, Actor{}, Users, map[string]any{"userName": "Jos\u00e9@example.com"})
	var se *scim.Error
	if !errors.As(err, &se) || se.Status != 409 || !strings.Contains(se.Detail, joseID) {
		t.Errorf("creating the precomposed twin: %v, want a 409 naming %s", err, joseID)
	}
	if r, err := s.Get(ctx, Users, joseID, false); err != nil || r.Doc["userName"] != joseNFD {
		t.Errorf("stored userName after the rekey: %v, %v; want %q as sent", r, err, joseNFD)
	}
	// The two Zoës now have one name: both stay, one holds the key.
	for _, id := range []string{zoeNFC, zoeNFD} {
		if _, err := s.Get(ctx, Users, id, false); err != nil {
			t.Errorf("Zoë %s after the rekey: %v", id, err)
		}
	}
	if got := find(Users, `userName eq "ZOE`+"\u0308"+`"`); len(got) != 1 || got[0] != zoeNFC {
		t.Errorf("Zoë lookup: %v, want [%s] (its key was right already)", got, zoeNFC)
	}
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if got := rawValue(t, path, `SELECT value FROM state WHERE key = 'name_key'`); got != strconv.Itoa(nameKeyVersion) {
		t.Errorf("name_key version %q, want %d", got, nameKeyVersion)
	}

	// Done once: a later open does not walk the tables again.
	rawExec(t, path, `UPDATE users SET user_name_fold = 'left alone' WHERE id = `+sqlLit(joseID))
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if got := rawValue(t, path, `SELECT user_name_fold FROM users WHERE id = ?`, joseID); got != "left alone" {
		t.Errorf("a second open recomputed the keys again (%q)", got)
	}
}

// migApplyUpTo brings a copy of testdata/v1.db to schema version n with
// the embedded migrations, as the scimd of that version would have.
func migApplyUpTo(t *testing.T, path string, n int) {
	t.Helper()
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	var stmts []string
	for _, e := range entries {
		v, _ := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if v < 2 || v > n {
			continue
		}
		b, err := fs.ReadFile(migrations, "migrations/"+e.Name())
		if err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, string(b))
	}
	rawExec(t, path, append(stmts, fmt.Sprintf("PRAGMA user_version = %d", n))...)
}

// TestKeptUserFromOldSchemaReturns: a database of schema version 5 where
// the old bug already struck: bert was deleted and kept under row number 4,
// and carl, created afterwards, got row number 4 in users. After the
// upgrade bert comes back under his id, and deleting carl (whose number the
// kept record still had) keeps him as well.
func TestKeptUserFromOldSchemaReturns(t *testing.T) {
	ctx := context.Background()
	path := migCopyV1(t)
	migApplyUpTo(t, path, 5)
	const (
		bert = "0b1c2d3e-0000-4000-8000-0000000000b0"
		carl = "0b1c2d3e-0000-4000-8000-0000000000c0"
	)
	rawExec(t, path,
		`INSERT INTO users_deleted (seq, id, user_name, user_name_fold, doc, created, deleted, version)
			VALUES (4, '`+bert+`', 'bert', 'bert', '{"active":false,"userName":"bert"}', '2026-11-23T23:13:25.000Z', '2026-11-23T23:13:26.000Z', 2)`,
		`INSERT INTO users (seq, id, user_name, user_name_fold, doc, created, modified)
			VALUES (4, '`+carl+`', 'carl', 'carl', '{"userName":"carl"}', '2026-11-23T23:13:27.000Z', '2026-11-23T23:13:27.000Z')`,
	)
	s, err := Open(path, Options{OnDelete: "deactivate"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	back, err := s.Create(ctx, Actor{}, Users, map[string]any{"userName": "bert", "active": true})
	if err != nil || back.ID != bert {
		t.Fatalf("bert's return: %v, %v; want id %s", back, err, bert)
	}
	if err := s.Delete(ctx, Actor{}, Users, carl, ""); err != nil {
		t.Fatalf("deleting carl, whose row number the kept bert had: %v", err)
	}
	again, err := s.Create(ctx, Actor{}, Users, map[string]any{"userName": "CARL", "active": true})
	if err != nil || again.ID != carl {
		t.Fatalf("carl's return: %v, %v; want id %s", again, err, carl)
	}
	for _, id := range []string{bert, carl} {
		if r, err := s.Get(ctx, Users, id, false); err != nil || r.Doc["active"] != true {
			t.Errorf("user %s: %v, %v; want it back, active", id, r, err)
		}
	}
}

// TestKeptUsersSharingAName: a user renamed to the name of a kept user and
// then deleted is kept too; a POST of the name brings back the most
// recently deleted, then the other.
func TestKeptUsersSharingAName(t *testing.T) {
	ctx := context.Background()
	s := openWith(t, filepath.Join(t.TempDir(), "x.db"), nil, Options{OnDelete: "deactivate"})
	first, err := s.Create(ctx, Actor{}, Users, map[string]any{"userName": "sam"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, Actor{}, Users, first.ID, ""); err != nil {
		t.Fatal(err)
	}
	second, err := s.Create(ctx, Actor{}, Users, map[string]any{"userName": "sammy"})
	if err != nil {
		t.Fatal(err)
	}
	if second.ID == first.ID {
		t.Fatal("a new name brought the kept user back")
	}
	if _, err := s.Replace(ctx, Actor{}, Users, second.ID, map[string]any{"userName": "SAM"}, ""); err != nil {
		t.Fatalf("renaming to a kept user's name: %v", err)
	}
	if err := s.Delete(ctx, Actor{}, Users, second.ID, ""); err != nil {
		t.Fatalf("deleting a user whose name a kept user has: %v", err)
	}
	r, err := s.Create(ctx, Actor{}, Users, map[string]any{"userName": "Sam"})
	if err != nil || r.ID != second.ID {
		t.Fatalf("POST Sam: %v, %v; want %s, the most recently deleted, back", r, err, second.ID)
	}
	if _, err := s.Replace(ctx, Actor{}, Users, r.ID, map[string]any{"userName": "other"}, ""); err != nil {
		t.Fatal(err)
	}
	r, err = s.Create(ctx, Actor{}, Users, map[string]any{"userName": "sam"})
	if err != nil || r.ID != first.ID {
		t.Fatalf("POST sam once the name is free again: %v, %v; want %s back", r, err, first.ID)
	}
}
