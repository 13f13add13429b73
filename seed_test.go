package main

// Seed-profile replays (issue 5). For each app of
// ../shared/spec/seed-profiles.md the real binary is started with the
// configuration that app needs and driven over loopback HTTP with the
// requests Entra ID sends for that app's attribute mapping
// (../shared/spec/entra-id.md): Test Connection, matching lookups in
// precedence order, create, read-back, update, disable, delete and, where the
// app maps them, groups. Then Okta's re-provisioning by externalId and
// [users] on_delete = "deactivate", also over HTTP.

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	seedCore       = "urn:ietf:params:scim:schemas:core:2.0:User"
	seedEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	seedGroup      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	seedList       = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	seedPatchOp    = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
)

// seedBinary returns the scimd binary that TestMain (e2e_test.go) built.
func seedBinary(t *testing.T) string { return e2eBin }

// seedServer is one running "scimd serve" with a fresh database and one
// token per identity provider.
type seedServer struct {
	t      *testing.T
	base   string // http://127.0.0.1:PORT/scim/v2
	tokens map[string]string
	log    *seedLog
}

// seedLog collects the server's stderr and reports the address from its
// "msg=listening addr=HOST:PORT" line.
type seedLog struct {
	mu   sync.Mutex
	b    bytes.Buffer
	addr chan string
	sent bool
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

func (l *seedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Write(p)
	if !l.sent {
		if m := listeningRE.FindSubmatch(l.b.Bytes()); m != nil {
			l.sent = true
			l.addr <- string(m[1])
		}
	}
	return len(p), nil
}

func (l *seedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startSeed writes a config file (listening on 127.0.0.1:0, database in
// t.TempDir(), then extra), issues an entra and an okta token with the CLI,
// and starts the server. It is stopped with SIGINT when the test ends.
func startSeed(t *testing.T, extra string) *seedServer {
	t.Helper()
	bin := seedBinary(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.toml")
	text := fmt.Sprintf("[server]\nlisten = \"127.0.0.1:0\"\n\n[database]\npath = %q\n\n%s\n", filepath.Join(dir, "scimd.db"), extra)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &seedServer{t: t, tokens: map[string]string{}, log: &seedLog{addr: make(chan string, 1)}}
	for _, idp := range []string{"entra", "okta"} {
		cmd := exec.Command(bin, "token", "issue", "--name", idp+"-seed", "--idp", idp, "--config", cfg)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("scimd token issue --idp %s: %v\n%s", idp, err, stderr.Bytes())
		}
		s.tokens[idp] = strings.TrimSpace(string(out))
		if s.tokens[idp] == "" || strings.Contains(s.tokens[idp], "\n") {
			t.Fatalf("scimd token issue printed %q, want the secret alone on one line", out)
		}
	}
	cmd := exec.Command(bin, "serve", "--config", cfg)
	cmd.Stderr = s.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case addr := <-s.log.addr:
		s.base = "http://" + addr + "/scim/v2"
	case err := <-exited:
		t.Fatalf("scimd serve exited before listening: %v\n%s", err, s.log)
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-exited
		t.Fatalf("scimd serve did not log msg=listening within 15s:\n%s", s.log)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("scimd serve exited with %v after SIGINT", err)
			}
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("scimd serve did not stop within 15s of SIGINT")
		}
		if t.Failed() {
			t.Logf("scimd serve log:\n%s", s.log)
		}
	})
	return s
}

// seedResp is a response read to the end.
type seedResp struct {
	method, path string
	status       int
	header       http.Header
	body         []byte
	json         map[string]any
}

var seedClient = &http.Client{Timeout: 20 * time.Second}

// send sends one request the way the identity provider idp does: Entra with
// application/scim+json; charset=utf-8 and no User-Agent (entra-id.md
// §1.1), Okta with application/json. path is below the base path. It does
// not fail the test, so it is safe from several goroutines.
func (s *seedServer) send(idp, method, path, body string) (*seedResp, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	hr, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Authorization", "Bearer "+s.tokens[idp])
	switch idp {
	case "okta":
		hr.Header.Set("User-Agent", "Okta SCIM Client 1.0.0")
		hr.Header.Set("Accept", "application/scim+json")
		if body != "" {
			hr.Header.Set("Content-Type", "application/json")
		}
	default:
		hr.Header["User-Agent"] = nil
		if body != "" {
			hr.Header.Set("Content-Type", "application/scim+json; charset=utf-8")
		}
	}
	res, err := seedClient.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the body: %w", method, path, err)
	}
	r := &seedResp{method: method, path: path, status: res.StatusCode, header: res.Header, body: b}
	if len(bytes.TrimSpace(b)) > 0 {
		if ct := res.Header.Get("Content-Type"); ct != "application/scim+json" {
			return r, fmt.Errorf("%s %s: Content-Type %q, want application/scim+json", method, path, ct)
		}
		r.json = decodeSeed(b)
		if r.json == nil {
			return r, fmt.Errorf("%s %s: body is not a JSON object: %s", method, path, b)
		}
	}
	return r, nil
}

func (s *seedServer) do(method, path, body string) *seedResp {
	s.t.Helper()
	return s.doAs("entra", method, path, body)
}

func (s *seedServer) doAs(idp, method, path, body string) *seedResp {
	s.t.Helper()
	r, err := s.send(idp, method, path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	return r
}

// must fails the test unless the response has the wanted status.
func (r *seedResp) must(t *testing.T, status int) *seedResp {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s %s: status %d, want %d; body: %s", r.method, r.path, r.status, status, r.body)
	}
	return r
}

func (r *seedResp) str(key string) string { s, _ := r.json[key].(string); return s }

// wantSCIMError checks an RFC 7644 §3.12 error and that its detail names
// every one of names.
func wantSCIMError(t *testing.T, r *seedResp, status int, scimType string, names ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s %s: status %d, want %d; body: %s", r.method, r.path, r.status, status, r.body)
	}
	if got := r.str("status"); got != fmt.Sprint(status) {
		t.Errorf("%s %s: error status %q, want %q", r.method, r.path, got, fmt.Sprint(status))
	}
	if got := r.str("scimType"); got != scimType {
		t.Errorf("%s %s: scimType %q, want %q (detail %q)", r.method, r.path, got, scimType, r.str("detail"))
	}
	for _, n := range names {
		if !strings.Contains(r.str("detail"), n) {
			t.Errorf("%s %s: detail %q does not name %q", r.method, r.path, r.str("detail"), n)
		}
	}
}

func decodeSeed(b []byte) map[string]any {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if d.Decode(&m) != nil {
		return nil
	}
	return m
}

