package scim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits bounds the shape of requests. Zero fields take the defaults of
// DefaultLimits.
type Limits struct {
	MaxDepth      int // JSON nesting depth of a request body
	MaxValueLen   int // bytes in one string value
	MaxOperations int // operations in one PATCH
	MaxMembers    int // members named in one request
	Filter        FilterLimits
}

// DefaultLimits are generous for every identity provider seen in the wild
// (Entra sends one member per PATCH, Okta batches a few hundred) and small
// enough that a hostile request is refused before it costs memory.
var DefaultLimits = Limits{MaxDepth: 32, MaxValueLen: 65536, MaxOperations: 1000, MaxMembers: 10000}

// WithDefaults fills zero fields from DefaultLimits.
func (l Limits) WithDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultLimits.MaxDepth
	}
	if l.MaxValueLen <= 0 {
		l.MaxValueLen = DefaultLimits.MaxValueLen
	}
	if l.MaxOperations <= 0 {
		l.MaxOperations = DefaultLimits.MaxOperations
	}
	if l.MaxMembers <= 0 {
		l.MaxMembers = DefaultLimits.MaxMembers
	}
	return l
}

// checkShape scans JSON text once, before it is decoded, and refuses
// what would be expensive to decode or ambiguous once decoded:
//   - arrays and objects nested deeper than MaxDepth (invalidSyntax);
//   - an array with more elements than any request may name (invalidValue):
//     more than MaxMembers or MaxOperations, and never fewer than the
//     default member limit, so other multi-valued attributes are not cut
//     short;
//   - an object that names one key twice, comparing keys without regard to
//     case (invalidSyntax). RFC 7643 §2.1 makes attribute names
//     case-insensitive, so {"userName":"a","UserName":"b"} or a PATCH
//     operation with "Op" and "OP" sets one attribute twice; decoded into a
//     map, which one wins would depend on the order the code looks them up
//     in. Every object of a SCIM request is keyed by attribute names (core,
//     extension URNs, sub-attributes, PatchOp and SearchRequest members), so
//     the rule holds at every depth.
//
// A 10,000-level document or a million-member PATCH costs one pass over its
// bytes instead of a recursive decode of all of it. Malformed JSON is left
// for the decoder to describe.
func checkShape(b []byte, lim Limits) error {
	max := max(lim.MaxMembers, lim.MaxOperations, DefaultLimits.MaxMembers)
	type level struct {
		array      bool
		n          int // elements seen so far (arrays)
		key0, key1 int // the key whose value this is, as b[key0:key1]
		keys       int // objects: where this object's keys start in keys
		// seen holds the folded keys of an object once it has more than
		// linearKeys of them, so a wide object costs O(n), not O(n²).
		seen map[string]string
	}
	const linearKeys = 16
	var stackBuf [16]level
	var keysBuf [64][]byte
	stack, keys := stackBuf[:0], keysBuf[:0]
	str0, str1, prev := 0, 0, byte(0)
	strEsc := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '"':
			// Find the closing quote: one not preceded by an odd number of
			// backslashes.
			str0, strEsc = i+1, false
			j := i + 1
			for {
				k := bytes.IndexByte(b[j:], '"')
				if k < 0 {
					return nil // unterminated: the decoder reports it
				}
				j += k
				bs := 0
				for bs < j-str0 && b[j-1-bs] == '\\' {
					bs++
				}
				if bs > 0 {
					strEsc = true
				}
				if bs%2 == 0 {
					break
				}
				j++
			}
			if !strEsc {
				strEsc = bytes.IndexByte(b[str0:j], '\\') >= 0
			}
			str1, i = j, j
		case ':':
			n := len(stack)
			if n == 0 || stack[n-1].array || prev != '"' {
				break
			}
			l := &stack[n-1]
			key := b[str0:str1]
			if strEsc {
				var s string
				if json.Unmarshal(b[str0-1:str1+1], &s) != nil {
					return nil // a bad escape: the decoder reports it
				}
				key = []byte(s)
			}
			if l.seen != nil {
				f := foldKey(key)
				if first, dup := l.seen[f]; dup {
					return duplicateKey(b, l.key0, l.key1, first, string(key))
				}
				l.seen[f] = string(key)
				break
			}
			for _, k := range keys[l.keys:] {
				if bytes.EqualFold(k, key) {
					return duplicateKey(b, l.key0, l.key1, string(k), string(key))
				}
			}
			keys = append(keys, key)
			if len(keys)-l.keys > linearKeys {
				l.seen = make(map[string]string, 2*linearKeys)
				for _, k := range keys[l.keys:] {
					l.seen[foldKey(k)] = string(k)
				}
				keys = keys[:l.keys]
			}
		case '{', '[':
			if len(stack) >= lim.MaxDepth {
				return InvalidSyntax("request body nests JSON deeper than %d levels", lim.MaxDepth)
			}
			l := level{array: c == '[', n: 1, keys: len(keys)}
			if prev == ':' {
				l.key0, l.key1 = str0, str1
			} else if n := len(stack); n > 0 && stack[n-1].array {
				// An element of "emails": [...] is named after it.
				l.key0, l.key1 = stack[n-1].key0, stack[n-1].key1
			}
			stack = append(stack, l)
		case '}', ']':
			if n := len(stack); n > 0 {
				keys = keys[:stack[n-1].keys]
				stack = stack[:n-1]
			}
		case ',':
			if n := len(stack); n > 0 && stack[n-1].array {
				l := &stack[n-1]
				l.n++
				if l.n > max {
					name := "an array"
					if l.key1 > l.key0 && l.key1-l.key0 <= 64 {
						name = string(b[l.key0:l.key1])
					}
					return InvalidValue("%s in the request body has more than %d elements; a request may name at most %d members and %d operations",
						name, max, lim.MaxMembers, lim.MaxOperations)
				}
			}
		}
		prev = c
	}
	return nil
}

