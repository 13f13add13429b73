package scim

import (
	"reflect"
	"testing"
)

// filterFuzzSeeds are the RFC 7644 §3.4.2.2 examples plus the identity
// provider forms and edge cases the parser special-cases.
var filterFuzzSeeds = []string{
	`userName eq "bjensen"`,
	`name.familyName co "O'Malley"`,
	`userName sw "J"`,
	`urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"`,
	`title pr`,
	`meta.lastModified gt "2011-05-13T04:42:34Z"`,
	`title pr and userType eq "Employee"`,
	`title pr or userType eq "Intern"`,
	`schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`,
	`userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")`,
	`userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")`,
	`userType eq "Employee" and (emails.type eq "work")`,
	`userType eq "Employee" and emails[type eq "work" and value co "@example.com"]`,
	`emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]`,
	`emails[type eq "work"].value eq "user@contoso.com"`,
	`emails[type eq "a" or type eq "b"].value pr`,
	`externalId eq jyoung`,
	`id eq 54D382A4 and manager eq 2819c223`,
	`a eq -1.5e+3 or b ne TRUE or c eq null`,
	`a eq "\u00e9\ud83d\ude00\n\"\\"`,
	`members[$ref pr]`,
	`NOT(a pr) AND (b pr OR c pr)`,
	`a pr and (b pr and c pr)`,
	`userName eq "a" or 1=1`,
	`((((a pr))))`,
	`emails[type eq "work"`,
	"a eq \"\x00\"",
	"a eq \"\xff\"",
}

// FuzzParseFilter checks that ParseFilter never panics and that every tree
// it returns prints as text that parses back to the same tree.
func FuzzParseFilter(f *testing.F) {
	for _, s := range filterFuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseFilter(s, FilterLimits{})
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("ParseFilter(%q) error %T, want *Error", s, err)
			}
			return
		}
		text := e.String()
		// The printed form may be longer than the input (quotes added to
		// unquoted values) and, for Entra's x[f].sub form, nest one level
		// deeper, so the limits are lifted for the second parse: the
		// property under test is the tree, not the policy.
		again, err := parseFilterDepth(text, FilterLimits{MaxLength: 1 << 30, MaxNodes: 1 << 30}, 2*filterMaxDepth)
		if err != nil {
			t.Fatalf("ParseFilter(%q) printed %q, which does not parse: %v", s, text, err)
		}
		if !reflect.DeepEqual(again, e) {
			t.Fatalf("round trip changed the tree:\n in:   %q\n text: %q\n got:  %#v\n want: %#v", s, text, again, e)
		}
		if again.String() != text {
			t.Fatalf("printing is not stable: %q then %q", text, again.String())
		}
	})
}

// FuzzParsePatchPath checks the same properties for PATCH paths.
func FuzzParsePatchPath(f *testing.F) {
	for _, s := range []string{
		`active`,
		`name.givenName`,
		`emails[type eq "work"].value`,
		`members[value eq "7f4b"]`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`,
		`roles[primary eq "True"].display`,
		`addresses[type eq "work"].streetAddress`,
		`emails[type eq "work" and primary eq true]`,
		`emails[not (type eq "work") or value co x]`,
		`a[b[c eq 1]]`,
		`emails[type eq "work"].value eq "x"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pp, err := ParsePatchPath(s)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("ParsePatchPath(%q) error %T, want *Error", s, err)
			}
			return
		}
		text := pp.String()
		again, err := ParsePatchPath(text)
		if err != nil {
			t.Fatalf("ParsePatchPath(%q) printed %q, which does not parse: %v", s, text, err)
		}
		if !reflect.DeepEqual(again, pp) {
			t.Fatalf("round trip changed the path:\n in:   %q\n text: %q\n got:  %#v\n want: %#v", s, text, again, pp)
		}
	})
}
