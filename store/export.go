package store

// Exports: every user or group, streamed in creation order with constant
// memory, as SCIM documents (JSON) or flattened to a fixed set of CSV
// columns derived from the schema catalogue.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"scimd/scim"
)

// ScanOptions selects the resources Scan and Count visit.
type ScanOptions struct {
	Filter scim.Expr // a parsed SCIM filter; nil selects all
	Active *bool     // users only: only active (true) or inactive (false) users
}

// scanBatch is how many resources Scan reads per query. Memory use is
// bounded by one batch, whatever the size of the directory.
var scanBatch = 1000

func (s *Store) scanWhere(k *kind, opt ScanOptions) (string, []any, error) {
	c := &compiler{rt: k.rt(s), k: k, table: k.table}
	where := "1"
	if opt.Filter != nil {
		w, err := c.expr(opt.Filter)
		if err != nil {
			return "", nil, err
		}
		where = w
	}
	if opt.Active != nil && k == users {
		n := 0
		if *opt.Active {
			n = 1
		}
		where = "(" + where + ") AND users.active = " + c.arg(n)
	}
	return where, c.args, nil
}

// Count returns how many resources Scan would visit.
func (s *Store) Count(ctx context.Context, k Kind, opt ScanOptions) (int64, error) {
	where, args, err := s.scanWhere(k, opt)
	if err != nil {
		return 0, err
	}
	var n int64
	err = s.r.QueryRowContext(ctx, `SELECT count(*) FROM `+k.table+` WHERE `+where, args...).Scan(&n)
	return n, classify(err)
}

// Scan calls fn for every matching resource in creation order, with its
// references: a user's groups (display = the group's displayName) or a
// group's members (display = the member's userName, or a member group's
// displayName). It reads one snapshot: a server writing meanwhile changes
// nothing Scan sees. Rows are read in keyset-ordered batches (seq > last),
// so memory stays constant however many resources there are.
func (s *Store) Scan(ctx context.Context, k Kind, opt ScanOptions, fn func(*Resource) error) error {
	where, args, err := s.scanWhere(k, opt)
	if err != nil {
		return err
	}
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return classify(err)
	}
	defer tx.Rollback()
	var last int64
	for {
		batch, seqs, err := s.scanPage(ctx, tx, k, where, append(append([]any{}, args...), last, scanBatch))
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		if k == users {
			err = s.attachGroups(ctx, tx, batch, seqs)
		} else {
			err = s.attachMembers(ctx, tx, batch, seqs)
		}
		if err != nil {
			return err
		}
		for _, r := range batch {
			if err := fn(r); err != nil {
				return err
			}
		}
		last = seqs[len(seqs)-1]
		if len(batch) < scanBatch {
			return nil
		}
	}
}

