package scim

// This file holds the lexer and recursive-descent parser for the filter
// grammar of RFC 7644 §3.4.2.2, the attribute paths used by sortBy,
// attributes and excludedAttributes (RFC 7644 §3.4.2.3, §3.9), the PATCH path
// grammar of RFC 7644 §3.5.2, and the String methods that print an AST back
// as canonical filter text.
//
// The parser reads the input once, left to right, with one word of
// lookahead and no backtracking, so its cost is linear in the input; the
// length, node and nesting limits bound it further because filters arrive
// from the network.

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// FilterLimits bounds what ParseFilter accepts, because a filter is
// untrusted input that the store compiles to SQL. A zero field means its
// default.
type FilterLimits struct {
	// MaxLength is the longest filter accepted, in characters (Unicode code
	// points). 0 means DefaultFilterMaxLength.
	MaxLength int
	// MaxNodes is the most expressions a filter may have; every And, Or,
	// Not, Compare, Present and ValuePath counts as one. 0 means
	// DefaultFilterMaxNodes.
	MaxNodes int
}

// Defaults for FilterLimits. They are far above anything an identity
// provider sends (Entra and Okta send one or two comparisons) yet keep the
// SQL a filter compiles to small.
const (
	DefaultFilterMaxLength = 8192
	DefaultFilterMaxNodes  = 200
)

// filterMaxDepth caps nesting of parentheses, "not (" and value filters.
// The parser recurses once per level, so without a cap a hostile filter of
// many thousand "(" would exhaust the stack; no real filter nests this deep.
const filterMaxDepth = 64

// ParseFilter parses a filter expression (RFC 7644 §3.4.2.2) into its AST.
// The whole input must be a single expression. Keywords and operators are
// case-insensitive. Beyond the RFC it accepts what Entra ID sends:
// unquoted values ("externalId eq jyoung", taken as the string "jyoung") and
// a sub-attribute comparison after a value filter
// ("emails[type eq \"work\"].value eq \"x\"", taken as
// emails[type eq "work" and value eq "x"]). Errors are *Error with scimType
// invalidFilter and a detail that gives the offset and an excerpt.
func ParseFilter(s string, lim FilterLimits) (Expr, error) {
	return parseFilterDepth(s, lim, filterMaxDepth)
}

// parseFilterDepth is ParseFilter with a chosen depth cap, so that the
// round-trip fuzz test can re-parse printed filters, which may nest one
// level deeper than their source (see writeExpr).
func parseFilterDepth(s string, lim FilterLimits, maxDepth int) (Expr, error) {
	if lim.MaxLength <= 0 {
		lim.MaxLength = DefaultFilterMaxLength
	}
	if lim.MaxNodes <= 0 {
		lim.MaxNodes = DefaultFilterMaxNodes
	}
	if msg := filterCheckInput(s, lim.MaxLength); msg != "" {
		return nil, InvalidFilter("invalid filter: %s", msg)
	}
	p := &filterParser{s: s, maxNodes: lim.MaxNodes, maxDepth: maxDepth}
	p.skipSpace()
	if p.pos == len(s) {
		return nil, InvalidFilter("invalid filter: the filter is empty")
	}
	e, err := p.parseOr()
	if err == nil {
		err = p.expectEnd("expected \"and\", \"or\" or the end of the filter")
	}
	if err != nil {
		return nil, InvalidFilter("invalid filter: %s", p.describe(err))
	}
	return e, nil
}

