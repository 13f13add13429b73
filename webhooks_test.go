package main

// Webhooks (issue 12), driven through the built binary: a receiver on
// 127.0.0.1 that records every delivery and can be told to fail, stall,
// redirect or answer 410; "scimd serve" delivering; the admin commands
// beside it.

import (
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// testSecret is a Standard Webhooks secret (24 bytes); testKey its key.
const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// hookDelivery is one request the receiver got.
type hookDelivery struct {
	ID, Timestamp, Signature, ContentType string
	Body                                  []byte
	At                                    time.Time
	Status                                int // what the receiver answered
	Type                                  string
	Data                                  map[string]any
	EventTime                             string
}

// hookReceiver records deliveries; answer decides each reply (nil: 204).
type hookReceiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	got    []hookDelivery
	answer func(n int, d *hookDelivery, w http.ResponseWriter) int
	other  int // requests to any other path (a redirect target)
}

func newHookReceiver(t *testing.T) *hookReceiver {
	rx := &hookReceiver{t: t}
	rx.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/hook" {
			rx.mu.Lock()
			rx.other++
			rx.mu.Unlock()
			w.WriteHeader(204)
			return
		}
		b, _ := io.ReadAll(r.Body)
		d := hookDelivery{ID: r.Header.Get("webhook-id"), Timestamp: r.Header.Get("webhook-timestamp"),
			Signature: r.Header.Get("webhook-signature"), ContentType: r.Header.Get("Content-Type"), Body: b, At: time.Now()}
		var env struct {
			Type      string         `json:"type"`
			Timestamp string         `json:"timestamp"`
			Data      map[string]any `json:"data"`
		}
		if err := json.Unmarshal(b, &env); err != nil {
			t.Errorf("delivery body is not JSON: %v: %s", err, b)
		}
		d.Type, d.Data, d.EventTime = env.Type, env.Data, env.Timestamp
		rx.mu.Lock()
		n := len(rx.got)
		ans := rx.answer
		rx.mu.Unlock()
		status := 204
		if ans != nil {
			status = ans(n, &d, w)
		}
		d.Status = status
		if status == 0 {
			d.Status = 200 // the answer wrote its own 200 and body
		}
		rx.mu.Lock()
		rx.got = append(rx.got, d)
		rx.mu.Unlock()
		if status != 0 {
			w.WriteHeader(status)
		}
	}))
	t.Cleanup(rx.srv.Close)
	return rx
}

func (rx *hookReceiver) url() string { return rx.srv.URL + "/hook" }

func (rx *hookReceiver) setAnswer(f func(n int, d *hookDelivery, w http.ResponseWriter) int) {
	rx.mu.Lock()
	rx.answer = f
	rx.mu.Unlock()
}

// all returns every request so far.
func (rx *hookReceiver) all() []hookDelivery {
	rx.mu.Lock()
	defer rx.mu.Unlock()
	return slices.Clone(rx.got)
}

// delivered returns the accepted deliveries, first acceptance of each id.
func (rx *hookReceiver) delivered() []hookDelivery {
	var out []hookDelivery
	seen := map[string]bool{}
	for _, d := range rx.all() {
		if d.Status >= 200 && d.Status < 300 && !seen[d.ID] {
			seen[d.ID] = true
			out = append(out, d)
		}
	}
	return out
}

