package store

// The webhook outbox, write side: changes made through SCIM put their
// events here inside their own transaction (the savepoint of their request
// in the writer's group commit), so an event exists exactly when its change
// does. The webhook package reads and delivers them (webhooks.go).

import (
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"encoding/json"
	"strings"
)

// Webhook event types, as the README's event reference lists them.
const (
	EventUserCreated        = "user.created"
	EventUserUpdated        = "user.updated"
	EventUserDeactivated    = "user.deactivated"
	EventUserReactivated    = "user.reactivated"
	EventUserDeleted        = "user.deleted"
	EventGroupCreated       = "group.created"
	EventGroupUpdated       = "group.updated"
	EventGroupDeleted       = "group.deleted"
	EventGroupMembersAdded  = "group.members.added"
	EventGroupMembersRemove = "group.members.removed"
)

// EventTypes lists every event type a change can give.
var EventTypes = []string{EventUserCreated, EventUserUpdated, EventUserDeactivated, EventUserReactivated, EventUserDeleted,
	EventGroupCreated, EventGroupUpdated, EventGroupDeleted, EventGroupMembersAdded, EventGroupMembersRemove}

// eventMask computes which types are stored, one bit per EventTypes entry.
func eventMask(want func(string) bool) uint32 {
	var m uint32
	if want == nil {
		return 0
	}
	for i, t := range EventTypes {
		if want(t) {
			m |= 1 << i
		}
	}
	return m
}

// wants reports whether events of typ are stored: only types some
// configured endpoint subscribes to are, so a server without webhooks
// writes no outbox rows at all.
func (s *Store) wants(typ string) bool {
	if s.hookMask == 0 {
		return false
	}
	for i, t := range EventTypes {
		if t == typ {
			return s.hookMask&(1<<i) != 0
		}
	}
	return false
}

var msgEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newMsgID is a webhook-id: "msg_" and 128 random bits, unique per event
// (Standard Webhooks: the same id on every attempt lets receivers drop
// duplicates).
func newMsgID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return "msg_" + strings.ToLower(msgEncoding.EncodeToString(b[:]))
}

// emitResource stores an event whose data is the resource as GET returns
// it after the change: its meta and, for a user, its groups, and empty data,
// which says that the document is the one the resource's row holds; the
// caller has just written it. The event does not copy the document: that
// would write it twice per change. The row's event_seq names the event, so
// that, should the row's document change or the row go away while the
// event is kept, triggers (migration 0012) first copy the old document
// into the event: its content never changes. The webhook package renders
// it when it delivers.
func (s *Store) emitResource(tx *sql.Tx, typ string, r *Resource) error {
	ev, err := s.insertEvent(tx, typ, r)
	if ev == nil || err != nil {
		return err
	}
	table := "users"
	if strings.HasPrefix(typ, "group.") {
		table = "groups"
	}
	q := s.writeQ(tx)
	if r.seq != 0 {
		_, err = q.Exec(`UPDATE `+table+` SET event_seq = ? WHERE seq = ?`, ev, r.seq)
	} else {
		_, err = q.Exec(`UPDATE `+table+` SET event_seq = ? WHERE id = ?`, ev, r.ID)
	}
	return classify(err)
}

// insertEvent is emitResource without naming the event in the resource's
// row, for a row not yet inserted: the caller inserts it with event_seq
// set to the returned seq. It returns nil when no endpoint wants the type.
func (s *Store) insertEvent(tx *sql.Tx, typ string, r *Resource) (any, error) {
	if !s.wants(typ) {
		return nil, nil
	}
	var refs any
	if g, ok := r.Doc["groups"].([]any); ok && len(g) > 0 {
		b, err := json.Marshal(g)
		if err != nil {
			return nil, err
		}
		refs = string(b)
	}
	res, err := s.writeQ(tx).Exec(`INSERT INTO outbox (msg_id, type, time, resource_id, data, created, modified, version, refs)
		VALUES (?, ?, ?, ?, '', ?, ?, ?, ?)`, newMsgID(), typ, s.stamp(), r.ID, r.Created, r.Modified, r.Version, refs)
	if err != nil {
		return nil, classify(err)
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return nil, err
	}
	s.emitted.Store(true)
	return seq, nil
}