// ParseAttrPath parses an attribute path as used in sortBy, attributes and
// excludedAttributes (RFC 7644 §3.4.2.3, §3.9): [URI ":"] name ["." sub].
// The URI is everything before the last colon, so a bare schema URN such as
// "urn:ietf:params:scim:schemas:core:2.0:User" parses with Name "User";
// telling the two apart is left to schema resolution. Surrounding spaces are
// ignored because clients write "attributes=userName, emails". Errors are
// *Error with scimType invalidPath.
func ParseAttrPath(s string) (AttrPath, error) {
	if msg := filterCheckInput(s, DefaultFilterMaxLength); msg != "" {
		return AttrPath{}, InvalidPath("invalid attribute path: %s", msg)
	}
	p := &filterParser{s: s, maxNodes: DefaultFilterMaxNodes, maxDepth: filterMaxDepth}
	p.skipSpace()
	if p.pos == len(s) {
		return AttrPath{}, InvalidPath("invalid attribute path: the path is empty")
	}
	a, err := p.parseAttrPath()
	if err == nil {
		err = p.expectEnd("expected the end of the attribute path")
	}
	if err != nil {
		return AttrPath{}, InvalidPath("invalid attribute path: %s", p.describe(err))
	}
	return a, nil
}

// PatchPath is a parsed PATCH operation path (RFC 7644 §3.5.2):
// PATH = attrPath / valuePath [subAttr].
type PatchPath struct {
	// Attr is the attribute the operation targets. When Filter is set,
	// Attr.Sub is empty and the sub-attribute (if any) is in Sub.
	Attr AttrPath
	// Filter selects elements of a multi-valued Attr; nil when the path had
	// no "[...]". Paths inside it are relative to the element.
	Filter Expr
	// Sub is the sub-attribute after "]", as in emails[type eq "work"].value;
	// empty when there was none.
	Sub string
}

// ParsePatchPath parses a PATCH path (RFC 7644 §3.5.2), such as
// "name.givenName", "members[value eq \"7f4b\"]" or
// "emails[type eq \"work\"].value". The value filter accepts the full
// filter grammar except a nested "[". Errors are *Error with scimType
// invalidPath.
func ParsePatchPath(s string) (PatchPath, error) {
	if msg := filterCheckInput(s, DefaultFilterMaxLength); msg != "" {
		return PatchPath{}, InvalidPath("invalid PATCH path: %s", msg)
	}
	p := &filterParser{s: s, maxNodes: DefaultFilterMaxNodes, maxDepth: filterMaxDepth}
	pp, err := p.parsePatchPath()
	if err != nil {
		return PatchPath{}, InvalidPath("invalid PATCH path: %s", p.describe(err))
	}
	return pp, nil
}

// String renders the path in the form ParsePatchPath reads.
func (pp PatchPath) String() string {
	var b strings.Builder
	writeAttrPath(&b, pp.Attr)
	if pp.Filter != nil {
		b.WriteByte('[')
		writeExpr(&b, pp.Filter)
		b.WriteByte(']')
	}
	if pp.Sub != "" {
		b.WriteByte('.')
		b.WriteString(pp.Sub)
	}
	return b.String()
}

// filterCheckInput rejects input the parser should never look at: too long
// (checked first so megabytes are not scanned twice), not UTF-8 or holding
// NUL, which SQLite and C-string consumers truncate at. It returns "" when
// the input is acceptable.
func filterCheckInput(s string, maxLen int) string {
	if len(s) > maxLen && utf8.RuneCountInString(s) > maxLen {
		return fmt.Sprintf("it is longer than the limit of %d characters", maxLen)
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c == 0 {
			return fmt.Sprintf("it contains a NUL character at offset %d", utf8.RuneCountInString(s[:i]))
		}
		if c < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return fmt.Sprintf("it is not valid UTF-8 (bad byte 0x%02x at byte offset %d)", c, i)
		}
		i += n
	}
	return ""
}

// filterParser holds the state of one parse. Errors carry the byte offset
// where the parser stopped; describe turns that into a message.
type filterParser struct {
	s           string
	pos         int
	nodes       int
	maxNodes    int
	depth       int
	maxDepth    int
	inValuePath bool
}

// filterSyntaxError is a parse failure at a byte offset of the input.
// limit marks failures that are about size, not position.
type filterSyntaxError struct {
	pos   int
	msg   string
	limit bool
}