// wait waits until n distinct events were accepted and returns them.
func (rx *hookReceiver) wait(n int, within time.Duration) []hookDelivery {
	rx.t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := rx.delivered()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			rx.t.Fatalf("receiver has %d accepted events after %s, want %d: %v", len(got), within, n, types(got))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func types(l []hookDelivery) []string {
	var out []string
	for _, d := range l {
		out = append(out, d.Type)
	}
	return out
}

// verifySignature checks a delivery as a receiver would, with the
// standard library only.
func verifySignature(t *testing.T, d hookDelivery, secret string) {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%s.%s", d.ID, d.Timestamp, d.Body)
	want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	if !slices.Contains(strings.Fields(d.Signature), want) {
		t.Errorf("event %s: webhook-signature %q, want %q", d.ID, d.Signature, want)
	}
	ts, err := strconv.ParseInt(d.Timestamp, 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > time.Minute {
		t.Errorf("event %s: webhook-timestamp %q is not the time of the attempt", d.ID, d.Timestamp)
	}
	if !strings.HasPrefix(d.ID, "msg_") || d.ContentType != "application/json" {
		t.Errorf("event %s: id or Content-Type %q wrong", d.ID, d.ContentType)
	}
}

// hookConfig is a config with one or more endpoints and a short backoff.
func hookConfig(retryBase string, hooks ...string) string {
	return fmt.Sprintf("[events]\nretry_base = %q\n\n%s", retryBase, strings.Join(hooks, "\n"))
}

func hookTable(name, url string, extra ...string) string {
	return fmt.Sprintf("[[webhooks]]\nname = %q\nurl = %q\nsecret = %q\n%s\n", name, url, testSecret, strings.Join(extra, "\n"))
}

const patchOp = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[%s]}`

// TestWebhookEvents: every event type with its data shape, signed, in
// commit order; an endpoint's events filter; Okta's reactivation by POST.
func TestWebhookEvents(t *testing.T) {
	rx := newHookReceiver(t)
	only := newHookReceiver(t)
	e := newAdmEnv(t, hookConfig("50ms", hookTable("rx", rx.url()),
		hookTable("members-only", only.url(), `events = ["group.members.*"]`)))
	tok := e.issue("okta", "--idp", "okta")
	e.start()

	u := e.mustCall(201, tok, "POST", "/Users", `{"userName":"ada@example.org","externalId":"ext-ada","name":{"givenName":"Ada"},"active":true}`)
	uid := u["id"].(string)
	u2 := e.mustCall(201, tok, "POST", "/Users", `{"userName":"bob@example.org","active":true}`)
	uid2 := u2["id"].(string)
	upd := e.mustCall(200, tok, "PATCH", "/Users/"+uid, fmt.Sprintf(patchOp, `{"op":"replace","path":"title","value":"Engineer"}`))
	deact := e.mustCall(200, tok, "PATCH", "/Users/"+uid, fmt.Sprintf(patchOp, `{"op":"replace","path":"active","value":false},{"op":"replace","path":"title","value":"Gone"}`))
	// Okta re-assigns a deactivated user by POSTing it again (same externalId).
	react := e.mustCall(201, tok, "POST", "/Users", `{"userName":"ada.l@example.org","externalId":"ext-ada","active":true}`)
	if react["id"] != uid {
		t.Fatalf("Okta reactivation made a new user %v", react["id"])
	}
	g := e.mustCall(201, tok, "POST", "/Groups", `{"displayName":"Engineering","externalId":"ext-eng","members":[{"value":"`+uid+`"}]}`)
	gid := g["id"].(string)
	e.mustCall(204, tok, "PATCH", "/Groups/"+gid, fmt.Sprintf(patchOp, `{"op":"replace","path":"displayName","value":"Eng"}`))
	e.mustCall(204, tok, "PATCH", "/Groups/"+gid, fmt.Sprintf(patchOp, `{"op":"add","path":"members","value":[{"value":"`+uid2+`"}]}`))
	e.mustCall(204, tok, "PATCH", "/Groups/"+gid, fmt.Sprintf(patchOp, `{"op":"remove","path":"members[value eq \"`+uid+`\"]"}`))
	// A PUT with the members the group already has changes no member.
	e.mustCall(200, tok, "PUT", "/Groups/"+gid, `{"displayName":"Eng","externalId":"ext-eng","members":[{"value":"`+uid2+`"}]}`)
	gotUser := e.mustCall(200, tok, "GET", "/Users/"+uid2, "")
	e.mustCall(204, tok, "DELETE", "/Groups/"+gid, "")
	e.mustCall(204, tok, "DELETE", "/Users/"+uid, "")

	want := []struct{ typ, resource string }{
		{"user.created", uid}, {"user.created", uid2}, {"user.updated", uid}, {"user.deactivated", uid}, {"user.reactivated", uid},
		{"group.created", gid}, {"group.members.added", gid}, {"group.updated", gid}, {"group.members.added", gid},
		{"group.members.removed", gid}, {"group.deleted", gid}, {"user.deleted", uid},
	}
	rx.wait(len(want), 20*time.Second)
	time.Sleep(300 * time.Millisecond) // nothing more may come
	got := rx.delivered()
	if len(got) != len(want) {
		t.Fatalf("got %d events %v, want %d", len(got), types(got), len(want))
	}
	// Per resource, commit order; overall the same set.
	for _, res := range []string{uid, uid2, gid} {
		var gotTypes, wantTypes []string
		for _, w := range want {
			if w.resource == res {
				wantTypes = append(wantTypes, w.typ)
			}
		}
		for _, d := range got {
			id, _ := d.Data["id"].(string)
			if grp, ok := d.Data["group"].(map[string]any); ok {
				id, _ = grp["id"].(string)
			}
			if id == res {
				gotTypes = append(gotTypes, d.Type)
			}
		}
		if !slices.Equal(gotTypes, wantTypes) {
			t.Errorf("events of %s: %v, want %v", res, gotTypes, wantTypes)
		}
	}
	byType := map[string][]hookDelivery{}
	ids := map[string]bool{}
	for _, d := range got {
		verifySignature(t, d, testSecret)
		if ids[d.ID] {
			t.Errorf("webhook-id %s used for two events", d.ID)
		}
		ids[d.ID] = true
		if _, err := time.Parse(time.RFC3339, d.EventTime); err != nil {
			t.Errorf("%s: timestamp %q is not RFC 3339", d.Type, d.EventTime)
		}
		byType[d.Type] = append(byType[d.Type], d)
	}
	// Resource events carry the resource as the API returned it.
	// Different resources are delivered concurrently: find by id.
	sameAs := func(typ string, api map[string]any, keys ...string) {
		t.Helper()
		var d map[string]any
		for _, x := range byType[typ] {
			if x.Data["id"] == api["id"] {
				d = x.Data
			}
		}
		if d == nil {
			t.Errorf("no %s event for %v", typ, api["id"])
			return
		}
		for _, k := range keys {
			a, _ := json.Marshal(d[k])
			b, _ := json.Marshal(api[k])
			if string(a) != string(b) {
				t.Errorf("%s data.%s = %s, want %s (as the API returned it)", typ, k, a, b)
			}
		}
	}
	sameAs("user.created", u, "id", "userName", "externalId", "name", "active", "meta", "schemas")
	sameAs("user.updated", upd, "id", "title", "meta", "active")
	sameAs("user.deactivated", deact, "id", "title", "active", "meta")
	sameAs("user.reactivated", react, "id", "userName", "active", "meta")
	sameAs("user.created", gotUser, "id", "userName")
	if _, ok := byType["group.created"][0].Data["members"]; ok {
		t.Errorf("group.created data has members: %v", byType["group.created"][0].Data)
	}
	if d := byType["group.created"][0].Data; d["displayName"] != "Engineering" || d["id"] != gid || d["meta"] == nil {
		t.Errorf("group.created data: %v", d)
	}
	if d := byType["group.updated"][0].Data; d["displayName"] != "Eng" {
		t.Errorf("group.updated data: %v", d)
	}
	members := func(d hookDelivery) string {
		b, _ := json.Marshal(d.Data)
		return string(b)
	}
	for _, tc := range []struct {
		typ  string
		i    int
		want string
	}{
		{"group.members.added", 0, `{"group":{"displayName":"Engineering","id":"` + gid + `"},"members":[{"type":"User","value":"` + uid + `"}]}`},
		{"group.members.added", 1, `{"group":{"displayName":"Eng","id":"` + gid + `"},"members":[{"type":"User","value":"` + uid2 + `"}]}`},
		{"group.members.removed", 0, `{"group":{"displayName":"Eng","id":"` + gid + `"},"members":[{"type":"User","value":"` + uid + `"}]}`},
		{"group.deleted", 0, `{"displayName":"Eng","externalId":"ext-eng","id":"` + gid + `"}`},
		{"user.deleted", 0, `{"externalId":"ext-ada","id":"` + uid + `","userName":"ada.l@example.org"}`},
	} {
		if got := members(byType[tc.typ][tc.i]); got != tc.want {
			t.Errorf("%s #%d data = %s, want %s", tc.typ, tc.i, got, tc.want)
		}
	}
	// The filtered endpoint got exactly the member events, same ids.
	og := only.wait(3, 10*time.Second)
	if got := types(og); !slices.Equal(got, []string{"group.members.added", "group.members.added", "group.members.removed"}) {
		t.Errorf("members-only endpoint got %v", got)
	}
	for i, d := range og {
		want := []hookDelivery{byType["group.members.added"][0], byType["group.members.added"][1], byType["group.members.removed"][0]}[i]
		if d.ID != want.ID {
			t.Errorf("members-only event %d has id %s, the other endpoint got %s: one event, one id", i, d.ID, want.ID)
		}
	}

	// webhooks list and status show the endpoint with nothing pending.
	var rows []map[string]any
	out, _ := e.ok("webhooks", "list", "--json")
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("webhooks list --json: %v\n%s", err, out)
	}
	if len(rows) != 2 || rows[0]["name"] != "rx" || rows[0]["state"] != "active" || rows[0]["backlog"] != 0.0 ||
		rows[0]["delivered"] != float64(len(want)) || rows[0]["last_success"] == nil {
		t.Errorf("webhooks list --json: %s", out)
	}
	if strings.Contains(out, testSecret) || strings.Contains(out, strings.TrimPrefix(testSecret, "whsec_")) {
		t.Errorf("webhooks list shows the secret")
	}
	out, _ = e.ok("status")
	if !strings.Contains(out, "BACKLOG") || !strings.Contains(out, "members-only") {
		t.Errorf("status does not show the endpoints' backlog:\n%s", out)
	}
	if strings.Contains(e.log.String(), strings.TrimPrefix(testSecret, "whsec_")) {
		t.Errorf("the server log holds the secret")
	}
}

// attemptsOf returns every request for one webhook-id.
func (rx *hookReceiver) attemptsOf(id string) []hookDelivery {
	var out []hookDelivery
	for _, d := range rx.all() {
		if d.ID == id {
			out = append(out, d)
		}
	}
	return out
}

// listRow returns one endpoint's row of webhooks list --json.
func listRow(t *testing.T, e *admEnv, name string) map[string]any {
	t.Helper()
	out, _ := e.ok("webhooks", "list", "--json")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("webhooks list --json: %v\n%s", err, out)
	}
	for _, r := range rows {
		if r["name"] == name {
			return r
		}
	}
	t.Fatalf("webhooks list has no %q:\n%s", name, out)
	return nil
}

// waitRow polls webhooks list until cond holds for the endpoint's row.
func waitRow(t *testing.T, e *admEnv, name string, what string, cond func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := listRow(t, e, name)
		if cond(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhooks list never showed %s for %s: %v", what, name, r)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWebhookReceiverFailsStallsAndReturns: a receiver that refuses, then
// stalls past the 10 s timeout, then comes back gets the whole backlog,
// each resource's events in commit order, every retry with the same id.
func TestWebhookReceiverFailsStallsAndReturns(t *testing.T) {
	rx := newHookReceiver(t)
	var mu sync.Mutex
	phase, stalled := "down", ""
	rx.setAnswer(func(n int, d *hookDelivery, w http.ResponseWriter) int {
		mu.Lock()
		p := phase
		if p == "stall" {
			phase, stalled = "up", d.ID
		}
		mu.Unlock()
		switch p {
		case "down":
			return 503
		case "stall":
			time.Sleep(11 * time.Second) // past scimd's 10 s timeout
			return 204
		}
		return 204
	})
	e := newAdmEnv(t, hookConfig("50ms", hookTable("rx", rx.url())))
	tok := e.issue("entra")
	e.start()
	var ids []string
	for i := range 3 {
		u := e.mustCall(201, tok, "POST", "/Users", fmt.Sprintf(`{"userName":"u%d@example.org"}`, i))
		ids = append(ids, u["id"].(string))
	}
	for round := 1; round <= 2; round++ {
		for _, id := range ids {
			e.mustCall(200, tok, "PATCH", "/Users/"+id, fmt.Sprintf(patchOp, fmt.Sprintf(`{"op":"replace","path":"title","value":"t%d"}`, round)))
		}
	}
	// Down: failing, with the whole backlog.
	r := waitRow(t, e, "rx", "failing", func(r map[string]any) bool { return r["state"] == "failing" })
	if r["backlog"] != 9.0 || !strings.Contains(r["last_error"].(string), "HTTP 503") || r["oldest_pending_seconds"] == nil {
		t.Errorf("while down: %v, want backlog 9 and the last error", r)
	}
	for len(rx.all()) < 6 {
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	phase = "stall"
	mu.Unlock()

	got := rx.wait(9, 60*time.Second)
	for _, id := range ids {
		var titles []string
		for _, d := range got {
			if d.Data["id"] == id {
				title, _ := d.Data["title"].(string)
				titles = append(titles, d.Type+":"+title)
			}
		}
		if want := []string{"user.created:", "user.updated:t1", "user.updated:t2"}; !slices.Equal(titles, want) {
			t.Errorf("user %s got %v, want %v (commit order)", id, titles, want)
		}
	}
	mu.Lock()
	sid := stalled
	mu.Unlock()
	if a := rx.attemptsOf(sid); len(a) < 2 {
		t.Errorf("the stalled event %s was tried %d times, want a retry after the timeout", sid, len(a))
	}
	for _, d := range got {
		a := rx.attemptsOf(d.ID)
		for _, x := range a {
			if string(x.Body) != string(a[0].Body) {
				t.Errorf("event %s: retries changed the body", d.ID)
			}
			verifySignature(t, x, testSecret)
		}
	}
	r = waitRow(t, e, "rx", "recovery", func(r map[string]any) bool { return r["state"] == "active" && r["backlog"] == 0.0 })
	if r["delivered"] != 9.0 {
		t.Errorf("after recovery: %v", r)
	}
	e.waitLog("delivery failing", "webhook=rx")
	e.waitLog("delivery recovered", "webhook=rx")
}

// TestWebhookGonePausesUntilResume: 410 pauses the endpoint; nothing is
// sent while paused; resume delivers the backlog in order.
func TestWebhookGonePausesUntilResume(t *testing.T) {
	rx := newHookReceiver(t)
	var mu sync.Mutex
	gone := true
	rx.setAnswer(func(int, *hookDelivery, http.ResponseWriter) int {
		mu.Lock()
		defer mu.Unlock()
		if gone {
			return 410
		}
		return 200
	})
	e := newAdmEnv(t, hookConfig("50ms", hookTable("rx", rx.url())))
	tok := e.issue("entra")
	e.start()
	u := e.mustCall(201, tok, "POST", "/Users", `{"userName":"p@example.org"}`)
	waitRow(t, e, "rx", "paused", func(r map[string]any) bool { return r["state"] == "paused" })
	e.waitLog("410 Gone", "webhook=rx")
	e.mustCall(200, tok, "PATCH", "/Users/"+u["id"].(string), fmt.Sprintf(patchOp, `{"op":"replace","path":"title","value":"x"}`))
	before := len(rx.all())
	time.Sleep(1500 * time.Millisecond)
	if n := len(rx.all()); n != before {
		t.Errorf("%d requests while paused, want none", n-before)
	}
	if r := listRow(t, e, "rx"); r["backlog"] != 2.0 {
		t.Errorf("paused backlog: %v, want 2", r["backlog"])
	}
	mu.Lock()
	gone = false
	mu.Unlock()
	_, msg := e.ok("webhooks", "resume", "rx")
	if !strings.Contains(msg, "resumed") {
		t.Errorf("resume said %q", msg)
	}
	got := rx.wait(2, 10*time.Second)
	if ts := types(got); !slices.Equal(ts, []string{"user.created", "user.updated"}) {
		t.Errorf("after resume: %v", ts)
	}
	waitRow(t, e, "rx", "active", func(r map[string]any) bool { return r["state"] == "active" && r["backlog"] == 0.0 })
	e.fail("webhooks", "resume", "nope")
}

// TestWebhookRetryAfterAndRedirects: Retry-After delays the next attempt
// beyond the backoff; a redirect is a failure and is not followed.
func TestWebhookRetryAfterAndRedirects(t *testing.T) {
	rx := newHookReceiver(t)
	rx.setAnswer(func(n int, d *hookDelivery, w http.ResponseWriter) int {
		if n == 0 {
			w.Header().Set("Retry-After", "2")
			return 503
		}
		return 204
	})
	redir := newHookReceiver(t)
	redir.setAnswer(func(n int, d *hookDelivery, w http.ResponseWriter) int {
		w.Header().Set("Location", "/elsewhere")
		return 307
	})
	e := newAdmEnv(t, hookConfig("50ms", hookTable("rx", rx.url()), hookTable("redir", redir.url())))
	tok := e.issue("entra")
	e.start()
	e.mustCall(201, tok, "POST", "/Users", `{"userName":"ra@example.org"}`)
	got := rx.wait(1, 10*time.Second)
	a := rx.attemptsOf(got[0].ID)
	if len(a) != 2 {
		t.Fatalf("%d attempts, want 2", len(a))
	}
	if gap := a[1].At.Sub(a[0].At); gap < 1900*time.Millisecond {
		t.Errorf("second attempt %s after a Retry-After: 2 answer, want at least 2s", gap)
	}
	r := waitRow(t, e, "redir", "redirect failures", func(r map[string]any) bool { return len(redir.all()) >= 3 && r["state"] == "failing" })
	if !strings.Contains(r["last_error"].(string), "redirect") || r["backlog"] != 1.0 {
		t.Errorf("redirecting endpoint: %v", r)
	}
	redir.mu.Lock()
	other := redir.other
	redir.mu.Unlock()
	if other != 0 {
		t.Errorf("the redirect was followed %d times", other)
	}
}

// TestWebhookSurvivesKillAndReplays: an event committed (201 sent) but not
// delivered when the server is killed with SIGKILL is delivered after the
// restart; replay sends it again with the same id.
func TestWebhookSurvivesKillAndReplays(t *testing.T) {
	rx := newHookReceiver(t)
	var mu sync.Mutex
	down := true
	rx.setAnswer(func(int, *hookDelivery, http.ResponseWriter) int {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return 500
		}
		return 204
	})
	e := newAdmEnv(t, hookConfig("50ms", hookTable("rx", rx.url())))
	tok := e.issue("entra")
	e.start()
	u := e.mustCall(201, tok, "POST", "/Users", `{"userName":"k@example.org"}`)
	if err := e.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-e.exited
	if n := len(rx.delivered()); n != 0 {
		t.Fatalf("%d events accepted before the kill", n)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	e.start()
	got := rx.wait(1, 20*time.Second)
	if got[0].Type != "user.created" || got[0].Data["id"] != u["id"] {
		t.Fatalf("after restart got %s %v", got[0].Type, got[0].Data["id"])
	}
	_, msg := e.ok("webhooks", "replay", "rx", "--since", "1h")
	if !strings.Contains(msg, "1 event(s)") {
		t.Errorf("replay said %q", msg)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var ok []hookDelivery
		for _, d := range rx.attemptsOf(got[0].ID) {
			if d.Status == 204 {
				ok = append(ok, d)
			}
		}
		if len(ok) >= 2 {
			if string(ok[1].Body) != string(ok[0].Body) {
				t.Errorf("the replayed event's body differs")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replay did not deliver %s again", got[0].ID)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(rx.delivered()); n != 1 {
		t.Errorf("replay made %d distinct ids, want the same one", n)
	}
}

// TestWebhookMaxAgeFailsThenRetry: an event not delivered within max_age
// is failed and logged; webhooks retry delivers it once the receiver is
// back; webhooks test sends a signed webhook.test and prints the answer.
func TestWebhookMaxAgeFailsThenRetry(t *testing.T) {
	rx := newHookReceiver(t)
	var mu sync.Mutex
	down := true
	rx.setAnswer(func(n int, d *hookDelivery, w http.ResponseWriter) int {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return 500
		}
		if d.Type == "webhook.test" {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(200)
			io.WriteString(w, "got it")
			return 0
		}
		return 204
	})
	e := newAdmEnv(t, hookConfig("50ms", hookTable("rx", rx.url(), `max_age = "1s"`)))
	tok := e.issue("entra")
	e.start()
	e.mustCall(201, tok, "POST", "/Users", `{"userName":"m@example.org"}`)
	r := waitRow(t, e, "rx", "a failed event", func(r map[string]any) bool { return r["failed"] == 1.0 })
	if r["backlog"] != 0.0 {
		t.Errorf("after max_age: %v", r)
	}
	e.waitLog("level=ERROR", "event failed", "webhook=rx")
	if msg := e.fail("webhooks", "test", "rx"); !strings.Contains(msg, "HTTP 500") {
		t.Errorf("webhooks test against a failing receiver: %q", msg)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	out, _ := e.ok("webhooks", "test", "rx")
	if !strings.Contains(out, "HTTP 200") || !strings.Contains(out, "got it") {
		t.Errorf("webhooks test printed %q", out)
	}
	_, msg := e.ok("webhooks", "retry", "rx")
	if !strings.Contains(msg, "1 failed event") {
		t.Errorf("retry said %q", msg)
	}
	got := rx.wait(2, 10*time.Second) // the test event and the retried one
	var sawTest, sawUser bool
	for _, d := range got {
		verifySignature(t, d, testSecret)
		sawTest = sawTest || d.Type == "webhook.test"
		sawUser = sawUser || d.Type == "user.created"
	}
	if !sawTest || !sawUser {
		t.Errorf("got %v, want webhook.test and the retried user.created", types(got))
	}
	waitRow(t, e, "rx", "delivered", func(r map[string]any) bool { return r["delivered"] == 1.0 && r["backlog"] == 0.0 })
}

// TestWebhookConfig: [[webhooks]] is validated with errors that name the
// endpoint and key but never the secret; a secret_file is trimmed.
func TestWebhookConfig(t *testing.T) {
	for _, tc := range []struct{ name, hooks, want string }{
		{"bad name", hookTable("no spaces", "http://127.0.0.1:1/x"), "name"},
		{"long name", hookTable(strings.Repeat("a", 65), "http://127.0.0.1:1/x"), "name"},
		{"duplicate", hookTable("a", "http://127.0.0.1:1/x") + hookTable("a", "http://127.0.0.1:2/x"), "used twice"},
		{"plain http elsewhere", hookTable("a", "http://hr.example.org/x"), "loopback"},
		{"ftp", hookTable("a", "ftp://127.0.0.1/x"), "url"},
		{"unknown event", hookTable("a", "http://127.0.0.1:1/x", `events = ["usr.*"]`), "usr.*"},
		{"bad secret", strings.Replace(hookTable("a", "http://127.0.0.1:1/x"), testSecret, "whsec_short+notbase64!", 1), "base64"},
		{"short secret", strings.Replace(hookTable("a", "http://127.0.0.1:1/x"), testSecret, "whsec_c2hvcnQ=", 1), "24 to 64"},
		{"no secret", strings.Replace(hookTable("a", "http://127.0.0.1:1/x"), `secret = "`+testSecret+`"`, "", 1), "secret"},
		{"both", hookTable("a", "http://127.0.0.1:1/x", `secret_file = "/x"`), "not both"},
		{"retention", "[events]\nretention = \"0s\"\n", "retention"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newAdmEnv(t, tc.hooks)
			msg := e.fail("webhooks", "list")
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q, want it to mention %q", msg, tc.want)
			}
			if strings.Contains(msg, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") || strings.Contains(msg, "short+notbase64") {
				t.Errorf("the error shows the secret: %q", msg)
			}
		})
	}
	// Allowed: https anywhere, http to another host with allow_http.
	e := newAdmEnv(t, hookTable("a", "https://hr.example.org/x")+hookTable("b", "http://hr.example.org/x", "allow_http = true"))
	e.ok("webhooks", "list")

	// secret_file: read once at start, whitespace trimmed.
	rx := newHookReceiver(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "rx.secret")
	if err := os.WriteFile(file, []byte("\n  "+testSecret+"  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e = newAdmEnv(t, fmt.Sprintf("[[webhooks]]\nname = \"rx\"\nurl = %q\nsecret_file = %q\n", rx.url(), file))
	tok := e.issue("entra")
	e.start()
	if err := os.WriteFile(file, []byte("whsec_changed"), 0o600); err != nil { // read once: no effect
		t.Fatal(err)
	}
	e.mustCall(201, tok, "POST", "/Users", `{"userName":"f@example.org"}`)
	verifySignature(t, rx.wait(1, 10*time.Second)[0], testSecret)
}

// TestNoOutboxWithoutWebhooks: a server without [[webhooks]] stores no
// events, and one whose endpoints subscribe to some types stores only
// those.
func TestNoOutboxWithoutWebhooks(t *testing.T) {
	count := func(e *admEnv) int {
		db, err := sql.Open("sqlite", e.db)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM outbox`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	e := newAdmEnv(t, "")
	tok := e.issue("entra")
	e.start()
	e.mustCall(201, tok, "POST", "/Users", `{"userName":"n@example.org"}`)
	e.mustCall(201, tok, "POST", "/Groups", `{"displayName":"n"}`)
	if n := count(e); n != 0 {
		t.Errorf("%d outbox rows without webhooks, want 0", n)
	}
	rx := newHookReceiver(t)
	e = newAdmEnv(t, hookTable("rx", rx.url(), `events = ["group.*"]`))
	tok = e.issue("entra")
	e.start()
	e.mustCall(201, tok, "POST", "/Users", `{"userName":"n@example.org"}`)
	e.mustCall(201, tok, "POST", "/Groups", `{"displayName":"n"}`)
	if got := types(rx.wait(1, 10*time.Second)); !slices.Equal(got, []string{"group.created"}) {
		t.Errorf("got %v", got)
	}
	if n := count(e); n != 1 {
		t.Errorf("%d outbox rows for one subscribed change, want 1", n)
	}
}

