package main

// Identity of users and groups over real HTTP against the real binary
// (issue 10 "externalId is not unique", the primary rule and name
// comparison; issue 11 "Deleted users always come back").

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"scimd/scim"
)

// idsUser is a minimal user body.
func idsUser(userName, externalID string) string {
	ext := ""
	if externalID != "" {
		ext = `,"externalId":` + idsJSON(externalID)
	}
	return fmt.Sprintf(`{"schemas":[%q],"userName":%s,"active":true%s}`, seedCore, idsJSON(userName), ext)
}

// idsJSON is s as a JSON string (Go's %q escapes are not all JSON).
func idsJSON(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func idsDeactivate(s *seedServer, idp, id string) {
	s.t.Helper()
	r := s.doAs(idp, "PATCH", "/Users/"+id, `{"schemas":["`+seedPatchOp+`"],"Operations":[{"op":"replace","value":{"active":false}}]}`).must(s.t, 200)
	if r.json["active"] != false {
		s.t.Fatalf("after deactivation: active %v, want false", r.json["active"])
	}
}

// idsFind returns the ids a filter finds, in order.
func idsFind(s *seedServer, endpoint, filter string) []string {
	s.t.Helper()
	r := s.do("GET", "/"+endpoint+"?count=200&filter="+urlQuery(filter), "").must(s.t, 200)
	var ids []string
	l, _ := r.json["Resources"].([]any)
	for _, el := range l {
		ids = append(ids, el.(map[string]any)["id"].(string))
	}
	return ids
}

func urlQuery(s string) string {
	return strings.NewReplacer("%", "%25", " ", "%20", `"`, "%22", "&", "%26", "+", "%2B", "#", "%23").Replace(s)
}

// TestExternalIDSharedByTwoActiveUsers is Entra's default mapping
// (mailNickname -> externalId) repeating across users: two active users
// with one externalId are two ordinary creates, a PUT giving a third user
// that externalId is an ordinary update, and the filter finds every holder.
func TestExternalIDSharedByTwoActiveUsers(t *testing.T) {
	t.Parallel()
	s := startSeed(t, "")
	a := s.do("POST", "/Users", idsUser("jdoe@contoso.com", "jdoe")).must(t, 201).str("id")
	b := s.do("POST", "/Users", idsUser("jdoe@fabrikam.com", "jdoe")).must(t, 201).str("id")
	if a == b {
		t.Fatalf("the second POST returned the first user %s", a)
	}
	c := s.do("POST", "/Users", idsUser("guest@contoso.com", "other")).must(t, 201).str("id")
	put := s.do("PUT", "/Users/"+c, idsUser("guest@contoso.com", "jdoe")).must(t, 200)
	if put.str("externalId") != "jdoe" || put.str("id") != c {
		t.Fatalf("PUT giving a held externalId: %s", put.body)
	}
	got := idsFind(s, "Users", `externalId eq "jdoe"`)
	if want := []string{a, b, c}; !sameJSON(got, want) {
		t.Errorf(`filter externalId eq "jdoe" found %v, want every holder %v`, got, want)
	}
	for _, id := range []string{a, b, c} {
		if r := s.do("GET", "/Users/"+id, "").must(t, 200); r.json["active"] != true {
			t.Errorf("user %s: active %v, want true", id, r.json["active"])
		}
	}
}

// TestOktaReactivationNewUserName: the inactive holder of the externalId
// comes back under its old id with the new, free userName (201), while an
// active user holding the same externalId is left alone.
func TestOktaReactivationNewUserName(t *testing.T) {
	t.Parallel()
	s := startSeed(t, "")
	const ext = "00u1ab2cd3EF4gh5i6j7"
	old := s.doAs("okta", "POST", "/Users", idsUser("old.name@example.com", ext)).must(t, 201)
	other := s.doAs("okta", "POST", "/Users", idsUser("other@example.com", ext)).must(t, 201).str("id")
	idsDeactivate(s, "okta", old.str("id"))

	back := s.doAs("okta", "POST", "/Users", idsUser("new.name@example.com", ext)).must(t, 201)
	if back.str("id") != old.str("id") {
		t.Fatalf("re-provisioned user has id %q, want the inactive holder %s", back.str("id"), old.str("id"))
	}
	if back.str("userName") != "new.name@example.com" || back.json["active"] != true {
		t.Errorf("re-provisioned user: %s; want the new userName, active", back.body)
	}
	if m := back.json["meta"].(map[string]any); m["created"] != old.json["meta"].(map[string]any)["created"] {
		t.Errorf("re-provisioned user: meta.created %v, want the original", m["created"])
	}
	if r := s.doAs("okta", "GET", "/Users/"+other, "").must(t, 200); r.str("userName") != "other@example.com" || r.json["active"] != true {
		t.Errorf("the active holder of the externalId changed: %s", r.body)
	}
	if got := idsFind(s, "Users", `externalId eq "`+ext+`"`); len(got) != 2 {
		t.Errorf("holders of the externalId: %v, want 2", got)
	}
}

// TestOktaReactivationSameUserName: Okta re-POSTs a deactivated user whose
// userName did not change (in another letter case here); the userName is
// that user's own, so it is reactivated (201, old id), not refused.
func TestOktaReactivationSameUserName(t *testing.T) {
	t.Parallel()
	s := startSeed(t, "")
	const ext = "00u9zz"
	old := s.doAs("okta", "POST", "/Users", idsUser("kim@example.com", ext)).must(t, 201).str("id")
	idsDeactivate(s, "okta", old)
	back := s.doAs("okta", "POST", "/Users", idsUser("Kim@Example.com", ext)).must(t, 201)
	if back.str("id") != old || back.json["active"] != true || back.str("userName") != "Kim@Example.com" {
		t.Fatalf("re-POST of an inactive user's own userName: %s; want id %s, active, userName as sent", back.body, old)
	}
	// Without the externalId, the same POST is a conflict with that user.
	idsDeactivate(s, "okta", old)
	r := s.doAs("okta", "POST", "/Users", idsUser("kim@example.com", ""))
	wantSCIMError(t, r, 409, "uniqueness", old)
}

// TestOktaReactivationNameTakenByAnother: the POST's userName belongs to a
// user other than the inactive holder of its externalId: no reactivation,
// and the 409 names the user that holds the name.
func TestOktaReactivationNameTakenByAnother(t *testing.T) {
	t.Parallel()
	s := startSeed(t, "")
	inactive := s.doAs("okta", "POST", "/Users", idsUser("lee@example.com", "00uLEE")).must(t, 201).str("id")
	idsDeactivate(s, "okta", inactive)
	holder := s.doAs("okta", "POST", "/Users", idsUser("max@example.com", "00uMAX")).must(t, 201).str("id")
	r := s.doAs("okta", "POST", "/Users", idsUser("MAX@example.com", "00uLEE"))
	wantSCIMError(t, r, 409, "uniqueness", holder)
	if got := s.doAs("okta", "GET", "/Users/"+inactive, "").must(t, 200); got.str("userName") != "lee@example.com" || got.json["active"] != false {
		t.Errorf("the inactive holder changed: %s", got.body)
	}
}

// TestOktaReactivationSeveralInactiveHolders: of several inactive users
// holding the externalId, the most recently modified one comes back; the
// next POST takes the next most recent.
func TestOktaReactivationSeveralInactiveHolders(t *testing.T) {
	t.Parallel()
	s := startSeed(t, "")
	const ext = "shared-ext"
	ids := map[string]string{}
	for _, n := range []string{"a", "b", "c", "d"} {
		ids[n] = s.doAs("okta", "POST", "/Users", idsUser(n+"@example.com", ext)).must(t, 201).str("id")
	}
	// Deactivated in the order a, c, b (d stays active); lastModified has
	// millisecond precision, so the steps are kept apart.
	for _, n := range []string{"a", "c", "b"} {
		time.Sleep(5 * time.Millisecond)
		idsDeactivate(s, "okta", ids[n])
	}
	for _, want := range []string{"b", "c", "a"} {
		back := s.doAs("okta", "POST", "/Users", idsUser("back-"+want+"@example.com", ext)).must(t, 201)
		if back.str("id") != ids[want] {
			t.Fatalf("POST with the externalId of several inactive users reactivated %s, want %s (%s), the most recently modified", back.str("id"), want, ids[want])
		}
	}
	// None inactive any more: the next POST is an ordinary create.
	fresh := s.doAs("okta", "POST", "/Users", idsUser("e@example.com", ext)).must(t, 201).str("id")
	for n, id := range ids {
		if fresh == id {
			t.Fatalf("with every holder active, a POST reused %s's id", n)
		}
	}
	if got := idsFind(s, "Users", `externalId eq "`+ext+`"`); len(got) != 5 {
		t.Errorf("holders of the externalId: %d, want 5", len(got))
	}
}

// TestDeletedUserReturnsAfterAnotherCreate is issue 11's sequence with
// on_delete = "deactivate": POST anna, POST bert, DELETE bert, POST carl,
// POST bert. bert comes back under its old id (201), and nothing collides,
// then or after further deletes and returns.
func TestDeletedUserReturnsAfterAnotherCreate(t *testing.T) {
	t.Parallel()
	s := startSeed(t, "[users]\non_delete = \"deactivate\"\n")
	anna := s.do("POST", "/Users", idsUser("anna", "")).must(t, 201).str("id")
	bert := s.do("POST", "/Users", idsUser("bert", "")).must(t, 201).str("id")
	s.do("DELETE", "/Users/"+bert, "").must(t, 204)
	carl := s.do("POST", "/Users", idsUser("carl", "")).must(t, 201).str("id")
	back := s.do("POST", "/Users", idsUser("bert", "")).must(t, 201)
	if back.str("id") != bert {
		t.Fatalf("bert came back as %s, want the old id %s", back.str("id"), bert)
	}
	for name, id := range map[string]string{"anna": anna, "bert": bert, "carl": carl} {
		if r := s.do("GET", "/Users/"+id, "").must(t, 200); r.str("userName") != name {
			t.Errorf("GET %s: userName %q, want %s", id, r.str("userName"), name)
		}
		if got := idsFind(s, "Users", `userName eq "`+name+`"`); !sameJSON(got, []string{id}) {
			t.Errorf("filter userName eq %s: %v, want [%s]", name, got, id)
		}
	}
	// More rounds over the same names: every delete is kept, every return
	// gets its own id back.
	s.do("DELETE", "/Users/"+carl, "").must(t, 204)
	s.do("DELETE", "/Users/"+bert, "").must(t, 204)
	if got := s.do("POST", "/Users", idsUser("carl", "")).must(t, 201).str("id"); got != carl {
		t.Errorf("carl came back as %s, want %s", got, carl)
	}
	if got := s.do("POST", "/Users", idsUser("bert", "")).must(t, 201).str("id"); got != bert {
		t.Errorf("bert came back as %s, want %s", got, bert)
	}
	l := s.do("GET", "/Users?count=10", "").must(t, 200)
	if !sameJSON(l.json["totalResults"], 3) {
		t.Errorf("after the returns: %v users, want 3", l.json["totalResults"])
	}
}

// idsConflictID pulls the id a 409's detail names.
var idsConflictID = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// TestCreateDeleteRecreateConflictsAreFindable drives random sequences of
// creates, deletes (kept, on_delete = "deactivate") and renames over a few
// names typed in several letter cases and Unicode forms, against a model of
// who holds which name. Every answer must be what the model says; in
// particular every 409 names a user that exists, can be read, and holds
// the name, and a kept user always comes back under its old id.
func TestCreateDeleteRecreateConflictsAreFindable(t *testing.T) {
	t.Parallel()
	for _, seed := range []uint64{11, 2026, 7} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			t.Parallel()
			idsRandomNames(t, seed, 300)
		})
	}
}

