package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"scimd/scim"
)

// Query is a list request: an optional filter, sort and page.
type Query struct {
	Filter     scim.Expr
	SortBy     *scim.AttrPath
	Descending bool
	StartIndex int // 1-based
	Count      int // page size; 0 gives the total only
	WithRefs   bool
	// Cursor selects RFC 9865 cursor pagination: "" for the first page,
	// then a nextCursor from an earlier page. Nil means index pagination.
	Cursor *string
	// Raw leaves each resource's Doc nil and returns its stored JSON in
	// Text (and a user's groups in Groups), for callers that send the
	// stored document on without decoding it.
	Raw bool
}

// Page is one page of a list.
type Page struct {
	Total      int
	Resources  []*Resource
	NextCursor string // set under cursor pagination when more follow
}

// List returns the total number of matches and one page of them, in a
// stable order (sortBy, then creation order).
func (s *Store) List(ctx context.Context, k Kind, q Query) (int, []*Resource, error) {
	p, err := s.ListPage(ctx, k, q)
	if err != nil {
		return 0, nil, err
	}
	return p.Total, p.Resources, nil
}

// ListPage is List with RFC 9865 cursors.
//
// Deep pages stay as fast as the first: a cursor is the creation sequence
// number of the last resource returned, and index pagination (startIndex)
// remembers where each page it served ended, so the usual walk through a
// list (startIndex 1, 201, 401, ...) continues from there with a keyset
// seek instead of an OFFSET that would skip over every earlier row. An
// index request that was not the continuation of an earlier page falls back
// to OFFSET.
//
// Every query runs under ctx and the store's query budget (QueryTimeout):
// when the client goes away or the budget runs out, SQLite is interrupted
// and the request ends, with 400 tooMany for the budget.
//
// A point lookup (see unique) is the exception: it reads at most one row
// through a unique index, so it cannot outlast the budget, and it runs
// without one and without a cancellation channel. That spares each of
// these lookups, the most frequent request there is, a timer and the
// goroutine the SQLite driver starts per statement to watch a context
// that can be cancelled.
func (s *Store) ListPage(ctx context.Context, k Kind, q Query) (*Page, error) {
	if q.Filter != nil && (&compiler{rt: k.rt(s), k: k}).unique(q.Filter) {
		return s.listPage(context.WithoutCancel(ctx), k, q)
	}
	bctx, cancel := s.budget(ctx)
	defer cancel()
	p, err := s.listPage(bctx, k, q)
	if err != nil {
		return nil, s.overBudget(ctx, bctx, err)
	}
	return p, nil
}

// budget bounds one read request's database time.
func (s *Store) budget(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opt.QueryTimeout)
}

// overBudget turns the end of a read's context into the error the client
// gets: the parent's error when the client went away, 400 tooMany (RFC
// 7644 §3.12) when the budget ran out.
func (s *Store) overBudget(parent, ctx context.Context, err error) error {
	if parent.Err() != nil {
		return parent.Err()
	}
	if ctx.Err() != nil {
		return scim.TooMany("the query ran longer than this server allows (%s, [limits] query_timeout) and was stopped; narrow the filter, e.g. with eq on userName, externalId or an indexed attribute", s.opt.QueryTimeout)
	}
	return err
}

