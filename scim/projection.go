package scim

import "strings"

// Projection is the attributes / excludedAttributes selection of RFC 7644
// §3.4.2.5, resolved against a resource type.
type Projection struct {
	include []Target
	exclude []Target
}

// ParseProjection reads comma-separated attribute lists. Names the schema
// does not know are ignored: asking for them selects nothing.
func (rt *ResourceType) ParseProjection(attributes, excluded string) (*Projection, error) {
	p := &Projection{}
	for _, list := range []struct {
		text string
		dst  *[]Target
	}{{attributes, &p.include}, {excluded, &p.exclude}} {
		for _, name := range strings.Split(list.text, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			ap, err := ParseAttrPath(name)
			if err != nil {
				return nil, InvalidValue("attributes: %q is not an attribute name", clip(name))
			}
			if ext := rt.schemaFor(name); ext != nil && ext != rt.Schema {
				// A whole extension: "urn:...:enterprise:2.0:User".
				*list.dst = append(*list.dst, Target{Schema: ext})
				continue
			}
			t, err := rt.Resolve(ap)
			if err != nil {
				continue
			}
			*list.dst = append(*list.dst, t)
		}
	}
	return p, nil
}

// Wants reports whether the top-level attribute key of the core schema
// (e.g. "members", "groups") will be returned, so the store can skip work.
func (p *Projection) Wants(key string) bool {
	if p == nil {
		return true
	}
	for _, t := range p.exclude {
		if t.Attr != nil && t.Sub == nil && t.Attr.Name == key {
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
		for _, t := range p.include {
			copyTarget(rt, res, keep, t)
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

func copyTarget(rt *ResourceType, from, to map[string]any, t Target) {
	if t.Attr == nil && t.Common == "" { // whole extension
		if v, ok := from[t.Schema.ID]; ok {
			to[t.Schema.ID] = v
		}
		return
	}
	src, dst := from, to
	if t.Common == "" && isExtension(t.Schema) {
		s, _ := from[t.Schema.ID].(map[string]any)
		if s == nil {
			return
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
		return
	}
	sub := ""
	if t.Sub != nil {
		sub = t.Sub.Name
	} else if t.MetaSub != "" {
		sub = t.MetaSub
	}
	if sub == "" {
		dst[key] = v
		return
	}
	switch x := v.(type) {
	case map[string]any:
		d, _ := dst[key].(map[string]any)
		if d == nil {
			d = map[string]any{}
			dst[key] = d
		}
		if sv, ok := x[sub]; ok {
			d[sub] = sv
		}
	case []any:
		// emails.value: each element keeps the named sub-attribute; several
		// sub-attributes of one attribute merge into the same elements.
		d, _ := dst[key].([]any)
		if len(d) != len(x) {
			d = make([]any, len(x))
			for i := range d {
				d[i] = map[string]any{}
			}
			dst[key] = d
		}
		for i, el := range x {
			if r, ok := el.(MemberRef); ok {
				el = r.Map()
			}
			if m, ok := el.(map[string]any); ok {
				if sv, ok := m[sub]; ok {
					d[i].(map[string]any)[sub] = sv
				}
			}
		}
	}
}

func dropTarget(rt *ResourceType, res map[string]any, t Target) {
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
	if sub == "" {
		delete(m, key)
	} else {
		switch x := m[key].(type) {
		case map[string]any:
			delete(x, sub)
		case []any:
			for i, el := range x {
				if r, ok := el.(MemberRef); ok {
					el = r.Map()
					x[i] = el
				}
				if em, ok := el.(map[string]any); ok {
					delete(em, sub)
				}
			}
		}
	}
	if inExt && len(m) == 0 {
		delete(res, t.Schema.ID)
	}
}
