package scim

// Stored documents are AppendJSON's output: no whitespace, keys sorted. A
// list or GET response is mostly such a document with a few members added
// (id, meta, schemas, references), so it can be sent by splicing the stored
// text instead of decoding it into maps and encoding those again. These
// helpers do the splicing; they refuse (ok false) anything they do not
// fully understand, and the caller then takes the decoding path.

// RawJSON is a value already encoded as JSON. AppendJSON and StreamJSON
// write it as it is.
type RawJSON []byte

// RawMember is one member of an encoded JSON object: its key (as encoded,
// between the quotes) and its encoded value.
type RawMember struct {
	Key   []byte
	Value []byte
}

// AppendString appends s as a JSON string, escaped as AppendJSON does.
func AppendString(b []byte, s string) []byte { return appendString(b, s) }

// SplitObject appends the members of the encoded object b to dst, in order.
// ok is false unless b is one object written as AppendJSON writes them: no
// whitespace, keys without escapes in strictly ascending order.
func SplitObject(dst []RawMember, b []byte) (_ []RawMember, ok bool) {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return dst, false
	}
	i := 1
	if b[i] == '}' {
		return dst, i == len(b)-1
	}
	var prev []byte
	for {
		if i >= len(b) || b[i] != '"' {
			return dst, false
		}
		j := i + 1
		for j < len(b) && b[j] != '"' && b[j] != '\\' {
			j++
		}
		if j+1 >= len(b) || b[j] != '"' || b[j+1] != ':' {
			return dst, false
		}
		key := b[i+1 : j]
		if prev != nil && string(prev) >= string(key) {
			return dst, false
		}
		prev = key
		end, ok := skipValue(b, j+2)
		if !ok {
			return dst, false
		}
		dst = append(dst, RawMember{Key: key, Value: b[j+2 : end]})
		switch {
		case end < len(b) && b[end] == ',':
			i = end + 1
		case end == len(b)-1 && b[end] == '}':
			return dst, true
		default:
			return dst, false
		}
	}
}

// RawString returns the content of an encoded JSON string without escapes.
func RawString(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	for _, c := range v[1 : len(v)-1] {
		if c == '\\' || c == '"' || c < 0x20 {
			return "", false
		}
	}
	return string(v[1 : len(v)-1]), true
}

// skipValue returns the index just past the encoded value starting at i.
// Containers are matched by depth, skipping strings; their contents are
// AppendJSON's, so they are not validated further.
func skipValue(b []byte, i int) (int, bool) {
	depth := 0
	for i < len(b) {
		switch c := b[i]; c {
		case '"':
			i++
			for i < len(b) && b[i] != '"' {
				if b[i] == '\\' {
					i++
				}
				i++
			}
			if i >= len(b) {
				return 0, false
			}
			i++
		case '{', '[':
			depth++
			i++
		case '}', ']':
			if depth == 0 {
				return 0, false // no value
			}
			depth--
			i++
		case ',':
			if depth == 0 {
				return 0, false // no value
			}
			i++
		default:
			if c <= ' ' {
				return 0, false
			}
			i++
		}
		if depth == 0 && i < len(b) && (b[i] == ',' || b[i] == '}' || b[i] == ']') {
			return i, true
		}
	}
	return i, depth == 0
}