// idsRandomNames is one random sequence of steps operations.
func idsRandomNames(t *testing.T, seed uint64, steps int) {
	s := startSeed(t, "[users]\non_delete = \"deactivate\"\n")
	forms := [][]string{
		{"anna", "ANNA", "Anna"},
		{"bert", "Bert"},
		{"carl", "CARL"},
		{"Jos\u00e9", "Jose\u0301", "JOS\u00c9", "jOSE\u0301"},
		{"Zo\u00eb", "zoe\u0308"},
	}
	var (
		active = map[int]string{}   // name index -> id of the active user
		kept   = map[int][]string{} // name index -> ids kept by deletes, oldest first
		nameOf = map[string]int{}   // id -> name index of an active user
	)
	rng := rand.New(rand.NewPCG(seed, 2026))
	for step := range steps {
		n := rng.IntN(len(forms))
		form := forms[n][rng.IntN(len(forms[n]))]
		switch op := rng.IntN(10); {
		case op < 5: // create
			what := fmt.Sprintf("step %d: POST %q", step, form)
			r := s.do("POST", "/Users", idsUser(form, ""))
			if holder, ok := active[n]; ok {
				idsWantConflict(t, s, what, r, holder, n, forms)
				continue
			}
			r.must(t, 201)
			id := r.str("id")
			if k := kept[n]; len(k) > 0 {
				if id != k[len(k)-1] {
					t.Fatalf("%s: got id %s, want the most recently deleted %s back", what, id, k[len(k)-1])
				}
				kept[n] = k[:len(k)-1]
			}
			active[n], nameOf[id] = id, n
		case op < 8: // delete
			if len(nameOf) == 0 {
				continue
			}
			id := idsPick(rng, nameOf)
			if r := s.do("DELETE", "/Users/"+id, ""); r.status != 204 {
				t.Fatalf("step %d: DELETE %s: status %d, want 204; body %s", step, id, r.status, r.body)
			}
			m := nameOf[id]
			delete(nameOf, id)
			delete(active, m)
			kept[m] = append(kept[m], id)
		default: // rename
			if len(nameOf) == 0 {
				continue
			}
			id := idsPick(rng, nameOf)
			what := fmt.Sprintf("step %d: rename %s to %q", step, id, form)
			r := s.do("PATCH", "/Users/"+id, `{"schemas":["`+seedPatchOp+`"],"Operations":[{"op":"replace","path":"userName","value":"`+form+`"}]}`)
			if holder, ok := active[n]; ok && holder != id {
				idsWantConflict(t, s, what, r, holder, n, forms)
				continue
			}
			r.must(t, 200)
			delete(active, nameOf[id])
			active[n], nameOf[id] = id, n
		}
	}
	// The directory is what the model says.
	for n, id := range active {
		if got := idsFind(s, "Users", `userName eq "`+forms[n][0]+`"`); !sameJSON(got, []string{id}) {
			t.Errorf("filter userName eq %q: %v, want [%s]", forms[n][0], got, id)
		}
	}
	if l := s.do("GET", "/Users?count=0", "").must(t, 200); !sameJSON(l.json["totalResults"], len(active)) {
		t.Errorf("%v users listed, want %d", l.json["totalResults"], len(active))
	}
}

