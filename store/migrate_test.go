package store

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"scimd/scim"
)

// testdata/v1.db was written by the first scimd release (commit 10a74c0,
// schema version 1 of migrations/0001_init.sql) and never changed since:
// three users (alice with the enterprise extension, bob inactive, Érin),
// the groups Engineering {alice, bob} and Everyone {Engineering, Érin}, the
// token "entra" whose secret is below, and the revoked token "old".
const (
	migV1Alice    = "41f6d666-cfaa-4ab1-a606-c175a8a9d63e"
	migV1Bob      = "ed498a64-9b75-41ad-a7db-6ca50074a0ab"
	migV1Erin     = "83e5af09-9526-4f9d-a115-baeb6c53c7a7"
	migV1Eng      = "d5a87a1a-30da-444d-9dcb-d447c30cea7c"
	migV1Everyone = "2c40ea86-37e8-4f99-82da-baee6ee273d0"
	migV1Secret   = "scimd_0rmRKdLJ2fvnZ0Epy9v5h1DbWH7kpSI9bYUbeietxDw" // test data only
)

// migLatest is the number of the newest embedded migration.
func migLatest(t *testing.T) int {
	t.Helper()
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	latest := 0
	for _, e := range entries {
		n, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			t.Fatalf("migration %s: %v", e.Name(), err)
		}
		latest = max(latest, n)
	}
	return latest
}

