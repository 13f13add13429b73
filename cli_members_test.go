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

	// The provisioning log says which member each change added.
	logOut, _ := e.ok("log", "--json")
	var added []string
	for _, line := range strings.Split(strings.TrimSpace(logOut), "\n") {
		var ev struct{ Op, Detail string }
		if json.Unmarshal([]byte(line), &ev) == nil && ev.Op == "member add" {
			added = append(added, ev.Detail)
		}
	}
	if got := strings.Join(added, " | "); !strings.Contains(got, ann["id"].(string)) || !strings.Contains(got, bob["id"].(string)) {
		t.Errorf("member add entries %q do not name the members added", got)
	}
}

// TestCLIStatusCountsKeptDeletions: with on_delete = "deactivate", status
// counts active ("licensed"), inactive and deleted-but-kept users apart.
func TestCLIStatusCountsKeptDeletions(t *testing.T) {
	e := newAdmEnv(t, "[users]\non_delete = \"deactivate\"\n")
	tok := e.issue("entra")
	e.start()
	a := e.mustCall(201, tok, "POST", "/Users", `{"userName":"a@x","active":true}`)
	e.mustCall(201, tok, "POST", "/Users", `{"userName":"b@x","active":false}`)
	e.mustCall(201, tok, "POST", "/Users", `{"userName":"c@x","active":true}`)
	e.mustCall(204, tok, "DELETE", "/Users/"+a["id"].(string), "")

	out, _ := e.ok("status", "--json")
	var r statusReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if r.Users.Active != 1 || r.Users.Inactive != 1 || r.Users.Deleted != 1 {
		t.Errorf("users %+v, want 1 active, 1 inactive, 1 deleted and kept", r.Users)
	}
	text, _ := e.ok("status")
	if !strings.Contains(text, "1 active (licensed), 1 inactive, 1 deleted and kept") {
		t.Errorf("status text:\n%s", text)
	}
}
