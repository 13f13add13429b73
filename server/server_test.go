package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"scimd/scim"
)

func TestContentTypes(t *testing.T) {
	e := newEnv(t)
	for i, ct := range []string{"application/scim+json", "application/scim+json; charset=utf-8", "application/json",
		"application/json; charset=UTF-8", "", "text/json", `application/scim+json;charset="utf-8"`} { // text/plain: TestClientTextPlain415
		t.Run(fmt.Sprintf("%q", ct), func(t *testing.T) {
			body := fmt.Sprintf(`{"schemas":[%q],"userName":"ct%d@example.com"}`, scim.UserSchema, i)
			r := e.send(req{Method: "POST", Path: "/Users", Body: body, Header: map[string]string{"Content-Type": ct}}).must(t, 201)
			if got := r.Header.Get("Content-Type"); got != "application/scim+json" {
				t.Errorf("response Content-Type %q, want exactly application/scim+json", got)
			}
			id := r.str("id")
			patch := `{"schemas":["` + scim.PatchSchema + `"],"Operations":[{"op":"add","path":"title","value":"T"}]}`
			e.send(req{Method: "PATCH", Path: "/Users/" + id, Body: patch, Header: map[string]string{"Content-Type": ct}}).must(t, 200)
		})
	}
}

func TestErrorsAreSCIM(t *testing.T) {
	e := newEnvConfig(t, Config{MaxBody: 2048})
	big := fmt.Sprintf(`{"userName":"big","displayName":%q}`, strings.Repeat("x", 4096))
	tests := []struct {
		name     string
		r        req
		status   int
		scimType string
		detail   string
	}{
		{"malformed JSON", req{Method: "POST", Path: "/Users", Body: `{"userName":`}, 400, "invalidSyntax", "not valid JSON"},
		{"JSON array body", req{Method: "POST", Path: "/Users", Body: `[]`}, 400, "invalidSyntax", "object"},
		{"empty body", req{Method: "POST", Path: "/Users", Body: ``}, 400, "invalidSyntax", "empty"},
		{"missing userName", req{Method: "POST", Path: "/Users", Body: `{"displayName":"x"}`}, 400, "invalidValue", "userName"},
		{"wrong type", req{Method: "POST", Path: "/Users", Body: `{"userName":"x","active":"maybe"}`}, 400, "invalidValue", "active"},
		{"group body on users", req{Method: "POST", Path: "/Users", Body: `{"schemas":["` + scim.GroupSchema + `"],"displayName":"x"}`}, 400, "invalidSyntax", "Group"},
		{"body too large", req{Method: "POST", Path: "/Users", Body: big}, 413, "", "2048"},
		{"unknown user", req{Method: "GET", Path: "/Users/010101001010101011001010101011"}, 404, "", "not found"},
		{"unknown group", req{Method: "PATCH", Path: "/Groups/nope", Body: patchBody(op("add", "displayName", "x"))}, 404, "", "not found"},
		{"unknown endpoint", req{Method: "GET", Path: "/Widgets"}, 404, "", "/Users"},
		{"malformed filter", req{Method: "GET", Path: "/Users?filter=userName+eq"}, 400, "invalidFilter", "value"},
		{"bare filter value (Okta 2016 SPEC)", req{Method: "GET", Path: "/Users?filter=RUNSCOPE123@ATKO.COM"}, 400, "invalidFilter", ""},
		{"empty filter", req{Method: "GET", Path: "/Users?filter="}, 400, "invalidFilter", "empty"},
		{"filter on unknown attribute", req{Method: "GET", Path: "/Users?filter=shoeSize+eq+42"}, 400, "invalidFilter", "shoeSize"},
		{"bad count", req{Method: "GET", Path: "/Users?count=many"}, 400, "invalidValue", "count"},
		{"bad sortOrder", req{Method: "GET", Path: "/Users?sortBy=userName&sortOrder=up"}, 400, "invalidValue", "sortOrder"},
		{"POST to ServiceProviderConfig", req{Method: "POST", Path: "/ServiceProviderConfig", Body: "test"}, 405, "", "POST"},
		{"POST to ResourceTypes", req{Method: "POST", Path: "/ResourceTypes", Body: "test"}, 405, "", "POST"},
		{"POST to Schemas", req{Method: "POST", Path: "/Schemas", Body: "test"}, 405, "", "POST"},
		{"PUT on a collection", req{Method: "PUT", Path: "/Users", Body: `{}`}, 405, "", "PUT"},
		{"no Authorization", req{Method: "GET", Path: "/Users", IDP: "-"}, 401, "", "Authorization"},
		{"wrong scheme", req{Method: "GET", Path: "/Users", IDP: "-", Header: map[string]string{"Authorization": "Basic dTpw"}}, 401, "", "Bearer"},
		{"unknown token", req{Method: "GET", Path: "/Users", IDP: "-", Header: map[string]string{"Authorization": "Bearer scimd_xyz"}}, 401, "", "not known"},
		{"401 before 405", req{Method: "POST", Path: "/Schemas", IDP: "-", Body: "test"}, 401, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.send(tt.r)
			wantError(t, r, tt.status, tt.scimType)
			if !strings.Contains(r.str("detail"), tt.detail) {
				t.Errorf("detail %q does not mention %q", r.str("detail"), tt.detail)
			}
			if tt.status == 405 && r.Header.Get("Allow") == "" {
				t.Errorf("405 without Allow header")
			}
			if tt.status == 401 && r.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		})
	}

	// A body without Content-Length is cut off at the limit too.
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(big))
		pw.Close()
	}()
	hr, _ := http.NewRequest("POST", e.url("/Users"), pr)
	hr.Header.Set("Authorization", "Bearer "+e.tokens["entra"])
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 413 || !strings.Contains(string(b), `"status":"413"`) {
		t.Errorf("chunked oversized body: %d %s", res.StatusCode, b)
	}
}

