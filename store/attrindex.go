package store

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"scimd/scim"
)

// Operator attributes declared filterable or unique are indexed through a
// side table (user_attrs, group_attrs; migration 0006): one row per
// attribute and resource holding the value as compared, case-folded in Go
// with scim.Fold when the attribute is not caseExact. The writer keeps the
// rows in step with the documents in the same transaction, and a unique
// declaration gets a partial UNIQUE index on its rows. So "microsoftId eq
// x" is an index lookup like "userName eq x", and the stored schema calls
// no function of scimd's own: Debian's sqlite3 shell can run PRAGMA
// integrity_check on the file (issue 11).
//
// The indexed declarations are listed in declared_indexes, named
// attr_<table>_<hash>, and kept in step with the catalogue at every Open of
// the server: new declarations are filled at once, removed ones lose their
// rows (their values stay in the documents).

// attrIndex is one indexed declaration as the database records it.
type attrIndex struct {
	name      string
	decl      string // the attribute's full name
	path      []string
	caseExact bool
	unique    bool
}

func indexName(table string, a scim.IndexedAttribute) string {
	h := sha256.Sum256([]byte(strings.Join(a.Path, "\x00") + fmt.Sprintf("|%v|%v", a.CaseExact, a.Unique)))
	return "attr_" + table + "_" + hex.EncodeToString(h[:6])
}

// sideTable is the table holding the indexed values of a resource table.
func sideTable(table string) string {
	if table == "groups" {
		return "group_attrs"
	}
	return "user_attrs"
}

// foldStamp identifies scim.Fold's behaviour: the digest of its answers
// for strings that exercise case folding, special orbits and composition.
// Values folded under another stamp are computed again at the next Open,
// so a change of Fold (e.g. adding Unicode normalisation) cannot leave
// stale folded values behind.
func foldStamp() string {
	h := sha256.New()
	for _, p := range []string{"ÉRIN@X", "Straße", "ǅǄǆ", "\u212a\u212b", "e\u0301", "ﬁ", "İı", "Σσς", "ᲀ", "\xff"} {
		h.Write([]byte(scim.Fold(p) + "\x00"))
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// attrValue is what the side table holds for doc's value at path: folded
// text, a number, or 1/0 for a boolean. ok is false when the value is
// absent or not a single scalar.
func attrValue(doc map[string]any, path []string, caseExact bool) (v any, ok bool) {
	var cur any = doc
	for _, p := range path {
		m, isMap := cur.(map[string]any)
		if !isMap {
			return nil, false
		}
		cur = m[p]
	}
	switch x := cur.(type) {
	case string:
		if !caseExact {
			return scim.Fold(x), true
		}
		return x, true
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, true
		}
		if f, err := x.Float64(); err == nil {
			return f, true
		}
	case bool:
		if x {
			return int64(1), true
		}
		return int64(0), true
	case int:
		return int64(x), true
	case int64:
		return x, true
	case float64:
		return x, true
	}
	return nil, false
}

// putAttrs writes the side-table rows of one resource after its row was
// inserted or updated. Deleted resources lose theirs by ON DELETE CASCADE.
func (s *Store) putAttrs(tx *sql.Tx, k *kind, seq int64, doc map[string]any) error {
	idx := s.attrIdx[k.table]
	if len(idx) == 0 {
		return nil
	}
	side := sideTable(k.table)
	q := s.writeQ(tx)
	if _, err := q.Exec(`DELETE FROM `+side+` WHERE seq = ?`, seq); err != nil {
		return classify(err)
	}
	for _, a := range idx {
		v, ok := attrValue(doc, a.path, a.caseExact)
		if !ok {
			continue
		}
		if _, err := q.Exec(`INSERT INTO `+side+` (attr, value, seq) VALUES (?, ?, ?)`, a.name, v, seq); err != nil {
			if isUnique(err) {
				return scim.Uniqueness("%s %q is already used by another %s", a.decl, fmt.Sprint(v), k.name)
			}
			return classify(err)
		}
	}
	return nil
}

// checkUnique refuses a document whose unique operator attributes are taken
// by another resource, naming that resource. It runs inside the write
// transaction, and writes are serialised, so the check cannot race; the
// partial UNIQUE index is the backstop.
func (s *Store) checkUnique(tx *sql.Tx, k *kind, doc map[string]any, selfSeq int64) error {
	for _, a := range s.attrIdx[k.table] {
		if !a.unique {
			continue
		}
		v, ok := attrValue(doc, a.path, a.caseExact)
		if !ok {
			continue
		}
		var other string
		err := s.writeQ(tx).QueryRow(`SELECT t.id FROM `+sideTable(k.table)+` a JOIN `+k.table+` t ON t.seq = a.seq
			WHERE a.attr = ? AND a.value = ? AND a.seq != ? LIMIT 1`, a.name, v, selfSeq).Scan(&other)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return classify(err)
		}
		return scim.Uniqueness("%s %q is already used by %s %s", a.decl, fmt.Sprint(v), k.name, other)
	}
	return nil
}