func (s *Store) listPage(ctx context.Context, k Kind, q Query) (*Page, error) {
	c := &compiler{rt: k.rt(s), k: k, table: k.table, attrs: s.attrIdx[k.table]}
	where := "1"
	if q.Filter != nil {
		w, err := c.expr(q.Filter)
		if err != nil {
			return nil, err
		}
		where = w
	}
	order := k.table + ".seq"
	if q.SortBy != nil {
		if q.Cursor != nil {
			return nil, scim.InvalidValue("sortBy cannot be combined with cursor pagination; results are in creation order")
		}
		e, err := c.sortExpr(*q.SortBy)
		if err != nil {
			return nil, err
		}
		dir := " ASC"
		if q.Descending {
			dir = " DESC"
		}
		order = e + dir + " NULLS LAST, " + k.table + ".seq"
	}
	var after int64 = -1
	if q.Cursor != nil {
		after = 0
		if *q.Cursor != "" {
			n, err := decodeCursor(*q.Cursor)
			if err != nil {
				return nil, err
			}
			after = n
		}
	}
	// The statements run on their own (autocommit), without a read
	// transaction around them: a write landing between the page and the
	// total shows in one and not the other, which RFC 7644 §3.4.2.4 allows
	// between pages anyway, and the common lookup is a single query.
	p := &Page{}
	countSQL, countArgs := `SELECT count(*) FROM `+k.table+` WHERE `+where, c.args
	if q.Filter == nil {
		countSQL, countArgs = `SELECT n FROM counts WHERE name = ?`, []any{k.table}
	}
	// A list that no index narrows (a scanning filter, or sortBy) runs on
	// the small heavy pool, so it cannot take the connections and CPUs
	// that lookups need; its page is computed inside the first step of
	// one statement (a subquery), where the budget can interrupt it.
	heavy := q.Filter == nil && q.SortBy != nil || q.Filter != nil && !c.indexed(q.Filter)
	rq, hq := s.ctxQ(ctx, s.r), s.ctxQ(ctx, s.r)
	if heavy {
		hq = s.ctxQ(ctx, s.heavy)
	}
	count := func() error {
		return classify(hq.QueryRow(countSQL, countArgs...).Scan(&p.Total))
	}
	if q.Count <= 0 {
		return p, count()
	}
	start := q.StartIndex
	if start < 1 {
		start = 1
	}
	pageKey := ""
	// The directory generation before the page is read: a mark is used
	// and kept only if no directory write committed around the read.
	gen := s.dirGen.Load()
	var query string
	var args []any
	// A user's groups take a second query; the EXISTS probe on the
	// members index tells which users of the page need it, so a lookup of a
	// user in no group is one statement (each statement is a read
	// transaction of its own, with its locking round trips).
	cols := `SELECT seq, id, doc, created, modified, version FROM `
	probe := q.WithRefs && k == users
	if probe {
		cols = `SELECT seq, id, doc, created, modified, version, EXISTS (SELECT 1 FROM members WHERE member_kind = 0 AND member_seq = users.seq) FROM `
	}
	pageOrder := k.table + ".seq"
	switch {
	case after >= 0:
		query = cols + k.table + ` WHERE ` + where + ` AND seq > ? ORDER BY seq LIMIT ?`
		args = append(append([]any{}, c.args...), after, q.Count+1)
	case q.SortBy == nil:
		if start == 1 {
			// No mark is ever kept for the first page; just remember
			// where it ends (below).
			pageKey = "first"
		} else {
			pageKey = k.table + "\x00" + where + "\x00" + argsKey(c.args)
		}
		if mark, ok := s.marks.get(pageKey, start, gen); ok && start > 1 {
			query = cols + k.table + ` WHERE ` + where + ` AND seq > ? ORDER BY seq LIMIT ?`
			args = append(append([]any{}, c.args...), mark, q.Count)
			break
		}
		if q.Filter == nil && start > 1 {
			// A page that continues no earlier one: skip the rows on the
			// compact seq index (migration 0005) instead of reading them,
			// then read the page from there.
			var first int64
			err := rq.QueryRow(`SELECT seq FROM `+k.table+` INDEXED BY `+k.table+`_seq ORDER BY seq LIMIT 1 OFFSET ?`, start-1).Scan(&first)
			if errors.Is(err, sql.ErrNoRows) {
				first = math.MaxInt64
			} else if err != nil {
				return nil, classify(err)
			}
			query = cols + k.table + ` WHERE seq >= ? ORDER BY seq LIMIT ?`
			args = []any{first, q.Count}
			break
		}
		fallthrough
	default:
		query = cols + k.table + ` WHERE ` + where + ` ORDER BY ` + order + ` LIMIT ? OFFSET ?`
		args = append(append([]any{}, c.args...), q.Count, start-1)
		pageOrder = order
	}
	if heavy {
		// SELECT … WHERE seq IN (the page's seqs) ORDER BY …: SQLite
		// computes the IN list once, in the statement's first step.
		query = cols + k.table + ` WHERE seq IN (SELECT seq FROM ` + strings.TrimPrefix(query, cols) + `) ORDER BY ` + pageOrder
	}
	var seqs []int64
	add := func(r *Resource, text []byte) error {
		if q.Raw {
			r.Text = text
		} else {
			doc, err := scim.DecodeDocument(text)
			if err != nil {
				return err
			}
			r.Doc = doc
		}
		p.Resources = append(p.Resources, r)
		seqs = append(seqs, r.seq)
		return nil
	}
	done := false
	if !heavy {
		// A lookup: on a connection that keeps its snapshot (snapshot.go).
		var err error
		done, err = s.snapQuery(ctx, query, args, func(v []driver.Value) error {
			r := &Resource{}
			var text []byte
			var ok bool
			r.seq, ok = v[0].(int64)
			r.ID, ok = textValue(v[1], ok)
			text, ok = blobValue(v[2], ok)
			r.Created, ok = textValue(v[3], ok)
			r.Modified, ok = textValue(v[4], ok)
			r.Version, _ = v[5].(int64)
			if probe {
				n, _ := v[6].(int64)
				r.inGroups = n != 0
			}
			if !ok {
				return fmt.Errorf("store: unexpected column types in %s row %v", k.table, v[:2])
			}
			return add(r, text)
		})
		if err != nil {
			return nil, classify(err)
		}
	}
	if !done {
		rows, err := hq.Query(query, args...)
		if err != nil {
			return nil, classify(err)
		}
		for rows.Next() {
			r := &Resource{}
			var text []byte
			dest := []any{&r.seq, &r.ID, &text, &r.Created, &r.Modified, &r.Version, &r.inGroups}
			if !probe {
				dest = dest[:6]
			}
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return nil, err
			}
			if err := add(r, text); err != nil {
				rows.Close()
				return nil, err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, classify(err)
		}
	}
	// A first page that is not full holds every match: no count needed.
	// (That is the common "userName eq x" lookup: one query, not two.)
	if after <= 0 && start == 1 && len(p.Resources) < q.Count {
		p.Total = len(p.Resources)
	} else if err := count(); err != nil {
		return nil, err
	}
	if after >= 0 && len(p.Resources) > q.Count {
		p.Resources = p.Resources[:q.Count]
		p.NextCursor = encodeCursor(seqs[q.Count-1])
	}
	if pageKey != "" && len(p.Resources) == q.Count {
		// A full page: the next one may be asked for; remember where this
		// one ended.
		if pageKey == "first" {
			pageKey = k.table + "\x00" + where + "\x00" + argsKey(c.args)
		}
		if s.dirGen.Load() == gen {
			s.marks.put(pageKey, start+len(p.Resources), seqs[len(seqs)-1], gen)
		}
	}
	if q.WithRefs {
		if k == users {
			var in []*Resource
			for _, r := range p.Resources {
				if r.inGroups {
					in = append(in, r)
				}
			}
			if err := s.fillUsers(rq, in); err != nil {
				return nil, err
			}
		} else {
			for _, r := range p.Resources {
				if err := s.fill(rq, k, r); err != nil {
					return nil, err
				}
			}
		}
	}
	return p, nil
}

