package server

// Requests in the forms clients written elsewhere send (issue 10): ASP.NET
// and Express routing, hand-written scripts, compressing HTTP libraries,
// clients that hang up. Each test runs the real handler over real HTTP
// against a real SQLite file (helpers_test.go).

import (
	"bufio"
	"bytes"
	"compress/gzip"
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
	"strings"
	"testing"
	"time"

	"scimd/scim"
	"scimd/store"
)

// noRedirect sends a request without following redirects, so a 301 or 308
// shows as what it is.
func (e *env) noRedirect(method, path string, body io.Reader, header map[string]string) *resp {
	e.t.Helper()
	hr, err := http.NewRequest(method, e.url(path), body)
	if err != nil {
		e.t.Fatal(err)
	}
	hr.Header.Set("Authorization", "Bearer "+e.tokens["entra"])
	for k, v := range header {
		hr.Header.Set(k, v)
	}
	c := *e.ts.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := c.Do(hr)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	out := &resp{Status: res.StatusCode, Header: res.Header, Body: b}
	if strings.Contains(res.Header.Get("Content-Type"), "json") {
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		d.Decode(&out.JSON)
	}
	return out
}

func TestClientLowercaseEndpoints(t *testing.T) {
	e := newEnv(t)
	uid := e.mkUser("lower@example.com", nil)
	gid := e.mkGroup("Lower Case")
	search := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"userName eq \"lower@example.com\""}`
	tests := []struct {
		method, path string
		body         any
		status       int
		check        string // a dotted path that must be non-empty in the answer
	}{
		{"GET", "/users?filter=" + urlQuery(`userName eq "lower@example.com"`), nil, 200, "Resources.0.id"},
		{"GET", "/USERS/" + uid, nil, 200, "userName"},
		{"GET", "/uSeRs/" + uid + "/", nil, 200, "userName"},
		{"GET", "/groups", nil, 200, "Resources.0.displayName"},
		{"GET", "/GROUPS/" + gid, nil, 200, "displayName"},
		{"GET", "/serviceproviderconfig", nil, 200, "patch.supported"},
		{"GET", "/SERVICEPROVIDERCONFIG", nil, 200, "patch.supported"},
		{"GET", "/resourcetypes", nil, 200, "Resources.0.name"},
		{"GET", "/resourcetypes/user", nil, 200, "endpoint"},
		{"GET", "/schemas", nil, 200, "Resources.0.id"},
		{"GET", "/schemas/" + scim.UserSchema, nil, 200, "attributes.0.name"},
		{"POST", "/Users/.SEARCH", search, 200, "Resources.0.id"},
		{"POST", "/users/.Search", search, 200, "Resources.0.id"},
		{"POST", "/users", map[string]any{"schemas": []any{scim.UserSchema}, "userName": "created-lower@example.com"}, 201, "id"},
		{"PATCH", "/users/" + uid, patchBody(op("replace", "title", "Boss")), 200, "title"},
		{"PUT", "/GROUPS/" + gid, map[string]any{"schemas": []any{scim.GroupSchema}, "displayName": "Lower Case"}, 200, "id"},
		// The parent of the base path is served too.
		{"GET", e.ts.URL + "/scim/users/" + uid, nil, 200, "userName"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := e.send(req{Method: tt.method, Path: tt.path, Body: tt.body}).must(t, tt.status)
			if dig(r.JSON, tt.check) == nil {
				t.Errorf("%s missing in %s", tt.check, r.Body)
			}
			if loc := r.str("meta.location"); loc != "" && !canonicalLocation(loc) {
				t.Errorf("meta.location %q does not use the canonical endpoint name", loc)
			}
		})
	}
	t.Run("DELETE /groups/{id}", func(t *testing.T) {
		e.send(req{Method: "DELETE", Path: "/groups/" + gid}).must(t, 204)
		e.get("/Groups/"+gid).must(t, 404)
	})
	t.Run("ids are not case-folded", func(t *testing.T) {
		wantError(t, e.get("/Users/"+strings.ToUpper(uid)), 404, "")
	})
	t.Run("the base path is not case-folded", func(t *testing.T) {
		r := e.noRedirect("GET", e.ts.URL+"/SCIM/V2/Users/"+uid, nil, nil)
		wantError(t, r, 404, "")
	})
	t.Run("failures are logged under the resource type", func(t *testing.T) {
		e.get("/users/no-such-id").must(t, 404)
		if err := e.srv.FlushUsage(context.Background()); err != nil {
			t.Fatal(err)
		}
		found := false
		e.st.Events(context.Background(), store.EventQuery{Failed: true}, func(ev *store.Event) error {
			found = found || ev.Status == 404 && ev.ResourceType == "User" && ev.ResourceID == "no-such-id"
			return nil
		})
		if !found {
			t.Error("GET /users/no-such-id is not in the failed-request log as a User")
		}
	})
}

// canonicalLocation reports whether a meta.location names its endpoint in
// the registered spelling.
func canonicalLocation(loc string) bool {
	for _, name := range endpoints {
		if strings.Contains(loc, "/scim/v2/"+name) {
			return true
		}
	}
	return false
}

func TestClientBasePathNoRedirect(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/scim/v2", "/scim/v2/", "/scim", "/scim/", "/scim/v2//"} {
		for _, method := range []string{"GET", "HEAD", "POST"} {
			t.Run(method+" "+path, func(t *testing.T) {
				r := e.noRedirect(method, e.ts.URL+path, nil, nil)
				if r.Status != 404 || r.Header.Get("Location") != "" {
					t.Fatalf("status %d Location %q, want a 404 and no redirect; body %s", r.Status, r.Header.Get("Location"), r.Body)
				}
				if method != "HEAD" {
					wantError(t, r, 404, "")
					if !strings.Contains(r.str("detail"), "/scim/v2/Users") {
						t.Errorf("detail %q does not name the endpoints", r.str("detail"))
					}
				}
			})
		}
	}
}

func TestClientUnknownPathsAreSCIM404(t *testing.T) {
	e := newEnv(t)
	uid := e.mkUser("paths@example.com", nil)
	tests := []struct {
		method, path string
		status       int
	}{
		{"GET", "/scim/v2/Widgets", 404},
		{"GET", "/scim/v2/Users/" + uid + "/emails", 404},
		{"GET", "/scim/v2/Users/./" + uid, 404},
		{"GET", "/scim/v2/Users/../Groups", 404},
		{"GET", "/scim/v2/Users/%2E%2E/Groups", 404},
		{"GET", "/scim/v2/Bulk", 404},
		{"GET", "/scim/v2/Me", 404},
		{"GET", "/", 404},
		{"GET", "/index.html", 404},
		{"GET", "/SCIM/v2/Users", 404},
		{"GET", "/v2/scim/Users", 404},
		{"GET", "/healthz/x", 404},
		{"POST", "/scim/v2/ServiceProviderConfig", 405},
		{"PUT", "/scim/v2/Users", 405},
		{"DELETE", "/scim/v2/Users", 405},
		{"GET", "/scim/v2/Users/.search", 405},
		{"POST", "/scim/v2/Users/" + uid, 405},
		{"OPTIONS", "/scim/v2/Groups", 405},
		{"DELETE", "/scim/v2/", 404},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := e.noRedirect(tt.method, e.ts.URL+tt.path, nil, nil)
			if r.Header.Get("Location") != "" {
				t.Errorf("Location %q: a redirect", r.Header.Get("Location"))
			}
			wantError(t, r, tt.status, "")
			if tt.status == 405 && r.Header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
		})
	}
	// A trailing slash on a real endpoint is the endpoint, not a redirect.
	for _, path := range []string{"/scim/v2/Users/", "/scim/v2/Users/" + uid + "/", "/scim/v2/ServiceProviderConfig/"} {
		if r := e.noRedirect("GET", e.ts.URL+path, nil, nil); r.Status != 200 {
			t.Errorf("GET %s: %d, want 200; %s", path, r.Status, r.Body)
		}
	}
}

// filteredUser creates a user with two emails and two phone numbers.
func filteredUser(e *env) string {
	return e.mkUser("filtered@example.com", map[string]any{
		"emails": []any{
			map[string]any{"type": "work", "value": "w@example.com", "primary": true},
			map[string]any{"type": "home", "value": "h@example.com"},
		},
		"phoneNumbers": []any{
			map[string]any{"type": "work", "value": "+1 555 0100"},
			map[string]any{"type": "mobile", "value": "+1 555 0101"},
		},
		"name": map[string]any{"givenName": "Fil", "familyName": "Tered"},
	})
}

func TestClientFilteredAttributes(t *testing.T) {
	e := newEnv(t)
	id := filteredUser(e)
	work := map[string]any{"type": "work", "value": "w@example.com", "primary": true}
	home := map[string]any{"type": "home", "value": "h@example.com"}
	tests := []struct {
		name, attributes, excluded string
		emails                     any // nil: no emails key
		others                     []string
		absent                     []string
	}{
		{"whole matching values", `emails[type eq "work"]`, "", []any{work}, []string{"id", "schemas"}, []string{"userName", "phoneNumbers", "name"}},
		{"their value only", `emails[type eq "work"].value`, "", []any{map[string]any{"value": "w@example.com"}}, nil, []string{"userName"}},
		{"filter matching nothing", `emails[type eq "other"],userName`, "", nil, []string{"userName"}, nil},
		{"comma inside the filter", `emails[type eq "home" or value co ","].value,userName`, "", []any{map[string]any{"value": "h@example.com"}}, []string{"userName"}, nil},
		{"filter and sub-attribute merge", `emails[type eq "work"],emails.type`, "", []any{work, map[string]any{"type": "home"}}, nil, nil},
		{"case-insensitive names", `EMAILS[TYPE eq "work"].VALUE`, "", []any{map[string]any{"value": "w@example.com"}}, nil, nil},
		{"exclude the matching values", "", `emails[type eq "work"]`, []any{home}, []string{"userName", "phoneNumbers"}, nil},
		{"exclude their value", "", `emails[type eq "work"].value`, []any{map[string]any{"type": "work", "primary": true}, home}, []string{"userName"}, nil},
		{"exclude every value", "", `emails[value pr]`, nil, []string{"userName"}, nil},
	}
	check := func(t *testing.T, res map[string]any, emails any, others, absent []string) {
		t.Helper()
		got, _ := json.Marshal(res["emails"])
		if emails == nil {
			if _, ok := res["emails"]; ok {
				t.Errorf("emails %s, want none", got)
			}
		} else if want, _ := json.Marshal(emails); string(got) != string(want) {
			t.Errorf("emails %s, want %s", got, want)
		}
		for _, k := range others {
			if _, ok := res[k]; !ok {
				t.Errorf("%s missing", k)
			}
		}
		for _, k := range absent {
			if _, ok := res[k]; ok {
				t.Errorf("%s returned, want it left out", k)
			}
		}
	}
	for _, tt := range tests {
		q := url.Values{}
		if tt.attributes != "" {
			q.Set("attributes", tt.attributes)
		}
		if tt.excluded != "" {
			q.Set("excludedAttributes", tt.excluded)
		}
		t.Run(tt.name+"/get", func(t *testing.T) {
			r := e.get("/Users/"+id+"?"+q.Encode()).must(t, 200)
			check(t, r.JSON, tt.emails, tt.others, tt.absent)
		})
		t.Run(tt.name+"/list", func(t *testing.T) {
			r := e.get("/Users?filter="+urlQuery(`userName eq "filtered@example.com"`)+"&"+q.Encode()).must(t, 200)
			res, _ := dig(r.JSON, "Resources.0").(map[string]any)
			check(t, res, tt.emails, tt.others, tt.absent)
		})
		t.Run(tt.name+"/search", func(t *testing.T) {
			body := map[string]any{"schemas": []any{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"},
				"filter": `userName eq "filtered@example.com"`}
			if tt.attributes != "" {
				body["attributes"] = splitTop(tt.attributes)
			}
			if tt.excluded != "" {
				body["excludedAttributes"] = tt.excluded
			}
			r := e.send(req{Method: "POST", Path: "/Users/.search", Body: body}).must(t, 200)
			res, _ := dig(r.JSON, "Resources.0").(map[string]any)
			check(t, res, tt.emails, tt.others, tt.absent)
		})
	}
	t.Run("a filter on a single-valued attribute is invalidValue", func(t *testing.T) {
		r := e.get("/Users/" + id + "?attributes=" + url.QueryEscape(`name[givenName eq "Fil"]`))
		wantError(t, r, 400, "invalidValue")
		if !strings.Contains(r.str("detail"), "name") {
			t.Errorf("detail %q does not name the attribute", r.str("detail"))
		}
	})
	t.Run("a malformed filter is invalidValue", func(t *testing.T) {
		wantError(t, e.get("/Users/"+id+"?attributes="+url.QueryEscape(`emails[type eq]`)), 400, "invalidValue")
	})
	t.Run("group members by type", func(t *testing.T) {
		gid := e.mkGroup("Filtered", id)
		r := e.get("/Groups/"+gid+"?attributes="+url.QueryEscape(`members[value eq "`+id+`"].value`)).must(t, 200)
		if got, _ := json.Marshal(r.JSON["members"]); string(got) != `[{"value":"`+id+`"}]` {
			t.Errorf("members %s", got)
		}
		r = e.get("/Groups/"+gid+"?excludedAttributes="+url.QueryEscape(`members[type eq "User"]`)).must(t, 200)
		if _, ok := r.JSON["members"]; ok && len(r.JSON["members"].([]any)) != 0 {
			t.Errorf("members %v, want the users excluded", r.JSON["members"])
		}
	})
}

// splitTop splits an attributes list into the array form a SearchRequest
// uses, keeping commas inside brackets.
func splitTop(s string) []any {
	var out []any
	depth, start := 0, 0
	for i, c := range s {
		switch {
		case c == '[':
			depth++
		case c == ']':
			depth--
		case c == ',' && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func TestClientHugeCount(t *testing.T) {
	e := newEnvConfig(t, Config{MaxResults: 2})
	for i := range 3 {
		e.mkUser(fmt.Sprintf("count%d@example.com", i), nil)
	}
	huge := "99999999999999999999999999"
	tests := []struct {
		name, query      string
		items, startWant int
	}{
		{"count larger than any integer", "count=" + huge, 2, 1},
		{"count larger than any integer, signed", "count=%2B" + huge, 2, 1},
		{"count more negative than any integer", "count=-" + huge, 0, 1},
		{"startIndex larger than any integer", "startIndex=" + huge, 0, scim.MaxStartIndex},
		{"startIndex just past 32 bits", "startIndex=2147483648", 0, scim.MaxStartIndex},
		{"startIndex more negative than any integer", "startIndex=-" + huge + "&count=" + huge, 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.get("/Users?"+tt.query).must(t, 200)
			if got := len(dig(r.JSON, "Resources").([]any)); got != tt.items {
				t.Errorf("%d resources, want %d", got, tt.items)
			}
			if got := r.num("totalResults"); got != 3 {
				t.Errorf("totalResults %d, want 3", got)
			}
			if got := r.num("startIndex"); got != tt.startWant {
				t.Errorf("startIndex %d, want %d", got, tt.startWant)
			}
		})
	}
	t.Run(".search with a huge JSON number", func(t *testing.T) {
		body := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"count":` + huge + `,"startIndex":1}`
		r := e.send(req{Method: "POST", Path: "/Users/.search", Body: body}).must(t, 200)
		if got := len(dig(r.JSON, "Resources").([]any)); got != 2 {
			t.Errorf("%d resources, want the max_results cap 2", got)
		}
	})
	t.Run("a count that is not a number is still 400", func(t *testing.T) {
		wantError(t, e.get("/Users?count=12abc"), 400, "invalidValue")
		wantError(t, e.get("/Users?count=1e99"), 400, "invalidValue")
	})
}