// TestReadmeReceiverExample builds the README's Go receiver (standard
// library only) and has it verify real deliveries: the example users copy
// must work.
func TestReadmeReceiverExample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "### A receiver in Go, standard library only\n\n```go\n")
	if !ok {
		t.Fatal("README has no Go receiver example")
	}
	src, _, _ := strings.Cut(rest, "```\n")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if !strings.Contains(src, `"127.0.0.1:9000"`) {
		t.Fatal("the example no longer listens on 127.0.0.1:9000; update this test")
	}
	src = strings.Replace(src, `"127.0.0.1:9000"`, strconv.Quote(addr), 1)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module receiver\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "receiver")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("the README receiver does not build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "SCIMD_WEBHOOK_SECRET="+testSecret)
	logs := &e2eLog{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	e := newAdmEnv(t, hookConfig("50ms", hookTable("rx", "http://"+addr+"/hooks/scimd")))
	tok := e.issue("entra")
	e.start()
	u := e.mustCall(201, tok, "POST", "/Users", `{"userName":"readme@example.org"}`)
	waitRow(t, e, "rx", "the delivery accepted", func(r map[string]any) bool { return r["delivered"] == 1.0 })
	if !strings.Contains(logs.String(), "user.created "+u["id"].(string)) {
		t.Errorf("the receiver logged %q, want the user.created event", logs.String())
	}
	// A wrong secret is refused by the example (401), so scimd keeps retrying.
	cmd.Process.Kill()
	cmd.Wait()
	bad := exec.Command(bin)
	bad.Env = append(os.Environ(), "SCIMD_WEBHOOK_SECRET=whsec_"+base64.StdEncoding.EncodeToString([]byte("another secret of 24 bytes")))
	if err := bad.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bad.Process.Kill(); bad.Wait() })
	time.Sleep(200 * time.Millisecond)
	e.mustCall(201, tok, "POST", "/Users", `{"userName":"readme2@example.org"}`)
	waitRow(t, e, "rx", "the signature refused", func(r map[string]any) bool {
		s, _ := r["last_error"].(string)
		return strings.Contains(s, "HTTP 401")
	})
}

