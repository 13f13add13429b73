package scim

import (
	"cmp"
	"encoding/json"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
)

// Match reports whether elem, one element of a multi-valued complex
// attribute, satisfies the value filter f of a PATCH path (RFC 7644
// §3.5.2), using the comparison rules of RFC 7644 §3.4.2.2. elem is as
// decoded by encoding/json with UseNumber. Attribute names in f are
// relative to the element and matched case-insensitively. caseExact says
// whether string comparisons on a path are case-sensitive (RFC 7643 §2.2);
// nil means none are.
//
// Beyond the RFC, booleans and the strings "true"/"false" (any case) compare
// equal both ways, because Entra ID sends roles[primary eq "True"] and
// stores "primary": "True". "ne" is the negation of "eq", so it is true for
// a missing attribute; "eq null" means "not present". A nested value path
// cannot occur in a PATCH filter and never matches.
func Match(f Expr, elem map[string]any, caseExact func(AttrPath) bool) bool {
	switch f := f.(type) {
	case *And:
		return Match(f.L, elem, caseExact) && Match(f.R, elem, caseExact)
	case *Or:
		return Match(f.L, elem, caseExact) || Match(f.R, elem, caseExact)
	case *Not:
		return !Match(f.X, elem, caseExact)
	case *Present:
		v, _ := matchLookup(elem, f.Path)
		return matchPresent(v)
	case *Compare:
		return matchCompare(f, elem, caseExact)
	}
	return false
}

// matchCompare evaluates one comparison against elem.
func matchCompare(c *Compare, elem map[string]any, caseExact func(AttrPath) bool) bool {
	if c.Op == OpNe {
		eq := *c
		eq.Op = OpEq
		return !matchCompare(&eq, elem, caseExact)
	}
	v, _ := matchLookup(elem, c.Path)
	if c.Value == nil {
		return c.Op == OpEq && !matchPresent(v)
	}
	exact := caseExact != nil && caseExact(c.Path)
	// A multi-valued attribute matches when any of its values does
	// (RFC 7644 §3.4.2.2: "any of the values").
	if vs, ok := v.([]any); ok {
		for _, x := range vs {
			if matchValue(x, c.Op, c.Value, exact) {
				return true
			}
		}
		return false
	}
	return matchValue(v, c.Op, c.Value, exact)
}

// matchLookup finds the value at p in elem, matching keys without regard
// to case. The schema URI is ignored: inside a value filter it can only
// repeat the schema of the attribute being filtered.
func matchLookup(elem map[string]any, p AttrPath) (any, bool) {
	v, ok := matchKey(elem, p.Name)
	if !ok || p.Sub == "" {
		return v, ok
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	return matchKey(m, p.Sub)
}

// matchKey looks name up in m: the exact key if present, otherwise the
// smallest key equal to it ignoring case, so that the result does not
// depend on map iteration order.
func matchKey(m map[string]any, name string) (any, bool) {
	if v, ok := m[name]; ok {
		return v, true
	}
	var keys []string
	for k := range m {
		if strings.EqualFold(k, name) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, false
	}
	sort.Strings(keys)
	return m[keys[0]], true
}

// matchPresent is the "pr" test: the value exists and is not null, an
// empty string, an empty array or an empty object (RFC 7644 §3.4.2.2
// "has a non-empty value, or if it contains a non-empty node for complex
// attributes").
func matchPresent(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case string:
		return v != ""
	case []any:
		for _, x := range v {
			if matchPresent(x) {
				return true
			}
		}
		return false
	case map[string]any:
		for _, x := range v {
			if matchPresent(x) {
				return true
			}
		}
		return false
	}
	return true
}

// matchValue applies op (never ne) to one stored value v and the filter
// value want. Mismatched types never match.
func matchValue(v any, op CompareOp, want any, exact bool) bool {
	switch v := v.(type) {
	case string:
		switch w := want.(type) {
		case string:
			return matchString(v, op, w, exact)
		case bool:
			if b, ok := matchBoolString(v); ok {
				return matchBool(b, op, w)
			}
		case Number:
			if matchIsNumber(v) {
				return matchNumber(v, op, string(w))
			}
		}
	case bool:
		switch w := want.(type) {
		case bool:
			return matchBool(v, op, w)
		case string:
			if b, ok := matchBoolString(w); ok {
				return matchBool(v, op, b)
			}
		}
	case json.Number, float64, int, int64:
		n := matchNumberText(v)
		switch w := want.(type) {
		case Number:
			return matchNumber(n, op, string(w))
		case string:
			if matchIsNumber(w) {
				return matchNumber(n, op, w)
			}
		}
	}
	return false
}