func TestClientTextPlain415(t *testing.T) {
	e := newEnv(t)
	uid := e.mkUser("media@example.com", nil)
	user := `{"schemas":["` + scim.UserSchema + `"],"userName":"media-new@example.com"}`
	patch := `{"schemas":["` + scim.PatchSchema + `"],"Operations":[{"op":"replace","path":"title","value":"x"}]}`
	search := `{"filter":"userName pr"}`
	for _, ct := range []string{"text/plain", "text/plain; charset=utf-8", "application/xml", "text/xml",
		"application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz", "text/html",
		"application/octet-stream", "application/json; charset=iso-8859-1", "application/json; charset=utf-16",
		"json", "not a media type;;"} {
		for _, c := range []struct{ method, path, body string }{
			{"POST", "/Users", user}, {"PUT", "/Users/" + uid, user}, {"PATCH", "/Users/" + uid, patch}, {"POST", "/Users/.search", search},
		} {
			t.Run(ct+"/"+c.method+" "+c.path, func(t *testing.T) {
				r := e.send(req{Method: c.method, Path: c.path, Body: c.body, Header: map[string]string{"Content-Type": ct}})
				wantError(t, r, 415, "")
				if !strings.Contains(r.str("detail"), "application/scim+json") && !strings.Contains(r.str("detail"), "UTF-8") {
					t.Errorf("detail %q does not say what to send", r.str("detail"))
				}
			})
		}
	}
	if r := e.get("/Users?filter=" + urlQuery(`userName eq "media-new@example.com"`)); r.num("totalResults") != 0 {
		t.Error("a refused body created a user")
	}
	if r := e.get("/Users/" + uid); r.str("title") != "" || r.str("userName") != "media@example.com" {
		t.Errorf("a refused body changed the user: %s", r.Body)
	}
	// JSON-family types are read.
	for i, ct := range []string{"application/scim+json; charset=UTF-8", "APPLICATION/JSON", "application/vnd.example+json",
		"text/json", "application/scim+json; charset=utf8; profile=x"} {
		body := fmt.Sprintf(`{"schemas":[%q],"userName":"json%d@example.com"}`, scim.UserSchema, i)
		e.send(req{Method: "POST", Path: "/Users", Body: body, Header: map[string]string{"Content-Type": ct}}).must(t, 201)
	}
	// A GET carrying a Content-Type (Okta's SPEC test) has no body to refuse.
	e.send(req{Method: "GET", Path: "/Users/" + uid, Header: map[string]string{"Content-Type": "text/plain"}}).must(t, 200)
	// Neither has a DELETE.
	e.send(req{Method: "DELETE", Path: "/Users/" + uid, Header: map[string]string{"Content-Type": "text/plain"}}).must(t, 204)
}

