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
	"sync"
	"testing"

	"scimd/scim"
)

// TestCounts: the trigger-kept counters agree with counting the rows, after
// creates, deactivation, reactivation and deletes.
func TestCounts(t *testing.T) {
	ctx := context.Background()
	s, _ := admStore(t)
	check := func(step string) {
		t.Helper()
		got, err := s.Counts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st, err := s.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := Counts{UsersActive: st.UsersActive, UsersInactive: st.UsersInactive, Groups: st.Groups, Memberships: st.Memberships}
		if got != want {
			t.Errorf("%s: Counts() = %+v, want %+v (counted)", step, got, want)
		}
	}
	check("empty")
	a := admCreate(t, s, "entra", Users, `{"userName":"a@example.com"}`)
	b := admCreate(t, s, "entra", Users, `{"userName":"b@example.com","active":false}`)
	admCreate(t, s, "entra", Users, `{"userName":"c@example.com","active":false}`)
	admCreate(t, s, "entra", Groups, fmt.Sprintf(`{"displayName":"g","members":[{"value":%q},{"value":%q}]}`, a.ID, b.ID))
	check("created")
	setActive := func(id string, on bool) {
		t.Helper()
		ops, err := scim.DecodePatch([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
			"Operations":[{"op":"replace","path":"active","value":`+strconv.FormatBool(on)+`}]}`), scim.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Patch(ctx, Actor{Token: "entra"}, Users, id, ops, scim.PatchOptions{}, ""); err != nil {
			t.Fatal(err)
		}
	}
	setActive(a.ID, false)
	check("deactivated")
	setActive(a.ID, false) // no change: the counter must not move
	check("deactivated twice")
	setActive(b.ID, true)
	check("reactivated")
	if err := s.Delete(ctx, Actor{Token: "entra"}, Users, a.ID, ""); err != nil {
		t.Fatal(err)
	}
	check("deleted")
	got, _ := s.Counts(ctx)
	if want := (Counts{UsersActive: 1, UsersInactive: 1, Groups: 1, Memberships: 1}); got != want {
		t.Errorf("Counts() = %+v, want %+v", got, want)
	}
}

// TestRecentEvents: newest first, paged by seq, with the filters of
// scimd log.
func TestRecentEvents(t *testing.T) {
	ctx := context.Background()
	s, _ := admStore(t)
	for i := range 5 {
		admCreate(t, s, "entra", Users, fmt.Sprintf(`{"userName":"u%d@example.com"}`, i))
	}
	admCreate(t, s, "okta", Users, `{"userName":"o@example.com"}`)
	var f Failures
	s.RecordFailure(&f, Event{Token: "okta", Op: "create", ResourceType: "User", Name: "u1@example.com", Status: 409, ScimType: "uniqueness"})
	if err := s.FlushFailures(ctx, &f); err != nil {
		t.Fatal(err)
	}
	names := func(es []*Event) string {
		var out []string
		for _, e := range es {
			out = append(out, e.Token+":"+e.Name+":"+strconv.Itoa(e.Status))
		}
		return strings.Join(out, " ")
	}
	page, err := s.RecentEvents(ctx, EventQuery{}, 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(page), "okta:u1@example.com:409 okta:o@example.com:200 entra:u4@example.com:200"; got != want {
		t.Errorf("first page = %s, want %s", got, want)
	}
	next, err := s.RecentEvents(ctx, EventQuery{}, page[len(page)-1].Seq, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(next), "entra:u3@example.com:200 entra:u2@example.com:200 entra:u1@example.com:200"; got != want {
		t.Errorf("second page = %s, want %s", got, want)
	}
	for _, tc := range []struct {
		name string
		q    EventQuery
		want string
	}{
		{"token", EventQuery{Token: "okta"}, "okta:u1@example.com:409 okta:o@example.com:200"},
		{"user", EventQuery{User: "U1@example.com"}, "okta:u1@example.com:409 entra:u1@example.com:200"},
		{"failed", EventQuery{Failed: true}, "okta:u1@example.com:409"},
		{"token and user", EventQuery{Token: "entra", User: "u1@example.com"}, "entra:u1@example.com:200"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es, err := s.RecentEvents(ctx, tc.q, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(es); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// TestOnBatch: every write is reported in exactly one batch, failed ones
// as failed, with the commit measured.
func TestOnBatch(t *testing.T) {
	var (
		mu      sync.Mutex
		batches []BatchStats
	)
	s, err := Open(filepath.Join(t.TempDir(), "scimd.db"), Options{OnBatch: func(b BatchStats) {
		mu.Lock()
		batches = append(batches, b)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			err := s.write(ctx, func(tx *sql.Tx) error {
				if i%10 == 0 {
					return errors.New("refused")
				}
				_, err := tx.Exec(`INSERT INTO state (key, value) VALUES (?, 'x')`, "k"+strconv.Itoa(i))
				return err
			})
			if (err != nil) != (i%10 == 0) {
				t.Errorf("write %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	writes, failed := 0, 0
	for _, b := range batches {
		writes += b.Writes
		failed += b.Failed
		if b.Duration < b.Commit || (b.Failed < b.Writes && b.Commit <= 0) {
			t.Errorf("batch %+v: want 0 < commit <= duration", b)
		}
	}
	if writes != n || failed != n/10 {
		t.Errorf("batches report %d writes, %d failed; want %d, %d", writes, failed, n, n/10)
	}
	if len(batches) > n {
		t.Errorf("%d batches for %d writes", len(batches), n)
	}
}

// TestMigrationNumbersUnique: migrate applies each number once, so two
// files with one number (two branches adding a migration each) would skip
// one of them silently.
func TestMigrationNumbersUnique(t *testing.T) {
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, e := range entries {
		n, _, _ := strings.Cut(e.Name(), "_")
		if prev, dup := seen[n]; dup {
			t.Errorf("migrations %s and %s share the number %s: renumber one", prev, e.Name(), n)
		}
		seen[n] = e.Name()
	}
}

// TestCountsKeptUsers: with on_delete = "deactivate" a deleted user leaves
// the counted users and a returning one comes back into them.
func TestCountsKeptUsers(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "scimd.db"), Options{OnDelete: "deactivate"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check := func(step string, want Counts) {
		t.Helper()
		got, err := s.Counts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st, err := s.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		counted := Counts{UsersActive: st.UsersActive, UsersInactive: st.UsersInactive, Groups: st.Groups, Memberships: st.Memberships}
		if got != want || got != counted {
			t.Errorf("%s: Counts() = %+v, want %+v (counted %+v)", step, got, want, counted)
		}
	}
	u := admCreate(t, s, "entra", Users, `{"userName":"kept@example.com","active":false}`)
	admCreate(t, s, "entra", Users, `{"userName":"other@example.com"}`)
	check("created", Counts{UsersActive: 1, UsersInactive: 1})
	if err := s.Delete(ctx, Actor{Token: "entra"}, Users, u.ID, ""); err != nil {
		t.Fatal(err)
	}
	check("kept", Counts{UsersActive: 1})
	admCreate(t, s, "entra", Users, `{"userName":"kept@example.com","active":false}`)
	check("returned", Counts{UsersActive: 1, UsersInactive: 1})
}
