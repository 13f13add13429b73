package main

import (
	"encoding/json"
	"testing"
)

func TestSafeText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain", "plain"},
		{`CONTOSO\jdoe`, `CONTOSO\jdoe`},
		{"Zoë 李", "Zoë 李"},
		{"a\x1b[31mb", `a\x1b[31mb`},
		{"tab\tnl\ncr\r", `tab\tnl\ncr\r`},
		{"bel\a del\x7f", `bel\x07 del\x7f`},
		{"csi\u009b2J", `csi\u009b2J`},
		{"rlo\u202eexe.jpg", `rlo\u202eexe.jpg`},
		{"\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069\u200e\u200f\u061c\u2028\u2029",
			`\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069\u200e\u200f\u061c\u2028\u2029`},
		{"bad\xffbyte", `bad\xffbyte`},
		{"kept \ufffd replacement", "kept \ufffd replacement"},
	} {
		if got := safeText(c.in); got != c.want {
			t.Errorf("safeText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestJSONSafeIsExact(t *testing.T) {
	for _, v := range []string{"plain", "a\x1b[31mb", "csi\u009b2J", "rlo\u202eexe", "\u2066x\u2069", "del\x7f", "ünïcödé ✓ \u2019", "\u061c\u200e"} {
		b, err := marshalCompact(map[string]string{"v": v})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range string(b) {
			if unsafeRune(r) {
				t.Errorf("%q: JSON %s holds raw %U", v, b, r)
			}
		}
		var got map[string]string
		if err := json.Unmarshal(b, &got); err != nil || got["v"] != v {
			t.Errorf("%q: JSON %s decodes to %q (%v)", v, b, got["v"], err)
		}
	}
}

func TestCSVNeutral(t *testing.T) {
	for in, want := range map[string]string{
		"=1+1": "'=1+1", "+1 555": "'+1 555", "-x": "'-x", "@SUM(A1)": "'@SUM(A1)", "\tx": "'\tx", "\rx": "'\rx",
		"": "", "a=b": "a=b", "x@y": "x@y", "'already": "'already",
	} {
		if got := csvNeutral(in); got != want {
			t.Errorf("csvNeutral(%q) = %q, want %q", in, got, want)
		}
	}
}