// foldKey maps an object key to a form that two keys share exactly when
// bytes.EqualFold says they are equal: each rune becomes the smallest
// lower-case member of its simple case-folding orbit (the smallest member
// when none is lower case), which for ASCII is plain lower case. It is the map key for wide objects in
// checkShape, which must agree with the pairwise comparison of small ones.
func foldKey(k []byte) string {
	b := make([]byte, 0, len(k))
	for i := 0; i < len(k); {
		c := k[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b = append(b, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(k[i:])
		best, bestLower := r, unicode.IsLower(r)
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if fl := unicode.IsLower(f); fl && !bestLower || fl == bestLower && f < best {
				best, bestLower = f, fl
			}
		}
		b = utf8.AppendRune(b, best)
		i += n
	}
	return string(b)
}

// duplicateKey is the error for an object that names one attribute twice;
// b[key0:key1] is the key of the enclosing object, if any.
func duplicateKey(b []byte, key0, key1 int, first, second string) error {
	where := ""
	if key1 > key0 {
		where = fmt.Sprintf(" in %q", Clip(string(b[key0:key1]), 64))
	}
	if first == second {
		return InvalidSyntax("the request body names %q twice in one object%s; each attribute may appear once",
			Clip(second, 64), where)
	}
	return InvalidSyntax("the request body names %q and %q in one object%s: attribute names are case-insensitive (RFC 7643 §2.1), so both name one attribute; send it once",
		Clip(first, 64), Clip(second, 64), where)
}

// DecodeObject parses a request body that must be one JSON object. Numbers
// stay json.Number so integers and decimals round-trip exactly.
func DecodeObject(b []byte, lim Limits) (map[string]any, error) {
	lim = lim.WithDefaults()
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, InvalidSyntax("request body is empty; a JSON object was expected")
	}
	if !utf8.Valid(b) {
		return nil, InvalidSyntax("request body is not valid UTF-8")
	}
	if err := checkShape(b, lim); err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, InvalidSyntax("request body is not valid JSON: %s", jsonErr(err))
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, InvalidSyntax("request body has data after the JSON object")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, InvalidSyntax("request body must be a JSON object, not %s", kind(v))
	}
	return m, nil
}

func jsonErr(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s at byte %d", se.Error(), se.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of input"
	}
	return err.Error()
}

