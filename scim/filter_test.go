package scim

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestParseFilterRFCExamples parses every filter example of RFC 7644
// §3.4.2.2 (and the §3.4.3 search body) and checks the canonical text.
func TestParseFilterRFCExamples(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"eq", `userName eq "bjensen"`, `userName eq "bjensen"`},
		{"co with apostrophe", `name.familyName co "O'Malley"`, `name.familyName co "O'Malley"`},
		{"sw", `userName sw "J"`, `userName sw "J"`},
		{"sw urn", `urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"`, `urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"`},
		{"pr", `title pr`, `title pr`},
		{"gt", `meta.lastModified gt "2011-05-13T04:42:34Z"`, `meta.lastModified gt "2011-05-13T04:42:34Z"`},
		{"ge", `meta.lastModified ge "2011-05-13T04:42:34Z"`, `meta.lastModified ge "2011-05-13T04:42:34Z"`},
		{"lt", `meta.lastModified lt "2011-05-13T04:42:34Z"`, `meta.lastModified lt "2011-05-13T04:42:34Z"`},
		{"le", `meta.lastModified le "2011-05-13T04:42:34Z"`, `meta.lastModified le "2011-05-13T04:42:34Z"`},
		{"pr and", `title pr and userType eq "Employee"`, `title pr and userType eq "Employee"`},
		{"pr or", `title pr or userType eq "Intern"`, `title pr or userType eq "Intern"`},
		{"schemas eq", `schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`, `schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`},
		{"and paren or", `userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")`,
			`userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")`},
		{"ne and not", `userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")`,
			`userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")`},
		{"redundant parens", `userType eq "Employee" and (emails.type eq "work")`, `userType eq "Employee" and emails.type eq "work"`},
		{"and valuePath", `userType eq "Employee" and emails[type eq "work" and value co "@example.com"]`,
			`userType eq "Employee" and emails[type eq "work" and value co "@example.com"]`},
		{"valuePath or valuePath", `emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]`,
			`emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]`},
		{"operator case", `userName Eq "john"`, `userName eq "john"`},
		{"attribute case", `Username eq "john"`, `Username eq "john"`},
		{"search body", `displayName sw "smith"`, `displayName sw "smith"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := ParseFilter(tt.in, FilterLimits{})
			if err != nil {
				t.Fatalf("ParseFilter(%q) error: %v", tt.in, err)
			}
			if got := e.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			again, err := ParseFilter(e.String(), FilterLimits{})
			if err != nil {
				t.Fatalf("re-parse of %q: %v", e.String(), err)
			}
			if !reflect.DeepEqual(again, e) {
				t.Errorf("re-parse gave %#v, want %#v", again, e)
			}
		})
	}
}

func filterEq(name string, v any) *Compare {
	return &Compare{Path: AttrPath{Name: name}, Op: OpEq, Value: v}
}

// TestParseFilterTree checks the exact AST for precedence, paths, values and
// the Entra ID forms.
func TestParseFilterTree(t *testing.T) {
	a, b, c := &Present{AttrPath{Name: "a"}}, &Present{AttrPath{Name: "b"}}, &Present{AttrPath{Name: "c"}}
	tests := []struct {
		name string
		in   string
		want Expr
	}{
		{"and binds tighter than or", `a pr or b pr and c pr`, &Or{a, &And{b, c}}},
		{"and left-associative", `a pr and b pr and c pr`, &And{&And{a, b}, c}},
		{"or left-associative", `a pr or b pr or c pr`, &Or{&Or{a, b}, c}},
		{"parens override", `(a pr or b pr) and c pr`, &And{&Or{a, b}, c}},
		{"right nested parens", `a pr and (b pr and c pr)`, &And{a, &And{b, c}}},
		{"not", `not (a pr) and b pr`, &And{&Not{a}, b}},
		{"not without space", `NOT(a pr)`, &Not{a}},
		{"keywords any case", `a PR AND b Pr OR c pR`, &Or{&And{a, b}, c}},
		{"extra spaces and tabs", "  a \t pr   and\tb pr  ", &And{a, b}},
		{"sub-attribute", `name.givenName eq "Barbara"`,
			&Compare{AttrPath{Name: "name", Sub: "givenName"}, OpEq, "Barbara"}},
		{"enterprise urn", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984"`,
			&Compare{AttrPath{URI: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", Name: "employeeNumber"}, OpEq, "701984"}},
		{"urn with sub-attribute", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915"`,
			&Compare{AttrPath{URI: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", Name: "manager", Sub: "value"}, OpEq, "26118915"}},
		{"$ref", `members[$ref pr]`, &ValuePath{AttrPath{Name: "members"}, &Present{AttrPath{Name: "$ref"}}}},
		{"number", `age gt -1.5e3`, &Compare{AttrPath{Name: "age"}, OpGt, Number("-1.5e3")}},
		{"true any case", `active eq TRUE`, filterEq("active", true)},
		{"false", `active eq false`, filterEq("active", false)},
		{"null", `title eq Null`, filterEq("title", nil)},
		{"escapes", `a eq "q\"b\\s\/\b\f\n\r\t"`, filterEq("a", "q\"b\\s/\b\f\n\r\t")},
		{"unicode escape", `a eq "\u00e9\u00C9"`, filterEq("a", "éÉ")},
		{"surrogate pair", `a eq "\ud83d\ude00"`, filterEq("a", "😀")},
		{"lone surrogate", `a eq "\ud83dx"`, filterEq("a", "\uFFFDx")},
		{"raw utf-8", `displayName eq "Érin Ñ"`, filterEq("displayName", "Érin Ñ")},
		{"string looks like keyword", `a eq "and"`, filterEq("a", "and")},
		{"entra unquoted value", `externalId eq jyoung`, filterEq("externalId", "jyoung")},
		{"entra unquoted guid and", `id eq 54D382A4-1 and manager eq 2819c223-7f76`,
			&And{filterEq("id", "54D382A4-1"), filterEq("manager", "2819c223-7f76")}},
		{"unquoted timestamp", `meta.created gt 2015-10-10T14:38:21.8617979-07:00`,
			&Compare{AttrPath{Name: "meta", Sub: "created"}, OpGt, "2015-10-10T14:38:21.8617979-07:00"}},
		{"unquoted before paren", `(a eq x)`, filterEq("a", "x")},
		{"unquoted before bracket", `members[value eq 7f4b]`, &ValuePath{AttrPath{Name: "members"}, filterEq("value", "7f4b")}},
		{"leading zero is a string", `a eq 01`, filterEq("a", "01")},
		{"entra valuePath sub eq", `emails[type eq "work"].value eq "user@contoso.com"`,
			&ValuePath{AttrPath{Name: "emails"}, &And{filterEq("type", "work"), filterEq("value", "user@contoso.com")}}},
		{"entra valuePath sub pr", `emails[type eq "work"].value pr`,
			&ValuePath{AttrPath{Name: "emails"}, &And{filterEq("type", "work"), &Present{AttrPath{Name: "value"}}}}},
		{"valuePath with urn", `urn:ietf:params:scim:schemas:core:2.0:User:emails[primary eq true]`,
			&ValuePath{AttrPath{URI: "urn:ietf:params:scim:schemas:core:2.0:User", Name: "emails"}, filterEq("primary", true)}},
		{"not inside valuePath", `emails[not (type eq "work")]`,
			&ValuePath{AttrPath{Name: "emails"}, &Not{filterEq("type", "work")}}},
		{"space before bracket", `emails [type eq "work"]`, &ValuePath{AttrPath{Name: "emails"}, filterEq("type", "work")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFilter(tt.in, FilterLimits{})
			if err != nil {
				t.Fatalf("ParseFilter(%q) error: %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseFilter(%q) = %s, want %s", tt.in, got, tt.want)
			}
			again, err := ParseFilter(got.String(), FilterLimits{})
			if err != nil {
				t.Fatalf("re-parse of %q: %v", got.String(), err)
			}
			if !reflect.DeepEqual(again, got) {
				t.Errorf("re-parse of %q = %s, want %s", got.String(), again, got)
			}
		})
	}
}

// TestExprString checks canonical printing of trees, including ones that
// need parentheses the parser would not have seen.
func TestExprString(t *testing.T) {
	a, b, c := &Present{AttrPath{Name: "a"}}, &Present{AttrPath{Name: "b"}}, &Present{AttrPath{Name: "c"}}
	tests := []struct {
		name string
		in   Expr
		want string
	}{
		{"or in and", &And{&Or{a, b}, c}, `(a pr or b pr) and c pr`},
		{"or right of and", &And{a, &Or{b, c}}, `a pr and (b pr or c pr)`},
		{"and right of and", &And{a, &And{b, c}}, `a pr and (b pr and c pr)`},
		{"or right of or", &Or{a, &Or{b, c}}, `a pr or (b pr or c pr)`},
		{"and in or", &Or{&And{a, b}, &And{b, c}}, `a pr and b pr or b pr and c pr`},
		{"not", &Not{&Or{a, b}}, `not (a pr or b pr)`},
		{"entra tree", &ValuePath{AttrPath{Name: "emails"}, &And{&Or{a, b}, filterEq("value", "x")}},
			`emails[(a pr or b pr) and value eq "x"]`},
		{"string escaping", filterEq("a", "\"\\\x01\n<&>é"), `a eq "\"\\\u0001\n<&>é"`},
		{"number", filterEq("a", Number("1e3")), `a eq 1e3`},
		{"bool and null", &And{filterEq("a", true), filterEq("b", nil)}, `a eq true and b eq null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAttrPathString(t *testing.T) {
	tests := []struct {
		name string
		in   AttrPath
		want string
	}{
		{"name", AttrPath{Name: "userName"}, "userName"},
		{"sub", AttrPath{Name: "name", Sub: "givenName"}, "name.givenName"},
		{"uri", AttrPath{URI: "urn:x:User", Name: "manager"}, "urn:x:User:manager"},
		{"uri sub", AttrPath{URI: "urn:x:User", Name: "manager", Sub: "value"}, "urn:x:User:manager.value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

// wantScimErr checks that err is an *Error with the given scimType and a
// short detail containing each of wantIn.
func wantScimErr(t *testing.T, err error, scimType string, wantIn ...string) {
	t.Helper()
	var se *Error
	if !errors.As(err, &se) {
		t.Fatalf("error = %v (%T), want *Error", err, err)
	}
	if se.Status != 400 || se.ScimType != scimType {
		t.Errorf("error = %d %q, want 400 %q", se.Status, se.ScimType, scimType)
	}
	for _, w := range wantIn {
		if !strings.Contains(se.Detail, w) {
			t.Errorf("detail %q does not mention %q", se.Detail, w)
		}
	}
	if len(se.Detail) > 300 {
		t.Errorf("detail is %d bytes long, want a short one: %.100q...", len(se.Detail), se.Detail)
	}
}

func TestParseFilterErrors(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		wantIn []string
	}{
		{"empty", ``, []string{"empty"}},
		{"only spaces", `   `, []string{"empty"}},
		{"attribute only", `userName`, []string{"expected an operator", "offset 8", "end of the input"}},
		{"bare value okta", `RUNSCOPE@ATKO.COM`, []string{"unexpected character in attribute path", "offset 8", `"@ATKO.COM"`}},
		{"missing value", `userName eq`, []string{"expected a value", "offset 11"}},
		{"unknown operator", `userName xx "a"`, []string{`unknown operator "xx" after "userName" (`, "offset 9"}},
		{"unclosed paren", `(userName eq "a"`, []string{`"(" at offset 0 is not closed`, `expected ")"`, "offset 16"}},
		{"unmatched paren", `userName eq "a")`, []string{`unmatched ")"`, "offset 15"}},
		{"unterminated string", `userName eq "unterminated`, []string{"unterminated string", "offset 12"}},
		{"not without parens", `not userName eq "a"`, []string{`expected "(" after "not"`}},
		{"unclosed bracket", `emails[type eq "work"`, []string{`expected "]"`}},
		{"nested bracket", `a[b[c eq 1]]`, []string{"nested"}},
		{"sql injection", `userName eq "a" or 1=1`, []string{"expected an attribute name", "offset 19", `"1=1"`}},
		{"value on left", `"a" eq "b"`, []string{"expected an attribute name", "offset 0"}},
		{"trailing garbage", `userName eq "a" garbage`, []string{`expected "and", "or"`, "offset 16"}},
		{"dangling and", `userName eq "a" and`, []string{"expected an attribute name"}},
		{"NUL byte", "userName eq \"a\x00\"", []string{"NUL", "offset 14"}},
		{"escaped NUL", `userName eq "a\u0000"`, []string{"NUL"}},
		{"invalid UTF-8", "userName eq \"\xff\"", []string{"UTF-8", "byte offset 13"}},
		{"bad escape", `a eq "\x"`, []string{"invalid escape"}},
		{"bad unicode escape", `a eq "\u12"`, []string{`invalid \u escape`}},
		{"two sub-attributes", `a.b.c pr`, []string{"at most one sub-attribute"}},
		{"sub then bracket", `name.givenName[value pr]`, []string{"without a sub-attribute"}},
		{"empty parens", `()`, []string{"expected an attribute name"}},
		{"empty brackets", `emails[]`, []string{"expected an attribute name"}},
		{"entra sub without operator", `emails[type eq "work"].value`, []string{"expected an operator"}},
		{"digit attribute", `1a pr`, []string{"expected an attribute name"}},
		{"empty uri name", `urn:x: pr`, []string{"expected an attribute name"}},
		{"unmatched bracket", `a pr]`, []string{`unmatched "]"`}},
		{"long garbage excerpt", `a pr ` + strings.Repeat("x", 5000), []string{`"...`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := ParseFilter(tt.in, FilterLimits{})
			if err == nil {
				t.Fatalf("ParseFilter(%q) = %s, want error", tt.in, e)
			}
			wantScimErr(t, err, "invalidFilter", tt.wantIn...)
		})
	}
}

func TestParseFilterLimits(t *testing.T) {
	chain := func(n int) string { return strings.TrimSuffix(strings.Repeat("a pr and ", n), " and ") }
	tests := []struct {
		name    string
		in      string
		lim     FilterLimits
		wantErr []string // nil: must parse
	}{
		{"default nodes ok", chain(100), FilterLimits{}, nil}, // 199 nodes
		{"default nodes over", chain(101), FilterLimits{}, []string{"limit of 200 expressions"}},
		{"custom nodes", chain(2), FilterLimits{MaxNodes: 2}, []string{"limit of 2 expressions"}},
		{"default length ok", `a eq "` + strings.Repeat("x", 8192-7) + `"`, FilterLimits{}, nil},
		{"default length over", `a eq "` + strings.Repeat("x", 8192-6) + `"`, FilterLimits{}, []string{"limit of 8192 characters"}},
		{"length counts characters", `a eq "` + strings.Repeat("é", 8192-7) + `"`, FilterLimits{}, nil},
		{"custom length", `a eq "abc"`, FilterLimits{MaxLength: 5}, []string{"limit of 5 characters"}},
		{"1 MB filter", `userName eq "` + strings.Repeat("a", 1<<20) + `"`, FilterLimits{}, []string{"limit of 8192 characters"}},
		{"depth 64 ok", strings.Repeat("(", 64) + "a pr" + strings.Repeat(")", 64), FilterLimits{}, nil},
		{"depth 65", strings.Repeat("(", 65) + "a pr" + strings.Repeat(")", 65), FilterLimits{}, []string{"more than 64 levels"}},
		{"10000 parens", strings.Repeat("(", 10000), FilterLimits{MaxLength: 1 << 20}, []string{"more than 64 levels"}},
		{"2000 nots", strings.Repeat("not (", 2000), FilterLimits{MaxLength: 1 << 20}, []string{"more than 64 levels"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := ParseFilter(tt.in, tt.lim)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got %.80s, want error", e)
			}
			wantScimErr(t, err, "invalidFilter", tt.wantErr...)
		})
	}
}

// TestParseFilterLinear guards against quadratic behaviour on large input
// that the limits allow.
func TestParseFilterLinear(t *testing.T) {
	big := `userName eq "` + strings.Repeat(`ab\"`, 1<<18) + `" or x eq ` + strings.Repeat("y", 1<<20)
	start := time.Now()
	e, err := ParseFilter(big, FilterLimits{MaxLength: 4 << 20})
	if err != nil {
		t.Fatalf("error: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("parsing %d bytes took %v", len(big), d)
	}
	if o, ok := e.(*Or); !ok || len(o.L.(*Compare).Value.(string)) != 3<<18 {
		t.Errorf("unexpected tree for large filter")
	}
}

func TestParseAttrPath(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want AttrPath
	}{
		{"name", "userName", AttrPath{Name: "userName"}},
		{"sub", "name.familyName", AttrPath{Name: "name", Sub: "familyName"}},
		{"spaces", " emails ", AttrPath{Name: "emails"}},
		{"urn", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
			AttrPath{URI: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", Name: "employeeNumber"}},
		{"urn sub", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
			AttrPath{URI: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", Name: "manager", Sub: "value"}},
		{"bare urn", "urn:ietf:params:scim:schemas:core:2.0:User",
			AttrPath{URI: "urn:ietf:params:scim:schemas:core:2.0", Name: "User"}},
		{"$ref", "members.$ref", AttrPath{Name: "members", Sub: "$ref"}},
		{"dash underscore digit", "x-y_z9", AttrPath{Name: "x-y_z9"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAttrPath(tt.in)
			if err != nil {
				t.Fatalf("ParseAttrPath(%q) error: %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseAttrPath(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseAttrPathErrors(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		wantIn []string
	}{
		{"empty", "", []string{"empty"}},
		{"digit", "1abc", []string{"expected an attribute name"}},
		{"two subs", "a.b.c", []string{"at most one sub-attribute"}},
		{"filter", `emails[type eq "work"]`, []string{"expected the end"}},
		{"space inside", "user name", []string{"expected the end", "offset 5"}},
		{"comma", "a,b", []string{"unexpected character"}},
		{"NUL", "a\x00", []string{"NUL"}},
		{"bad UTF-8", "a\xc3", []string{"UTF-8"}},
		{"trailing dot", "name.", []string{"sub-attribute name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseAttrPath(tt.in)
			if err == nil {
				t.Fatalf("ParseAttrPath(%q) = %#v, want error", tt.in, p)
			}
			wantScimErr(t, err, "invalidPath", tt.wantIn...)
		})
	}
}

func TestParsePatchPath(t *testing.T) {
	ent := "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	tests := []struct {
		name string
		in   string
		want PatchPath
		str  string // canonical String(); "" means same as in
	}{
		{"simple", `active`, PatchPath{Attr: AttrPath{Name: "active"}}, ""},
		{"sub", `name.givenName`, PatchPath{Attr: AttrPath{Name: "name", Sub: "givenName"}}, ""},
		{"filter sub", `emails[type eq "work"].value`,
			PatchPath{Attr: AttrPath{Name: "emails"}, Filter: filterEq("type", "work"), Sub: "value"}, ""},
		{"members filter", `members[value eq "7f4b"]`,
			PatchPath{Attr: AttrPath{Name: "members"}, Filter: filterEq("value", "7f4b")}, ""},
		{"enterprise manager", ent + `:manager`, PatchPath{Attr: AttrPath{URI: ent, Name: "manager"}}, ""},
		{"enterprise manager value", ent + `:manager.value`, PatchPath{Attr: AttrPath{URI: ent, Name: "manager", Sub: "value"}}, ""},
		{"string boolean", `roles[primary eq "True"].display`,
			PatchPath{Attr: AttrPath{Name: "roles"}, Filter: filterEq("primary", "True"), Sub: "display"}, ""},
		{"address", `addresses[type eq "work"].streetAddress`,
			PatchPath{Attr: AttrPath{Name: "addresses"}, Filter: filterEq("type", "work"), Sub: "streetAddress"}, ""},
		{"core urn", `urn:ietf:params:scim:schemas:core:2.0:User:microsoftId`,
			PatchPath{Attr: AttrPath{URI: "urn:ietf:params:scim:schemas:core:2.0:User", Name: "microsoftId"}}, ""},
		{"and filter", `emails[type eq "work" and primary eq true]`,
			PatchPath{Attr: AttrPath{Name: "emails"}, Filter: &And{filterEq("type", "work"), filterEq("primary", true)}}, ""},
		{"rfc members displayName", `members[value eq "2819c223-7f76-453a-919d-413861904646"].displayName`,
			PatchPath{Attr: AttrPath{Name: "members"}, Filter: filterEq("value", "2819c223-7f76-453a-919d-413861904646"), Sub: "displayName"}, ""},
		{"rfc ew", `emails[type eq "work" and value ew "example.com"]`,
			PatchPath{Attr: AttrPath{Name: "emails"}, Filter: &And{filterEq("type", "work"),
				&Compare{AttrPath{Name: "value"}, OpEw, "example.com"}}}, ""},
		{"urn with filter", ent + `:manager[value eq "x"]`,
			PatchPath{Attr: AttrPath{URI: ent, Name: "manager"}, Filter: filterEq("value", "x")}, ""},
		{"op case and spaces", ` emails[ type  EQ "work" ].value `,
			PatchPath{Attr: AttrPath{Name: "emails"}, Filter: filterEq("type", "work"), Sub: "value"}, `emails[type eq "work"].value`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePatchPath(tt.in)
			if err != nil {
				t.Fatalf("ParsePatchPath(%q) error: %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParsePatchPath(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
			want := tt.str
			if want == "" {
				want = tt.in
			}
			if s := got.String(); s != want {
				t.Errorf("String() = %q, want %q", s, want)
			}
		})
	}
}

func TestParsePatchPathErrors(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		wantIn []string
	}{
		{"empty", ``, []string{"expected an attribute name"}},
		{"sub then filter", `name.givenName[value pr]`, []string{"without a sub-attribute"}},
		{"unclosed", `emails[type eq "work"`, []string{`expected "]"`}},
		{"nested", `emails[a[b pr]]`, []string{"nested"}},
		{"two subs after filter", `emails[type eq "work"].value.x`, []string{"expected the end of the path", "offset 28"}},
		{"operator after path", `emails[type eq "work"].value eq "x"`, []string{"expected"}},
		{"bad filter", `emails[type xx "work"]`, []string{`unknown operator "xx"`}},
		{"dot without name", `emails[type eq "work"].`, []string{"sub-attribute name"}},
		{"NUL", "active\x00", []string{"NUL"}},
		{"garbage", `active!`, []string{"unexpected character"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePatchPath(tt.in)
			if err == nil {
				t.Fatalf("ParsePatchPath(%q) = %#v, want error", tt.in, p)
			}
			wantScimErr(t, err, "invalidPath", tt.wantIn...)
		})
	}
}
