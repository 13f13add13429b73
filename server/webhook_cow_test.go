package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"scimd/store"
	"scimd/webhook"
)

// TestWebhookEventsKeepTheirVersion: a resource event does not copy its
// resource's document (migration 0012) but reads it from the resource's
// row when it is delivered. A user and a group changed several times, and
// then deleted, while the receiver is down still give one event per change,
// each carrying the resource exactly as GET returned it right after that
// change; and a replay afterwards sends the same ids with the same data.
func TestWebhookEventsKeepTheirVersion(t *testing.T) {
	ctx := context.Background()
	h := newHookStack(t)
	st, srv, base := h.st, h.srv, h.base

	type delivery struct {
		id   string
		typ  string
		data map[string]any
	}
	var (
		up  atomic.Bool // the receiver answers 503 until up
		mu  sync.Mutex
		got []delivery
	)
	rx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var body struct {
			Type string
			Data map[string]any
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("body: %v", err)
		}
		mu.Lock()
		got = append(got, delivery{r.Header.Get("webhook-id"), body.Type, body.Data})
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rx.Close()
	key, err := webhook.ParseSecret(benchSecret)
	if err != nil {
		t.Fatal(err)
	}
	d := webhook.New(st, webhook.Options{
		Endpoints: []webhook.Endpoint{{Name: "cow", URL: rx.URL, Key: key}},
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Render:    func(k store.Kind, r *store.Resource) map[string]any { return srv.RenderAt(base, k, r) },
		AppendStored: func(b []byte, k store.Kind, r *store.Resource) ([]byte, bool) {
			return srv.AppendStoredAt(b, base, k, r)
		},
		RetryBase: 20 * time.Millisecond,
	})
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer d.Stop()

	do := func(method, path, body string) map[string]any {
		t.Helper()
		var m map[string]any
		json.Unmarshal(h.do(t, method, path, body), &m)
		return m
	}
	// want lists, per change, the event type and the resource as GET
	// returns it right after the change (a group without members).
	type want struct {
		typ  string
		data map[string]any
	}
	var wants []want
	get := func(typ, path string) {
		t.Helper()
		m := do("GET", path, "")
		delete(m, "members")
		wants = append(wants, want{typ, m})
	}
	user := func(name string, active bool) string {
		b, _ := json.Marshal(map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
			"userName": "cow@example.com", "displayName": name, "active": active})
		return string(b)
	}
	id := do("POST", "/Users", user("One", true))["id"].(string)
	get("user.created", "/Users/"+id)
	do("PUT", "/Users/"+id, user("Two", true))
	get("user.updated", "/Users/"+id)
	do("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"Three"}]}`)
	get("user.updated", "/Users/"+id)
	do("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`)
	get("user.deactivated", "/Users/"+id)
	do("DELETE", "/Users/"+id, "")
	wants = append(wants, want{"user.deleted", map[string]any{"id": id, "userName": "cow@example.com"}})
	gid := do("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Cows"}`)["id"].(string)
	get("group.created", "/Groups/"+gid)
	do("PUT", "/Groups/"+gid, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Herd"}`)
	get("group.updated", "/Groups/"+gid)
	do("DELETE", "/Groups/"+gid, "")
	wants = append(wants, want{"group.deleted", map[string]any{"id": gid, "displayName": "Herd"}})

	// Everything above happened while the receiver refused: nothing
	// was delivered yet.
	mu.Lock()
	if len(got) != 0 {
		t.Fatalf("%d events delivered while the receiver was down", len(got))
	}
	mu.Unlock()
	up.Store(true)
	wait := func(n int) []delivery {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			l := len(got)
			out := append([]delivery(nil), got...)
			mu.Unlock()
			if l >= n {
				return out
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d events delivered", l, n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	first := wait(len(wants))
	check := func(label string, ds []delivery) {
		t.Helper()
		if len(ds) != len(wants) {
			t.Fatalf("%s: %d deliveries, want %d", label, len(ds), len(wants))
		}
		for i, w := range wants {
			// The user's and the group's events arrive in commit order;
			// the two resources may interleave.
			var d *delivery
			for j := range ds {
				if ds[j].typ == w.typ && reflect.DeepEqual(ds[j].data, w.data) {
					d = &ds[j]
				}
			}
			if d == nil {
				t.Errorf("%s: change %d (%s): no delivery carries\n%v\ngot %v", label, i, w.typ, w.data, ds)
			}
		}
	}
	check("delivery", first)

	// Replay: the same ids, the same content.
	if _, err := st.ReplayWebhook(ctx, "cow", nil, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	all := wait(2 * len(wants))
	again := all[len(first):]
	check("replay", again)
	ids := map[string]delivery{}
	for _, d := range first {
		ids[d.id] = d
	}
	for _, d := range again {
		f, ok := ids[d.id]
		if !ok {
			t.Errorf("replay sent %s with a new id %s", d.typ, d.id)
			continue
		}
		if !reflect.DeepEqual(f.data, d.data) {
			t.Errorf("replay of %s (%s) carries\n%v\nfirst delivery\n%v", d.id, d.typ, d.data, f.data)
		}
	}
}