func TestTokenStates(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	revoked, _, err := e.st.IssueToken(ctx, "old-okta", "okta", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.RevokeToken(ctx, "old-okta"); err != nil {
		t.Fatal(err)
	}
	expired, _, err := e.st.IssueToken(ctx, "short", "entra", time.Nanosecond)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ secret, detail string }{{revoked, "revoked"}, {expired, "expired"}} {
		r := e.send(req{Method: "GET", Path: "/Users", IDP: "-", Header: map[string]string{"Authorization": "Bearer " + tt.secret}})
		wantError(t, r, 401, "")
		if !strings.Contains(r.str("detail"), tt.detail) {
			t.Errorf("detail %q, want it to say %q", r.str("detail"), tt.detail)
		}
	}
}

// TestInternalErrorHidesDetails checks that a 500 carries the request ID
// and nothing about the failure, which goes to the log instead.
func TestInternalErrorHidesDetails(t *testing.T) {
	e := newEnv(t)
	id := e.mkUser("x@example.com", nil)
	e.st.Close() // every query now fails inside database/sql
	r := e.get("/Users/" + id)
	wantError(t, r, 500, "")
	reqID := r.Header.Get("X-Request-Id")
	if reqID == "" || !strings.Contains(r.str("detail"), reqID) {
		t.Errorf("detail %q does not name the request id %q", r.str("detail"), reqID)
	}
	for _, leak := range []string{"sql", "database", "closed", "store"} {
		if strings.Contains(strings.ToLower(r.str("detail")), leak) {
			t.Errorf("detail %q leaks %q", r.str("detail"), leak)
		}
	}
	if logs := e.logs.String(); !strings.Contains(logs, reqID) || !strings.Contains(logs, "closed") {
		t.Errorf("the log lacks the request id or the cause:\n%s", logs)
	}
}

func TestHealthzWithoutAuth(t *testing.T) {
	e := newEnv(t)
	r := e.send(req{Method: "GET", Path: "/healthz", IDP: "-"}).must(t, 200)
	if string(r.Body) != "ok\n" {
		t.Errorf("body %q", r.Body)
	}
}

