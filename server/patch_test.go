package server

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"scimd/scim"
)

// absent marks an attribute that must not be in the resource.
type absent struct{}

// patchUser is the user every row of the PATCH tables starts from.
func patchUser() map[string]any {
	return map[string]any{
		"schemas":  []any{scim.UserSchema, enterprise},
		"userName": "pat@example.com", "displayName": "Pat", "active": true,
		"name": map[string]any{"givenName": "Pat", "familyName": "Doe"},
		"emails": []any{
			map[string]any{"type": "work", "value": "pat@work.example", "primary": true},
			map[string]any{"type": "home", "value": "pat@home.example"}},
		"phoneNumbers": []any{map[string]any{"type": "mobile", "value": "+1 555 0101"}},
		enterprise:     map[string]any{"department": "R&D", "employeeNumber": "42"},
	}
}

type patchCase struct {
	name string
	ops  []map[string]any
	want map[string]any // dotted path -> value, or absent{}
	// On failure: the status and scimType; the user must be unchanged.
	status   int
	scimType string
}

func runPatchCases(t *testing.T, idp string, cases []patchCase) {
	t.Helper()
	e := newEnv(t)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := patchUser()
			body["userName"] = fmt.Sprintf("pat%d@example.com", i)
			r := e.send(req{Method: "POST", Path: "/Users", Body: body}).must(t, 201)
			id := r.str("id")
			before := e.get("/Users/"+id).must(t, 200)
			r = e.send(req{Method: "PATCH", Path: "/Users/" + id, Body: patchBody(tc.ops...), IDP: idp})
			if tc.status != 0 {
				wantError(t, r, tc.status, tc.scimType)
				after := e.get("/Users/"+id).must(t, 200)
				if !reflect.DeepEqual(after.JSON, before.JSON) {
					t.Errorf("a failed PATCH changed the user:\nbefore %s\nafter  %s", before.Body, after.Body)
				}
				return
			}
			r.must(t, 200)
			got := e.get("/Users/"+id).must(t, 200)
			if !reflect.DeepEqual(got.JSON, r.JSON) {
				t.Errorf("PATCH response and GET differ:\nPATCH %s\nGET   %s", r.Body, got.Body)
			}
			for path, want := range tc.want {
				v := dig(got.JSON, path)
				if _, ok := want.(absent); ok {
					if v != nil {
						t.Errorf("%s = %v, want it absent", path, v)
					}
					continue
				}
				if !reflect.DeepEqual(normalizeJSON(v), normalizeJSON(want)) {
					t.Errorf("%s = %v, want %v", path, v, want)
				}
			}
		})
	}
}

