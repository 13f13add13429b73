package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"scimd/scim"
)

// CheckResult is the outcome of one of Check's checks.
type CheckResult struct {
	Name     string   `json:"name"`
	OK       bool     `json:"ok"`
	Summary  string   `json:"summary"`  // what was looked at, or the first problem
	Problems []string `json:"problems"` // at most maxProblems, then a count of the rest
}

// CheckReport is everything Check found.
type CheckReport struct {
	Database string        `json:"database"`
	OK       bool          `json:"ok"`
	Checks   []CheckResult `json:"checks"`
}

// Failed lists the checks that found a problem.
func (r *CheckReport) Failed() []CheckResult {
	var out []CheckResult
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

// maxProblems bounds what one check reports; the rest are counted.
const maxProblems = 20

// walLimit is the write-ahead log size from which Check reports that
// checkpoints are not keeping up (SQLite checkpoints every 1000 pages,
// about 4 MB, when readers let it), when the log is also larger than the
// database itself.
const walLimit = 64 << 20

// Check verifies the database at path while a server may be using it:
// SQLite's own checks (PRAGMA integrity_check, foreign_key_check) and what
// scimd knows must hold: the schema version, the counters kept by triggers
// (migration 0004), memberships that point at existing users and groups,
// no user both live and kept, the columns derived from each document
// (userName, its name key, externalId, displayName, active), the indexed
// values of declared attributes (check_attrs.go), the files' modes and the
// write-ahead log's size.
//
// It opens its own query-only connection (never Open, which migrates and
// writes) and reads everything in one read transaction, so the counts it
// compares come from one snapshot. WAL readers take no lock that blocks the
// writer: the server keeps writing while Check runs, though a checkpoint
// cannot pass Check's snapshot until it ends.
func Check(ctx context.Context, path string) (*CheckReport, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("no database at %s: %w", abs, errors.Unwrap(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", abs)
	}
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: abs}).EscapedPath()+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", abs, err)
	}
	defer tx.Rollback()

	r := &CheckReport{Database: abs, OK: true}
	for _, c := range []struct {
		name string
		run  func(context.Context, *sql.Tx, *checker)
	}{
		{"schema", checkSchema},
		{"integrity", checkIntegrity},
		{"foreign keys", checkForeignKeys},
		{"counters", checkCounters},
		{"memberships", checkMemberships},
		{"kept users", checkKept},
		{"columns", checkColumns},
		{"declared attributes", checkAttrValues},
		{"files", func(_ context.Context, _ *sql.Tx, c *checker) { checkFiles(abs, c) }},
	} {
		ck := &checker{}
		c.run(ctx, tx, ck)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		res := CheckResult{Name: c.name, OK: len(ck.problems) == 0 && ck.more == 0, Summary: ck.summary, Problems: ck.problems}
		if ck.more > 0 {
			res.Problems = append(res.Problems, fmt.Sprintf("… and %d more", ck.more))
		}
		if !res.OK {
			r.OK = false
			res.Summary = res.Problems[0]
		}
		if res.Problems == nil {
			res.Problems = []string{}
		}
		r.Checks = append(r.Checks, res)
	}
	return r, nil
}

// checker collects one check's problems.
type checker struct {
	summary  string
	problems []string
	more     int
}

func (c *checker) fail(format string, args ...any) {
	if len(c.problems) >= maxProblems {
		c.more++
		return
	}
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

// query runs q and calls fn for each row; a failing query is a problem.
// what names the query in the problem ("reading users").
func (c *checker) query(ctx context.Context, tx *sql.Tx, what, q string, fn func(*sql.Rows) error) {
	rows, err := tx.QueryContext(ctx, q)
	if err != nil {
		c.fail("%s: %v", what, err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			c.fail("%s: %v", what, err)
			return
		}
	}
	if err := rows.Err(); err != nil {
		c.fail("%s: %v", what, err)
	}
}

func checkSchema(ctx context.Context, tx *sql.Tx, c *checker) {
	var have int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&have); err != nil {
		c.fail("PRAGMA user_version: %v", err)
		return
	}
	latest, err := latestMigration()
	if err != nil {
		c.fail("%v", err)
		return
	}
	switch {
	case have > latest:
		c.fail("schema version %d is newer than this scimd knows (%d): run 'scimd check' of the scimd version that serves it", have, latest)
	case have < latest:
		c.fail("schema version %d, this scimd expects %d: the running server is older than this binary; restart scimd serve to upgrade the schema", have, latest)
	}
	c.summary = fmt.Sprintf("version %d (this scimd: %d)", have, latest)
}