func TestDiscovery(t *testing.T) {
	e := newEnvConfig(t, Config{MaxResults: 150})
	r := e.get("/ServiceProviderConfig").must(t, 200)
	for path, want := range map[string]any{
		"schemas.0": scim.SPCSchema, "patch.supported": true, "bulk.supported": false, "filter.supported": true,
		"changePassword.supported": false, "sort.supported": true, "etag.supported": true,
		"authenticationSchemes.0.type": "oauthbearertoken",
	} {
		if got := dig(r.JSON, path); got != want {
			t.Errorf("SPC %s = %v, want %v", path, got, want)
		}
	}
	if got := r.num("filter.maxResults"); got != 150 {
		t.Errorf("filter.maxResults %d, want the configured 150", got)
	}
	for _, path := range []string{"bulk.maxOperations", "bulk.maxPayloadSize", "authenticationSchemes.0.description"} {
		if dig(r.JSON, path) == nil {
			t.Errorf("SPC lacks %s", path)
		}
	}

	r = e.get("/ResourceTypes").must(t, 200)
	if r.num("totalResults") != 2 || r.str("Resources.0.endpoint") != "/Users" || r.str("Resources.1.endpoint") != "/Groups" ||
		r.str("Resources.0.schemaExtensions.0.schema") != enterprise {
		t.Errorf("/ResourceTypes: %s", r.Body)
	}
	e.get("/ResourceTypes/User").must(t, 200)
	wantError(t, e.get("/ResourceTypes/Widget"), 404, "")

	r = e.get("/Schemas").must(t, 200)
	byID := map[string]any{}
	for _, s := range dig(r.JSON, "Resources").([]any) {
		byID[dig(s, "id").(string)] = s
	}
	userAttrs := map[string]map[string]any{}
	for _, a := range dig(byID[scim.UserSchema], "attributes").([]any) {
		userAttrs[dig(a, "name").(string)] = a.(map[string]any)
	}
	for _, name := range []string{"userName", "name", "displayName", "nickName", "profileUrl", "title", "userType",
		"preferredLanguage", "locale", "timezone", "active", "emails", "phoneNumbers", "ims", "photos", "addresses",
		"groups", "entitlements", "roles", "x509Certificates"} {
		if userAttrs[name] == nil {
			t.Errorf("/Schemas User lacks %s", name)
		}
	}
	if userAttrs["userName"]["caseExact"] != false || userAttrs["userName"]["uniqueness"] != "server" || userAttrs["groups"]["mutability"] != "readOnly" {
		t.Errorf("userName/groups characteristics: %v %v", userAttrs["userName"], userAttrs["groups"])
	}
	if byID[enterprise] == nil || byID[scim.GroupSchema] == nil {
		t.Errorf("/Schemas ids: %v", byID)
	}
	r = e.get("/Schemas/"+enterprise).must(t, 200)
	if r.str("id") != enterprise {
		t.Errorf("/Schemas/{id}: %s", r.Body)
	}
	if strings.Contains(string(r.Body), "null") {
		t.Errorf("/Schemas document holds a null: %s", r.Body)
	}
}

func TestETags(t *testing.T) {
	e := newEnv(t)
	id := e.mkUser("etag@example.com", nil)
	r := e.get("/Users/"+id).must(t, 200)
	v1 := r.Header.Get("ETag")
	if v1 != `W/"1"` || r.str("meta.version") != v1 {
		t.Fatalf("ETag %q, meta.version %q", v1, r.str("meta.version"))
	}
	// If-None-Match: 304 while unchanged.
	r = e.send(req{Method: "GET", Path: "/Users/" + id, Header: map[string]string{"If-None-Match": v1}})
	if r.Status != 304 || len(r.Body) != 0 || r.Header.Get("ETag") != v1 {
		t.Errorf("If-None-Match current: %d %q %s", r.Status, r.Header.Get("ETag"), r.Body)
	}
	e.send(req{Method: "GET", Path: "/Users/" + id, Header: map[string]string{"If-None-Match": `W/"9"`}}).must(t, 200)

	// If-Match: a stale version is 412 for PATCH, PUT and DELETE, and
	// changes nothing; the current one goes through.
	stale := map[string]string{"If-Match": `W/"7"`}
	wantError(t, e.send(req{Method: "PATCH", Path: "/Users/" + id, Body: patchBody(op("add", "title", "T")), Header: stale}), 412, "")
	wantError(t, e.send(req{Method: "PUT", Path: "/Users/" + id, Body: `{"userName":"etag@example.com","title":"T"}`, Header: stale}), 412, "")
	wantError(t, e.send(req{Method: "DELETE", Path: "/Users/" + id, Header: stale}), 412, "")
	if r := e.get("/Users/"+id).must(t, 200); r.Header.Get("ETag") != v1 || r.str("title") != "" {
		t.Fatalf("a 412 changed the user: %s", r.Body)
	}
	r = e.send(req{Method: "PATCH", Path: "/Users/" + id, Body: patchBody(op("add", "title", "T")), Header: map[string]string{"If-Match": v1}}).must(t, 200)
	v2 := r.Header.Get("ETag")
	if v2 != `W/"2"` || r.str("meta.version") != v2 {
		t.Errorf("after PATCH: ETag %q, meta.version %q", v2, r.str("meta.version"))
	}
	// A PATCH that changes nothing keeps the version.
	r = e.send(req{Method: "PATCH", Path: "/Users/" + id, Body: patchBody(op("replace", "title", "T"))}).must(t, 200)
	if r.Header.Get("ETag") != v2 {
		t.Errorf("no-op PATCH moved the version to %q", r.Header.Get("ETag"))
	}
	e.send(req{Method: "PUT", Path: "/Users/" + id, Body: `{"userName":"etag@example.com"}`, Header: map[string]string{"If-Match": "*"}}).must(t, 200)
	e.send(req{Method: "DELETE", Path: "/Users/" + id, Header: map[string]string{"If-Match": `W/"3"`}}).must(t, 204)

	// Groups: the version moves with membership changes.
	u := e.mkUser("m@example.com", nil)
	gid := e.mkGroup("etag-group")
	r = e.send(req{Method: "PATCH", Path: "/Groups/" + gid, Body: patchBody(op("add", "members", []any{map[string]any{"value": u}}))}).must(t, 204)
	if r.Header.Get("ETag") != `W/"2"` {
		t.Errorf("group ETag after a member add: %q", r.Header.Get("ETag"))
	}
}

