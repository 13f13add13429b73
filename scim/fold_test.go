package scim

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestFold(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want bool // Fold(a) == Fold(b)
	}{
		{"accented capital", "ÉRIN@x", "érin@x", true},
		{"ascii", "BJensen@Example.COM", "bjensen@example.com", true},
		{"kelvin sign", "\u212A", "k", true},
		{"kelvin sign upper", "\u212A", "K", true},
		{"long s", "ſ", "S", true},
		{"greek sigma", "Σ", "ς", true},
		{"different letters", "abc", "abd", false},
		{"different length", "ab", "abc", false},
		{"dotless i is not i", "ı", "i", false},
		{"sharp s does not fold to ss", "ß", "ss", false},
		{"invalid byte is U+FFFD", "\xff", "\uFFFD", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Fold(tt.a) == Fold(tt.b); got != tt.want {
				t.Errorf("Fold(%q)=%q, Fold(%q)=%q: equal = %v, want %v", tt.a, Fold(tt.a), tt.b, Fold(tt.b), got, tt.want)
			}
			if eq := strings.EqualFold(tt.a, tt.b); eq != tt.want {
				t.Errorf("strings.EqualFold(%q, %q) = %v; the test table is wrong", tt.a, tt.b, eq)
			}
		})
	}
}

func TestFoldOutput(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", ""},
		{"ascii lower stays", "bjensen@example.com", "bjensen@example.com"},
		{"ascii upper lowers", "BJensen", "bjensen"},
		{"latin-1", "ÉRIN", "érin"},
		{"kelvin", "\u212Aelvin", "kelvin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Fold(tt.in); got != tt.want {
				t.Errorf("Fold(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestFoldNoAlloc checks the fast path: folded ASCII is returned as is.
func TestFoldNoAlloc(t *testing.T) {
	s := "bjensen@example.com"
	if n := testing.AllocsPerRun(100, func() { _ = Fold(s) }); n != 0 {
		t.Errorf("Fold of folded ASCII allocated %v times, want 0", n)
	}
}

// TestFoldEveryRune checks every code point: a rune and each member of its
// case orbit fold to the same thing, and the result is in the orbit.
func TestFoldEveryRune(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if r >= 0xD800 && r < 0xE000 {
			continue // surrogates cannot be encoded in UTF-8
		}
		f := Fold(string(r))
		if !strings.EqualFold(f, string(r)) || utf8.RuneCountInString(f) != 1 {
			t.Fatalf("Fold(%U) = %q, not a case variant of it", r, f)
		}
		if o := unicode.SimpleFold(r); o != r && Fold(string(o)) != f {
			t.Fatalf("Fold(%U) = %q but Fold(%U) = %q", r, f, o, Fold(string(o)))
		}
	}
}

// TestFoldMatchesEqualFold is the defining property over random strings
// drawn from an alphabet rich in case orbits.
func TestFoldMatchesEqualFold(t *testing.T) {
	alphabet := []rune("aAkKsSſ\u212A\u212BåÅσΣςiIıİßẞǅǄǆ0@.\uFFFD")
	rng := rand.New(rand.NewPCG(1, 2))
	gen := func() string {
		n := rng.IntN(4)
		var b strings.Builder
		for range n {
			if rng.IntN(20) == 0 {
				b.WriteByte(0xff) // invalid UTF-8
				continue
			}
			b.WriteRune(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	for range 200000 {
		a, b := gen(), gen()
		if got, want := Fold(a) == Fold(b), strings.EqualFold(a, b); got != want {
			t.Fatalf("a=%q b=%q: Fold equal = %v, EqualFold = %v", a, b, got, want)
		}
	}
}
