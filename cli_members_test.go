package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestCLIGroupsMembers: groups used as roles (TrackTik) — the operator can
// list who holds a group, with each user's active state and the roles
// their identity provider sent; users show lists the user's groups.
func TestCLIGroupsMembers(t *testing.T) {
	e := newAdmEnv(t, "[[attributes]]\nname = \"urn:ietf:params:scim:schemas:core:2.0:User:role\"\ntype = \"string\"\n")
	tok := e.issue("entra")
	e.start()
	ann := e.mustCall(201, tok, "POST", "/Users", `{"userName":"ann@x","displayName":"Ann","active":true,
		"roles":[{"primary":"True","value":"Supervisor"}],"urn:ietf:params:scim:schemas:core:2.0:User:role":"admin"}`)
	bob := e.mustCall(201, tok, "POST", "/Users", `{"userName":"bob@x","active":"False"}`)
	g := e.mustCall(201, tok, "POST", "/Groups", `{"displayName":"Site Supervisors"}`)
	for _, u := range []map[string]any{ann, bob} {
		e.mustCall(204, tok, "PATCH", "/Groups/"+g["id"].(string),
			`{"Operations":[{"op":"Add","path":"members","value":[{"value":"`+u["id"].(string)+`"}]}]}`)
	}

	out, _ := e.ok("groups", "members", "site supervisors", "--json")
	var rows []memberRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("groups members --json: %v\n%s", err, out)
	}
	if len(rows) != 2 {
		t.Fatalf("got %d members, want 2: %s", len(rows), out)
	}
	byName := map[string]memberRow{}
	for _, r := range rows {
		byName[r.UserName] = r
	}
	if a := byName["ann@x"]; a.Active == nil || !*a.Active || strings.Join(a.Roles, ",") != "Supervisor,admin" {
		t.Errorf("ann: %+v, want active with roles Supervisor,admin", a)
	}
	if b := byName["bob@x"]; b.Active == nil || *b.Active {
		t.Errorf("bob: %+v, want inactive", b)
	}

	table, _ := e.ok("groups", "members", "Site Supervisors")
	if !strings.Contains(table, "ann@x") || !strings.Contains(table, "Supervisor, admin") {
		t.Errorf("table output lacks ann and her roles:\n%s", table)
	}
	show, _ := e.ok("users", "show", "ann@x")
	if !strings.Contains(show, "Site Supervisors") {
		t.Errorf("users show does not list the user's groups:\n%s", show)
	}
	if msg := e.fail("groups", "members", "no such group"); !strings.Contains(msg, "no group") {
		t.Errorf("unknown group: %q", msg)
	}
}