// declared compiles "attr eq value" on an indexed declaration to a lookup
// in the side table. ok is false when the attribute has no side-table
// index in this database (or the comparison is not eq), so the caller
// compiles the comparison on the document instead.
func (c *compiler) declared(a *scim.Attribute, path []string, op scim.CompareOp, v any) (string, bool) {
	if op != scim.OpEq || v == nil || len(c.attrs) == 0 || !a.Custom || a.MultiValued || a.Type == scim.TypeComplex {
		return "", false
	}
	var ia *scim.IndexedAttribute
	for _, x := range c.rt.Indexed() {
		if strings.Join(x.Path, "\x00") == strings.Join(path, "\x00") {
			ia = &x
			break
		}
	}
	if ia == nil {
		return "", false
	}
	name := indexName(c.table, *ia)
	found := false
	for _, x := range c.attrs {
		found = found || x.name == name
	}
	if !found {
		return "", false
	}
	// The literal as the side table holds it, converted as cmp converts
	// it for the document's value.
	var arg any
	switch a.Type {
	case scim.TypeBoolean:
		b, ok := scim.BoolLiteral(v)
		if !ok {
			return "", false
		}
		arg = int64(0)
		if b {
			arg = int64(1)
		}
	case scim.TypeInteger, scim.TypeDecimal:
		n, ok := v.(scim.Number)
		if !ok {
			return "", false
		}
		f, err := json.Number(n).Float64()
		if err != nil {
			return "", false
		}
		arg = f
	default:
		str, ok := v.(string)
		if !ok {
			return "", false
		}
		if a.Type == scim.TypeDateTime {
			return "", false // dateTime eq compares instants; leave it to cmp
		}
		if !ia.CaseExact {
			str = scim.Fold(str)
		}
		arg = str
	}
	return "(" + c.table + ".seq IN (SELECT seq FROM " + sideTable(c.table) + " WHERE attr = " + quoteLit(name) + " AND value = " + c.arg(arg) + "))", true
}

// loadAttrIndexes reads declared_indexes into s.attrIdx. The writer keeps
// exactly these attributes' rows, whatever catalogue this process has.
func (s *Store) loadAttrIndexes() error {
	rows, err := s.w.Query(`SELECT name, tbl, decl, path, case_exact, is_unique FROM declared_indexes ORDER BY name`)
	if err != nil {
		return err
	}
	defer rows.Close()
	s.attrIdx = map[string][]attrIndex{}
	for rows.Next() {
		var a attrIndex
		var tbl, path string
		if err := rows.Scan(&a.name, &tbl, &a.decl, &path, &a.caseExact, &a.unique); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(path), &a.path); err != nil {
			return fmt.Errorf("store: declared_indexes %s: bad path: %w", a.name, err)
		}
		s.attrIdx[tbl] = append(s.attrIdx[tbl], a)
	}
	return rows.Err()
}

// oldIndexPath reads the JSON path out of an expression index of schema
// version 8 or older:
// CREATE [UNIQUE] INDEX attr_users_x ON users ([scim_fold(]json_extract(doc, '$."a"."b"')[)]).
var (
	oldIndexPath = regexp.MustCompile(`json_extract\(doc, '(\$[^']*)'\)`)
	pathPart     = regexp.MustCompile(`\."([^"]*)"`)
)