// idsWantConflict checks a 409 against the model: it names holder, which
// can be read and whose userName is the same name as forms[n].
func idsWantConflict(t *testing.T, s *seedServer, what string, r *seedResp, holder string, n int, forms [][]string) {
	t.Helper()
	if r.status != 409 {
		t.Fatalf("%s: status %d, want 409 naming %s; body %s", what, r.status, holder, r.body)
	}
	named := idsConflictID.FindString(r.str("detail"))
	if named != holder {
		t.Fatalf("%s: the 409 names %q, want the holder %s (detail %q)", what, named, holder, r.str("detail"))
	}
	got := s.do("GET", "/Users/"+named, "")
	if got.status != 200 {
		t.Fatalf("%s: the 409 names %s, which cannot be read (%d)", what, named, got.status)
	}
	if scim.NameKey(got.str("userName")) != scim.NameKey(forms[n][0]) {
		t.Fatalf("%s: the 409 names %s, whose userName %q is another name", what, named, got.str("userName"))
	}
}

func idsPick(rng *rand.Rand, m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys[rng.IntN(len(keys))]
}

// TestUserNameUnicodeFormsConflict: "José" typed with a precomposed é and
// with e + U+0301 is one userName (NFC, then case folding): the second
// POST is a 409 naming the first user, every form finds the user through
// the filter, and the name is returned exactly as it was sent.
func TestUserNameUnicodeFormsConflict(t *testing.T) {
	t.Parallel()
	s := startSeed(t, "")
	const (
		nfc = "Jos\u00e9@example.com"
		nfd = "Jose\u0301@example.com"
	)
	id := s.do("POST", "/Users", idsUser(nfc, "")).must(t, 201).str("id")
	wantSCIMError(t, s.do("POST", "/Users", idsUser(nfd, "")), 409, "uniqueness", id)
	wantSCIMError(t, s.do("POST", "/Users", idsUser("JOSE\u0301@EXAMPLE.COM", "")), 409, "uniqueness", id)
	for _, f := range []string{
		`userName eq "` + nfc + `"`,
		`userName eq "` + nfd + `"`,
		`userName eq "jos\u00c9@example.com"`,
		`userName sw "jose\u0301"`,
		`userName co "s\u00e9@"`,
		`userName ew "E\u0301@example.com"`,
	} {
		if got := idsFind(s, "Users", f); !sameJSON(got, []string{id}) {
			t.Errorf("filter %s: %v, want [%s]", f, got, id)
		}
	}
	if got := s.do("GET", "/Users/"+id, "").must(t, 200).str("userName"); got != nfc {
		t.Errorf("stored userName %q, want %q as sent", got, nfc)
	}
	// A rename of another user to the other form is the same conflict.
	other := s.do("POST", "/Users", idsUser("other@example.com", "")).must(t, 201).str("id")
	r := s.do("PATCH", "/Users/"+other, `{"schemas":["`+seedPatchOp+`"],"Operations":[{"op":"replace","path":"userName","value":"`+nfd+`"}]}`)
	wantSCIMError(t, r, 409, "uniqueness", id)
	// A user sent decomposed keeps its decomposed name.
	d := s.do("POST", "/Users", idsUser("Zoe\u0308", "")).must(t, 201)
	if d.str("userName") != "Zoe\u0308" {
		t.Errorf("userName %q, want the decomposed form as sent", d.str("userName"))
	}
	if got := idsFind(s, "Users", "userName eq \"zo\u00eb\""); !sameJSON(got, []string{d.str("id")}) {
		t.Errorf("precomposed lookup of a decomposed name: %v, want [%s]", got, d.str("id"))
	}
}

