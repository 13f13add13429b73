package server

import (
	"fmt"
	"strings"
	"testing"

	"scimd/scim"
)

// oktaHeaders are what Okta's provisioning client sends on every request
// (okta-and-peers.md A.3), including a Content-Type on bodiless GETs.
var oktaHeaders = map[string]string{
	"User-Agent":     "Okta SCIM Client 1.0.0",
	"Accept":         "application/scim+json",
	"Accept-Charset": "utf-8",
	"Content-Type":   "application/scim+json; charset=utf-8",
}

func (e *env) okta(method, path string, body any) *resp {
	e.t.Helper()
	return e.send(req{Method: method, Path: path, Body: body, IDP: "okta", Header: oktaHeaders})
}

// TestOktaLifecycle replays what Okta sends for one user and one pushed
// group (okta-and-peers.md A.3, A.4): test connection, existence check,
// create with the placeholder password, import, profile update by PUT,
// path-less deactivate and reactivate, and Group Push with its path-less
// rename carrying the readOnly id.
func TestOktaLifecycle(t *testing.T) {
	e := newEnv(t)
	seed := e.mkUser("seed@okta.local", map[string]any{"name": map[string]any{"givenName": "S", "familyName": "Eed"}})

	// Test API Credentials.
	r := e.okta("GET", "/Users?startIndex=1&count=2", nil).must(t, 200)
	for _, k := range []string{"totalResults", "startIndex", "itemsPerPage"} {
		if _, ok := r.JSON[k].(interface{ Int64() (int64, error) }); !ok {
			t.Errorf("%s is %T, want a JSON integer", k, r.JSON[k])
		}
	}

	// Existence check, with Okta's %20 encoding.
	r = e.okta("GET", "/Users?filter=userName%20eq%20%22test.user%40okta.local%22&startIndex=1&count=100", nil).must(t, 200)
	if r.num("totalResults") != 0 {
		t.Fatalf("existence check found %s", r.Body)
	}

	// Create: password and groups are accepted and ignored.
	create := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"test.user@okta.local",
		"name":{"givenName":"Test","familyName":"User"},
		"emails":[{"primary":true,"value":"test.user@okta.local","type":"work"}],
		"displayName":"Test User","locale":"en-US","externalId":"00ujl29u0le5T6Aj10h7",
		"groups":[],"password":"1mz050nq","active":true}`
	r = e.okta("POST", "/Users", create).must(t, 201)
	id := r.str("id")
	for k, v := range map[string]any{"userName": "test.user@okta.local", "name.givenName": "Test", "name.familyName": "User",
		"emails.0.value": "test.user@okta.local", "active": true, "externalId": "00ujl29u0le5T6Aj10h7", "locale": "en-US"} {
		if got := dig(r.JSON, k); got != v {
			t.Errorf("create response: %s = %v, want %v", k, got, v)
		}
	}
	if strings.Contains(string(r.Body), "1mz050nq") || dig(r.JSON, "password") != nil {
		t.Errorf("the password came back: %s", r.Body)
	}
	wantError(t, e.okta("POST", "/Users", create), 409, "uniqueness")
	r = e.okta("GET", "/Users?filter=userName%20eq%20%22TEST.USER%40OKTA.LOCAL%22", nil).must(t, 200)
	if r.num("totalResults") != 1 || r.str("Resources.0.id") != id {
		t.Errorf("upper-case existence check: %s", r.Body)
	}

	// Import: two pages of one in a stable order.
	p1 := e.okta("GET", "/Users?startIndex=1&count=1", nil).must(t, 200)
	p2 := e.okta("GET", "/Users?startIndex=2&count=1", nil).must(t, 200)
	if p1.str("Resources.0.id") != seed || p2.str("Resources.0.id") != id || p1.num("totalResults") != 2 {
		t.Errorf("import pages: %s / %s", p1.Body, p2.Body)
	}

	// Profile update: GET, change, PUT the whole object back with id,
	// meta, schemas and groups. Attributes left out are gone afterwards.
	put := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":%q,
		"userName":"test.user@okta.local","name":{"givenName":"Another","middleName":"Excited","familyName":"User"},
		"emails":[{"primary":true,"value":"test.user@okta.local","type":"work","display":"test.user@okta.local"}],
		"active":true,"groups":[],"meta":{"resourceType":"User"},"password":"placeholder"}`, id)
	r = e.okta("PUT", "/Users/"+id, put).must(t, 200)
	for _, rr := range []*resp{r, e.okta("GET", "/Users/"+id, nil).must(t, 200)} {
		if rr.str("name.givenName") != "Another" || rr.str("name.middleName") != "Excited" || rr.str("emails.0.display") != "test.user@okta.local" {
			t.Errorf("after PUT: %s", rr.Body)
		}
		if rr.str("locale") != "" || rr.str("displayName") != "" {
			t.Errorf("PUT kept attributes it did not send: %s", rr.Body)
		}
		if rr.str("id") != id || rr.str("meta.resourceType") != "User" {
			t.Errorf("PUT changed id or meta: %s", rr.Body)
		}
	}

	// Deactivate and reactivate: path-less replace.
	for _, active := range []bool{false, true} {
		r = e.okta("PATCH", "/Users/"+id, patchBody(op("replace", "", map[string]any{"active": active}))).must(t, 200)
		if dig(r.JSON, "active") != active {
			t.Errorf("path-less replace active=%v: response %v", active, dig(r.JSON, "active"))
		}
		r = e.okta("GET", "/Users?filter=userName%20eq%20%22test.user%40okta.local%22", nil).must(t, 200)
		if dig(r.JSON, "Resources.0.active") != active {
			t.Errorf("after deactivate/reactivate: %s", r.Body)
		}
	}
	// An AIW app deactivates by PUT.
	r = e.okta("PUT", "/Users/"+id, strings.Replace(put, `"active":true`, `"active":false`, 1)).must(t, 200)
	if dig(r.JSON, "active") != false {
		t.Errorf("PUT active false: %s", r.Body)
	}

	// Group Push: link check, create, rename with id in the value, then
	// membership as remove-by-filter plus add in one request.
	if r := e.okta("GET", `/Groups?filter=displayName%20eq%20%22Test%20SCIMv2%22`, nil).must(t, 200); r.num("totalResults") != 0 {
		t.Fatalf("group link check: %s", r.Body)
	}
	r = e.okta("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Test SCIMv2","members":[]}`).must(t, 201)
	gid := r.str("id")
	e.okta("PATCH", "/Groups/"+gid, patchBody(op("add", "members", []any{map[string]any{"value": seed, "display": "seed@okta.local"}}))).must(t, 204)
	e.okta("PATCH", "/Groups/"+gid, patchBody(op("replace", "", map[string]any{"id": gid, "displayName": "Test SCIMv2 renamed"}))).must(t, 204)
	e.okta("PATCH", "/Groups/"+gid, patchBody(
		op("remove", fmt.Sprintf(`members[value eq "%s"]`, seed), nil),
		op("add", "members", []any{map[string]any{"value": id, "display": "test.user@okta.local"}}),
	)).must(t, 204)
	r = e.okta("GET", "/Groups/"+gid, nil).must(t, 200)
	if r.str("displayName") != "Test SCIMv2 renamed" {
		t.Errorf("rename: %s", r.Body)
	}
	if got := e.memberIDs(gid); !sameSet(got, []string{id}) {
		t.Errorf("members after push: %v, want [%s]", got, id)
	}

	// A full push with replace (okta token: the list becomes exactly this),
	// then the path-less form, then an AIW PUT with the complete list.
	e.okta("PATCH", "/Groups/"+gid, patchBody(op("replace", "members", []any{map[string]any{"value": seed}}))).must(t, 204)
	if got := e.memberIDs(gid); !sameSet(got, []string{seed}) {
		t.Errorf("okta replace members: %v, want [%s]", got, seed)
	}
	e.okta("PATCH", "/Groups/"+gid, patchBody(op("replace", "", map[string]any{"members": []any{map[string]any{"value": id}}}))).must(t, 204)
	if got := e.memberIDs(gid); !sameSet(got, []string{id}) {
		t.Errorf("okta path-less replace members: %v, want [%s]", got, id)
	}
	pr := e.okta("PUT", "/Groups/"+gid, fmt.Sprintf(`{"schemas":[%q],"displayName":"Test SCIMv2","members":[{"value":%q,"display":"a"},{"value":%q,"display":"b"}]}`,
		scim.GroupSchema, id, seed)).must(t, 200)
	if l, _ := pr.JSON["members"].([]any); len(l) != 2 {
		t.Errorf("AIW PUT answer lists %d members, want the 2 it set", len(l))
	}
	if got := e.memberIDs(gid); !sameSet(got, []string{id, seed}) {
		t.Errorf("AIW PUT members: %v", got)
	}
	e.okta("DELETE", "/Groups/"+gid, nil).must(t, 204)

	// Okta's 401 and 404 checks.
	r = e.send(req{Method: "GET", Path: "/Users?filter=userName%20eq%20%22x%22", IDP: "-", Header: map[string]string{"Authorization": "non-token"}})
	wantError(t, r, 401, "")
	wantError(t, e.okta("GET", "/Users/00919288221112222", nil), 404, "")
	// Okta's header mode sometimes sends the token without "Bearer ".
	e.send(req{Method: "GET", Path: "/Users", IDP: "-", Header: map[string]string{"Authorization": e.tokens["okta"]}}).must(t, 200)
}
