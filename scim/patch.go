package scim

import (
	"reflect"
	"strconv"
	"strings"
)

// PatchOp is one decoded PATCH operation (RFC 7644 §3.5.2). Op is lower case;
// Path is nil for a path-less operation; Value is the decoded JSON value.
type PatchOp struct {
	Op    string
	Path  *PatchPath
	Value any
	// HasValue distinguishes "value": null from no value at all.
	HasValue bool
}

// DecodePatch parses a PatchOp request body. Keys are matched
// case-insensitively and op names lower-cased (quirkOp).
func DecodePatch(body []byte, lim Limits) ([]PatchOp, error) {
	lim = lim.WithDefaults()
	m, err := DecodeObject(body, lim)
	if err != nil {
		return nil, err
	}
	if s, ok := lookup(m, "schemas"); ok {
		arr, ok := s.([]any)
		found := false
		for _, x := range arr {
			if str, _ := x.(string); strings.EqualFold(str, PatchSchema) {
				found = true
			}
		}
		if !ok || !found {
			return nil, InvalidSyntax("schemas must be [%q] in a PATCH request", PatchSchema)
		}
	}
	raw, ok := lookup(m, "Operations")
	if !ok {
		return nil, InvalidSyntax("PATCH request has no Operations array")
	}
	arr, ok := raw.([]any)
	if !ok {
		return nil, InvalidSyntax("Operations must be an array, not %s", kind(raw))
	}
	if len(arr) == 0 {
		return nil, InvalidValue("Operations is empty; a PATCH request needs at least one operation")
	}
	if len(arr) > lim.MaxOperations {
		return nil, InvalidValue("PATCH request has %d operations; at most %d are accepted", len(arr), lim.MaxOperations)
	}
	ops := make([]PatchOp, 0, len(arr))
	for i, x := range arr {
		o, ok := x.(map[string]any)
		if !ok {
			return nil, InvalidSyntax("Operations[%d] must be an object, not %s", i, kind(x))
		}
		var op PatchOp
		name, _ := lookup(o, "op")
		s, ok := name.(string)
		if !ok {
			return nil, InvalidSyntax("Operations[%d].op must be \"add\", \"replace\" or \"remove\"", i)
		}
		op.Op = quirkOp(s)
		switch op.Op {
		case "add", "replace", "remove":
		default:
			return nil, InvalidSyntax("Operations[%d].op %q is not one of \"add\", \"replace\", \"remove\"", i, clip(s))
		}
		if p, ok := lookup(o, "path"); ok && p != nil {
			ps, ok := p.(string)
			if !ok {
				return nil, InvalidPath("Operations[%d].path must be a string, not %s", i, kind(p))
			}
			if strings.TrimSpace(ps) != "" {
				pp, err := ParsePatchPath(ps)
				if err != nil {
					return nil, err
				}
				op.Path = &pp
			}
		}
		op.Value, op.HasValue = lookup(o, "value")
		if op.Op != "remove" && !op.HasValue {
			return nil, InvalidValue("Operations[%d] (%s) has no value", i, op.Op)
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// MemberKind says what a MemberChange does to a group's member set.
type MemberKind int

// Member change kinds.
const (
	MemberAdd     MemberKind = iota // add these members (set union)
	MemberRemove                    // remove these members (set difference)
	MemberReplace                   // the member set becomes exactly these
)

// MemberChange is a set operation on a group's members, produced by PATCH
// and applied by the store in the same transaction as the rest of the
// request, never as load-modify-save of the member list.
type MemberChange struct {
	Kind MemberKind
	IDs  []string // member ids; for MemberReplace possibly empty (remove all)
}

// PatchOptions tune PATCH application.
type PatchOptions struct {
	// ReplaceMembersAdds makes "replace" on members add (Entra); see
	// quirkReplaceMembersAdds.
	ReplaceMembersAdds bool
	Limits             Limits
}

// ApplyPatch applies ops in order to doc, a stored document (for a Group
// without its members). It changes doc in place and returns the member
// changes to apply, in order. On error doc may be partly changed: callers
// work on a copy and discard it, so a request applies completely or not at
// all.
func (rt *ResourceType) ApplyPatch(doc map[string]any, ops []PatchOp, opt PatchOptions) ([]MemberChange, error) {
	p := &patcher{rt: rt, doc: doc, opt: opt, lim: opt.Limits.WithDefaults()}
	for i, op := range ops {
		if err := p.apply(op); err != nil {
			if e, ok := err.(*Error); ok && len(ops) > 1 {
				e.Detail = "Operations[" + strconv.Itoa(i) + "]: " + e.Detail
			}
			return nil, err
		}
	}
	return p.members, nil
}

type patcher struct {
	rt      *ResourceType
	doc     map[string]any
	opt     PatchOptions
	lim     Limits
	members []MemberChange
	nMember int
}

func (p *patcher) apply(op PatchOp) error {
	if op.Path == nil {
		if op.Op == "remove" {
			return NoTarget("remove needs a path (RFC 7644 §3.5.2.2)")
		}
		obj, ok := op.Value.(map[string]any)
		if !ok {
			return InvalidValue("%s without a path needs an object of attributes as its value, not %s", op.Op, kind(op.Value))
		}
		return p.applyObject(op.Op, obj)
	}
	// A path that is a whole extension's URN addresses its object, as it
	// does in attributes= and in resource bodies.
	if ext := p.rt.schemaFor(op.Path.Attr.String()); ext != nil && ext != p.rt.Schema && op.Path.Filter == nil {
		if op.Op == "remove" || quirkClear(op.Value) {
			delete(p.doc, ext.ID)
			return nil
		}
		return p.applyObject(op.Op, map[string]any{ext.ID: op.Value})
	}
	t, err := p.rt.Resolve(op.Path.Attr)
	if err != nil {
		return err
	}
	if op.Path.Sub != "" {
		if t.Sub != nil || t.Attr == nil || t.Attr.Type != TypeComplex {
			return InvalidPath("path %q: a sub-attribute after a filter needs a complex attribute", op.Path.String())
		}
		t.Sub = t.Attr.Sub(op.Path.Sub)
		if t.Sub == nil {
			return InvalidPath("path %q: %s has no sub-attribute %q", op.Path.String(), t.Attr.Name, op.Path.Sub)
		}
	}
	if op.Path.Filter != nil && (t.Attr == nil || !t.Attr.MultiValued) {
		return InvalidPath("path %q: a [filter] needs a multi-valued attribute", op.Path.String())
	}
	return p.applyAt(op.Op, t, op.Path.Filter, op.Value, op.HasValue, false)
}

// applyObject applies a path-less add or replace: each key of the value is an
// attribute name, a dotted sub-attribute ("name.givenName"), a URN-qualified
// name, or an extension URN holding an object (RFC 7644 §3.5.2.1, §3.5.2.3,
// and Entra's aadOptscim062020 shape). readOnly keys such as id (Okta's group
// rename) and unknown keys are ignored.
func (p *patcher) applyObject(op string, obj map[string]any) error {
	for _, k := range sortedKeys(obj) {
		v := obj[k]
		if ext := p.rt.schemaFor(k); ext == p.rt.Schema {
			if inner, ok := v.(map[string]any); ok {
				if err := p.applyObject(op, inner); err != nil {
					return err
				}
			}
			continue
		} else if ext != nil {
			inner, ok := v.(map[string]any)
			if !ok {
				if v == nil {
					continue
				}
				return InvalidValue("%s must be an object of extension attributes, not %s", ext.ID, kind(v))
			}
			for _, sk := range sortedKeys(inner) {
				a := ext.Attr(sk)
				if a == nil {
					continue
				}
				if err := p.applyAt(op, Target{Schema: ext, Attr: a}, nil, inner[sk], true, true); err != nil {
					return err
				}
			}
			continue
		}
		path, err := ParseAttrPath(k)
		if err != nil {
			continue
		}
		t, err := p.rt.Resolve(path)
		if err != nil {
			continue
		}
		if err := p.applyAt(op, t, nil, v, true, true); err != nil {
			return err
		}
	}
	return nil
}

// applyAt applies one operation at a resolved target. lenient is set for
// path-less operations, where readOnly keys are ignored instead of refused.
func (p *patcher) applyAt(op string, t Target, filter Expr, v any, hasValue, lenient bool) error {
	switch {
	case t.Common == "externalId":
	case t.Common != "":
		if lenient {
			return nil
		}
		return Mutability("%s is readOnly and set by the server", t.String())
	case t.Attr.Mutability == WriteOnly:
		return nil // password: accepted and never stored (scimd keeps no passwords)
	case t.Attr.Mutability == ReadOnly || t.Sub != nil && t.Sub.Mutability == ReadOnly:
		if lenient {
			return nil
		}
		if t.Attr.Name == "groups" {
			return Mutability("groups is readOnly: change memberships through the group's members")
		}
		return Mutability("%s is readOnly", t.String())
	}
	if p.rt.Name == "Group" && t.Attr != nil && t.Attr.Name == "members" && t.Schema == p.rt.Schema {
		return p.members_(op, t, filter, v, hasValue)
	}
	if t.Attr.MultiValued {
		return p.multi(op, t, filter, v, hasValue)
	}
	if op == "remove" || quirkClear(v) {
		if t.Sub != nil {
			parent, _ := getAt(p.doc, t).(map[string]any)
			if parent != nil {
				delete(parent, t.Sub.Name)
				if len(parent) == 0 {
					delAt(p.doc, t)
				}
			}
			return nil
		}
		delAt(p.doc, t)
		return nil
	}
	if t.Sub == nil && t.Attr.Type == TypeComplex {
		// add/replace of a single-valued complex attribute: the given
		// sub-attributes replace or add; the others stay (RFC 7644 §3.5.2.3).
		nv, err := normalizeValue(t.Attr, v, t.String(), p.lim)
		if err != nil {
			return err
		}
		if nv == nil {
			delAt(p.doc, t)
			return nil
		}
		cur, _ := getAt(p.doc, t).(map[string]any)
		if cur == nil || t.Attr.Name == "manager" {
			setAt(p.doc, t, nv)
			return nil
		}
		for k, x := range nv.(map[string]any) {
			cur[k] = x
		}
		return nil
	}
	return setNormalized(p.doc, t, v, p.lim)
}

// multi applies an operation to a multi-valued attribute, with or without a
// value filter and sub-attribute.
func (p *patcher) multi(op string, t Target, filter Expr, v any, hasValue bool) error {
	cur, _ := getAt(p.doc, t).([]any)
	before := primaries(cur)
	caseExact := func(ap AttrPath) bool {
		if s := t.Attr.Sub(ap.Name); s != nil {
			return s.CaseExact
		}
		return false
	}
	matches := func(el any) bool {
		if filter == nil {
			return true
		}
		m, ok := el.(map[string]any)
		return ok && Match(filter, m, caseExact)
	}
	clear := op == "remove" || quirkClear(v)

	switch {
	case filter == nil && t.Sub == nil:
		switch {
		case op == "remove":
			if vals, ok := quirkRemoveValues(v); ok && hasValue {
				norm, err := normalizeValue(t.Attr, vals, t.String(), p.lim)
				if err != nil {
					return err
				}
				nl, _ := norm.([]any)
				cur = removeEqual(cur, nl, t.Attr)
			} else {
				cur = nil
			}
		case quirkClear(v):
			cur = nil
		default:
			nv, err := normalizeValue(t.Attr, v, t.String(), p.lim)
			if err != nil {
				return err
			}
			nl, _ := nv.([]any)
			if op == "replace" {
				cur = nl
			} else {
				for _, x := range nl {
					if !containsEqual(cur, x) {
						cur = append(cur, x)
					}
				}
			}
		}
	case t.Sub == nil: // filter, whole elements
		kept := cur[:0:0]
		hit := false
		var nv any
		if !clear {
			var err error
			nv, err = normalizeSingle(t.Attr, v, t.String(), p.lim)
			if err != nil {
				return err
			}
		}
		for _, el := range cur {
			if !matches(el) {
				kept = append(kept, el)
				continue
			}
			hit = true
			if clear {
				continue
			}
			if m, ok := nv.(map[string]any); ok {
				merged := cloneMap(el.(map[string]any))
				for k, x := range m {
					merged[k] = x
				}
				kept = append(kept, merged)
			}
		}
		if !hit && !clear {
			el, err := p.fromFilter(t, filter)
			if err != nil {
				return err
			}
			if m, ok := nv.(map[string]any); ok {
				for k, x := range m {
					el[k] = x
				}
			}
			kept = append(kept, el)
		}
		cur = kept
	default: // sub-attribute of the matching elements (all, without a filter)
		var nv any
		if !clear {
			var err error
			nv, err = normalizeSingle(t.Sub, v, t.String(), p.lim)
			if err != nil {
				return err
			}
			if nv == nil {
				clear = true
			}
		}
		eq, _ := eqFields(t, filter)
		kept := cur[:0:0]
		hit := false
		for _, el := range cur {
			m, ok := el.(map[string]any)
			if !ok || !matches(el) {
				kept = append(kept, el)
				continue
			}
			hit = true
			m = cloneMap(m)
			if clear {
				delete(m, t.Sub.Name)
				if onlyFilterFields(m, eq) {
					continue // nothing left but what the filter selected on
				}
			} else {
				m[t.Sub.Name] = nv
			}
			kept = append(kept, m)
		}
		if !hit && !clear {
			// A filtered add/replace with no matching element creates it
			// (Entra: Replace phoneNumbers[type eq "work"].value on a user
			// with no work phone; RFC 7644 would say noTarget).
			el, err := p.fromFilter(t, filter)
			if err != nil {
				return err
			}
			el[t.Sub.Name] = nv
			kept = append(kept, el)
		}
		cur = kept
	}
	exclusivePrimary(cur, before)
	if len(cur) == 0 {
		delAt(p.doc, t)
	} else {
		setAt(p.doc, t, cur)
	}
	return nil
}

// fromFilter builds a new element from a filter of eq comparisons joined by
// and, e.g. type eq "work" gives {"type": "work"}.
func (p *patcher) fromFilter(t Target, filter Expr) (map[string]any, error) {
	el, ok := eqFields(t, filter)
	if !ok {
		return nil, NoTarget("no %s element matches %s, and the filter is not a set of eq comparisons a new element could be made from", t.Attr.Name, filter)
	}
	return el, nil
}

// eqFields collects the sub-attribute values that an and-chain of eq
// comparisons requires. ok is false for any other filter shape.
func eqFields(t Target, f Expr) (map[string]any, bool) {
	out := map[string]any{}
	if f == nil {
		return out, true
	}
	var walk func(Expr) bool
	walk = func(e Expr) bool {
		switch x := e.(type) {
		case *And:
			return walk(x.L) && walk(x.R)
		case *Compare:
			if x.Op != OpEq || x.Path.Sub != "" {
				return false
			}
			s := t.Attr.Sub(x.Path.Name)
			if s == nil {
				return false
			}
			v := x.Value
			if n, ok := v.(Number); ok {
				v = jsonNumber(n)
			}
			nv, err := normalizeSingle(s, v, s.Name, DefaultLimits)
			if err != nil || nv == nil {
				return false
			}
			out[s.Name] = nv
			return true
		}
		return false
	}
	return out, walk(f)
}

// onlyFilterFields reports whether a cleared element has nothing left but
// what the filter selected on and the labels type, primary and display, so
// that clearing emails[type eq "work"].value removes the work email instead
// of leaving {"type":"work","primary":true} (Entra's null-update test;
// TestPatchIdPShapes "Entra clear with empty string").
func onlyFilterFields(m, eq map[string]any) bool {
	for k := range m {
		if k == "type" || k == "primary" || k == "display" {
			continue
		}
		if _, ok := eq[k]; !ok {
			return false
		}
	}
	return true
}

// primaries remembers which elements were primary before an operation.
func primaries(l []any) map[uintptr]bool {
	out := map[uintptr]bool{}
	for _, el := range l {
		if m, ok := el.(map[string]any); ok && m["primary"] == true {
			out[reflect.ValueOf(m).Pointer()] = true
		}
	}
	return out
}

// exclusivePrimary keeps at most one primary element: when an operation
// makes a value primary, the others stop being primary (RFC 7644 §3.5.2).
func exclusivePrimary(l []any, before map[uintptr]bool) {
	var prim []map[string]any
	newest := -1
	for _, el := range l {
		if m, ok := el.(map[string]any); ok && m["primary"] == true {
			if newest < 0 && !before[reflect.ValueOf(m).Pointer()] {
				newest = len(prim)
			}
			prim = append(prim, m)
		}
	}
	if len(prim) < 2 || newest < 0 {
		return
	}
	for i, m := range prim {
		if i != newest {
			m["primary"] = false
		}
	}
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func containsEqual(l []any, x any) bool {
	for _, el := range l {
		if reflect.DeepEqual(el, x) {
			return true
		}
	}
	return false
}

// removeEqual drops the elements of l that match one of rm: by "value" when
// the removal names one (Entra's member-style removal), else by equality.
func removeEqual(l, rm []any, a *Attribute) []any {
	out := l[:0:0]
	for _, el := range l {
		drop := false
		for _, r := range rm {
			rv, rok := r.(map[string]any)
			ev, eok := el.(map[string]any)
			if rok && eok && rv["value"] != nil {
				if sameValue(ev["value"], rv["value"], a) {
					drop = true
				}
			} else if reflect.DeepEqual(el, r) {
				drop = true
			}
		}
		if !drop {
			out = append(out, el)
		}
	}
	return out
}

func sameValue(x, y any, a *Attribute) bool {
	xs, ok1 := x.(string)
	ys, ok2 := y.(string)
	if ok1 && ok2 {
		if s := a.Sub("value"); s != nil && !s.CaseExact {
			return Fold(xs) == Fold(ys)
		}
		return xs == ys
	}
	return reflect.DeepEqual(x, y)
}

// members_ turns an operation on a Group's members into set operations.
func (p *patcher) members_(op string, t Target, filter Expr, v any, hasValue bool) error {
	if t.Sub != nil {
		if t.Sub.Mutability == Immutable {
			return Mutability("members.%s is immutable; add or remove whole members", t.Sub.Name)
		}
		return InvalidPath("members.%s cannot be changed; add or remove whole members", t.Sub.Name)
	}
	var ids []string
	if filter != nil {
		if op != "remove" {
			// add/replace on members[value eq "x"]: the member is there or
			// is added; nothing else about a member can change.
			got, ok := memberIDsFromFilter(filter)
			if !ok {
				return InvalidFilter("members[...] supports only value eq \"id\" (joined by or)")
			}
			return p.addMembers(MemberAdd, got)
		}
		got, ok := memberIDsFromFilter(filter)
		if !ok {
			return InvalidFilter("members[...] supports only value eq \"id\" (joined by or)")
		}
		return p.addMembers(MemberRemove, got)
	}
	if op == "remove" {
		vals, ok := quirkRemoveValues(v)
		if !ok || !hasValue {
			return p.addMembers(MemberReplace, nil) // remove all (RFC 7644 §3.5.2.2)
		}
		v = vals
	}
	nv, err := normalizeValue(t.Attr, v, "members", p.lim)
	if err != nil {
		return err
	}
	nl, _ := nv.([]any)
	// Normalising drops elements that hold nothing writable ({"display":
	// "x"}); a member without an id is an error, not a no-op
	// (TestPatchGroupMembers "member without value").
	if raw, ok := v.([]any); ok && len(nl) < len(raw) {
		return InvalidValue("members: %d of %d elements have no value (the member's id)", len(raw)-len(nl), len(raw))
	}
	for i, el := range nl {
		m := el.(map[string]any)
		id, _ := m["value"].(string)
		if id == "" {
			return InvalidValue("members[%d] has no value (the member's id)", i)
		}
		ids = append(ids, id)
	}
	switch op {
	case "remove":
		return p.addMembers(MemberRemove, ids)
	case "replace":
		if p.opt.ReplaceMembersAdds {
			return p.addMembers(MemberAdd, ids)
		}
		return p.addMembers(MemberReplace, ids)
	}
	return p.addMembers(MemberAdd, ids)
}

func (p *patcher) addMembers(k MemberKind, ids []string) error {
	p.nMember += len(ids)
	if p.nMember > p.lim.MaxMembers {
		return InvalidValue("the request names more than %d members; send them in several requests", p.lim.MaxMembers)
	}
	p.members = append(p.members, MemberChange{Kind: k, IDs: ids})
	return nil
}

// memberIDsFromFilter reads ids from value eq "id" comparisons joined by or.
func memberIDsFromFilter(f Expr) ([]string, bool) {
	switch x := f.(type) {
	case *Or:
		l, ok1 := memberIDsFromFilter(x.L)
		r, ok2 := memberIDsFromFilter(x.R)
		return append(l, r...), ok1 && ok2
	case *Compare:
		s, ok := x.Value.(string)
		if x.Op == OpEq && strings.EqualFold(x.Path.Name, "value") && x.Path.Sub == "" && ok {
			return []string{s}, true
		}
	}
	return nil, false
}
