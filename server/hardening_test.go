package server_test

// Hostile input, authentication under attack and concurrent writers, over
// real HTTP against a real SQLite file (issue 7). The package is external so
// that only what an operator can configure is used.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"scimd/scim"
	"scimd/server"
	"scimd/store"
)

const hxErrorSchema = "urn:ietf:params:scim:api:messages:2.0:Error"

// hx is a running server over a temporary database with one generic token.
type hx struct {
	t      *testing.T
	st     *store.Store
	ts     *httptest.Server
	base   string
	token  string
	client *http.Client
}

func newHx(t *testing.T, cfg server.Config) *hx {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "scimd.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := st.IssueToken(context.Background(), "test", "generic", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ts := httptest.NewServer(server.New(st, cfg).Handler())
	t.Cleanup(func() {
		ts.Close()
		st.Close()
	})
	return &hx{t: t, st: st, ts: ts, base: ts.URL + "/scim/v2", token: secret, client: ts.Client()}
}

type hxResp struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// hxReq is one request; Body is sent as is when it is a string or []byte
// and as JSON otherwise.
type hxReq struct {
	method, path string
	body         any
	auth         *string // nil: the env's token
	header       map[string]string
	client       *http.Client
}

func (e *hx) send(q hxReq) *hxResp {
	e.t.Helper()
	var rd io.Reader
	switch b := q.body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	u := q.path
	if !strings.HasPrefix(u, "http") {
		u = e.base + q.path
	}
	req, err := http.NewRequest(q.method, u, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if q.auth == nil {
		req.Header.Set("Authorization", "Bearer "+e.token)
	} else if *q.auth != "" {
		req.Header.Set("Authorization", *q.auth)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	for k, v := range q.header {
		req.Header.Set(k, v)
	}
	c := q.client
	if c == nil {
		c = e.client
	}
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", q.method, clipStr(q.path), err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading the response: %v", q.method, clipStr(q.path), err)
	}
	r := &hxResp{status: res.StatusCode, header: res.Header, raw: raw}
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			e.t.Fatalf("%s %s: response is not JSON: %v: %s", q.method, clipStr(q.path), err, clipStr(string(raw)))
		}
	}
	return r
}

func (e *hx) do(method, path string, body any) *hxResp {
	e.t.Helper()
	return e.send(hxReq{method: method, path: path, body: body})
}

func (e *hx) ok(method, path string, body any, status int) *hxResp {
	e.t.Helper()
	r := e.do(method, path, body)
	if r.status != status {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, clipStr(path), r.status, status, clipStr(string(r.raw)))
	}
	return r
}

func (e *hx) mkUser(body map[string]any) string {
	e.t.Helper()
	return e.ok("POST", "/Users", body, 201).body["id"].(string)
}

func clipStr(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

// wantSCIMError checks an RFC 7644 §3.12 error: status, scimType, and a
// detail that contains each of names.
func wantSCIMError(t *testing.T, r *hxResp, status int, scimType string, names ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, clipStr(string(r.raw)))
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/scim+json") {
		t.Errorf("Content-Type %q, want application/scim+json", ct)
	}
	if s, _ := r.body["schemas"].([]any); len(s) != 1 || s[0] != hxErrorSchema {
		t.Errorf("schemas %v, want [%s]", r.body["schemas"], hxErrorSchema)
	}
	if got := r.body["status"]; got != strconv.Itoa(status) {
		t.Errorf("body status %v, want %q", got, strconv.Itoa(status))
	}
	if got, _ := r.body["scimType"].(string); got != scimType {
		t.Errorf("scimType %q, want %q (detail %q)", got, scimType, r.body["detail"])
	}
	detail, _ := r.body["detail"].(string)
	for _, n := range names {
		if !strings.Contains(strings.ToLower(detail), strings.ToLower(n)) {
			t.Errorf("detail %q does not name %q", detail, n)
		}
	}
}

func hxPatch(ops ...map[string]any) map[string]any {
	if ops == nil {
		ops = []map[string]any{}
	}
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": ops}
}

func hxOp(op, path string, value any) map[string]any {
	m := map[string]any{"op": op}
	if path != "" {
		m["path"] = path
	}
	if value != nil {
		m["value"] = value
	}
	return m
}