// convertAttrIndexes turns the expression indexes of schema versions 1–8,
// which call scim_fold(), into side-table indexes with the same names and
// drops them. It runs at every Open (a no-op once done), so any command
// that first opens an old database converts it.
func (s *Store) convertAttrIndexes() error {
	rows, err := s.w.Query(`SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('users', 'groups') AND name LIKE 'attr\_%' ESCAPE '\' AND sql IS NOT NULL`)
	if err != nil {
		return err
	}
	type old struct{ name, table, sql string }
	var olds []old
	for rows.Next() {
		var o old
		if err := rows.Scan(&o.name, &o.table, &o.sql); err != nil {
			rows.Close()
			return err
		}
		olds = append(olds, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(olds) == 0 {
		return err
	}
	tx, err := s.w.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, o := range olds {
		if _, err := tx.Exec(`DROP INDEX "` + o.name + `"`); err != nil {
			return err
		}
		m := oldIndexPath.FindStringSubmatch(o.sql)
		if m == nil {
			continue // not an index scimd made; dropping it is all
		}
		a := attrIndex{name: o.name, caseExact: !strings.Contains(o.sql, "scim_fold("), unique: strings.HasPrefix(o.sql, "CREATE UNIQUE")}
		for _, p := range pathPart.FindAllStringSubmatch(m[1], -1) {
			a.path = append(a.path, p[1])
		}
		a.decl = strings.Join(a.path, ":")
		if err := addAttrIndex(tx, o.table, a); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// addAttrIndex records a declaration, creates its UNIQUE index if it has
// one, and fills its side-table rows from the documents.
func addAttrIndex(tx *sql.Tx, table string, a attrIndex) error {
	path, _ := json.Marshal(a.path)
	if _, err := tx.Exec(`INSERT OR REPLACE INTO declared_indexes (name, tbl, decl, path, case_exact, is_unique, fold) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		a.name, table, a.decl, string(path), a.caseExact, a.unique, foldStamp()); err != nil {
		return err
	}
	side := sideTable(table)
	if a.unique {
		if _, err := tx.Exec(`CREATE UNIQUE INDEX IF NOT EXISTS "` + a.name + `" ON ` + side + ` (value) WHERE attr = ` + quoteLit(a.name)); err != nil {
			return err
		}
	}
	return fillAttrIndex(tx, table, a)
}

// fillAttrIndex (re)computes one declaration's rows from the documents.
func fillAttrIndex(tx *sql.Tx, table string, a attrIndex) error {
	side := sideTable(table)
	if _, err := tx.Exec(`DELETE FROM `+side+` WHERE attr = ?`, a.name); err != nil {
		return err
	}
	rows, err := tx.Query(docValuesQuery(table, a.path))
	if err != nil {
		return err
	}
	defer rows.Close()
	ins, err := tx.Prepare(`INSERT INTO ` + side + ` (attr, value, seq) VALUES (?, ?, ?)`)
	if err != nil {
		return err
	}
	defer ins.Close()
	for rows.Next() {
		seq, v, err := scanDocValue(rows, a.caseExact)
		if err != nil {
			return err
		}
		if _, err := ins.Exec(a.name, v, seq); err != nil {
			if isUnique(err) {
				return fmt.Errorf("store: an attribute declared unique already has duplicate values: %s has %q more than once: %w", a.decl, fmt.Sprint(v), err)
			}
			return err
		}
	}
	return rows.Err()
}

// docValuesQuery selects seq and the value at path of every document of
// table that has a single scalar there; scanDocValue reads its rows.
func docValuesQuery(table string, path []string) string {
	p := quoteLit(jsonPath(path...))
	return `SELECT seq, json_extract(doc, ` + p + `) FROM ` + table + ` WHERE json_type(doc, ` + p + `) IN ('text', 'integer', 'real', 'true', 'false')`
}

// scanDocValue reads one row of docValuesQuery, the value as the side
// table holds it.
func scanDocValue(rows *sql.Rows, caseExact bool) (seq int64, v any, err error) {
	if err := rows.Scan(&seq, &v); err != nil {
		return 0, nil, err
	}
	if str, ok := v.(string); ok && !caseExact {
		v = scim.Fold(str)
	}
	return seq, v, nil
}

// refoldAttrIndexes recomputes the rows of case-insensitive declarations
// whose values were folded by a different scim.Fold (see foldStamp).
func (s *Store) refoldAttrIndexes() error {
	stamp := foldStamp()
	var n int
	if err := s.w.QueryRow(`SELECT count(*) FROM declared_indexes WHERE fold != ? AND NOT case_exact`, stamp).Scan(&n); err != nil || n == 0 {
		return err
	}
	if err := s.loadAttrIndexes(); err != nil {
		return err
	}
	tx, err := s.w.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for table, l := range s.attrIdx {
		for _, a := range l {
			if a.caseExact {
				continue
			}
			if err := fillAttrIndex(tx, table, a); err != nil {
				return err
			}
		}
	}
	if _, err := tx.Exec(`UPDATE declared_indexes SET fold = ?`, stamp); err != nil {
		return err
	}
	return tx.Commit()
}

// syncAttrIndexes makes declared_indexes match the catalogue: removed
// declarations lose their rows and UNIQUE index, new ones are filled.
func (s *Store) syncAttrIndexes() error {
	tx, err := s.w.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, k := range []*kind{users, groups} {
		want := map[string]attrIndex{}
		for _, ia := range k.rt(s).Indexed() {
			a := attrIndex{name: indexName(k.table, ia), decl: ia.Name, path: ia.Path, caseExact: ia.CaseExact, unique: ia.Unique}
			want[a.name] = a
		}
		rows, err := tx.Query(`SELECT name FROM declared_indexes WHERE tbl = ?`, k.table)
		if err != nil {
			return err
		}
		have := map[string]bool{}
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return err
			}
			have[n] = true
		}
		rows.Close()
		for n := range have {
			if _, ok := want[n]; ok {
				continue
			}
			for _, stmt := range []string{`DROP INDEX IF EXISTS "` + n + `"`, `DELETE FROM ` + sideTable(k.table) + ` WHERE attr = ` + quoteLit(n), `DELETE FROM declared_indexes WHERE name = ` + quoteLit(n)} {
				if _, err := tx.Exec(stmt); err != nil {
					return err
				}
			}
		}
		for n, a := range want {
			if have[n] {
				continue
			}
			if err := addAttrIndex(tx, k.table, a); err != nil {
				if isUnique(err) {
					return err
				}
				return fmt.Errorf("store: indexing declared attributes: %w", err)
			}
		}
	}
	return tx.Commit()
}