func TestURLForms(t *testing.T) {
	e := newEnv(t)
	id := e.mkUser("url@example.com", nil)
	for _, u := range []string{
		e.ts.URL + "/scim/Users/" + id, // Tenant URL without /v2
		e.ts.URL + "/scim/v2/Users/" + id + "/",
		e.ts.URL + "/scim/v2//Users/" + id, // Tenant URL typed with a trailing slash
		e.ts.URL + "/scim/v2/Users/" + id + "?aadOptscim062020",
	} {
		if r := e.get(u); r.Status != 200 || r.str("id") != id {
			t.Errorf("GET %s: %d %s", u, r.Status, r.Body)
		}
	}
	e.get(e.ts.URL+"/scim/Users?filter=userName+eq+%22url%40example.com%22").must(t, 200)
	// meta.location uses public_url when one is configured.
	e2 := newEnvConfig(t, Config{PublicURL: "https://scim.example.org/"})
	id2 := e2.mkUser("loc@example.com", nil)
	if got := e2.get("/Users/" + id2).str("meta.location"); got != "https://scim.example.org/scim/v2/Users/"+id2 {
		t.Errorf("meta.location %q", got)
	}
}

func TestUniqueness(t *testing.T) {
	e := newEnv(t)
	e.mkUser("ÉRIN@x.example", nil)
	for _, name := range []string{"érin@x.example", "ÉRIN@X.EXAMPLE", "érin@X.example"} {
		wantError(t, e.send(req{Method: "POST", Path: "/Users", Body: map[string]any{"userName": name}}), 409, "uniqueness")
	}
	// Unicode case folding beyond ASCII: Kelvin sign K and ſ (long s).
	e.mkUser("kſ@x.example", nil)
	wantError(t, e.send(req{Method: "POST", Path: "/Users", Body: map[string]any{"userName": "\u212AS@x.example"}}), 409, "uniqueness")
	if r := e.get("/Users?filter="+urlQuery(`userName eq "erin@x.example"`)).must(t, 200); r.num("totalResults") != 0 {
		t.Errorf("an accent-less name matched: %s", r.Body)
	}
	// Renames into a taken name fail, by PUT and by PATCH.
	id := e.mkUser("other@x.example", nil)
	wantError(t, e.send(req{Method: "PUT", Path: "/Users/" + id, Body: map[string]any{"userName": "Érin@x.example"}}), 409, "uniqueness")
	wantError(t, e.send(req{Method: "PATCH", Path: "/Users/" + id, Body: patchBody(op("replace", "userName", "érin@x.EXAMPLE"))}), 409, "uniqueness")
	// Changing only the case of one's own name is allowed.
	e.send(req{Method: "PATCH", Path: "/Users/" + id, Body: patchBody(op("replace", "userName", "OTHER@x.example"))}).must(t, 200)

	// The detail quotes a long name only in part.
	long := strings.Repeat("x", 5000) + "@x.example"
	e.mkUser(long, nil)
	r := e.send(req{Method: "POST", Path: "/Users", Body: map[string]any{"userName": strings.ToUpper(long)}})
	wantError(t, r, 409, "uniqueness")
	if len(r.str("detail")) > 300 {
		t.Errorf("409 detail is %d bytes long", len(r.str("detail")))
	}

	e.mkGroup("Ärzte")
	wantError(t, e.send(req{Method: "POST", Path: "/Groups", Body: map[string]any{"displayName": "ärzte"}}), 409, "uniqueness")
	gid := e.mkGroup("Other")
	wantError(t, e.send(req{Method: "PATCH", Path: "/Groups/" + gid, Body: patchBody(op("replace", "displayName", "ÄRZTE"))}), 409, "uniqueness")
}