// jsonObj decodes a JSON object written in a test.
func jsonObj(t *testing.T, s string) map[string]any {
	t.Helper()
	m := decodeSeed([]byte(s))
	if m == nil {
		t.Fatalf("test body is not a JSON object: %s", s)
	}
	return m
}

// fill replaces $NAME placeholders in a request template.
func fill(tmpl string, kv ...string) string { return strings.NewReplacer(kv...).Replace(tmpl) }

func guid() string {
	var b [16]byte
	rand.Read(b[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// eqFilter is the query string Entra sends to look an object up by its
// matching attribute: filter=userName+eq+%22a%40contoso.com%22.
func eqFilter(attr, value string) string {
	return "filter=" + url.QueryEscape(attr+` eq "`+value+`"`)
}

// testConnection is Entra's Test Connection and start-of-cycle probe: a
// lookup of a random GUID on each matching attribute must be 200 with an
// empty ListResponse, and a wrong token 401 (entra-id.md §1.2).
func (s *seedServer) testConnection(withGroups bool, userAttrs ...string) {
	s.t.Helper()
	paths := []string{}
	for _, a := range userAttrs {
		paths = append(paths, "/Users?"+eqFilter(a, guid()))
	}
	if withGroups {
		paths = append(paths, "/Groups?excludedAttributes=members&"+eqFilter("displayName", guid()))
	}
	for _, p := range paths {
		r := s.do("GET", p, "").must(s.t, 200)
		wantEmptyList(s.t, r)
	}
	bad := *s
	bad.tokens = map[string]string{"entra": "scimd_not-a-real-token"}
	r := bad.do("GET", paths[0], "")
	wantSCIMError(s.t, r, 401, "")
}

func wantEmptyList(t *testing.T, r *seedResp) {
	t.Helper()
	if !sameJSON(r.json["schemas"], []any{seedList}) || !sameJSON(r.json["totalResults"], 0) || !sameJSON(r.json["Resources"], []any{}) {
		t.Fatalf("%s %s: want 200 with an empty ListResponse, got %s", r.method, r.path, r.body)
	}
}

// lookup runs a matching query and returns the one resource it finds, or
// nil for none; more than one is Entra's DuplicateTargetEntries.
func (s *seedServer) lookup(endpoint, attr, value string) map[string]any {
	s.t.Helper()
	q := "/" + endpoint + "?" + eqFilter(attr, value)
	if endpoint == "Groups" {
		q = "/Groups?excludedAttributes=members&" + eqFilter(attr, value)
	}
	r := s.do("GET", q, "").must(s.t, 200)
	l, _ := r.json["Resources"].([]any)
	switch {
	case len(l) == 0 && sameJSON(r.json["totalResults"], 0):
		return nil
	case len(l) == 1 && sameJSON(r.json["totalResults"], 1):
		return l[0].(map[string]any)
	}
	s.t.Fatalf("GET %s: want at most one match, got %s", q, r.body)
	return nil
}

// sameJSON compares two values as JSON documents.
func sameJSON(a, b any) bool { return reflect.DeepEqual(normJSON(a), normJSON(b)) }

func normJSON(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var out any
	d.Decode(&out)
	return out
}

// jsonDiff lists where got differs from want, by path.
func jsonDiff(path string, got, want any) []string {
	got, want = normJSON(got), normJSON(want)
	gm, gok := got.(map[string]any)
	wm, wok := want.(map[string]any)
	if gok && wok {
		var out []string
		keys := map[string]bool{}
		for k := range gm {
			keys[k] = true
		}
		for k := range wm {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			out = append(out, jsonDiff(path+"."+k, gm[k], wm[k])...)
		}
		return out
	}
	gl, gok := got.([]any)
	wl, wok := want.([]any)
	if gok && wok && len(gl) == len(wl) {
		var out []string
		for i := range gl {
			out = append(out, jsonDiff(fmt.Sprintf("%s[%d]", path, i), gl[i], wl[i])...)
		}
		return out
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		return []string{fmt.Sprintf("%s: got %s, want %s", path, g, w)}
	}
	return nil
}

// seedUser is one user as the test expects to read it back.
type seedUser struct {
	id   string
	want map[string]any // every attribute but id, meta and groups
}

// returned is what Entra must read back for a body it sent: the same
// attributes with the same values. Only the documented representations
// differ: booleans sent as the strings "True"/"False" come back as JSON
// booleans, attributes sent under their full core-schema URN
// (urn:...:core:2.0:User:microsoftId, Timeneye) come back under their
// name, and the enterprise manager sent as an id comes back as
// {"value": id, "$ref": ...} (entra-id.md §2.4).
func (s *seedServer) returned(sent map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range normJSON(sent).(map[string]any) {
		if k == "meta" {
			continue
		}
		if name, ok := strings.CutPrefix(k, seedCore+":"); ok {
			k = name
		}
		out[k] = v
	}
	if a, ok := out["active"].(string); ok {
		out["active"] = strings.EqualFold(a, "true")
	}
	if roles, ok := out["roles"].([]any); ok {
		for _, r := range roles {
			m := r.(map[string]any)
			if p, ok := m["primary"].(string); ok {
				m["primary"] = strings.EqualFold(p, "true")
			}
		}
	}
	if ext, ok := out[seedEnterprise].(map[string]any); ok {
		if id, ok := ext["manager"].(string); ok {
			ext["manager"] = map[string]any{"value": id}
		}
		if m, ok := ext["manager"].(map[string]any); ok {
			m["$ref"] = s.base + "/Users/" + m["value"].(string)
		}
	}
	return out
}

// attrsOf is a returned resource without what the server assigns (id,
// meta) and without groups, which the tests check on their own.
func attrsOf(res map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range res {
		switch k {
		case "id", "meta", "groups":
		default:
			out[k] = v
		}
	}
	return out
}

// checkResource compares one returned user or group with what is expected.
func (s *seedServer) checkResource(what string, res map[string]any, id, resourceType string, want map[string]any) {
	s.t.Helper()
	if res["id"] != id {
		s.t.Errorf("%s: id %v, want %s", what, res["id"], id)
	}
	meta, _ := res["meta"].(map[string]any)
	endpoint := "/Users/"
	if resourceType == "Group" {
		endpoint = "/Groups/"
	}
	if meta["resourceType"] != resourceType || meta["location"] != s.base+endpoint+id {
		s.t.Errorf("%s: meta %v, want resourceType %s and location %s", what, meta, resourceType, s.base+endpoint+id)
	}
	if d := jsonDiff("", attrsOf(res), want); len(d) > 0 {
		s.t.Errorf("%s differs from what was sent:\n  %s", what, strings.Join(d, "\n  "))
	}
}

// readBack reads a user by id and by the given matching filter and checks
// both against u.want; it returns the resource read by id.
func (s *seedServer) readBack(u seedUser, matchAttr, matchValue string) map[string]any {
	s.t.Helper()
	byID := s.do("GET", "/Users/"+u.id, "").must(s.t, 200).json
	s.checkResource("GET /Users/"+u.id, byID, u.id, "User", u.want)
	byFilter := s.lookup("Users", matchAttr, matchValue)
	if byFilter == nil {
		s.t.Fatalf("GET /Users?filter=%s eq %q: no match, want user %s", matchAttr, matchValue, u.id)
	}
	if d := jsonDiff("", byFilter, byID); len(d) > 0 {
		s.t.Errorf("user %s read by filter %s differs from read by id:\n  %s", u.id, matchAttr, strings.Join(d, "\n  "))
	}
	return byID
}

// create POSTs a user body and returns it with what should be read back.
func (s *seedServer) create(body string) seedUser {
	s.t.Helper()
	r := s.do("POST", "/Users", body).must(s.t, 201)
	u := seedUser{id: r.str("id"), want: s.returned(jsonObj(s.t, body))}
	if u.id == "" {
		s.t.Fatalf("POST /Users: no id in %s", r.body)
	}
	if loc := r.header.Get("Location"); loc != s.base+"/Users/"+u.id {
		s.t.Errorf("POST /Users: Location %q, want %s", loc, s.base+"/Users/"+u.id)
	}
	s.checkResource("POST /Users response", r.json, u.id, "User", u.want)
	return u
}

// patchUser sends a PatchOp and checks the 200 response against u.want,
// which the caller has already updated.
func (s *seedServer) patchUser(u seedUser, ops string) {
	s.t.Helper()
	r := s.do("PATCH", "/Users/"+u.id, `{"schemas":["`+seedPatchOp+`"],"Operations":[`+ops+`]}`).must(s.t, 200)
	s.checkResource("PATCH /Users/"+u.id+" response", r.json, u.id, "User", u.want)
}

// disable is Entra's deprovisioning PATCH in its default (string) form;
// extra adds operations the mapping sends beside it. The user must stay
// readable with active false, by id and by filter.
func (s *seedServer) disable(u seedUser, matchAttr, matchValue string, extra ...string) {
	s.t.Helper()
	u.want["active"] = false
	ops := append([]string{`{"op":"Replace","path":"active","value":"False"}`}, extra...)
	s.patchUser(u, strings.Join(ops, ","))
	s.readBack(u, matchAttr, matchValue)
}

// deleteUser is Entra's hard delete: 204, then 404 by id, no match by
// filter, and 404 for a second DELETE.
func (s *seedServer) deleteUser(u seedUser, matchAttr, matchValue string) {
	s.t.Helper()
	s.do("DELETE", "/Users/"+u.id, "").must(s.t, 204)
	wantSCIMError(s.t, s.do("GET", "/Users/"+u.id, ""), 404, "")
	if got := s.lookup("Users", matchAttr, matchValue); got != nil {
		s.t.Errorf("deleted user %s is still found by %s: %v", u.id, matchAttr, got)
	}
	wantSCIMError(s.t, s.do("DELETE", "/Users/"+u.id, ""), 404, "")
}

// typed returns the element of want[attr] whose type is typ, creating it.
func typed(want map[string]any, attr, typ string) map[string]any {
	l, _ := want[attr].([]any)
	for _, el := range l {
		if m := el.(map[string]any); m["type"] == typ {
			return m
		}
	}
	m := map[string]any{"type": typ}
	want[attr] = append(l, m)
	return m
}

// primaryRole returns the element of want["roles"] with primary true.
func primaryRole(t *testing.T, want map[string]any) map[string]any {
	t.Helper()
	l, _ := want["roles"].([]any)
	for _, el := range l {
		if m := el.(map[string]any); m["primary"] == true {
			return m
		}
	}
	t.Fatalf("no primary role in %v", want["roles"])
	return nil
}

func sub(want map[string]any, key string) map[string]any {
	m, _ := want[key].(map[string]any)
	if m == nil {
		m = map[string]any{}
		want[key] = m
	}
	return m
}

// workers runs jobs on n goroutines, as Entra does with up to five
// concurrent requests (entra-id.md §6).
func workers(n int, jobs []func()) {
	ch := make(chan func())
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				j()
			}
		}()
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
}

// createGroup looks a group up by displayName (none expected), creates it
// with Entra's body, checks that a duplicate is 409 and that
// excludedAttributes=members is honoured, and returns its id.
func (s *seedServer) createGroup(name string) string {
	s.t.Helper()
	if g := s.lookup("Groups", "displayName", name); g != nil {
		s.t.Fatalf("group %q exists before it was created: %v", name, g)
	}
	ext := guid()
	body := fill(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group","http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
		"externalId":"$EXT","displayName":"$NAME","meta":{"resourceType":"Group"}}`, "$EXT", ext, "$NAME", name)
	r := s.do("POST", "/Groups", body).must(s.t, 201)
	id := r.str("id")
	s.checkResource("POST /Groups response", r.json, id, "Group",
		map[string]any{"schemas": []any{seedGroup}, "externalId": ext, "displayName": name, "members": []any{}})
	wantSCIMError(s.t, s.do("POST", "/Groups", body), 409, "uniqueness")
	g := s.do("GET", "/Groups/"+id+"?excludedAttributes=members", "").must(s.t, 200)
	if _, ok := g.json["members"]; ok {
		s.t.Errorf("GET /Groups/%s?excludedAttributes=members still has members: %s", id, g.body)
	}
	if found := s.lookup("Groups", "displayName", name); found == nil || found["id"] != id {
		s.t.Errorf("group %q not found by displayName after creation: %v", name, found)
	}
	return id
}

// addMembers sends one Entra "Add members" PATCH per (group, user) pair,
// five at a time.
func (s *seedServer) addMembers(pairs [][2]string) {
	s.t.Helper()
	var mu sync.Mutex
	var errs []string
	var jobs []func()
	for _, p := range pairs {
		jobs = append(jobs, func() {
			body := `{"schemas":["` + seedPatchOp + `"],"Operations":[{"op":"Add","path":"members","value":[{"$ref":null,"value":"` + p[1] + `"}]}]}`
			r, err := s.send("entra", "PATCH", "/Groups/"+p[0], body)
			if err == nil && r.status != 204 {
				err = fmt.Errorf("PATCH /Groups/%s adding %s: status %d, want 204; %s", p[0], p[1], r.status, r.body)
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err.Error())
				mu.Unlock()
			}
		})
	}
	workers(5, jobs)
	if len(errs) > 0 {
		s.t.Fatalf("concurrent member additions failed:\n%s", strings.Join(errs, "\n"))
	}
}

// members reads a group's member ids, sorted.
func (s *seedServer) members(groupID string) []string {
	s.t.Helper()
	r := s.do("GET", "/Groups/"+groupID, "").must(s.t, 200)
	var ids []string
	l, _ := r.json["members"].([]any)
	for _, m := range l {
		m := m.(map[string]any)
		ids = append(ids, m["value"].(string))
		if m["$ref"] != s.base+"/Users/"+m["value"].(string) {
			s.t.Errorf("group %s member %v: $ref %v, want %s", groupID, m["value"], m["$ref"], s.base+"/Users/"+m["value"].(string))
		}
	}
	slices.Sort(ids)
	return ids
}

func wantIDs(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

// removeMemberLegacy is Entra's default member removal: Remove on members
// with a value array naming the member (entra-id.md §3.5).
func (s *seedServer) removeMemberLegacy(groupID, userID string) {
	s.t.Helper()
	s.do("PATCH", "/Groups/"+groupID, `{"schemas":["`+seedPatchOp+`"],"Operations":[{"op":"Remove","path":"members","value":[{"$ref":null,"value":"`+userID+`"}]}]}`).must(s.t, 204)
}

// removeMemberFilter is the aadOptscim062020 removal by value filter.
func (s *seedServer) removeMemberFilter(groupID, userID string) {
	s.t.Helper()
	s.do("PATCH", "/Groups/"+groupID, `{"schemas":["`+seedPatchOp+`"],"Operations":[{"op":"remove","path":"members[value eq \"`+userID+`\"]"}]}`).must(s.t, 204)
}

func (s *seedServer) renameGroup(groupID, name string) {
	s.t.Helper()
	s.do("PATCH", "/Groups/"+groupID, `{"schemas":["`+seedPatchOp+`"],"Operations":[{"op":"Replace","path":"displayName","value":"`+name+`"}]}`).must(s.t, 204)
	r := s.do("GET", "/Groups/"+groupID+"?excludedAttributes=members", "").must(s.t, 200)
	if r.str("displayName") != name {
		s.t.Errorf("group %s after rename: displayName %q, want %q", groupID, r.str("displayName"), name)
	}
}

// TestSeedTimeClock365 replays TimeClock 365's mapping (users only,
// matching on userName): userName, active, displayName, the work email,
// externalId, employeeNumber and manager.
func TestSeedTimeClock365(t *testing.T) {
	t.Parallel()
	s := startSeed(t, "")
	s.testConnection(false, "userName")

	tmpl := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
		"externalId":"$EXT","userName":"$UPN","active":"True","displayName":"$NAME",
		"emails":[{"primary":true,"type":"work","value":"$MAIL"}],
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"$EMP"},
		"meta":{"resourceType":"User"}}`
	// The first cycle creates every user, then links managers in extra
	// PATCHes (entra-id.md §2.5 D).
	var users []seedUser
	for i, n := range []string{"Nora Manager", "Otto Manager", "Ada Worker"} {
		upn := strings.ToLower(strings.ReplaceAll(n, " ", ".")) + "@contoso.com"
		if s.lookup("Users", "userName", upn) != nil {
			t.Fatalf("%s found before it was created", upn)
		}
		users = append(users, s.create(fill(tmpl, "$EXT", guid(), "$UPN", upn, "$NAME", n,
			"$MAIL", strings.ReplaceAll(n, " ", ".")+"@Contoso.com", "$EMP", fmt.Sprint(1000+i))))
	}
	nora, otto, ada := users[0], users[1], users[2]
	adaUPN := "ada.worker@contoso.com"

	sub(ada.want, seedEnterprise)["manager"] = map[string]any{"value": nora.id, "$ref": s.base + "/Users/" + nora.id}
	s.patchUser(ada, `{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"`+nora.id+`"}`)
	s.readBack(ada, "userName", adaUPN)

	// A later cycle matches on userName, case-insensitively, and finds the
	// cached id.
	if got := s.lookup("Users", "userName", strings.ToUpper(adaUPN)); got == nil || got["id"] != ada.id {
		t.Fatalf("lookup of %s in upper case: got %v, want user %s", adaUPN, got, ada.id)
	}

	// Update: Entra's default Replace operations.
	ada.want["displayName"] = "Ada Worker-King"
	typed(ada.want, "emails", "work")["value"] = "Ada.King@Contoso.com"
	ada.want["externalId"] = "ada-king"
	sub(ada.want, seedEnterprise)["employeeNumber"] = "2002"
	sub(ada.want, seedEnterprise)["manager"] = map[string]any{"value": otto.id, "$ref": s.base + "/Users/" + otto.id}
	s.patchUser(ada, `{"op":"Replace","path":"displayName","value":"Ada Worker-King"},
		{"op":"Replace","path":"emails[type eq \"work\"].value","value":"Ada.King@Contoso.com"},
		{"op":"Replace","path":"externalId","value":"ada-king"},
		{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"2002"},
		{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"`+otto.id+`"}`)
	s.readBack(ada, "userName", adaUPN)
	s.readBack(nora, "userName", "nora.manager@contoso.com")

	s.disable(ada, "userName", adaUPN)
	s.deleteUser(ada, "userName", adaUPN)
}

// clarizenUser is Clarizen One's mapping, the widest of the four: every
// listed email, phone and address type, roles[primary eq "True"].type and
// .value, and five enterprise attributes with a manager sent as an id.
const clarizenUser = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
	"externalId":"$EXT","userName":"$UPN","active":"True","displayName":"$NAME","title":"Rear Admiral",
	"emails":[{"primary":true,"type":"work","value":"$NAME@Contoso.com"},{"type":"home","value":"home.$UPN"},{"type":"other","value":"other.$UPN"}],
	"preferredLanguage":"en-US",
	"name":{"givenName":"Grace","familyName":"Hopper","formatted":"Grace Brewster Hopper","honorificPrefix":"Dr.","honorificSuffix":"PhD"},
	"addresses":[{"type":"other","formatted":"Building 7, Room 12"},
		{"type":"work","formatted":"1 Navy Way\nArlington, VA 22202\nUS","streetAddress":"1 Navy Way","locality":"Arlington","region":"VA","postalCode":"22202","country":"US","primary":true}],
	"phoneNumbers":[{"type":"work","value":"+1 703 555 0100","primary":true},{"type":"mobile","value":"+1 (703) 555-0101"},
		{"type":"fax","value":"+1 703 555 0102"},{"type":"home","value":"703.555.0103"},{"type":"other","value":"0049 30 1234567"},{"type":"pager","value":"555-0105"}],
	"nickName":"Amazing Grace","locale":"en-US","timezone":"America/New_York","userType":"Member",
	"roles":[{"primary":"True","type":"WindowsAzureActiveDirectoryRole","value":"User"}],
	"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Research","employeeNumber":"$EMP","costCenter":"CC-42","division":"Computing"$MANAGER},
	"meta":{"resourceType":"User"}}`

func clarizenBody(upn, name, emp, manager string) string {
	m := ""
	if manager != "" {
		m = `,"manager":"` + manager + `"`
	}
	return fill(clarizenUser, "$EXT", guid(), "$UPN", upn, "$NAME", name, "$EMP", emp, "$MANAGER", m)
}

// TestSeedClarizenOne replays Clarizen One's user mapping and its group
// mapping (displayName, externalId, members).
func TestSeedClarizenOne(t *testing.T) {
	t.Parallel()
	s := startSeed(t, "")
	s.testConnection(true, "userName")

	mgr := s.create(clarizenBody("mgr@contoso.com", "Mgr", "E-1", ""))
	mgr2 := s.create(clarizenBody("mgr2@contoso.com", "Mgr2", "E-2", ""))
	const upn = "grace.hopper@contoso.com"
	if s.lookup("Users", "userName", upn) != nil {
		t.Fatalf("%s found before it was created", upn)
	}
	grace := s.create(clarizenBody(upn, "Grace.Hopper", "E-1906", mgr.id))
	s.readBack(grace, "userName", upn)
	// Entra's other documented user lookups work on what it sent.
	if got := s.lookup("Users", `emails[type eq "work"].value`, "grace.hopper@contoso.com"); got == nil || got["id"] != grace.id {
		t.Errorf(`lookup by emails[type eq "work"].value: got %v, want user %s`, got, grace.id)
	}
	if got := s.lookup("Users", "externalId", grace.want["externalId"].(string)); got == nil || got["id"] != grace.id {
		t.Errorf("lookup by externalId: got %v, want user %s", got, grace.id)
	}

	// Update, default shapes: one PATCH with a Replace per changed mapping.
	w := grace.want
	w["displayName"], w["title"], w["preferredLanguage"] = "Grace M. Hopper", "Commodore", "en-GB"
	typed(w, "emails", "work")["value"] = "Grace.M.Hopper@Contoso.com"
	typed(w, "emails", "home")["value"] = "gmh@example.net"
	sub(w, "name")["givenName"] = "Grace M."
	sub(w, "name")["honorificSuffix"] = "PhD, DSc"
	typed(w, "addresses", "work")["locality"] = "Washington"
	typed(w, "addresses", "work")["postalCode"] = "20001"
	typed(w, "addresses", "other")["formatted"] = "Building 9"
	typed(w, "phoneNumbers", "pager")["value"] = "+1 202 555 0199"
	primaryRole(t, w)["value"] = "Admin"
	primaryRole(t, w)["type"] = "ClarizenRole"
	sub(w, seedEnterprise)["department"] = "Fleet"
	sub(w, seedEnterprise)["manager"] = map[string]any{"value": mgr2.id, "$ref": s.base + "/Users/" + mgr2.id}
	s.patchUser(grace, `{"op":"Replace","path":"displayName","value":"Grace M. Hopper"},
		{"op":"Replace","path":"title","value":"Commodore"},
		{"op":"Replace","path":"preferredLanguage","value":"en-GB"},
		{"op":"Replace","path":"emails[type eq \"work\"].value","value":"Grace.M.Hopper@Contoso.com"},
		{"op":"Replace","path":"emails[type eq \"home\"].value","value":"gmh@example.net"},
		{"op":"Replace","path":"name.givenName","value":"Grace M."},
		{"op":"Replace","path":"name.honorificSuffix","value":"PhD, DSc"},
		{"op":"Replace","path":"addresses[type eq \"work\"].locality","value":"Washington"},
		{"op":"Replace","path":"addresses[type eq \"work\"].postalCode","value":"20001"},
		{"op":"Replace","path":"addresses[type eq \"other\"].formatted","value":"Building 9"},
		{"op":"Replace","path":"phoneNumbers[type eq \"pager\"].value","value":"+1 202 555 0199"},
		{"op":"Replace","path":"roles[primary eq \"True\"].value","value":"Admin"},
		{"op":"Replace","path":"roles[primary eq \"True\"].type","value":"ClarizenRole"},
		{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"Fleet"},
		{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"`+mgr2.id+`"}`)
	s.readBack(grace, "userName", upn)

	// Update, aadOptscim062020 shapes: a path-less replace with dotted and
	// URN-qualified keys.
	sub(w, "name")["familyName"] = "Hopper-Murray"
	w["nickName"], w["locale"] = "Grandma COBOL", "en-GB"
	sub(w, seedEnterprise)["costCenter"] = "CC-7"
	sub(w, seedEnterprise)["division"] = "Languages"
	s.patchUser(grace, `{"op":"replace","value":{"name.familyName":"Hopper-Murray","nickName":"Grandma COBOL","locale":"en-GB",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter":"CC-7",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division":"Languages"}}`)
	s.readBack(grace, "userName", upn)

	// Groups: created empty, members added one per PATCH by five workers.
	var team []seedUser
	for i := range 8 {
		team = append(team, s.create(clarizenBody(fmt.Sprintf("member%d@contoso.com", i), fmt.Sprintf("Member%d", i), fmt.Sprint(i), "")))
	}
	gid := s.createGroup("Clarizen Project Managers")
	var pairs [][2]string
	var all []string
	for _, u := range team {
		pairs = append(pairs, [2]string{gid, u.id})
		all = append(all, u.id)
	}
	s.addMembers(pairs)
	wantIDs(t, "members after concurrent additions", s.members(gid), all...)

	s.removeMemberLegacy(gid, team[0].id)
	wantIDs(t, "members after the legacy Remove of one", s.members(gid), all[1:]...)
	s.removeMemberFilter(gid, team[1].id)
	wantIDs(t, "members after remove members[value eq]", s.members(gid), all[2:]...)
	s.removeMemberFilter(gid, team[1].id) // Entra retries; removing twice succeeds
	s.renameGroup(gid, "Clarizen PMs")
	wantIDs(t, "members after the rename", s.members(gid), all[2:]...)
	if got := s.lookup("Groups", "displayName", "clarizen pms"); got == nil || got["id"] != gid {
		t.Errorf("renamed group not found by its new displayName: %v", got)
	}

	s.disable(grace, "userName", upn)
	s.deleteUser(grace, "userName", upn)
	s.deleteUser(team[2], "userName", "member2@contoso.com")
	wantIDs(t, "members after a member was deleted", s.members(gid), all[3:]...)
}

// timeneyeConfig declares Timeneye's two custom attributes, which sit in
// the core User schema's namespace. emails cannot be declared (it is a
// core attribute already; see TestSeedTimeneyeEmailsNotDeclarable), so
// "email must be lower case" is met by Entra's ToLower() in the mapping and
// scimd stores userName as sent.
const timeneyeConfig = `
[[attributes]]
name = "urn:ietf:params:scim:schemas:core:2.0:User:microsoftId"
type = "string"
filterable = true

