package scim

import "strings"

// Projection is the attributes / excludedAttributes selection of RFC 7644
// §3.4.2.5, resolved against a resource type.
type Projection struct {
	include []selector
	exclude []selector
}

// selector is one entry of an attributes or excludedAttributes list. Beyond
// the RFC's attribute names, an entry may filter the values of a
// multi-valued attribute with the PATCH path syntax of RFC 7644 §3.5.2
// (clients reuse the paths they already write): emails[type eq "work"]
// selects the matching values whole, emails[type eq "work"].value only their
// value. In attributes, the other values are left out; in
// excludedAttributes, the matching values (or that sub-attribute of them)
// are removed and the others returned.
type selector struct {
	Target
	filter Expr // nil: every value
}

// ParseProjection reads comma-separated attribute lists. Names the schema
// does not know are ignored: asking for them selects nothing. A filter on
// an attribute that is not multi-valued and complex is invalidValue, since
// it could only be a mistake.
func (rt *ResourceType) ParseProjection(attributes, excluded string) (*Projection, error) {
	p := &Projection{}
	for _, list := range []struct {
		param, text string
		dst         *[]selector
	}{{"attributes", attributes, &p.include}, {"excludedAttributes", excluded, &p.exclude}} {
		for _, name := range splitAttrList(list.text) {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			pp, err := ParsePatchPath(name)
			if err != nil {
				return nil, InvalidValue("%s: %q is not an attribute name", list.param, clip(name))
			}
			if pp.Filter == nil {
				if ext := rt.schemaFor(name); ext != nil && ext != rt.Schema {
					// A whole extension: "urn:...:enterprise:2.0:User".
					*list.dst = append(*list.dst, selector{Target: Target{Schema: ext}})
					continue
				}
			}
			t, err := rt.Resolve(pp.Attr)
			if err != nil {
				continue
			}
			if pp.Filter != nil {
				if t.Attr == nil || !t.Attr.MultiValued || t.Attr.Type != TypeComplex {
					return nil, InvalidValue("%s: %q filters %s, which is not a multi-valued complex attribute; a filter in [...] selects some values of one, as in emails[type eq \"work\"]",
						list.param, clip(name), t.String())
				}
				if pp.Sub != "" {
					if t.Sub = t.Attr.Sub(pp.Sub); t.Sub == nil {
						continue
					}
				}
			}
			*list.dst = append(*list.dst, selector{Target: t, filter: pp.Filter})
		}
	}
	return p, nil
}