// emitData stores an event whose data is final: *.deleted and
// group.members.*.
func (s *Store) emitData(tx *sql.Tx, typ, resourceID string, data map[string]any) error {
	if !s.wants(typ) {
		return nil
	}
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	if _, err := s.writeQ(tx).Exec(`INSERT INTO outbox (msg_id, type, time, resource_id, data) VALUES (?, ?, ?, ?, ?)`,
		newMsgID(), typ, s.stamp(), resourceID, string(b)); err != nil {
		return classify(err)
	}
	s.emitted.Store(true)
	return nil
}

// emitDeleted stores user.deleted or group.deleted: the id, the name and
// the externalId (when the resource had one), enough for a receiver to find
// its own record.
func (s *Store) emitDeleted(tx *sql.Tx, k *kind, id string, doc map[string]any) error {
	typ := EventUserDeleted
	if k == groups {
		typ = EventGroupDeleted
	}
	if !s.wants(typ) {
		return nil
	}
	data := map[string]any{"id": id, k.nameAttr: nameOf(k, doc)}
	if ext, ok := doc["externalId"].(string); ok {
		data["externalId"] = ext
	}
	return s.emitData(tx, typ, id, data)
}

// userEventType is the event of a change to a user: flipping active is
// deactivated or reactivated whatever else changed with it.
func userEventType(old, doc map[string]any) string {
	was, now := users.columns(old).active, users.columns(doc).active
	switch {
	case was && !now:
		return EventUserDeactivated
	case !was && now:
		return EventUserReactivated
	}
	return EventUserUpdated
}

// memberNet follows the net effect of one request's member changes on each
// member it touched, in the order first touched: a member removed and added
// again by the same PUT is no change.
type memberNet struct {
	order []memberRef
	by    map[memberRef]*netMember
}

type netMember struct {
	id  string
	net int // +1 added, -1 removed, 0 unchanged
}

func (n *memberNet) touch(ref memberRef, id string, delta int) {
	if n.by == nil {
		n.by = map[memberRef]*netMember{}
	}
	m, ok := n.by[ref]
	if !ok {
		m = &netMember{id: id}
		n.by[ref] = m
		n.order = append(n.order, ref)
	}
	m.net += delta
}

// list is the members whose net change is sign, as group.members.* lists
// them.
func (n *memberNet) list(sign int) []any {
	var out []any
	for _, ref := range n.order {
		if m := n.by[ref]; m.net == sign {
			typ := "User"
			if ref.kind == 1 {
				typ = "Group"
			}
			out = append(out, map[string]any{"value": m.id, "type": typ})
		}
	}
	return out
}

// wantsMembers reports whether member changes must be followed for events.
func (s *Store) wantsMembers() bool {
	return s.wants(EventGroupMembersAdded) || s.wants(EventGroupMembersRemove)
}

// oldMembers records every current member of a group as removed, before a
// replace deletes them all (members re-added by the replace cancel out).
func (s *Store) oldMembers(tx *sql.Tx, seq int64, n *memberNet) error {
	rows, err := s.writeQ(tx).Query(`SELECT m.member_kind, m.member_seq, coalesce(u.id, g.id, '') FROM members m
		LEFT JOIN users u ON m.member_kind = 0 AND u.seq = m.member_seq
		LEFT JOIN groups g ON m.member_kind = 1 AND g.seq = m.member_seq
		WHERE m.group_seq = ?`, seq)
	if err != nil {
		return classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			ref memberRef
			id  string
		)
		if err := rows.Scan(&ref.kind, &ref.seq, &id); err != nil {
			return err
		}
		n.touch(ref, id, -1)
	}
	return classify(rows.Err())
}

// emitMembers stores group.members.removed and group.members.added for the
// net member changes of one request.
func (s *Store) emitMembers(tx *sql.Tx, id string, doc map[string]any, n *memberNet) error {
	if n == nil {
		return nil
	}
	group := map[string]any{"id": id, "displayName": nameOf(groups, doc)}
	for _, c := range []struct {
		typ  string
		sign int
	}{{EventGroupMembersRemove, -1}, {EventGroupMembersAdded, +1}} {
		if l := n.list(c.sign); len(l) > 0 {
			if err := s.emitData(tx, c.typ, id, map[string]any{"group": group, "members": l}); err != nil {
				return err
			}
		}
	}
	return nil
}