[[attributes]]
name = "urn:ietf:params:scim:schemas:core:2.0:User:role"
type = "string"
canonical_values = ["owner", "admin", "member"]
`

const (
	timeneyeMicrosoftID = "urn:ietf:params:scim:schemas:core:2.0:User:microsoftId"
	timeneyeRole        = "urn:ietf:params:scim:schemas:core:2.0:User:role"
)

// timeneyeUser is Timeneye's hand-entered mapping: active goes to both
// active and its URN-qualified twin as the strings "True"/"False", and the
// custom attributes are sent under their full URN.
const timeneyeUser = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
	"userName":"$UPN","active":"True","urn:ietf:params:scim:schemas:core:2.0:User:active":"True",
	"displayName":"$NAME","title":"Engineer","name":{"formatted":"$NAME"},
	"urn:ietf:params:scim:schemas:core:2.0:User:microsoftId":"$OID",
	"urn:ietf:params:scim:schemas:core:2.0:User:role":"$ROLE",
	"meta":{"resourceType":"User"}}`

// TestSeedTimeneye replays Timeneye's mapping: matching on microsoftId
// first, then userName; role restricted to owner, admin and member.
func TestSeedTimeneye(t *testing.T) {
	t.Parallel()
	s := startSeed(t, timeneyeConfig)
	s.testConnection(false, timeneyeMicrosoftID, "userName")

	oid := guid()
	const upn = "ada.lovelace@contoso.com" // ToLower([userPrincipalName])
	// Matching precedence: microsoftId, then userName; neither matches.
	if s.lookup("Users", timeneyeMicrosoftID, oid) != nil || s.lookup("Users", "userName", upn) != nil {
		t.Fatal("user found before it was created")
	}
	ada := s.create(fill(timeneyeUser, "$UPN", upn, "$NAME", "Ada Lovelace", "$OID", oid, "$ROLE", "admin"))
	s.readBack(ada, timeneyeMicrosoftID, oid)
	s.readBack(ada, "userName", upn)

	// The next cycle matches on microsoftId (precedence 1), by the name
	// Entra uses and by the short name; the attribute is not case-exact.
	for _, q := range []struct{ attr, value string }{
		{timeneyeMicrosoftID, oid},
		{"microsoftId", oid},
		{timeneyeMicrosoftID, strings.ToUpper(oid)},
	} {
		if got := s.lookup("Users", q.attr, q.value); got == nil || got["id"] != ada.id {
			t.Errorf("lookup %s eq %q: got %v, want user %s", q.attr, q.value, got, ada.id)
		}
	}
	// Another user is not matched by ada's microsoftId.
	bob := s.create(fill(timeneyeUser, "$UPN", "bob@contoso.com", "$NAME", "Bob", "$OID", guid(), "$ROLE", "member"))
	if got := s.lookup("Users", timeneyeMicrosoftID, oid); got == nil || got["id"] != ada.id {
		t.Errorf("lookup by ada's microsoftId with two users: got %v", got)
	}

	// Updates: URN paths, and a path-less replace with URN-qualified keys.
	ada.want["title"], ada.want["role"] = "Lead Engineer", "owner"
	sub(ada.want, "name")["formatted"] = "Ada King"
	s.patchUser(ada, `{"op":"Replace","path":"title","value":"Lead Engineer"},
		{"op":"Replace","path":"name.formatted","value":"Ada King"},
		{"op":"Replace","path":"urn:ietf:params:scim:schemas:core:2.0:User:role","value":"owner"}`)
	s.readBack(ada, timeneyeMicrosoftID, oid)

	newOID := guid()
	ada.want["displayName"], ada.want["role"], ada.want["microsoftId"] = "Ada King", "member", newOID
	s.patchUser(ada, `{"op":"replace","value":{"displayName":"Ada King",
		"urn:ietf:params:scim:schemas:core:2.0:User:role":"member",
		"urn:ietf:params:scim:schemas:core:2.0:User:microsoftId":"`+newOID+`"}}`)
	s.readBack(ada, timeneyeMicrosoftID, newOID)
	if got := s.lookup("Users", timeneyeMicrosoftID, oid); got != nil {
		t.Errorf("lookup by the old microsoftId still finds %v", got["id"])
	}

	// Deprovisioned users stay, inactive; Timeneye's mapping sends active
	// twice.
	s.disable(ada, timeneyeMicrosoftID, newOID,
		`{"op":"Replace","path":"urn:ietf:params:scim:schemas:core:2.0:User:active","value":"False"}`)
	s.readBack(ada, "userName", upn)
	s.readBack(bob, "userName", "bob@contoso.com")
	s.deleteUser(ada, timeneyeMicrosoftID, newOID)
}

