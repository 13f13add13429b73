package store

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"scimd/scim"
)

// Operator attributes declared filterable or unique get an expression index
// on their JSON value, so "microsoftId eq x" is an index lookup like
// "userName eq x". The indexes are named attr_<table>_<hash> and kept in
// step with the declarations at every Open: new declarations are indexed at
// once, removed ones lose their index (their values stay in the documents).

// indexExpr is the SQL expression indexed for an attribute. The filter
// compiler builds the same expression, which is what lets SQLite use it.
func indexExpr(table string, a scim.IndexedAttribute) string {
	e := "json_extract(" + table + ".doc, " + quoteLit(jsonPath(a.Path...)) + ")"
	if !a.CaseExact {
		e = "scim_fold(" + e + ")"
	}
	return e
}

func indexName(table string, a scim.IndexedAttribute) string {
	h := sha256.Sum256([]byte(strings.Join(a.Path, "\x00") + fmt.Sprintf("|%v|%v", a.CaseExact, a.Unique)))
	return "attr_" + table + "_" + hex.EncodeToString(h[:6])
}

// syncAttrIndexes creates and drops attr_ indexes to match the catalogue.
func (s *Store) syncAttrIndexes() error {
	for _, k := range []*kind{users, groups} {
		want := map[string]string{}
		for _, a := range k.rt(s).Indexed() {
			unique := ""
			if a.Unique {
				unique = "UNIQUE "
			}
			// Index expressions may not name the table, so strip the prefix.
			expr := strings.ReplaceAll(indexExpr(k.table, a), k.table+".doc", "doc")
			want[indexName(k.table, a)] = "CREATE " + unique + "INDEX IF NOT EXISTS " + indexName(k.table, a) + " ON " + k.table + " (" + expr + ")"
		}
		rows, err := s.w.Query(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND name LIKE 'attr\_%' ESCAPE '\'`, k.table)
		if err != nil {
			return err
		}
		var have []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return err
			}
			have = append(have, n)
		}
		rows.Close()
		for _, n := range have {
			if _, ok := want[n]; !ok {
				if _, err := s.w.Exec(`DROP INDEX IF EXISTS "` + n + `"`); err != nil {
					return err
				}
			}
		}
		for _, stmt := range want {
			if _, err := s.w.Exec(stmt); err != nil {
				if isUnique(err) || strings.Contains(err.Error(), "UNIQUE") {
					return fmt.Errorf("store: an attribute declared unique already has duplicate values: %w", err)
				}
				return fmt.Errorf("store: indexing declared attributes: %w", err)
			}
		}
	}
	return nil
}

// checkUnique refuses a document whose unique operator attributes are taken
// by another resource. It runs inside the write transaction, and writes are
// serialised, so the check cannot race.
func (s *Store) checkUnique(tx *sql.Tx, k *kind, doc map[string]any, selfSeq int64) error {
	for _, a := range k.rt(s).Indexed() {
		if !a.Unique {
			continue
		}
		var v any = doc
		for _, p := range a.Path {
			m, _ := v.(map[string]any)
			v = m[p]
		}
		if v == nil {
			continue
		}
		switch x := v.(type) {
		case string:
			if !a.CaseExact {
				v = scim.Fold(x)
			}
		case json.Number:
			if i, err := x.Int64(); err == nil {
				v = i
			} else if f, err := x.Float64(); err == nil {
				v = f
			}
		}
		var other string
		err := s.writeQ(tx).QueryRow(`SELECT id FROM `+k.table+` WHERE `+indexExpr(k.table, a)+` = ? AND seq != ? LIMIT 1`, v, selfSeq).Scan(&other)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return classify(err)
		}
		return scim.Uniqueness("%s %q is already used by %s %s", a.Name, fmt.Sprint(v), k.name, other)
	}
	return nil
}