// splitAttrList splits an attributes list at the commas that are outside
// a value filter's brackets and quoted strings, so emails[value co ","]
// stays one entry.
func splitAttrList(s string) []string {
	if !strings.ContainsRune(s, '[') {
		return strings.Split(s, ",")
	}
	var out []string
	depth, inStr, esc, start := 0, false, false, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inStr:
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '[':
			depth++
		case c == ']':
			depth = max(depth-1, 0)
		case c == ',' && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// Wants reports whether the top-level attribute key of the core schema
// (e.g. "members", "groups") will be returned, so the store can skip work.
func (p *Projection) Wants(key string) bool {
	if p == nil {
		return true
	}
	for _, t := range p.exclude {
		if t.Attr != nil && t.Sub == nil && t.filter == nil && t.Attr.Name == key {
			return false
		}
	}
	if len(p.include) == 0 {
		return true
	}
	for _, t := range p.include {
		if t.Attr != nil && t.Attr.Name == key {
			return true
		}
	}
	return false
}

// IsDefault reports whether the projection returns every attribute that
// is returned by default (no attributes or excludedAttributes), so that
// Apply changes nothing.
func (p *Projection) IsDefault() bool {
	return p == nil || len(p.include) == 0 && len(p.exclude) == 0
}

// Apply trims a rendered resource in place. id and schemas are always
// returned (RFC 7643 §7 "returned": "always").
func (p *Projection) Apply(rt *ResourceType, res map[string]any) {
	if p.IsDefault() {
		return
	}
	if len(p.include) > 0 {
		keep := map[string]any{"id": res["id"], "schemas": res["schemas"]}
		var lists []*pickedList
		for _, t := range p.include {
			lists = copyTarget(rt, res, keep, t, lists)
		}
		for _, l := range lists {
			l.finish()
		}
		for k := range res {
			delete(res, k)
		}
		for k, v := range keep {
			if v != nil {
				res[k] = v
			}
		}
	}
	for _, t := range p.exclude {
		dropTarget(rt, res, t)
	}
}

// pickedList collects which values of one multi-valued attribute the
// selectors of an attributes list picked, whole or some sub-attributes, so
// that emails[type eq "work"] and emails.type together give each value
// once, in the stored order.
type pickedList struct {
	dst   map[string]any // where the result goes, under key
	scope string         // "" for the core schema, else the extension's URN
	key   string
	src   []any
	out   []any  // out[i]: nil (not picked), src[i], or a partial copy
	whole []bool // out[i] is src[i] itself
}

// finish stores the picked values, or removes the attribute when none was
// picked.
func (l *pickedList) finish() {
	all := true
	for _, w := range l.whole {
		all = all && w
	}
	if all {
		l.dst[l.key] = l.src
		return
	}
	out := make([]any, 0, len(l.out))
	for _, v := range l.out {
		if v != nil {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		delete(l.dst, l.key)
		return
	}
	l.dst[l.key] = out
}

// elemMap is a value of a multi-valued complex attribute as a map, or nil.
func elemMap(el any) map[string]any {
	switch x := el.(type) {
	case MemberRef:
		return x.Map()
	case map[string]any:
		return x
	}
	return nil
}

// matches reports whether a value of t's attribute is selected by t.
func (t selector) matches(m map[string]any) bool {
	if t.filter == nil {
		return true
	}
	if m == nil {
		return false
	}
	return Match(t.filter, m, func(ap AttrPath) bool {
		s := t.Attr.Sub(ap.Name)
		return s != nil && s.CaseExact
	})
}

func copyTarget(rt *ResourceType, from, to map[string]any, t selector, lists []*pickedList) []*pickedList {
	if t.Attr == nil && t.Common == "" { // whole extension
		if v, ok := from[t.Schema.ID]; ok {
			to[t.Schema.ID] = v
		}
		return lists
	}
	src, dst := from, to
	if t.Common == "" && isExtension(t.Schema) {
		s, _ := from[t.Schema.ID].(map[string]any)
		if s == nil {
			return lists
		}
		d, _ := to[t.Schema.ID].(map[string]any)
		if d == nil {
			d = map[string]any{}
			to[t.Schema.ID] = d
		}
		src, dst = s, d
	}
	key := t.Key()
	v, ok := src[key]
	if !ok {
		return lists
	}
	sub := ""
	if t.Sub != nil {
		sub = t.Sub.Name
	} else if t.MetaSub != "" {
		sub = t.MetaSub
	}
	x, isList := v.([]any)
	if !isList {
		if sub == "" {
			dst[key] = v
			return lists
		}
		if m, ok := v.(map[string]any); ok {
			d, _ := dst[key].(map[string]any)
			if d == nil {
				d = map[string]any{}
				dst[key] = d
			}
			if sv, ok := m[sub]; ok {
				d[sub] = sv
			}
		}
		return lists
	}
	// A multi-valued attribute: each selector picks values, whole or
	// some of their sub-attributes; pickedList.finish merges them.
	scope := ""
	if t.Common == "" && isExtension(t.Schema) {
		scope = t.Schema.ID
	}
	var l *pickedList
	for _, p := range lists {
		if p.scope == scope && p.key == key {
			l = p
			break
		}
	}
	if l == nil {
		l = &pickedList{dst: dst, scope: scope, key: key, src: x, out: make([]any, len(x)), whole: make([]bool, len(x))}
		lists = append(lists, l)
	}
	for i, el := range x {
		if l.whole[i] {
			continue
		}
		m := elemMap(el)
		if !t.matches(m) {
			continue
		}
		if sub == "" {
			l.out[i], l.whole[i] = el, true
			continue
		}
		sv, ok := m[sub]
		if !ok {
			continue
		}
		part, _ := l.out[i].(map[string]any)
		if part == nil {
			part = map[string]any{}
			l.out[i] = part
		}
		part[sub] = sv
	}
	return lists
}

func dropTarget(rt *ResourceType, res map[string]any, t selector) {
	switch {
	case t.Common == "id" || t.Common == "schemas":
		return // always returned
	case t.Attr == nil && t.Common == "":
		delete(res, t.Schema.ID)
		return
	}
	m, inExt := res, false
	if t.Common == "" && isExtension(t.Schema) {
		inExt = true
		m, _ = res[t.Schema.ID].(map[string]any)
		if m == nil {
			return
		}
	}
	key := t.Key()
	sub := ""
	if t.Sub != nil {
		sub = t.Sub.Name
	} else if t.MetaSub != "" {
		sub = t.MetaSub
	}
	switch x := m[key].(type) {
	case []any:
		if sub == "" && t.filter == nil {
			delete(m, key)
			break
		}
		// Only the selected values lose the sub-attribute, or are dropped
		// whole; a new slice, since the rendered list may be shared.
		kept := make([]any, 0, len(x))
		for _, el := range x {
			em := elemMap(el)
			switch {
			case !t.matches(em):
				kept = append(kept, el)
			case sub != "" && em != nil:
				if _, isRef := el.(MemberRef); !isRef {
					em = cloneMap(em)
				}
				delete(em, sub)
				kept = append(kept, em)
			}
		}
		if len(kept) == 0 && t.filter != nil && sub == "" {
			delete(m, key)
		} else {
			m[key] = kept
		}
	case map[string]any:
		if sub == "" {
			delete(m, key)
		} else {
			delete(x, sub)
		}
	default:
		if sub == "" {
			delete(m, key)
		}
	}
	if inExt && len(m) == 0 {
		delete(res, t.Schema.ID)
	}
}
