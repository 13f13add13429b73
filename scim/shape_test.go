package scim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// entraBody is the full user body Entra ID sends on create (entra-id.md).
const entraBody = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
"externalId":"0a21f0f2-8d2a-4f8e-bf98-7894c7f7f4d4","userName":"Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@contoso.com",
"active":true,"displayName":"Test User","title":"Engineer","preferredLanguage":"en-US",
"name":{"formatted":"Test User","familyName":"User","givenName":"Test"},
"emails":[{"primary":true,"type":"work","value":"Test_User_11bb6a3f@contoso.com"}],
"phoneNumbers":[{"type":"work","value":"+1 555 0100"},{"type":"mobile","value":"+1 555 0101"}],
"addresses":[{"type":"work","streetAddress":"1 Main St","locality":"Redmond","region":"WA","postalCode":"98052","country":"US","primary":true}],
"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"701984","department":"R&D","manager":{"value":"26118915-6090-4610-87e4-49d8ca9f808d"}}}`

func TestDuplicateKeys(t *testing.T) {
	tests := []struct {
		name, body string
		key        string // "" = accepted
	}{
		{"distinct keys", `{"userName":"a","name":{"givenName":"x","familyName":"y"}}`, ""},
		{"same key in sibling objects", `{"emails":[{"value":"a"},{"value":"b"}],"name":{"value":"c"}}`, ""},
		{"same key at different depths", `{"value":{"value":{"value":1}}}`, ""},
		{"key equal to a string value", `{"userName":"userName","x":"USERNAME"}`, ""},
		{"exact duplicate", `{"userName":"a","userName":"b"}`, "userName"},
		{"case duplicate", `{"userName":"a","UserName":"b"}`, "UserName"},
		{"PATCH op spelled twice", `{"Operations":[{"Op":"replace","OP":"remove"}]}`, "OP"},
		{"inside an extension", `{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"a","Department":"b"}}`, "Department"},
		{"inside a values array", `{"emails":[{"value":"a","type":"work"},{"Value":"b","VALUE":"c"}]}`, "VALUE"},
		{"after a nested object closes", `{"name":{"givenName":"x"},"title":"t","NAME":{}}`, "NAME"},
		{"escaped key", `{"userName":"a","\u0055serName":"b"}`, "UserName"},
		{"Kelvin sign folds to k", "{\"kind\":1,\"\u212aind\":2}", "\u212aind"},
		{"long s folds to s in a wide object", wideObject(40, "\u017f"), "\u017f0"},
		{"upper case in a wide object", wideObject(40, "S"), "S0"},
		{"wide object without duplicates", wideObject(40, "t"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeObject([]byte(tt.body), Limits{})
			if tt.key == "" {
				if err != nil {
					t.Fatalf("DecodeObject(%s): %v, want no error", tt.body, err)
				}
				return
			}
			e, ok := err.(*Error)
			if !ok || e.Status != 400 || e.ScimType != "invalidSyntax" {
				t.Fatalf("DecodeObject(%s): %v, want 400 invalidSyntax", tt.body, err)
			}
			if !strings.Contains(e.Detail, fmt.Sprintf("%q", tt.key)) {
				t.Errorf("detail %q does not name %q", e.Detail, tt.key)
			}
		})
	}
}

// TestDuplicateKeysManyKeys checks objects large enough for the hashed
// comparison, and that a wide object without duplicates stays accepted.
func TestDuplicateKeysManyKeys(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := range 5000 {
		fmt.Fprintf(&b, `"attr%d":%d,`, i, i)
	}
	ok := b.String() + `"last":0}`
	if _, err := DecodeObject([]byte(ok), Limits{}); err != nil {
		t.Fatalf("5000 distinct keys: %v", err)
	}
	dup := b.String() + `"ATTR4321":0}`
	_, err := DecodeObject([]byte(dup), Limits{})
	if e, isErr := err.(*Error); !isErr || e.ScimType != "invalidSyntax" || !strings.Contains(e.Detail, `"ATTR4321"`) {
		t.Fatalf("5000 keys with a late duplicate: %v, want invalidSyntax naming ATTR4321", err)
	}
}

// BenchmarkCheckShape measures the pre-decode pass on the body every
// Entra create sends.
func BenchmarkCheckShape(b *testing.B) {
	body := []byte(entraBody)
	lim := DefaultLimits
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := checkShape(body, lim); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckShapeMembers is a 1000-member PATCH, Okta's batch size.
func BenchmarkCheckShapeMembers(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[`)
	for i := range 1000 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"value":"%08d-6090-4610-87e4-49d8ca9f808d","display":"User %d"}`, i, i)
	}
	sb.WriteString(`]}]}`)
	body := []byte(sb.String())
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := checkShape(body, DefaultLimits); err != nil {
			b.Fatal(err)
		}
	}
}

// dupKeyRef finds a case-insensitively repeated key the slow, obvious way:
// encoding/json's token stream, and every key of an object compared with
// every earlier one by strings.EqualFold.
func dupKeyRef(b []byte) (string, bool) {
	d := json.NewDecoder(bytes.NewReader(b))
	type obj struct {
		keys      []string
		isObject  bool
		expectKey bool
	}
	var stack []*obj
	for {
		tok, err := d.Token()
		if err != nil {
			return "", false
		}
		var top *obj
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if s, ok := tok.(string); ok && top != nil && top.expectKey {
			for _, k := range top.keys {
				if strings.EqualFold(k, s) {
					return s, true
				}
			}
			top.keys = append(top.keys, s)
			top.expectKey = false
			continue
		}
		if top != nil && top.isObject {
			top.expectKey = true // a value was read (or one begins)
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &obj{isObject: true, expectKey: true})
		case json.Delim('['):
			stack = append(stack, &obj{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) > 0 && stack[len(stack)-1].isObject {
				stack[len(stack)-1].expectKey = true
			}
		}
	}
}

// FuzzCheckShape: on valid JSON, the pre-decode pass reports a duplicate
// key exactly when the token-stream reference finds one, and never panics
// on anything.
func FuzzCheckShape(f *testing.F) {
	for _, s := range []string{entraBody, `{"a":1,"A":2}`, `{"a":{"b":1},"c":[{"b":1,"B":2}]}`, `{"\u0041":1,"a":2}`,
		`{"x":[1,2,{"y":{}}],"X":0}`, `{"k":"v\"","K\\":1}`, `[{"a":1},{"a":1}]`, "{\"\u212a\":1,\"k\":2}", wideObject(40, "\u017f"), wideObject(20, "S")} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := checkShape(b, Limits{MaxDepth: 64, MaxMembers: 1 << 20, MaxOperations: 1 << 20})
		if !json.Valid(b) || !utf8.Valid(b) {
			return
		}
		key, dup := dupKeyRef(b)
		var se *Error
		gotDup := errors.As(err, &se) && strings.Contains(se.Detail, "attribute names are case-insensitive") || err != nil && strings.Contains(err.Error(), "each attribute may appear once")
		if dup != gotDup {
			t.Fatalf("checkShape(%q) = %v; reference finds duplicate %q: %v", b, err, key, dup)
		}
	})
}

// wideObject is an object with n distinct keys and then extra, which
// repeats the first key ("s0") when extra is "S0" or "\u017f0" (long s).
func wideObject(n int, extra string) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, `"s%d":%d,`, i, i)
	}
	fmt.Fprintf(&b, `"%s0":0}`, extra)
	return b.String()
}
