package store

import (
	"context"
	"database/sql"

	"scimd/scim"
)

// BulkCreate inserts many users or groups in few transactions, for seeding
// benchmark databases and for imports. Documents must already be normalised
// and valid. It writes no provisioning-log entries, and group members in
// docs are ignored. It returns the new ids in order.
func (s *Store) BulkCreate(ctx context.Context, k Kind, docs []map[string]any) ([]string, error) {
	ids := make([]string, 0, len(docs))
	const batch = 5000
	for len(docs) > 0 {
		n := min(batch, len(docs))
		part := docs[:n]
		docs = docs[n:]
		err := s.writeDir(ctx, func(tx *sql.Tx) error {
			for _, d := range part {
				delete(d, "members")
				r, err := s.insert(tx, k, d)
				if err != nil {
					return err
				}
				ids = append(ids, r.ID)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// BulkAddMembers adds members to a group in few transactions (seeding).
func (s *Store) BulkAddMembers(ctx context.Context, groupID string, ids []string) error {
	const batch = 5000
	for len(ids) > 0 {
		n := min(batch, len(ids))
		part := ids[:n]
		ids = ids[n:]
		err := s.writeDir(ctx, func(tx *sql.Tx) error {
			seq, err := s.seqOf(s.writeQ(tx), groups, groupID)
			if err != nil {
				return err
			}
			_, err = s.applyMembers(tx, seq, []scim.MemberChange{{Kind: scim.MemberAdd, IDs: part}})
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Checkpoint folds the WAL into the database file (PRAGMA
// wal_checkpoint(TRUNCATE)). SQLite does this on its own as the WAL grows;
// after a bulk load it saves readers from searching a long WAL.
func (s *Store) Checkpoint(ctx context.Context) error {
	_, err := s.w.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	return classify(err)
}
