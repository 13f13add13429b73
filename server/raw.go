package server

import (
	"scimd/scim"
	"scimd/store"
)

// Rendering a user straight from its stored JSON. A lookup answer is the
// stored document plus id, meta, schemas, the user's groups and the
// manager's $ref; render gets there by decoding the document into maps and
// encoding them again, which was a fifth of a lookup's CPU time.
// appendStored splices the stored text instead and produces the same bytes
// (TestRawRenderMatchesRender). Whenever the document holds anything that
// render would change beyond that (an attribute whose declaration was
// removed, a key with escapes, a non-canonical spelling), it declines and
// the caller renders the decoded document.

// rawCatalog is what appendStored needs to know about the User resource
// type: the exact keys a stored document may have that render passes
// through unchanged.
type rawCatalog struct {
	rt  *scim.ResourceType
	top map[string]*scim.Schema          // core attribute names (nil) and extension URNs
	sub map[*scim.Schema]map[string]bool // each extension's attribute names
}

func newRawCatalog(rt *scim.ResourceType) *rawCatalog {
	c := &rawCatalog{rt: rt, top: map[string]*scim.Schema{"externalId": nil}, sub: map[*scim.Schema]map[string]bool{}}
	for _, a := range rt.Schema.Attributes {
		switch a.Name {
		case "id", "meta", "schemas", "groups", "members":
			// set by render, never passed through
		default:
			c.top[a.Name] = nil
		}
	}
	for _, e := range rt.Extensions {
		c.top[e.ID] = e
		names := map[string]bool{}
		for _, a := range e.Attributes {
			names[a.Name] = true
		}
		c.sub[e] = names
	}
	return c
}

// appendStored appends the SCIM representation of a user read with
// store.Query.Raw, as render and writeJSON would write it under the
// default projection, or returns ok false when it cannot be sure to.
func (c *rawCatalog) appendStored(b []byte, base string, res *store.Resource) (_ []byte, ok bool) {
	var scratch [32]scim.RawMember
	doc, ok := scim.SplitObject(scratch[:0], res.Text)
	if !ok {
		return b, false
	}
	for _, m := range doc {
		ext, known := c.top[string(m.Key)]
		if !known {
			return b, false
		}
		if ext != nil && len(m.Value) > 0 && m.Value[0] == '{' {
			var s2 [16]scim.RawMember
			subs, ok := scim.SplitObject(s2[:0], m.Value)
			if !ok {
				return b, false
			}
			for _, sm := range subs {
				if !c.sub[ext][string(sm.Key)] {
					return b, false
				}
			}
		}
	}
	start := len(b)
	b = append(b, '{')
	// The members render adds, in key order; the stored ones are merged in
	// between (both sorted, as AppendJSON sorts keys).
	extras := [...]string{"groups", "id", "meta", "schemas"}
	first := true
	sep := func() {
		if !first {
			b = append(b, ',')
		}
		first = false
	}
	i := 0
	for _, key := range extras {
		for i < len(doc) && string(doc[i].Key) < key {
			sep()
			if b, ok = c.appendMember(b, base, doc[i]); !ok {
				return b[:start], false
			}
			i++
		}
		if i < len(doc) && string(doc[i].Key) == key {
			return b[:start], false
		}
		switch key {
		case "groups":
			if len(res.Groups) == 0 {
				continue
			}
			sep()
			b = append(b, `"groups":[`...)
			for j, g := range res.Groups {
				if j > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"$ref":`...)
				b = scim.AppendString(b, base+"/"+refPath(g.Type)+"/"+g.ID)
				b = append(b, `,"display":`...)
				b = scim.AppendString(b, g.Display)
				b = append(b, `,"type":`...)
				b = scim.AppendString(b, g.Type)
				b = append(b, `,"value":`...)
				b = scim.AppendString(b, g.ID)
				b = append(b, '}')
			}
			b = append(b, ']')
		case "id":
			sep()
			b = append(b, `"id":`...)
			b = scim.AppendString(b, res.ID)
		case "meta":
			sep()
			b = append(b, `"meta":{"created":`...)
			b = scim.AppendString(b, res.Created)
			b = append(b, `,"lastModified":`...)
			b = scim.AppendString(b, res.Modified)
			b = append(b, `,"location":`...)
			b = scim.AppendString(b, base+c.rt.Endpoint+"/"+res.ID)
			b = append(b, `,"resourceType":`...)
			b = scim.AppendString(b, c.rt.Name)
			b = append(b, `,"version":`...)
			b = scim.AppendString(b, scim.ETag(res.Version))
			b = append(b, '}')
		case "schemas":
			sep()
			b = append(b, `"schemas":[`...)
			b = scim.AppendString(b, c.rt.Schema.ID)
			for _, e := range c.rt.Extensions {
				for _, m := range doc {
					if string(m.Key) == e.ID {
						b = append(b, ',')
						b = scim.AppendString(b, e.ID)
						break
					}
				}
			}
			b = append(b, ']')
		}
	}
	for ; i < len(doc); i++ {
		sep()
		if b, ok = c.appendMember(b, base, doc[i]); !ok {
			return b[:start], false
		}
	}
	return append(b, '}'), true
}

// appendMember writes one stored member; the enterprise manager gets its
// $ref, as render gives it.
func (c *rawCatalog) appendMember(b []byte, base string, m scim.RawMember) ([]byte, bool) {
	b = append(b, '"')
	b = append(b, m.Key...)
	b = append(b, `":`...)
	if string(m.Key) != scim.EnterpriseSchema || len(m.Value) == 0 || m.Value[0] != '{' {
		return append(b, m.Value...), true
	}
	var s2 [16]scim.RawMember
	subs, ok := scim.SplitObject(s2[:0], m.Value)
	if !ok {
		return b, false
	}
	b = append(b, '{')
	for j, sm := range subs {
		if j > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, sm.Key...)
		b = append(b, `":`...)
		if string(sm.Key) != "manager" || len(sm.Value) == 0 || sm.Value[0] != '{' {
			b = append(b, sm.Value...)
			continue
		}
		if b, ok = appendManager(b, base, sm.Value); !ok {
			return b, false
		}
	}
	return append(b, '}'), true
}

// appendManager writes the manager object with "$ref" added when its value
// is a string, in key order.
func appendManager(b []byte, base string, v []byte) ([]byte, bool) {
	var s [8]scim.RawMember
	ms, ok := scim.SplitObject(s[:0], v)
	if !ok {
		return b, false
	}
	ref := ""
	for _, m := range ms {
		if string(m.Key) == "$ref" {
			return b, false
		}
		if string(m.Key) == "value" && len(m.Value) > 0 && m.Value[0] == '"' {
			id, ok := scim.RawString(m.Value)
			if !ok {
				return b, false
			}
			ref = base + "/Users/" + id
		}
	}
	if ref == "" {
		return append(b, v...), true
	}
	b = append(b, '{')
	wrote, done := false, false
	sep := func() {
		if wrote {
			b = append(b, ',')
		}
		wrote = true
	}
	putRef := func() {
		sep()
		b = append(b, `"$ref":`...)
		b = scim.AppendString(b, ref)
		done = true
	}
	for _, m := range ms {
		if !done && string(m.Key) > "$ref" {
			putRef()
		}
		sep()
		b = append(b, '"')
		b = append(b, m.Key...)
		b = append(b, `":`...)
		b = append(b, m.Value...)
	}
	if !done {
		putRef()
	}
	return append(b, '}'), true
}