// indexed reports whether an index narrows filter e to few rows: eq on
// id, externalId, the name (userName, group displayName) or a declared
// attribute with a side-table index, alone, in an and, or on both sides
// of an or. Such lookups (Entra's "userName eq x") use the main read pool;
// anything else is heavy (see listPage).
func (c *compiler) indexed(e scim.Expr) bool {
	switch x := e.(type) {
	case *scim.And:
		return c.indexed(x.L) || c.indexed(x.R)
	case *scim.Or:
		return c.indexed(x.L) && c.indexed(x.R)
	case *scim.Compare:
		key, t, ok := c.eqKey(x)
		switch {
		case !ok:
			return false
		case key != "":
			return true
		case t.Common != "" || t.Attr == nil || t.Sub != nil:
			return false
		}
		path := []string{t.Attr.Name}
		if t.InExtension(c.rt) {
			path = []string{t.Schema.ID, t.Attr.Name}
		}
		saved := len(c.args)
		_, ok = c.declared(t.Attr, path, x.Op, x.Value)
		c.args = c.args[:saved]
		return ok
	}
	return false
}

// eqKey resolves x when it is an eq with a value (not null), and names the
// key column it compares: "id", "externalId", "name" (userName, a group's
// displayName; its key column is UNIQUE), or "" for any other attribute.
// ok is false for anything else.
func (c *compiler) eqKey(x *scim.Compare) (key string, t scim.Target, ok bool) {
	if x.Op != scim.OpEq || x.Value == nil {
		return "", t, false
	}
	t, err := c.rt.Resolve(x.Path)
	if err != nil {
		return "", t, false
	}
	switch {
	case t.Common == "id" || t.Common == "externalId":
		return t.Common, t, true
	case t.Common == "" && t.Attr != nil && t.Sub == nil && t.Attr.Name == c.k.nameAttr && t.Schema == c.rt.Schema:
		return "name", t, true
	}
	return "", t, true
}