// TestGroupDisplayNameUnicodeFormsConflict: the same for group names.
func TestGroupDisplayNameUnicodeFormsConflict(t *testing.T) {
	t.Parallel()
	s := startSeed(t, "")
	body := func(name string) string {
		return fmt.Sprintf(`{"schemas":[%q],"displayName":%s}`, seedGroup, idsJSON(name))
	}
	id := s.do("POST", "/Groups", body("\u00c9quipe Caf\u00e9")).must(t, 201).str("id")
	wantSCIMError(t, s.do("POST", "/Groups", body("E\u0301QUIPE cafe\u0301")), 409, "uniqueness", id)
	if got := idsFind(s, "Groups", "displayName eq \"e\u0301quipe CAF\u00c9\""); !sameJSON(got, []string{id}) {
		t.Errorf("decomposed lookup: %v, want [%s]", got, id)
	}
}

// TestInvalidNamesRefused: empty, blank and control-character names are
// 400 invalidValue on POST, PUT and PATCH, for users and groups; names
// with inner spaces and non-ASCII letters are fine.
func TestInvalidNamesRefused(t *testing.T) {
	t.Parallel()
	s := startSeed(t, "")
	bad := []string{"", " ", "   ", "\t", "\u00a0\u2003", "a\u0000b", "a\nb", "tab\there", "a\u001fb", "del\u007f", "\r"}
	id := s.do("POST", "/Users", idsUser("ok@example.com", "")).must(t, 201).str("id")
	gid := s.do("POST", "/Groups", fmt.Sprintf(`{"schemas":[%q],"displayName":"ok"}`, seedGroup)).must(t, 201).str("id")
	for _, n := range bad {
		q := idsJSON(n)
		wantSCIMError(t, s.do("POST", "/Users", idsUser(n, "")), 400, "invalidValue", "userName")
		wantSCIMError(t, s.do("PUT", "/Users/"+id, idsUser(n, "")), 400, "invalidValue", "userName")
		wantSCIMError(t, s.do("PATCH", "/Users/"+id, `{"schemas":["`+seedPatchOp+`"],"Operations":[{"op":"replace","path":"userName","value":`+q+`}]}`), 400, "invalidValue", "userName")
		wantSCIMError(t, s.do("POST", "/Groups", fmt.Sprintf(`{"schemas":[%q],"displayName":%s}`, seedGroup, q)), 400, "invalidValue", "displayName")
		wantSCIMError(t, s.do("PATCH", "/Groups/"+gid, `{"schemas":["`+seedPatchOp+`"],"Operations":[{"op":"replace","value":{"displayName":`+q+`}}]}`), 400, "invalidValue", "displayName")
	}
	if got := s.do("GET", "/Users/"+id, "").must(t, 200).str("userName"); got != "ok@example.com" {
		t.Errorf("after the refused requests the userName is %q", got)
	}
	for _, n := range []string{"Anna Smith", " padded ", "\u00c5sa \u00d6berg", "\u738b\u82b3"} {
		s.do("POST", "/Users", idsUser(n, "")).must(t, 201)
	}
}