func gz(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return b.Bytes()
}

func TestClientGzipBody(t *testing.T) {
	e := newEnvConfig(t, Config{MaxBody: 64 << 10})
	user := func(name string) string {
		return `{"schemas":["` + scim.UserSchema + `"],"userName":"` + name + `","title":"Zipped"}`
	}
	t.Run("gzip is decoded", func(t *testing.T) {
		r := e.send(req{Method: "POST", Path: "/Users", Body: gz(t, user("gzip@example.com")), Header: map[string]string{"Content-Encoding": "gzip"}}).must(t, 201)
		if r.str("userName") != "gzip@example.com" || r.str("title") != "Zipped" {
			t.Fatalf("created %s", r.Body)
		}
		patch := `{"schemas":["` + scim.PatchSchema + `"],"Operations":[{"op":"replace","path":"title","value":"Unzipped"}]}`
		r = e.send(req{Method: "PATCH", Path: "/Users/" + r.str("id"), Body: gz(t, patch), Header: map[string]string{"Content-Encoding": "GZIP"}}).must(t, 200)
		if r.str("title") != "Unzipped" {
			t.Errorf("PATCH: %s", r.Body)
		}
	})
	t.Run("x-gzip and identity", func(t *testing.T) {
		e.send(req{Method: "POST", Path: "/Users", Body: gz(t, user("xgzip@example.com")), Header: map[string]string{"Content-Encoding": "x-gzip"}}).must(t, 201)
		e.send(req{Method: "POST", Path: "/Users", Body: gz(t, user("idgzip@example.com")), Header: map[string]string{"Content-Encoding": "identity, gzip"}}).must(t, 201)
		e.send(req{Method: "POST", Path: "/Users", Body: user("identity@example.com"), Header: map[string]string{"Content-Encoding": "identity"}}).must(t, 201)
	})
	t.Run("other codings are 415", func(t *testing.T) {
		for _, enc := range []string{"br", "deflate", "compress", "zstd", "gzip, gzip", "gzip, br"} {
			r := e.send(req{Method: "POST", Path: "/Users", Body: gz(t, user("refused@example.com")), Header: map[string]string{"Content-Encoding": enc}})
			wantError(t, r, 415, "")
			if r.Header.Get("Accept-Encoding") != "gzip" {
				t.Errorf("%s: Accept-Encoding %q, want gzip", enc, r.Header.Get("Accept-Encoding"))
			}
		}
	})
	t.Run("a body that is not gzip is invalidSyntax", func(t *testing.T) {
		r := e.send(req{Method: "POST", Path: "/Users", Body: user("plain@example.com"), Header: map[string]string{"Content-Encoding": "gzip"}})
		wantError(t, r, 400, "invalidSyntax")
		b := gz(t, user("corrupt@example.com"))
		b[len(b)-5] ^= 0xff // the CRC
		wantError(t, e.send(req{Method: "POST", Path: "/Users", Body: b, Header: map[string]string{"Content-Encoding": "gzip"}}), 400, "invalidSyntax")
	})
	t.Run("a gzip bomb is 413 after max_body_bytes", func(t *testing.T) {
		// 64 MiB of JSON in about 64 KiB... well under the limit compressed.
		var raw bytes.Buffer
		w, _ := gzip.NewWriterLevel(&raw, gzip.BestCompression)
		w.Write([]byte(`{"userName":"bomb@example.com","title":"`))
		chunk := bytes.Repeat([]byte("a"), 1<<20)
		for range 64 {
			w.Write(chunk)
		}
		w.Write([]byte(`"}`))
		w.Close()
		if raw.Len() > 64<<10 {
			t.Fatalf("compressed bomb is %d bytes, want under the 64 KiB limit", raw.Len())
		}
		start := time.Now()
		r := e.send(req{Method: "POST", Path: "/Users", Body: raw.Bytes(), Header: map[string]string{"Content-Encoding": "gzip"}})
		wantError(t, r, 413, "")
		if !strings.Contains(r.str("detail"), "decompressed") {
			t.Errorf("detail %q does not say the decompressed size is the problem", r.str("detail"))
		}
		t.Logf("refused in %v", time.Since(start))
	})
	if r := e.get("/Users?filter=" + urlQuery(`userName eq "refused@example.com" or userName eq "bomb@example.com" or userName eq "plain@example.com"`)); r.num("totalResults") != 0 {
		t.Errorf("a refused body created a user: %s", r.Body)
	}
}

