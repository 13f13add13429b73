package scim

// Operators may remove an attribute declaration between restarts. The
// stored values stay in the database (so adding the declaration back brings
// them back) but are neither returned nor lost when the resource is
// rewritten: Visible hides them and Carry keeps them across a PUT or PATCH.

// known reports whether key is a top-level key of the stored document that
// the catalogue defines, and for an extension URN key returns its schema.
func (rt *ResourceType) known(key string) (bool, *Schema) {
	if rt.Schema.Attr(key) != nil {
		return true, nil
	}
	if key == "externalId" {
		return true, nil
	}
	for _, e := range rt.Extensions {
		if e.ID == key {
			return true, e
		}
	}
	return false, nil
}

// Visible returns doc without the attributes the catalogue no longer
// defines. doc itself is not changed; unchanged parts are shared.
func (rt *ResourceType) Visible(doc map[string]any) map[string]any {
	hidden := false
	for k, v := range doc {
		ok, ext := rt.known(k)
		if !ok {
			hidden = true
			break
		}
		if ext != nil {
			if m, _ := v.(map[string]any); m != nil {
				for sk := range m {
					if ext.Attr(sk) == nil {
						hidden = true
					}
				}
			}
		}
	}
	if !hidden {
		return doc
	}
	out := make(map[string]any, len(doc))
	for k, v := range doc {
		ok, ext := rt.known(k)
		if !ok {
			continue
		}
		if ext != nil {
			m, _ := v.(map[string]any)
			in := make(map[string]any, len(m))
			for sk, sv := range m {
				if ext.Attr(sk) != nil {
					in[sk] = sv
				}
			}
			if len(in) == 0 {
				continue
			}
			v = in
		}
		out[k] = v
	}
	return out
}

// Carry copies into next the attributes of prev that the catalogue no
// longer defines, so that a PUT or PATCH does not erase data an operator
// has only hidden.
func (rt *ResourceType) Carry(prev, next map[string]any) {
	for k, v := range prev {
		if k == "members" || k == "groups" {
			continue
		}
		ok, ext := rt.known(k)
		if !ok {
			if _, set := next[k]; !set {
				next[k] = v
			}
			continue
		}
		if ext == nil {
			continue
		}
		old, _ := v.(map[string]any)
		for sk, sv := range old {
			if ext.Attr(sk) != nil {
				continue
			}
			cur, _ := next[k].(map[string]any)
			if cur == nil {
				cur = map[string]any{}
				next[k] = cur
			}
			if _, set := cur[sk]; !set {
				cur[sk] = sv
			}
		}
	}
}

// IndexedAttribute is an operator attribute the store keeps an index for.
type IndexedAttribute struct {
	// Path is the JSON path of the value in the stored document, built from
	// schema names: ["microsoftId"] or ["urn:...:User", "badge"].
	Path      []string
	Name      string // full URN-qualified name, for messages
	CaseExact bool
	Unique    bool
}

// Indexed lists the single-valued, non-complex operator attributes declared
// filterable or unique: the store keeps an index on each so that a filter
// on one is as fast as a userName lookup.
func (rt *ResourceType) Indexed() []IndexedAttribute {
	var out []IndexedAttribute
	for _, s := range append([]*Schema{rt.Schema}, rt.Extensions...) {
		for _, a := range s.Attributes {
			if !a.Custom || a.MultiValued || a.Type == TypeComplex || !(a.Filterable || a.Uniqueness == "server") {
				continue
			}
			ia := IndexedAttribute{Name: s.ID + ":" + a.Name, CaseExact: a.CaseExact || a.Type != TypeString, Unique: a.Uniqueness == "server"}
			if isExtension(s) {
				ia.Path = []string{s.ID, a.Name}
			} else {
				ia.Path = []string{a.Name}
			}
			out = append(out, ia)
		}
	}
	return out
}
