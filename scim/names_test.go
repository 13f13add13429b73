package scim

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func TestNameKey(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want bool // NameKey(a) == NameKey(b)
	}{
		{"precomposed and decomposed", "Jos\u00e9", "Jose\u0301", true},
		{"decomposed upper and precomposed lower", "JOSE\u0301", "jos\u00e9", true},
		{"ascii case", "BJensen@Example.COM", "bjensen@example.com", true},
		{"umlaut forms", "Zo\u00eb", "ZOE\u0308", true},
		{"hangul syllable and jamo", "\ud55c", "\u1112\u1161\u11ab", true},
		{"ypogegrammeni folds like iota", "\u1fb3", "\u03b1\u0399", true},
		{"kelvin sign", "\u212Aim", "kim", true},
		{"accent matters", "jose", "jos\u00e9", false},
		{"compatibility forms stay apart", "\ufb01le", "file", false},
		{"different letters", "anna", "anne", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ka, kb := NameKey(tt.a), NameKey(tt.b)
			if got := ka == kb; got != tt.want {
				t.Errorf("NameKey(%q)=%q, NameKey(%q)=%q: equal = %v, want %v", tt.a, ka, tt.b, kb, got, tt.want)
			}
			for _, k := range []string{ka, kb} {
				if !norm.NFC.IsNormalString(k) {
					t.Errorf("key %q is not NFC", k)
				}
				if NameKey(k) != k {
					t.Errorf("NameKey is not stable on its own output: %q -> %q", k, NameKey(k))
				}
			}
		})
	}
	if s := "already.lower@example.com"; NameKey(s) != s {
		t.Errorf("NameKey(%q) = %q, want it unchanged", s, NameKey(s))
	}
}

// FuzzNameKey: every canonically equivalent form of a name (NFC, NFD) has
// the same key, and a key is its own key.
func FuzzNameKey(f *testing.F) {
	for _, s := range []string{"Jos\u00e9", "\u1fb3", "\u212A", "ß", "İstanbul", "\u0345", "a\u0328\u0301"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		k := NameKey(s)
		for _, v := range []string{norm.NFC.String(s), norm.NFD.String(s), k} {
			if NameKey(v) != k {
				t.Fatalf("NameKey(%q)=%q but NameKey(%q)=%q", s, k, v, NameKey(v))
			}
		}
	})
}

func TestNormalizeRefusesBadNames(t *testing.T) {
	c := testCatalog(t)
	for _, n := range []string{" ", "\t\n", "\u3000", "a\u0000", "a\u001bb", "x\u007f"} {
		for _, tc := range []struct {
			rt   *ResourceType
			attr string
		}{{c.User, "userName"}, {c.Group, "displayName"}} {
			_, err := tc.rt.Normalize(map[string]any{tc.attr: n}, Limits{})
			var se *Error
			if !errors.As(err, &se) || se.Status != 400 || se.ScimType != "invalidValue" || !strings.Contains(se.Detail, tc.attr) {
				t.Errorf("%s %q: %v, want 400 invalidValue naming %s", tc.attr, n, err, tc.attr)
			}
		}
	}
	// A user's displayName is not a name in this sense.
	if _, err := c.User.Normalize(map[string]any{"userName": "u", "displayName": "a\tb"}, Limits{}); err != nil {
		t.Errorf("a user's displayName with a tab: %v, want it accepted", err)
	}
}

func TestNormalizeOnePrimary(t *testing.T) {
	rt := testCatalog(t).User
	got, err := rt.Normalize(decodeJSON(t, `{"userName":"u","emails":[{"value":"a","primary":false},{"value":"b","primary":true},{"value":"c","primary":"True"}],
		"addresses":[{"streetAddress":"x","primary":true},{"streetAddress":"y","primary":true}]}`), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for attr, want := range map[string][]any{"emails": {false, true, false}, "addresses": {true, false}} {
		var prim []any
		for _, el := range got[attr].([]any) {
			prim = append(prim, el.(map[string]any)["primary"])
		}
		if len(prim) != len(want) {
			t.Fatalf("%s: %v, want %v", attr, prim, want)
		}
		for i := range want {
			if prim[i] != want[i] {
				t.Errorf("%s primary = %v, want %v", attr, prim, want)
				break
			}
		}
	}
}