func checkIntegrity(ctx context.Context, tx *sql.Tx, c *checker) {
	c.query(ctx, tx, "PRAGMA integrity_check", "PRAGMA integrity_check(100)", func(rows *sql.Rows) error {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		if s != "ok" {
			c.fail("integrity_check: %s", s)
		}
		return nil
	})
	c.summary = "PRAGMA integrity_check: ok"
}

func checkForeignKeys(ctx context.Context, tx *sql.Tx, c *checker) {
	c.query(ctx, tx, "PRAGMA foreign_key_check", "PRAGMA foreign_key_check", func(rows *sql.Rows) error {
		var (
			table, parent string
			rowid         sql.NullInt64
			fkid          int
		)
		if err := rows.Scan(&table, &rowid, &parent, &fkid); err != nil {
			return err
		}
		if table == "members" { // WITHOUT ROWID: no rowid to name
			c.fail("a members row refers to a missing %s row (foreign key %d)", parent, fkid)
			return nil
		}
		c.fail("%s row %d refers to a missing %s row (foreign key %d)", table, rowid.Int64, parent, fkid)
		return nil
	})
	c.summary = "PRAGMA foreign_key_check: ok"
}

// checkCounters compares the counts kept by triggers with the tables.
func checkCounters(ctx context.Context, tx *sql.Tx, c *checker) {
	var parts []string
	for _, table := range []string{"users", "groups"} {
		var kept sql.NullInt64
		var real int64
		err := tx.QueryRowContext(ctx, `SELECT (SELECT n FROM counts WHERE name = ?), (SELECT count(*) FROM `+table+`)`, table).Scan(&kept, &real)
		switch {
		case err != nil:
			c.fail("counting %s: %v", table, err)
		case !kept.Valid:
			c.fail("the counter of %s is missing (the counts table has no %q row); the table has %d rows", table, table, real)
		case kept.Int64 != real:
			c.fail("the counter of %s says %d, the table has %d rows (totalResults of unfiltered lists is wrong)", table, kept.Int64, real)
		default:
			parts = append(parts, fmt.Sprintf("%s %d", table, real))
		}
	}
	c.summary = strings.Join(parts, ", ") + ": counters match"
}

// checkMemberships finds members rows whose member does not exist:
// member_seq has no foreign key (it points at users or groups by
// member_kind), so SQLite cannot check it.
func checkMemberships(ctx context.Context, tx *sql.Tx, c *checker) {
	c.query(ctx, tx, "reading memberships", `SELECT m.group_seq, coalesce(g.id, ''), m.member_kind, m.member_seq FROM members m LEFT JOIN groups g ON g.seq = m.group_seq
		WHERE (m.member_kind = 0 AND NOT EXISTS (SELECT 1 FROM users u WHERE u.seq = m.member_seq))
		   OR (m.member_kind = 1 AND NOT EXISTS (SELECT 1 FROM groups x WHERE x.seq = m.member_seq))
		   OR m.member_kind NOT IN (0, 1)`, func(rows *sql.Rows) error {
		var gseq, kind, mseq int64
		var gid string
		if err := rows.Scan(&gseq, &gid, &kind, &mseq); err != nil {
			return err
		}
		group := fmt.Sprintf("group %s", gid)
		if gid == "" {
			group = fmt.Sprintf("missing group seq %d", gseq)
		}
		switch kind {
		case 0:
			c.fail("%s lists a member user (seq %d) that does not exist", group, mseq)
		case 1:
			c.fail("%s lists a member group (seq %d) that does not exist", group, mseq)
		default:
			c.fail("%s has a member of unknown kind %d (seq %d)", group, kind, mseq)
		}
		return nil
	})
	var n int64
	tx.QueryRowContext(ctx, `SELECT count(*) FROM members`).Scan(&n)
	c.summary = fmt.Sprintf("%d memberships point at existing users and groups", n)
}