// TestPatchPathForms covers every PATCH path form of RFC 7644 §3.5.2 on a
// user, through the HTTP API into SQLite.
func TestPatchPathForms(t *testing.T) {
	const core = scim.UserSchema
	runPatchCases(t, "generic", []patchCase{
		// simple attribute
		{name: "add simple", ops: []map[string]any{op("add", "nickName", "Babs")}, want: map[string]any{"nickName": "Babs"}},
		{name: "replace simple", ops: []map[string]any{op("replace", "displayName", "Patricia")}, want: map[string]any{"displayName": "Patricia"}},
		{name: "remove simple", ops: []map[string]any{op("remove", "displayName", nil)}, want: map[string]any{"displayName": absent{}}},
		{name: "remove absent attribute succeeds", ops: []map[string]any{op("remove", "title", nil)}, want: map[string]any{"title": absent{}}},
		{name: "attribute name in another case", ops: []map[string]any{op("replace", "DISPLAYNAME", "Upper")}, want: map[string]any{"displayName": "Upper", "DISPLAYNAME": absent{}}},
		{name: "replace userName", ops: []map[string]any{op("replace", "userName", "renamed@example.com")}, want: map[string]any{"userName": "renamed@example.com"}},
		{name: "replace externalId", ops: []map[string]any{op("replace", "externalId", "ext-1")}, want: map[string]any{"externalId": "ext-1"}},
		{name: "replace boolean", ops: []map[string]any{op("replace", "active", false)}, want: map[string]any{"active": false}},

		// sub-attribute
		{name: "replace sub-attribute", ops: []map[string]any{op("replace", "name.givenName", "Patty")}, want: map[string]any{"name.givenName": "Patty", "name.familyName": "Doe"}},
		{name: "add sub-attribute", ops: []map[string]any{op("add", "name.middleName", "Q")}, want: map[string]any{"name.middleName": "Q", "name.givenName": "Pat"}},
		{name: "remove sub-attribute", ops: []map[string]any{op("remove", "name.familyName", nil)}, want: map[string]any{"name.familyName": absent{}, "name.givenName": "Pat"}},
		{name: "replace complex merges", ops: []map[string]any{op("replace", "name", map[string]any{"familyName": "Roe"})}, want: map[string]any{"name.familyName": "Roe", "name.givenName": "Pat"}},

		// URN-qualified
		{name: "urn core attribute", ops: []map[string]any{op("replace", core+":displayName", "Urn")}, want: map[string]any{"displayName": "Urn"}},
		{name: "urn core sub-attribute", ops: []map[string]any{op("replace", core+":name.givenName", "UrnGiven")}, want: map[string]any{"name.givenName": "UrnGiven"}},
		{name: "urn extension attribute", ops: []map[string]any{op("add", enterprise+":costCenter", "CC1")}, want: map[string]any{enterprise + ".costCenter": "CC1", enterprise + ".department": "R&D"}},
		{name: "urn extension remove", ops: []map[string]any{op("remove", enterprise+":department", nil)}, want: map[string]any{enterprise + ".department": absent{}, enterprise + ".employeeNumber": "42"}},
		{name: "urn extension sub-attribute", ops: []map[string]any{op("replace", enterprise+":manager.value", "m-1")}, want: map[string]any{enterprise + ".manager.value": "m-1"}},
		{name: "extension attribute by short name", ops: []map[string]any{op("replace", "department", "Sales")}, want: map[string]any{enterprise + ".department": "Sales"}},
		{name: "whole extension object", ops: []map[string]any{op("replace", enterprise, map[string]any{"division": "D"})},
			want: map[string]any{enterprise + ".division": "D", enterprise + ".employeeNumber": "42"}},
		{name: "remove whole extension", ops: []map[string]any{op("remove", enterprise, nil)}, want: map[string]any{enterprise: absent{}, "schemas.1": absent{}}},

		// multi-valued attribute without a filter
		{name: "add to multi-valued appends", ops: []map[string]any{op("add", "emails", []any{map[string]any{"type": "other", "value": "pat@other.example"}})},
			want: map[string]any{"emails.2.value": "pat@other.example", "emails.0.value": "pat@work.example"}},
		{name: "add an equal element again is a no-op", ops: []map[string]any{op("add", "emails", []any{map[string]any{"type": "home", "value": "pat@home.example"}})},
			want: map[string]any{"emails.2": absent{}}},
		{name: "replace multi-valued", ops: []map[string]any{op("replace", "emails", []any{map[string]any{"type": "work", "value": "new@work.example"}})},
			want: map[string]any{"emails.0.value": "new@work.example", "emails.1": absent{}}},
		{name: "remove multi-valued", ops: []map[string]any{op("remove", "emails", nil)}, want: map[string]any{"emails": absent{}}},
		{name: "add a new primary demotes the old one", ops: []map[string]any{op("add", "emails", []any{map[string]any{"type": "other", "value": "p@o.example", "primary": true}})},
			want: map[string]any{"emails.0.primary": false, "emails.2.primary": true}},

		// value filter, whole elements
		{name: "replace filtered element merges", ops: []map[string]any{op("replace", `emails[type eq "home"]`, map[string]any{"value": "pat@home2.example"})},
			want: map[string]any{"emails.1.value": "pat@home2.example", "emails.1.type": "home"}},
		{name: "remove filtered element", ops: []map[string]any{op("remove", `emails[type eq "home"]`, nil)}, want: map[string]any{"emails.0.type": "work", "emails.1": absent{}}},
		{name: "remove filtered element with and", ops: []map[string]any{op("remove", `emails[type eq "work" and value co "@WORK."]`, nil)},
			want: map[string]any{"emails.0.type": "home", "emails.1": absent{}}},
		{name: "remove with a filter that matches nothing succeeds", ops: []map[string]any{op("remove", `emails[type eq "other"]`, nil)},
			want: map[string]any{"emails.1.type": "home"}},

		// value filter with a sub-attribute
		{name: "replace filtered sub-attribute", ops: []map[string]any{op("replace", `emails[type eq "work"].value`, "pat@new.example")},
			want: map[string]any{"emails.0.value": "pat@new.example", "emails.0.primary": true, "emails.1.value": "pat@home.example"}},
		{name: "filtered add creates the missing element", ops: []map[string]any{op("add", `phoneNumbers[type eq "work"].value`, "+1 555 0100")},
			want: map[string]any{"phoneNumbers.0.type": "mobile", "phoneNumbers.1.type": "work", "phoneNumbers.1.value": "+1 555 0100"}},
		{name: "filtered replace creates the missing element", ops: []map[string]any{op("replace", `addresses[type eq "work"].postalCode`, "cx47 4mz")},
			want: map[string]any{"addresses.0.type": "work", "addresses.0.postalCode": "cx47 4mz"}},
		{name: "filtered replace of a boolean sub-attribute", ops: []map[string]any{op("replace", `emails[type eq "home"].primary`, true)},
			want: map[string]any{"emails.1.primary": true, "emails.0.primary": false}},
		{name: "remove filtered sub-attribute", ops: []map[string]any{op("remove", `emails[type eq "work"].primary`, nil)},
			want: map[string]any{"emails.0.primary": absent{}, "emails.0.value": "pat@work.example"}},
		{name: "filter value in another case", ops: []map[string]any{op("replace", `emails[type eq "WORK"].value`, "ci@work.example")},
			want: map[string]any{"emails.0.value": "ci@work.example", "emails.2": absent{}}},

		// path-less
		{name: "path-less plain keys", ops: []map[string]any{op("replace", "", map[string]any{"displayName": "PL", "title": "T"})},
			want: map[string]any{"displayName": "PL", "title": "T"}},
		{name: "path-less dotted keys", ops: []map[string]any{op("replace", "", map[string]any{"name.givenName": "Dot", "name.formatted": "Dot Doe"})},
			want: map[string]any{"name.givenName": "Dot", "name.formatted": "Dot Doe", "name.familyName": "Doe"}},
		{name: "path-less urn keys", ops: []map[string]any{op("add", "", map[string]any{enterprise + ":employeeNumber": "7", core + ":nickName": "N"})},
			want: map[string]any{enterprise + ".employeeNumber": "7", "nickName": "N", enterprise + ".department": "R&D"}},
		{name: "path-less extension object", ops: []map[string]any{op("replace", "", map[string]any{enterprise: map[string]any{"department": "Ops"}})},
			want: map[string]any{enterprise + ".department": "Ops", enterprise + ".employeeNumber": "42"}},
		{name: "path-less ignores readOnly and unknown keys", ops: []map[string]any{op("replace", "", map[string]any{
			"id": "forged", "meta": map[string]any{"created": "2000-01-01T00:00:00Z"}, "schemas": []any{core}, "groups": []any{map[string]any{"value": "g"}},
			"password": "secret", "favouriteColour": "blue", "displayName": "Kept"})},
			want: map[string]any{"displayName": "Kept", "groups": absent{}, "password": absent{}, "favouriteColour": absent{}}},
		{name: "path-less add of a multi-valued attribute", ops: []map[string]any{op("add", "", map[string]any{"emails": []any{map[string]any{"type": "other", "value": "x@o.example"}}})},
			want: map[string]any{"emails.2.value": "x@o.example"}},
		{name: "password by path is accepted and not stored", ops: []map[string]any{op("replace", "password", "hunter2")}, want: map[string]any{"password": absent{}}},

		// several operations apply in order
		{name: "add then remove in one request", ops: []map[string]any{op("add", "title", "T"), op("remove", "title", nil)}, want: map[string]any{"title": absent{}}},

		// errors: the whole request fails and nothing changes
		{name: "readOnly id", ops: []map[string]any{op("replace", "displayName", "X"), op("replace", "id", "forged")}, status: 400, scimType: "mutability"},
		{name: "readOnly groups", ops: []map[string]any{op("add", "groups", []any{map[string]any{"value": "g"}})}, status: 400, scimType: "mutability"},
		{name: "readOnly meta", ops: []map[string]any{op("replace", "meta.created", "2000-01-01T00:00:00Z")}, status: 400, scimType: "mutability"},
		{name: "unknown attribute", ops: []map[string]any{op("replace", "displayName", "X"), op("replace", "favouriteColour", "blue")}, status: 400, scimType: "invalidPath"},
		{name: "unknown sub-attribute", ops: []map[string]any{op("replace", "name.nickname", "x")}, status: 400, scimType: "invalidPath"},
		{name: "unknown schema urn", ops: []map[string]any{op("replace", "urn:example:nope:User:x", "x")}, status: 400, scimType: "invalidPath"},
		{name: "malformed path", ops: []map[string]any{op("replace", `emails[type eq "work"`, "x")}, status: 400, scimType: "invalidPath"},
		{name: "filter on a single-valued attribute", ops: []map[string]any{op("replace", `name[givenName eq "Pat"]`, "x")}, status: 400, scimType: "invalidPath"},
		{name: "remove without path", ops: []map[string]any{op("remove", "", nil)}, status: 400, scimType: "noTarget"},
		{name: "path-less value not an object", ops: []map[string]any{op("replace", "", "x")}, status: 400, scimType: "invalidValue"},
		{name: "wrong type", ops: []map[string]any{op("replace", "displayName", "X"), op("replace", "active", "maybe")}, status: 400, scimType: "invalidValue"},
		{name: "unknown op", ops: []map[string]any{op("move", "displayName", "X")}, status: 400, scimType: "invalidSyntax"},
		{name: "add without value", ops: []map[string]any{{"op": "add", "path": "displayName"}}, status: 400, scimType: "invalidValue"},
		{name: "filtered add that cannot build an element", ops: []map[string]any{op("add", `emails[type eq "other" or type eq "x"].value`, "x@y")}, status: 400, scimType: "noTarget"},
		{name: "removing required userName", ops: []map[string]any{op("remove", "userName", nil)}, status: 400, scimType: "invalidValue"},
	})
}