func (s *Store) scanPage(ctx context.Context, tx *sql.Tx, k *kind, where string, args []any) ([]*Resource, []int64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT seq, id, doc, created, modified, version FROM `+k.table+
		` WHERE (`+where+`) AND `+k.table+`.seq > ? ORDER BY `+k.table+`.seq LIMIT ?`, args...)
	if err != nil {
		return nil, nil, classify(err)
	}
	defer rows.Close()
	var (
		out  []*Resource
		seqs []int64
	)
	for rows.Next() {
		var (
			r    Resource
			seq  int64
			text string
		)
		if err := rows.Scan(&seq, &r.ID, &text, &r.Created, &r.Modified, &r.Version); err != nil {
			return nil, nil, err
		}
		if r.Doc, err = decodeDoc(text); err != nil {
			return nil, nil, err
		}
		out = append(out, &r)
		seqs = append(seqs, seq)
	}
	return out, seqs, classify(rows.Err())
}

// attachGroups adds each user's groups with one query for the whole batch
// (its seq range), using the members_member index.
func (s *Store) attachGroups(ctx context.Context, tx *sql.Tx, batch []*Resource, seqs []int64) error {
	bySeq := make(map[int64]*Resource, len(batch))
	for i, r := range batch {
		bySeq[seqs[i]] = r
	}
	rows, err := tx.QueryContext(ctx, `SELECT m.member_seq, g.id, g.display_name FROM members m JOIN groups g ON g.seq = m.group_seq
		WHERE m.member_kind = 0 AND m.member_seq BETWEEN ? AND ? ORDER BY m.member_seq, g.seq`, seqs[0], seqs[len(seqs)-1])
	if err != nil {
		return classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			seq      int64
			id, name string
		)
		if err := rows.Scan(&seq, &id, &name); err != nil {
			return err
		}
		r, ok := bySeq[seq]
		if !ok {
			continue // in the seq range but not selected
		}
		l, _ := r.Doc["groups"].([]any)
		r.Doc["groups"] = append(l, map[string]any{"value": id, "display": name, "type": "direct"})
	}
	return classify(rows.Err())
}

// attachMembers adds each group's members, one query per group: a group's
// member list is the unit an export holds in memory.
func (s *Store) attachMembers(ctx context.Context, tx *sql.Tx, batch []*Resource, seqs []int64) error {
	for i, r := range batch {
		rows, err := tx.QueryContext(ctx, `SELECT u.id, u.user_name, 'User' FROM members m JOIN users u ON u.seq = m.member_seq
				WHERE m.group_seq = ? AND m.member_kind = 0
			UNION ALL
			SELECT g.id, g.display_name, 'Group' FROM members m JOIN groups g ON g.seq = m.member_seq
				WHERE m.group_seq = ? AND m.member_kind = 1`, seqs[i], seqs[i])
		if err != nil {
			return classify(err)
		}
		l := []any{}
		for rows.Next() {
			var id, name, typ string
			if err := rows.Scan(&id, &name, &typ); err != nil {
				rows.Close()
				return err
			}
			l = append(l, map[string]any{"value": id, "display": name, "type": typ})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return classify(err)
		}
		r.Doc["members"] = l
	}
	return nil
}

// FindUser reads one user, named by id or by userName (ignoring case as
// SCIM does), with its groups as Scan gives them. An unknown user is
// ErrNotFound.
func (s *Store) FindUser(ctx context.Context, key string) (*Resource, error) {
	return s.find(ctx, users, key)
}

// FindGroup reads one group, named by id or by displayName (ignoring case),
// with its members as Scan gives them (userNames). An unknown group is
// ErrNotFound.
func (s *Store) FindGroup(ctx context.Context, key string) (*Resource, error) {
	return s.find(ctx, groups, key)
}

func (s *Store) find(ctx context.Context, k *kind, key string) (*Resource, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, classify(err)
	}
	defer tx.Rollback()
	var seq int64
	err = tx.QueryRowContext(ctx, `SELECT seq FROM `+k.table+` WHERE id = ?`, key).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		err = tx.QueryRowContext(ctx, `SELECT seq FROM `+k.table+` WHERE `+k.foldCol+` = ?`, scim.NameKey(key)).Scan(&seq)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, classify(err)
	}
	batch, seqs, err := s.scanPage(ctx, tx, k, k.table+".seq = ?", []any{seq, 0, 1})
	if err != nil {
		return nil, err
	}
	if len(batch) == 0 {
		return nil, ErrNotFound
	}
	if k == users {
		err = s.attachGroups(ctx, tx, batch, seqs)
	} else {
		err = s.attachMembers(ctx, tx, batch, seqs)
	}
	if err != nil {
		return nil, err
	}
	return batch[0], nil
}

// Document renders a resource as the SCIM representation an export writes:
// schemas, id, the stored attributes, references, and meta without a
// location (an export has no base URL).
func (s *Store) Document(k Kind, r *Resource) map[string]any {
	rt := k.rt(s)
	doc := rt.Visible(r.Doc) // attributes whose declaration was removed stay hidden
	out := make(map[string]any, len(doc)+3)
	schemas := []any{rt.Schema.ID}
	for _, e := range rt.Extensions {
		if _, ok := doc[e.ID]; ok {
			schemas = append(schemas, e.ID)
		}
	}
	for key, v := range doc {
		out[key] = v
	}
	if k == groups {
		if _, ok := out["members"]; !ok {
			out["members"] = []any{}
		}
	}
	out["schemas"] = schemas
	out["id"] = r.ID
	out["meta"] = map[string]any{"resourceType": rt.Name, "created": r.Created, "lastModified": r.Modified, "version": scim.ETag(r.Version)}
	return out
}

// Column is one CSV column of an export: its header and how its cell is read
// from a Document.
type Column struct {
	Header string
	cell   func(doc map[string]any) string
}

// Cell returns the column's text for a document ("" when absent).
func (c Column) Cell(doc map[string]any) string { return c.cell(doc) }

// multiSep joins several values in one CSV cell.
const multiSep = ";"

// Columns is the fixed CSV column set of a resource kind, derived from the
// schema catalogue (so every column is known before the first row is
// written, and the header never depends on the data):
//
//   - id, externalId, then each attribute of the core schema in schema
//     order, operator attributes included; password is never stored;
//   - a single-valued complex attribute gives one column per
//     sub-attribute: name.givenName, name.familyName, …;
//   - a multi-valued attribute whose type has canonical values gives one
//     column per type: emails.work, phoneNumbers.mobile, and for elements
//     without a value sub-attribute one per type and sub-attribute:
//     addresses.work.locality; elements with no type or another type go in
//     the plain column (emails, addresses.locality);
//   - other multi-valued attributes give one column (roles, entitlements);
//   - several values in one cell are joined with ";";
//   - a user's groups are their displayNames (groups); a group's members
//     are userNames (members) and member groups' displayNames
//     (memberGroups);
//   - the enterprise extension's attributes are prefixed "enterprise."
//     (enterprise.employeeNumber, enterprise.manager.value); other
//     extensions' attributes keep their full URN (urn:…:User:badge);
//   - meta.created and meta.lastModified close the row.
func (s *Store) Columns(k Kind) []Column {
	rt := k.rt(s)
	top := func(doc map[string]any) map[string]any { return doc }
	cols := []Column{
		{"id", func(doc map[string]any) string { return cellText(doc["id"]) }},
		{"externalId", func(doc map[string]any) string { return cellText(doc["externalId"]) }},
	}
	for _, a := range rt.Schema.Attributes {
		switch {
		case a.Mutability == scim.WriteOnly || a.Returned == scim.ReturnNever:
			continue
		case k == users && a.Name == "groups":
			cols = append(cols, Column{"groups", refCells("")})
			continue
		case k == groups && a.Name == "members":
			cols = append(cols, Column{"members", refCells("User")}, Column{"memberGroups", refCells("Group")})
			continue
		}
		cols = append(cols, attrColumns("", a, top)...)
	}
	for _, e := range rt.Extensions {
		prefix := e.ID + ":"
		if e.ID == scim.EnterpriseSchema {
			prefix = "enterprise."
		}
		id := e.ID
		in := func(doc map[string]any) map[string]any { m, _ := doc[id].(map[string]any); return m }
		for _, a := range e.Attributes {
			if a.Mutability == scim.WriteOnly || a.Returned == scim.ReturnNever {
				continue
			}
			cols = append(cols, attrColumns(prefix, a, in)...)
		}
	}
	meta := func(key string) func(map[string]any) string {
		return func(doc map[string]any) string { m, _ := doc["meta"].(map[string]any); return cellText(m[key]) }
	}
	return append(cols, Column{"meta.created", meta("created")}, Column{"meta.lastModified", meta("lastModified")})
}

// refCells reads a user's groups or a group's members of one type ("" for
// any) as their display names.
func refCells(typ string) func(map[string]any) string {
	key := "members"
	if typ == "" {
		key = "groups"
	}
	return func(doc map[string]any) string {
		l, _ := doc[key].([]any)
		var out []string
		for _, el := range l {
			m, _ := el.(map[string]any)
			if typ != "" && m["type"] != typ {
				continue
			}
			out = append(out, cellText(m["display"]))
		}
		return strings.Join(out, multiSep)
	}
}

func attrColumns(prefix string, a *scim.Attribute, in func(map[string]any) map[string]any) []Column {
	name := prefix + a.Name
	get := func(doc map[string]any) any { return in(doc)[a.Name] }
	switch {
	case !a.MultiValued && a.Type != scim.TypeComplex:
		return []Column{{name, func(doc map[string]any) string { return cellText(get(doc)) }}}
	case !a.MultiValued:
		var cols []Column
		for _, sub := range a.SubAttributes {
			if sub.Name == "$ref" {
				continue
			}
			sn := sub.Name
			cols = append(cols, Column{name + "." + sn, func(doc map[string]any) string {
				m, _ := get(doc).(map[string]any)
				return cellText(m[sn])
			}})
		}
		return cols
	case a.Type != scim.TypeComplex:
		return []Column{{name, func(doc map[string]any) string {
			l, _ := get(doc).([]any)
			out := make([]string, 0, len(l))
			for _, v := range l {
				out = append(out, cellText(v))
			}
			return strings.Join(out, multiSep)
		}}}
	}
	// Multi-valued complex: which sub-attributes carry the data.
	var fields []string
	if a.Sub("value") != nil {
		fields = []string{"value"}
	} else {
		for _, sub := range a.SubAttributes {
			if sub.Name != "type" && sub.Name != "primary" && sub.Name != "$ref" {
				fields = append(fields, sub.Name)
			}
		}
	}
	header := func(typ, field string) string {
		h := name
		if typ != "" {
			h += "." + typ
		}
		if field != "value" {
			h += "." + field
		}
		return h
	}
	var types []string
	if t := a.Sub("type"); t != nil {
		types = t.CanonicalValues
	}
	// match selects the elements of one column: those of type typ, or
	// (typ "") those whose type is missing or not canonical.
	match := func(typ string) func(m map[string]any) bool {
		return func(m map[string]any) bool {
			et, _ := m["type"].(string)
			if typ != "" {
				return strings.EqualFold(et, typ)
			}
			for _, c := range types {
				if strings.EqualFold(et, c) {
					return false
				}
			}
			return true
		}
	}
	var cols []Column
	for _, typ := range append(append([]string{}, types...), "") {
		ok := match(typ)
		for _, f := range fields {
			f := f
			cols = append(cols, Column{header(typ, f), func(doc map[string]any) string {
				l, _ := get(doc).([]any)
				var out []string
				for _, el := range l {
					m, isMap := el.(map[string]any)
					if !isMap || !ok(m) {
						continue
					}
					if v := cellText(m[f]); v != "" {
						out = append(out, v)
					}
				}
				return strings.Join(out, multiSep)
			}})
		}
	}
	return cols
}

// cellText renders one stored value as CSV text.
func cellText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case json.Number:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