// checkKept finds users kept by on_delete = "deactivate" whose id is also
// a live user's: a kept user's id is never given to anyone else, and its
// return moves the record (one transaction), so one id in both tables means
// the directory holds one user twice.
func checkKept(ctx context.Context, tx *sql.Tx, c *checker) {
	c.query(ctx, tx, "reading kept users", `SELECT d.id, d.user_name, u.user_name FROM users_deleted d JOIN users u ON u.id = d.id`, func(rows *sql.Rows) error {
		var id, kept, live string
		if err := rows.Scan(&id, &kept, &live); err != nil {
			return err
		}
		c.fail("user %s is both live (%q) and kept as deleted (%q)", id, live, kept)
		return nil
	})
	var n int64
	tx.QueryRowContext(ctx, `SELECT count(*) FROM users_deleted`).Scan(&n)
	c.summary = fmt.Sprintf("%d kept users, none also live", n)
}

// keyMismatch is a stored name key that is not scim.NameKey of the name.
type keyMismatch struct {
	what, table, keyCol, id, name, stored, want string
}

// checkColumns reads every document and compares the columns derived from
// it, which lookups, uniqueness and filters use, with what it says.
//
// Name keys (scim.NameKey, store/namekey.go) are compared only when the
// database says they were computed by this scimd's definition. One key may
// differ by design: when a new definition made two stored names the same,
// one of them kept its old key; that is reported only in the summary.
func checkColumns(ctx context.Context, tx *sql.Tx, c *checker) {
	var keys int
	err := tx.QueryRowContext(ctx, `SELECT CAST(value AS INTEGER) FROM state WHERE key = 'name_key'`).Scan(&keys)
	if errors.Is(err, sql.ErrNoRows) {
		keys = 1
	} else if err != nil {
		c.fail("reading the name key version: %v", err)
	}
	var mismatches []keyMismatch
	key := func(what, table, keyCol, id, name, stored string) {
		if keys != nameKeyVersion {
			return
		}
		if want := scim.NameKey(name); stored != want {
			mismatches = append(mismatches, keyMismatch{what, table, keyCol, id, name, stored, want})
		}
	}
	var users, groups int64
	c.query(ctx, tx, "reading users", `SELECT id, user_name, user_name_fold, external_id, display_name, active, doc FROM users`, func(rows *sql.Rows) error {
		var (
			id, name, fold, text string
			ext, disp            sql.NullString
			active               bool
		)
		if err := rows.Scan(&id, &name, &fold, &ext, &disp, &active, &text); err != nil {
			return err
		}
		users++
		key("user "+id, "users", "user_name_fold", id, name, fold)
		doc, err := decodeDoc(text)
		if err != nil {
			c.fail("user %s: its stored document cannot be read: %v", id, err)
			return nil
		}
		want := Users.columns(doc)
		compareColumns(c, "user "+id, name, ext, want)
		if d := nullable(want.displayName, want.hasDisplay); !sameNullable(disp, d) {
			c.fail("user %s: column display_name is %s, its document says %s", id, showNullable(disp), showAny(d))
		}
		if active != want.active {
			c.fail("user %s: column active is %v, its document says %v", id, active, want.active)
		}
		return nil
	})
	c.query(ctx, tx, "reading groups", `SELECT id, display_name, display_name_fold, external_id, doc FROM groups`, func(rows *sql.Rows) error {
		var (
			id, name, fold, text string
			ext                  sql.NullString
		)
		if err := rows.Scan(&id, &name, &fold, &ext, &text); err != nil {
			return err
		}
		groups++
		key("group "+id, "groups", "display_name_fold", id, name, fold)
		doc, err := decodeDoc(text)
		if err != nil {
			c.fail("group %s: its stored document cannot be read: %v", id, err)
			return nil
		}
		compareColumns(c, "group "+id, name, ext, Groups.columns(doc))
		return nil
	})
	c.query(ctx, tx, "reading kept users", `SELECT id, user_name, user_name_fold FROM users_deleted`, func(rows *sql.Rows) error {
		var id, name, fold string
		if err := rows.Scan(&id, &name, &fold); err != nil {
			return err
		}
		key("kept user "+id, "users_deleted", "user_name_fold", id, name, fold)
		return nil
	})
	kept := 0
	for _, m := range mismatches {
		var holder string
		err := tx.QueryRowContext(ctx, `SELECT id FROM `+m.table+` WHERE `+m.keyCol+` = ? AND id != ? LIMIT 1`, m.want, m.id).Scan(&holder)
		if err == nil {
			kept++ // the clash rekeyNames leaves on purpose
			continue
		}
		c.fail("%s: its name key is %q, the key of %q is %q (lookups and uniqueness use it)", m.what, m.stored, m.name, m.want)
	}
	c.summary = fmt.Sprintf("%d users and %d groups: columns match their documents", users, groups)
	if keys != nameKeyVersion {
		c.summary += fmt.Sprintf("; name keys not compared (version %d, this scimd: %d; the server recomputes them when it starts)", keys, nameKeyVersion)
	}
	if kept > 0 {
		c.summary += fmt.Sprintf("; %d name(s) kept an older key because another resource now has the same name", kept)
	}
}