// TestPatchIdPShapes replays the PATCH bodies Entra ID and Okta send
// (entra-id.md §2.5, okta-and-peers.md A.3) on a user.
func TestPatchIdPShapes(t *testing.T) {
	mgr := enterprise + ":manager"
	runPatchCases(t, "entra", []patchCase{
		{name: "Entra capitalised ops", ops: []map[string]any{op("Replace", "displayName", "Pvlo"), op("Add", "nickName", "Babs"), op("Remove", "title", nil)},
			want: map[string]any{"displayName": "Pvlo", "nickName": "Babs"}},
		{name: "Entra active False string", ops: []map[string]any{op("Replace", "active", "False")}, want: map[string]any{"active": false}},
		{name: "Entra active True string", ops: []map[string]any{op("Replace", "active", "True")}, want: map[string]any{"active": true}},
		{name: "Entra roles primary string", ops: []map[string]any{op("Add", "roles", []any{map[string]any{"primary": "True", "value": "Admin", "type": "WindowsAzureActiveDirectoryRole"}})},
			want: map[string]any{"roles.0.primary": true, "roles.0.value": "Admin"}},
		{name: "Entra roles filtered by string primary", ops: []map[string]any{op("add", `roles[primary eq "True"].display`, "Admin")},
			want: map[string]any{"roles.0.primary": true, "roles.0.display": "Admin"}},
		{name: "Entra manager plain id", ops: []map[string]any{op("Add", mgr, "2c2f6fb8")}, want: map[string]any{enterprise + ".manager.value": "2c2f6fb8"}},
		{name: "Entra manager value object", ops: []map[string]any{op("replace", mgr, map[string]any{"value": "CBEQXYNPNAZS"})}, want: map[string]any{enterprise + ".manager.value": "CBEQXYNPNAZS"}},
		{name: "Entra manager legacy array", ops: []map[string]any{op("Add", "manager", []any{map[string]any{"$ref": "http://x/scim/Users/00aa", "value": "00aa"}})},
			want: map[string]any{enterprise + ".manager.value": "00aa"}},
		{name: "Entra manager cleared with empty string", ops: []map[string]any{op("add", mgr, "m"), op("replace", mgr, "")}, want: map[string]any{enterprise + ".manager": absent{}, enterprise + ".department": "R&D"}},
		{name: "Entra manager cleared with empty value", ops: []map[string]any{op("add", mgr, "m"), op("replace", mgr, map[string]any{"value": ""})}, want: map[string]any{enterprise + ".manager": absent{}}},
		{name: "Entra manager cleared with null", ops: []map[string]any{op("add", mgr, "m"), {"op": "replace", "path": mgr, "value": nil}}, want: map[string]any{enterprise + ".manager": absent{}}},
		{name: "Entra manager removed", ops: []map[string]any{op("add", mgr, "m"), op("remove", mgr, nil)}, want: map[string]any{enterprise + ".manager": absent{}}},
		{name: "Entra clear with empty string", ops: []map[string]any{op("replace", `emails[type eq "work"].value`, ""), op("replace", enterprise+":department", "")},
			want: map[string]any{enterprise + ".department": absent{}, "emails.1": absent{}, "emails.0.type": "home"}},
		{name: "Entra clear with null", ops: []map[string]any{{"op": "replace", "path": "displayName", "value": nil}, {"op": "replace", "path": "name.givenName", "value": nil}},
			want: map[string]any{"displayName": absent{}, "name.givenName": absent{}, "name.familyName": "Doe"}},
		{name: "Entra legacy six replaces", ops: []map[string]any{
			op("Replace", "displayName", "Pvlo"), op("Replace", `emails[type eq "work"].value`, "TestBcwqnm@test.microsoft.com"),
			op("Replace", "name.givenName", "Gtfd"), op("Replace", "name.familyName", "Pkqf"),
			op("Replace", "externalId", "Eqpj"), op("Replace", enterprise+":employeeNumber", "Eqpj")},
			want: map[string]any{"displayName": "Pvlo", "emails.0.value": "TestBcwqnm@test.microsoft.com", "name.givenName": "Gtfd",
				"name.familyName": "Pkqf", "externalId": "Eqpj", enterprise + ".employeeNumber": "Eqpj"}},
		{name: "Entra aadOptscim062020 path-less dotted and urn keys", ops: []map[string]any{
			op("replace", `emails[type eq "work"].value`, "TestMhvaes@test.microsoft.com"),
			op("replace", "", map[string]any{"displayName": "Bjfe", "name.givenName": "Kkom", "name.familyName": "Unua", enterprise + ":employeeNumber": "Aklq"})},
			want: map[string]any{"emails.0.value": "TestMhvaes@test.microsoft.com", "displayName": "Bjfe", "name.givenName": "Kkom", "name.familyName": "Unua", enterprise + ".employeeNumber": "Aklq"}},
		{name: "Entra 2020 path-less active and userName", ops: []map[string]any{op("replace", "", map[string]any{"active": false, "userName": "someone@example.com"})},
			want: map[string]any{"active": false, "userName": "someone@example.com"}},
		{name: "Entra path-less string booleans", ops: []map[string]any{op("Replace", "", map[string]any{"active": "False"})}, want: map[string]any{"active": false}},
		{name: "Entra roles as JSON-encoded string", ops: []map[string]any{op("Add", "roles", []any{map[string]any{"value": `{"id":"06b07648","value":"25","displayName":"Role1234"}`}})},
			want: map[string]any{"roles.0.value": `{"id":"06b07648","value":"25","displayName":"Role1234"}`}},
		{name: "Entra fax and mobile by filter", ops: []map[string]any{
			op("Add", `phoneNumbers[type eq "fax"].value`, "10-040-1308"), op("Replace", `phoneNumbers[type eq "mobile"].value`, "10-040-1309")},
			want: map[string]any{"phoneNumbers.0.value": "10-040-1309", "phoneNumbers.1.type": "fax", "phoneNumbers.2": absent{}}},
		{name: "Entra proxyAddresses with capital Value", ops: []map[string]any{op("Add", `emails[type eq "other"].Value`, "smtp:pat@alias.example")},
			want: map[string]any{"emails.2.type": "other", "emails.2.value": "smtp:pat@alias.example"}},
		{name: "Entra historical plain string value with space", ops: []map[string]any{op("Replace", "displayName", " User X")}, want: map[string]any{"displayName": " User X"}},
		{name: "Okta path-less deactivate", ops: []map[string]any{op("replace", "", map[string]any{"active": false})}, want: map[string]any{"active": false, "displayName": "Pat"}},
		{name: "Okta path-less password", ops: []map[string]any{op("replace", "", map[string]any{"password": "1mz050nq"})}, want: map[string]any{"password": absent{}}},
		{name: "Entra clear on a conflicting userName", ops: []map[string]any{op("replace", "userName", "PAT0@example.com")}, status: 409, scimType: "uniqueness"},
	})
}

