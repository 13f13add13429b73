package scim

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// AppendJSON encodes the values that resources are made of (maps, slices,
// strings, booleans, json.Number, ints, nil) without reflection. Keys are
// sorted, so the output is the same as encoding/json's; strings are escaped
// as encoding/json does with SetEscapeHTML(false). Any other type falls back
// to encoding/json.
func AppendJSON(b []byte, v any) ([]byte, error) {
	e := jsonEncoder{b: b}
	e.value(v)
	return e.b, e.err
}

// StreamJSON encodes v like AppendJSON into buf, but whenever more than
// flushAt bytes are pending between two elements of an array it writes them
// to w and reuses buf: a response holding a 100,000-member group is sent in
// pieces instead of built whole. It returns what is left to write (all of it
// when nothing was flushed).
func StreamJSON(w io.Writer, buf []byte, v any, flushAt int) ([]byte, error) {
	e := jsonEncoder{b: buf, w: w, flushAt: flushAt}
	e.value(v)
	return e.b, e.err
}

type jsonEncoder struct {
	b       []byte
	w       io.Writer // nil: append only
	flushAt int
	err     error
}

func (e *jsonEncoder) value(v any) {
	if e.err != nil {
		return
	}
	switch x := v.(type) {
	case nil:
		e.b = append(e.b, "null"...)
	case string:
		e.b = appendString(e.b, x)
	case bool:
		e.b = strconv.AppendBool(e.b, x)
	case RawJSON:
		e.b = append(e.b, x...)
	case json.Number:
		if x == "" {
			e.b = append(e.b, '0')
			return
		}
		e.b = append(e.b, x...)
	case int:
		e.b = strconv.AppendInt(e.b, int64(x), 10)
	case int64:
		e.b = strconv.AppendInt(e.b, x, 10)
	case []any:
		e.b = append(e.b, '[')
		for i, el := range x {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.value(el)
			if e.w != nil && len(e.b) >= e.flushAt && e.err == nil {
				_, e.err = e.w.Write(e.b)
				e.b = e.b[:0]
			}
		}
		e.b = append(e.b, ']')
	case []string:
		e.b = append(e.b, '[')
		for i, el := range x {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.b = appendString(e.b, el)
		}
		e.b = append(e.b, ']')
	case MemberRef:
		// Keys in sorted order, as a map would be written.
		e.b = append(e.b, '{')
		if x.Ref != "" {
			e.b = append(e.b, `"$ref":`...)
			e.b = appendString(e.b, x.Ref)
			e.b = append(e.b, ',')
		}
		e.b = append(e.b, `"display":`...)
		e.b = appendString(e.b, x.Display)
		e.b = append(e.b, `,"type":`...)
		e.b = appendString(e.b, x.Type)
		e.b = append(e.b, `,"value":`...)
		e.b = appendString(e.b, x.Value)
		e.b = append(e.b, '}')
	case map[string]any:
		var small [8]string // most resource maps have few keys: no allocation
		keys := small[:0]
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		e.b = append(e.b, '{')
		for i, k := range keys {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.b = appendString(e.b, k)
			e.b = append(e.b, ':')
			e.value(x[k])
		}
		e.b = append(e.b, '}')
	default:
		m, err := json.Marshal(v)
		if err != nil {
			e.err = fmt.Errorf("encode %T: %w", v, err)
			return
		}
		e.b = append(e.b, m...)
	}
}

const hexDigits = "0123456789abcdef"

// appendString quotes s as JSON: ", \ and control characters escaped,
// U+2028/U+2029 escaped (as encoding/json does), invalid UTF-8 replaced by
// U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// DeepCopy copies a decoded JSON document: maps and slices are new, leaves
// are shared (they are immutable).
func DeepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = DeepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = DeepCopy(e)
		}
		return l
	}
	return v
}

// DecodeDocument parses a stored document, the output of AppendJSON, into
// the values AppendJSON takes (map[string]any, []any, string, bool,
// json.Number, nil). It is a small recursive-descent parser, several times
// faster than encoding/json's reflection for this one shape, used for the
// documents scimd wrote itself. Request bodies go through encoding/json,
// whose validation and error offsets clients see. Any input that is not
// well-formed JSON is an error.
func DecodeDocument(b []byte) (map[string]any, error) {
	d := docDecoder{b: b}
	d.space()
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	d.space()
	if d.i != len(d.b) {
		return nil, d.fail("data after the document")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, d.fail("not an object")
	}
	return m, nil
}

type docDecoder struct {
	b []byte
	i int
}

func (d *docDecoder) fail(what string) error {
	return fmt.Errorf("stored document: %s at byte %d", what, d.i)
}

