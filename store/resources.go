package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"scimd/scim"
)

// Actor says who made a change, for the provisioning log and for the
// token's idp-dependent PATCH semantics.
type Actor struct {
	Token string // token name
	IDP   string // entra, okta or generic
	Agent string // the client's User-Agent
	// ReadOnly is set for a token of scope "read"; the server refuses its
	// writes before they reach the store.
	ReadOnly bool
}

// Resource is a stored user or group as read back.
type Resource struct {
	seq      int64 // creation sequence number; 0 when unknown
	ID       string
	Doc      map[string]any // attributes, including members/groups when asked for
	Created  string
	Modified string
	Version  int64
	// Text is the stored JSON document (scim.AppendJSON's output) and
	// Groups a user's groups, instead of Doc, for a Query with Raw. A
	// created user has both Doc and Text.
	Text   []byte
	Groups []Member
	// inGroups: the user is a member of some group (ListPage's probe).
	inGroups bool
}

// Member is one member of a group, or one group of a user.
type Member struct {
	ID      string
	Display string
	Type    string // "User" or "Group"
}

// kind describes one resource table.
type kind struct {
	rt       func(*Store) *scim.ResourceType
	name     string // "User" or "Group"
	table    string
	nameAttr string // userName or displayName
	nameCol  string
	foldCol  string
	mkind    int // member_kind of this resource when it is a member
}

var (
	users = &kind{rt: func(s *Store) *scim.ResourceType { return s.cat.User }, name: "User", table: "users",
		nameAttr: "userName", nameCol: "user_name", foldCol: "user_name_fold", mkind: 0}
	groups = &kind{rt: func(s *Store) *scim.ResourceType { return s.cat.Group }, name: "Group", table: "groups",
		nameAttr: "displayName", nameCol: "display_name", foldCol: "display_name_fold", mkind: 1}
)

// Kind selects users or groups for the generic methods.
type Kind = *kind

// Name is the resource type's name, "User" or "Group".
func (k *kind) Name() string { return k.name }

// Users and Groups are the two resource kinds.
var (
	Users  Kind = users
	Groups Kind = groups
)

// ErrNotFound is returned for an id that does not exist.
var ErrNotFound = errors.New("store: not found")

func notFound(k *kind, id string) error {
	return scim.NotFound("%s %s not found", k.name, clipID(id))
}

func clipID(id string) string { return scim.Clip(id, 80) }