// unique reports whether filter e matches at most one resource by itself:
// eq on id or on the name, whose key columns are UNIQUE, alone or on
// either side of an and. (externalId is not unique: many resources may
// share one.)
func (c *compiler) unique(e scim.Expr) bool {
	switch x := e.(type) {
	case *scim.And:
		return c.unique(x.L) || c.unique(x.R)
	case *scim.Compare:
		key, _, _ := c.eqKey(x)
		return key == "id" || key == "name"
	}
	return false
}

// compiler turns a filter AST into an SQL condition. Attribute names are
// resolved against the schema and become fixed column names or JSON paths
// built from the schema's own spelling; every value the client sent is a ?
// parameter. Client text never reaches the SQL string.
type compiler struct {
	rt    *scim.ResourceType
	k     *kind
	table string
	args  []any
	attrs []attrIndex // declarations with side-table rows (attrindex.go)
}

func (c *compiler) arg(v any) string {
	c.args = append(c.args, v)
	return "?"
}

func (c *compiler) expr(e scim.Expr) (string, error) {
	return logic(e, c.leaf, c.valuePath)
}

// logic compiles the and/or/not structure of a filter and hands the leaves
// to leaf and the attr[...] nodes to vp (nil where they cannot occur).
func logic(e scim.Expr, leaf func(scim.AttrPath, scim.CompareOp, any) (string, error), vp func(*scim.ValuePath) (string, error)) (string, error) {
	both := func(l, r scim.Expr, op string) (string, error) {
		ls, err := logic(l, leaf, vp)
		if err != nil {
			return "", err
		}
		rs, err := logic(r, leaf, vp)
		if err != nil {
			return "", err
		}
		return "(" + ls + op + rs + ")", nil
	}
	switch x := e.(type) {
	case *scim.And:
		return both(x.L, x.R, " AND ")
	case *scim.Or:
		return both(x.L, x.R, " OR ")
	case *scim.Not:
		in, err := logic(x.X, leaf, vp)
		if err != nil {
			return "", err
		}
		return "(NOT coalesce(" + in + ", 0))", nil
	case *scim.Present:
		return leaf(x.Path, "pr", nil)
	case *scim.Compare:
		return leaf(x.Path, x.Op, x.Value)
	case *scim.ValuePath:
		if vp == nil {
			return "", scim.InvalidFilter("a filter inside [...] cannot contain another [...]")
		}
		return vp(x)
	}
	return "", scim.InvalidFilter("unsupported filter expression")
}

// operand is an SQL expression for an attribute value plus how to compare it.
type operand struct {
	sql       string
	typ       string // scim attribute type
	caseExact bool
	folded    bool // sql already yields the folded string
	nameKey   bool // sql yields scim.NameKey of a name: compare with the literal's NameKey
}

// jsonPath builds a JSON path from schema names (never client text).
func jsonPath(parts ...string) string {
	var b strings.Builder
	b.WriteString("$")
	for _, p := range parts {
		b.WriteString(`."`)
		b.WriteString(p)
		b.WriteString(`"`)
	}
	return b.String()
}