// matchString compares strings, folding case unless exact. gt/ge/lt/le
// are lexicographic, which orders the ISO 8601 timestamps SCIM uses
// correctly.
func matchString(v string, op CompareOp, w string, exact bool) bool {
	if !exact {
		v, w = Fold(v), Fold(w)
	}
	switch op {
	case OpEq:
		return v == w
	case OpCo:
		return strings.Contains(v, w)
	case OpSw:
		return strings.HasPrefix(v, w)
	case OpEw:
		return strings.HasSuffix(v, w)
	case OpGt:
		return v > w
	case OpGe:
		return v >= w
	case OpLt:
		return v < w
	case OpLe:
		return v <= w
	}
	return false
}

// matchBoolString reads the string forms of a boolean that identity
// providers send ("True", "false").
func matchBoolString(s string) (bool, bool) {
	switch {
	case strings.EqualFold(s, "true"):
		return true, true
	case strings.EqualFold(s, "false"):
		return false, true
	}
	return false, false
}

// matchBool supports only eq: RFC 7644 §3.4.2.2 defines no ordering or
// substring test on booleans.
func matchBool(v bool, op CompareOp, w bool) bool {
	return op == OpEq && v == w
}

// matchIsNumber reports whether s is a JSON number, so that strings like
// "NaN" or "0x10", which strconv would accept, are not treated as numbers.
func matchIsNumber(s string) bool { return filterIsNumber(s) }

// matchNumberText renders a decoded JSON number as text.
func matchNumberText(v any) string {
	switch v := v.(type) {
	case json.Number:
		return string(v)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	}
	return ""
}

// matchNumber compares two JSON numbers by value: exactly (int64, or
// math/big when the exponents are moderate), otherwise as float64, where
// out-of-range values become ±Inf or 0 and still order correctly. co/sw/ew
// do not apply.
func matchNumber(a string, op CompareOp, b string) bool {
	var c int
	ai, errA := strconv.ParseInt(a, 10, 64)
	bi, errB := strconv.ParseInt(b, 10, 64)
	if errA == nil && errB == nil {
		c = cmp.Compare(ai, bi)
	} else if ax, bx, ok := matchBigFloats(a, b); ok {
		// Beyond int64, float64 would round 12345678901234567890 and
		// 12345678901234567889 to the same value (TestMatch "big gt").
		c = ax.Cmp(bx)
	} else {
		af, errA := strconv.ParseFloat(a, 64)
		bf, errB := strconv.ParseFloat(b, 64)
		if !matchFloatOK(errA) || !matchFloatOK(errB) || math.IsNaN(af) || math.IsNaN(bf) {
			return false
		}
		c = cmp.Compare(af, bf)
	}
	switch op {
	case OpEq:
		return c == 0
	case OpGt:
		return c > 0
	case OpGe:
		return c >= 0
	case OpLt:
		return c < 0
	case OpLe:
		return c <= 0
	}
	return false
}

// matchBigFloats parses both numbers with enough precision (about four
// bits per digit written) that distinct decimal texts stay distinct. ok is
// false when either does not parse or has an exponent beyond ±1000:
// math/big can take minutes on exponents near its limit (1e646456992), and
// such numbers are ordered correctly by the float64 fallback as ±Inf or 0.
func matchBigFloats(a, b string) (*big.Float, *big.Float, bool) {
	if !matchSmallExponent(a) || !matchSmallExponent(b) {
		return nil, nil, false
	}
	prec := uint(4*max(len(a), len(b)) + 64)
	ax, _, errA := new(big.Float).SetPrec(prec).Parse(a, 10)
	bx, _, errB := new(big.Float).SetPrec(prec).Parse(b, 10)
	return ax, bx, errA == nil && errB == nil
}

// matchSmallExponent reports whether the JSON number s has no exponent or
// one of at most 1000 in magnitude.
func matchSmallExponent(s string) bool {
	i := strings.IndexAny(s, "eE")
	if i < 0 {
		return true
	}
	e := strings.TrimLeft(strings.TrimLeft(s[i+1:], "+-"), "0")
	return len(e) < 4 || e == "1000"
}

// matchFloatOK accepts a ParseFloat error only when it is a range error,
// whose result (±Inf or 0) is still usable for ordering.
func matchFloatOK(err error) bool {
	if err == nil {
		return true
	}
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}
