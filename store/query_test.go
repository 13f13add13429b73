package store

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"scimd/scim"
)

// acme declares operator attributes of the types the standard schemas lack
// (integer, decimal, dateTime, a second boolean), so the filter tables can
// cover every RFC 7643 type.
const acme = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"

var acmeAttrs = []scim.CustomAttribute{
	{Name: acme + ":level", Type: "integer"},
	{Name: acme + ":score", Type: "decimal"},
	{Name: acme + ":hired", Type: "dateTime"},
	{Name: acme + ":vip", Type: "boolean"},
	{Name: acme + ":badge", Type: "string", CaseExact: true},
}

// openTestStore opens a store on a new file in a temporary folder.
func openTestStore(t *testing.T, custom []scim.CustomAttribute) *Store {
	t.Helper()
	cat, err := scim.NewCatalog(custom)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(filepath.Join(t.TempDir(), "scimd.db"), Options{Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// create stores a JSON body as the server would: decoded, normalised.
func create(t *testing.T, s *Store, k Kind, body string) *Resource {
	t.Helper()
	raw, err := scim.DecodeObject([]byte(body), scim.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := k.rt(s).Normalize(raw, scim.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Create(context.Background(), Actor{Token: "test", IDP: "generic"}, k, doc)
	if err != nil {
		t.Fatalf("Create(%s): %v", body, err)
	}
	return r
}

// names runs a filter and returns the userNames (or displayNames) found.
func names(t *testing.T, s *Store, k Kind, filter string) ([]string, error) {
	t.Helper()
	f, err := scim.ParseFilter(filter, scim.FilterLimits{})
	if err != nil {
		t.Fatalf("ParseFilter(%q): %v", filter, err)
	}
	total, list, err := s.List(context.Background(), k, Query{Filter: f, StartIndex: 1, Count: 1000})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range list {
		out = append(out, nameOf(k, r.Doc))
	}
	if total != len(out) {
		t.Errorf("filter %q: totalResults %d but %d resources", filter, total, len(out))
	}
	slices.Sort(out)
	return out, nil
}

// filterFixture stores three users and two groups with values chosen so
// that each operator separates them.
func filterFixture(t *testing.T) *Store {
	s := openTestStore(t, acmeAttrs)
	create(t, s, Users, `{"userName":"Alice@Example.com","displayName":"Alice","title":"Engineer","active":true,
		"externalId":"ext-A","profileUrl":"https://example.com/Alice",
		"name":{"givenName":"Alice","familyName":"O'Malley"},
		"emails":[{"type":"work","value":"alice@work.example","primary":true},{"type":"home","value":"alice@home.example"}],
		"roles":[{"value":"admin","primary":"True"}],
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"100","department":"R&D","manager":{"value":"m-1"}},
		"`+acme+`":{"level":3,"score":4.5,"hired":"2020-01-15T09:00:00Z","vip":true,"badge":"AB-1"}}`)
	create(t, s, Users, `{"userName":"bob@example.com","title":"Manager","active":false,"externalId":"EXT-B",
		"name":{"givenName":"Bob"},
		"emails":[{"type":"work","value":"BOB@work.example"}],
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"200"},
		"`+acme+`":{"level":10,"score":-1,"hired":"2024-06-01T00:00:00Z","vip":false,"badge":"ab-2"}}`)
	create(t, s, Users, `{"userName":"érin@example.com","active":true,
		"ims":[{"type":"xmpp","value":"erin@jabber.example"}],
		"phoneNumbers":[{"type":"work","value":"+1 555 0100"}]}`)
	return s
}

// TestFilterOperatorsByType is the per-operator x per-type table of RFC 7644
// §3.4.2.2, run as SQL against a real SQLite file.
func TestFilterOperatorsByType(t *testing.T) {
	s := filterFixture(t)
	const a, b, e = "Alice@Example.com", "bob@example.com", "érin@example.com"
	tests := []struct {
		typ    string
		filter string
		want   []string
	}{
		// string, caseExact false, indexed column (userName)
		{"string/userName", `userName eq "alice@example.COM"`, []string{a}},
		{"string/userName", `userName eq "ÉRIN@EXAMPLE.COM"`, []string{e}},
		{"string/userName", `userName ne "alice@example.com"`, []string{b, e}},
		{"string/userName", `userName co "EXAMPLE"`, []string{a, b, e}},
		{"string/userName", `userName co "ob@"`, []string{b}},
		{"string/userName", `userName sw "AL"`, []string{a}},
		{"string/userName", `userName ew "E.COM"`, []string{a, b, e}},
		{"string/userName", `userName ew "N@EXAMPLE.COM"`, []string{e}},
		{"string/userName", `userName gt "b"`, []string{b, e}},
		{"string/userName", `userName ge "bob@example.com"`, []string{b, e}},
		{"string/userName", `userName lt "B"`, []string{a}},
		{"string/userName", `userName le "ALICE@example.com"`, []string{a}},
		{"string/userName", `userName pr`, []string{a, b, e}},
		// string, caseExact false, in the JSON document
		{"string/title", `title eq "engineer"`, []string{a}},
		{"string/title", `title ne "engineer"`, []string{b, e}},
		{"string/title", `title co "NAG"`, []string{b}},
		{"string/title", `title sw "m"`, []string{b}},
		{"string/title", `title ew "EER"`, []string{a}},
		{"string/title", `title gt "F"`, []string{b}},
		{"string/title", `title lt "f"`, []string{a}},
		{"string/title", `title pr`, []string{a, b}},
		{"string/title", `not (title pr)`, []string{e}},
		{"string/sub-attribute", `name.familyName eq "o'malley"`, []string{a}},
		{"string/sub-attribute", `name.givenName sw "b"`, []string{b}},
		{"string/sub-attribute", `name.familyName pr`, []string{a}},
		{"string/extension", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "200"`, []string{b}},
		{"string/extension", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department co "&"`, []string{a}},
		{"string/extension short name", `employeeNumber ge "100"`, []string{a, b}},
		// string, caseExact true
		{"caseExact/externalId", `externalId eq "ext-A"`, []string{a}},
		{"caseExact/externalId", `externalId eq "EXT-A"`, nil},
		{"caseExact/externalId", `externalId ne "ext-A"`, []string{b, e}},
		{"caseExact/externalId", `externalId sw "EXT"`, []string{b}},
		{"caseExact/externalId", `externalId co "xt"`, []string{a}},
		{"caseExact/externalId", `externalId co "XT"`, []string{b}},
		{"caseExact/externalId", `externalId ew "B"`, []string{b}},
		{"caseExact/externalId", `externalId gt "Z"`, []string{a}},
		{"caseExact/externalId", `externalId pr`, []string{a, b}},
		{"caseExact/custom", `badge eq "AB-1"`, []string{a}},
		{"caseExact/custom", `badge eq "ab-1"`, nil},
		{"caseExact/custom", `badge sw "ab"`, []string{b}},
		// reference (caseExact true)
		{"reference/profileUrl", `profileUrl eq "https://example.com/Alice"`, []string{a}},
		{"reference/profileUrl", `profileUrl eq "https://example.com/alice"`, nil},
		{"reference/profileUrl", `profileUrl sw "https://"`, []string{a}},
		{"reference/profileUrl", `profileUrl pr`, []string{a}},
		// boolean, indexed column
		{"boolean/active", `active eq true`, []string{a, e}},
		{"boolean/active", `active eq false`, []string{b}},
		{"boolean/active", `active ne true`, []string{b}},
		{"boolean/active", `active eq "True"`, []string{a, e}},
		{"boolean/active", `active pr`, []string{a, b, e}},
		// boolean in the document
		{"boolean/custom", `vip eq true`, []string{a}},
		{"boolean/custom", `vip eq false`, []string{b}},
		{"boolean/custom", `vip ne true`, []string{b, e}},
		{"boolean/custom", `vip pr`, []string{a, b}},
		{"boolean/sub-attribute", `emails.primary eq true`, []string{a}},
		{"boolean/sub-attribute stored from a string", `roles[primary eq true]`, []string{a}},
		// integer
		{"integer", `level eq 3`, []string{a}},
		{"integer", `level ne 3`, []string{b, e}},
		{"integer", `level gt 3`, []string{b}},
		{"integer", `level ge 3`, []string{a, b}},
		{"integer", `level lt 10`, []string{a}},
		{"integer", `level le 10`, []string{a, b}},
		{"integer", `level gt 9`, []string{b}}, // numeric, not text, order
		{"integer", `level pr`, []string{a, b}},
		// decimal
		{"decimal", `score gt 0`, []string{a}},
		{"decimal", `score lt 0`, []string{b}},
		{"decimal", `score eq 4.50`, []string{a}},
		{"decimal", `score ge -1`, []string{a, b}},
		{"decimal", `score le -1e0`, []string{b}},
		// dateTime
		{"dateTime/custom", `hired gt "2021-01-01T00:00:00Z"`, []string{b}},
		{"dateTime/custom", `hired lt "2021-01-01T00:00:00Z"`, []string{a}},
		{"dateTime/custom", `hired ge "2020-01-15T09:00:00Z"`, []string{a, b}},
		{"dateTime/custom", `hired le "2020-01-15T09:00:00Z"`, []string{a}},
		{"dateTime/custom", `hired eq "2024-06-01T00:00:00Z"`, []string{b}},
		{"dateTime/custom", `hired pr`, []string{a, b}},
		{"dateTime/meta", `meta.lastModified gt "2011-05-13T04:42:34Z"`, []string{a, b, e}},
		{"dateTime/meta", `meta.created lt "2011-05-13T04:42:34Z"`, nil},
		{"dateTime/meta", `meta.lastModified le "2999-01-01T00:00:00+02:00"`, []string{a, b, e}},
		// multi-valued complex: any element
		{"multi-valued", `emails co "work.example"`, []string{a, b}},
		{"multi-valued", `emails.value eq "bob@WORK.example"`, []string{b}},
		{"multi-valued", `emails.value ew "home.example"`, []string{a}},
		{"multi-valued", `emails.type eq "home"`, []string{a}},
		{"multi-valued", `emails.value ne "alice@home.example"`, []string{b, e}},
		{"multi-valued", `emails pr`, []string{a, b}},
		{"multi-valued", `ims.value sw "erin"`, []string{e}},
		// complex single-valued: the value sub-attribute
		{"complex/manager", `manager eq "m-1"`, []string{a}},
		{"complex/manager", `manager.value eq "m-1"`, []string{a}},
		{"complex/manager", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value pr`, []string{a}},
		// value paths
		{"valuePath", `emails[type eq "work" and value co "@WORK."]`, []string{a, b}},
		{"valuePath", `emails[type eq "home" or primary eq true]`, []string{a}},
		{"valuePath", `emails[not (type eq "work")]`, []string{a}},
		{"valuePath", `emails[type eq "work" and primary pr]`, []string{a}},
		{"valuePath Entra form", `emails[type eq "work"].value eq "ALICE@work.example"`, []string{a}},
		{"valuePath Entra form", `emails[type eq "home"].value eq "bob@work.example"`, nil},
		{"valuePath", `phoneNumbers[type eq "work"] and ims[type eq "xmpp"]`, []string{e}},
		// logic, grouping, names
		{"logic", `title pr and active eq true`, []string{a}},
		{"logic", `title eq "manager" or userName sw "é"`, []string{b, e}},
		{"logic", `not (active eq true) or externalId eq "ext-A"`, []string{a, b}},
		{"logic", `(title eq "engineer" or title eq "manager") and not (active eq false)`, []string{a}},
		{"logic", `userName pr and (emails co "alice" or emails.value co "bob")`, []string{a, b}},
		{"names", `USERNAME EQ "bob@example.com"`, []string{b}},
		{"names", `urn:ietf:params:scim:schemas:core:2.0:User:userName sw "b"`, []string{b}},
		{"names", `Name.GivenName eq "alice"`, []string{a}},
		{"schemas", `schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`, []string{a, b}},
		{"schemas", `schemas eq "urn:ietf:params:scim:schemas:core:2.0:User"`, []string{a, b, e}},
		{"meta", `meta.resourceType eq "User"`, []string{a, b, e}},
		{"null", `title eq null`, []string{e}},
		{"unquoted value (Entra legacy)", `externalId eq EXT-B`, []string{b}},
	}
	for _, tt := range tests {
		t.Run(tt.typ+"/"+tt.filter, func(t *testing.T) {
			got, err := names(t, s, Users, tt.filter)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestFilterInvalid lists filters that parse but cannot apply: each is a
// 400 invalidFilter naming the problem, never a 500.
func TestFilterInvalid(t *testing.T) {
	s := filterFixture(t)
	for _, tt := range []struct{ filter, detail string }{
		{`shoeSize eq 42`, "shoeSize"},
		{`name eq "x"`, "sub-attribute"},
		{`active gt true`, "boolean"},
		{`active eq "maybe"`, "boolean"},
		{`level eq "three"`, "number"},
		{`level co 3`, "numeric"},
		{`hired gt "yesterday"`, "dateTime"},
		{`emails[nope eq "x"]`, "nope"},
		{`title[value eq "x"]`, "multi-valued"},
		{`urn:example:nope:User:x eq "y"`, "schema"},
		{`schemas co "x"`, "schemas"},
		{`title gt null`, "null"},
	} {
		t.Run(tt.filter, func(t *testing.T) {
			_, err := names(t, s, Users, tt.filter)
			se, ok := err.(*scim.Error)
			if !ok || se.Status != 400 || se.ScimType != "invalidFilter" {
				t.Fatalf("error %v (%T), want 400 invalidFilter", err, err)
			}
			if !strings.Contains(se.Detail, tt.detail) {
				t.Errorf("detail %q does not mention %q", se.Detail, tt.detail)
			}
		})
	}
}

// TestFilterReferences covers groups on users and members on groups, which
// live in the membership table.
func TestFilterReferences(t *testing.T) {
	s := filterFixture(t)
	ctx := context.Background()
	_, list, err := s.List(ctx, Users, Query{StartIndex: 1, Count: 10})
	if err != nil {
		t.Fatal(err)
	}
	alice, bob := list[0].ID, list[1].ID
	devs := create(t, s, Groups, `{"displayName":"Developers","members":[{"value":"`+alice+`"}]}`)
	create(t, s, Groups, `{"displayName":"Everyone","members":[{"value":"`+bob+`"},{"value":"`+devs.ID+`"}]}`)
	for _, tt := range []struct {
		k      Kind
		filter string
		want   []string
	}{
		{Users, `groups eq "` + devs.ID + `"`, []string{"Alice@Example.com"}},
		{Users, `groups.display eq "everyone"`, []string{"bob@example.com"}},
		{Users, `groups.value pr`, []string{"Alice@Example.com", "bob@example.com"}},
		{Groups, `members.value eq "` + alice + `"`, []string{"Developers"}},
		{Groups, `members[value eq "` + devs.ID + `"]`, []string{"Everyone"}},
		{Groups, `members.display eq "developers"`, []string{"Everyone"}},
		{Groups, `members.display eq "alice"`, []string{"Developers"}},
		{Groups, `displayName eq "DEVELOPERS"`, []string{"Developers"}},
		{Groups, `displayName sw "e"`, []string{"Everyone"}},
		{Groups, `members pr`, []string{"Developers", "Everyone"}},
	} {
		t.Run(tt.filter, func(t *testing.T) {
			got, err := names(t, s, tt.k, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestListPagingAndSorting checks startIndex/count, count=0, the stable
// creation order and sortBy in both directions with missing values last.
func TestListPagingAndSorting(t *testing.T) {
	s := filterFixture(t)
	ctx := context.Background()
	list := func(q Query) (int, []string) {
		t.Helper()
		total, rs, err := s.List(ctx, Users, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rs {
			out = append(out, nameOf(Users, r.Doc))
		}
		return total, out
	}
	a, b, e := "Alice@Example.com", "bob@example.com", "érin@example.com"
	sortBy := func(s string) *scim.AttrPath {
		p, err := scim.ParseAttrPath(s)
		if err != nil {
			t.Fatal(err)
		}
		return &p
	}
	for _, tt := range []struct {
		name  string
		q     Query
		total int
		want  []string
	}{
		{"creation order", Query{StartIndex: 1, Count: 10}, 3, []string{a, b, e}},
		{"second page", Query{StartIndex: 2, Count: 1}, 3, []string{b}},
		{"past the end", Query{StartIndex: 4, Count: 10}, 3, nil},
		{"count 0 gives the total only", Query{StartIndex: 1, Count: 0}, 3, nil},
		{"sort by userName ignores case", Query{StartIndex: 1, Count: 10, SortBy: sortBy("userName")}, 3, []string{a, b, e}},
		{"sort descending", Query{StartIndex: 1, Count: 10, SortBy: sortBy("userName"), Descending: true}, 3, []string{e, b, a}},
		{"missing values last", Query{StartIndex: 1, Count: 10, SortBy: sortBy("title"), Descending: true}, 3, []string{b, a, e}},
		{"sort by multi-valued uses primary", Query{StartIndex: 1, Count: 10, SortBy: sortBy("emails")}, 3, []string{a, b, e}},
		{"sort by number", Query{StartIndex: 1, Count: 10, SortBy: sortBy(acme + ":level"), Descending: true}, 3, []string{b, a, e}},
		{"sorted second page", Query{StartIndex: 2, Count: 1, SortBy: sortBy("userName"), Descending: true}, 3, []string{b}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			total, got := list(tt.q)
			if total != tt.total || !slices.Equal(got, tt.want) {
				t.Errorf("got %d %q, want %d %q", total, got, tt.total, tt.want)
			}
		})
	}
	for _, bad := range []string{"groups", "shoeSize", "name"} {
		if _, _, err := s.List(ctx, Users, Query{StartIndex: 1, Count: 1, SortBy: sortBy(bad)}); err == nil {
			t.Errorf("sortBy %s: no error", bad)
		} else if se, ok := err.(*scim.Error); !ok || se.Status != 400 {
			t.Errorf("sortBy %s: %v, want a 400", bad, err)
		}
	}
}