func (e *filterSyntaxError) Error() string { return e.msg }

func (p *filterParser) fail(pos int, format string, args ...any) error {
	return &filterSyntaxError{pos: pos, msg: fmt.Sprintf(format, args...)}
}

// describe renders err as an admin-facing detail: what was expected, the
// character offset, and a short quoted excerpt of what was found there.
func (p *filterParser) describe(err error) string {
	e, ok := err.(*filterSyntaxError)
	if !ok {
		return err.Error()
	}
	if e.limit {
		return e.msg
	}
	return fmt.Sprintf("%s at offset %d, found %s", e.msg, utf8.RuneCountInString(p.s[:e.pos]), filterExcerpt(p.s, e.pos))
}

// filterExcerpt quotes at most a few characters of s from pos, so error
// details stay short whatever the client sent.
func filterExcerpt(s string, pos int) string {
	if pos >= len(s) {
		return "the end of the input"
	}
	const maxRunes = 20
	rest := s[pos:]
	n := 0
	for i := range rest {
		if n == maxRunes {
			return strconv.Quote(rest[:i]) + "..."
		}
		n++
	}
	return strconv.Quote(rest)
}

// addNode counts one AST node against the limit.
func (p *filterParser) addNode() error {
	p.nodes++
	if p.nodes > p.maxNodes {
		return &filterSyntaxError{limit: true, msg: fmt.Sprintf(
			"it has more than the limit of %d expressions (each comparison, pr, and, or, not and [...] counts as one)", p.maxNodes)}
	}
	return nil
}

// enter and leave track nesting depth for the stack guard.
func (p *filterParser) enter() error {
	p.depth++
	if p.depth > p.maxDepth {
		return &filterSyntaxError{pos: p.pos, msg: fmt.Sprintf(
			"parentheses, \"not\" and [...] are nested more than %d levels deep", p.maxDepth)}
	}
	return nil
}

func (p *filterParser) leave() { p.depth-- }

// filterIsSpace reports whether c separates tokens. RFC 7644 uses SP only;
// tabs and line breaks are accepted because they do no harm and some
// clients pretty-print POST /.search bodies.
func filterIsSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n'
}

// filterIsDelim reports whether c ends a word.
func filterIsDelim(c byte) bool {
	return filterIsSpace(c) || c == '(' || c == ')' || c == '[' || c == ']' || c == '"'
}

func (p *filterParser) skipSpace() {
	for p.pos < len(p.s) && filterIsSpace(p.s[p.pos]) {
		p.pos++
	}
}

// scanWord returns the word at pos (possibly empty) without consuming it.
// Words are attribute paths, keywords, operators, numbers and unquoted
// values; they end at whitespace, a bracket, a parenthesis or a quote.
func (p *filterParser) scanWord() string {
	i := p.pos
	for i < len(p.s) && !filterIsDelim(p.s[i]) {
		i++
	}
	return p.s[p.pos:i]
}

// peekKeyword reports whether the next word (after spaces) is kw, ignoring
// case. It moves pos past the spaces only.
func (p *filterParser) peekKeyword(kw string) bool {
	p.skipSpace()
	return strings.EqualFold(p.scanWord(), kw)
}

// expectEnd fails unless only spaces remain; msg says what else would have
// been acceptable at that point.
func (p *filterParser) expectEnd(msg string) error {
	p.skipSpace()
	if p.pos == len(p.s) {
		return nil
	}
	if p.s[p.pos] == ')' {
		return p.fail(p.pos, "unmatched \")\"")
	}
	if p.s[p.pos] == ']' {
		return p.fail(p.pos, "unmatched \"]\"")
	}
	return p.fail(p.pos, "%s", msg)
}

// parseOr parses FILTER *("or" FILTER); "or" binds loosest and groups to
// the left.
func (p *filterParser) parseOr() (Expr, error) {
	l, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.peekKeyword("or") {
		p.pos += len("or")
		r, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		if err := p.addNode(); err != nil {
			return nil, err
		}
		l = &Or{L: l, R: r}
	}
	return l, nil
}

