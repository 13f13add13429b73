package store

import (
	"database/sql"
	"errors"
	"fmt"

	"scimd/scim"
)

// nameKeyVersion numbers the definition of scim.NameKey that the stored name
// keys (users.user_name_fold, users_deleted.user_name_fold,
// groups.display_name_fold) were computed with. It is kept in the state
// table under "name_key"; a database without the row has version 1 keys.
//
//	1: scim.Fold, simple case folding (scimd before NFC normalisation)
//	2: scim.NameKey, NFC normalisation and simple case folding
//
// Raise it whenever scim.NameKey changes what it returns for some name.
const nameKeyVersion = 2

// nameKeyed lists the columns holding scim.NameKey of another column.
var nameKeyed = []struct{ table, name, key string }{
	{"users", "user_name", "user_name_fold"},
	{"users_deleted", "user_name", "user_name_fold"},
	{"groups", "display_name", "display_name_fold"},
}

// rekeyNames recomputes the stored name keys once, when the database was
// written by a scimd whose keys were computed differently. A migration
// cannot do it: the keys come from Go (scim.NameKey), and the stored schema
// calls no custom SQL function. It runs in one transaction with the version
// row, so it is done once and completely, or not at all.
//
// Names whose key is unchanged (all ASCII names and every name typed in
// NFC with no exotic case mapping) are not written. When two resources
// stored before the change now have the same key (say "José" typed once
// precomposed and once decomposed), one of them gets it (the one whose key
// was right already, else the older) and the other keeps its old key:
// opening never fails and no data changes, and the clash shows as a 409
// naming the first the next time the other one's name is written.
func (s *Store) rekeyNames() error {
	tx, err := s.w.Begin()
	if err != nil {
		return fmt.Errorf("store: open %s: %w", s.path, err)
	}
	defer tx.Rollback()
	var have int
	err = tx.QueryRow(`SELECT CAST(value AS INTEGER) FROM state WHERE key = 'name_key'`).Scan(&have)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		have = 1
	case err != nil:
		return fmt.Errorf("store: open %s: %w", s.path, err)
	}
	if have >= nameKeyVersion {
		return nil
	}
	for _, c := range nameKeyed {
		if err := rekeyTable(tx, c.table, c.name, c.key); err != nil {
			return fmt.Errorf("store: open %s: recomputing %s.%s: %w", s.path, c.table, c.key, err)
		}
	}
	if _, err := tx.Exec(`INSERT INTO state (key, value) VALUES ('name_key', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
		fmt.Sprint(nameKeyVersion)); err != nil {
		return fmt.Errorf("store: open %s: %w", s.path, err)
	}
	return tx.Commit()
}

// rekeyTable sets key = scim.NameKey(name) on every row where it differs,
// in creation order.
func rekeyTable(tx *sql.Tx, table, name, key string) error {
	type change struct {
		seq int64
		key string
	}
	var todo []change
	rows, err := tx.Query(`SELECT seq, ` + name + `, ` + key + ` FROM ` + table + ` ORDER BY seq`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var (
			seq       int64
			n, stored string
		)
		if err := rows.Scan(&seq, &n, &stored); err != nil {
			rows.Close()
			return err
		}
		if k := scim.NameKey(n); k != stored {
			todo = append(todo, change{seq, k})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	// A key may be held by a row that is itself about to change: retry
	// what clashed until a pass changes nothing.
	for len(todo) > 0 {
		var left []change
		for _, c := range todo {
			_, err := tx.Exec(`UPDATE `+table+` SET `+key+` = ? WHERE seq = ?`, c.key, c.seq)
			switch {
			case isUnique(err):
				left = append(left, c)
			case err != nil:
				return err
			}
		}
		if len(left) == len(todo) {
			break
		}
		todo = left
	}
	return nil
}
