package server

import (
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"

	"scimd/scim"
)

// The tests in this file replay one Microsoft Entra ID provisioning cycle,
// request by request, as ../shared/spec/entra-id.md §8 lays it out: once
// with the default (legacy) request shapes and once with the shapes Entra
// sends when the Tenant URL carries ?aadOptscim062020. Every request has
// Entra's headers: a bearer token, application/scim+json with charset, and
// no User-Agent.

const enterprise = scim.EnterpriseSchema

// entraValidatorUser is the widest user body Entra's client emits
// (entra-id.md §2.2(c)), with the manager left out and an externalId added.
func entraValidatorUser(userName string) map[string]any {
	return map[string]any{
		"userName": userName, "active": true, "displayName": "NDSQQTECVAAC", "title": "CJSGUNOAAMMQ",
		"externalId":        "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
		"emails":            []any{map[string]any{"type": "work", "value": "thaddeus@hammes.info", "primary": true}},
		"preferredLanguage": "hi",
		"name": map[string]any{"givenName": "Elfrieda", "familyName": "Urban", "formatted": "Myah", "middleName": "Cindy",
			"honorificPrefix": "Minerva", "honorificSuffix": "Micaela"},
		"addresses": []any{map[string]any{"type": "work", "formatted": "ZQEHBLETAAQE", "streetAddress": "25928 Katlyn Row",
			"locality": "YRAKBQCGOHZF", "region": "XCCVLAIDMQYR", "postalCode": "cx47 4mz", "primary": true, "country": "Sierra Leone"}},
		"phoneNumbers": []any{
			map[string]any{"type": "work", "value": "10-040-1308", "primary": true},
			map[string]any{"type": "mobile", "value": "10-040-1308"},
			map[string]any{"type": "fax", "value": "10-040-1308"}},
		enterprise: map[string]any{"employeeNumber": "OXYYEGWVLTGW", "department": "ZYWTBPDFHIIP", "costCenter": "ASHTVSKANCGL",
			"organization": "DPQRRHJMBXZE", "division": "WXNFEJQDRAVI"},
		"roles":    []any{map[string]any{"primary": "True", "display": "MRONYWGFFHXQ", "value": "WDEIISGWWQBE", "type": "XVTUOHMYUFRL"}},
		"userType": "GZILLRZCFPNC", "nickName": "FOGSIQTKHIPG", "locale": "RJWNTUNNOHNZ",
		"timezone": "America/Guayaquil", "profileUrl": "BAPNQLJSRQGD",
		"schemas": []any{scim.UserSchema, enterprise},
	}
}

// q builds a query string the way Entra puts it on the wire: spaces as
// "+", quotes as %22 (or raw, as the SCIM Validator sends them) and "@" as
// %40. In the compliance mode the Tenant URL's flag rides along.
func (m entraMode) q(params ...string) string {
	var parts []string
	if m.compliant {
		parts = append(parts, "aadOptscim062020")
	}
	for i := 0; i+1 < len(params); i += 2 {
		v := url.QueryEscape(params[i+1])
		if m.rawQuotes {
			v = strings.ReplaceAll(v, "%22", `"`)
		}
		parts = append(parts, params[i]+"="+v)
	}
	return "?" + strings.Join(parts, "&")
}

type entraMode struct {
	compliant bool // ?aadOptscim062020 request shapes (entra-id.md §2.5B)
	rawQuotes bool
}

// opName spells an op as the mode sends it: "Replace" by default,
// "replace" with the compliance flag.
func (m entraMode) opName(name string) string {
	if m.compliant {
		return name
	}
	return strings.ToUpper(name[:1]) + name[1:]
}

func TestEntraSync(t *testing.T) {
	for _, tt := range []struct {
		name string
		mode entraMode
	}{
		{"legacy shapes", entraMode{}},
		{"aadOptscim062020 shapes", entraMode{compliant: true, rawQuotes: true}},
	} {
		t.Run(tt.name, func(t *testing.T) { entraSync(t, tt.mode) })
	}
}