// parseAnd parses unary *("and" unary), grouping to the left.
func (p *filterParser) parseAnd() (Expr, error) {
	l, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for p.peekKeyword("and") {
		p.pos += len("and")
		r, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		if err := p.addNode(); err != nil {
			return nil, err
		}
		l = &And{L: l, R: r}
	}
	return l, nil
}

// parseUnary parses "(" FILTER ")", "not" "(" FILTER ")" or an attribute
// expression.
func (p *filterParser) parseUnary() (Expr, error) {
	p.skipSpace()
	if p.pos == len(p.s) {
		return nil, p.fail(p.pos, "expected an attribute name, \"(\" or \"not\"")
	}
	if p.s[p.pos] == '(' {
		return p.parseGroup()
	}
	w := p.scanWord()
	if w == "" {
		return nil, p.fail(p.pos, "expected an attribute name, \"(\" or \"not\"")
	}
	// RFC 7644 writes "not" "(" FILTER ")": the parentheses are required,
	// and insisting on them keeps "not" from ever being read as an
	// attribute name.
	if strings.EqualFold(w, "not") {
		p.pos += len(w)
		p.skipSpace()
		if p.pos == len(p.s) || p.s[p.pos] != '(' {
			return nil, p.fail(p.pos, "expected \"(\" after \"not\" (write not (expression))")
		}
		x, err := p.parseGroup()
		if err != nil {
			return nil, err
		}
		if err := p.addNode(); err != nil {
			return nil, err
		}
		return &Not{X: x}, nil
	}
	return p.parseAttrExp()
}

// parseGroup parses "(" FILTER ")" with pos at the "(".
func (p *filterParser) parseGroup() (Expr, error) {
	open := p.pos
	p.pos++
	if err := p.enter(); err != nil {
		return nil, err
	}
	x, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos == len(p.s) || p.s[p.pos] != ')' {
		if p.pos == len(p.s) {
			return nil, p.fail(p.pos, "the \"(\" at offset %d is not closed: expected \")\"", utf8.RuneCountInString(p.s[:open]))
		}
		return nil, p.fail(p.pos, "expected \"and\", \"or\" or \")\"")
	}
	p.pos++
	p.leave()
	return x, nil
}

// parseAttrExp parses attrPath "pr", attrPath compareOp compValue, or a
// value path attrPath "[" valFilter "]" (with Entra's trailing
// ".sub op value").
func (p *filterParser) parseAttrExp() (Expr, error) {
	start := p.pos
	path, err := p.parseAttrPath()
	if err != nil {
		return nil, err
	}
	written := p.s[start:p.pos]
	p.skipSpace()
	if p.pos < len(p.s) && p.s[p.pos] == '[' {
		return p.parseValuePath(start, path)
	}
	return p.parseOperator(path, written)
}

// parseValuePath parses "[" valFilter "]" after path, with pos at "[".
func (p *filterParser) parseValuePath(start int, path AttrPath) (Expr, error) {
	if p.inValuePath {
		return nil, p.fail(p.pos, "nested \"[\" is not allowed inside a value filter")
	}
	if path.Sub != "" {
		return nil, p.fail(start, "a value filter \"[...]\" must follow an attribute name without a sub-attribute")
	}
	f, err := p.parseBracket()
	if err != nil {
		return nil, err
	}
	if err := p.addNode(); err != nil {
		return nil, err
	}
	// Entra sends emails[type eq "work"].value eq "x" (not in the RFC
	// grammar). It means: some element has type "work" and value "x", so
	// the comparison joins the bracket filter.
	if p.pos < len(p.s) && p.s[p.pos] == '.' {
		subStart := p.pos
		p.pos++
		n := filterNameLen(p.s[p.pos:])
		if n == 0 {
			return nil, p.fail(p.pos, "expected a sub-attribute name after \".\"")
		}
		sub := AttrPath{Name: p.s[p.pos : p.pos+n]}
		p.pos += n
		if p.pos < len(p.s) && !filterIsDelim(p.s[p.pos]) {
			return nil, p.fail(p.pos, "unexpected character in sub-attribute name")
		}
		cmp, err := p.parseOperator(sub, p.s[subStart:p.pos])
		if err != nil {
			return nil, err
		}
		if err := p.addNode(); err != nil {
			return nil, err
		}
		f = &And{L: f, R: cmp}
	}
	return &ValuePath{Path: path, Filter: f}, nil
}