// newID returns the SCIM id of a new resource: a UUID of version 7
// (RFC 9562), the creation time in milliseconds followed by 74 random
// bits. Unguessable and stable, and case-sensitive as Okta requires, as a
// random (version 4) UUID is; but ids made one after another sort one
// after another, so the indexes keyed by id (the resource's own, and the
// audit log's by resource) take each new id at their end, on a page the
// other creates of the same commit write too, rather than on a random
// page each. That is about one WAL page in three fewer per create, which
// every commit writes and fsyncs and replication reads again. The time in
// the id is no secret: meta.created shows it.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[6:]); err != nil {
		panic(err)
	}
	ms := uint64(time.Now().UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// decodeDoc parses a stored document (scim.AppendJSON's output) with the
// fast parser; a document that cannot be read is an error, never a panic.
func decodeDoc(text string) (map[string]any, error) {
	return scim.DecodeDocument([]byte(text))
}

func encodeDoc(doc map[string]any) (string, error) {
	b, err := scim.AppendJSON(make([]byte, 0, 1024), doc)
	return string(b), err
}

// columns extracts the indexed columns of a document.
type columns struct {
	name, fold, externalID, displayName string
	hasExternal, hasDisplay             bool
	active                              bool
}

func (k *kind) columns(doc map[string]any) columns {
	var c columns
	c.name, _ = doc[k.nameAttr].(string)
	c.fold = scim.NameKey(c.name)
	c.externalID, c.hasExternal = doc["externalId"].(string)
	c.displayName, c.hasDisplay = doc["displayName"].(string)
	c.active = true
	if a, ok := doc["active"].(bool); ok {
		c.active = a
	}
	return c
}

func nullable(s string, ok bool) any {
	if !ok {
		return nil
	}
	return s
}

// Create stores a new resource. For a group, doc's members become its
// member set.
func (s *Store) Create(ctx context.Context, a Actor, k Kind, doc map[string]any) (*Resource, error) {
	rt := k.rt(s)
	if err := rt.Validate(doc); err != nil {
		return nil, err
	}
	var members []string
	if k == groups {
		members = memberIDs(doc)
		delete(doc, "members")
	}
	text, err := encodeDoc(doc)
	if err != nil {
		return nil, err
	}
	var out *Resource
	err = s.writeDir(ctx, func(tx *sql.Tx) error {
		if k == users {
			r, done, err := s.reactivate(tx, a, doc)
			if err != nil || done {
				out = r
				return err
			}
		}
		if err := s.checkUnique(tx, k, doc, 0); err != nil {
			return err
		}
		typ := EventUserCreated
		if k == groups {
			typ = EventGroupCreated
		}
		// group.created carries no members: it is written with the row,
		// before them; group.members.added follows with them.
		r, err := s.insertText(tx, k, doc, text, typ)
		if err != nil {
			return err
		}
		if k == users {
			r.Text = []byte(text) // for a response sent from it (Query.Raw)
		}
		var d memberDelta
		if k == groups && len(members) > 0 {
			if d, err = s.applyMembers(tx, r.seq, []scim.MemberChange{{Kind: scim.MemberReplace, IDs: members}}); err != nil {
				return err
			}
		}
		if err := s.emitMembers(tx, r.ID, doc, d.net); err != nil {
			return err
		}
		if k == groups { // a new user is in no group yet
			if err := s.fill(s.writeQ(tx), k, r); err != nil {
				return err
			}
		}
		out = r
		return s.logChange(tx, a, "create", k, r.ID, nameOf(k, doc), sortedKeys(doc))
	})
	return out, err
}

func (s *Store) insert(tx *sql.Tx, k *kind, doc map[string]any) (*Resource, error) {
	text, err := encodeDoc(doc)
	if err != nil {
		return nil, err
	}
	return s.insertText(tx, k, doc, text, "")
}

// insertText is insert with the document already encoded, so callers can
// encode outside the writer goroutine. event, unless "", is the type of
// the event whose data the new row's document is (emitResource): it is
// written first, so that the row names it (event_seq) as it is inserted
// rather than in an UPDATE after.
func (s *Store) insertText(tx *sql.Tx, k *kind, doc map[string]any, text, event string) (*Resource, error) {
	now := s.stamp()
	r := &Resource{ID: newID(), Doc: doc, Created: now, Modified: now, Version: 1}
	var seq any
	if event != "" {
		var err error
		if seq, err = s.insertEvent(tx, event, r); err != nil {
			return nil, err
		}
	}
	if err := s.insertRow(tx, k, r, text, seq); err != nil {
		return nil, err
	}
	return r, nil
}

// insertRow stores r (id, dates, version and document text) as a new row
// and sets r.seq to the row's number, which SQLite picks. event is the
// outbox event whose data the row holds (emitResource), or nil.
func (s *Store) insertRow(tx *sql.Tx, k *kind, r *Resource, text string, event any) error {
	var err error
	c := k.columns(r.Doc)
	var res sql.Result
	if k == users {
		res, err = s.writeQ(tx).Exec(`INSERT INTO users (id, user_name, user_name_fold, external_id, display_name, active, doc, created, modified, version, event_seq)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, c.name, c.fold, nullable(c.externalID, c.hasExternal), nullable(c.displayName, c.hasDisplay), c.active, text, r.Created, r.Modified, r.Version, event)
	} else {
		res, err = s.writeQ(tx).Exec(`INSERT INTO groups (id, display_name, display_name_fold, external_id, doc, created, modified, version, event_seq)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, c.name, c.fold, nullable(c.externalID, c.hasExternal), text, r.Created, r.Modified, r.Version, event)
	}
	if err != nil {
		return s.conflict(tx, k, c.name, 0, err)
	}
	r.seq, _ = res.LastInsertId()
	return s.putAttrs(tx, k, r.seq, r.Doc)
}

// conflict turns a failed insert or update of the resource numbered self (0
// for a new one) into the error to answer. A UNIQUE violation on the name
// is a 409 naming the resource that holds the name. A violation the name
// does not explain is not the client's doing: it stays an internal error,
// because a 409 must only ever point at a resource that exists and can be
// found (issue 11: a reused row number was once reported as a taken
// userName that no one could find).
func (s *Store) conflict(tx *sql.Tx, k *kind, name string, self int64, err error) error {
	if !isUnique(err) {
		return classify(err)
	}
	var holder string
	if e := s.writeQ(tx).QueryRow(`SELECT id FROM `+k.table+` WHERE `+k.foldCol+` = ? AND seq != ?`, scim.NameKey(name), self).Scan(&holder); e != nil {
		return fmt.Errorf("store: writing %s %q: %w", k.name, clipID(name), err)
	}
	return nameTaken(k, name, holder)
}

// nameTaken is the 409 for a userName or group displayName that the
// resource holder has already (RFC 7644 §3.3: uniqueness). The detail
// names the holder's id, so the client can look at it.
func nameTaken(k *kind, name, holder string) error {
	if k == users {
		return scim.Uniqueness("userName %q is already taken by the user %s (userName is unique, ignoring case)", clipID(name), holder)
	}
	return scim.Uniqueness("displayName %q is already taken by the group %s (group names are unique, ignoring case)", clipID(name), holder)
}

func nameOf(k *kind, doc map[string]any) string {
	n, _ := doc[k.nameAttr].(string)
	return n
}

func memberIDs(doc map[string]any) []string {
	l, _ := doc["members"].([]any)
	ids := make([]string, 0, len(l))
	for _, el := range l {
		if m, ok := el.(map[string]any); ok {
			if id, ok := m["value"].(string); ok {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

// Get reads one resource. withRefs adds a group's members or a user's
// groups; a GET with excludedAttributes=members passes false and never
// touches the member table.
//
// The two reads are not one snapshot: a membership change landing between
// them shows in the answer, as it would a moment later anyway.
func (s *Store) Get(ctx context.Context, k Kind, id string, withRefs bool) (*Resource, error) {
	bctx, cancel := s.budget(ctx)
	defer cancel()
	q := s.ctxQ(bctx, s.r)
	r, _, err := s.load(q, k, id)
	if err != nil {
		return nil, s.overBudget(ctx, bctx, err)
	}
	if withRefs {
		if err := s.fill(q, k, r); err != nil {
			return nil, s.overBudget(ctx, bctx, err)
		}
	}
	return r, nil
}

type querier interface {
	QueryRow(query string, args ...any) *sql.Row
	Query(query string, args ...any) (*sql.Rows, error)
}

func (s *Store) load(q querier, k *kind, id string) (*Resource, int64, error) {
	var (
		r    Resource
		seq  int64
		text string
	)
	err := q.QueryRow(`SELECT seq, id, doc, created, modified, version FROM `+k.table+` WHERE id = ?`, id).
		Scan(&seq, &r.ID, &text, &r.Created, &r.Modified, &r.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, notFound(k, id)
	}
	if err != nil {
		return nil, 0, classify(err)
	}
	if r.Doc, err = decodeDoc(text); err != nil {
		return nil, 0, err
	}
	r.seq = seq
	return &r, seq, nil
}

func (s *Store) seqOf(q querier, k *kind, id string) (int64, error) {
	var seq int64
	err := q.QueryRow(`SELECT seq FROM `+k.table+` WHERE id = ?`, id).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, notFound(k, id)
	}
	return seq, err
}

// fill adds members (group) or groups (user) to r.Doc.
func (s *Store) fill(q querier, k *kind, r *Resource) error {
	seq, err := r.seq, error(nil)
	if seq == 0 {
		if seq, err = s.seqOf(q, k, r.ID); err != nil {
			return err
		}
	}
	if k == groups {
		l := []any{}
		err := s.eachMember(q, seq, func(m Member) {
			l = append(l, scim.MemberRef{Value: m.ID, Display: m.Display, Type: m.Type})
		})
		r.Doc["members"] = l
		return err
	}
	rows, err := q.Query(`SELECT g.id, g.display_name FROM members m JOIN groups g ON g.seq = m.group_seq
		WHERE m.member_kind = 0 AND m.member_seq = ? ORDER BY g.seq`, seq)
	if err != nil {
		return classify(err)
	}
	defer rows.Close()
	var l []any
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			return err
		}
		l = append(l, map[string]any{"value": id, "display": name, "type": "direct"})
	}
	if len(l) > 0 {
		r.Doc["groups"] = l
	}
	return rows.Err()
}

func (s *Store) membersOf(q querier, groupSeq int64) ([]Member, error) {
	var out []Member
	err := s.eachMember(q, groupSeq, func(m Member) { out = append(out, m) })
	return out, err
}

// eachMember calls fn for each member of a group, users first.
func (s *Store) eachMember(q querier, groupSeq int64, fn func(Member)) error {
	rows, err := q.Query(`SELECT u.id, coalesce(u.display_name, u.user_name), 'User' FROM members m JOIN users u ON u.seq = m.member_seq
			WHERE m.group_seq = ? AND m.member_kind = 0
		UNION ALL
		SELECT g.id, g.display_name, 'Group' FROM members m JOIN groups g ON g.seq = m.member_seq
			WHERE m.group_seq = ? AND m.member_kind = 1`, groupSeq, groupSeq)
	if err != nil {
		return classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		var m Member
		if err := rows.Scan(&m.ID, &m.Display, &m.Type); err != nil {
			return err
		}
		fn(m)
	}
	return classify(rows.Err())
}

// Members lists a group's members.
func (s *Store) Members(ctx context.Context, groupID string) ([]Member, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	seq, err := s.seqOf(s.readQ(tx), groups, groupID)
	if err != nil {
		return nil, err
	}
	return s.membersOf(s.readQ(tx), seq)
}

// Replace is PUT: doc becomes the whole resource (RFC 7644 §3.5.1). For a
// group, doc's members become the member set.
func (s *Store) Replace(ctx context.Context, a Actor, k Kind, id string, doc map[string]any, ifMatch string) (*Resource, error) {
	rt := k.rt(s)
	if err := rt.Validate(doc); err != nil {
		return nil, err
	}
	var changes []scim.MemberChange
	if k == groups {
		changes = []scim.MemberChange{{Kind: scim.MemberReplace, IDs: memberIDs(doc)}}
		delete(doc, "members")
	}
	var out *Resource
	err := s.writeDir(ctx, func(tx *sql.Tx) error {
		old, seq, err := s.load(s.writeQ(tx), k, id)
		if err != nil {
			return err
		}
		if ifMatch != "" && !scim.MatchETag(ifMatch, old.Version) {
			return scim.PreconditionFailed("%s %s has changed (version %s); read it again and retry", k.name, id, scim.ETag(old.Version))
		}
		rt.Carry(old.Doc, doc)
		r, err := s.update(tx, a, k, seq, old, doc, changes, "replace", "")
		if err == nil && k == groups { // PUT answers with the whole group
			err = s.fill(s.writeQ(tx), k, r)
		}
		out = r
		return err
	})
	return out, err
}

// Patch applies PATCH operations atomically: all of them or none.
func (s *Store) Patch(ctx context.Context, a Actor, k Kind, id string, ops []scim.PatchOp, opt scim.PatchOptions, ifMatch string) (*Resource, error) {
	rt := k.rt(s)
	// The work is done optimistically on a snapshot read outside the
	// writer, so the single writer goroutine only checks that the version
	// is still the one patched and stores the result. Only when another
	// write got in between is the PATCH applied again inside the writer.
	type prepared struct {
		old     *Resource
		doc     map[string]any
		changes []scim.MemberChange
		text    string
	}
	apply := func(old *Resource) (*prepared, error) {
		doc := scim.DeepCopy(old.Doc).(map[string]any)
		changes, err := rt.ApplyPatch(doc, ops, opt)
		if err != nil {
			return nil, err
		}
		if err := rt.Validate(doc); err != nil {
			return nil, err
		}
		text, err := encodeDoc(doc)
		if err != nil {
			return nil, err
		}
		return &prepared{old, doc, changes, text}, nil
	}
	var pre *prepared
	if snap, _, err := s.load(s.autoQ(), k, id); err == nil {
		if ifMatch == "" || scim.MatchETag(ifMatch, snap.Version) {
			if pre, err = apply(snap); err != nil {
				return nil, err
			}
		}
	}
	var out *Resource
	err := s.writeDir(ctx, func(tx *sql.Tx) error {
		var (
			seq, version int64
		)
		err := s.writeQ(tx).QueryRow(`SELECT seq, version FROM `+k.table+` WHERE id = ?`, id).Scan(&seq, &version)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(k, id)
		}
		if err != nil {
			return classify(err)
		}
		if ifMatch != "" && !scim.MatchETag(ifMatch, version) {
			return scim.PreconditionFailed("%s %s has changed (version %s); read it again and retry", k.name, id, scim.ETag(version))
		}
		p := pre
		if p == nil || p.old.Version != version {
			old, _, err := s.load(s.writeQ(tx), k, id)
			if err != nil {
				return err
			}
			if p, err = apply(old); err != nil {
				return err
			}
		}
		r, err := s.update(tx, a, k, seq, p.old, p.doc, p.changes, "patch", p.text)
		out = r
		return err
	})
	return out, err
}

// update writes a changed document and member changes, bumping the version
// only when something changed.
//
// text is doc already encoded, or "" to encode it here.
func (s *Store) update(tx *sql.Tx, a Actor, k *kind, seq int64, old *Resource, doc map[string]any, changes []scim.MemberChange, op, text string) (*Resource, error) {
	changed := changedKeys(old.Doc, doc)
	memberChanged := false
	var d memberDelta
	if len(changes) > 0 {
		var err error
		d, err = s.applyMembers(tx, seq, changes)
		if err != nil {
			return nil, err
		}
		memberChanged = d.added > 0 || d.removed > 0
		if d.added > 0 {
			if err := s.logEvent(tx, a, "member add", k, old.ID, nameOf(k, doc), []string{"members"}, memberDetail(d.added, d.addedIDs)); err != nil {
				return nil, err
			}
		}
		if d.removed > 0 {
			if err := s.logEvent(tx, a, "member remove", k, old.ID, nameOf(k, doc), []string{"members"}, memberDetail(d.removed, d.removedIDs)); err != nil {
				return nil, err
			}
		}
	}
	r := &Resource{ID: old.ID, Doc: doc, Created: old.Created, Modified: old.Modified, Version: old.Version}
	if len(changed) > 0 {
		if err := s.checkUnique(tx, k, doc, seq); err != nil {
			return nil, err
		}
	}
	if len(changed) > 0 || memberChanged {
		r.Modified = s.stamp()
		r.Version++
		if text == "" {
			var err error
			if text, err = encodeDoc(doc); err != nil {
				return nil, err
			}
		}
		var err error
		c := k.columns(doc)
		if k == users {
			_, err = s.writeQ(tx).Exec(`UPDATE users SET user_name = ?, user_name_fold = ?, external_id = ?, display_name = ?, active = ?,
				doc = ?, modified = ?, version = ? WHERE seq = ?`,
				c.name, c.fold, nullable(c.externalID, c.hasExternal), nullable(c.displayName, c.hasDisplay), c.active, text, r.Modified, r.Version, seq)
		} else {
			_, err = s.writeQ(tx).Exec(`UPDATE groups SET display_name = ?, display_name_fold = ?, external_id = ?, doc = ?, modified = ?, version = ? WHERE seq = ?`,
				c.name, c.fold, nullable(c.externalID, c.hasExternal), text, r.Modified, r.Version, seq)
		}
		if err != nil {
			return nil, s.conflict(tx, k, c.name, seq, err)
		}
		if len(changed) > 0 {
			if err := s.putAttrs(tx, k, seq, doc); err != nil {
				return nil, err
			}
		}
	}
	if len(changed) > 0 {
		logOp := op
		if k == users && len(changed) == 1 && changed[0] == "active" {
			if a, _ := doc["active"].(bool); a {
				logOp = "enable"
			} else if _, ok := doc["active"]; ok {
				logOp = "disable"
			}
		}
		if err := s.logChange(tx, a, logOp, k, old.ID, nameOf(k, doc), changed); err != nil {
			return nil, err
		}
	}
	// A user's groups are few and part of the 200 response. A group's
	// members can be 100,000: update never reads them back, so the cost of
	// a member change stays independent of the group's size (PATCH answers
	// 204; Replace reads them for its answer).
	if k == users {
		if err := s.fill(s.writeQ(tx), k, r); err != nil {
			return nil, err
		}
	}
	if len(changed) > 0 {
		typ := EventGroupUpdated
		if k == users {
			typ = userEventType(old.Doc, doc)
		}
		if err := s.emitResource(tx, typ, r); err != nil {
			return nil, err
		}
	}
	if err := s.emitMembers(tx, old.ID, doc, d.net); err != nil {
		return nil, err
	}
	return r, nil
}

// changedKeys lists the top-level attributes whose values differ.
func changedKeys(a, b map[string]any) []string {
	var out []string
	for k, v := range b {
		if w, ok := a[k]; !ok || !reflect.DeepEqual(v, w) {
			out = append(out, k)
		}
	}
	for k := range a {
		if k == "members" || k == "groups" {
			continue
		}
		if _, ok := b[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// memberDelta is what applyMembers changed: counts, and the ids named by
// the request that were actually added or removed (a replace also removes
// members the request did not name; those are counted, not listed).
type memberDelta struct {
	added, removed       int64
	addedIDs, removedIDs []string
	// net is the exact change per member, followed only when webhook
	// events for members are stored (nil otherwise).
	net *memberNet
}

// memberDetail describes a member change for the provisioning log: how many
// and the first ids (member ids are not secrets; attribute values are not
// logged).
func memberDetail(n int64, ids []string) string {
	const show = 10
	d := fmt.Sprintf("%d member(s)", n)
	if len(ids) > 0 {
		d += ": " + strings.Join(ids[:min(show, len(ids))], ", ")
		if len(ids) > show {
			d += fmt.Sprintf(" (+%d more)", len(ids)-show)
		}
	}
	return d
}

// applyMembers applies set operations in order and reports how many rows
// were added and removed. Unknown ids in an add are refused (the request
// fails as a whole); unknown ids in a remove are ignored, so a retried
// removal succeeds.
func (s *Store) applyMembers(tx *sql.Tx, seq int64, changes []scim.MemberChange) (memberDelta, error) {
	var d memberDelta
	if s.wantsMembers() {
		d.net = &memberNet{}
	}
	q := s.writeQ(tx)
	for _, c := range changes {
		if c.Kind == scim.MemberReplace {
			if d.net != nil {
				if err := s.oldMembers(tx, seq, d.net); err != nil {
					return d, err
				}
			}
			res, err := s.writeQ(tx).Exec(`DELETE FROM members WHERE group_seq = ?`, seq)
			if err != nil {
				return d, classify(err)
			}
			n, _ := res.RowsAffected()
			d.removed += n
		}
		refs, err := s.resolveMembers(tx, c.IDs)
		if err != nil {
			return d, err
		}
		for _, id := range c.IDs {
			ref, ok := refs[id]
			mk, mseq := ref.kind, ref.seq
			if !ok {
				if c.Kind == scim.MemberRemove {
					continue
				}
				return d, scim.InvalidValue("members: no user or group has the id %q", clipID(id))
			}
			if mk == 1 && mseq == seq {
				return d, scim.InvalidValue("members: a group cannot be a member of itself")
			}
			stmt := `INSERT OR IGNORE INTO members (group_seq, member_kind, member_seq) VALUES (?, ?, ?)`
			if c.Kind == scim.MemberRemove {
				stmt = `DELETE FROM members WHERE group_seq = ? AND member_kind = ? AND member_seq = ?`
			}
			res, err := q.Exec(stmt, seq, mk, mseq)
			if err != nil {
				return d, classify(err)
			}
			if n, _ := res.RowsAffected(); n > 0 {
				if c.Kind == scim.MemberRemove {
					d.removed += n
					d.removedIDs = append(d.removedIDs, id)
				} else {
					d.added += n
					d.addedIDs = append(d.addedIDs, id)
				}
				if d.net != nil {
					delta := 1
					if c.Kind == scim.MemberRemove {
						delta = -1
					}
					d.net.touch(ref, id, delta)
				}
			}
		}
	}
	return d, nil
}

type memberRef struct {
	kind int
	seq  int64
}

// resolveMembers finds the users and groups that ids name, a chunk of ids
// per query: a 100-member PATCH costs two lookups, not a hundred.
func (s *Store) resolveMembers(tx *sql.Tx, ids []string) (map[string]memberRef, error) {
	out := make(map[string]memberRef, len(ids))
	const chunk = 64
	q := s.writeQ(tx)
	for kind, table := range []string{"users", "groups"} {
		var todo []string
		for _, id := range ids {
			if _, ok := out[id]; !ok {
				todo = append(todo, id)
			}
		}
		for len(todo) > 0 {
			n := min(chunk, len(todo))
			part := todo[:n]
			todo = todo[n:]
			// Pad to a fixed size so one prepared statement serves all.
			size := 1
			if n > 1 {
				size = chunk
			}
			args := make([]any, size)
			for i := range args {
				args[i] = part[min(i, n-1)]
			}
			rows, err := q.Query(`SELECT id, seq FROM `+table+` WHERE id IN (?`+strings.Repeat(", ?", size-1)+`)`, args...)
			if err != nil {
				return nil, classify(err)
			}
			for rows.Next() {
				var id string
				var seq int64
				if err := rows.Scan(&id, &seq); err != nil {
					rows.Close()
					return nil, err
				}
				out[id] = memberRef{kind, seq}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return nil, classify(err)
			}
		}
	}
	return out, nil
}

// Delete removes a resource and every membership it takes part in.
func (s *Store) Delete(ctx context.Context, a Actor, k Kind, id string, ifMatch string) error {
	return s.writeDir(ctx, func(tx *sql.Tx) error {
		old, seq, err := s.load(s.writeQ(tx), k, id)
		if err != nil {
			return err
		}
		if ifMatch != "" && !scim.MatchETag(ifMatch, old.Version) {
			return scim.PreconditionFailed("%s %s has changed (version %s); read it again and retry", k.name, id, scim.ETag(old.Version))
		}
		if _, err := s.writeQ(tx).Exec(`DELETE FROM members WHERE member_kind = ? AND member_seq = ?`, k.mkind, seq); err != nil {
			return classify(err)
		}
		if k == users && s.opt.OnDelete == "deactivate" {
			return s.softDelete(tx, a, seq, old)
		}
		if _, err := s.writeQ(tx).Exec(`DELETE FROM `+k.table+` WHERE seq = ?`, seq); err != nil {
			return classify(err)
		}
		// Only *.deleted: the memberships that went with it give no
		// group.members.removed (the receiver knows what a deletion means).
		if err := s.emitDeleted(tx, k, id, old.Doc); err != nil {
			return err
		}
		return s.logChange(tx, a, "delete", k, id, nameOf(k, old.Doc), nil)
	})
}

// logChange records one change in the provisioning log, inside the
// change's own transaction.
func (s *Store) logChange(tx *sql.Tx, a Actor, op string, k *kind, id, name string, attrs []string) error {
	return s.logEvent(tx, a, op, k, id, name, attrs, "")
}

// logEvent is logChange with a detail (which members changed).
func (s *Store) logEvent(tx *sql.Tx, a Actor, op string, k *kind, id, name string, attrs []string, detail string) error {
	if attrs == nil {
		attrs = []string{}
	}
	b, _ := json.Marshal(attrs)
	_, err := s.writeQ(tx).Exec(`INSERT INTO events (time, token, agent, op, resource_type, resource_id, name, attrs, status, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, 200, ?)`, s.stamp(), a.Token, a.Agent, op, k.name, id, name, string(b), detail)
	return classify(err)
}