// migCopyV1 copies testdata/v1.db to a temporary folder, so the test never
// changes the kept file.
func migCopyV1(t *testing.T) string {
	t.Helper()
	src, err := os.Open(filepath.Join("testdata", "v1.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	path := filepath.Join(t.TempDir(), "scimd.db")
	dst, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func migUserVersion(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestMigrateFromV1 opens the first schema version's database with the
// current code: it migrates to the newest version, keeps every user, group,
// membership and token, and takes writes afterwards.
func TestMigrateFromV1(t *testing.T) {
	ctx := context.Background()
	path := migCopyV1(t)
	if got := migUserVersion(t, path); got != 1 {
		t.Fatalf("testdata/v1.db has user_version %d, want 1", got)
	}
	want := migLatest(t)

	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("opening a version 1 database: %v", err)
	}
	defer s.Close()
	if got, err := s.SchemaVersion(ctx); err != nil || got != want {
		t.Fatalf("schema version after open = %d, %v; want %d", got, err, want)
	}
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}

	alice, err := s.Get(ctx, Users, migV1Alice, true)
	if err != nil {
		t.Fatalf("alice: %v", err)
	}
	ent, _ := alice.Doc[scim.EnterpriseSchema].(map[string]any)
	for _, c := range []struct {
		name string
		got  any
		want any
	}{
		{"userName", alice.Doc["userName"], "alice@example.com"},
		{"externalId", alice.Doc["externalId"], "a-1"},
		{"name.givenName", migDig(alice.Doc, "name", "givenName"), "Alice"},
		{"department", ent["department"], "R&D"},
		{"version", alice.Version, int64(1)},
	} {
		if c.got != c.want {
			t.Errorf("alice %s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if groups := migRefIDs(alice.Doc["groups"]); !slices.Equal(groups, []string{migV1Eng}) {
		t.Errorf("alice's groups = %v, want [Engineering %s]", groups, migV1Eng)
	}
	bob, err := s.Get(ctx, Users, migV1Bob, false)
	if err != nil {
		t.Fatalf("bob: %v", err)
	}
	if bob.Doc["active"] != false {
		t.Errorf("bob active = %v, want false", bob.Doc["active"])
	}

	for _, g := range []struct {
		id   string
		want []string
	}{
		{migV1Eng, []string{migV1Alice, migV1Bob}},
		{migV1Everyone, []string{migV1Erin, migV1Eng}},
	} {
		ms, err := s.Members(ctx, g.id)
		if err != nil {
			t.Fatalf("members of %s: %v", g.id, err)
		}
		var got []string
		for _, m := range ms {
			got = append(got, m.ID)
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(g.want))
		if !slices.Equal(got, want) {
			t.Errorf("members of %s = %v, want %v", g.id, got, want)
		}
	}

	// Lookups and counts that later migrations added indexes and tables for.
	f, err := scim.ParseFilter(`userName eq "ÉRIN@example.com"`, scim.FilterLimits{})
	if err != nil {
		t.Fatal(err)
	}
	total, found, err := s.List(ctx, Users, Query{Filter: f, StartIndex: 1, Count: 10})
	if err != nil || total != 1 || len(found) != 1 || found[0].ID != migV1Erin {
		t.Errorf("filter by folded userName: total %d, %d found, err %v; want Érin", total, len(found), err)
	}
	if total, _, err := s.List(ctx, Users, Query{StartIndex: 1}); err != nil || total != 3 {
		t.Errorf("unfiltered user total = %d, %v; want 3", total, err)
	}
	if total, _, err := s.List(ctx, Groups, Query{StartIndex: 1}); err != nil || total != 2 {
		t.Errorf("unfiltered group total = %d, %v; want 2", total, err)
	}

	tok, err := s.Authenticate(ctx, migV1Secret)
	if err != nil {
		t.Fatalf("the version 1 token no longer authenticates: %v", err)
	}
	if tok.Name != "entra" || tok.IDP != "entra" {
		t.Errorf("token = %s/%s, want entra/entra", tok.Name, tok.IDP)
	}
	toks, err := s.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	revoked := false
	for _, tk := range toks {
		if tk.Name == "old" && tk.Revoked != nil {
			revoked = true
		}
	}
	if !revoked {
		t.Error("the revoked token \"old\" is not revoked after migration")
	}

	// The migrated database takes writes.
	a := Actor{Token: "test", IDP: "generic"}
	u, err := s.Create(ctx, a, Users, map[string]any{"userName": "dave@example.com"})
	if err != nil {
		t.Fatalf("create after migration: %v", err)
	}
	ops := []scim.PatchOp{{Op: "add", Path: migPath(t, "members"), Value: []any{map[string]any{"value": u.ID}}, HasValue: true}}
	if _, err := s.Patch(ctx, a, Groups, migV1Eng, ops, scim.PatchOptions{}, ""); err != nil {
		t.Fatalf("patch after migration: %v", err)
	}
	if total, _, err := s.List(ctx, Users, Query{StartIndex: 1}); err != nil || total != 4 {
		t.Errorf("user total after a create = %d, %v; want 4", total, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Opening again applies nothing twice.
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("reopening the migrated database: %v", err)
	}
	defer s2.Close()
	if got, _ := s2.SchemaVersion(ctx); got != want {
		t.Errorf("schema version after reopen = %d, want %d", got, want)
	}
	ms, err := s2.Members(ctx, migV1Eng)
	if err != nil || len(ms) != 3 {
		t.Errorf("Engineering after reopen: %d members, %v; want 3", len(ms), err)
	}
}

func migPath(t *testing.T, s string) *scim.PatchPath {
	t.Helper()
	p, err := scim.ParsePatchPath(s)
	if err != nil {
		t.Fatal(err)
	}
	return &p
}

func migDig(doc map[string]any, keys ...string) any {
	var v any = doc
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

func migRefIDs(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, el := range l {
		if m, ok := el.(map[string]any); ok {
			id, _ := m["value"].(string)
			out = append(out, id)
		}
	}
	return out
}

// TestRefusesNewerSchema: a database migrated by a newer scimd is refused
// with a message that says so, instead of being misread.
func TestRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	st, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := st.SchemaVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(path, Options{})
	if err == nil || !strings.Contains(err.Error(), "newer than this scimd knows") {
		t.Fatalf("opening a newer schema: %v, want a refusal naming the versions", err)
	}
}