// parseBracket parses "[" valFilter "]" with pos at "[".
func (p *filterParser) parseBracket() (Expr, error) {
	open := p.pos
	p.pos++
	if err := p.enter(); err != nil {
		return nil, err
	}
	p.inValuePath = true
	f, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos == len(p.s) || p.s[p.pos] != ']' {
		if p.pos == len(p.s) {
			return nil, p.fail(p.pos, "the \"[\" at offset %d is not closed: expected \"]\"", utf8.RuneCountInString(p.s[:open]))
		}
		return nil, p.fail(p.pos, "expected \"and\", \"or\" or \"]\"")
	}
	p.pos++
	p.inValuePath = false
	p.leave()
	return f, nil
}

// parseOperator parses "pr" or compareOp compValue after path; written is
// the path as it appeared, for messages.
func (p *filterParser) parseOperator(path AttrPath, written string) (Expr, error) {
	p.skipSpace()
	opPos := p.pos
	w := p.scanWord()
	if w == "" {
		return nil, p.fail(p.pos, "expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le or pr) after %q", written)
	}
	op := CompareOp(strings.ToLower(w))
	switch op {
	case "pr":
		p.pos += len(w)
		if err := p.addNode(); err != nil {
			return nil, err
		}
		return &Present{Path: path}, nil
	case OpEq, OpNe, OpCo, OpSw, OpEw, OpGt, OpGe, OpLt, OpLe:
		p.pos += len(w)
	default:
		return nil, p.fail(opPos, "unknown operator %q after %q (expected eq, ne, co, sw, ew, gt, ge, lt, le or pr)", filterShort(w), written)
	}
	v, err := p.parseValue(w)
	if err != nil {
		return nil, err
	}
	if err := p.addNode(); err != nil {
		return nil, err
	}
	return &Compare{Path: path, Op: op, Value: v}, nil
}

// filterShort truncates a word for inclusion in a message.
func filterShort(w string) string {
	const max = 20
	n := 0
	for i := range w {
		if n == max {
			return w[:i] + "..."
		}
		n++
	}
	return w
}

// parseValue parses compValue: a JSON string, number, true, false or null.
// A bare word that is none of these is taken as a string, because Entra ID
// has sent "externalId eq jyoung" and Microsoft's test collection
// "userName sw O".
func (p *filterParser) parseValue(op string) (any, error) {
	p.skipSpace()
	if p.pos == len(p.s) {
		return nil, p.fail(p.pos, "expected a value after %q", op)
	}
	if p.s[p.pos] == '"' {
		return p.parseString()
	}
	w := p.scanWord()
	if w == "" {
		return nil, p.fail(p.pos, "expected a value after %q", op)
	}
	p.pos += len(w)
	switch {
	case strings.EqualFold(w, "true"):
		return true, nil
	case strings.EqualFold(w, "false"):
		return false, nil
	case strings.EqualFold(w, "null"):
		return nil, nil
	case filterIsNumber(w):
		return Number(w), nil
	}
	return w, nil
}