func entraSync(t *testing.T, m entraMode) {
	e := newEnv(t)

	// 1. Test Connection: a random GUID that matches nobody is 200 with an
	// empty ListResponse, never 404 (a 404 quarantines the job).
	for _, path := range []string{
		"/Users" + m.q("filter", `userName eq "cf4d78e8-cc4f-4d5d-b8b9-183561c0104a"`),
		"/Groups" + m.q("excludedAttributes", "members", "filter", `displayName eq "cf4d78e8-cc4f-4d5d-b8b9-183561c0104a"`),
		"/Users" + m.q("filter", `externalId eq "cf4d78e8-cc4f-4d5d-b8b9-183561c0104a"`),
	} {
		r := e.get(path).must(t, 200)
		if ct := r.Header.Get("Content-Type"); ct != "application/scim+json" {
			t.Errorf("GET %s: Content-Type %q, want application/scim+json", path, ct)
		}
		if got := r.num("totalResults"); got != 0 {
			t.Errorf("GET %s: totalResults %d, want 0", path, got)
		}
		if l, ok := dig(r.JSON, "Resources").([]any); !ok || len(l) != 0 {
			t.Errorf("GET %s: Resources %v, want []", path, dig(r.JSON, "Resources"))
		}
		if s := r.str("schemas.0"); s != scim.ListSchema {
			t.Errorf("GET %s: schemas %v", path, dig(r.JSON, "schemas"))
		}
	}
	bad := e.send(req{Method: "GET", Path: "/Users" + m.q("filter", `userName eq "x"`), IDP: "-",
		Header: map[string]string{"Authorization": "Bearer scimd_not-a-real-token"}})
	wantError(t, bad, 401, "")

	// 2. Lookup before create: nobody yet.
	if r := e.get("/Users"+m.q("filter", `userName eq "a@contoso.com"`)).must(t, 200); r.num("totalResults") != 0 {
		t.Fatalf("lookup before create found %d users", r.num("totalResults"))
	}

	// 3. Create: Microsoft's documented sample (read-only meta, empty
	// roles), the validator's full body, then a duplicate (409).
	sample := map[string]any{
		"schemas":    []any{scim.UserSchema, enterprise},
		"externalId": "6c3f1e0a-5a8d-4a51-9d3e-0f1f2b7c9a11", "userName": "Test_User_00aa00aa@contoso.com", "active": true,
		"emails": []any{map[string]any{"primary": true, "type": "work", "value": "Test_User_11bb@testuser.com"}},
		"meta":   map[string]any{"resourceType": "User"},
		"name":   map[string]any{"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
		"roles":  []any{},
	}
	r := e.send(req{Method: "POST", Path: "/Users", Body: sample}).must(t, 201)
	if r.str("id") == "" || r.str("meta.created") == "" || r.str("meta.lastModified") == "" {
		t.Fatalf("create response lacks id or meta: %s", r.Body)
	}
	if loc := r.Header.Get("Location"); !strings.HasSuffix(loc, "/scim/v2/Users/"+r.str("id")) || loc != r.str("meta.location") {
		t.Errorf("Location %q, meta.location %q", loc, r.str("meta.location"))
	}
	sent := entraValidatorUser("a@contoso.com")
	r = e.send(req{Method: "POST", Path: "/Users", Body: sent}).must(t, 201)
	idA := r.str("id")
	dup := e.send(req{Method: "POST", Path: "/Users", Body: entraValidatorUser("A@Contoso.com")})
	wantError(t, dup, 409, "uniqueness")

	// The legacy sample's nulls, top-level extension names and malformed
	// URN are accepted (entra-id.md §2.2(b)).
	e.send(req{Method: "POST", Path: "/Users", Body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],"externalId":"jyoung","userName":"jyoung@contoso.com",
		"active":true,"addresses":null,"displayName":"Jake Young","emails":[{"type":"work","value":"jyoung@contoso.com","primary":true}],
		"meta":{"resourceType":"User"},"name":{"familyName":"Young","givenName":"Jake"},"phoneNumbers":null,
		"preferredLanguage":null,"title":null,"department":null,"manager":null}`}).must(t, 201)
	if r := e.get("/Users"+m.q("filter", "externalId eq jyoung")).must(t, 200); r.num("totalResults") != 1 {
		t.Errorf("legacy unquoted externalId filter found %d users, want 1", r.num("totalResults"))
	}

	// 4. Lookup with another case finds exactly the one user.
	r = e.get("/Users"+m.q("filter", `userName eq "A@CONTOSO.COM"`)).must(t, 200)
	if r.num("totalResults") != 1 || r.str("Resources.0.id") != idA {
		t.Fatalf("case-insensitive lookup: %s", r.Body)
	}
	r = e.get("/Users"+m.q("filter", `emails[type eq "work"].value eq "THADDEUS@hammes.info"`)).must(t, 200)
	if r.num("totalResults") != 1 || r.str("Resources.0.id") != idA {
		t.Fatalf("lookup by work email: %s", r.Body)
	}

	// 5. GET by id returns everything as sent; only the string "True" of
	// roles[].primary has become a boolean.
	r = e.get("/Users/"+idA).must(t, 200)
	want := entraValidatorUser("a@contoso.com")
	want["roles"].([]any)[0].(map[string]any)["primary"] = true
	for k, v := range want {
		if k == "schemas" {
			continue
		}
		if got := normalizeJSON(dig(r.JSON, k)); !reflect.DeepEqual(got, normalizeJSON(v)) {
			t.Errorf("GET user: %s = %v, want %v", k, got, normalizeJSON(v))
		}
	}
	if r.Header.Get("ETag") == "" || r.Header.Get("ETag") != r.str("meta.version") {
		t.Errorf("ETag %q, meta.version %q", r.Header.Get("ETag"), r.str("meta.version"))
	}

	// 6. Manager: created after the user, then linked in every shape Entra
	// has used; always read back as {"value", "$ref"}.
	idM := e.mkUser("manager@contoso.com", map[string]any{"displayName": "The Manager"})
	mgrPath := enterprise + ":manager"
	for _, shape := range []struct {
		name  string
		path  string
		value any
	}{
		{"plain id", mgrPath, idM},
		{"value object", mgrPath, map[string]any{"value": idM}},
		{"legacy short path and array", "manager", []any{map[string]any{"$ref": e.ts.URL + "/scim/v2/Users/" + idM, "value": idM}}},
	} {
		e.send(req{Method: "PATCH", Path: "/Users/" + idA, Body: patchBody(op(m.opName("add"), shape.path, shape.value))}).must(t, 200)
		r = e.get("/Users/"+idA).must(t, 200)
		if got := r.str(enterprise + ".manager.value"); got != idM {
			t.Errorf("manager (%s): value %q, want %q; %s", shape.name, got, idM, dig(r.JSON, enterprise))
		}
		if got := r.str(enterprise + ".manager.$ref"); !strings.HasSuffix(got, "/Users/"+idM) {
			t.Errorf("manager (%s): $ref %q", shape.name, got)
		}
		e.send(req{Method: "PATCH", Path: "/Users/" + idA, Body: patchBody(op("remove", mgrPath, nil))}).must(t, 200)
	}
	e.send(req{Method: "PATCH", Path: "/Users/" + idA, Body: patchBody(op(m.opName("add"), mgrPath, idM))}).must(t, 200)
	// Entra's reference check: the user with only its id, or nothing.
	r = e.get("/Users"+m.q("filter", fmt.Sprintf("id eq %s and manager eq %s", idA, idM), "attributes", "id")).must(t, 200)
	if r.num("totalResults") != 1 || r.str("Resources.0.id") != idA || dig(r.JSON, "Resources.0.userName") != nil {
		t.Errorf("manager reference check: %s", r.Body)
	}
	if r = e.get("/Users" + m.q("filter", fmt.Sprintf("id eq %s and manager eq %s", idA, idA), "attributes", "id")); r.num("totalResults") != 0 {
		t.Errorf("manager reference check with the wrong manager: %s", r.Body)
	}

	// 7. Updates.
	idB := e.mkUser("b@contoso.com", map[string]any{"name": map[string]any{"givenName": "B"}})
	var update map[string]any
	if m.compliant {
		update = patchBody(
			op("replace", `emails[type eq "work"].value`, "TestMhvaes@test.microsoft.com"),
			op("replace", "", map[string]any{"displayName": "Bjfe", "name.givenName": "Kkom", "name.familyName": "Unua",
				enterprise + ":employeeNumber": "Aklq"}))
	} else {
		update = patchBody(
			op("Replace", "displayName", "Pvlo"),
			op("Replace", `emails[type eq "work"].value`, "TestBcwqnm@test.microsoft.com"),
			op("Replace", "name.givenName", "Gtfd"),
			op("Replace", "name.familyName", "Pkqf"),
			op("Replace", "externalId", "Eqpj"),
			op("Replace", enterprise+":employeeNumber", "Eqpj"))
	}
	r = e.send(req{Method: "PATCH", Path: "/Users/" + idB, Body: update}).must(t, 200)
	wantUpdate := map[string]string{"displayName": "Pvlo", "emails.0.value": "TestBcwqnm@test.microsoft.com", "emails.0.type": "work",
		"name.givenName": "Gtfd", "name.familyName": "Pkqf", "externalId": "Eqpj", enterprise + ".employeeNumber": "Eqpj"}
	if m.compliant {
		wantUpdate = map[string]string{"displayName": "Bjfe", "emails.0.value": "TestMhvaes@test.microsoft.com", "emails.0.type": "work",
			"name.givenName": "Kkom", "name.familyName": "Unua", enterprise + ".employeeNumber": "Aklq"}
	}
	for _, rr := range []*resp{r, e.get("/Users/"+idB).must(t, 200)} {
		for k, v := range wantUpdate {
			if got := rr.str(k); got != v {
				t.Errorf("after update: %s = %q, want %q", k, got, v)
			}
		}
	}
	// Path-less add with dotted keys (pond/scimitar#123), a filtered
	// replace that must create the missing work phone, roles as JSON-encoded
	// strings, and a primary flag on the work email.
	e.send(req{Method: "PATCH", Path: "/Users/" + idB, Body: patchBody(
		op(m.opName("add"), "", map[string]any{"title": "Bar Foo", "name.formatted": "Foo Bar"}),
		op(m.opName("replace"), `phoneNumbers[type eq "work"].value`, "+1 555 0100"),
		op(m.opName("add"), "roles", []any{map[string]any{"value": `{"id":"06b07648-ecfe-589f-9d2f-6325724a46ee","value":"25","displayName":"Role1234"}`}}),
		op(m.opName("replace"), `emails[type eq "work"].primary`, true),
	)}).must(t, 200)
	r = e.get("/Users/"+idB).must(t, 200)
	for k, v := range map[string]any{
		"title": "Bar Foo", "name.formatted": "Foo Bar", "phoneNumbers.0.type": "work", "phoneNumbers.0.value": "+1 555 0100",
		"roles.0.value":    `{"id":"06b07648-ecfe-589f-9d2f-6325724a46ee","value":"25","displayName":"Role1234"}`,
		"emails.0.primary": true,
	} {
		if got := dig(r.JSON, k); got != v {
			t.Errorf("after add: %s = %v, want %v", k, got, v)
		}
	}

	// 8. Disable, then enable; a disabled user stays readable by id and by
	// filter, with active false.
	for _, step := range []struct {
		value any
		want  bool
	}{{"False", false}, {"True", true}, {false, false}, {true, true}} {
		if m.compliant {
			if s, ok := step.value.(string); ok {
				step.value = s == "True"
			}
		}
		r = e.send(req{Method: "PATCH", Path: "/Users/" + idA, Body: patchBody(op(m.opName("replace"), "active", step.value))}).must(t, 200)
		if got := dig(r.JSON, "active"); got != step.want {
			t.Errorf("PATCH active %v: response active %v", step.value, got)
		}
		if got := dig(e.get("/Users/"+idA).must(t, 200).JSON, "active"); got != step.want {
			t.Errorf("PATCH active %v: GET active %v", step.value, got)
		}
		r = e.get("/Users"+m.q("filter", `userName eq "a@contoso.com"`)).must(t, 200)
		if got := dig(r.JSON, "Resources.0.active"); got != step.want {
			t.Errorf("PATCH active %v: filtered GET active %v", step.value, got)
		}
		if r = e.get("/Users" + m.q("filter", fmt.Sprintf(`active eq %v and userName eq "a@contoso.com"`, step.want))); r.num("totalResults") != 1 {
			t.Errorf("filter active eq %v: %d results", step.want, r.num("totalResults"))
		}
	}

	// 9. Manager cleared in each way the harness and validator use.
	for _, clear := range []map[string]any{
		op("replace", mgrPath, ""), op("replace", mgrPath, map[string]any{"value": ""}), op("remove", mgrPath, nil),
	} {
		e.send(req{Method: "PATCH", Path: "/Users/" + idA, Body: patchBody(op("add", mgrPath, idM))}).must(t, 200)
		e.send(req{Method: "PATCH", Path: "/Users/" + idA, Body: patchBody(clear)}).must(t, 200)
		if got := dig(e.get("/Users/"+idA).must(t, 200).JSON, enterprise+".manager"); got != nil {
			t.Errorf("after %v: manager %v, want none", clear, got)
		}
	}
	if got := e.get("/Users/"+idA).must(t, 200).str(enterprise + ".department"); got != "ZYWTBPDFHIIP" {
		t.Errorf("clearing the manager changed department to %q", got)
	}

	// 10. Groups.
	gq := m.q("excludedAttributes", "members", "filter", `displayName eq "Sales EMEA"`)
	if r := e.get("/Groups"+gq).must(t, 200); r.num("totalResults") != 0 {
		t.Fatalf("group lookup before create: %s", r.Body)
	}
	r = e.send(req{Method: "POST", Path: "/Groups", Body: map[string]any{
		"schemas":    []any{scim.GroupSchema, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"},
		"externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "Sales EMEA",
		"meta": map[string]any{"resourceType": "Group"}}}).must(t, 201)
	gid := r.str("id")
	if l, ok := dig(r.JSON, "members").([]any); !ok || len(l) != 0 {
		t.Errorf("new group: members %v, want []", dig(r.JSON, "members"))
	}
	wantError(t, e.send(req{Method: "POST", Path: "/Groups", Body: map[string]any{
		"schemas": []any{scim.GroupSchema}, "displayName": "SALES emea", "externalId": "x"}}), 409, "uniqueness")
	r = e.get("/Groups/"+gid+"?excludedAttributes=members").must(t, 200)
	if _, ok := r.JSON["members"]; ok {
		t.Errorf("GET group with excludedAttributes=members returned members: %s", r.Body)
	}
	r = e.get("/Groups"+m.q("excludedAttributes", "members", "filter", `displayName eq "sales EMEA"`)).must(t, 200)
	if r.num("totalResults") != 1 || r.str("Resources.0.id") != gid || dig(r.JSON, "Resources.0.members") != nil {
		t.Errorf("group lookup by displayName in another case: %s", r.Body)
	}

	// Members arrive one per request, five at a time, in every shape.
	var ids []string
	for i := range 10 {
		ids = append(ids, e.mkUser(fmt.Sprintf("member%d@contoso.com", i), nil))
	}
	shapes := []func(id string) map[string]any{
		func(id string) map[string]any {
			return op("Add", "members", []any{map[string]any{"$ref": nil, "value": id}})
		},
		func(id string) map[string]any { return op("add", "members", []any{map[string]any{"value": id}}) },
		func(id string) map[string]any { return op("replace", "members", []any{map[string]any{"value": id}}) },
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 5)
	errs := make(chan string, len(ids))
	for i, id := range ids[:8] {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := e.send(req{Method: "PATCH", Path: "/Groups/" + gid, Body: patchBody(shapes[i%len(shapes)](id))})
			if r.Status != 204 {
				errs <- fmt.Sprintf("member %d: status %d: %s", i, r.Status, r.Body)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}
	e.send(req{Method: "PATCH", Path: "/Groups/" + gid, Body: patchBody(op(m.opName("add"), "members",
		[]any{map[string]any{"value": ids[8]}, map[string]any{"value": ids[9]}}))}).must(t, 204)
	if got := e.memberIDs(gid); !sameSet(got, ids) {
		t.Fatalf("members after adds: %v, want %v", got, ids)
	}
	r = e.get("/Users/"+ids[0]).must(t, 200)
	if r.str("groups.0.value") != gid || r.str("groups.0.display") != "Sales EMEA" {
		t.Errorf("user's groups: %v", dig(r.JSON, "groups"))
	}

	// Removals name only the members to remove; repeating one succeeds.
	e.send(req{Method: "PATCH", Path: "/Groups/" + gid, Body: patchBody(
		op("Remove", "members", []any{map[string]any{"$ref": nil, "value": ids[0]}}))}).must(t, 204)
	e.send(req{Method: "PATCH", Path: "/Groups/" + gid, Body: patchBody(
		op("remove", fmt.Sprintf(`members[value eq "%s"]`, ids[1]), nil))}).must(t, 204)
	e.send(req{Method: "PATCH", Path: "/Groups/" + gid, Body: patchBody(
		op("remove", fmt.Sprintf(`members[value eq "%s"]`, ids[1]), nil))}).must(t, 204)
	if got := e.memberIDs(gid); !sameSet(got, ids[2:]) {
		t.Fatalf("members after removals: %v, want %v", got, ids[2:])
	}

	// Renames leave the members alone.
	e.send(req{Method: "PATCH", Path: "/Groups/" + gid, Body: patchBody(op(m.opName("replace"), "displayName", "Sales Europe"))}).must(t, 204)
	e.send(req{Method: "PATCH", Path: "/Groups/" + gid, Body: patchBody(op("replace", "", map[string]any{"displayName": "Sales EU"}))}).must(t, 204)
	e.send(req{Method: "PATCH", Path: "/Groups/" + gid, Body: patchBody(op("replace", "", map[string]any{"externalId": "663fa3a8"}))}).must(t, 204)
	r = e.get("/Groups/"+gid).must(t, 200)
	if r.str("displayName") != "Sales EU" || r.str("externalId") != "663fa3a8" {
		t.Errorf("group after renames: %s", r.Body)
	}
	if got := e.memberIDs(gid); !sameSet(got, ids[2:]) {
		t.Fatalf("renames changed the members: %v", got)
	}

	// 11. Deletes: 204, then 404 for the GET and for a second DELETE.
	e.send(req{Method: "DELETE", Path: "/Users/" + ids[2]}).must(t, 204)
	wantError(t, e.get("/Users/"+ids[2]), 404, "")
	wantError(t, e.send(req{Method: "DELETE", Path: "/Users/" + ids[2]}), 404, "")
	if got := e.memberIDs(gid); !sameSet(got, ids[3:]) {
		t.Errorf("deleting a user left it in its group: %v", got)
	}
	e.send(req{Method: "DELETE", Path: "/Groups/" + gid}).must(t, 204)
	wantError(t, e.get("/Groups/"+gid), 404, "")
	wantError(t, e.send(req{Method: "DELETE", Path: "/Groups/" + gid}), 404, "")
	if r := e.get("/Users/"+ids[3]).must(t, 200); dig(r.JSON, "groups") != nil {
		t.Errorf("deleting a group left it in its members' groups: %v", dig(r.JSON, "groups"))
	}

	// 12. Pagination: pages of five, startIndex echoed, totals stable, no
	// user seen twice.
	total := e.get("/Users?count=0").must(t, 200).num("totalResults")
	if total < 11 {
		t.Fatalf("only %d users for the paging check", total)
	}
	seen := map[string]bool{}
	for start := 1; start <= total; start += 5 {
		r = e.get(fmt.Sprintf("/Users?startIndex=%d&count=5", start)).must(t, 200)
		if r.num("startIndex") != start || r.num("totalResults") != total {
			t.Errorf("page %d: startIndex %d totalResults %d, want %d %d", start, r.num("startIndex"), r.num("totalResults"), start, total)
		}
		l, _ := dig(r.JSON, "Resources").([]any)
		if r.num("itemsPerPage") != len(l) || len(l) != min(5, total-start+1) {
			t.Errorf("page %d: itemsPerPage %d, %d resources", start, r.num("itemsPerPage"), len(l))
		}
		for _, x := range l {
			id := dig(x, "id").(string)
			if seen[id] {
				t.Errorf("user %s on two pages", id)
			}
			seen[id] = true
		}
	}
	if len(seen) != total {
		t.Errorf("pages held %d users, want %d", len(seen), total)
	}

	// 13. /Schemas holds the core User, enterprise User and Group schemas.
	r = e.get("/Schemas").must(t, 200)
	var schemaIDs []string
	for _, x := range dig(r.JSON, "Resources").([]any) {
		schemaIDs = append(schemaIDs, dig(x, "id").(string))
	}
	for _, id := range []string{scim.UserSchema, enterprise, scim.GroupSchema} {
		if !strings.Contains(strings.Join(schemaIDs, " "), id) {
			t.Errorf("/Schemas lacks %s: %v", id, schemaIDs)
		}
	}
}

// sameSet compares two id lists ignoring order.
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	n := map[string]int{}
	for _, x := range a {
		n[x]++
	}
	for _, x := range b {
		n[x]--
	}
	for _, c := range n {
		if c != 0 {
			return false
		}
	}
	return true
}

// normalizeJSON round-trips a value through JSON so that values built in Go
// compare equal to decoded responses.
func normalizeJSON(v any) any {
	b, _ := json.Marshal(v)
	var out any
	json.Unmarshal(b, &out)
	return out
}