// TestSeedTimeneyeRoleOutsideCanonicalValues: a role other than owner,
// admin or member is 400 invalidValue naming the attribute, on POST and on
// PATCH, and changes nothing.
func TestSeedTimeneyeRoleOutsideCanonicalValues(t *testing.T) {
	t.Parallel()
	s := startSeed(t, timeneyeConfig)
	oid := guid()
	r := s.do("POST", "/Users", fill(timeneyeUser, "$UPN", "eve@contoso.com", "$NAME", "Eve", "$OID", oid, "$ROLE", "superuser"))
	wantSCIMError(t, r, 400, "invalidValue", "role", "superuser")
	if got := s.lookup("Users", timeneyeMicrosoftID, oid); got != nil {
		t.Fatalf("a rejected POST created a user: %v", got)
	}

	eve := s.create(fill(timeneyeUser, "$UPN", "eve@contoso.com", "$NAME", "Eve", "$OID", oid, "$ROLE", "member"))
	for _, ops := range []string{
		`{"op":"Replace","path":"urn:ietf:params:scim:schemas:core:2.0:User:role","value":"superuser"}`,
		`{"op":"replace","value":{"displayName":"Eve 2","urn:ietf:params:scim:schemas:core:2.0:User:role":"superuser"}}`,
	} {
		r := s.do("PATCH", "/Users/"+eve.id, `{"schemas":["`+seedPatchOp+`"],"Operations":[`+ops+`]}`)
		wantSCIMError(t, r, 400, "invalidValue", "role", "superuser")
		s.readBack(eve, timeneyeMicrosoftID, oid)
	}
}

