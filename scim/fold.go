package scim

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Fold maps s to a canonical case-folded form: two strings are equal under
// strings.EqualFold exactly when their Folds are byte-equal. That lets
// case-insensitive attributes (RFC 7643 §2.2, caseExact false: userName,
// emails, displayName) be indexed and compared as plain strings.
//
// Each rune becomes a fixed member of its unicode.SimpleFold orbit (simple
// case folding, as EqualFold uses): the smallest lower-case member, or the
// smallest member when none is lower case. Preferring lower case makes ASCII
// fold to ordinary lower case, so the common already-lower-case input is
// returned as is, without allocating. Invalid UTF-8 bytes become U+FFFD,
// because EqualFold decodes them that way too.
func Fold(s string) string {
	// Fast path: ASCII with no upper-case letters is already folded.
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' {
			break
		}
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b.WriteByte(c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(foldRune(r))
		i += n
	}
	return b.String()
}

// foldRune returns the canonical member of r's simple case-folding orbit.
// Orbits have at most four members, so walking one is cheap.
func foldRune(r rune) rune {
	best, bestLower := r, unicode.IsLower(r)
	for x := unicode.SimpleFold(r); x != r; x = unicode.SimpleFold(x) {
		xl := unicode.IsLower(x)
		if xl && !bestLower || xl == bestLower && x < best {
			best, bestLower = x, xl
		}
	}
	return best
}

// NameKey is the comparison key of the names that identify a resource:
// userName and a group's displayName. Two names are the same name exactly
// when their keys are byte-equal. The key is Fold applied to the canonical
// decomposition (NFD) of the name, recomposed (NFC) afterwards, so that
// "José" typed with a precomposed é (U+00E9) and with e + U+0301 are one
// name, whatever their letter case. That is Unicode's canonical caseless
// match (Unicode §3.13, D145) with simple case folding, the folding Fold
// already applies; RFC 7643 §2.2 leaves the comparison of caseExact=false
// strings to the service provider, and RFC 7613 recommends NFC for
// identifiers such as user names. The stored name itself is kept as sent;
// only the key is normalised.
//
// NFC rather than NFD is what is kept because it is what clients send and
// it is shorter; ASCII input, the common case, is returned by Fold's fast
// path without touching the normaliser.
func NameKey(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return norm.NFC.String(Fold(norm.NFD.String(s)))
		}
	}
	return Fold(s)
}
