package main

// "What the admin sees is what is stored, safely" (issue 11): stored
// values with control characters, escape sequences and bidi controls are
// shown escaped by every command that prints them as text; JSON output
// decodes to exactly what is stored and carries no raw control; CSV cells
// that a spreadsheet would run as formulas are neutralised.

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

// rawControls lists the runes that must never reach the terminal raw.
func rawControls(s string) []string {
	var found []string
	for _, r := range s {
		if r == '\n' || r == '\t' { // the commands' own line and column breaks
			continue
		}
		if unsafeRune(r) {
			found = append(found, fmt.Sprintf("%U", r))
		}
	}
	return found
}

func TestAdminOutputEscapesStoredControls(t *testing.T) {
	e := newAdmEnv(t, "")
	tok := e.issue("entra")
	e.start()

	// A displayName an end user could set in the identity provider, with
	// every kind of control: ESC sequences, BEL, a C1 CSI, CR, newline,
	// tab, and each bidi control.
	display := "Eve \x1b[31mRED\x1b[0m\a\u009b2J\r\n\tx"
	for _, r := range []rune{0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069, 0x200f} {
		display += string(r) + "gpj.exe"
	}
	userName := "mallory\u202e@example.com"
	// Names (userName, a group's displayName) refuse C0 controls; C1 and
	// bidi controls pass, and older databases may hold anything.
	groupName := "Admins \u202enimda\u009b31m"
	body, _ := json.Marshal(map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": userName,
		"displayName": display, "title": "\x1b[2Jboss",
		"emails": []any{map[string]any{"value": "m\u202e@x.example", "type": "work"}},
		"roles":  []any{map[string]any{"value": "r\x1b[1mole"}},
	})
	uid := e.mustCall(201, tok, "POST", "/Users", string(body))["id"].(string)
	gbody, _ := json.Marshal(map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"displayName": groupName, "members": []any{map[string]any{"value": uid}}})
	e.mustCall(201, tok, "POST", "/Groups", string(gbody))
	e.mustCall(409, tok, "POST", "/Users", string(body)) // a failed request in the log

	// A User-Agent (the token's CLIENT in status and token list) with bidi
	// and C1 controls; Go's client refuses C0 controls in headers.
	req, _ := http.NewRequest("GET", e.base+"/Users?count=1", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("User-Agent", "agent\u202eevil\u009b31m")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	e.stop() // flushes the token's last use
	e.start()

	text := [][]string{
		{"users", "list"}, {"users", "show", uid}, {"users", "show", userName},
		{"groups", "list"}, {"groups", "show", groupName}, {"groups", "members", groupName},
		{"log", "--since", "0"}, {"log", "--since", "0", "--failed"},
		{"status"}, {"token", "list"},
	}
	for _, args := range text {
		out, stderr := e.ok(args...)
		if bad := rawControls(out + stderr); len(bad) > 0 {
			t.Errorf("scimd %s prints raw %v:\n%s", strings.Join(args, " "), bad, out)
		}
	}
	// The escapes show what is stored.
	out, _ := e.ok("users", "show", uid)
	for _, want := range []string{`Eve \x1b[31mRED\x1b[0m\x07\u009b2J\r\n\tx\u202agpj.exe`, `\u202egpj.exe`, `\u2069gpj.exe`,
		`mallory\u202e@example.com`, `\x1b[2Jboss`} {
		if !strings.Contains(out, want) {
			t.Errorf("users show lacks %q:\n%s", want, out)
		}
	}
	if out, _ := e.ok("groups", "list"); !strings.Contains(out, `Admins \u202enimda\u009b31m`) {
		t.Errorf("groups list:\n%s", out)
	}
	if out, _ := e.ok("log", "--since", "0"); !strings.Contains(out, `mallory\u202e@example.com`) {
		t.Errorf("log:\n%s", out)
	}
	for _, args := range [][]string{{"status"}, {"token", "list"}} {
		if out, _ := e.ok(args...); !strings.Contains(out, `agent\u202eevil\u009b31m`) {
			t.Errorf("scimd %s: the client is not shown escaped:\n%s", strings.Join(args, " "), out)
		}
	}

	// JSON: exact values, no raw controls.
	jsonCmds := []struct {
		args  []string
		check func(t *testing.T, out string)
	}{
		{[]string{"users", "list", "--json"}, func(t *testing.T, out string) {
			var rows []userRow
			if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 1 || rows[0].DisplayName != display || rows[0].UserName != userName {
				t.Errorf("users list --json: %v %+v", err, rows)
			}
		}},
		{[]string{"users", "show", uid, "--json"}, func(t *testing.T, out string) {
			var doc map[string]any
			if err := json.Unmarshal([]byte(out), &doc); err != nil || doc["displayName"] != display || doc["title"] != "\x1b[2Jboss" {
				t.Errorf("users show --json: %v %q", err, doc["displayName"])
			}
		}},
		{[]string{"groups", "list", "--json"}, func(t *testing.T, out string) {
			var rows []groupRow
			if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 1 || rows[0].DisplayName != groupName {
				t.Errorf("groups list --json: %v %+v", err, rows)
			}
		}},
		{[]string{"groups", "members", groupName, "--json"}, func(t *testing.T, out string) {
			var rows []memberRow
			if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 1 || rows[0].DisplayName != display {
				t.Errorf("groups members --json: %v %+v", err, rows)
			}
		}},
		{[]string{"log", "--since", "0", "--json"}, func(t *testing.T, out string) {
			found := false
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				var ev map[string]any
				if err := json.Unmarshal([]byte(line), &ev); err != nil {
					t.Errorf("log --json line %q: %v", line, err)
				}
				found = found || ev["name"] == userName
			}
			if !found {
				t.Errorf("log --json has no entry named %q:\n%s", userName, out)
			}
		}},
		{[]string{"status", "--json"}, func(t *testing.T, out string) {
			var r statusReport
			if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Tokens) != 1 || r.Tokens[0].LastAgent != "agent\u202eevil\u009b31m" {
				t.Errorf("status --json: %v %+v", err, r.Tokens)
			}
		}},
		{[]string{"users", "export", "--format", "jsonl"}, func(t *testing.T, out string) {
			var doc map[string]any
			if err := json.Unmarshal([]byte(out), &doc); err != nil || doc["displayName"] != display || doc["userName"] != userName {
				t.Errorf("users export jsonl: %v %q", err, doc["displayName"])
			}
		}},
	}
	for _, c := range jsonCmds {
		out, _ := e.ok(c.args...)
		if !utf8.ValidString(out) {
			t.Errorf("scimd %s: not UTF-8", strings.Join(c.args, " "))
		}
		if bad := rawControls(out); len(bad) > 0 {
			t.Errorf("scimd %s prints raw %v", strings.Join(c.args, " "), bad)
		}
		c.check(t, out)
	}
}