func urlQuery(s string) string {
	return strings.NewReplacer(" ", "+", `"`, "%22", "@", "%40").Replace(s)
}

// TestConcurrentMemberPatches sends Entra's membership traffic: one member
// per PATCH, five at a time, to the same group. No member is lost, and
// concurrent removals remove exactly theirs.
func TestConcurrentMemberPatches(t *testing.T) {
	e := newEnv(t)
	gid := e.mkGroup("busy")
	var ids []string
	for i := range 40 {
		ids = append(ids, e.mkUser(fmt.Sprintf("c%d@example.com", i), nil))
	}
	run := func(ids []string, mk func(id string) map[string]any) {
		var wg sync.WaitGroup
		work := make(chan string)
		for range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for id := range work {
					if r := e.send(req{Method: "PATCH", Path: "/Groups/" + gid, Body: patchBody(mk(id))}); r.Status != 204 {
						t.Errorf("PATCH for %s: %d %s", id, r.Status, r.Body)
					}
				}
			}()
		}
		for _, id := range ids {
			work <- id
		}
		close(work)
		wg.Wait()
	}
	run(ids, func(id string) map[string]any {
		return op("replace", "members", []any{map[string]any{"value": id}})
	})
	if got := e.memberIDs(gid); !sameSet(got, ids) {
		t.Fatalf("after concurrent adds: %d members, want %d", len(got), len(ids))
	}
	run(ids[:20], func(id string) map[string]any {
		return op("remove", fmt.Sprintf(`members[value eq "%s"]`, id), nil)
	})
	if got := e.memberIDs(gid); !sameSet(got, ids[20:]) {
		t.Fatalf("after concurrent removes: %v, want %v", got, ids[20:])
	}
}

// TestRequestLog checks the log line of each request: method, path,
// status, duration, token name and User-Agent, and never the secret.
func TestRequestLog(t *testing.T) {
	e := newEnv(t)
	e.send(req{Method: "GET", Path: "/Users?count=1", IDP: "okta", Header: map[string]string{"User-Agent": "Okta SCIM Client 1.0.0"}}).must(t, 200)
	e.send(req{Method: "GET", Path: "/Users/missing"})
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(e.logs.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %s", sc.Text())
		}
		if m["msg"] == "request" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("%d request log lines, want 2:\n%s", len(lines), e.logs.String())
	}
	l := lines[0]
	for k, want := range map[string]any{"method": "GET", "path": "/scim/v2/Users", "status": 200.0, "token": "okta", "user_agent": "Okta SCIM Client 1.0.0"} {
		if l[k] != want {
			t.Errorf("log %s = %v, want %v", k, l[k], want)
		}
	}
	if _, ok := l["duration_ms"].(float64); !ok {
		t.Errorf("log line has no duration: %v", l)
	}
	if lines[1]["status"] != 404.0 || lines[1]["token"] != "entra" {
		t.Errorf("second log line: %v", lines[1])
	}
	for _, secret := range e.tokens {
		if strings.Contains(e.logs.String(), secret) || strings.Contains(e.logs.String(), secret[len(secret)-12:]) {
			t.Fatalf("the log contains a token secret:\n%s", e.logs.String())
		}
	}
}

