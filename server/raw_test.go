package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"scimd/scim"
	"scimd/store"
)

// TestRawRenderMatchesRender: a user sent from its stored JSON (raw.go) is
// byte for byte what decoding and rendering it gives, for every shape of
// user Entra and Okta create: the bench's full Entra body, a manager (plain,
// with displayName, not a string), group memberships, escapes and
// non-ASCII text, and the least a user can be.
func TestRawRenderMatchesRender(t *testing.T) {
	e := newEnv(t)
	entra, err := os.ReadFile("../bench/entra-user.json")
	if err != nil {
		t.Fatal(err)
	}
	full := strings.NewReplacer("{{n}}", "raw1", "{{guid}}", "6b3d9c1e-0000-4000-8000-000000000001").Replace(string(entra))
	e.send(req{Method: "POST", Path: "/Users", Body: full}).must(t, 201)
	mgr := e.mkUser("boss@contoso.example", nil)
	e.mkUser("m1@contoso.example", map[string]any{scim.EnterpriseSchema: map[string]any{"manager": mgr, "department": "R&D"}})
	e.mkUser("m2@contoso.example", map[string]any{scim.EnterpriseSchema: map[string]any{"manager": map[string]any{"value": mgr, "displayName": "The Boss"}}})
	e.mkUser("esc@contoso.example", map[string]any{"displayName": "Zoë \"Quote\" <b>&amp; \\ tab\t line\u2028 😀",
		"title": "日本語", "name": map[string]any{"givenName": "Zoë", "familyName": "O'Brien"}})
	e.mkUser("min", nil)
	e.mkUser("inactive@contoso.example", map[string]any{"active": "False", "roles": []any{map[string]any{"primary": "True", "value": "admin"}}})
	member := e.mkUser("member@contoso.example", map[string]any{"externalId": "ext-1"})
	e.mkGroup("Engineering", member)
	e.mkGroup("Support \"Tier 2\"", member)

	ctx := context.Background()
	rawPage, err := e.st.ListPage(ctx, store.Users, store.Query{StartIndex: 1, Count: 100, WithRefs: true, Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	page, err := e.st.ListPage(ctx, store.Users, store.Query{StartIndex: 1, Count: 100, WithRefs: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rawPage.Resources) != 8 || len(page.Resources) != 8 {
		t.Fatalf("got %d and %d users, want 8", len(rawPage.Resources), len(page.Resources))
	}
	r := httptest.NewRequest("GET", "http://scim.example.org/scim/v2/Users", nil)
	base := e.srv.baseURL(r)
	for i, res := range rawPage.Resources {
		got, ok := e.srv.raw.appendStored(nil, base, res)
		if !ok {
			t.Errorf("%s: declined a document render passes through unchanged: %s", res.ID, res.Text)
			continue
		}
		want, err := scim.AppendJSON(nil, e.srv.render(r, store.Users, page.Resources[i]))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %s\nwant %s", res.ID, got, want)
		}
	}
}

// TestRawRenderDeclines: documents the splicing cannot be sure about are
// left to the decoding path, which gives the right answer for them.
func TestRawRenderDeclines(t *testing.T) {
	e := newEnv(t)
	for _, doc := range []string{
		`{"userName":"a","zzUndeclared":1}`, // hidden attribute: Visible drops it
		`{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"gone":1},"userName":"a"}`, // hidden extension attribute
		`{"userName":"a","id":"x"}`,      // a member render sets
		`{"userName":"a","groups":[]}`,   // likewise
		`{"userName":"b","active":true}`, // keys out of order
		`{"user\u004eame":"a"}`,          // a key with an escape
		`{"UserName":"a"}`,               // not the canonical spelling
		`{"userName":"a",}`,              // not AppendJSON's
		`{"userName":}`,                  // no value
		`{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"$ref":"x","value":"m"}},"userName":"a"}`,
		`{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"m\u0041"}},"userName":"a"}`,
		`[]`,
		``,
	} {
		res := &store.Resource{ID: "x", Text: []byte(doc), Version: 1}
		if got, ok := e.srv.raw.appendStored([]byte("prefix"), "http://h/scim/v2", res); ok {
			t.Errorf("%s: spliced to %s, want declined", doc, got)
		} else if string(got) != "prefix" {
			t.Errorf("%s: declining left %q in the buffer, want it as it was", doc, got)
		}
	}
}

// TestLookupFromStoredJSON: the Entra lookup over HTTP (the path raw.go
// serves) answers valid JSON with the user, its groups and its manager's
// $ref, and the projections that take the decoding path still apply.
func TestLookupFromStoredJSON(t *testing.T) {
	e := newEnv(t)
	mgr := e.mkUser("boss@contoso.example", nil)
	id := e.mkUser("Emp@Contoso.example", map[string]any{scim.EnterpriseSchema: map[string]any{"manager": mgr}})
	e.mkGroup("Staff", id)
	r := e.get(`/Users?filter=userName+eq+%22emp%40contoso.example%22`).must(t, 200)
	var v map[string]any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("lookup answer is not JSON: %v\n%s", err, r.Body)
	}
	if got := r.num("totalResults"); got != 1 {
		t.Fatalf("totalResults = %d, want 1", got)
	}
	u := dig(r.JSON, "Resources.0").(map[string]any)
	if u["id"] != id || dig(u, "groups.0.display") != "Staff" || !strings.HasSuffix(dig(u, "groups.0.$ref").(string), "/Groups/"+dig(u, "groups.0.value").(string)) {
		t.Errorf("user = %v", u)
	}
	if got, want := dig(u, scim.EnterpriseSchema+".manager.$ref"), e.ts.URL+"/scim/v2/Users/"+mgr; got != want {
		t.Errorf("manager $ref = %v, want %v", got, want)
	}
	r = e.get(`/Users?filter=userName+eq+%22emp%40contoso.example%22&attributes=userName`).must(t, 200)
	u = dig(r.JSON, "Resources.0").(map[string]any)
	if _, ok := u["groups"]; ok || u["userName"] != "Emp@Contoso.example" {
		t.Errorf("with attributes=userName: %v", u)
	}
}

// TestCreateResponseFromStoredJSON: the 201 to a POST /Users, sent from the
// JSON just stored, is byte for byte the GET of the same user (which is
// decoded and rendered), and a projection on the POST still applies.
func TestCreateResponseFromStoredJSON(t *testing.T) {
	e := newEnv(t)
	entra, err := os.ReadFile("../bench/entra-user.json")
	if err != nil {
		t.Fatal(err)
	}
	body := strings.NewReplacer("{{n}}", "post1", "{{guid}}", "6b3d9c1e-0000-4000-8000-0000000000aa").Replace(string(entra))
	created := e.send(req{Method: "POST", Path: "/Users", Body: body}).must(t, 201)
	got := e.get("/Users/"+created.str("id")).must(t, 200)
	if !bytes.Equal(created.Body, got.Body) {
		t.Errorf("POST answered\n%s\nGET answers\n%s", created.Body, got.Body)
	}
	if created.Header.Get("ETag") != `W/"1"` || !strings.HasSuffix(created.Header.Get("Location"), "/Users/"+created.str("id")) {
		t.Errorf("headers %v", created.Header)
	}
	p := e.send(req{Method: "POST", Path: "/Users?attributes=userName", Body: map[string]any{"userName": "proj@contoso.example", "title": "x"}}).must(t, 201)
	if _, ok := p.JSON["title"]; ok || p.str("userName") != "proj@contoso.example" {
		t.Errorf("POST with attributes=userName answered %s", p.Body)
	}
}