// TestCSVExportNeutralisesFormulas: cells starting with =, +, -, @, tab or
// CR get a leading single quote (OWASP CSV injection); other cells and the
// JSON export keep the exact values.
func TestCSVExportNeutralisesFormulas(t *testing.T) {
	e := newAdmEnv(t, "")
	tok := e.issue("entra")
	e.start()
	cases := map[string]string{
		"=HYPERLINK(\"http://evil.example\",\"x\")": "'=HYPERLINK(\"http://evil.example\",\"x\")",
		"+cmd|' /C calc'!A0":                        "'+cmd|' /C calc'!A0",
		"-2+3+cmd|' /C calc'!A0":                    "'-2+3+cmd|' /C calc'!A0",
		"@SUM(1+1)*cmd|' /C calc'!A0":               "'@SUM(1+1)*cmd|' /C calc'!A0",
		"\t=1+1":                                    "'\t=1+1",
		"\r=1+1":                                    "'\r=1+1",
		"Plain Name":                                "Plain Name",
		"a=b":                                       "a=b",
	}
	i := 0
	for value := range cases {
		i++
		body, _ := json.Marshal(map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
			"userName": fmt.Sprintf("u%d", i), "displayName": value})
		e.mustCall(201, tok, "POST", "/Users", string(body))
	}
	for _, args := range [][]string{{"users", "export"}, {"users", "export", "--format", "csv"}} {
		out, _ := e.ok(args...)
		recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		col := -1
		for j, h := range recs[0] {
			if h == "displayName" {
				col = j
			}
		}
		seen := map[string]bool{}
		for _, rec := range recs[1:] {
			seen[rec[col]] = true
		}
		for value, want := range cases {
			if !seen[want] {
				t.Errorf("%q: no CSV cell %q (cells %v)", value, want, seen)
			}
		}
	}
	out, _ := e.ok("users", "export", "--format", "jsonl")
	got := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var doc map[string]any
		json.Unmarshal([]byte(line), &doc)
		got[doc["displayName"].(string)] = true
	}
	for value := range cases {
		if !got[value] {
			t.Errorf("JSON Lines export lacks the exact value %q", value)
		}
	}
}