func compareColumns(c *checker, what, name string, ext sql.NullString, want columns) {
	if name != want.name {
		c.fail("%s: its name column is %q, its document says %q", what, name, want.name)
	}
	if e := nullable(want.externalID, want.hasExternal); !sameNullable(ext, e) {
		c.fail("%s: column external_id is %s, its document says %s", what, showNullable(ext), showAny(e))
	}
}

func sameNullable(col sql.NullString, want any) bool {
	s, ok := want.(string)
	return col.Valid == ok && col.String == s
}

func showNullable(v sql.NullString) string {
	if !v.Valid {
		return "NULL"
	}
	return fmt.Sprintf("%q", v.String)
}

func showAny(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return "nothing"
}

// checkFiles reports database files that others may read (scimd creates
// them 0600; a looser mode was set by hand or by an older scimd) and a
// write-ahead log that checkpoints do not keep small.
func checkFiles(abs string, c *checker) {
	var db, wal int64
	for _, p := range []string{abs, abs + "-wal", abs + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			c.fail("%s: %v", p, err)
			continue
		}
		if m := fi.Mode().Perm(); m&0o077 != 0 {
			c.fail("%s has mode %04o: others than its owner may read the directory's personal data; run chmod 600 %s", p, m, p)
		}
		switch p {
		case abs:
			db = fi.Size()
		case abs + "-wal":
			wal = fi.Size()
		}
	}
	if wal > walLimit && wal > db {
		c.fail("the write-ahead log is %d MB, larger than the database (%d MB): checkpoints are not keeping up (a long-running reader?)", wal>>20, db>>20)
	}
	c.summary = fmt.Sprintf("database %d bytes, write-ahead log %d bytes, owner-only modes", db, wal)
}

// latestMigration is the number of the last embedded migration: the schema
// version this scimd writes.
func latestMigration() (int, error) {
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return 0, err
	}
	latest := 0
	for _, e := range entries {
		n, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			return 0, fmt.Errorf("migration %s: bad number", e.Name())
		}
		latest = max(latest, n)
	}
	return latest, nil
}