func (c *compiler) leaf(p scim.AttrPath, op scim.CompareOp, v any) (string, error) {
	t, err := c.rt.Resolve(p)
	if err != nil {
		return "", scim.InvalidFilter("%s", err.(*scim.Error).Detail)
	}
	tbl := c.table
	switch {
	case t.Common == "id":
		return c.cmp(operand{sql: tbl + ".id", typ: scim.TypeString, caseExact: true}, op, v)
	case t.Common == "externalId":
		return c.cmp(operand{sql: tbl + ".external_id", typ: scim.TypeString, caseExact: true}, op, v)
	case t.Common == "meta":
		switch t.MetaSub {
		case "created":
			return c.cmp(operand{sql: tbl + ".created", typ: scim.TypeDateTime, caseExact: true}, op, v)
		case "lastModified":
			return c.cmp(operand{sql: tbl + ".modified", typ: scim.TypeDateTime, caseExact: true}, op, v)
		case "resourceType":
			return c.cmp(operand{sql: c.arg(c.k.name), typ: scim.TypeString}, op, v)
		}
		return "", scim.InvalidFilter("filtering on %s is not supported", t.String())
	case t.Common == "schemas":
		return c.schemas(op, v)
	}
	a := t.Attr
	if t.Attr.Name == c.k.nameAttr && t.Schema == c.rt.Schema {
		// Every comparison of a name runs on its stored key (scim.NameKey),
		// so "José" finds the user whichever Unicode form either side used.
		return c.cmp(operand{sql: tbl + "." + c.k.foldCol, typ: scim.TypeString, folded: true, nameKey: true}, op, v)
	}
	if c.k == users && a.Name == "active" && t.Schema == c.rt.Schema {
		return c.cmp(operand{sql: tbl + ".active", typ: scim.TypeBoolean}, op, v)
	}
	if c.k == users && a.Name == "groups" {
		return c.refs(t, op, v, `EXISTS (SELECT 1 FROM members m JOIN groups g ON g.seq = m.group_seq
			WHERE m.member_kind = 0 AND m.member_seq = users.seq AND %s)`, "g.id", "g.display_name")
	}
	if c.k == groups && a.Name == "members" {
		return c.refs(t, op, v, `(EXISTS (SELECT 1 FROM members m JOIN users u ON u.seq = m.member_seq
			WHERE m.group_seq = groups.seq AND m.member_kind = 0 AND %s) OR EXISTS (SELECT 1 FROM members m JOIN groups g2 ON g2.seq = m.member_seq
			WHERE m.group_seq = groups.seq AND m.member_kind = 1 AND %s))`, "u.id", "coalesce(u.display_name, u.user_name)", "g2.id", "g2.display_name")
	}
	base := []string{}
	if t.InExtension(c.rt) {
		base = append(base, t.Schema.ID)
	}
	base = append(base, a.Name)
	if a.MultiValued {
		// Some element must match: "emails co x" means emails.value.
		sub := t.Sub
		if sub == nil && a.Type == scim.TypeComplex {
			sub = a.Sub("value")
			if sub == nil {
				return "", scim.InvalidFilter("%s is complex; name a sub-attribute", t.String())
			}
		}
		elem := "e.value"
		o := operand{sql: elem, typ: a.Type, caseExact: a.CaseExact}
		if sub != nil {
			o = operand{sql: "json_extract(e.value, " + quoteLit(jsonPath(sub.Name)) + ")", typ: sub.Type, caseExact: sub.CaseExact}
		}
		if op == scim.OpNe {
			// ne: no element equals the value.
			eq, err := c.cmp(o, scim.OpEq, v)
			if err != nil {
				return "", err
			}
			return "NOT EXISTS (SELECT 1 FROM json_each(" + tbl + ".doc, " + quoteLit(jsonPath(base...)) + ") e WHERE " + eq + ")", nil
		}
		cond, err := c.cmp(o, op, v)
		if err != nil {
			return "", err
		}
		return "EXISTS (SELECT 1 FROM json_each(" + tbl + ".doc, " + quoteLit(jsonPath(base...)) + ") e WHERE " + cond + ")", nil
	}
	typ, exact := a.Type, a.CaseExact
	if a.Type == scim.TypeComplex {
		sub := t.Sub
		if sub == nil {
			sub = a.Sub("value") // "manager eq id" means manager.value
			if sub == nil {
				return "", scim.InvalidFilter("%s is complex; name a sub-attribute", t.String())
			}
		}
		base = append(base, sub.Name)
		typ, exact = sub.Type, sub.CaseExact
	} else if cond, ok := c.declared(a, base, op, v); ok {
		return cond, nil
	}
	return c.cmp(operand{sql: "json_extract(" + tbl + ".doc, " + quoteLit(jsonPath(base...)) + ")", typ: typ, caseExact: exact}, op, v)
}