// TestSeedTimeneyeEmailsNotDeclarable pins what the README says about
// Timeneye's lower-case emails: emails is a core attribute, so it cannot be
// re-declared with lowercase = true, and the server refuses to start.
func TestSeedTimeneyeEmailsNotDeclarable(t *testing.T) {
	t.Parallel()
	bin := seedBinary(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.toml")
	text := fmt.Sprintf("[database]\npath = %q\n\n[[attributes]]\nname = \"urn:ietf:params:scim:schemas:core:2.0:User:emails\"\ntype = \"string\"\nlowercase = true\n", filepath.Join(dir, "x.db"))
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "serve", "--config", cfg).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "emails") || !strings.Contains(string(out), "already defined") {
		t.Fatalf("serve with a declaration of emails: err %v, output %q; want a start-up error naming emails as already defined", err, out)
	}
}

// trackTikUser is the default mapping of a non-gallery app, which TrackTik
// asks admins to keep unchanged.
const trackTikUser = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
	"externalId":"$NICK","userName":"$NICK@contoso.com","active":"True","displayName":"$NAME","title":"Security Officer",
	"emails":[{"primary":true,"type":"work","value":"$NICK@contoso.com"}],
	"preferredLanguage":"fr-CA",
	"name":{"givenName":"$NAME","familyName":"Tremblay","formatted":"$NAME Tremblay"},
	"addresses":[{"type":"work","formatted":"400 Rue Sainte-Catherine, Montréal","streetAddress":"400 Rue Sainte-Catherine","locality":"Montréal","region":"QC","postalCode":"H3B 1A6","country":"CA","primary":true}],
	"phoneNumbers":[{"type":"work","value":"+1 514 555 0100"},{"type":"mobile","value":"+1 514 555 0101"},{"type":"fax","value":"+1 514 555 0102"}],
	"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"$EMP","department":"Patrol"},
	"meta":{"resourceType":"User"}}`

// TestSeedTrackTik replays TrackTik: users become employees and groups
// become roles, so each user lists the groups it holds; groups are created,
// updated and deleted.
func TestSeedTrackTik(t *testing.T) {
	t.Parallel()
	s := startSeed(t, "")
	s.testConnection(true, "userName")

	// All members of an assigned group are provisioned, five at a time.
	names := []string{"Alice", "Benoit", "Chloe", "David", "Elodie", "Farid"}
	users := make([]seedUser, len(names))
	var mu sync.Mutex
	var errs []string
	var jobs []func()
	for i, n := range names {
		jobs = append(jobs, func() {
			r, err := s.send("entra", "POST", "/Users", fill(trackTikUser, "$NICK", strings.ToLower(n), "$NAME", n, "$EMP", fmt.Sprint(500+i)))
			if err == nil && r.status != 201 {
				err = fmt.Errorf("POST /Users %s: status %d; %s", n, r.status, r.body)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err.Error())
				return
			}
			users[i] = seedUser{id: r.str("id")}
		})
	}
	workers(5, jobs)
	if len(errs) > 0 {
		t.Fatalf("concurrent creates failed:\n%s", strings.Join(errs, "\n"))
	}
	for i, n := range names {
		users[i].want = s.returned(jsonObj(t, fill(trackTikUser, "$NICK", strings.ToLower(n), "$NAME", n, "$EMP", fmt.Sprint(500+i))))
		s.readBack(users[i], "userName", strings.ToLower(n)+"@contoso.com")
	}

	guard := s.createGroup("Guard")
	sup := s.createGroup("Site Supervisor")
	var pairs [][2]string
	for i, u := range users {
		pairs = append(pairs, [2]string{guard, u.id})
		if i < 3 {
			pairs = append(pairs, [2]string{sup, u.id})
		}
	}
	s.addMembers(pairs)
	ids := func(l []seedUser) []string {
		var out []string
		for _, u := range l {
			out = append(out, u.id)
		}
		return out
	}
	wantIDs(t, "Guard members", s.members(guard), ids(users)...)
	wantIDs(t, "Site Supervisor members", s.members(sup), ids(users[:3])...)

	// rolesOf reads the groups (roles) a user holds, as "id=display".
	rolesOf := func(u seedUser) []string {
		t.Helper()
		r := s.do("GET", "/Users/"+u.id, "").must(t, 200)
		var out []string
		l, _ := r.json["groups"].([]any)
		for _, g := range l {
			g := g.(map[string]any)
			out = append(out, fmt.Sprint(g["value"], "=", g["display"]))
			if g["$ref"] != s.base+"/Groups/"+fmt.Sprint(g["value"]) {
				t.Errorf("user %s group %v: $ref %v", u.id, g["value"], g["$ref"])
			}
		}
		slices.Sort(out)
		return out
	}
	wantIDs(t, "Alice's roles", rolesOf(users[0]), guard+"=Guard", sup+"=Site Supervisor")
	wantIDs(t, "Farid's roles", rolesOf(users[5]), guard+"=Guard")

	// A user's update does not touch its roles.
	a := users[0]
	typed(a.want, "emails", "work")["value"] = "alice.t@contoso.com"
	typed(a.want, "addresses", "work")["locality"] = "Laval"
	typed(a.want, "phoneNumbers", "mobile")["value"] = "+1 450 555 0199"
	a.want["title"] = "Site Lead"
	sub(a.want, "name")["familyName"] = "Gagnon"
	sub(a.want, seedEnterprise)["department"] = "Supervision"
	s.patchUser(a, `{"op":"Replace","path":"emails[type eq \"work\"].value","value":"alice.t@contoso.com"},
		{"op":"Replace","path":"addresses[type eq \"work\"].locality","value":"Laval"},
		{"op":"Replace","path":"phoneNumbers[type eq \"mobile\"].value","value":"+1 450 555 0199"},
		{"op":"replace","value":{"title":"Site Lead","name.familyName":"Gagnon",
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"Supervision"}}`)
	s.readBack(a, "userName", "alice@contoso.com")
	wantIDs(t, "Alice's roles after her update", rolesOf(a), guard+"=Guard", sup+"=Site Supervisor")

	// Role changes: two removal shapes, a rename, a deletion.
	s.removeMemberLegacy(sup, users[1].id)
	s.removeMemberFilter(guard, users[2].id)
	wantIDs(t, "Benoit's roles", rolesOf(users[1]), guard+"=Guard")
	wantIDs(t, "Chloe's roles", rolesOf(users[2]), sup+"=Site Supervisor")
	s.renameGroup(sup, "Supervisor")
	wantIDs(t, "Alice's roles after the rename", rolesOf(a), guard+"=Guard", sup+"=Supervisor")
	wantIDs(t, "Chloe's roles after the rename", rolesOf(users[2]), sup+"=Supervisor")

	// A disabled employee keeps the roles; a deleted one leaves them.
	s.disable(users[3], "userName", "david@contoso.com")
	wantIDs(t, "disabled David's roles", rolesOf(users[3]), guard+"=Guard")
	s.deleteUser(users[4], "userName", "elodie@contoso.com")
	wantIDs(t, "Guard members after Elodie's deletion", s.members(guard), users[0].id, users[1].id, users[3].id, users[5].id)

	s.do("DELETE", "/Groups/"+guard, "").must(t, 204)
	wantSCIMError(t, s.do("GET", "/Groups/"+guard, ""), 404, "")
	if got := s.lookup("Groups", "displayName", "Guard"); got != nil {
		t.Errorf("deleted group still found: %v", got)
	}
	wantIDs(t, "Alice's roles after Guard was deleted", rolesOf(a), sup+"=Supervisor")
	wantIDs(t, "Farid's roles after Guard was deleted", rolesOf(users[5]), []string{}...)
}

// oktaUser is the body Okta POSTs (okta-and-peers.md), with its placeholder
// password.
const oktaUser = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"$UPN",
	"name":{"givenName":"Test","familyName":"User"},"emails":[{"primary":true,"value":"$UPN","type":"work"}],
	"displayName":"Test User","locale":"en-US","externalId":"$EXT","groups":[],"password":"1mP0ssible!","active":true}`

