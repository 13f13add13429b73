package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"scimd/scim"
)

var testActor = Actor{Token: "test", IDP: "entra"}

func memberIDsOf(t *testing.T, s *Store, gid string) []string {
	t.Helper()
	ms, err := s.Members(context.Background(), gid)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	slices.Sort(out)
	return out
}

func patchOps(t *testing.T, body string) []scim.PatchOp {
	t.Helper()
	ops, err := scim.DecodePatch([]byte(`{"schemas":["`+scim.PatchSchema+`"],"Operations":`+body+`}`), scim.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return ops
}

// TestGetWithoutRefsNeverReadsMembers proves that a group read without its
// members (GET ?excludedAttributes=members, Entra's group lookup) does not
// touch the member table at all: with the table gone it still works, while
// a read with members fails.
func TestGetWithoutRefsNeverReadsMembers(t *testing.T) {
	s := openTestStore(t, nil)
	ctx := context.Background()
	u := create(t, s, Users, `{"userName":"u@example.com"}`)
	g := create(t, s, Groups, `{"displayName":"g","members":[{"value":"`+u.ID+`"}]}`)
	if _, err := s.w.Exec(`ALTER TABLE members RENAME TO members_hidden`); err != nil {
		t.Fatal(err)
	}
	r, err := s.Get(ctx, Groups, g.ID, false)
	if err != nil {
		t.Fatalf("Get without members read the member table: %v", err)
	}
	if _, ok := r.Doc["members"]; ok {
		t.Errorf("Get without members returned members: %v", r.Doc)
	}
	f, _ := scim.ParseFilter(`displayName eq "G"`, scim.FilterLimits{})
	if total, list, err := s.List(ctx, Groups, Query{Filter: f, StartIndex: 1, Count: 10}); err != nil || total != 1 || len(list) != 1 {
		t.Errorf("List without members: %d %v %v", total, list, err)
	}
	if _, err := s.Get(ctx, Groups, g.ID, true); err == nil {
		t.Fatal("Get with members worked without the member table: the test proves nothing")
	}
}

// TestGroupCommitIsolatesFailures sends many concurrent creates, some of
// them duplicates, so that they share transactions: every distinct name is
// created once, every duplicate gets 409, and nothing else is affected.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	s := openTestStore(t, nil)
	ctx := context.Background()
	const n = 60
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("user%d@example.com", i/2) // every name twice
			if i%2 == 1 {
				name = fmt.Sprintf("USER%d@EXAMPLE.COM", i/2)
			}
			_, errs[i] = s.Create(ctx, testActor, Users, map[string]any{"userName": name})
		}()
	}
	wg.Wait()
	conflicts := 0
	for i, err := range errs {
		var se *scim.Error
		switch {
		case err == nil:
		case errors.As(err, &se) && se.Status == 409 && se.ScimType == "uniqueness":
			conflicts++
		default:
			t.Errorf("create %d: %v", i, err)
		}
	}
	total, _, err := s.List(ctx, Users, Query{StartIndex: 1, Count: 0})
	if err != nil {
		t.Fatal(err)
	}
	if total != n/2 || conflicts != n/2 {
		t.Errorf("%d users and %d conflicts, want %d and %d", total, conflicts, n/2, n/2)
	}
}

// TestPatchIsAtomic: a request whose last operation fails leaves the
// document and the member set as they were, and the version unchanged.
func TestPatchIsAtomic(t *testing.T) {
	s := openTestStore(t, nil)
	ctx := context.Background()
	u1 := create(t, s, Users, `{"userName":"u1@example.com"}`)
	u2 := create(t, s, Users, `{"userName":"u2@example.com"}`)
	g := create(t, s, Groups, `{"displayName":"g","members":[{"value":"`+u1.ID+`"}]}`)
	opt := scim.PatchOptions{ReplaceMembersAdds: true}
	for _, body := range []string{
		`[{"op":"replace","path":"displayName","value":"renamed"},{"op":"add","path":"members","value":[{"value":"` + u2.ID + `"}]},{"op":"add","path":"members","value":[{"value":"ghost"}]}]`,
		`[{"op":"remove","path":"members"},{"op":"replace","path":"displayName","value":"renamed"},{"op":"replace","path":"id","value":"x"}]`,
		`[{"op":"add","path":"members","value":[{"value":"` + u2.ID + `"}]},{"op":"replace","path":"displayName","value":""}]`,
	} {
		if _, err := s.Patch(ctx, testActor, Groups, g.ID, patchOps(t, body), opt, ""); err == nil {
			t.Fatalf("PATCH %s succeeded", body)
		}
		r, err := s.Get(ctx, Groups, g.ID, true)
		if err != nil {
			t.Fatal(err)
		}
		if r.Doc["displayName"] != "g" || r.Version != g.Version {
			t.Errorf("after failed PATCH %s: %v version %d", body, r.Doc, r.Version)
		}
		if got := memberIDsOf(t, s, g.ID); !slices.Equal(got, []string{u1.ID}) {
			t.Errorf("after failed PATCH %s: members %v", body, got)
		}
	}
}

