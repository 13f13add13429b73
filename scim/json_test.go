package scim

import (
	"bytes"
	"encoding/json"
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