// filterIsNumber reports whether w is a JSON number (RFC 8259 §6).
func filterIsNumber(w string) bool {
	i := 0
	if i < len(w) && w[i] == '-' {
		i++
	}
	switch {
	case i < len(w) && w[i] == '0':
		i++
	case i < len(w) && w[i] >= '1' && w[i] <= '9':
		for i < len(w) && filterIsDigit(w[i]) {
			i++
		}
	default:
		return false
	}
	if i < len(w) && w[i] == '.' {
		i++
		if i == len(w) || !filterIsDigit(w[i]) {
			return false
		}
		for i < len(w) && filterIsDigit(w[i]) {
			i++
		}
	}
	if i < len(w) && (w[i] == 'e' || w[i] == 'E') {
		i++
		if i < len(w) && (w[i] == '+' || w[i] == '-') {
			i++
		}
		if i == len(w) || !filterIsDigit(w[i]) {
			return false
		}
		for i < len(w) && filterIsDigit(w[i]) {
			i++
		}
	}
	return i == len(w)
}

func filterIsDigit(c byte) bool { return c >= '0' && c <= '9' }

func filterIsAlpha(c byte) bool { return (c|0x20) >= 'a' && (c|0x20) <= 'z' }

// parseString decodes a JSON string (RFC 8259 §7) with pos at the opening
// quote. Like encoding/json, an unpaired surrogate escape becomes U+FFFD.
// An escaped NUL is refused for the same reason a raw one is.
func (p *filterParser) parseString() (string, error) {
	open := p.pos
	i := p.pos + 1
	// Fast path: no escapes, so the value is a substring.
	for i < len(p.s) && p.s[i] != '"' && p.s[i] != '\\' {
		i++
	}
	if i < len(p.s) && p.s[i] == '"' {
		p.pos = i + 1
		return p.s[open+1 : i], nil
	}
	var b strings.Builder
	b.WriteString(p.s[open+1 : i])
	for {
		if i >= len(p.s) {
			return "", p.fail(open, "unterminated string (missing closing \")")
		}
		c := p.s[i]
		switch c {
		case '"':
			p.pos = i + 1
			return b.String(), nil
		case '\\':
			if i+1 >= len(p.s) {
				return "", p.fail(open, "unterminated string (missing closing \")")
			}
			esc := p.s[i+1]
			i += 2
			switch esc {
			case '"', '\\', '/':
				b.WriteByte(esc)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				r, ok := filterHex4(p.s, i)
				if !ok {
					return "", p.fail(i-2, "invalid \\u escape (expected four hex digits)")
				}
				i += 4
				if r == 0 {
					return "", p.fail(i-6, "the escape \\u0000 (NUL) is not allowed")
				}
				if r >= 0xD800 && r < 0xDC00 {
					// A high surrogate must be followed by an escaped low
					// one to form a single code point.
					if i+1 < len(p.s) && p.s[i] == '\\' && p.s[i+1] == 'u' {
						if lo, ok := filterHex4(p.s, i+2); ok && lo >= 0xDC00 && lo < 0xE000 {
							r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
							i += 6
						} else {
							r = utf8.RuneError
						}
					} else {
						r = utf8.RuneError
					}
				} else if r >= 0xDC00 && r < 0xE000 {
					r = utf8.RuneError
				}
				b.WriteRune(r)
			default:
				return "", p.fail(i-2, "invalid escape in string (valid: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)")
			}
		default:
			// Raw control characters are not valid JSON but are harmless
			// here; accepting them is kinder than a confusing error.
			j := i
			for j < len(p.s) && p.s[j] != '"' && p.s[j] != '\\' {
				j++
			}
			b.WriteString(p.s[i:j])
			i = j
		}
	}
}

// filterHex4 decodes four hex digits at s[i:].
func filterHex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}

// filterNameLen returns the length of the ATTRNAME at the start of s, or 0.
// RFC 7643 §2.1: ATTRNAME = ALPHA *(nameChar), nameChar = "-" / "_" / DIGIT
// / ALPHA. A leading "$" is also allowed because RFC 7643 itself names the
// "$ref" sub-attribute that way.
func filterNameLen(s string) int {
	i := 0
	if i < len(s) && s[i] == '$' {
		i++
	}
	if i == len(s) || !filterIsAlpha(s[i]) {
		return 0
	}
	i++
	for i < len(s) && (filterIsAlpha(s[i]) || filterIsDigit(s[i]) || s[i] == '-' || s[i] == '_') {
		i++
	}
	return i
}

