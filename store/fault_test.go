package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"scimd/server"
	"scimd/store"
)

// ftClient talks to a real server over real HTTP with one token.
type ftClient struct {
	t     *testing.T
	base  string
	token string
}

type ftResp struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (c *ftClient) do(method, path string, body any) *ftResp {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/scim+json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := &ftResp{status: res.StatusCode, header: res.Header, raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			c.t.Fatalf("%s %s: %d with a body that is not JSON: %s", method, path, res.StatusCode, raw)
		}
	}
	return r
}

func (c *ftClient) want(r *ftResp, status int, what string) *ftResp {
	c.t.Helper()
	if r.status != status {
		c.t.Fatalf("%s: status %d, want %d: %s", what, r.status, status, r.raw)
	}
	return r
}

// ftPatch is a PatchOp request body.
func ftPatch(ops ...map[string]any) map[string]any {
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": ops}
}

// ftServer is a server over a fresh database in t.TempDir() and a client
// holding a token for it.
func ftServer(t *testing.T) (*store.Store, *ftClient) {
	st, err := store.Open(filepath.Join(t.TempDir(), "scimd.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	secret, _, err := st.IssueToken(context.Background(), "test", "generic", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(server.New(st, server.Config{}).Handler())
	t.Cleanup(ts.Close)
	return st, &ftClient{t: t, base: ts.URL + "/scim/v2", token: secret}
}

// TestDiskFull makes SQLite run out of room for real (PRAGMA
// max_page_count on the writing connection fails page allocation with
// SQLITE_FULL, as a full disk does) while a server is running: writes get
// 503 with a SCIM error and Retry-After, reads keep answering, no failed
// request leaves anything behind, and once room returns the next writes
// succeed without a restart.
func TestDiskFull(t *testing.T) {
	ctx := context.Background()
	st, c := ftServer(t)

	alice := c.want(c.do("POST", "/Users", map[string]any{"userName": "alice@example.com"}), 201, "create alice").body["id"].(string)
	bob := c.want(c.do("POST", "/Users", map[string]any{"userName": "bob@example.com"}), 201, "create bob").body["id"].(string)
	group := c.want(c.do("POST", "/Groups", map[string]any{"displayName": "Staff", "members": []any{map[string]any{"value": alice}}}), 201, "create group").body["id"].(string)

	snapshot := func() [4][]byte {
		return [4][]byte{
			c.want(c.do("GET", "/Users/"+alice, nil), 200, "read alice").raw,
			c.want(c.do("GET", "/Users/"+bob, nil), 200, "read bob").raw,
			c.want(c.do("GET", "/Groups/"+group, nil), 200, "read group").raw,
			c.want(c.do("GET", "/Users?sortBy=userName", nil), 200, "list users").raw,
		}
	}
	before := snapshot()

	// Fill the disk: no page beyond the current ones.
	if _, err := st.SetMaxPageCount(1); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 60000) // needs new (overflow) pages wherever it goes
	writes := []struct {
		name         string
		method, path string
		body         any
	}{
		{"create user", "POST", "/Users", map[string]any{"userName": "carol@example.com", "title": big}},
		{"replace user", "PUT", "/Users/" + alice, map[string]any{"userName": "alice@example.com", "title": big}},
		{"patch user", "PATCH", "/Users/" + bob, ftPatch(map[string]any{"op": "replace", "path": "title", "value": big})},
		// The member add alone would fit; the rename in the same request
		// does not, and the member must not be added either.
		{"patch group", "PATCH", "/Groups/" + group, ftPatch(
			map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": bob}}},
			map[string]any{"op": "replace", "path": "displayName", "value": big})},
		{"create group", "POST", "/Groups", map[string]any{"displayName": "y" + big, "members": []any{map[string]any{"value": bob}}}},
	}
	for _, w := range writes {
		t.Run("full/"+w.name, func(t *testing.T) {
			r := c.do(w.method, w.path, w.body)
			if r.status != 503 {
				t.Fatalf("status %d, want 503: %s", r.status, r.raw)
			}
			if got := r.body["status"]; got != "503" {
				t.Errorf("body status %v, want \"503\" (a SCIM error)", got)
			}
			if s, _ := r.body["schemas"].([]any); len(s) != 1 || s[0] != "urn:ietf:params:scim:api:messages:2.0:Error" {
				t.Errorf("schemas %v, want the SCIM error schema", r.body["schemas"])
			}
			if r.header.Get("Retry-After") == "" {
				t.Error("no Retry-After on 503")
			}
			if strings.Contains(string(r.raw), "SQLITE") || strings.Contains(string(r.raw), "database or disk is full") {
				t.Errorf("the error detail leaks the driver's message: %s", r.raw)
			}
		})
	}
	if after := snapshot(); !reflect.DeepEqual(before, after) {
		t.Fatalf("failed writes changed what reads return:\nbefore %s\nafter  %s", before, after)
	}
	if err := st.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}

	// Room comes back: the same writes now succeed, without a restart.
	if _, err := st.SetMaxPageCount(1 << 30); err != nil {
		t.Fatal(err)
	}
	for i, w := range writes {
		want := map[string]int{"POST": 201, "PUT": 200, "PATCH": 200}[w.method]
		if w.path == "/Groups/"+group {
			want = 204
		}
		c.want(c.do(w.method, w.path, w.body), want, "after recovery: "+writes[i].name)
	}
	members := c.want(c.do("GET", "/Groups/"+group, nil), 200, "read group").body["members"].([]any)
	if len(members) != 2 {
		t.Errorf("group has %d members after recovery, want 2 (alice, bob)", len(members))
	}
	if err := st.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestReadOnlyDatabase: when the database refuses writes (SQLITE_READONLY,
// as a file system remounted read-only does), writes get 503 with a SCIM
// error, reads keep working, nothing changes, and writes work again once
// the database is writable, without a restart.
func TestReadOnlyDatabase(t *testing.T) {
	st, c := ftServer(t)
	alice := c.want(c.do("POST", "/Users", map[string]any{"userName": "alice@example.com"}), 201, "create alice").body["id"].(string)
	before := c.want(c.do("GET", "/Users/"+alice, nil), 200, "read alice").raw

	if err := st.SetReadOnly(true); err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct{ method, path string }{{"POST", "/Users"}, {"PATCH", "/Users/" + alice}, {"DELETE", "/Users/" + alice}} {
		var body any
		switch w.method {
		case "POST":
			body = map[string]any{"userName": "bob@example.com"}
		case "PATCH":
			body = ftPatch(map[string]any{"op": "replace", "path": "title", "value": "Boss"})
		}
		r := c.do(w.method, w.path, body)
		if r.status != 503 || r.body["status"] != "503" || r.header.Get("Retry-After") == "" {
			t.Errorf("%s %s on a read-only database: %d %s, want a 503 SCIM error with Retry-After", w.method, w.path, r.status, r.raw)
		}
	}
	if got := c.want(c.do("GET", "/Users/"+alice, nil), 200, "read alice while read-only").raw; !bytes.Equal(got, before) {
		t.Fatalf("read-only failures changed alice:\nbefore %s\nafter  %s", before, got)
	}
	if err := st.SetReadOnly(false); err != nil {
		t.Fatal(err)
	}
	c.want(c.do("POST", "/Users", map[string]any{"userName": "bob@example.com"}), 201, "create bob once writable")
}
