package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"scimd/server"
	"scimd/store"
	"scimd/webhook"
)

// TestWebhookStoredBodyMatchesRender: an event body made from the stored
// JSON text (webhook.StoredBody, what the deliverer sends when it can) is
// byte for byte the body rendered from the decoded resource
// (webhook.EventBody), for users created and replaced through the real
// server, with and without the enterprise extension; and the stored path
// is taken for a user created plainly.
func TestWebhookStoredBodyMatchesRender(t *testing.T) {
	ctx := context.Background()
	h := newHookStack(t)
	st, srv, base := h.st, h.srv, h.base
	if err := st.SetupWebhooks(ctx, []string{"t"}); err != nil {
		t.Fatal(err)
	}
	send := func(method, path, body string) string {
		t.Helper()
		var r struct{ ID string }
		json.Unmarshal(h.do(t, method, path, body), &r)
		return r.ID
	}
	send("POST", "/Users", entraCreate(1))
	id := send("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"plain@example.com","active":true}`)
	send("PUT", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"plain@example.com","active":false,"displayName":"Pla \"in\" <x>"}`)
	events, _, err := st.NewEvents(ctx, "t", nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 3 {
		t.Fatalf("%d events, want 3", len(events))
	}
	render := func(k store.Kind, r *store.Resource) map[string]any { return srv.RenderAt(base, k, r) }
	appendStored := func(b []byte, k store.Kind, r *store.Resource) ([]byte, bool) {
		return srv.AppendStoredAt(b, base, k, r)
	}
	stored := 0
	for _, ev := range events {
		want, err := webhook.EventBody(ev, render)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := webhook.StoredBody(ev, appendStored)
		if !ok {
			continue
		}
		stored++
		if !bytes.Equal(got, want) {
			t.Errorf("%s: from stored text\n%s\nrendered\n%s", ev.Type, got, want)
		}
	}
	if stored < 2 {
		t.Errorf("only %d of 3 events made from their stored text", stored)
	}
}

// hookStack is what the webhook tests run on: a store that keeps every
// event type, a write token, and the SCIM server over real HTTP.
type hookStack struct {
	st     *store.Store
	srv    *server.Server
	base   string // the SCIM base URL
	secret string // the token's secret
}

func newHookStack(t *testing.T) *hookStack {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "hook.db"), store.Options{Events: func(string) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	secret, _, err := st.IssueToken(context.Background(), "t", "entra", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(st, server.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &hookStack{st: st, srv: srv, base: ts.URL + "/scim/v2", secret: secret}
}

// do sends one SCIM request with the token and returns the answer's body;
// an answer of 300 or more fails the test.
func (h *hookStack) do(t *testing.T, method, path, body string) []byte {
	t.Helper()
	req, _ := http.NewRequest(method, h.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+h.secret)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return b
}