// TestListParameters covers attributes, excludedAttributes, sortBy,
// sortOrder, startIndex, count (with its cap) and POST /.search.
func TestListParameters(t *testing.T) {
	e := newEnvConfig(t, Config{MaxResults: 3})
	for i, n := range []string{"carol", "alice", "Bob", "dave", "erin"} {
		e.mkUser(n+"@example.com", map[string]any{
			"name":     map[string]any{"givenName": n, "familyName": "F"},
			"emails":   []any{map[string]any{"type": "work", "value": n + "@work.example"}},
			enterprise: map[string]any{"department": fmt.Sprintf("D%d", i), "costCenter": "C"},
		})
	}
	names := func(r *resp) []string {
		var out []string
		for _, x := range dig(r.JSON, "Resources").([]any) {
			out = append(out, dig(x, "userName").(string))
		}
		return out
	}

	r := e.get("/Users?count=100").must(t, 200)
	if r.num("totalResults") != 5 || r.num("itemsPerPage") != 3 {
		t.Errorf("count above filter.maxResults: %d of %d, want 3 of 5", r.num("itemsPerPage"), r.num("totalResults"))
	}
	r = e.get("/Users?count=0").must(t, 200)
	if r.num("totalResults") != 5 || len(dig(r.JSON, "Resources").([]any)) != 0 {
		t.Errorf("count=0: %s", r.Body)
	}
	r = e.get("/Users?startIndex=0&count=2").must(t, 200)
	if r.num("startIndex") != 1 || strings.Join(names(r), ",") != "carol@example.com,alice@example.com" {
		t.Errorf("startIndex=0: %s", r.Body)
	}
	r = e.get("/Users?sortBy=userName&sortOrder=descending&count=3").must(t, 200)
	if got := strings.Join(names(r), ","); got != "erin@example.com,dave@example.com,carol@example.com" {
		t.Errorf("sortBy userName descending: %s", got)
	}
	r = e.get("/Users?sortBy=name.givenName&startIndex=2&count=2").must(t, 200)
	if got := strings.Join(names(r), ","); got != "Bob@example.com,carol@example.com" {
		t.Errorf("sortBy name.givenName page 2: %s", got)
	}

	r = e.get("/Users?filter="+urlQuery(`userName eq "alice@example.com"`)+"&attributes=userName,emails.value,"+enterprise+":department").must(t, 200)
	u := dig(r.JSON, "Resources.0").(map[string]any)
	if u["id"] == nil || u["schemas"] == nil || u["userName"] != "alice@example.com" || u["name"] != nil ||
		dig(u, "emails.0.value") != "alice@work.example" || dig(u, "emails.0.type") != nil ||
		dig(u, enterprise+".department") != "D1" || dig(u, enterprise+".costCenter") != nil {
		t.Errorf("attributes: %v", u)
	}
	id := u["id"].(string)
	r = e.get("/Users/"+id+"?excludedAttributes=emails,name.givenName,"+enterprise).must(t, 200)
	if r.JSON["emails"] != nil || r.str("name.givenName") != "" || r.str("name.familyName") != "F" || r.JSON[enterprise] != nil || r.str("userName") == "" {
		t.Errorf("excludedAttributes: %s", r.Body)
	}
	r = e.get("/Users/"+id+"?attributes="+enterprise).must(t, 200)
	if r.str(enterprise+".costCenter") != "C" || r.JSON["userName"] != nil {
		t.Errorf("attributes=<extension URN>: %s", r.Body)
	}
	r = e.get("/Users/"+id+"?excludedAttributes=id,schemas").must(t, 200)
	if r.str("id") != id || dig(r.JSON, "schemas") == nil {
		t.Errorf("id and schemas must always be returned: %s", r.Body)
	}

	// POST /.search takes the same parameters in a SearchRequest body.
	r = e.send(req{Method: "POST", Path: "/Users/.search", Body: map[string]any{
		"schemas": []any{scim.SearchSchema}, "filter": `emails.value ew "@work.example" and not (userName sw "e")`,
		"attributes": []any{"userName"}, "sortBy": "userName", "startIndex": 2, "count": 2}}).must(t, 200)
	if r.num("totalResults") != 4 || r.num("startIndex") != 2 || strings.Join(names(r), ",") != "Bob@example.com,carol@example.com" {
		t.Errorf("/.search: %s", r.Body)
	}
	if dig(r.JSON, "Resources.0.emails") != nil {
		t.Errorf("/.search attributes ignored: %s", r.Body)
	}
	gid := e.mkGroup("Searchers")
	r = e.send(req{Method: "POST", Path: "/Groups/.search", Body: `{"filter":"displayName eq \"searchers\"","excludedAttributes":"members"}`}).must(t, 200)
	if r.num("totalResults") != 1 || r.str("Resources.0.id") != gid || dig(r.JSON, "Resources.0.members") != nil {
		t.Errorf("/Groups/.search: %s", r.Body)
	}
	wantError(t, e.send(req{Method: "POST", Path: "/Users/.search", Body: `{"filter":"userName eq"}`}), 400, "invalidFilter")
}