// filterIsURIChar reports whether c may appear in the schema URI prefix of
// an attribute path: the unreserved and most reserved characters of RFC 3986
// (not brackets, which delimit value filters, nor quotes or spaces).
func filterIsURIChar(c byte) bool {
	if filterIsAlpha(c) || filterIsDigit(c) {
		return true
	}
	return strings.IndexByte("-._~:/?#@!$&'*+,;=%", c) >= 0
}

// parseAttrPath parses attrPath = [URI ":"] ATTRNAME *1subAttr at pos. The
// URI is everything up to the last colon of the word: attribute names
// cannot contain colons, while schema URNs contain several and may contain
// dots ("...:2.0:User").
func (p *filterParser) parseAttrPath() (AttrPath, error) {
	start := p.pos
	w := p.scanWord()
	if w == "" {
		return AttrPath{}, p.fail(start, "expected an attribute name")
	}
	var a AttrPath
	off := 0
	if i := strings.LastIndexByte(w, ':'); i >= 0 {
		a.URI = w[:i]
		if !filterIsAlpha(w[0]) {
			return AttrPath{}, p.fail(start, "expected a schema URI or attribute name starting with a letter")
		}
		for j := 0; j < i; j++ {
			if !filterIsURIChar(w[j]) {
				return AttrPath{}, p.fail(start+j, "invalid character in schema URI")
			}
		}
		off = i + 1
	}
	n := filterNameLen(w[off:])
	if n == 0 {
		return AttrPath{}, p.fail(start+off, "expected an attribute name (a letter, then letters, digits, \"-\" or \"_\")")
	}
	a.Name = w[off : off+n]
	off += n
	if off < len(w) && w[off] == '.' {
		off++
		n = filterNameLen(w[off:])
		if n == 0 {
			return AttrPath{}, p.fail(start+off, "expected a sub-attribute name after \".\"")
		}
		a.Sub = w[off : off+n]
		off += n
		if off < len(w) && w[off] == '.' {
			return AttrPath{}, p.fail(start+off, "an attribute path has at most one sub-attribute")
		}
	}
	if off < len(w) {
		return AttrPath{}, p.fail(start+off, "unexpected character in attribute path")
	}
	p.pos += len(w)
	return a, nil
}

// parsePatchPath parses PATH = attrPath / valuePath [subAttr]
// (RFC 7644 §3.5.2) covering the whole input.
func (p *filterParser) parsePatchPath() (PatchPath, error) {
	p.skipSpace()
	if p.pos == len(p.s) {
		return PatchPath{}, p.fail(p.pos, "expected an attribute name")
	}
	start := p.pos
	a, err := p.parseAttrPath()
	if err != nil {
		return PatchPath{}, err
	}
	pp := PatchPath{Attr: a}
	next := "expected \"[\" or the end of the path"
	p.skipSpace()
	if p.pos < len(p.s) && p.s[p.pos] == '[' {
		if a.Sub != "" {
			return PatchPath{}, p.fail(start, "a value filter \"[...]\" must follow an attribute name without a sub-attribute")
		}
		f, err := p.parseBracket()
		if err != nil {
			return PatchPath{}, err
		}
		pp.Filter = f
		next = "expected \".\" and a sub-attribute name, or the end of the path"
		if p.pos < len(p.s) && p.s[p.pos] == '.' {
			p.pos++
			n := filterNameLen(p.s[p.pos:])
			if n == 0 {
				return PatchPath{}, p.fail(p.pos, "expected a sub-attribute name after \".\"")
			}
			pp.Sub = p.s[p.pos : p.pos+n]
			p.pos += n
			next = "expected the end of the path"
		}
	}
	if err := p.expectEnd(next); err != nil {
		return PatchPath{}, err
	}
	return pp, nil
}