// TestSeedOktaReprovisionByExternalID: Okta re-assigns a deactivated user
// whose userName changed by POSTing a new user with the same externalId;
// scimd reactivates the old one (201, old id). Once that user is active
// again, a POST with its externalId and another userName is an ordinary
// create: externalId is not unique (RFC 7643 §3.1).
func TestSeedOktaReprovisionByExternalID(t *testing.T) {
	t.Parallel()
	s := startSeed(t, "")
	const ext = "00u1ab2cd3EF4gh5i6j7"
	first := s.doAs("okta", "POST", "/Users", fill(oktaUser, "$UPN", "old.name@example.com", "$EXT", ext)).must(t, 201)
	id := first.str("id")
	created := first.json["meta"].(map[string]any)["created"]

	r := s.doAs("okta", "PATCH", "/Users/"+id, `{"schemas":["`+seedPatchOp+`"],"Operations":[{"op":"replace","value":{"active":false}}]}`).must(t, 200)
	if r.json["active"] != false {
		t.Fatalf("after Okta's deactivation: active %v, want false", r.json["active"])
	}
	// Okta's existence check uses the new userName and misses.
	r = s.doAs("okta", "GET", "/Users?"+eqFilter("userName", "new.name@example.com")+"&startIndex=1&count=100", "").must(t, 200)
	wantEmptyList(t, r)

	again := s.doAs("okta", "POST", "/Users", fill(oktaUser, "$UPN", "new.name@example.com", "$EXT", ext)).must(t, 201)
	if again.str("id") != id {
		t.Fatalf("re-provisioned user has id %q, want the old id %s", again.str("id"), id)
	}
	got := s.doAs("okta", "GET", "/Users/"+id, "").must(t, 200)
	if got.str("userName") != "new.name@example.com" || got.json["active"] != true || got.str("externalId") != ext {
		t.Errorf("re-provisioned user: %s; want the new userName, active, same externalId", got.body)
	}
	if m := got.json["meta"].(map[string]any); m["created"] != created {
		t.Errorf("re-provisioned user: meta.created %v, want the original %v", m["created"], created)
	}
	l := s.doAs("okta", "GET", "/Users?startIndex=1&count=100", "").must(t, 200)
	if !sameJSON(l.json["totalResults"], 1) {
		t.Errorf("after re-provisioning: %v users, want 1", l.json["totalResults"])
	}

	// Now the user holding the externalId is active: a third POST with it
	// creates another user, and takes nothing over.
	third := s.doAs("okta", "POST", "/Users", fill(oktaUser, "$UPN", "third.name@example.com", "$EXT", ext)).must(t, 201)
	if third.str("id") == id {
		t.Fatalf("a POST with the externalId of an active user took that user over (id %s)", id)
	}
	got = s.doAs("okta", "GET", "/Users/"+id, "").must(t, 200)
	if got.str("userName") != "new.name@example.com" || got.json["active"] != true {
		t.Errorf("after the third POST: %s; want new.name@example.com, still active", got.body)
	}
	l = s.doAs("okta", "GET", "/Users?"+eqFilter("externalId", ext), "").must(t, 200)
	if !sameJSON(l.json["totalResults"], 2) {
		t.Errorf("filter externalId eq %q: %v users, want both holders", ext, l.json["totalResults"])
	}
}