func TestClientDuplicateKeys(t *testing.T) {
	e := newEnv(t)
	uid := e.mkUser("dup@example.com", nil)
	gid := e.mkGroup("Dup")
	ent := scim.EnterpriseSchema
	tests := []struct {
		name, method, path, body, key string
	}{
		{"userName twice", "POST", "/Users", `{"schemas":["` + scim.UserSchema + `"],"userName":"a@example.com","UserName":"b@example.com"}`, "UserName"},
		{"same spelling twice", "POST", "/Users", `{"userName":"a@example.com","userName":"b@example.com"}`, "userName"},
		{"in a complex attribute", "PUT", "/Users/" + uid, `{"userName":"dup@example.com","name":{"givenName":"a","GIVENNAME":"b"}}`, "GIVENNAME"},
		{"in the enterprise extension", "PUT", "/Users/" + uid, `{"userName":"dup@example.com","` + ent + `":{"department":"a","DEPARTMENT":"b"}}`, "DEPARTMENT"},
		{"extension URN twice", "POST", "/Users", `{"userName":"c@example.com","` + ent + `":{},"` + strings.ToUpper(ent) + `":{}}`, strings.ToUpper(ent)},
		{"in a values array", "POST", "/Users", `{"userName":"d@example.com","emails":[{"value":"x@example.com"},{"value":"y@example.com","Value":"z@example.com"}]}`, "Value"},
		{"Op twice in a PATCH operation", "PATCH", "/Users/" + uid, `{"schemas":["` + scim.PatchSchema + `"],"Operations":[{"Op":"replace","OP":"remove","path":"title","value":"x"}]}`, "OP"},
		{"Operations twice", "PATCH", "/Users/" + uid, `{"schemas":["` + scim.PatchSchema + `"],"Operations":[],"operations":[{"op":"remove","path":"title"}]}`, "operations"},
		{"in a PATCH value", "PATCH", "/Groups/" + gid, `{"schemas":["` + scim.PatchSchema + `"],"Operations":[{"op":"add","path":"members","value":[{"value":"` + uid + `","VALUE":"x"}]}]}`, "VALUE"},
		{"in a path-less PATCH value", "PATCH", "/Users/" + uid, `{"schemas":["` + scim.PatchSchema + `"],"Operations":[{"op":"replace","value":{"title":"a","Title":"b"}}]}`, "Title"},
		{"in a .search body", "POST", "/Users/.search", `{"filter":"userName pr","Filter":"userName eq \"x\""}`, "Filter"},
		{"escaped spelling", "POST", "/Users", `{"userName":"e@example.com","\u0075sername":"f@example.com"}`, "username"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The same request always gets the same answer.
			for range 40 {
				r := e.send(req{Method: tt.method, Path: tt.path, Body: tt.body})
				wantError(t, r, 400, "invalidSyntax")
				if !strings.Contains(r.str("detail"), fmt.Sprintf("%q", tt.key)) {
					t.Fatalf("detail %q does not name %q", r.str("detail"), tt.key)
				}
			}
		})
	}
	r := e.get("/Users/"+uid).must(t, 200)
	if r.str("title") != "" || r.str("name.givenName") != "" {
		t.Errorf("a refused request changed the user: %s", r.Body)
	}
	if n := e.get("/Users").num("totalResults"); n != 1 {
		t.Errorf("%d users, want 1: a refused request created one", n)
	}
	// Different attributes with similar names are fine, and so are equal
	// keys in different objects.
	e.send(req{Method: "POST", Path: "/Users", Body: `{"userName":"ok@example.com","displayName":"x","name":{"formatted":"x"},"emails":[{"value":"a@example.com","type":"work"},{"value":"b@example.com","type":"home"}]}`}).must(t, 201)
}