// kind names a decoded JSON value's type for error details.
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// lookup returns the value of key in m, matching the key case-insensitively
// (RFC 7643 §2.1: attribute names are case-insensitive).
func lookup(m map[string]any, key string) (any, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// sortedKeys gives deterministic iteration, so the first error reported for a
// body is always the same one.
func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

// Normalize turns a decoded POST or PUT body into the stored document:
// attribute names in their schema spelling, extension attributes under their
// schema URN, values checked against their types, nulls dropped, and
// readOnly, writeOnly and unknown attributes ignored (RFC 7644 §3.3, §3.5.1).
// String values are kept exactly as sent. The result still has to pass
// Validate.
func (rt *ResourceType) Normalize(in map[string]any, lim Limits) (map[string]any, error) {
	lim = lim.WithDefaults()
	out := make(map[string]any, len(in))
	for _, k := range sortedKeys(in) {
		v := in[k]
		if strings.EqualFold(k, "schemas") {
			if err := rt.checkSchemas(v); err != nil {
				return nil, err
			}
			continue
		}
		if ext := rt.schemaFor(k); ext == rt.Schema {
			// {"urn:...:core:2.0:User": {"microsoftId": ...}}: core attributes
			// nested under their own schema URN, like an extension.
			inner, ok := v.(map[string]any)
			if !ok {
				continue
			}
			nested, err := rt.Normalize(inner, lim)
			if err != nil {
				return nil, err
			}
			for nk, nv := range nested {
				out[nk] = nv
			}
			continue
		} else if ext != nil {
			if v == nil {
				continue
			}
			obj, ok := v.(map[string]any)
			if !ok {
				return nil, InvalidSyntax("%s must be an object of extension attributes, not %s", ext.ID, kind(v))
			}
			for _, sk := range sortedKeys(obj) {
				a := ext.Attr(sk)
				if a == nil {
					continue
				}
				if err := setNormalized(out, Target{Schema: ext, Attr: a}, obj[sk], lim); err != nil {
					return nil, err
				}
			}
			continue
		}
		p, err := ParseAttrPath(k)
		if err != nil {
			continue // not an attribute name at all: ignored like any unknown key
		}
		t, err := rt.Resolve(p)
		if err != nil {
			continue // unknown attribute: ignored (RFC 7644 §3.3 leniency; Entra legacy bodies)
		}
		if err := setNormalized(out, t, v, lim); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// setNormalized stores v at t in doc after checking it, unless t is readOnly
// or never stored.
func setNormalized(doc map[string]any, t Target, v any, lim Limits) error {
	if t.Common != "" && t.Common != "externalId" {
		return nil // id, meta, schemas: assigned by the server
	}
	if t.Attr.Mutability == ReadOnly || t.Attr.Mutability == WriteOnly {
		return nil // groups, password: ignored on input
	}
	if t.Sub != nil {
		if t.Attr.MultiValued || t.Sub.Mutability == ReadOnly {
			return nil
		}
		nv, err := normalizeValue(t.Sub, v, t.String(), lim)
		if err != nil {
			return err
		}
		parent, _ := getAt(doc, t).(map[string]any)
		if nv == nil {
			if parent != nil {
				delete(parent, t.Sub.Name)
				if len(parent) == 0 {
					delAt(doc, t)
				}
			}
			return nil
		}
		if parent == nil {
			parent = map[string]any{}
			setAt(doc, t, parent)
		}
		parent[t.Sub.Name] = nv
		return nil
	}
	nv, err := normalizeValue(t.Attr, v, t.String(), lim)
	if err != nil {
		return err
	}
	if nv == nil {
		delAt(doc, t)
		return nil
	}
	setAt(doc, t, nv)
	return nil
}

// getAt, setAt and delAt address a target's top-level attribute in a stored
// document: core attributes at the top, extension attributes under the URN.
func getAt(doc map[string]any, t Target) any {
	if t.Common == "" && t.Schema != nil && isExtension(t.Schema) {
		ext, _ := doc[t.Schema.ID].(map[string]any)
		if ext == nil {
			return nil
		}
		return ext[t.Attr.Name]
	}
	return doc[t.Key()]
}

func setAt(doc map[string]any, t Target, v any) {
	if t.Common == "" && t.Schema != nil && isExtension(t.Schema) {
		ext, _ := doc[t.Schema.ID].(map[string]any)
		if ext == nil {
			ext = map[string]any{}
			doc[t.Schema.ID] = ext
		}
		ext[t.Attr.Name] = v
		return
	}
	doc[t.Key()] = v
}

func delAt(doc map[string]any, t Target) {
	if t.Common == "" && t.Schema != nil && isExtension(t.Schema) {
		ext, _ := doc[t.Schema.ID].(map[string]any)
		if ext != nil {
			delete(ext, t.Attr.Name)
			if len(ext) == 0 {
				delete(doc, t.Schema.ID)
			}
		}
		return
	}
	delete(doc, t.Key())
}

func isExtension(s *Schema) bool { return s.ID != UserSchema && s.ID != GroupSchema }

// checkSchemas accepts any array of strings that does not name the other
// resource type's core schema. Unknown URNs are tolerated: Entra's legacy
// samples carry a malformed enterprise URN and the Microsoft ADSCIM group URN.
func (rt *ResourceType) checkSchemas(v any) error {
	arr, ok := v.([]any)
	if !ok {
		return InvalidSyntax("schemas must be an array of schema URNs, not %s", kind(v))
	}
	own := false
	foreign := ""
	for _, x := range arr {
		s, ok := x.(string)
		if !ok {
			return InvalidSyntax("schemas must contain only strings; found %s", kind(x))
		}
		switch {
		case strings.EqualFold(s, rt.Schema.ID):
			own = true
		case strings.EqualFold(s, UserSchema), strings.EqualFold(s, GroupSchema):
			foreign = s
		}
	}
	if foreign != "" && !own {
		return InvalidSyntax("schemas names %s, but this endpoint takes %s resources (%s)", foreign, rt.Name, rt.Schema.ID)
	}
	return nil
}

// normalizeValue checks v against a, returning the value to store, or nil
// for "no value".
func normalizeValue(a *Attribute, v any, name string, lim Limits) (any, error) {
	if v == nil {
		return nil, nil
	}
	if !a.MultiValued {
		return normalizeSingle(a, v, name, lim)
	}
	if a.Name == "members" && a.Type == TypeComplex {
		v = quirkMember(v) // a lone bare id, before it is refused as "not an object"
	}
	var in []any
	switch x := v.(type) {
	case []any:
		in = x
	case map[string]any:
		if a.Type != TypeComplex {
			return nil, InvalidValue("%s must be an array of %s values, not an object", name, a.Type)
		}
		in = []any{x} // a lone element where an array belongs: wrapped
	default:
		if a.Type == TypeComplex {
			return nil, InvalidValue("%s must be an array of objects, not %s", name, kind(v))
		}
		in = []any{x}
	}
	if a.Name == "members" && len(in) > lim.MaxMembers {
		return nil, InvalidValue("%s names %d members; at most %d are accepted in one request", name, len(in), lim.MaxMembers)
	}
	out := make([]any, 0, len(in))
	for i, el := range in {
		nv, err := normalizeSingle(a, el, fmt.Sprintf("%s[%d]", name, i), lim)
		if err != nil {
			return nil, err
		}
		if nv != nil {
			out = append(out, nv)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	if p := a.Sub("primary"); p != nil && p.Type == TypeBoolean {
		// RFC 7643 §2.4: "primary" true appears at most once. A POST or
		// PUT is one operation that sets every value, so the rule PATCH
		// applies (exclusivePrimary) leaves the first primary value
		// primary and stores the others with primary false.
		exclusivePrimary(out, nil)
	}
	return out, nil
}

func normalizeSingle(a *Attribute, v any, name string, lim Limits) (any, error) {
	if a.Name == "manager" && a.Type == TypeComplex {
		v = quirkManager(v)
	}
	if a.Name == "members" && a.Type == TypeComplex {
		v = quirkMember(v)
	}
	if a.Type == TypeBoolean {
		v = quirkBool(v)
	}
	if v == nil {
		return nil, nil
	}
	switch a.Type {
	case TypeComplex:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, InvalidValue("%s must be an object, not %s", name, kind(v))
		}
		out := make(map[string]any, len(obj))
		for _, k := range sortedKeys(obj) {
			s := a.Sub(k)
			if s == nil || s.Mutability == ReadOnly {
				continue
			}
			nv, err := normalizeSingle(s, obj[k], name+"."+s.Name, lim)
			if err != nil {
				return nil, err
			}
			if nv != nil {
				out[s.Name] = nv
			}
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	case TypeBoolean:
		if _, ok := v.(bool); !ok {
			return nil, InvalidValue("%s must be a boolean (true or false), not %s", name, describe(v))
		}
		return v, nil
	case TypeInteger, TypeDecimal:
		n, ok := v.(json.Number)
		if !ok {
			return nil, InvalidValue("%s must be a number, not %s", name, describe(v))
		}
		// strconv, not math/big: big.ParseFloat spends minutes on an
		// exponent like 1e1000000000, which would let one request pin a core.
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			return nil, InvalidValue("%s: %s is not a number in the range of a 64-bit float", name, clip(string(n)))
		}
		if a.Type == TypeInteger {
			if _, err := strconv.ParseInt(string(n), 10, 64); err != nil && (f != math.Trunc(f) || math.Abs(f) >= 1<<63) {
				return nil, InvalidValue("%s must be a 64-bit integer, not %s", name, clip(string(n)))
			}
		}
		return n, nil
	}
	s, ok := v.(string)
	if !ok {
		return nil, InvalidValue("%s must be a string, not %s", name, describe(v))
	}
	if len(s) > lim.MaxValueLen {
		return nil, InvalidValue("%s is %d bytes long; at most %d are accepted", name, len(s), lim.MaxValueLen)
	}
	if a.Type == TypeDateTime {
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			return nil, InvalidValue("%s must be an xsd:dateTime such as 2026-11-23T10:00:00Z, not %q", name, clip(s))
		}
	}
	if a.Lowercase {
		s = strings.ToLower(s)
	}
	if a.Strict && len(a.CanonicalValues) > 0 {
		found := false
		for _, c := range a.CanonicalValues {
			if s == c || !a.CaseExact && strings.EqualFold(s, c) {
				found = true
				break
			}
		}
		if !found {
			return nil, InvalidValue("%s must be one of %s, not %q", name, strings.Join(a.CanonicalValues, ", "), clip(s))
		}
	}
	if a.Pattern != nil && !a.Pattern.MatchString(s) {
		return nil, InvalidValue("%s value %q does not match the pattern %s", name, clip(s), a.Pattern)
	}
	if a.names {
		if err := checkName(s, name); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// checkName refuses a userName or group displayName that cannot serve as a
// name: empty or only white space (it is required, RFC 7643 §4.1.1 and
// §4.2), or holding a C0 control character or DEL (U+0000–U+001F, U+007F),
// which no directory name contains and which would reach log lines and
// admin terminals raw. The check applies where a value comes in (POST, PUT,
// PATCH), so a name stored before the rule existed does not block updates
// that leave it alone.
func checkName(s, name string) error {
	if strings.TrimSpace(s) == "" {
		return InvalidValue("%s must not be empty or only white space", name)
	}
	for i, r := range s {
		if r < 0x20 || r == 0x7f {
			return InvalidValue("%s must not contain control characters; found U+%04X at byte %d", name, r, i)
		}
	}
	return nil
}

// describe names a value for an error detail: its type, and a short excerpt
// for scalars.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("the string %q", clip(x))
	case json.Number:
		return "the number " + clip(string(x))
	case bool:
		return fmt.Sprintf("the boolean %v", x)
	}
	return kind(v)
}

// clip shortens client text quoted in an error detail.
func clip(s string) string { return Clip(s, 64) }

// Clip shortens client text to at most max bytes (on a character boundary)
// plus an ellipsis, for quoting it in an error detail or a log line.
func Clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Validate checks what must hold of a complete resource: required
// attributes are present (RFC 7643 §2.2).
func (rt *ResourceType) Validate(doc map[string]any) error {
	check := func(s *Schema, m map[string]any) error {
		for _, a := range s.Attributes {
			if !a.Required || a.Mutability == ReadOnly {
				continue
			}
			v, ok := m[a.Name]
			if !ok || v == nil || v == "" {
				name := a.Name
				if isExtension(s) {
					name = s.ID + ":" + a.Name
				}
				return InvalidValue("%s is required", name)
			}
		}
		return nil
	}
	if err := check(rt.Schema, doc); err != nil {
		return err
	}
	for _, e := range rt.Extensions {
		m, _ := doc[e.ID].(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		if err := check(e, m); err != nil {
			return err
		}
	}
	return nil
}

// jsonNumber converts a filter Number literal to the json.Number that
// decoded documents hold.
func jsonNumber(n Number) json.Number { return json.Number(string(n)) }