// TestPrimaryAtMostOneOnPostAndPut: RFC 7643 §2.4 allows one primary value
// per multi-valued attribute. As PATCH already does, POST and PUT keep the
// first value marked primary and store the others with primary false.
func TestPrimaryAtMostOneOnPostAndPut(t *testing.T) {
	t.Parallel()
	s := startSeed(t, "")
	primaries := func(r *seedResp, attr string) []any {
		t.Helper()
		var out []any
		l, _ := r.json[attr].([]any)
		for _, el := range l {
			out = append(out, el.(map[string]any)["primary"])
		}
		return out
	}
	post := s.do("POST", "/Users", fmt.Sprintf(`{"schemas":[%q],"userName":"prim@example.com",
		"emails":[{"value":"a@x","type":"work","primary":true},{"value":"b@x","type":"home","primary":true}],
		"roles":[{"value":"r1","primary":"True"},{"value":"r2","primary":"True"},{"value":"r3"}]}`, seedCore)).must(t, 201)
	if got, want := primaries(post, "emails"), []any{true, false}; !sameJSON(got, want) {
		t.Errorf("POST emails primary %v, want %v", got, want)
	}
	if got, want := primaries(post, "roles"), []any{true, false, nil}; !sameJSON(got, want) {
		t.Errorf("POST roles primary %v, want %v", got, want)
	}
	id := post.str("id")
	put := s.do("PUT", "/Users/"+id, fmt.Sprintf(`{"schemas":[%q],"userName":"prim@example.com",
		"phoneNumbers":[{"value":"1"},{"value":"2","primary":true},{"value":"3","primary":true}]}`, seedCore)).must(t, 200)
	if got, want := primaries(put, "phoneNumbers"), []any{nil, true, false}; !sameJSON(got, want) {
		t.Errorf("PUT phoneNumbers primary %v, want %v", got, want)
	}
	get := s.do("GET", "/Users/"+id, "").must(t, 200)
	if got, want := primaries(get, "phoneNumbers"), []any{nil, true, false}; !sameJSON(got, want) {
		t.Errorf("stored phoneNumbers primary %v, want %v", got, want)
	}
}