// String renders the path as URI:Name.Sub, leaving out empty parts.
func (a AttrPath) String() string {
	var b strings.Builder
	writeAttrPath(&b, a)
	return b.String()
}

func writeAttrPath(b *strings.Builder, a AttrPath) {
	if a.URI != "" {
		b.WriteString(a.URI)
		b.WriteByte(':')
	}
	b.WriteString(a.Name)
	if a.Sub != "" {
		b.WriteByte('.')
		b.WriteString(a.Sub)
	}
}

// String renders the expression as canonical filter text.
func (e *And) String() string { return exprString(e) }

// String renders the expression as canonical filter text.
func (e *Or) String() string { return exprString(e) }

// String renders the expression as canonical filter text.
func (e *Not) String() string { return exprString(e) }

// String renders the expression as canonical filter text.
func (e *Compare) String() string { return exprString(e) }

// String renders the expression as canonical filter text.
func (e *Present) String() string { return exprString(e) }

// String renders the expression as canonical filter text.
func (e *ValuePath) String() string { return exprString(e) }

func exprString(e Expr) string {
	var b strings.Builder
	writeExpr(&b, e)
	return b.String()
}

// writeExpr prints e so that ParseFilter gives back the same tree: only the
// parentheses the precedence rules need (and binds tighter than or, both
// group to the left) are written. A tree that came from Entra's
// "x[f].sub op v" form prints as x[f and sub op v], which gains a level of
// parentheses when f is an Or.
func writeExpr(b *strings.Builder, e Expr) {
	switch e := e.(type) {
	case *And:
		writeOperand(b, e.L, func(x Expr) bool { _, ok := x.(*Or); return ok })
		b.WriteString(" and ")
		writeOperand(b, e.R, func(x Expr) bool {
			switch x.(type) {
			case *Or, *And:
				return true
			}
			return false
		})
	case *Or:
		writeExpr(b, e.L)
		b.WriteString(" or ")
		writeOperand(b, e.R, func(x Expr) bool { _, ok := x.(*Or); return ok })
	case *Not:
		b.WriteString("not (")
		writeExpr(b, e.X)
		b.WriteByte(')')
	case *Compare:
		writeAttrPath(b, e.Path)
		b.WriteByte(' ')
		b.WriteString(string(e.Op))
		b.WriteByte(' ')
		writeValue(b, e.Value)
	case *Present:
		writeAttrPath(b, e.Path)
		b.WriteString(" pr")
	case *ValuePath:
		writeAttrPath(b, e.Path)
		b.WriteByte('[')
		writeExpr(b, e.Filter)
		b.WriteByte(']')
	case nil:
		// Only a hand-built tree can hold nil; print something that fails
		// to parse rather than panic.
		b.WriteString("<nil>")
	default:
		fmt.Fprintf(b, "<%T>", e)
	}
}

func writeOperand(b *strings.Builder, x Expr, paren func(Expr) bool) {
	if paren(x) {
		b.WriteByte('(')
		writeExpr(b, x)
		b.WriteByte(')')
		return
	}
	writeExpr(b, x)
}

// writeValue prints a comparison value as a JSON literal.
func writeValue(b *strings.Builder, v any) {
	switch v := v.(type) {
	case string:
		writeJSONString(b, v)
	case Number:
		b.WriteString(string(v))
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case nil:
		b.WriteString("null")
	default:
		// Hand-built trees only; quote so the output still parses.
		writeJSONString(b, fmt.Sprint(v))
	}
}

// writeJSONString quotes s as a JSON string (RFC 8259 §7). Unlike
// encoding/json it leaves <, > and & alone, which keeps filters readable.
func writeJSONString(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b.WriteString(s[start:i])
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteString(`\u00`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xF])
		}
		start = i + 1
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
}