// quoteLit renders a schema-derived JSON path as an SQL string literal. The
// path holds only attribute names from the catalogue, which cannot contain
// a quote (attribute names are ALPHA *(nameChar)).
func quoteLit(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// refs compiles a filter on a user's groups or a group's members.
func (c *compiler) refs(t scim.Target, op scim.CompareOp, v any, tmpl string, cols ...string) (string, error) {
	sub := "value"
	if t.Sub != nil {
		sub = t.Sub.Name
	}
	build := func(idCol, nameCol string) (string, error) {
		switch sub {
		case "value":
			return c.cmp(operand{sql: idCol, typ: scim.TypeString, caseExact: true}, op, v)
		case "display":
			return c.cmp(operand{sql: nameCol, typ: scim.TypeString}, op, v)
		}
		return "", scim.InvalidFilter("filtering on %s is not supported; use %s.value or %s.display", t.String(), t.Attr.Name, t.Attr.Name)
	}
	var parts []any
	for i := 0; i < len(cols); i += 2 {
		p, err := build(cols[i], cols[i+1])
		if err != nil {
			return "", err
		}
		parts = append(parts, p)
	}
	return fmt.Sprintf(tmpl, parts...), nil
}

func (c *compiler) schemas(op scim.CompareOp, v any) (string, error) {
	s, ok := v.(string)
	if op == "pr" {
		return "1", nil
	}
	if op != scim.OpEq || !ok {
		return "", scim.InvalidFilter("schemas supports only eq with a schema URN")
	}
	if strings.EqualFold(s, c.rt.Schema.ID) {
		return "1", nil
	}
	for _, e := range c.rt.Extensions {
		if strings.EqualFold(s, e.ID) {
			return "json_type(" + c.table + ".doc, " + quoteLit(jsonPath(e.ID)) + ") IS NOT NULL", nil
		}
	}
	return "0", nil
}

func (c *compiler) valuePath(x *scim.ValuePath) (string, error) {
	t, err := c.rt.Resolve(x.Path)
	if err != nil {
		return "", scim.InvalidFilter("%s", err.(*scim.Error).Detail)
	}
	if t.Attr == nil || !t.Attr.MultiValued || t.Attr.Type != scim.TypeComplex {
		return "", scim.InvalidFilter("%s[...] needs a multi-valued complex attribute", x.Path.String())
	}
	if (c.k == users && t.Attr.Name == "groups") || (c.k == groups && t.Attr.Name == "members") {
		// Rewrite attr[sub op v] to attr.sub op v for the reference tables;
		// only single comparisons are supported there.
		if cmp, ok := x.Filter.(*scim.Compare); ok {
			p := x.Path
			p.Sub = cmp.Path.Name
			return c.leaf(p, cmp.Op, cmp.Value)
		}
		return "", scim.InvalidFilter("%s[...] supports one comparison on value or display", t.Attr.Name)
	}
	base := []string{}
	if t.InExtension(c.rt) {
		base = append(base, t.Schema.ID)
	}
	base = append(base, t.Attr.Name)
	ec := &elemCompiler{c: c, attr: t.Attr}
	cond, err := ec.expr(x.Filter)
	if err != nil {
		return "", err
	}
	return "EXISTS (SELECT 1 FROM json_each(" + c.table + ".doc, " + quoteLit(jsonPath(base...)) + ") e WHERE " + cond + ")", nil
}

// elemCompiler compiles the filter inside attr[...], relative to one element.
type elemCompiler struct {
	c    *compiler
	attr *scim.Attribute
}

func (ec *elemCompiler) expr(e scim.Expr) (string, error) {
	return logic(e, ec.leaf, nil)
}

func (ec *elemCompiler) leaf(p scim.AttrPath, op scim.CompareOp, v any) (string, error) {
	if p.URI != "" || p.Sub != "" {
		return "", scim.InvalidFilter("inside %s[...] name sub-attributes of %s only, not %q", ec.attr.Name, ec.attr.Name, p.String())
	}
	s := ec.attr.Sub(p.Name)
	if s == nil {
		return "", scim.InvalidFilter("%s has no sub-attribute %q", ec.attr.Name, p.Name)
	}
	return ec.c.cmp(operand{sql: "json_extract(e.value, " + quoteLit(jsonPath(s.Name)) + ")", typ: s.Type, caseExact: s.CaseExact}, op, v)
}

// sortExpr is the ORDER BY expression for sortBy (RFC 7644 §3.4.2.3).
// Multi-valued attributes sort by their primary (else first) value.
func (c *compiler) sortExpr(p scim.AttrPath) (string, error) {
	t, err := c.rt.Resolve(p)
	if err != nil {
		return "", scim.InvalidValue("sortBy: %s", err.(*scim.Error).Detail)
	}
	tbl := c.table
	switch {
	case t.Common == "id":
		return tbl + ".id", nil
	case t.Common == "externalId":
		return tbl + ".external_id", nil
	case t.Common == "meta" && t.MetaSub == "created":
		return tbl + ".created", nil
	case t.Common == "meta" && t.MetaSub == "lastModified":
		return tbl + ".modified", nil
	case t.Common != "":
		return "", scim.InvalidValue("sortBy: cannot sort by %s", t.String())
	}
	if t.Attr.Name == c.k.nameAttr && t.Schema == c.rt.Schema {
		return tbl + "." + c.k.foldCol, nil
	}
	if t.Attr.Name == "groups" || t.Attr.Name == "members" {
		return "", scim.InvalidValue("sortBy: cannot sort by %s", t.Attr.Name)
	}
	base := []string{}
	if t.InExtension(c.rt) {
		base = append(base, t.Schema.ID)
	}
	base = append(base, t.Attr.Name)
	typ, exact := t.Attr.Type, t.Attr.CaseExact
	var e string
	if t.Attr.MultiValued {
		sub := t.Sub
		if sub == nil && t.Attr.Type == scim.TypeComplex {
			sub = t.Attr.Sub("value")
		}
		val := "e.value"
		if sub != nil {
			val = "json_extract(e.value, " + quoteLit(jsonPath(sub.Name)) + ")"
			typ, exact = sub.Type, sub.CaseExact
		}
		e = "(SELECT " + val + " FROM json_each(" + tbl + ".doc, " + quoteLit(jsonPath(base...)) + ") e ORDER BY json_extract(e.value, '$.primary') = 1 DESC, e.key LIMIT 1)"
	} else {
		if t.Attr.Type == scim.TypeComplex {
			sub := t.Sub
			if sub == nil {
				return "", scim.InvalidValue("sortBy: %s is complex; name a sub-attribute", t.String())
			}
			base = append(base, sub.Name)
			typ, exact = sub.Type, sub.CaseExact
		}
		e = "json_extract(" + tbl + ".doc, " + quoteLit(jsonPath(base...)) + ")"
	}
	if typ == scim.TypeString && !exact {
		e = "scim_fold(" + e + ")"
	}
	return e, nil
}

// cmp compiles one comparison of an operand with a filter literal.
func (c *compiler) cmp(o operand, op scim.CompareOp, v any) (string, error) {
	x := o.sql
	if op == "pr" {
		if o.typ == scim.TypeString || o.typ == scim.TypeReference || o.typ == scim.TypeBinary {
			return "(" + x + " IS NOT NULL AND " + x + " != '')", nil
		}
		return "(" + x + " IS NOT NULL)", nil
	}
	if v == nil {
		// "eq null" asks for an absent value (RFC 7644 leaves it open).
		switch op {
		case scim.OpEq:
			return "(" + x + " IS NULL)", nil
		case scim.OpNe:
			return "(" + x + " IS NOT NULL)", nil
		}
		return "", scim.InvalidFilter("null can only be compared with eq or ne")
	}
	switch o.typ {
	case scim.TypeBoolean:
		b, ok := scim.BoolLiteral(v)
		if !ok {
			return "", scim.InvalidFilter("a boolean attribute needs true or false, not %v", v)
		}
		n := 0
		if b {
			n = 1
		}
		// Stored JSON booleans read back as 1/0; the active column is 1/0.
		switch op {
		case scim.OpEq:
			return "(" + x + " = " + c.arg(n) + ")", nil
		case scim.OpNe:
			return "(" + x + " IS NOT " + c.arg(n) + ")", nil
		}
		return "", scim.InvalidFilter("a boolean attribute supports only eq, ne and pr, not %s", op)
	case scim.TypeInteger, scim.TypeDecimal:
		n, ok := v.(scim.Number)
		if !ok {
			return "", scim.InvalidFilter("a numeric attribute needs a number, not %v", v)
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			return "", scim.InvalidFilter("%q is not a number", string(n))
		}
		sqlOp, ok := numericOps[op]
		if !ok {
			return "", scim.InvalidFilter("a numeric attribute supports eq, ne, gt, ge, lt, le and pr, not %s", op)
		}
		if op == scim.OpNe {
			// ne is true of an absent value, as for strings.
			return "(CAST(" + x + " AS REAL) IS NOT " + c.arg(f) + ")", nil
		}
		return "(CAST(" + x + " AS REAL) " + sqlOp + " " + c.arg(f) + ")", nil
	}
	s, ok := v.(string)
	if !ok {
		if n, isNum := v.(scim.Number); isNum {
			s = string(n) // a number compared with a string attribute compares its text
		} else if b, isBool := v.(bool); isBool {
			s = strconv.FormatBool(b)
		} else {
			return "", scim.InvalidFilter("cannot compare a string attribute with %v", v)
		}
	}
	if o.typ == scim.TypeDateTime && (op == scim.OpGt || op == scim.OpGe || op == scim.OpLt || op == scim.OpLe || op == scim.OpEq || op == scim.OpNe) {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return "", scim.InvalidFilter("%q is not an xsd:dateTime such as 2026-11-23T10:00:00Z", s)
		}
		if strings.HasSuffix(x, ".created") || strings.HasSuffix(x, ".modified") {
			s = tm.UTC().Format(timeFormat)
		}
	}
	if o.nameKey {
		s = scim.NameKey(s)
	} else if !o.caseExact {
		s = scim.Fold(s)
		if !o.folded {
			x = "scim_fold(" + x + ")"
		}
	}
	switch op {
	case scim.OpEq:
		return "(" + x + " = " + c.arg(s) + ")", nil
	case scim.OpNe:
		return "(" + x + " IS NOT " + c.arg(s) + ")", nil
	case scim.OpCo:
		if s == "" {
			return "(" + x + " IS NOT NULL)", nil
		}
		return "(instr(" + x + ", " + c.arg(s) + ") > 0)", nil
	case scim.OpSw:
		if s == "" {
			return "(" + x + " IS NOT NULL)", nil
		}
		return "(instr(" + x + ", " + c.arg(s) + ") = 1)", nil
	case scim.OpEw:
		if s == "" {
			return "(" + x + " IS NOT NULL)", nil
		}
		return "(substr(" + x + ", -" + c.arg(len([]rune(s))) + ") = " + c.arg(s) + ")", nil
	case scim.OpGt:
		return "(" + x + " > " + c.arg(s) + ")", nil
	case scim.OpGe:
		return "(" + x + " >= " + c.arg(s) + ")", nil
	case scim.OpLt:
		return "(" + x + " < " + c.arg(s) + ")", nil
	case scim.OpLe:
		return "(" + x + " <= " + c.arg(s) + ")", nil
	}
	return "", scim.InvalidFilter("unknown operator %q", op)
}

