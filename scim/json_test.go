package scim

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// TestAppendJSONMatchesEncodingJSON: the fast encoder produces exactly what
// encoding/json (SetEscapeHTML false) produces for resource-shaped values.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	values := []any{
		nil, true, false, "", "plain", `quote " backslash \ slash /`, "tab\tnl\ncr\r\x00\x1f", "<html>&amp;",
		"é ü 漢字 🎉", "bad \xff utf8", "line\u2028sep\u2029", json.Number("12.5e3"), 42,
		[]any{}, []any{"a", json.Number("1"), nil, map[string]any{}},
		map[string]any{"b": 1, "a": []any{map[string]any{"z": "y", "$ref": "x"}}, "urn:x:2.0:User": map[string]any{"k": "v"}},
		[]string{"x", "y"},
	}
	for _, v := range values {
		got, err := AppendJSON(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		e := json.NewEncoder(&want)
		e.SetEscapeHTML(false)
		if err := e.Encode(v); err != nil {
			t.Fatal(err)
		}
		if w := bytes.TrimSuffix(want.Bytes(), []byte("\n")); !bytes.Equal(got, w) {
			t.Errorf("%#v:\n got %s\nwant %s", v, got, w)
		}
	}
}

// FuzzAppendJSONString checks string escaping against encoding/json.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\x00\x7f\u2028", "\xff\xfe", "日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendString(nil, s)
		var want bytes.Buffer
		e := json.NewEncoder(&want)
		e.SetEscapeHTML(false)
		e.Encode(s)
		if w := bytes.TrimSuffix(want.Bytes(), []byte("\n")); !bytes.Equal(got, w) {
			t.Errorf("%q: got %s, want %s", s, got, w)
		}
	})
}

// FuzzDecodeDocument: on any input, DecodeDocument agrees with encoding/json
// (UseNumber) on whether it is a JSON object and, if so, on its value; and
// a value survives AppendJSON then DecodeDocument unchanged.
func FuzzDecodeDocument(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,-2.5e3,true,false,null,"x\u00e9\ud83d\ude00\n"],"b":{"c":{}}}`,
		`{"a":"\ud800"}`, `{"a":01}`, `{"a":1.}`, `[1]`, `{"a":"\x01"}`, ` {"k" : [ ] } `, `{"a":"x"}x`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := DecodeDocument([]byte(s))
		d := json.NewDecoder(bytes.NewReader([]byte(s)))
		d.UseNumber()
		var want map[string]any
		werr := d.Decode(&want)
		if werr == nil && len(bytes.Trim([]byte(s[d.InputOffset():]), " \t\r\n")) > 0 {
			werr = errors.New("trailing data")
		}
		if (err == nil) != (werr == nil) {
			t.Fatalf("%q: DecodeDocument err %v, encoding/json err %v", s, err, werr)
		}
		if err != nil {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: got %#v, want %#v", s, got, want)
		}
		b, err := AppendJSON(nil, got)
		if err != nil {
			t.Fatal(err)
		}
		again, err := DecodeDocument(b)
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("%q: round trip through %s gave %#v, %v", s, b, again, err)
		}
	})
}

// TestMemberRefEncodesLikeItsMap: a MemberRef is written exactly as the
// map it stands for, with and without $ref.
func TestMemberRefEncodesLikeItsMap(t *testing.T) {
	for _, m := range []MemberRef{{Value: "u1", Display: "Ann \"A\"", Type: "User"}, {Value: "g1", Display: "", Type: "Group", Ref: "https://h/scim/v2/Groups/g1"}} {
		got, err := AppendJSON(nil, []any{m})
		if err != nil {
			t.Fatal(err)
		}
		want, err := AppendJSON(nil, []any{m.Map()})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%+v: got %s, want %s", m, got, want)
		}
	}
}