// waitLog waits until the server's log holds a line with all of want.
func (e *env) waitLog(t *testing.T, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for line := range strings.SplitSeq(e.logs.String(), "\n") {
			all := true
			for _, w := range want {
				all = all && strings.Contains(line, w)
			}
			if all {
				return line
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no log line with %q in:\n%s", want, e.logs.String())
	return ""
}

func TestClientDisconnectMidBody(t *testing.T) {
	e := newEnv(t)
	addr := strings.TrimPrefix(e.ts.URL, "http://")
	body := `{"schemas":["` + scim.UserSchema + `"],"userName":"cut@example.com","displayName":"Cut Off"}`
	for _, tc := range []struct {
		name, agent, headers, sent string
	}{
		{"content-length", "cut-length", "Content-Length: " + fmt.Sprint(len(body)) + "\r\n", body[:20]},
		{"chunked", "cut-chunked", "Transfer-Encoding: chunked\r\n", fmt.Sprintf("%x\r\n%s\r\n%x\r\n%s", 20, body[:20], 40, body[20:30])},
		{"gzip", "cut-gzip", "Content-Encoding: gzip\r\nContent-Length: 1000\r\n", string(gz(t, body)[:15])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "POST /scim/v2/Users HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nUser-Agent: %s\r\nContent-Type: application/scim+json\r\n%s\r\n%s",
				addr, e.tokens["okta"], tc.agent, tc.headers, tc.sent)
			time.Sleep(50 * time.Millisecond) // let the server start reading the body
			conn.Close()
			line := e.waitLog(t, `"msg":"request"`, `"user_agent":"`+tc.agent+`"`)
			if !strings.Contains(line, `"status":400`) || !strings.Contains(line, `"level":"INFO"`) {
				t.Errorf("request log line %s, want level INFO and status 400", line)
			}
			if !strings.Contains(line, "ended early") {
				t.Errorf("request log line %s does not say the body ended early", line)
			}
		})
	}
	if strings.Contains(e.logs.String(), `"level":"ERROR"`) {
		t.Errorf("a client hanging up logged an ERROR:\n%s", e.logs.String())
	}
	if err := e.srv.FlushUsage(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := 0
	e.st.Events(context.Background(), store.EventQuery{Failed: true}, func(ev *store.Event) error {
		n++
		if ev.Status >= 500 {
			t.Errorf("failed-request log has %d for %s: %s", ev.Status, ev.Agent, ev.Detail)
		}
		if ev.Status != 400 || ev.Op != "create" || ev.Token != "okta" {
			t.Errorf("failed-request log entry %+v, want a 400 create by okta", ev)
		}
		return nil
	})
	if n != 3 {
		t.Errorf("%d failed requests logged, want 3", n)
	}
	if r := e.get("/Users?filter=" + urlQuery(`userName eq "cut@example.com"`)); r.num("totalResults") != 0 {
		t.Error("a cut-off body created a user")
	}
}

// TestClientRootBasePath: with base_path "/" the endpoints sit at the root,
// still in any case, and the root itself is a SCIM 404.
func TestClientRootBasePath(t *testing.T) {
	e := newEnvConfig(t, Config{BasePath: "/"})
	uid := e.send(req{Method: "POST", Path: e.ts.URL + "/USERS", Body: map[string]any{"userName": "root@example.com"}}).must(t, 201).str("id")
	if r := e.noRedirect("GET", e.ts.URL+"/users/"+uid, nil, nil); r.Status != 200 || r.str("userName") != "root@example.com" {
		t.Errorf("GET /users/{id}: %d %s", r.Status, r.Body)
	}
	for _, path := range []string{"/", "/widgets", "/users/" + uid + "/x"} {
		wantError(t, e.noRedirect("GET", e.ts.URL+path, nil, nil), 404, "")
	}
	if r := e.noRedirect("GET", e.ts.URL+"/healthz", nil, nil); r.Status != 200 {
		t.Errorf("GET /healthz: %d", r.Status)
	}
}

// TestClientSlowBody408: a body that does not arrive within the server's
// read timeout is the client's failure, 408, not a 500.
func TestClientSlowBody408(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "scimd.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	logs := &syncBuffer{}
	srv := New(st, Config{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.Config.ReadTimeout = 300 * time.Millisecond
	ts.Start()
	defer ts.Close()
	secret, _, err := st.IssueToken(context.Background(), "slow", "generic", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/scim+json\r\nContent-Length: 100\r\n\r\n{\"userName\":", secret)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no response: %v\n%s", err, logs.String())
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), `"status":"408"`) {
		t.Errorf("%d %s, want a SCIM 408", res.StatusCode, body)
	}
	if strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("a slow client logged an ERROR:\n%s", logs.String())
	}
}

// TestClientGoneDuringQuery: a client that sent its whole request and then
// hung up while a costly list was running is the client's failure: the
// request is logged at INFO as a 400 and recorded so in the provisioning
// log, never as a 5xx or an ERROR line.
func TestClientGoneDuringQuery(t *testing.T) {
	e := newEnv(t)
	var parts []string
	for i := range 10 {
		parts = append(parts, fmt.Sprintf(`emails.value co "zz%d"`, i))
	}
	path := "/scim/v2/Users?count=10&filter=" + urlQuery(strings.Join(parts, " or "))
	// Grow the directory until the costly list takes long enough for the
	// client to hang up in the middle of it (slower machines and the race
	// detector need fewer users; the query budget is 10 s).
	var full time.Duration
	for n := 0; full < 150*time.Millisecond; {
		if n >= 60000 {
			t.Fatalf("the costly list over %d users took only %v", n, full)
		}
		docs := make([]map[string]any, 0, 1000)
		for i := n; i < n+1000; i++ {
			docs = append(docs, map[string]any{"userName": fmt.Sprintf("g%06d@example.com", i),
				"emails": []any{map[string]any{"value": fmt.Sprintf("g%06d@example.org", i), "type": "work"}}})
		}
		if _, err := e.st.BulkCreate(context.Background(), store.Users, docs); err != nil {
			t.Fatal(err)
		}
		n += 1000
		t0 := time.Now()
		e.get(path[len("/scim/v2"):]).must(t, 200)
		full = time.Since(t0)
	}
	addr := strings.TrimPrefix(e.ts.URL, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nUser-Agent: gone-client\r\n\r\n", path, addr, e.tokens["okta"])
	time.Sleep(full / 10)
	conn.Close()
	line := e.waitLog(t, `"msg":"request"`, `"user_agent":"gone-client"`)
	if !strings.Contains(line, `"status":400`) || !strings.Contains(line, `"level":"INFO"`) {
		t.Errorf("request log line %s, want level INFO and status 400", line)
	}
	if strings.Contains(e.logs.String(), `"level":"ERROR"`) {
		t.Errorf("a client hanging up logged an ERROR:\n%s", e.logs.String())
	}
	if err := e.srv.FlushUsage(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.st.Events(context.Background(), store.EventQuery{Failed: true}, func(ev *store.Event) error {
		if ev.Status >= 500 {
			t.Errorf("failed-request log has %d for %s: %s", ev.Status, ev.Agent, ev.Detail)
		}
		return nil
	})
}