var numericOps = map[scim.CompareOp]string{scim.OpEq: "=", scim.OpNe: "!=", scim.OpGt: ">", scim.OpGe: ">=", scim.OpLt: "<", scim.OpLe: "<="}

// fillUsers adds the groups of a page of users with one query per 64 users
// instead of one per user.
func (s *Store) fillUsers(q querier, rs []*Resource) error {
	bySeq := make(map[int64]*Resource, len(rs))
	for _, r := range rs {
		bySeq[r.seq] = r
	}
	const chunk = 64
	for start := 0; start < len(rs); start += chunk {
		part := rs[start:min(start+chunk, len(rs))]
		// Padded to 1, 8 or 64 values, so three prepared statements serve
		// every page, and a one-user lookup stays a plain index probe.
		size := 1
		for size < len(part) {
			size *= 8
		}
		args := make([]any, size)
		for i := range args {
			args[i] = part[min(i, len(part)-1)].seq
		}
		rows, err := q.Query(`SELECT m.member_seq, g.id, g.display_name FROM members m JOIN groups g ON g.seq = m.group_seq
			WHERE m.member_kind = 0 AND m.member_seq IN (?`+strings.Repeat(", ?", size-1)+`) ORDER BY m.member_seq, g.seq`, args...)
		if err != nil {
			return classify(err)
		}
		for rows.Next() {
			var (
				seq      int64
				id, name string
			)
			if err := rows.Scan(&seq, &id, &name); err != nil {
				rows.Close()
				return err
			}
			if r := bySeq[seq]; r != nil && r.Doc == nil {
				r.Groups = append(r.Groups, Member{ID: id, Display: name, Type: "direct"})
			} else if r != nil {
				l, _ := r.Doc["groups"].([]any)
				r.Doc["groups"] = append(l, map[string]any{"value": id, "display": name, "type": "direct"})
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return classify(err)
		}
	}
	return nil
}

// textValue is a TEXT column's value from the driver; ok carries the
// earlier columns' verdict.
func textValue(v driver.Value, ok bool) (string, bool) {
	s, is := v.(string)
	return s, ok && is
}

// blobValue is a stored document from the driver (TEXT, or a BLOB when
// written as bytes), copied: the driver's value lives only for the row.
func blobValue(v driver.Value, ok bool) ([]byte, bool) {
	switch x := v.(type) {
	case string:
		return []byte(x), ok
	case []byte:
		return append([]byte(nil), x...), ok
	}
	return nil, false
}