// TestBadInputChangesNothing sends each kind of bad request: it gets 400
// with the right scimType and a detail naming the attribute, and every
// resource reads back byte for byte as before.
func TestBadInputChangesNothing(t *testing.T) {
	e := newHx(t, server.Config{})
	user := e.mkUser(map[string]any{"userName": "bjensen@example.com", "displayName": "Babs", "title": "Guide", "active": true,
		"name":   map[string]any{"givenName": "Barbara", "familyName": "Jensen"},
		"emails": []any{map[string]any{"value": "bjensen@example.com", "type": "work", "primary": true}}})
	other := e.mkUser(map[string]any{"userName": "other@example.com"})
	group := e.ok("POST", "/Groups", map[string]any{"displayName": "Guides", "members": []any{map[string]any{"value": user}}}, 201).body["id"].(string)
	U, G := "/Users/"+user, "/Groups/"+group

	snapshot := func() []string {
		var out []string
		for _, p := range []string{U, "/Users/" + other, G, "/Users?sortBy=userName", "/Groups"} {
			out = append(out, string(e.ok("GET", p, nil, 200).raw))
		}
		return out
	}
	long := strings.Repeat("x", scim.DefaultLimits.MaxValueLen+1)
	for _, tc := range []struct {
		name         string
		method, path string
		body         any
		scimType     string
		names        []string
	}{
		{"malformed JSON PUT", "PUT", U, `{"userName": "x",`, "invalidSyntax", []string{"JSON"}},
		{"malformed JSON PATCH", "PATCH", U, `{"Operations": [{"op": "add"`, "invalidSyntax", []string{"JSON"}},
		{"malformed JSON POST", "POST", "/Users", `{"userName" "x"}`, "invalidSyntax", []string{"JSON"}},
		{"trailing data", "PUT", U, `{"userName": "x"} {"userName": "y"}`, "invalidSyntax", []string{"after"}},
		{"array body", "PUT", U, `[{"userName": "x"}]`, "invalidSyntax", []string{"object"}},
		{"invalid UTF-8", "PUT", U, "{\"userName\": \"\xff\"}", "invalidSyntax", []string{"UTF-8"}},
		{"active maybe", "PUT", U, `{"userName": "bjensen@example.com", "active": "maybe"}`, "invalidValue", []string{"active", "maybe"}},
		{"emails string", "PUT", U, `{"userName": "bjensen@example.com", "emails": "x"}`, "invalidValue", []string{"emails"}},
		{"number for string", "PUT", U, `{"userName": "bjensen@example.com", "displayName": 42}`, "invalidValue", []string{"displayName"}},
		{"number userName", "POST", "/Users", `{"userName": 42}`, "invalidValue", []string{"userName"}},
		{"bool in complex", "PUT", U, `{"userName": "bjensen@example.com", "name": {"givenName": true}}`, "invalidValue", []string{"name.givenName"}},
		{"object for string", "PUT", U, `{"userName": "bjensen@example.com", "title": {"a": 1}}`, "invalidValue", []string{"title"}},
		{"missing userName PUT", "PUT", U, `{"displayName": "No Name"}`, "invalidValue", []string{"userName"}},
		{"missing userName POST", "POST", "/Users", `{"displayName": "No Name"}`, "invalidValue", []string{"userName"}},
		{"empty userName", "POST", "/Users", `{"userName": ""}`, "invalidValue", []string{"userName"}},
		{"missing displayName", "PUT", G, `{"members": []}`, "invalidValue", []string{"displayName"}},
		{"schemas not array", "PUT", U, `{"schemas": "urn:ietf:params:scim:schemas:core:2.0:User", "userName": "u"}`, "invalidSyntax", []string{"schemas"}},
		{"schemas of groups", "PUT", U, `{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "userName": "u"}`, "invalidSyntax", []string{"schemas"}},
		{"schemas with a number", "POST", "/Groups", `{"schemas": [1], "displayName": "g"}`, "invalidSyntax", []string{"schemas"}},
		{"value too long", "PUT", U, map[string]any{"userName": "bjensen@example.com", "title": long}, "invalidValue", []string{"title"}},
		{"number for binary", "PATCH", U, hxPatch(hxOp("replace", "x509Certificates", []any{map[string]any{"value": 1}})), "invalidValue", []string{"x509Certificates"}},

		{"PATCH bad schemas", "PATCH", U, `{"schemas": ["urn:x"], "Operations": [{"op": "replace", "path": "title", "value": "x"}]}`, "invalidSyntax", []string{"schemas"}},
		{"PATCH no Operations", "PATCH", U, `{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}`, "invalidSyntax", []string{"Operations"}},
		{"PATCH Operations object", "PATCH", U, `{"Operations": {"op": "add"}}`, "invalidSyntax", []string{"Operations"}},
		{"PATCH empty Operations", "PATCH", U, hxPatch(), "invalidValue", []string{"Operations"}},
		{"PATCH unknown op", "PATCH", U, hxPatch(hxOp("frobnicate", "title", "x")), "invalidSyntax", []string{"op", "frobnicate"}},
		{"PATCH op missing", "PATCH", U, `{"Operations": [{"path": "title", "value": "x"}]}`, "invalidSyntax", []string{"op"}},
		{"PATCH op not a string", "PATCH", U, `{"Operations": [{"op": 1, "path": "title", "value": "x"}]}`, "invalidSyntax", []string{"op"}},
		{"PATCH add without value", "PATCH", U, hxPatch(hxOp("add", "title", nil)), "invalidValue", []string{"value"}},
		{"PATCH unknown attribute", "PATCH", U, hxPatch(hxOp("replace", "nosuchAttribute", "x")), "invalidPath", []string{"nosuchAttribute"}},
		{"PATCH unknown sub-attribute", "PATCH", U, hxPatch(hxOp("replace", "name.nickname", "x")), "invalidPath", []string{"nickname"}},
		{"PATCH unknown schema", "PATCH", U, hxPatch(hxOp("replace", "urn:example:nosuch:department", "x")), "invalidPath", []string{"urn:example:nosuch"}},
		{"PATCH unknown extension attribute", "PATCH", U, hxPatch(hxOp("replace", scim.EnterpriseSchema+":nosuch", "x")), "invalidPath", []string{"nosuch"}},
		{"PATCH malformed path", "PATCH", U, hxPatch(hxOp("replace", `emails[type eq "work"`, "x")), "invalidPath", []string{"path"}},
		{"PATCH path not a string", "PATCH", U, `{"Operations": [{"op": "replace", "path": 7, "value": "x"}]}`, "invalidPath", []string{"path"}},
		{"PATCH readOnly id", "PATCH", U, hxPatch(hxOp("replace", "id", "mine")), "mutability", []string{"id"}},
		{"PATCH readOnly meta", "PATCH", U, hxPatch(hxOp("replace", "meta.created", "2020-01-01T00:00:00Z")), "mutability", []string{"meta"}},
		{"PATCH readOnly groups", "PATCH", U, hxPatch(hxOp("add", "groups", []any{map[string]any{"value": group}})), "mutability", []string{"groups"}},
		{"PATCH immutable members.value", "PATCH", G, hxPatch(hxOp("replace", "members.value", other)), "mutability", []string{"members.value"}},
		{"PATCH readOnly members.display", "PATCH", G, hxPatch(hxOp("replace", "members.display", "x")), "mutability", []string{"members.display"}},
		{"PATCH remove without path", "PATCH", U, hxPatch(hxOp("remove", "", nil)), "noTarget", []string{"path"}},
		{"PATCH no element to update", "PATCH", U, hxPatch(hxOp("replace", `emails[type ne "work"].value`, "x@example.com")), "noTarget", []string{"emails"}},
		{"PATCH active maybe", "PATCH", U, hxPatch(hxOp("replace", "active", "maybe")), "invalidValue", []string{"active"}},
		{"PATCH emails not objects", "PATCH", U, hxPatch(hxOp("add", "emails", 5)), "invalidValue", []string{"emails"}},
		{"PATCH path-less value not an object", "PATCH", U, hxPatch(hxOp("replace", "", "x")), "invalidValue", []string{"path"}},
		{"PATCH value too long", "PATCH", U, hxPatch(hxOp("replace", "title", long)), "invalidValue", []string{"title"}},
		{"PATCH unknown member", "PATCH", G, hxPatch(hxOp("add", "members", []any{map[string]any{"value": "no-such-id"}})), "invalidValue", []string{"members", "no-such-id"}},
		{"PATCH member without value", "PATCH", G, hxPatch(hxOp("add", "members", []any{map[string]any{"display": "x"}})), "invalidValue", []string{"members"}},
		// Atomicity: the valid first operation must not be applied either.
		{"PATCH valid then readOnly", "PATCH", U, hxPatch(hxOp("replace", "title", "Changed"), hxOp("replace", "id", "x")), "mutability", []string{"Operations[1]", "id"}},
		{"PATCH rename then unknown member", "PATCH", G, hxPatch(hxOp("replace", "displayName", "Renamed"),
			hxOp("add", "members", []any{map[string]any{"value": other}, map[string]any{"value": "no-such-id"}})), "invalidValue", []string{"no-such-id"}},
		{"PATCH remove userName", "PATCH", U, hxPatch(hxOp("remove", "userName", nil)), "invalidValue", []string{"userName"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshot()
			wantSCIMError(t, e.do(tc.method, tc.path, tc.body), 400, tc.scimType, tc.names...)
			if after := snapshot(); !slices.Equal(before, after) {
				t.Errorf("the refused request changed state:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// TestResourceLimits checks every request limit: each answers with a SCIM
// error before the work or memory it guards is spent, and each is
// configurable.
func TestResourceLimits(t *testing.T) {
	lim := scim.Limits{MaxDepth: 8, MaxValueLen: 100, MaxOperations: 5, MaxMembers: 20,
		Filter: scim.FilterLimits{MaxLength: 200, MaxNodes: 10}}
	e := newHx(t, server.Config{MaxBody: 64 << 10, MaxResults: 3, Limits: lim})
	var users []string
	for i := range 5 {
		users = append(users, e.mkUser(map[string]any{"userName": fmt.Sprintf("u%d@example.com", i)}))
	}
	group := e.ok("POST", "/Groups", map[string]any{"displayName": "G"}, 201).body["id"].(string)
	members := func(n int) []any {
		var out []any
		for i := range n {
			out = append(out, map[string]any{"value": users[i%len(users)]})
		}
		return out
	}
	nest := func(n int) string {
		return `{"userName": "deep", "title": ` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`
	}
	orChain := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = `userName eq "a"`
		}
		return strings.Join(parts, " or ")
	}

	t.Run("body size", func(t *testing.T) {
		body := map[string]any{"userName": "big", "title": strings.Repeat("x", 65<<10)}
		wantSCIMError(t, e.do("POST", "/Users", body), 413, "", "bytes")
		// Without a Content-Length the limit applies while reading.
		pr, pw := io.Pipe()
		go func() {
			b, _ := json.Marshal(body)
			pw.Write(b)
			pw.Close()
		}()
		req, _ := http.NewRequest("POST", e.base+"/Users", pr)
		req.Header.Set("Authorization", "Bearer "+e.token)
		res, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 413 || !bytes.Contains(raw, []byte(hxErrorSchema)) {
			t.Errorf("chunked oversize body: %d %s, want 413 with a SCIM error", res.StatusCode, raw)
		}
	})
	t.Run("nesting depth", func(t *testing.T) {
		wantSCIMError(t, e.do("POST", "/Users", nest(9)), 400, "invalidSyntax", "8 levels")
		r := e.do("POST", "/Users", nest(7))
		wantSCIMError(t, r, 400, "invalidValue", "title") // within the depth limit: an ordinary type error
	})
	t.Run("value length", func(t *testing.T) {
		wantSCIMError(t, e.do("POST", "/Users", map[string]any{"userName": "v", "title": strings.Repeat("é", 51)}), 400, "invalidValue", "title", "100")
		e.ok("POST", "/Users", map[string]any{"userName": "v", "title": strings.Repeat("é", 50)}, 201)
	})
	t.Run("operations", func(t *testing.T) {
		ops := make([]map[string]any, 6)
		for i := range ops {
			ops[i] = hxOp("replace", "title", fmt.Sprint(i))
		}
		wantSCIMError(t, e.do("PATCH", "/Users/"+users[0], hxPatch(ops...)), 400, "invalidValue", "operations", "5")
		e.ok("PATCH", "/Users/"+users[0], hxPatch(ops[:5]...), 200)
	})
	t.Run("members", func(t *testing.T) {
		wantSCIMError(t, e.do("PATCH", "/Groups/"+group, hxPatch(hxOp("add", "members", members(21)))), 400, "invalidValue", "members", "20")
		// Spread over several operations, the count is per request.
		wantSCIMError(t, e.do("PATCH", "/Groups/"+group, hxPatch(hxOp("add", "members", members(11)), hxOp("add", "members", members(10)))), 400, "invalidValue", "20")
		wantSCIMError(t, e.do("POST", "/Groups", map[string]any{"displayName": "H", "members": members(21)}), 400, "invalidValue", "members")
		e.ok("PATCH", "/Groups/"+group, hxPatch(hxOp("add", "members", members(20))), 204)
	})
	t.Run("filter length", func(t *testing.T) {
		f := `userName eq "` + strings.Repeat("a", 200) + `"`
		wantSCIMError(t, e.do("GET", "/Users?filter="+url.QueryEscape(f), nil), 400, "invalidFilter", "200")
		wantSCIMError(t, e.do("POST", "/Users/.search", map[string]any{"filter": f}), 400, "invalidFilter", "200")
	})
	t.Run("filter sub-expressions", func(t *testing.T) {
		wantSCIMError(t, e.do("GET", "/Users?filter="+url.QueryEscape(orChain(6)), nil), 400, "invalidFilter")
		e.ok("GET", "/Users?filter="+url.QueryEscape(orChain(3)), nil, 200)
	})
	t.Run("count cap", func(t *testing.T) {
		r := e.ok("GET", "/Users?count=1000000", nil, 200)
		if got := len(r.body["Resources"].([]any)); got != 3 {
			t.Errorf("%d resources on a page, want the cap of 3", got)
		}
		if got := r.body["totalResults"]; got != float64(6) {
			t.Errorf("totalResults %v, want 6", got)
		}
		spc := e.ok("GET", "/ServiceProviderConfig", nil, 200)
		if got := spc.body["filter"].(map[string]any)["maxResults"]; got != float64(3) {
			t.Errorf("ServiceProviderConfig filter.maxResults %v, want 3 (the configured cap)", got)
		}
		if got := spc.body["bulk"].(map[string]any)["supported"]; got != false {
			t.Errorf("bulk.supported %v, want false", got)
		}
	})
}

// hostileBound is how long refusing one hostile input may take. It is a
// guard against work that grows with the input (decoding a million
// members, quadratic parsing), which would take minutes, not a speed
// target: on an idle machine each answer takes under a quarter second; a
// loaded two-core CI machine once took 5.3 s for the million-member body.
const hostileBound = 30 * time.Second

// TestHostileSizes sends the three requests an attacker would try first,
// at the default limits: a 10,000-level nested document, a 1 MB filter and
// a million-member PATCH. Each gets a SCIM error quickly.
func TestHostileSizes(t *testing.T) {
	e := newHx(t, server.Config{})
	user := e.mkUser(map[string]any{"userName": "target@example.com"})
	group := e.ok("POST", "/Groups", map[string]any{"displayName": "Target"}, 201).body["id"].(string)
	deep := `{"userName": "x", "title": ` + strings.Repeat(`{"a":[`, 5000) + strings.Repeat(`]}`, 5000) + `}`
	megaFilter := `userName eq "` + strings.Repeat("a", 1_000_000) + `"`
	var million bytes.Buffer
	million.WriteString(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[`)
	for i := range 1_000_000 {
		if i > 0 {
			million.WriteByte(',')
		}
		fmt.Fprintf(&million, `{"value":"%08d-0000-4000-8000-000000000000"}`, i)
	}
	million.WriteString(`]}]}`)

	for _, tc := range []struct {
		name         string
		method, path string
		body         any
		status       int
		scimType     string
	}{
		{"10,000-level JSON POST", "POST", "/Users", deep, 400, "invalidSyntax"},
		{"10,000-level JSON PATCH", "PATCH", "/Users/" + user, `{"Operations":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`, 400, "invalidSyntax"},
		{"1 MB filter in .search", "POST", "/Users/.search", map[string]any{"filter": megaFilter}, 400, "invalidFilter"},
		{"100 kB filter in the URL", "GET", "/Users?filter=" + url.QueryEscape(megaFilter[:100_000]), nil, 400, "invalidFilter"},
		{"million-member PATCH", "PATCH", "/Groups/" + group, million.Bytes(), 413, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			wantSCIMError(t, e.do(tc.method, tc.path, tc.body), tc.status, tc.scimType)
			if d := time.Since(start); d > hostileBound {
				t.Errorf("answered after %v, want well under %v", d, hostileBound)
			}
		})
	}

	// With the body limit raised far enough to let the million members in,
	// the member limit refuses them before they are decoded: the request
	// costs about its own size in memory, not a million decoded objects.
	big := newHx(t, server.Config{MaxBody: 128 << 20})
	bigGroup := big.ok("POST", "/Groups", map[string]any{"displayName": "Target"}, 201).body["id"].(string)
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	start := time.Now()
	r := big.do("PATCH", "/Groups/"+bigGroup, million.Bytes())
	d := time.Since(start)
	runtime.ReadMemStats(&m1)
	wantSCIMError(t, r, 400, "invalidValue", "value", "10000")
	if d > hostileBound {
		t.Errorf("million-member PATCH answered after %v, want well under %v", d, hostileBound)
	}
	alloc := m1.TotalAlloc - m0.TotalAlloc
	t.Logf("refused a %d MB million-member PATCH in %v, allocating %d MB", million.Len()>>20, d, alloc>>20)
	if limit := uint64(6 * million.Len()); alloc > limit {
		t.Errorf("refusing a %d MB body allocated %d MB, want under %d MB", million.Len()>>20, alloc>>20, limit>>20)
	}
	if r := big.ok("GET", "/Groups/"+bigGroup, nil, 200); len(r.body["members"].([]any)) != 0 {
		t.Error("the refused PATCH added members")
	}
}

// TestFilterInjection sends SQL injection payloads as filters. Each is
// either a plain string value (matching only a user whose name is exactly
// that text) or refused with invalidFilter; the tables stay intact.
func TestFilterInjection(t *testing.T) {
	e := newHx(t, server.Config{})
	names := []string{"alice", `a" or "1"="1`, `x'; DROP TABLE users; --`, "100%", "a_b", `back\slash`}
	for _, n := range names {
		e.mkUser(map[string]any{"userName": n, "emails": []any{map[string]any{"value": n + "@example.com", "type": "work"}}})
	}
	group := e.ok("POST", "/Groups", map[string]any{"displayName": "G"}, 201).body["id"].(string)

	for _, tc := range []struct {
		filter string
		want   []string // userNames; nil with bad set means invalidFilter
		bad    bool
	}{
		{`userName eq "a\" or \"1\"=\"1"`, []string{`a" or "1"="1`}, false},
		{`userName eq "b\" or \"1\"=\"1"`, nil, false},
		{`userName eq "x' OR '1'='1"`, nil, false},
		{`userName eq "x'; DROP TABLE users; --"`, []string{`x'; DROP TABLE users; --`}, false},
		{`userName eq "alice' --"`, nil, false},
		{`userName eq "alice\" --"`, nil, false},
		{`userName co "%"`, []string{"100%"}, false},
		{`userName co "_"`, []string{"a_b"}, false},
		{`userName sw "%"`, nil, false},
		{`userName ew "\\slash"`, []string{`back\slash`}, false},
		{`userName co "'"`, []string{`x'; DROP TABLE users; --`}, false},
		{`userName eq "ALICE"`, []string{"alice"}, false},
		{`emails[value eq "x') or 1=1 --"]`, nil, false},
		{`emails.value co "' or ''='"`, nil, false},
		{`userName eq "a" or 1=1`, nil, true},
		{`userName eq "a" or "1"="1"`, nil, true},
		{`userName eq "alice"; DROP TABLE users`, nil, true},
		{`userName eq "alice" -- comment`, nil, true},
		{`userName eq "alice" /* comment */`, nil, true},
		{`userName eq alice' OR 1=1`, nil, true},
		{`userName) or (1 eq 1`, nil, true},
		{`userName'||' eq "x"`, nil, true},
		{`userName eq "alice" UNION SELECT * FROM tokens`, nil, true},
		{"userName eq \"alice\x00\"", nil, true},
		{"userName eq \"alice\" \x00 or userName pr", nil, true},
		{"userName eq \"\xff\xfe\"", nil, true},
		{"userName eq \"\xc3\"", nil, true},
	} {
		t.Run(tc.filter, func(t *testing.T) {
			for _, via := range []string{"GET", "POST"} {
				var r *hxResp
				if via == "GET" {
					r = e.do("GET", "/Users?filter="+url.QueryEscape(tc.filter), nil)
				} else {
					if !utf8.ValidString(tc.filter) {
						continue // JSON cannot carry invalid UTF-8; the GET covers it
					}
					r = e.do("POST", "/Users/.search", map[string]any{"filter": tc.filter})
				}
				if tc.bad {
					wantSCIMError(t, r, 400, "invalidFilter")
					continue
				}
				if r.status != 200 {
					t.Fatalf("%s: status %d: %s", via, r.status, r.raw)
				}
				var got []string
				for _, x := range r.body["Resources"].([]any) {
					got = append(got, x.(map[string]any)["userName"].(string))
				}
				slices.Sort(got)
				want := slices.Sorted(slices.Values(tc.want))
				if !slices.Equal(got, want) {
					t.Errorf("%s: matched %q, want %q", via, got, want)
				}
			}
		})
	}
	for _, p := range []string{
		"/Users?sortBy=" + url.QueryEscape("userName; DROP TABLE users"),
		"/Users?sortBy=" + url.QueryEscape("userName DESC, (SELECT 1)"),
		"/Users?sortOrder=" + url.QueryEscape("descending; DROP TABLE users"),
		"/Users?startIndex=" + url.QueryEscape("1; DROP TABLE users"),
		"/Users?count=" + url.QueryEscape("1 OR 1=1"),
	} {
		if r := e.do("GET", p, nil); r.status != 400 {
			t.Errorf("GET %s: status %d, want 400: %s", p, r.status, r.raw)
		}
	}
	for _, id := range []string{"' OR '1'='1", "1 OR 1=1", `"; DROP TABLE users; --`} {
		wantSCIMError(t, e.do("GET", "/Users/"+url.PathEscape(id), nil), 404, "")
		wantSCIMError(t, e.do("DELETE", "/Groups/"+url.PathEscape(id), nil), 404, "")
	}

	// Everything is still there.
	r := e.ok("GET", "/Users?count=100", nil, 200)
	if got := r.body["totalResults"]; got != float64(len(names)) {
		t.Errorf("totalResults %v after the payloads, want %d", got, len(names))
	}
	e.ok("GET", "/Groups/"+group, nil, 200)
	if _, err := e.st.Authenticate(context.Background(), e.token); err != nil {
		t.Errorf("the token table was damaged: %v", err)
	}
	if err := e.st.IntegrityCheck(context.Background()); err != nil {
		t.Error(err)
	}
}

// TestAuthFailures covers every way a request can fail authentication:
// each is a 401 SCIM error with WWW-Authenticate: Bearer, and none echoes
// what the client sent.
func TestAuthFailures(t *testing.T) {
	e := newHx(t, server.Config{})
	ctx := context.Background()
	expired, _, err := e.st.IssueToken(ctx, "expired", "entra", -time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	revoked, _, err := e.st.IssueToken(ctx, "revoked", "okta", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.RevokeToken(ctx, "revoked"); err != nil {
		t.Fatal(err)
	}
	rotated, _, err := e.st.IssueToken(ctx, "rotated", "okta", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.st.RotateToken(ctx, "rotated", time.Hour, 0, false); err != nil {
		t.Fatal(err)
	}
	unknown := store.NewSecret()
	for _, tc := range []struct{ name, header string }{
		{"missing", ""},
		{"basic", "Basic dXNlcjpwYXNzd29yZA=="},
		{"bearer without token", "Bearer"},
		{"bearer with spaces", "Bearer    "},
		{"not a scimd token", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.ZRrHA1JJJW8opsbCGfG_HACGpVUMN_a9IV7pAx_Zmeo"},
		{"unknown", "Bearer " + unknown},
		{"unknown without Bearer", unknown},
		{"truncated", "Bearer " + e.token[:len(e.token)-1]},
		{"extended", "Bearer " + e.token + "x"},
		{"expired", "Bearer " + expired},
		{"revoked", "Bearer " + revoked},
		{"rotated", "Bearer " + rotated},
		{"other scheme with the token", "Token " + e.token},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, p := range []string{"/Users", "/Groups/x", "/ServiceProviderConfig", "/nowhere"} {
				h := tc.header
				r := e.send(hxReq{method: "GET", path: p, auth: &h})
				wantSCIMError(t, r, 401, "")
				if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Errorf("%s: WWW-Authenticate %q, want Bearer", p, got)
				}
				hxSecurityHeaders(t, r, true)
				if tok := strings.TrimPrefix(h, "Bearer "); len(tok) > 8 && bytes.Contains(r.raw, []byte(tok)) {
					t.Errorf("%s: the response echoes the credential: %s", p, r.raw)
				}
			}
		})
	}
	e.ok("GET", "/Users", nil, 200)
}

// hxSecurityHeaders checks the headers every response carries.
func hxSecurityHeaders(t *testing.T, r *hxResp, scimPath bool) {
	t.Helper()
	if got := r.header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("status %d: X-Content-Type-Options %q, want nosniff", r.status, got)
	}
	if got := r.header.Get("Cache-Control"); scimPath && got != "no-store" {
		t.Errorf("status %d: Cache-Control %q, want no-store", r.status, got)
	}
}

// hxFrom is a client whose connections come from the loopback address ip
// (all of 127.0.0.0/8 is local on Linux), so that the server sees distinct
// client addresses over real TCP.
func hxFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 16}, Timeout: 30 * time.Second}
}

// TestAuthRateLimit: after the configured number of failures in a minute
// an address gets 429 with Retry-After; other addresses are unaffected; a
// valid token is never limited, from any address, at any rate.
func TestAuthRateLimit(t *testing.T) {
	const n = 5
	e := newHx(t, server.Config{AuthFailuresPerMinute: n})
	attacker, bystander := hxFrom("127.0.0.2"), hxFrom("127.0.0.3")
	bad := "Bearer " + store.NewSecret()
	for i := 1; i <= n; i++ {
		wantSCIMError(t, e.send(hxReq{method: "GET", path: "/Users", auth: &bad, client: attacker}), 401, "")
	}
	for i := 0; i < 3; i++ {
		r := e.send(hxReq{method: "GET", path: "/Users", auth: &bad, client: attacker})
		wantSCIMError(t, r, 429, "")
		secs, err := strconv.Atoi(r.header.Get("Retry-After"))
		if err != nil || secs < 1 || secs > 60 {
			t.Errorf("Retry-After %q, want 1..60 seconds", r.header.Get("Retry-After"))
		}
		hxSecurityHeaders(t, r, true)
	}
	// Malformed headers count too.
	junk := "Basic Zm9vOmJhcg=="
	wantSCIMError(t, e.send(hxReq{method: "GET", path: "/Users", auth: &junk, client: attacker}), 429, "")

	// The valid token works from the limited address and from others.
	for _, c := range []*http.Client{attacker, bystander} {
		if r := e.send(hxReq{method: "GET", path: "/Users", client: c}); r.status != 200 {
			t.Fatalf("valid token: status %d, want 200: %s", r.status, r.raw)
		}
	}
	// Another address's failures are its own.
	wantSCIMError(t, e.send(hxReq{method: "GET", path: "/Users", auth: &bad, client: bystander}), 401, "")

	// A valid client at full speed from the limited address: 400 requests
	// from 8 connections, far above Entra's 25 per second, all served.
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				req, _ := http.NewRequest("GET", e.base+"/Users?count=1", nil)
				req.Header.Set("Authorization", "Bearer "+e.token)
				res, err := attacker.Do(req)
				code := -1
				if err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					code = res.StatusCode
				}
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if codes[200] != 400 {
		t.Errorf("valid requests from a limited address: %v, want 400 × 200", codes)
	}

	// Off (0): failures are never turned into 429.
	off := newHx(t, server.Config{})
	for i := 0; i < 3*n; i++ {
		wantSCIMError(t, off.send(hxReq{method: "GET", path: "/Users", auth: &bad, client: attacker}), 401, "")
	}
}

// TestSecurityHeadersEverywhere checks nosniff on every response and
// no-store on every SCIM response, successes and errors alike.
func TestSecurityHeadersEverywhere(t *testing.T) {
	e := newHx(t, server.Config{MaxBody: 1024})
	u := e.mkUser(map[string]any{"userName": "h@example.com"})
	etag := e.ok("GET", "/Users/"+u, nil, 200).header.Get("ETag")
	none := ""
	for _, tc := range []struct {
		q      hxReq
		status int
	}{
		{hxReq{method: "GET", path: "/Users/" + u}, 200},
		{hxReq{method: "GET", path: "/Users/" + u, header: map[string]string{"If-None-Match": etag}}, 304},
		{hxReq{method: "POST", path: "/Users", body: map[string]any{"userName": "i@example.com"}}, 201},
		{hxReq{method: "POST", path: "/Users", body: map[string]any{"userName": "h@example.com"}}, 409},
		{hxReq{method: "POST", path: "/Users", body: "{"}, 400},
		{hxReq{method: "POST", path: "/Users", body: strings.Repeat(" ", 2000)}, 413},
		{hxReq{method: "PATCH", path: "/Users/" + u, body: hxPatch(hxOp("replace", "title", "x")), header: map[string]string{"If-Match": `W/"99"`}}, 412},
		{hxReq{method: "GET", path: "/Users/nope"}, 404},
		{hxReq{method: "PUT", path: "/ServiceProviderConfig"}, 405},
		{hxReq{method: "GET", path: "/Users", auth: &none}, 401},
		{hxReq{method: "GET", path: "/ServiceProviderConfig"}, 200},
		{hxReq{method: "GET", path: "/Schemas"}, 200},
		{hxReq{method: "DELETE", path: "/Users/" + u}, 204},
	} {
		r := e.send(tc.q)
		if r.status != tc.status {
			t.Errorf("%s %s: status %d, want %d: %s", tc.q.method, tc.q.path, r.status, tc.status, r.raw)
			continue
		}
		hxSecurityHeaders(t, r, true)
	}
	r := e.send(hxReq{method: "GET", path: e.ts.URL + "/healthz"})
	if r.status != 200 {
		t.Fatalf("healthz: %d", r.status)
	}
	hxSecurityHeaders(t, r, false)
}

// TestConcurrentGroupPatches: 10 clients × 100 PATCHes each add a distinct
// member to one group while two clients remove 100 of its original members
// one at a time and another renames it. The final member set is exactly
// the original minus the removed plus the added.
func TestConcurrentGroupPatches(t *testing.T) {
	e := newHx(t, server.Config{})
	const clients, each, initial, removed = 10, 100, 150, 100
	ids := hxMakeUsers(t, e, clients*each+initial)
	adds, orig := ids[:clients*each], ids[clients*each:]
	var origMembers []any
	for _, id := range orig {
		origMembers = append(origMembers, map[string]any{"value": id})
	}
	group := e.ok("POST", "/Groups", map[string]any{"displayName": "Busy", "members": origMembers}, 201).body["id"].(string)
	G := "/Groups/" + group

	errs := make(chan string, 100)
	var wg sync.WaitGroup
	patch := func(body any) {
		req, _ := http.NewRequest("PATCH", e.base+G, bytes.NewReader(hxJSON(body)))
		req.Header.Set("Authorization", "Bearer "+e.token)
		res, err := e.client.Do(req)
		if err != nil {
			errs <- err.Error()
			return
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 204 {
			select {
			case errs <- fmt.Sprintf("status %d: %s", res.StatusCode, raw):
			default:
			}
		}
	}
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				patch(hxPatch(hxOp("add", "members", []any{map[string]any{"value": adds[c*each+i]}})))
			}
		}()
	}
	for c := 0; c < 2; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < removed; i += 2 {
				patch(hxPatch(hxOp("remove", fmt.Sprintf("members[value eq %q]", orig[i]), nil)))
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 50; i++ {
			patch(hxPatch(hxOp("replace", "displayName", fmt.Sprintf("Busy %d", i))))
		}
	}()
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}

	r := e.ok("GET", G, nil, 200)
	var got []string
	for _, m := range r.body["members"].([]any) {
		got = append(got, m.(map[string]any)["value"].(string))
	}
	want := append(slices.Clone(adds), orig[removed:]...)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("final members: %d, want %d (missing %d, extra %d)", len(got), len(want), len(hxMinus(want, got)), len(hxMinus(got, want)))
	}
	if name := r.body["displayName"]; name != "Busy 49" {
		t.Errorf("displayName %v, want the last rename \"Busy 49\"", name)
	}
}

func hxJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func hxMinus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// hxMakeUsers creates n users concurrently and returns their ids.
func hxMakeUsers(t *testing.T, e *hx, n int) []string {
	t.Helper()
	ids := make([]string, n)
	var wg sync.WaitGroup
	var failed sync.Once
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				req, _ := http.NewRequest("POST", e.base+"/Users", bytes.NewReader(hxJSON(map[string]any{"userName": fmt.Sprintf("member%05d@example.com", i)})))
				req.Header.Set("Authorization", "Bearer "+e.token)
				res, err := e.client.Do(req)
				if err != nil {
					failed.Do(func() { t.Error(err) })
					return
				}
				var body map[string]any
				json.NewDecoder(res.Body).Decode(&body)
				res.Body.Close()
				if res.StatusCode != 201 {
					failed.Do(func() { t.Errorf("create user: status %d", res.StatusCode) })
					return
				}
				ids[i] = body["id"].(string)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return ids
}

// TestConcurrentIfMatch races PUTs and PATCHes of one user, each made from
// the version its client last read and sent with If-Match. Every request
// gets 2xx or 412; every 2xx answers a distinct version; and the final
// user holds exactly the entitlements of the requests that got a 2xx: no
// acknowledged update was lost, none that got 412 was applied.
func TestConcurrentIfMatch(t *testing.T) {
	e := newHx(t, server.Config{})
	u := "/Users/" + e.mkUser(map[string]any{"userName": "contended@example.com"})
	const workers, wins = 6, 10

	type result struct {
		value, etag string
	}
	var mu sync.Mutex
	var won []result
	errs := make(chan string, 10)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := hxFrom("127.0.0.1")
			n := 0
			for attempt := 0; n < wins && attempt < 40*wins; attempt++ {
				cur := e.send(hxReq{method: "GET", path: u, client: c})
				if cur.status != 200 {
					errs <- fmt.Sprintf("GET: %d", cur.status)
					return
				}
				etag := cur.header.Get("ETag")
				value := fmt.Sprintf("w%d-%d", w, n)
				var q hxReq
				if (w+attempt)%2 == 0 {
					ents, _ := cur.body["entitlements"].([]any)
					ents = append(slices.Clone(ents), map[string]any{"value": value})
					q = hxReq{method: "PUT", path: u, body: map[string]any{"userName": "contended@example.com", "entitlements": ents}}
				} else {
					q = hxReq{method: "PATCH", path: u, body: hxPatch(hxOp("add", "entitlements", []any{map[string]any{"value": value}}))}
				}
				q.header, q.client = map[string]string{"If-Match": etag}, c
				r := e.send(q)
				switch r.status {
				case 200:
					mu.Lock()
					won = append(won, result{value, r.header.Get("ETag")})
					mu.Unlock()
					n++
				case 412:
				default:
					errs <- fmt.Sprintf("%s: status %d: %s", q.method, r.status, r.raw)
					return
				}
			}
			if n < wins {
				errs <- fmt.Sprintf("worker %d won only %d times", w, n)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}

	final := e.ok("GET", u, nil, 200)
	var got, want []string
	for _, x := range final.body["entitlements"].([]any) {
		got = append(got, x.(map[string]any)["value"].(string))
	}
	etags := map[string]bool{}
	for _, r := range won {
		want = append(want, r.value)
		if etags[r.etag] {
			t.Errorf("two acknowledged writes answered the same version %s", r.etag)
		}
		etags[r.etag] = true
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("final entitlements differ from the acknowledged writes:\nlost    %v\nunacked %v", hxMinus(want, got), hxMinus(got, want))
	}
	if len(want) != workers*wins {
		t.Errorf("%d acknowledged writes, want %d", len(want), workers*wins)
	}
}
