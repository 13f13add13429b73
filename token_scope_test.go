package main

// Read-only tokens (issue 12): a token of scope read may read and search;
// every write gets 403 with a SCIM error and changes nothing. Driven
// through the built binary.

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestReadOnlyToken(t *testing.T) {
	e := newAdmEnv(t, "")
	writer := e.issue("entra")
	_, errOut := e.ok("token", "issue", "--name", "wiki", "--idp", "generic", "--scope", "read")
	if !strings.Contains(errOut, "read-only") {
		t.Errorf("token issue --scope read said %q, want it to mention read-only", errOut)
	}
	reader := e.issue("vpn", "--scope", "read")
	e.fail("token", "issue", "--name", "bad", "--scope", "admin")

	e.start()
	u := e.mustCall(201, writer, "POST", "/Users", `{"userName":"ro@example.org","active":true}`)
	id := u["id"].(string)
	g := e.mustCall(201, writer, "POST", "/Groups", `{"displayName":"ro group"}`)
	gid := g["id"].(string)

	// Reads: resources, lists, .search and discovery.
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/Users", ""},
		{"GET", "/Users/" + id, ""},
		{"GET", "/Groups/" + gid, ""},
		{"GET", "/Users?filter=userName%20eq%20%22ro@example.org%22", ""},
		{"POST", "/Users/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"userName eq \"ro@example.org\""}`},
		{"GET", "/ServiceProviderConfig", ""},
		{"GET", "/Schemas", ""},
		{"GET", "/ResourceTypes", ""},
	} {
		if got, body := e.call(reader, tc.method, tc.path, tc.body); got != 200 {
			t.Errorf("read token: %s %s = %d, want 200: %v", tc.method, tc.path, got, body)
		}
	}
	// Writes: 403, a SCIM error, and nothing changed.
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/Users", `{"userName":"new@example.org"}`},
		{"PUT", "/Users/" + id, `{"userName":"renamed@example.org"}`},
		{"PATCH", "/Users/" + id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`},
		{"DELETE", "/Users/" + id, ""},
		{"POST", "/Groups", `{"displayName":"new"}`},
		{"PATCH", "/Groups/" + gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"` + id + `"}]}]}`},
		{"DELETE", "/Groups/" + gid, ""},
	} {
		got, body := e.call(reader, tc.method, tc.path, tc.body)
		if got != 403 {
			t.Errorf("read token: %s %s = %d, want 403: %v", tc.method, tc.path, got, body)
			continue
		}
		schemas, _ := json.Marshal(body["schemas"])
		if body["status"] != "403" || !strings.Contains(string(schemas), "urn:ietf:params:scim:api:messages:2.0:Error") ||
			!strings.Contains(body["detail"].(string), "scope read") {
			t.Errorf("read token: %s %s: body %v, want a SCIM 403 error naming the scope", tc.method, tc.path, body)
		}
	}
	after := e.mustCall(200, writer, "GET", "/Users/"+id, "")
	if after["userName"] != "ro@example.org" || after["active"] != true {
		t.Errorf("user changed by a read token: %v", after)
	}
	if l := e.mustCall(200, writer, "GET", "/Users", ""); l["totalResults"].(float64) != 1 {
		t.Errorf("users after refused writes: %v, want 1", l["totalResults"])
	}
	if grp := e.mustCall(200, writer, "GET", "/Groups/"+gid, ""); len(grp["members"].([]any)) != 0 {
		t.Errorf("group members changed by a read token: %v", grp["members"])
	}
	// The write token still writes.
	e.mustCall(204, writer, "DELETE", "/Groups/"+gid, "")

	// token list: SCOPE column and scope field; rotation keeps the scope.
	out, _ := e.ok("token", "list")
	if !strings.Contains(out, "SCOPE") {
		t.Errorf("token list has no SCOPE column:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && f[0] == "wiki" && f[2] != "read" || len(f) > 2 && f[0] == "entra" && f[2] != "write" {
			t.Errorf("token list row %q: wrong scope", line)
		}
	}
	newSecret, _ := e.ok("token", "rotate", "vpn", "--grace", "0s")
	newSecret = strings.TrimSpace(newSecret)
	scopes := map[string][]string{}
	js, _ := e.ok("token", "list", "--json")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(js), &rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		scopes[r["name"].(string)] = append(scopes[r["name"].(string)], r["scope"].(string))
	}
	if got := strings.Join(scopes["vpn"], ","); got != "read,read" {
		t.Errorf("vpn scopes after rotation: %q, want read,read", got)
	}
	if got := strings.Join(scopes["entra"], ","); got != "write" {
		t.Errorf("entra scope: %q, want write", got)
	}
	if got, _ := e.call(newSecret, "POST", "/Users", `{"userName":"x@example.org"}`); got != 403 {
		t.Errorf("rotated read token wrote: status %d, want 403", got)
	}
	if got, _ := e.call(newSecret, "GET", "/Users", ""); got != 200 {
		t.Errorf("rotated read token reads: status %d, want 200", got)
	}
	_ = reader
}