func (d *docDecoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// maxDocDepth bounds recursion on a corrupted document.
const maxDocDepth = 128

func (d *docDecoder) value(depth int) (any, error) {
	if depth > maxDocDepth {
		return nil, d.fail("nesting too deep")
	}
	if d.i >= len(d.b) {
		return nil, d.fail("unexpected end")
	}
	switch c := d.b[d.i]; {
	case c == '{':
		d.i++
		m := map[string]any{}
		d.space()
		if d.i < len(d.b) && d.b[d.i] == '}' {
			d.i++
			return m, nil
		}
		for {
			d.space()
			if d.i >= len(d.b) || d.b[d.i] != '"' {
				return nil, d.fail("expected a key")
			}
			k, err := d.str()
			if err != nil {
				return nil, err
			}
			d.space()
			if d.i >= len(d.b) || d.b[d.i] != ':' {
				return nil, d.fail("expected ':'")
			}
			d.i++
			d.space()
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			m[k] = v
			if done, err := d.more('}'); err != nil || done {
				return m, err
			}
		}
	case c == '[':
		d.i++
		l := []any{}
		d.space()
		if d.i < len(d.b) && d.b[d.i] == ']' {
			d.i++
			return l, nil
		}
		for {
			d.space()
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
			if done, err := d.more(']'); err != nil || done {
				return l, err
			}
		}
	case c == '"':
		return d.str()
	case c == 't':
		return d.lit("true", true)
	case c == 'f':
		return d.lit("false", false)
	case c == 'n':
		return d.lit("null", nil)
	case c == '-' || c >= '0' && c <= '9':
		return d.num()
	}
	return nil, d.fail("unexpected character")
}

// more reads what follows a member or element: a comma (more to come) or
// the closing bracket (done).
func (d *docDecoder) more(closing byte) (done bool, err error) {
	d.space()
	switch {
	case d.i >= len(d.b):
		return false, d.fail("unexpected end")
	case d.b[d.i] == ',':
		d.i++
		return false, nil
	case d.b[d.i] == closing:
		d.i++
		return true, nil
	}
	return false, d.fail("expected ',' or '" + string(closing) + "'")
}

func (d *docDecoder) lit(word string, v any) (any, error) {
	if len(d.b)-d.i < len(word) || string(d.b[d.i:d.i+len(word)]) != word {
		return nil, d.fail("bad literal")
	}
	d.i += len(word)
	return v, nil
}

// num reads a JSON number (RFC 8259 §6) and keeps its text.
func (d *docDecoder) num() (any, error) {
	start := d.i
	if d.b[d.i] == '-' {
		d.i++
	}
	digits := func() int {
		n := 0
		for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if d.i < len(d.b) && d.b[d.i] == '0' {
		d.i++
	} else if digits() == 0 {
		return nil, d.fail("bad number")
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if digits() == 0 {
			return nil, d.fail("bad number")
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return nil, d.fail("bad number")
		}
	}
	return json.Number(d.b[start:d.i]), nil
}

// str reads a JSON string, decoding escapes as encoding/json does (a lone
// surrogate becomes U+FFFD).
func (d *docDecoder) str() (string, error) {
	d.i++ // opening quote
	start := d.i
	for d.i < len(d.b) {
		c := d.b[d.i]
		if c == '"' {
			s := string(d.b[start:d.i])
			d.i++
			if !utf8.ValidString(s) {
				s = string(validUTF8(nil, []byte(s)))
			}
			return s, nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		d.i++
	}
	buf := append([]byte(nil), d.b[start:d.i]...)
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			if !utf8.Valid(buf) {
				buf = validUTF8(nil, buf)
			}
			return string(buf), nil
		case c < 0x20:
			return "", d.fail("control character in string")
		case c != '\\':
			buf = append(buf, c)
			d.i++
			continue
		}
		d.i++
		if d.i >= len(d.b) {
			break
		}
		e := d.b[d.i]
		d.i++
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := d.hex4()
			if !ok {
				return "", d.fail("bad \\u escape")
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if d.i+1 < len(d.b) && d.b[d.i] == '\\' && d.b[d.i+1] == 'u' {
					save := d.i
					d.i += 2
					if x, ok := d.hex4(); ok {
						r2 = x
					} else {
						d.i = save
					}
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						buf = utf8.AppendRune(buf, dec)
						continue
					}
					d.i = save
				}
				r = utf8.RuneError
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", d.fail("bad escape")
		}
	}
	return "", d.fail("unterminated string")
}

func (d *docDecoder) hex4() (rune, bool) {
	if len(d.b)-d.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range d.b[d.i : d.i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	d.i += 4
	return r, true
}

// validUTF8 replaces each byte of an invalid UTF-8 sequence with U+FFFD, as
// encoding/json does.
func validUTF8(dst, b []byte) []byte {
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		dst = utf8.AppendRune(dst, r)
		b = b[size:]
	}
	return dst
}

// MemberRef is one member of a group as read back: a compact, typed element
// of a "members" list, so that a group with a hundred thousand members is
// not a hundred thousand maps. It encodes exactly as the equivalent map.
type MemberRef struct {
	Value   string `json:"value"`
	Display string `json:"display"`
	Type    string `json:"type"` // "User" or "Group"
	Ref     string `json:"$ref,omitempty"`
}

// Map returns the member as the map form the rest of the document uses.
func (m MemberRef) Map() map[string]any {
	out := map[string]any{"value": m.Value, "display": m.Display, "type": m.Type}
	if m.Ref != "" {
		out["$ref"] = m.Ref
	}
	return out
}
