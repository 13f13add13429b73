package main

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// What the admin sees is what is stored, safely. Stored values come from
// identity providers, and some (displayName, the User-Agent shown as a
// token's client) can be set by end users or any client. A raw escape
// sequence in them could recolour, move or hide what a terminal shows, and
// a bidi override (U+202E) could show "gpj.exe" for "exe.jpg". So every
// stored value printed as text goes through safeText, and JSON output
// through jsonSafe: both keep the value exact (the escapes are unambiguous
// to read back) and never hand a terminal a control.

// unsafeRune reports runes a terminal acts on rather than shows: C0 and C1
// controls and DEL (escape sequences start with ESC or the C1 CSI U+009B),
// the bidirectional controls (U+061C, U+200E, U+200F, U+202A–U+202E,
// U+2066–U+2069) and the line and paragraph separators U+2028 and U+2029.
func unsafeRune(r rune) bool {
	switch {
	case r < 0x20, r >= 0x7f && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069,
		r == 0x2028, r == 0x2029:
		return true
	}
	return false
}

// safeText returns s with every unsafe rune written as a Go-style escape
// (\t, \n, \r, \x1b, \u202e) and every byte that is not UTF-8 as \xNN.
// Backslashes are left alone: values such as CONTOSO\jdoe are common and
// must read as stored; the price is that a stored literal "\u202e" looks
// like an escaped one, which shows nothing it does not say.
func safeText(s string) string {
	clean := true
	for i, r := range s {
		if unsafeRune(r) || r == utf8.RuneError && isInvalidAt(s, i) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && isInvalidAt(s, i):
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x80 && unsafeRune(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isInvalidAt reports whether the RuneError decoded at s[i] is an invalid
// byte rather than a stored U+FFFD.
func isInvalidAt(s string, i int) bool {
	_, size := utf8.DecodeRuneInString(s[i:])
	return size == 1
}

// jsonSafe rewrites the unsafe runes encoding/json leaves raw (DEL, C1
// controls, bidi controls; it already escapes C0 controls and U+2028/9)
// as \uXXXX escapes. Outside strings JSON is plain ASCII, so every such
// rune is inside a string, where the escape decodes to the same value: the
// JSON stays exact.
func jsonSafe(b []byte) []byte {
	// Fast path for exports: every rune to rewrite is DEL or starts with
	// the UTF-8 lead byte 0xC2 (C1), 0xD8 (U+061C) or 0xE2 (U+200E–U+2069).
	clean := true
	for _, c := range b {
		if c == 0x7f || c == 0xc2 || c == 0xd8 || c == 0xe2 {
			clean = false
			break
		}
	}
	if clean {
		return b
	}
	out := make([]byte, 0, len(b)+32)
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r >= 0x7f && unsafeRune(r) {
			out = append(out, `\u`...)
			out = append(out, fmt.Sprintf("%04x", r)...)
		} else {
			out = append(out, b[:size]...)
		}
		b = b[size:]
	}
	return out
}

// csvNeutral defuses a CSV cell that a spreadsheet would read as a formula
// (OWASP "CSV Injection"): a value starting with =, +, -, @, a tab or a
// carriage return gets a leading single quote, which spreadsheets show as
// text and do not evaluate. It changes phone numbers such as "+1 555 0100"
// to "'+1 555 0100" too; JSON and JSON Lines exports stay exact.
func csvNeutral(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}
