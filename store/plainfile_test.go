package store

import (
	"context"
	"database/sql"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"scimd/scim"
)

// sqlite3Check runs Debian's sqlite3 shell (not our driver) on path and
// returns what PRAGMA integrity_check and PRAGMA foreign_key_check print.
func sqlite3Check(t *testing.T, path string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Fatal("the sqlite3 shell is missing: .ci/deps installs it (Debian package sqlite3)")
	}
	out, err := exec.Command(bin, "-bail", path, "PRAGMA integrity_check;", "PRAGMA foreign_key_check;").CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

var badge = scim.CustomAttribute{Name: "urn:ietf:params:scim:schemas:extension:acme:2.0:User:badge", Type: "string", Filterable: true, Unique: true}

// TestOldFoldIndexesConverted: a database of schema version 8, whose
// declared-attribute indexes call scim_fold() (which Debian's sqlite3 does
// not know, so it cannot check the file), is converted when the current
// code opens it: same lookups, same uniqueness, and sqlite3 finds it sound.
func TestOldFoldIndexesConverted(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	s := openWith(t, path, []scim.CustomAttribute{microsoftID, badge}, Options{})
	for i, name := range []string{"anna", "bert", "carl"} {
		if _, err := s.Create(ctx, Actor{}, Users, map[string]any{"userName": name, "microsoftId": "MS-" + name,
			"urn:ietf:params:scim:schemas:extension:acme:2.0:User": map[string]any{"badge": "Badge-" + string(rune('A'+i))}}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	// Make it what scimd wrote before migration 9: the version-8 schema
	// and its expression indexes, built here with the old SQL.
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`DROP TABLE user_attrs`, `DROP TABLE group_attrs`, `DROP TABLE declared_indexes`,
		`CREATE INDEX attr_users_old1 ON users (scim_fold(json_extract(doc, '$."microsoftId"')))`,
		`CREATE UNIQUE INDEX attr_users_old2 ON users (scim_fold(json_extract(doc, '$."urn:ietf:params:scim:schemas:extension:acme:2.0:User"."badge"')))`,
		// What later migrations added (10: token scope, 11: the webhook
		// outbox, 12: its copy-on-write columns and triggers) goes too, so they apply
		// again cleanly.
		`ALTER TABLE tokens DROP COLUMN scope`,
		`DROP TRIGGER users_outbox_keep_upd`, `DROP TRIGGER users_outbox_keep_del`,
		`DROP TRIGGER groups_outbox_keep_upd`, `DROP TRIGGER groups_outbox_keep_del`,
		`ALTER TABLE users DROP COLUMN event_seq`, `ALTER TABLE groups DROP COLUMN event_seq`,
		`DROP TABLE webhook_deliveries`, `DROP TABLE webhook_endpoints`, `DROP TABLE outbox`,
		`PRAGMA user_version = 8`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	db.Close()
	if out, err := sqlite3Check(t, path); err == nil && out == "ok" {
		t.Fatalf("sqlite3 checked the old file without complaint (%q); the test database is not the old schema", out)
	}

	s = openWith(t, path, []scim.CustomAttribute{microsoftID, badge}, Options{})
	var n int
	s.r.QueryRow(`SELECT count(*) FROM sqlite_master WHERE sql LIKE '%scim_fold%'`).Scan(&n)
	if n != 0 {
		t.Errorf("%d schema objects still call scim_fold", n)
	}
	for _, f := range []string{`microsoftId eq "ms-BERT"`, `urn:ietf:params:scim:schemas:extension:acme:2.0:User:badge eq "badge-b"`} {
		e, _ := scim.ParseFilter(f, scim.FilterLimits{})
		total, list, err := s.List(ctx, Users, Query{Filter: e, StartIndex: 1, Count: 10})
		if err != nil {
			t.Fatal(err)
		}
		if total != 1 || list[0].Doc["userName"] != "bert" {
			t.Errorf("%s: %d results, want bert", f, total)
		}
	}
	_, err = s.Create(ctx, Actor{}, Users, map[string]any{"userName": "dora",
		"urn:ietf:params:scim:schemas:extension:acme:2.0:User": map[string]any{"badge": "BADGE-a"}})
	var se *scim.Error
	if !errors.As(err, &se) || se.ScimType != "uniqueness" {
		t.Errorf("a badge taken in another case: got %v, want 409 uniqueness", err)
	}
	s.Close()
	if out, err := sqlite3Check(t, path); err != nil || out != "ok" {
		t.Fatalf("sqlite3 on the converted file: %v\n%s", err, out)
	}
}

// TestSideTableFollowsWrites: the folded values follow PATCH, PUT, delete
// and soft delete with its return, and the file stays checkable by sqlite3.
func TestSideTableFollowsWrites(t *testing.T) {
	ctx := context.Background()
	for _, onDelete := range []string{"delete", "deactivate"} {
		path := filepath.Join(t.TempDir(), "x.db")
		s := openWith(t, path, []scim.CustomAttribute{microsoftID, badge}, Options{OnDelete: onDelete})
		ext := "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
		a, err := s.Create(ctx, Actor{}, Users, map[string]any{"userName": "anna", ext: map[string]any{"badge": "X1"}})
		if err != nil {
			t.Fatal(err)
		}
		find := func(f string) int {
			e, _ := scim.ParseFilter(f, scim.FilterLimits{})
			total, _, err := s.List(ctx, Users, Query{Filter: e, StartIndex: 1, Count: 10})
			if err != nil {
				t.Fatal(err)
			}
			return total
		}
		ops := []scim.PatchOp{{Op: "replace", Path: migPath(t, "microsoftId"), Value: "Ms-Anna"}}
		if _, err := s.Patch(ctx, Actor{}, Users, a.ID, ops, scim.PatchOptions{}, ""); err != nil {
			t.Fatal(err)
		}
		if got := find(`microsoftId eq "MS-ANNA"`); got != 1 {
			t.Errorf("%s: after PATCH, %d matches, want 1", onDelete, got)
		}
		if _, err := s.Replace(ctx, Actor{}, Users, a.ID, map[string]any{"userName": "anna", ext: map[string]any{"badge": "X2"}}, ""); err != nil {
			t.Fatal(err)
		}
		if find(`microsoftId eq "ms-anna"`) != 0 || find(ext+`:badge eq "x2"`) != 1 || find(ext+`:badge eq "x1"`) != 0 {
			t.Errorf("%s: after PUT the old values still match or the new one does not", onDelete)
		}
		// The released value can be taken by another user.
		if _, err := s.Create(ctx, Actor{}, Users, map[string]any{"userName": "bert", ext: map[string]any{"badge": "x1"}}); err != nil {
			t.Errorf("%s: a released badge: %v", onDelete, err)
		}
		if err := s.Delete(ctx, Actor{}, Users, a.ID, ""); err != nil {
			t.Fatal(err)
		}
		if got := find(ext + `:badge eq "X2"`); got != 0 {
			t.Errorf("%s: a deleted user still matches", onDelete)
		}
		if _, err := s.Create(ctx, Actor{}, Users, map[string]any{"userName": "ANNA", ext: map[string]any{"badge": "x2"}}); err != nil {
			t.Fatal(err)
		}
		if got := find(ext + `:badge eq "X2"`); got != 1 {
			t.Errorf("%s: a returned user: %d matches, want 1", onDelete, got)
		}
		s.Close()
		if out, err := sqlite3Check(t, path); err != nil || out != "ok" {
			t.Fatalf("%s: sqlite3: %v\n%s", onDelete, err, out)
		}
	}
}

// TestCheckDeclaredValues: scimd check finds side-table values that differ
// from the documents (missing, stale, extra) and old scim_fold indexes.
func TestCheckDeclaredValues(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	s := openWith(t, path, []scim.CustomAttribute{microsoftID, badge}, Options{})
	for _, name := range []string{"anna", "bert"} {
		if _, err := s.Create(ctx, Actor{}, Users, map[string]any{"userName": name, "microsoftId": "MS-" + name}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := Check(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK {
		t.Fatalf("a sound database: %+v", r)
	}
	for _, c := range []struct{ damage, undo, want string }{
		{`UPDATE user_attrs SET value = 'ms-x' WHERE value = 'ms-anna'`, `UPDATE user_attrs SET value = 'ms-anna' WHERE value = 'ms-x'`, "is indexed as ms-x, its document gives string:ms-anna"},
		{`DELETE FROM user_attrs WHERE value = 'ms-bert'`, `INSERT INTO user_attrs (attr, value, seq) SELECT name, 'ms-bert', 2 FROM declared_indexes WHERE decl LIKE '%microsoftId'`, "has a value that is not indexed"},
		{`CREATE INDEX old_fold ON users (scim_fold(user_name))`, `DROP INDEX old_fold`, "index old_fold calls scim_fold()"},
	} {
		if _, err := s.w.Exec(c.damage); err != nil {
			t.Fatalf("%s: %v", c.damage, err)
		}
		r, err := Check(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		var problems []string
		for _, ch := range r.Checks {
			if ch.Name == "declared attributes" {
				problems = ch.Problems
			}
		}
		if r.OK || !strings.Contains(strings.Join(problems, "\n"), c.want) {
			t.Errorf("%s: problems %q, want one containing %q", c.damage, problems, c.want)
		}
		if _, err := s.w.Exec(c.undo); err != nil {
			t.Fatalf("%s: %v", c.undo, err)
		}
	}
	if r, err := Check(ctx, path); err != nil || !r.OK {
		t.Fatalf("after undoing every damage: %+v %v", r, err)
	}
}