// TestWebhookMetrics: the admin listener's /metrics reports each endpoint
// from the deliverer's Stats.
func TestWebhookMetrics(t *testing.T) {
	rx := newHookReceiver(t)
	e := newAdmEnv(t, "[admin]\nlisten = \"127.0.0.1:0\"\n\n"+hookConfig("50ms", hookTable("rx", rx.url())))
	tok := e.issue("entra")
	e.issue("ro", "--scope", "read")
	e.start()
	line := e.waitLog("admin listening")
	_, rest, _ := strings.Cut(line, "addr=")
	addr := strings.Fields(rest)[0]
	e.mustCall(201, tok, "POST", "/Users", `{"userName":"metrics@example.org"}`)
	rx.wait(1, 10*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body := string(b)
		if strings.Contains(body, `scimd_webhook_delivered_events_total{webhook="rx"} 1`) {
			for _, want := range []string{`scimd_webhook_backlog_events{webhook="rx"} 0`, `scimd_webhook_failed_events_total{webhook="rx"} 0`,
				`scimd_webhook_oldest_pending_seconds{webhook="rx"} 0`} {
				if !strings.Contains(body, want) {
					t.Errorf("/metrics lacks %s", want)
				}
			}
			// scimd_token_info carries each token's scope.
			found := false
			for _, l := range strings.Split(body, "\n") {
				if strings.HasPrefix(l, "scimd_token_info{") && strings.Contains(l, `token="ro"`) {
					found = strings.Contains(l, `scope="read"`)
				}
			}
			if !found {
				t.Errorf("/metrics has no scimd_token_info with scope=\"read\" for the read token")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics never counted the delivery:\n%s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
