package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"scimd/scim"
	"scimd/store"
)

// env is a real server over a real SQLite file in a temporary folder,
// reached over real HTTP, with one token per identity-provider kind.
type env struct {
	t      *testing.T
	st     *store.Store
	srv    *Server
	ts     *httptest.Server
	tokens map[string]string // idp -> secret
	logs   *syncBuffer
}

// syncBuffer is a log sink safe for concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(t *testing.T) *env { return newEnvConfig(t, Config{}) }

func newEnvConfig(t *testing.T, cfg Config) *env {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "scimd.db"), store.Options{})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	srv := New(st, cfg)
	ts := httptest.NewServer(srv.Handler())
	e := &env{t: t, st: st, srv: srv, ts: ts, tokens: map[string]string{}, logs: logs}
	t.Cleanup(func() {
		ts.Close()
		st.Close()
	})
	for _, idp := range []string{"entra", "okta", "generic"} {
		secret, _, err := st.IssueToken(context.Background(), idp, idp, 24*time.Hour)
		if err != nil {
			t.Fatalf("IssueToken: %v", err)
		}
		e.tokens[idp] = secret
	}
	return e
}

// resp is a response read to the end.
type resp struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   map[string]any
}

// req describes one request. Body is sent as is when it is a string or
// []byte, else encoded as JSON. Header overrides the defaults (Entra's).
type req struct {
	Method string
	Path   string // below the base path, or absolute when it starts with "http"
	Body   any
	IDP    string // token to use; "" = entra; "-" = none
	Header map[string]string
}

func (e *env) url(path string) string {
	if strings.HasPrefix(path, "http") {
		return path
	}
	if strings.HasPrefix(path, "/healthz") {
		return e.ts.URL + path
	}
	return e.ts.URL + "/scim/v2" + path
}

func (e *env) send(r req) *resp {
	e.t.Helper()
	var body io.Reader
	switch b := r.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatalf("encode body: %v", err)
		}
		body = bytes.NewReader(j)
	}
	hr, err := http.NewRequest(r.Method, e.url(r.Path), body)
	if err != nil {
		e.t.Fatalf("NewRequest: %v", err)
	}
	// Entra sends no User-Agent at all (entra-id.md §1.1).
	hr.Header["User-Agent"] = nil
	if body != nil {
		hr.Header.Set("Content-Type", "application/scim+json; charset=utf-8")
	}
	switch r.IDP {
	case "-":
	case "":
		hr.Header.Set("Authorization", "Bearer "+e.tokens["entra"])
	default:
		hr.Header.Set("Authorization", "Bearer "+e.tokens[r.IDP])
	}
	for k, v := range r.Header {
		if v == "" {
			hr.Header.Del(k)
		} else {
			hr.Header.Set(k, v)
		}
	}
	res, err := e.ts.Client().Do(hr)
	if err != nil {
		e.t.Fatalf("%s %s: %v", r.Method, r.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("read body: %v", err)
	}
	out := &resp{Status: res.StatusCode, Header: res.Header, Body: b}
	if len(bytes.TrimSpace(b)) > 0 && strings.Contains(res.Header.Get("Content-Type"), "json") {
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(&out.JSON); err != nil {
			e.t.Fatalf("%s %s: response is not a JSON object: %v\n%s", r.Method, r.Path, err, b)
		}
	}
	return out
}

func (e *env) get(path string) *resp { e.t.Helper(); return e.send(req{Method: "GET", Path: path}) }

// must fails the test unless the response has the wanted status.
func (r *resp) must(t *testing.T, status int) *resp {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body: %s", r.Status, status, r.Body)
	}
	return r
}

// str reads a string at a dotted path ("name.givenName", "Resources.0.id").
func (r *resp) str(path string) string {
	v := dig(r.JSON, path)
	s, _ := v.(string)
	return s
}

func (r *resp) num(path string) int {
	n, _ := dig(r.JSON, path).(json.Number)
	i, _ := n.Int64()
	return int(i)
}

// dig follows a dotted path through objects and arrays. A key that is a
// schema URN can be given whole: "urn:...:User.manager.value".
func dig(v any, path string) any {
	if path == "" {
		return v
	}
	var parts []string
	if strings.HasPrefix(path, "urn:") {
		// The URN ends at the first "." after its last ":" ("2.0" has one).
		i := strings.Index(path[strings.LastIndex(path, ":"):], ".")
		if i >= 0 {
			i += strings.LastIndex(path, ":")
		}
		if i < 0 {
			parts = []string{path}
		} else {
			parts = append([]string{path[:i]}, strings.Split(path[i+1:], ".")...)
		}
	} else {
		parts = strings.Split(path, ".")
	}
	for _, p := range parts {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			i := 0
			for _, c := range p {
				if c < '0' || c > '9' {
					return nil
				}
				i = i*10 + int(c-'0')
			}
			if i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// wantError checks an RFC 7644 §3.12 error response.
func wantError(t *testing.T, r *resp, status int, scimType string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body: %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/scim+json" {
		t.Errorf("Content-Type %q, want application/scim+json", ct)
	}
	if got := r.str("status"); got != strconv.Itoa(status) {
		t.Errorf("status field %q (%T), want the string %q", got, dig(r.JSON, "status"), strconv.Itoa(status))
	}
	if got := r.str("scimType"); got != scimType {
		t.Errorf("scimType %q, want %q; detail: %s", got, scimType, r.str("detail"))
	}
	if r.str("detail") == "" {
		t.Errorf("detail is empty")
	}
	if s, _ := dig(r.JSON, "schemas.0").(string); s != scim.ErrorSchema {
		t.Errorf("schemas %v, want [%s]", dig(r.JSON, "schemas"), scim.ErrorSchema)
	}
}

// patchBody wraps operations in a PatchOp request.
func patchBody(ops ...map[string]any) map[string]any {
	l := make([]any, len(ops))
	for i, o := range ops {
		l[i] = o
	}
	return map[string]any{"schemas": []any{scim.PatchSchema}, "Operations": l}
}

func op(name, path string, value any) map[string]any {
	m := map[string]any{"op": name}
	if path != "" {
		m["path"] = path
	}
	if value != nil {
		m["value"] = value
	}
	return m
}

// mkUser creates a user with the given userName and extra attributes.
func (e *env) mkUser(userName string, attrs map[string]any) string {
	e.t.Helper()
	body := map[string]any{"schemas": []any{scim.UserSchema}, "userName": userName}
	for k, v := range attrs {
		body[k] = v
	}
	r := e.send(req{Method: "POST", Path: "/Users", Body: body}).must(e.t, 201)
	return r.str("id")
}

func (e *env) mkGroup(name string, members ...string) string {
	e.t.Helper()
	ms := []any{}
	for _, m := range members {
		ms = append(ms, map[string]any{"value": m})
	}
	r := e.send(req{Method: "POST", Path: "/Groups", Body: map[string]any{
		"schemas": []any{scim.GroupSchema}, "displayName": name, "members": ms}}).must(e.t, 201)
	return r.str("id")
}

// memberIDs lists a group's member ids as read over HTTP, sorted.
func (e *env) memberIDs(groupID string) []string {
	e.t.Helper()
	r := e.get("/Groups/"+groupID).must(e.t, 200)
	var out []string
	l, _ := dig(r.JSON, "members").([]any)
	for _, m := range l {
		out = append(out, dig(m, "value").(string))
	}
	slices.Sort(out)
	return out
}
