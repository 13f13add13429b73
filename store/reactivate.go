package store

import (
	"database/sql"
	"errors"
)

// softDelete moves a user to users_deleted ([users] on_delete =
// "deactivate"): the record is kept, inactive, and invisible to SCIM; its
// memberships are already gone. Its id is never given to anyone else.
//
// The kept record gets a number of its own in users_deleted, not the user's
// users.seq: SQLite gives the highest free rowid to the next new user, so a
// number kept here would be handed out again, and bringing the user back
// under it would collide with whoever got it (issue 11, "Deleted users
// always come back"). A returning user gets a new users.seq (restore).
func (s *Store) softDelete(tx *sql.Tx, a Actor, seq int64, old *Resource) error {
	doc := old.Doc
	doc["active"] = false
	text, err := encodeDoc(doc)
	if err != nil {
		return err
	}
	c := users.columns(doc)
	s.mayHaveKept.Store(true) // before the row exists, so no POST can miss it
	if _, err := s.writeQ(tx).Exec(`INSERT INTO users_deleted (id, user_name, user_name_fold, external_id, display_name, doc, created, deleted, version)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, old.ID, c.name, c.fold, nullable(c.externalID, c.hasExternal),
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
// creating one. In order:
//
//   - The userName (compared by scim.NameKey) belongs to a user already: an
//     inactive one holding the POST's externalId is reactivated (Okta's
//     re-assignment with an unchanged userName); anyone else is a 409 that
//     names the holder.
//   - A user kept by on_delete = "deactivate" with that userName comes back
//     under its old id (the most recently deleted one, should there be
//     several).
//   - An inactive user holding the POST's externalId is reactivated, the
//     most recently modified one when several hold it (Okta re-assigns a
//     deactivated user whose userName changed by POSTing a new user with the
//     same externalId, okta-and-peers.md A.6 #13).
//
// An *active* user holding the externalId is no obstacle: RFC 7643 §3.1
// gives externalId no uniqueness, and Entra's default mapping
// (mailNickname) repeats across users. done is false when the POST should
// create a new user.
func (s *Store) reactivate(tx *sql.Tx, a Actor, doc map[string]any) (r *Resource, done bool, err error) {
	c := users.columns(doc)
	q := s.writeQ(tx)
	var (
		id     string
		active bool
		ext    sql.NullString
	)
	err = q.QueryRow(`SELECT id, active, external_id FROM users WHERE user_name_fold = ?`, c.fold).Scan(&id, &active, &ext)
	switch {
	case err == nil:
		if !active && c.hasExternal && c.externalID != "" && ext.Valid && ext.String == c.externalID {
			r, err := s.reactivateUser(tx, a, id, doc)
			return r, true, err
		}
		return nil, false, nameTaken(users, c.name, id)
	case !errors.Is(err, sql.ErrNoRows):
		return nil, false, classify(err)
	}
	if s.mayHaveKept.Load() {
		var (
			kept, version int64
			created       string
		)
		err = q.QueryRow(`SELECT seq, id, created, version FROM users_deleted WHERE user_name_fold = ? ORDER BY deleted DESC, seq DESC LIMIT 1`, c.fold).
			Scan(&kept, &id, &created, &version)
		switch {
		case err == nil:
			r, err := s.restore(tx, a, kept, &Resource{ID: id, Doc: doc, Created: created, Modified: s.stamp(), Version: version + 1})
			return r, true, err
		case !errors.Is(err, sql.ErrNoRows):
			return nil, false, classify(err)
		}
	}
	if !c.hasExternal || c.externalID == "" {
		return nil, false, nil
	}
	err = q.QueryRow(`SELECT id FROM users WHERE external_id = ? AND active = 0 ORDER BY modified DESC, seq DESC LIMIT 1`, c.externalID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, classify(err)
	}
	r, err = s.reactivateUser(tx, a, id, doc)
	return r, true, err
}

// reactivateUser gives an inactive user the attributes of a POST, which
// normally sets active true.
func (s *Store) reactivateUser(tx *sql.Tx, a Actor, id string, doc map[string]any) (*Resource, error) {
	old, seq, err := s.load(s.writeQ(tx), users, id)
	if err != nil {
		return nil, err
	}
	users.rt(s).Carry(old.Doc, doc)
	return s.update(tx, a, users, seq, old, doc, nil, "reactivate", "")
}

// restore brings back the user kept as users_deleted row kept, as r (its
// old id and meta.created, the POST's attributes). It is inserted like a new
// user, with a new users.seq, so it collides with nothing: its userName was
// found free by the caller, and the number is fresh. It is therefore listed
// after the users created before its return.
func (s *Store) restore(tx *sql.Tx, a Actor, kept int64, r *Resource) (*Resource, error) {
	if err := s.checkUnique(tx, users, r.Doc, 0); err != nil {
		return nil, err
	}
	text, err := encodeDoc(r.Doc)
	if err != nil {
		return nil, err
	}
	if err := s.insertRow(tx, users, r, text, nil); err != nil {
		return nil, err
	}
	if _, err := s.writeQ(tx).Exec(`DELETE FROM users_deleted WHERE seq = ?`, kept); err != nil {
		return nil, classify(err)
	}
	// A kept user coming back: reactivated when it comes back active (the
	// usual case); when the POST says active false it is new to receivers
	// again, which saw its user.deleted.
	typ := EventUserReactivated
	if !users.columns(r.Doc).active {
		typ = EventUserCreated
	}
	if err := s.emitResource(tx, typ, r); err != nil {
		return nil, err
	}
	return r, s.logChange(tx, a, "reactivate", users, r.ID, nameOf(users, r.Doc), sortedKeys(r.Doc))
}
