package store

import (
	"context"
	"strings"
	"testing"
)

// TestCheck: a sound database passes every check with the store open (as
// beside a server); each kind of damage fails the check that knows it.
func TestCheck(t *testing.T) {
	s := admFixture(t)
	ctx := context.Background()
	r, err := Check(ctx, s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK || len(r.Checks) != 9 {
		t.Fatalf("a sound database: %+v", r)
	}
	for _, c := range []struct {
		check, damage, undo, want string
	}{
		{"counters", `UPDATE counts SET n = n + 1 WHERE name = 'users'`, `UPDATE counts SET n = n - 1 WHERE name = 'users'`, "the counter of users says 6, the table has 5 rows"},
		{"memberships", `INSERT INTO members (group_seq, member_kind, member_seq) SELECT seq, 1, 4242 FROM groups LIMIT 1`, `DELETE FROM members WHERE member_seq = 4242`, "lists a member group (seq 4242) that does not exist"},
		{"columns", `UPDATE groups SET display_name_fold = 'x' WHERE display_name = 'G1'`, `UPDATE groups SET display_name_fold = 'g1' WHERE display_name = 'G1'`, `its name key is "x"`},
		{"columns", `UPDATE users SET active = 1 WHERE user_name = 'u2'`, `UPDATE users SET active = 0 WHERE user_name = 'u2'`, "column active is true, its document says false"},
		{"columns", `UPDATE users SET doc = '{' WHERE user_name = 'u3'`, `SELECT 1` /* the last case: left damaged */, "its stored document cannot be read"},
	} {
		if _, err := s.w.Exec(c.damage); err != nil {
			t.Fatalf("%s: %v", c.damage, err)
		}
		r, err := Check(ctx, s.Path())
		if err != nil {
			t.Fatal(err)
		}
		var got *CheckResult
		for i := range r.Checks {
			if r.Checks[i].Name == c.check {
				got = &r.Checks[i]
			}
		}
		if r.OK || got == nil || got.OK || !strings.Contains(strings.Join(got.Problems, "\n"), c.want) {
			t.Errorf("%s: check %q = %+v, want a problem containing %q", c.damage, c.check, got, c.want)
		}
		if _, err := s.w.Exec(c.undo); err != nil {
			t.Fatalf("%s: %v", c.undo, err)
		}
	}
}

// TestCheckToleratesKeptKeyClash: a name whose key a newer NameKey would
// give to another resource keeps its old key by design (rekeyNames); check
// counts it in the summary and does not fail.
func TestCheckToleratesKeptKeyClash(t *testing.T) {
	s := admFixture(t)
	ctx := context.Background()
	// u3 renamed to "U1" before the key definition changed: its key stayed.
	if _, err := s.w.Exec(`UPDATE users SET user_name = 'U1', user_name_fold = 'legacy-u1', doc = json_set(doc, '$.userName', 'U1') WHERE user_name = 'u3'`); err != nil {
		t.Fatal(err)
	}
	r, err := Check(ctx, s.Path())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Checks {
		if c.Name == "columns" && (!c.OK || !strings.Contains(c.Summary, "1 name(s) kept an older key")) {
			t.Errorf("columns: %+v", c)
		}
	}
	// Without a holder of the right key, the same state is a problem.
	if _, err := s.w.Exec(`UPDATE users SET user_name = 'u1-gone', doc = json_set(doc, '$.userName', 'u1-gone') WHERE user_name = 'u1'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec(`UPDATE users SET user_name_fold = 'u1-gone' WHERE user_name = 'u1-gone'`); err != nil {
		t.Fatal(err)
	}
	r, _ = Check(ctx, s.Path())
	if r.OK {
		t.Errorf("a wrong name key with no clash passed: %+v", r.Checks)
	}
}
