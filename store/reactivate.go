package store

import (
	"database/sql"
	"errors"

	"scimd/scim"
)

// softDelete moves a user to users_deleted ([users] on_delete =
// "deactivate"): the record is kept, inactive, and invisible to SCIM; its
// memberships are already gone. Its id is never given to anyone else.
func (s *Store) softDelete(tx *sql.Tx, a Actor, seq int64, old *Resource) error {
	doc := old.Doc
	doc["active"] = false
	text, err := encodeDoc(doc)
	if err != nil {
		return err
	}
	c := users.columns(doc)
	s.mayHaveKept.Store(true) // before the row exists, so no POST can miss it
	if _, err := s.writeQ(tx).Exec(`INSERT INTO users_deleted (seq, id, user_name, user_name_fold, external_id, display_name, doc, created, deleted, version)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, seq, old.ID, c.name, c.fold, nullable(c.externalID, c.hasExternal),
		nullable(c.displayName, c.hasDisplay), text, old.Created, s.stamp(), old.Version+1); err != nil {
		return classify(err)
	}
	if _, err := s.writeQ(tx).Exec(`DELETE FROM users WHERE seq = ?`, seq); err != nil {
		return classify(err)
	}
	if err := s.emitDeleted(tx, users, old.ID, doc); err != nil {
		return err
	}
	return s.logChange(tx, a, "delete", users, old.ID, c.name, []string{"active"})
}

// reactivate handles a POST /Users that brings back a user instead of
// creating one:
//   - a user kept by on_delete = "deactivate" with the same userName comes
//     back under its old id;
//   - an inactive user with the same externalId is reactivated (Okta
//     re-assigns a deactivated user whose userName changed by POSTing a new
//     user with the same externalId, okta-and-peers.md A.6 #13); an active
//     one with that externalId is a 409.
//
// done is false when the POST should create a new user.
func (s *Store) reactivate(tx *sql.Tx, a Actor, doc map[string]any) (r *Resource, done bool, err error) {
	c := users.columns(doc)
	var (
		seq, version     int64
		id, created, txt string
	)
	err = sql.ErrNoRows
	if s.mayHaveKept.Load() {
		err = s.writeQ(tx).QueryRow(`SELECT seq, id, created, version, doc FROM users_deleted WHERE user_name_fold = ?`, c.fold).
			Scan(&seq, &id, &created, &version, &txt)
	}
	switch {
	case err == nil:
		if err := s.checkUnique(tx, users, doc, seq); err != nil {
			return nil, false, err
		}
		text, err := encodeDoc(doc)
		if err != nil {
			return nil, false, err
		}
		now := s.stamp()
		if _, err := s.writeQ(tx).Exec(`INSERT INTO users (seq, id, user_name, user_name_fold, external_id, display_name, active, doc, created, modified, version)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, seq, id, c.name, c.fold, nullable(c.externalID, c.hasExternal),
			nullable(c.displayName, c.hasDisplay), c.active, text, created, now, version+1); err != nil {
			return nil, false, s.conflict(users, c.name, err)
		}
		if _, err := s.writeQ(tx).Exec(`DELETE FROM users_deleted WHERE seq = ?`, seq); err != nil {
			return nil, false, classify(err)
		}
		r := &Resource{ID: id, Doc: doc, Created: created, Modified: now, Version: version + 1}
		// A kept user coming back: reactivated when it comes back active
		// (the usual case); when the POST says active false it is new to
		// receivers again, which saw its user.deleted.
		typ := EventUserReactivated
		if !c.active {
			typ = EventUserCreated
		}
		if err := s.emitResource(tx, typ, r, text); err != nil {
			return nil, false, err
		}
		return r, true, s.logChange(tx, a, "reactivate", users, id, c.name, sortedKeys(doc))
	case !errors.Is(err, sql.ErrNoRows):
		return nil, false, classify(err)
	}
	if !c.hasExternal || c.externalID == "" {
		return nil, false, nil
	}
	var active bool
	err = s.writeQ(tx).QueryRow(`SELECT seq, id, active FROM users WHERE external_id = ? ORDER BY active DESC LIMIT 1`, c.externalID).Scan(&seq, &id, &active)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, classify(err)
	}
	if active {
		return nil, false, scim.Uniqueness("externalId %q is already used by the active user %s", c.externalID, id)
	}
	old, seq, err := s.load(s.writeQ(tx), users, id)
	if err != nil {
		return nil, false, err
	}
	users.rt(s).Carry(old.Doc, doc)
	r, err = s.update(tx, a, users, seq, old, doc, nil, "reactivate", "")
	return r, true, err
}
