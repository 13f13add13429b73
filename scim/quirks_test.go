package scim

import (
	"encoding/json"
	"reflect"
	"testing"
)

// The tests in this file prove the identity-provider quirks of quirks.go,
// one test per client and request shape, at the protocol level: a body or
// PATCH as the client sends it, and the stored document it must give.
// server/*_test.go replays the same shapes over HTTP into SQLite.

func testCatalog(t *testing.T) *Catalog {
	t.Helper()
	c, err := NewCatalog(nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// decodeJSON decodes like the server does (json.Number for numbers).
func decodeJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	m, err := DecodeObject([]byte(s), Limits{})
	if err != nil {
		t.Fatalf("DecodeObject(%s): %v", s, err)
	}
	return m
}

// applyJSON applies a PatchOp body to doc (a JSON object) and returns the
// new document and member changes.
func applyJSON(t *testing.T, rt *ResourceType, doc, body string, opt PatchOptions) (map[string]any, []MemberChange, error) {
	t.Helper()
	d := decodeJSON(t, doc)
	ops, err := DecodePatch([]byte(body), Limits{})
	if err != nil {
		return nil, nil, err
	}
	ch, err := rt.ApplyPatch(d, ops, opt)
	return d, ch, err
}

func mustApply(t *testing.T, rt *ResourceType, doc, body string, opt PatchOptions) (map[string]any, []MemberChange) {
	t.Helper()
	d, ch, err := applyJSON(t, rt, doc, body, opt)
	if err != nil {
		t.Fatalf("ApplyPatch(%s): %v", body, err)
	}
	return d, ch
}

func wantDoc(t *testing.T, got map[string]any, want string) {
	t.Helper()
	w := decodeJSON(t, want)
	if !reflect.DeepEqual(got, w) {
		g, _ := json.Marshal(got)
		t.Errorf("document\n got  %s\n want %s", g, want)
	}
}

const patchOp = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":`

// Entra's IsSoftDeleted Switch() mapping sends active as "True"/"False",
// in PATCH and in POST bodies; they are stored as booleans.
func TestQuirkEntraStringBooleanActive(t *testing.T) {
	rt := testCatalog(t).User
	for _, tt := range []struct{ value, want string }{
		{`"False"`, `false`}, {`"True"`, `true`}, {`"false"`, `false`}, {`"TRUE"`, `true`}, {`false`, `false`},
	} {
		d, _ := mustApply(t, rt, `{"userName":"u","active":true}`, patchOp+`[{"op":"Replace","path":"active","value":`+tt.value+`}]}`, PatchOptions{})
		wantDoc(t, d, `{"userName":"u","active":`+tt.want+`}`)
		d, _ = mustApply(t, rt, `{"userName":"u","active":true}`, patchOp+`[{"op":"Replace","value":{"active":`+tt.value+`}}]}`, PatchOptions{})
		wantDoc(t, d, `{"userName":"u","active":`+tt.want+`}`)
	}
	_, _, err := applyJSON(t, rt, `{"userName":"u"}`, patchOp+`[{"op":"Replace","path":"active","value":"yes"}]}`, PatchOptions{})
	wantScimErr(t, err, "invalidValue", "active", "boolean")
}

// The SCIM Validator's user body carries roles[].primary as the string
// "True" while every other primary is a boolean; Entra's role mapping
// filters on roles[primary eq "True"].
func TestQuirkEntraRolesPrimaryString(t *testing.T) {
	rt := testCatalog(t).User
	got, err := rt.Normalize(decodeJSON(t, `{"userName":"u","roles":[{"primary":"True","display":"D","value":"V","type":"T"}]}`), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	wantDoc(t, got, `{"userName":"u","roles":[{"primary":true,"display":"D","value":"V","type":"T"}]}`)

	d, _ := mustApply(t, rt, `{"userName":"u"}`, patchOp+`[{"op":"Add","path":"roles[primary eq \"True\"].display","value":"Admin"}]}`, PatchOptions{})
	wantDoc(t, d, `{"userName":"u","roles":[{"primary":true,"display":"Admin"}]}`)
	d, _ = mustApply(t, rt, `{"userName":"u","roles":[{"primary":true,"value":"a"}]}`,
		patchOp+`[{"op":"Replace","path":"roles[primary eq \"True\"].value","value":"b"}]}`, PatchOptions{})
	wantDoc(t, d, `{"userName":"u","roles":[{"primary":true,"value":"b"}]}`)
}

// AzureAD's reference Postman collection POSTs "active":"True" and
// capitalised attribute names ("Primary", "Manager":{"Value":...}).
func TestQuirkPostmanActiveStringTrue(t *testing.T) {
	rt := testCatalog(t).User
	got, err := rt.Normalize(decodeJSON(t, `{"UserName":"u","active":"True","Emails":[{"Primary":"True","Value":"a@x"}],
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"Department":"D","Manager":{"Value":"m"}}}`), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	wantDoc(t, got, `{"userName":"u","active":true,"emails":[{"primary":true,"value":"a@x"}],
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"D","manager":{"value":"m"}}}`)
}

// Entra sends the enterprise manager as a plain id, {"value": id} or a
// legacy array, under the URN path or the short "manager", and clears it
// with "", {"value": ""}, null or remove. It is always stored as
// {"value": id}.
func TestQuirkEntraManagerShapes(t *testing.T) {
	rt := testCatalog(t).User
	const urn = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	const base = `{"userName":"u","` + urn + `":{"department":"D"}}`
	set := `{"userName":"u","` + urn + `":{"department":"D","manager":{"value":"m1"}}}`
	for _, tt := range []struct{ name, ops, want string }{
		{"plain id", `[{"op":"Add","path":"` + urn + `:manager","value":"m1"}]`, set},
		{"value object", `[{"op":"add","path":"` + urn + `:manager","value":{"value":"m1"}}]`, set},
		{"legacy array with short path", `[{"op":"Add","path":"manager","value":[{"$ref":"http://h/scim/Users/m1","value":"m1"}]}]`,
			`{"userName":"u","` + urn + `":{"department":"D","manager":{"value":"m1","$ref":"http://h/scim/Users/m1"}}}`},
		{"sub-attribute path", `[{"op":"replace","path":"` + urn + `:manager.value","value":"m1"}]`, set},
		{"path-less urn key", `[{"op":"replace","value":{"` + urn + `:manager":"m1"}}]`, set},
		{"cleared with empty string", `[{"op":"add","path":"manager","value":"m1"},{"op":"replace","path":"` + urn + `:manager","value":""}]`, base},
		{"cleared with empty value", `[{"op":"add","path":"manager","value":"m1"},{"op":"replace","path":"` + urn + `:manager","value":{"value":""}}]`, base},
		{"cleared with null", `[{"op":"add","path":"manager","value":"m1"},{"op":"replace","path":"` + urn + `:manager","value":null}]`, base},
		{"removed", `[{"op":"add","path":"manager","value":"m1"},{"op":"remove","path":"` + urn + `:manager"}]`, base},
		{"replace keeps no stale displayName", `[{"op":"add","path":"manager","value":{"value":"m0","displayName":"Old"}},{"op":"replace","path":"manager","value":"m1"}]`, set},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := mustApply(t, rt, base, patchOp+tt.ops+`}`, PatchOptions{})
			wantDoc(t, d, tt.want)
		})
	}
	got, err := rt.Normalize(decodeJSON(t, `{"userName":"u","`+urn+`":{"manager":"m1","department":"D"}}`), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	wantDoc(t, got, set)
	got, err = rt.Normalize(decodeJSON(t, `{"userName":"u","`+urn+`":{"manager":null,"department":"D"}}`), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	wantDoc(t, got, base)
}

// AzureAD's reference Postman collection adds a member as a bare id string:
// {"op":"add","path":"members","value":"id"}.
func TestQuirkPostmanMemberBareString(t *testing.T) {
	rt := testCatalog(t).Group
	for _, value := range []string{`"id1"`, `["id1"]`, `{"value":"id1"}`} {
		_, ch := mustApply(t, rt, `{"displayName":"g"}`, patchOp+`[{"op":"add","path":"members","value":`+value+`}]}`, PatchOptions{})
		if want := []MemberChange{{Kind: MemberAdd, IDs: []string{"id1"}}}; !reflect.DeepEqual(ch, want) {
			t.Errorf("value %s: changes %+v, want %+v", value, ch, want)
		}
	}
}

// Entra sends op names capitalised: "Add", "Replace", "Remove".
func TestQuirkEntraCapitalisedOps(t *testing.T) {
	rt := testCatalog(t).User
	d, _ := mustApply(t, rt, `{"userName":"u","title":"T"}`,
		patchOp+`[{"op":"Add","path":"nickName","value":"N"},{"op":"Replace","path":"displayName","value":"D"},{"op":"Remove","path":"title"},{"op":" REPLACE ","path":"locale","value":"en"}]}`, PatchOptions{})
	wantDoc(t, d, `{"userName":"u","nickName":"N","displayName":"D","locale":"en"}`)
	// Operation keys in other cases too ("OP", "Path", "Value").
	d, _ = mustApply(t, rt, `{"userName":"u"}`, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"operations":[{"OP":"Add","Path":"title","Value":"X"}]}`, PatchOptions{})
	wantDoc(t, d, `{"userName":"u","title":"X"}`)
}

// Microsoft's validation harness clears every optional mapped attribute
// with "" and then with null, and expects it gone.
func TestQuirkEntraClearWithEmptyString(t *testing.T) {
	rt := testCatalog(t).User
	const doc = `{"userName":"u","title":"T","name":{"givenName":"G","familyName":"F"},
		"emails":[{"type":"work","value":"w@x","primary":true},{"type":"home","value":"h@x"}],
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"D"}}`
	const want = `{"userName":"u","name":{"familyName":"F"},"emails":[{"type":"home","value":"h@x"}]}`
	for _, v := range []string{`""`, `null`} {
		d, _ := mustApply(t, rt, doc, patchOp+`[
			{"op":"replace","path":"title","value":`+v+`},
			{"op":"replace","path":"name.givenName","value":`+v+`},
			{"op":"replace","path":"emails[type eq \"work\"].value","value":`+v+`},
			{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":`+v+`}]}`, PatchOptions{})
		wantDoc(t, d, want)
	}
}

// Entra removes group members with {"op":"Remove","path":"members",
// "value":[{"value":id}]} and means only those members; the RFC-literal
// reading (remove every member) emptied groups in other servers.
func TestQuirkEntraRemoveMembersWithValueArray(t *testing.T) {
	rt := testCatalog(t).Group
	for _, tt := range []struct {
		name, ops string
		want      []MemberChange
	}{
		{"value array", `[{"op":"Remove","path":"members","value":[{"$ref":null,"value":"a"},{"value":"b"}]}]`,
			[]MemberChange{{Kind: MemberRemove, IDs: []string{"a", "b"}}}},
		{"single object", `[{"op":"remove","path":"members","value":{"value":"a"}}]`, []MemberChange{{Kind: MemberRemove, IDs: []string{"a"}}}},
		{"filter path", `[{"op":"remove","path":"members[value eq \"a\"]"}]`, []MemberChange{{Kind: MemberRemove, IDs: []string{"a"}}}},
		{"no value removes all", `[{"op":"remove","path":"members"}]`, []MemberChange{{Kind: MemberReplace}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, ch := mustApply(t, rt, `{"displayName":"g"}`, patchOp+tt.ops+`}`, PatchOptions{})
			if !reflect.DeepEqual(ch, tt.want) {
				t.Errorf("changes %+v, want %+v", ch, tt.want)
			}
		})
	}
	// The same shape on a user's multi-valued attribute removes by value.
	d, _ := mustApply(t, testCatalog(t).User, `{"userName":"u","emails":[{"value":"a@x"},{"value":"b@x"}]}`,
		patchOp+`[{"op":"Remove","path":"emails","value":[{"value":"A@X"}]}]}`, PatchOptions{})
	wantDoc(t, d, `{"userName":"u","emails":[{"value":"b@x"}]}`)
}

// Production Entra sends {"op":"replace","path":"members","value":[one
// member]} per member; for an entra token that adds, for okta and generic
// tokens it replaces the set (RFC 7644 §3.5.2.3, Okta's full push).
func TestQuirkEntraReplaceMembersAdds(t *testing.T) {
	rt := testCatalog(t).Group
	body := patchOp + `[{"op":"replace","path":"members","value":[{"value":"a"}]}]}`
	for _, tt := range []struct {
		idp  string
		kind MemberKind
	}{{"entra", MemberAdd}, {"okta", MemberReplace}, {"generic", MemberReplace}} {
		_, ch := mustApply(t, rt, `{"displayName":"g"}`, body, PatchOptions{ReplaceMembersAdds: ReplaceMembersAdds(tt.idp)})
		if want := []MemberChange{{Kind: tt.kind, IDs: []string{"a"}}}; !reflect.DeepEqual(ch, want) {
			t.Errorf("idp %s: changes %+v, want %+v", tt.idp, ch, want)
		}
	}
}

// Entra (aadOptscim062020) folds several changes into one path-less replace
// whose keys are dotted or URN-qualified; pond/scimitar#123 saw the same as
// a path-less add.
func TestQuirkEntraPathlessDottedKeys(t *testing.T) {
	rt := testCatalog(t).User
	d, _ := mustApply(t, rt, `{"userName":"u","name":{"familyName":"F","givenName":"G"}}`, patchOp+`[
		{"op":"replace","value":{"displayName":"Bjfe","name.givenName":"Kkom","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"Aklq"}},
		{"op":"add","value":{"title":"T","name.formatted":"Kkom F","urn:ietf:params:scim:schemas:core:2.0:User:nickName":"N"}}]}`, PatchOptions{})
	wantDoc(t, d, `{"userName":"u","displayName":"Bjfe","title":"T","nickName":"N","name":{"familyName":"F","givenName":"Kkom","formatted":"Kkom F"},
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"Aklq"}}`)
}

// Entra replaces phoneNumbers[type eq "work"].value on a user with no work
// phone, and the validator adds emails[type eq "work"].value to a user with
// no emails: the element is created instead of failing with noTarget.
func TestQuirkEntraFilteredAddCreatesElement(t *testing.T) {
	rt := testCatalog(t).User
	d, _ := mustApply(t, rt, `{"userName":"u","phoneNumbers":[{"type":"mobile","value":"1"}]}`, patchOp+`[
		{"op":"Replace","path":"phoneNumbers[type eq \"work\"].value","value":"2"},
		{"op":"add","path":"emails[type eq \"work\"].value","value":"w@x"},
		{"op":"add","path":"addresses[type eq \"work\" and primary eq true].locality","value":"L"}]}`, PatchOptions{})
	wantDoc(t, d, `{"userName":"u","phoneNumbers":[{"type":"mobile","value":"1"},{"type":"work","value":"2"}],
		"emails":[{"type":"work","value":"w@x"}],"addresses":[{"type":"work","primary":true,"locality":"L"}]}`)
}

// Okta's group rename is a path-less replace that carries the readOnly id;
// Entra's and Okta's bodies carry id, meta, schemas and groups. All are
// ignored, not refused.
func TestQuirkOktaGroupRenameWithID(t *testing.T) {
	rt := testCatalog(t).Group
	d, ch := mustApply(t, rt, `{"displayName":"old"}`,
		patchOp+`[{"op":"replace","value":{"id":"abf4dd94-a4c0-4f67-89c9-76b03340cb9b","displayName":"Test SCIMv2","meta":{"resourceType":"Group"},"schemas":["x"]}}]}`, PatchOptions{})
	wantDoc(t, d, `{"displayName":"Test SCIMv2"}`)
	if len(ch) != 0 {
		t.Errorf("a rename changed members: %+v", ch)
	}
	// With an explicit path, changing id is an error the admin can see.
	_, _, err := applyJSON(t, rt, `{"displayName":"old"}`, patchOp+`[{"op":"replace","path":"id","value":"x"}]}`, PatchOptions{})
	wantScimErr(t, err, "mutability", "id")
}

// Okta always sends a placeholder password and groups: [] on create and in
// the PUT of the whole user; both are accepted and neither is stored.
func TestQuirkOktaPlaceholderPassword(t *testing.T) {
	rt := testCatalog(t).User
	got, err := rt.Normalize(decodeJSON(t, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"x","userName":"u",
		"groups":[],"password":"1mz050nq","meta":{"resourceType":"User"},"active":true}`), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	wantDoc(t, got, `{"userName":"u","active":true}`)
	d, _ := mustApply(t, rt, `{"userName":"u"}`, patchOp+`[{"op":"replace","value":{"password":"p"}},{"op":"replace","path":"password","value":"p"}]}`, PatchOptions{})
	wantDoc(t, d, `{"userName":"u"}`)
}

// Okta deactivates and reactivates with a path-less replace of active.
func TestQuirkOktaPathlessDeactivate(t *testing.T) {
	rt := testCatalog(t).User
	d, _ := mustApply(t, rt, `{"userName":"u","active":true}`, patchOp+`[{"op":"replace","value":{"active":false}}]}`, PatchOptions{})
	wantDoc(t, d, `{"userName":"u","active":false}`)
}

// Entra's legacy sample carries nulls, top-level enterprise names and a
// malformed enterprise URN; Entra's group body names the Microsoft ADSCIM
// schema. None of it is refused.
func TestQuirkEntraLegacyBody(t *testing.T) {
	c := testCatalog(t)
	got, err := c.User.Normalize(decodeJSON(t, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],
		"userName":"u","addresses":null,"phoneNumbers":null,"title":null,"department":null,"manager":null,"preferredLanguage":null}`), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	wantDoc(t, got, `{"userName":"u"}`)
	if _, err := c.Group.Normalize(decodeJSON(t, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group",
		"http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],"displayName":"g"}`), Limits{}); err != nil {
		t.Errorf("ADSCIM group schema refused: %v", err)
	}
	// A body for the other resource type is still refused.
	_, err = c.Group.Normalize(decodeJSON(t, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"displayName":"g"}`), Limits{})
	wantScimErr(t, err, "invalidSyntax", "Group")
}

func TestQuirkEntraFilterStringBoolean(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want bool
		ok   bool
	}{{true, true, true}, {"True", true, true}, {"FALSE", false, true}, {"yes", false, false}, {Number("1"), false, false}} {
		got, ok := BoolLiteral(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("BoolLiteral(%#v) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestQuirkOktaBareAuthorization(t *testing.T) {
	for _, tc := range []struct {
		header, want string
		ok           bool
	}{
		{"Bearer scimd_abc", "scimd_abc", true},
		{"bearer   scimd_abc ", "scimd_abc", true},
		{"scimd_abc", "scimd_abc", true}, // Okta header auth without the scheme
		{"non-token", "", false},         // Okta SPEC test's 401 probe
		{"Basic dXNlcjpwYXNz", "", false},
	} {
		got, ok := BearerSecret(tc.header, "scimd_")
		if got != tc.want || ok != tc.ok {
			t.Errorf("BearerSecret(%q) = %q, %v; want %q, %v", tc.header, got, ok, tc.want, tc.ok)
		}
	}
}