// TestDeleteRemovesMemberships: deleting a user or a nested group takes it
// out of every group; deleting a group takes it out of users' groups.
func TestDeleteRemovesMemberships(t *testing.T) {
	s := openTestStore(t, nil)
	ctx := context.Background()
	u := create(t, s, Users, `{"userName":"u@example.com"}`)
	v := create(t, s, Users, `{"userName":"v@example.com"}`)
	inner := create(t, s, Groups, `{"displayName":"inner","members":[{"value":"`+u.ID+`"}]}`)
	outer := create(t, s, Groups, `{"displayName":"outer","members":[{"value":"`+u.ID+`"},{"value":"`+v.ID+`"},{"value":"`+inner.ID+`"}]}`)
	if err := s.Delete(ctx, testActor, Users, u.ID, ""); err != nil {
		t.Fatal(err)
	}
	if got := memberIDsOf(t, s, outer.ID); !slices.Equal(got, sorted(v.ID, inner.ID)) {
		t.Errorf("outer after deleting u: %v", got)
	}
	if err := s.Delete(ctx, testActor, Groups, inner.ID, ""); err != nil {
		t.Fatal(err)
	}
	if got := memberIDsOf(t, s, outer.ID); !slices.Equal(got, []string{v.ID}) {
		t.Errorf("outer after deleting inner: %v", got)
	}
	if err := s.Delete(ctx, testActor, Groups, outer.ID, ""); err != nil {
		t.Fatal(err)
	}
	r, err := s.Get(ctx, Users, v.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Doc["groups"]; ok {
		t.Errorf("v still has groups: %v", r.Doc["groups"])
	}
	var se *scim.Error
	if err := s.Delete(ctx, testActor, Users, u.ID, ""); !errors.As(err, &se) || se.Status != 404 {
		t.Errorf("second delete: %v, want 404", err)
	}
}

func sorted(s ...string) []string { slices.Sort(s); return s }

// TestDurableSettings checks what a 2xx relies on: WAL, synchronous=FULL
// on the writer, and that committed writes are there after a reopen.
func TestDurableSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scimd.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var mode string
	var syncMode int
	if err := s.w.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode %q (%v), want wal", mode, err)
	}
	if err := s.w.QueryRow(`PRAGMA synchronous`).Scan(&syncMode); err != nil || syncMode != 2 {
		t.Errorf("synchronous %d (%v), want 2 (FULL)", syncMode, err)
	}
	u := create(t, s, Users, `{"userName":"kept@example.com","title":"T"}`)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.Get(context.Background(), Users, u.ID, false)
	if err != nil || r.Doc["title"] != "T" {
		t.Fatalf("after reopen: %v %v", r, err)
	}
	if err := s.IntegrityCheck(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestNewIDsAreTimeOrdered: a new resource's id is a version 7 UUID
// (RFC 9562) holding its creation time, so ids created one after another
// sort one after another (which keeps the id indexes' inserts at their
// end), and each is still distinct and random past the time.
func TestNewIDsAreTimeOrdered(t *testing.T) {
	s := openTestStore(t, nil)
	var ids []string
	for i := range 20 {
		before := time.Now().UnixMilli()
		u := create(t, s, Users, fmt.Sprintf(`{"userName":"t%d@example.com"}`, i))
		after := time.Now().UnixMilli()
		id := u.ID
		if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(id) {
			t.Fatalf("id %q is not a lowercase version 7 UUID", id)
		}
		ms, err := strconv.ParseInt(strings.ReplaceAll(id[:13], "-", ""), 16, 64)
		if err != nil || ms < before || ms > after {
			t.Errorf("id %q holds %d ms, not the creation time (%d..%d)", id, ms, before, after)
		}
		ids = append(ids, id)
		time.Sleep(2 * time.Millisecond)
	}
	if !slices.IsSorted(ids) {
		t.Errorf("ids created in turn do not sort in that order: %v", ids)
	}
	// The same millisecond: distinct ids, told apart by their random bits.
	a, b := newID(), newID()
	if a == b || a[15:] == b[15:] {
		t.Errorf("two ids of the same moment share their random part: %s %s", a, b)
	}
}