// TestSeedOnDeleteDeactivate: with [users] on_delete = "deactivate", DELETE
// hides the user (204, then 404) and drops its memberships; a later POST of
// the same userName brings the record back under its old id.
func TestSeedOnDeleteDeactivate(t *testing.T) {
	t.Parallel()
	s := startSeed(t, "[users]\non_delete = \"deactivate\"\n")
	const upn = "ivy@contoso.com"
	body := fill(trackTikUser, "$NICK", "ivy", "$NAME", "Ivy", "$EMP", "77")
	ivy := s.create(body)
	created := s.do("GET", "/Users/"+ivy.id, "").must(t, 200).json["meta"].(map[string]any)["created"]
	gid := s.createGroup("Night Shift")
	s.addMembers([][2]string{{gid, ivy.id}})

	s.do("DELETE", "/Users/"+ivy.id, "").must(t, 204)
	wantSCIMError(t, s.do("GET", "/Users/"+ivy.id, ""), 404, "")
	if got := s.lookup("Users", "userName", upn); got != nil {
		t.Fatalf("deleted user still found: %v", got)
	}
	wantIDs(t, "members after the user's deletion", s.members(gid), []string{}...)
	wantSCIMError(t, s.do("PATCH", "/Users/"+ivy.id, `{"schemas":["`+seedPatchOp+`"],"Operations":[{"op":"Replace","path":"active","value":"True"}]}`), 404, "")
	wantSCIMError(t, s.do("DELETE", "/Users/"+ivy.id, ""), 404, "")

	// Entra re-creates the user when it is assigned again.
	body = strings.Replace(body, `"userName":"ivy@contoso.com"`, `"userName":"IVY@contoso.com"`, 1)
	r := s.do("POST", "/Users", body).must(t, 201)
	if r.str("id") != ivy.id {
		t.Fatalf("POST of the same userName: id %q, want the old id %s", r.str("id"), ivy.id)
	}
	ivy.want = s.returned(jsonObj(t, body))
	s.readBack(ivy, "userName", upn)
	got := s.do("GET", "/Users/"+ivy.id, "").must(t, 200)
	if m := got.json["meta"].(map[string]any); m["created"] != created {
		t.Errorf("reactivated user: meta.created %v, want the original %v", m["created"], created)
	}
	if _, ok := got.json["groups"]; ok {
		t.Errorf("reactivated user has groups again: %v", got.json["groups"])
	}
}