// TestPatchGroupMembers covers the member forms on groups, for each token
// kind, with the set the group must hold afterwards.
func TestPatchGroupMembers(t *testing.T) {
	e := newEnv(t)
	u := make([]string, 4)
	for i := range u {
		u[i] = e.mkUser(fmt.Sprintf("m%d@example.com", i), nil)
	}
	child := e.mkGroup("child")
	v := func(ids ...string) []any {
		out := []any{}
		for _, id := range ids {
			out = append(out, map[string]any{"value": id})
		}
		return out
	}
	eqPath := func(id string) string { return fmt.Sprintf(`members[value eq "%s"]`, id) }
	tests := []struct {
		name   string
		idp    string
		start  []string
		ops    []map[string]any
		want   []string
		status int
		typ    string
	}{
		{"add", "entra", []string{u[0]}, []map[string]any{op("add", "members", v(u[1], u[2]))}, []string{u[0], u[1], u[2]}, 0, ""},
		{"add existing member is a no-op", "entra", []string{u[0]}, []map[string]any{op("add", "members", v(u[0]))}, []string{u[0]}, 0, ""},
		{"add a nested group", "generic", nil, []map[string]any{op("add", "members", v(child))}, []string{child}, 0, ""},
		{"add by filter path", "okta", nil, []map[string]any{op("add", eqPath(u[3]), nil)}, nil, 400, "invalidValue"},
		{"Postman bare string member", "entra", nil, []map[string]any{op("add", "members", u[1])}, []string{u[1]}, 0, ""},
		{"single object instead of array", "entra", nil, []map[string]any{op("add", "members", map[string]any{"value": u[1]})}, []string{u[1]}, 0, ""},
		{"replace on entra adds", "entra", []string{u[0]}, []map[string]any{op("replace", "members", v(u[1]))}, []string{u[0], u[1]}, 0, ""},
		{"replace on okta replaces", "okta", []string{u[0]}, []map[string]any{op("replace", "members", v(u[1]))}, []string{u[1]}, 0, ""},
		{"replace on generic replaces", "generic", []string{u[0], u[1]}, []map[string]any{op("replace", "members", v(u[2], u[3]))}, []string{u[2], u[3]}, 0, ""},
		{"replace with empty list empties (okta)", "okta", []string{u[0], u[1]}, []map[string]any{op("replace", "members", []any{})}, nil, 0, ""},
		{"path-less replace members (okta)", "okta", []string{u[0]}, []map[string]any{op("replace", "", map[string]any{"members": v(u[2])})}, []string{u[2]}, 0, ""},
		{"path-less rename leaves members", "okta", []string{u[0]}, []map[string]any{op("replace", "", map[string]any{"displayName": "renamed-x"})}, []string{u[0]}, 0, ""},
		{"remove with value array removes only those", "entra", []string{u[0], u[1], u[2]}, []map[string]any{op("Remove", "members", v(u[1]))}, []string{u[0], u[2]}, 0, ""},
		{"remove by filter", "entra", []string{u[0], u[1]}, []map[string]any{op("remove", eqPath(u[0]), nil)}, []string{u[1]}, 0, ""},
		{"remove by or filter", "generic", []string{u[0], u[1], u[2]}, []map[string]any{op("remove", fmt.Sprintf(`members[value eq "%s" or value eq "%s"]`, u[0], u[2]), nil)}, []string{u[1]}, 0, ""},
		{"remove a non-member succeeds", "entra", []string{u[0]}, []map[string]any{op("remove", eqPath(u[3]), nil)}, []string{u[0]}, 0, ""},
		{"remove an unknown id succeeds", "entra", []string{u[0]}, []map[string]any{op("Remove", "members", v("no-such-id"))}, []string{u[0]}, 0, ""},
		{"remove all", "generic", []string{u[0], u[1]}, []map[string]any{op("remove", "members", nil)}, nil, 0, ""},
		{"add then remove in one request", "entra", nil, []map[string]any{op("add", "members", v(u[0])), op("remove", eqPath(u[0]), nil)}, nil, 0, ""},
		{"Okta push: remove by filter and add", "okta", []string{u[0]}, []map[string]any{op("remove", eqPath(u[0]), nil), op("add", "members", []any{map[string]any{"value": u[1], "display": "m1"}})}, []string{u[1]}, 0, ""},
		{"unknown member id fails the whole request", "entra", []string{u[0]}, []map[string]any{op("add", "members", v(u[1])), op("add", "members", v("no-such-id"))}, []string{u[0]}, 400, "invalidValue"},
		{"member without value", "entra", nil, []map[string]any{op("add", "members", []any{map[string]any{"display": "x"}})}, nil, 400, "invalidValue"},
		{"members readOnly sub-attribute", "entra", nil, []map[string]any{op("replace", "members.display", "x")}, nil, 400, "mutability"},
		{"members sub-attribute", "entra", nil, []map[string]any{op("replace", "members.type", "User")}, nil, 400, "invalidPath"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gid := e.mkGroup(fmt.Sprintf("group-%d", i), tt.start...)
			r := e.send(req{Method: "PATCH", Path: "/Groups/" + gid, Body: patchBody(tt.ops...), IDP: tt.idp})
			if tt.status != 0 {
				wantError(t, r, tt.status, tt.typ)
				if got := e.memberIDs(gid); !sameSet(got, tt.start) {
					t.Errorf("failed PATCH changed members: %v, want %v", got, tt.start)
				}
				return
			}
			r.must(t, 204)
			if got := e.memberIDs(gid); !sameSet(got, tt.want) {
				t.Errorf("members %v, want %v", got, tt.want)
			}
		})
	}

	// A group cannot contain itself; the request fails as a whole.
	gid := e.mkGroup("selfish", u[0])
	wantError(t, e.send(req{Method: "PATCH", Path: "/Groups/" + gid, Body: patchBody(op("add", "members", v(gid)))}), 400, "invalidValue")
	// A group PATCH that asks for attributes answers 200 with them.
	r := e.send(req{Method: "PATCH", Path: "/Groups/" + gid + "?attributes=members", Body: patchBody(op("add", "members", v(u[1])))}).must(t, 200)
	if l, _ := dig(r.JSON, "members").([]any); len(l) != 2 || !strings.HasSuffix(r.str("members.0.$ref"), "/Users/"+r.str("members.0.value")) {
		t.Errorf("PATCH ?attributes=members: %s", r.Body)
	}
	// Empty Operations is refused with an actionable detail.
	wantError(t, e.send(req{Method: "PATCH", Path: "/Groups/" + gid, Body: `{"schemas":["` + scim.PatchSchema + `"],"Operations":[]}`}), 400, "invalidValue")
}
