package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
)

// checkAttrValues verifies the side-table index of declared attributes
// (attrindex.go): no schema object calls scimd's own scim_fold() (which
// other sqlite3 shells cannot run), and every indexed declaration holds
// exactly the values its documents give, folded as scimd folds them. A
// missing or stale value would make "attr eq x" miss a resource, or a
// unique declaration accept a duplicate.
func checkAttrValues(ctx context.Context, tx *sql.Tx, c *checker) {
	c.query(ctx, tx, "reading the schema", `SELECT type, name FROM sqlite_master WHERE sql LIKE '%scim_fold(%'`, func(rows *sql.Rows) error {
		var typ, name string
		if err := rows.Scan(&typ, &name); err != nil {
			return err
		}
		c.fail("%s %s calls scim_fold(), which only scimd knows: start scimd serve once to convert it", typ, name)
		return nil
	})
	var have int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'declared_indexes'`).Scan(&have); err != nil || have == 0 {
		c.summary = "no declared-attribute index in this schema version"
		return
	}
	type decl struct {
		attrIndex
		table string
	}
	var decls []decl
	c.query(ctx, tx, "reading declared_indexes", `SELECT name, tbl, decl, path, case_exact FROM declared_indexes ORDER BY name`, func(rows *sql.Rows) error {
		var d decl
		var path string
		if err := rows.Scan(&d.name, &d.table, &d.decl, &path, &d.caseExact); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(path), &d.path); err != nil {
			return fmt.Errorf("%s: bad path %q", d.name, path)
		}
		decls = append(decls, d)
		return nil
	})
	values := 0
	key := func(v any) string { return fmt.Sprintf("%T:%v", v, v) }
	for _, d := range decls {
		if d.table != "users" && d.table != "groups" {
			c.fail("declared index %s is on unknown table %q", d.name, d.table)
			continue
		}
		want := map[int64]string{}
		c.query(ctx, tx, "reading "+d.table, docValuesQuery(d.table, d.path), func(rows *sql.Rows) error {
			seq, v, err := scanDocValue(rows, d.caseExact)
			if err != nil {
				return err
			}
			want[seq] = key(v)
			return nil
		})
		c.query(ctx, tx, "reading "+sideTable(d.table), `SELECT seq, value FROM `+sideTable(d.table)+` WHERE attr = `+quoteLit(d.name), func(rows *sql.Rows) error {
			var seq int64
			var v any
			if err := rows.Scan(&seq, &v); err != nil {
				return err
			}
			w, ok := want[seq]
			switch {
			case !ok:
				c.fail("%s: %s row %d has an indexed value but no value in its document", d.decl, d.table, seq)
			case w != key(v):
				c.fail("%s: %s row %d is indexed as %v, its document gives %s (filters and uniqueness would use the wrong value)", d.decl, d.table, seq, v, w)
			default:
				values++
			}
			delete(want, seq)
			return nil
		})
		for seq := range want {
			c.fail("%s: %s row %d has a value that is not indexed (an eq filter would not find it)", d.decl, d.table, seq)
		}
	}
	c.summary = fmt.Sprintf("%d indexed, %d values match their documents", len(decls), values)
}
