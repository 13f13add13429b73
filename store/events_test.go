package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"scimd/scim"
)

// admCreate stores a JSON body as the server would, as token tok.
func admCreate(t *testing.T, s *Store, tok string, k Kind, body string) *Resource {
	t.Helper()
	raw, err := scim.DecodeObject([]byte(body), scim.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := k.rt(s).Normalize(raw, scim.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Create(context.Background(), Actor{Token: tok, IDP: "generic", Agent: tok + "-agent"}, k, doc)
	if err != nil {
		t.Fatalf("Create(%s): %v", body, err)
	}
	return r
}

// admEvents runs a log query and returns "op type name" per row.
func admEvents(t *testing.T, s *Store, q EventQuery) []string {
	t.Helper()
	var out []string
	if _, err := s.Events(context.Background(), q, func(e *Event) error {
		out = append(out, e.Op+" "+e.ResourceType+" "+e.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEventsQuery(t *testing.T) {
	ctx := context.Background()
	s, now := admStore(t)
	admCreate(t, s, "entra", Users, `{"userName":"Alice@example.com","emails":[{"value":"a@x.org","type":"work"}]}`)
	*now = now.Add(time.Hour)
	bob := admCreate(t, s, "okta", Users, `{"userName":"bob@example.com"}`)
	ops, err := scim.DecodePatch([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations":[{"op":"replace","path":"active","value":false}]}`), scim.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Patch(ctx, Actor{Token: "okta", IDP: "okta"}, Users, bob.ID, ops, scim.PatchOptions{}, ""); err != nil {
		t.Fatal(err)
	}
	var f Failures
	s.RecordFailure(&f, Event{Token: "entra", Agent: "ua", Op: "create", ResourceType: "User", Status: 409, ScimType: "uniqueness",
		Detail: `userName "alice@example.com" is already taken`})
	if err := s.FlushFailures(ctx, &f); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		q    EventQuery
		want string
	}{
		{"all", EventQuery{}, "create User Alice@example.com|create User bob@example.com|disable User bob@example.com|create User "},
		{"by token", EventQuery{Token: "okta"}, "create User bob@example.com|disable User bob@example.com"},
		{"by userName, other case", EventQuery{User: "ALICE@example.com"}, "create User Alice@example.com"},
		{"by id", EventQuery{User: bob.ID}, "create User bob@example.com|disable User bob@example.com"},
		{"failed", EventQuery{Failed: true}, "create User "},
		{"since", EventQuery{Since: now.Add(-time.Minute)}, "create User bob@example.com|disable User bob@example.com|create User "},
		{"after", EventQuery{After: 3}, "create User "},
		{"nobody", EventQuery{User: "nobody"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(admEvents(t, s, tc.q), "|"); got != tc.want {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}

	var failed *Event
	s.Events(ctx, EventQuery{Failed: true}, func(e *Event) error { failed = e; return nil })
	if failed == nil || failed.Status != 409 || failed.ScimType != "uniqueness" || failed.Token != "entra" || failed.Agent != "ua" {
		t.Fatalf("failure record %+v", failed)
	}
	if strings.Contains(failed.Detail, "alice") || !strings.Contains(failed.Detail, "userName") {
		t.Errorf("failure detail %q: want the attribute name without its value", failed.Detail)
	}
	var created *Event
	s.Events(ctx, EventQuery{User: "alice@example.com"}, func(e *Event) error { created = e; return nil })
	if got, want := strings.Join(created.Attrs, ","), "emails,userName"; got != want || created.Agent != "entra-agent" {
		t.Errorf("create record attrs %q agent %q, want %q and entra-agent", got, created.Agent, want)
	}
}

func TestEventsStreamInBatches(t *testing.T) {
	s, _ := admStore(t)
	defer func(n int) { eventBatch = n }(eventBatch)
	eventBatch = 2
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		admCreate(t, s, "entra", Users, `{"userName":"`+n+`"}`)
	}
	if got, want := strings.Join(admEvents(t, s, EventQuery{}), "|"), "create User a|create User b|create User c|create User d|create User e"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	last, err := s.Events(context.Background(), EventQuery{After: 4}, func(*Event) error { return nil })
	if err != nil || last != 5 {
		t.Errorf("last seq %d (%v), want 5", last, err)
	}
}

func TestPruneEvents(t *testing.T) {
	s, now := admStore(t)
	defer func(n int) { pruneBatch = n }(pruneBatch)
	pruneBatch = 2
	for _, n := range []string{"old1", "old2", "old3"} {
		admCreate(t, s, "entra", Users, `{"userName":"`+n+`"}`)
	}
	*now = now.Add(100 * 24 * time.Hour)
	admCreate(t, s, "entra", Users, `{"userName":"new"}`)
	n, err := s.PruneEvents(context.Background(), now.Add(-90*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("pruned %d, want 3", n)
	}
	if got := strings.Join(admEvents(t, s, EventQuery{}), "|"); got != "create User new" {
		t.Errorf("left %q, want only the new entry", got)
	}
}

func TestRedactDetail(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`userName "bob@x.org" is already taken`, `userName "…" is already taken`},
		{`emails value "a\"b" does not match`, `emails value "…" does not match`},
		{`invalid filter: expected an operator after "userName eq \"x\"" at offset 3`, `invalid filter: expected an operator after "…" at offset 3`},
		{`User 2819c223 not found`, `User 2819c223 not found`},
		{strings.Repeat("é", 400), strings.Repeat("é", 250) + "…"},
	} {
		if got := redactDetail(tc.in); got != tc.want {
			t.Errorf("redactDetail(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFailuresBurst(t *testing.T) {
	ctx := context.Background()
	s, _ := admStore(t)
	var f Failures
	for i := 0; i < 500; i++ {
		s.RecordFailure(&f, Event{Op: "list", ResourceType: "User", Status: 401, Detail: "the bearer token is not known to this server"})
	}
	if err := s.FlushFailures(ctx, &f); err != nil {
		t.Fatal(err)
	}
	if got := len(admEvents(t, s, EventQuery{Failed: true})); got != 500 {
		t.Errorf("recorded %d failures, want 500", got)
	}
}
