package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// countRows counts the rows of a table.
func countRows(t *testing.T, s *Store, table string) int {
	t.Helper()
	var n int
	if err := s.r.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// newEvents reads an endpoint's new events and wants n of them.
func newEvents(t *testing.T, s *Store, ep string, n int) ([]*OutboxEvent, int64) {
	t.Helper()
	evs, hi, err := s.NewEvents(context.Background(), ep, nil, 100)
	if err != nil || len(evs) != n {
		t.Fatalf("new events for %s: %d, %v; want %d", ep, len(evs), err, n)
	}
	return evs, hi
}

// TestOutboxRetention: [events] retention prunes events every endpoint is
// done with, and never one still pending; an event delivered at once
// leaves no delivery row.
func TestOutboxRetention(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "o.db"), Options{Events: func(string) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SetupWebhooks(ctx, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, Actor{}, Users, map[string]any{"userName": "r@x"}); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	// Past no endpoint's cursor yet: kept.
	if n, err := s.PruneOutbox(ctx, future, []string{"a", "b"}); err != nil || n != 0 {
		t.Fatalf("prune before delivery = %d, %v; want 0", n, err)
	}
	// a takes it at once; b's first attempt fails.
	evs, hi := newEvents(t, s, "a", 1)
	ev := evs[0]
	// Until a round settles, its events are read again, with the same
	// webhook-id: what a crash between sending and Settle resends.
	if again, _ := newEvents(t, s, "a", 1); again[0].Seq != ev.Seq || again[0].MsgID != ev.MsgID {
		t.Errorf("unsettled event read again as %d %s, want %d %s", again[0].Seq, again[0].MsgID, ev.Seq, ev.MsgID)
	}
	if err := s.Settle(ctx, "a", []DeliveryResult{{Seq: ev.Seq, New: true, ResourceID: ev.ResourceID, Since: ev.Time, Attempts: 1, Delivered: true}}, hi); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, s, "webhook_deliveries"); n != 0 {
		t.Errorf("an event delivered at once left %d delivery rows", n)
	}
	newEvents(t, s, "a", 0)
	evs, hi = newEvents(t, s, "b", 1)
	if err := s.Settle(ctx, "b", []DeliveryResult{{Seq: evs[0].Seq, New: true, ResourceID: evs[0].ResourceID, Since: evs[0].Time,
		Attempts: 1, NextAt: time.Now().Add(time.Second), Error: "HTTP 500"}}, hi); err != nil {
		t.Fatal(err)
	}
	// Delivered to a, still pending for b: kept.
	if n, _ := s.PruneOutbox(ctx, future, []string{"a", "b"}); n != 0 {
		t.Errorf("pruned %d events still pending for b", n)
	}
	pb, err := s.PendingDeliveries(ctx, "b", 10)
	if err != nil || len(pb) != 1 || pb[0].Seq != ev.Seq || pb[0].Attempts != 1 || !pb[0].Since.Equal(ev.Time) {
		t.Fatalf("pending for b: %+v, %v; want event %d after one attempt, since its commit %v", pb, err, ev.Seq, ev.Time)
	}
	if err := s.Settle(ctx, "b", []DeliveryResult{{Seq: pb[0].Seq, Since: pb[0].Since, Attempts: 3, Failed: true, Error: "HTTP 500"}}, 0); err != nil {
		t.Fatal(err)
	}
	// Done with everywhere, but younger than the retention: kept.
	if n, _ := s.PruneOutbox(ctx, time.Now().Add(-time.Hour), []string{"a", "b"}); n != 0 {
		t.Errorf("pruned %d events younger than the retention", n)
	}
	// Done with everywhere and past the retention, but the newest event:
	// kept, so that the sequence keeps growing (a new event is past every
	// cursor).
	if n, err := s.PruneOutbox(ctx, future, []string{"a", "b"}); err != nil || n != 0 {
		t.Errorf("prune of the newest event = %d, %v; want 0", n, err)
	}
	if _, err := s.Create(ctx, Actor{}, Users, map[string]any{"userName": "r2@x"}); err != nil {
		t.Fatal(err)
	}
	for _, ep := range []string{"a", "b"} {
		evs, hi := newEvents(t, s, ep, 1)
		if evs[0].Seq <= ev.Seq {
			t.Fatalf("new event for %s after a new commit: %d, want past %d", ep, evs[0].Seq, ev.Seq)
		}
		if err := s.Settle(ctx, ep, []DeliveryResult{{Seq: evs[0].Seq, New: true, ResourceID: evs[0].ResourceID, Since: evs[0].Time, Attempts: 1, Delivered: true}}, hi); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.PruneOutbox(ctx, future, []string{"a", "b"}); err != nil || n != 1 {
		t.Errorf("prune past retention = %d, %v; want 1", n, err)
	}
	if n := countRows(t, s, "outbox"); n != 1 {
		t.Errorf("%d outbox rows left, want the newest", n)
	}
	if n := countRows(t, s, "webhook_deliveries"); n != 0 {
		t.Errorf("%d delivery rows left after their event was pruned", n)
	}
	if _, err := s.Create(ctx, Actor{}, Users, map[string]any{"userName": "r3@x"}); err != nil {
		t.Fatal(err)
	}
	evs, hi = newEvents(t, s, "a", 1)
	if err := s.Settle(ctx, "a", []DeliveryResult{{Seq: evs[0].Seq, New: true, ResourceID: evs[0].ResourceID, Since: evs[0].Time,
		Attempts: 1, NextAt: time.Now(), Error: "HTTP 503"}}, hi); err != nil {
		t.Fatal(err)
	}
	// An outcome is not recorded over a replay made while it was sent.
	p, _ := s.PendingDeliveries(ctx, "a", 10)
	time.Sleep(2 * time.Millisecond) // since has millisecond resolution
	if _, err := s.ReplayWebhook(ctx, "a", nil, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Settle(ctx, "a", []DeliveryResult{{Seq: p[0].Seq, Since: p[0].Since, Attempts: 2, Delivered: true}}, 0); err != nil {
		t.Fatal(err)
	}
	if p2, _ := s.PendingDeliveries(ctx, "a", 10); len(p2) != 2 || p2[1].Seq != p[0].Seq {
		t.Errorf("the replayed event is no longer pending: %v", p2)
	}
}

// TestNewEventsPastRows: a round that stopped early leaves the cursor
// before its first untried event, and rows for the events it tried past
// it. NewEvents does not return those again, the backlog counts each event
// once, and Settle never moves a cursor back.
func TestNewEventsPastRows(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "o.db"), Options{Events: func(string) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SetupWebhooks(ctx, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := s.Create(ctx, Actor{}, Users, map[string]any{"userName": fmt.Sprintf("p%d@x", i)}); err != nil {
			t.Fatal(err)
		}
	}
	evs, _ := newEvents(t, s, "a", 3)
	// The second and third failed; the first was never tried.
	var res []DeliveryResult
	for _, ev := range evs[1:] {
		res = append(res, DeliveryResult{Seq: ev.Seq, New: true, ResourceID: ev.ResourceID, Since: ev.Time, Attempts: 1, NextAt: time.Now(), Error: "refused"})
	}
	if err := s.Settle(ctx, "a", res, evs[0].Seq-1); err != nil {
		t.Fatal(err)
	}
	again, _ := newEvents(t, s, "a", 1)
	if again[0].Seq != evs[0].Seq {
		t.Errorf("new events after the stopped round: %d, want the untried %d", again[0].Seq, evs[0].Seq)
	}
	w, err := s.WebhookStatus(ctx, "a", nil)
	if err != nil || w.Backlog != 3 {
		t.Errorf("backlog %+v, %v; want 3 (two pending rows, one event past the cursor)", w, err)
	}
	for _, c := range []int64{evs[2].Seq, evs[0].Seq} {
		if err := s.Settle(ctx, "a", nil, c); err != nil {
			t.Fatal(err)
		}
	}
	var cur int64
	if err := s.r.QueryRow(`SELECT cursor FROM webhook_endpoints WHERE name = 'a'`).Scan(&cur); err != nil || cur != evs[2].Seq {
		t.Errorf("cursor %d, %v; want %d: Settle moved it back", cur, err, evs[2].Seq)
	}
}

// TestOutboxMemberNet: one request's member changes give the net change:
// a PUT naming the current members changes nothing; a PUT swapping one
// member gives one removed and one added.
func TestOutboxMemberNet(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "o.db"), Options{Events: func(typ string) bool { return typ != EventGroupUpdated }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ids []string
	for _, n := range []string{"a@x", "b@x", "c@x"} {
		r, err := s.Create(ctx, Actor{}, Users, map[string]any{"userName": n})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	mem := func(ids ...string) []any {
		var l []any
		for _, id := range ids {
			l = append(l, map[string]any{"value": id})
		}
		return l
	}
	g, err := s.Create(ctx, Actor{}, Groups, map[string]any{"displayName": "g", "members": mem(ids[0], ids[1])})
	if err != nil {
		t.Fatal(err)
	}
	before := countRows(t, s, "outbox")
	if _, err := s.Replace(ctx, Actor{}, Groups, g.ID, map[string]any{"displayName": "g", "members": mem(ids[1], ids[0])}, ""); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, s, "outbox"); n != before {
		t.Errorf("a PUT with the same members stored %d events", n-before)
	}
	if _, err := s.Replace(ctx, Actor{}, Groups, g.ID, map[string]any{"displayName": "g", "members": mem(ids[1], ids[2])}, ""); err != nil {
		t.Fatal(err)
	}
	rows, err := s.r.Query(`SELECT type, data FROM outbox WHERE seq > (SELECT max(seq) - 2 FROM outbox) ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var typ, data string
		rows.Scan(&typ, &data)
		got = append(got, typ+" "+data)
	}
	want := []string{
		`group.members.removed {"group":{"displayName":"g","id":"` + g.ID + `"},"members":[{"type":"User","value":"` + ids[0] + `"}]}`,
		`group.members.added {"group":{"displayName":"g","id":"` + g.ID + `"},"members":[{"type":"User","value":"` + ids[2] + `"}]}`,
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("events of a swapping PUT:\n got  %q\n want %q", got, want)
	}
}

// TestOutboxCopyOnWrite: a resource event stores no copy of the document
// while its resource's row holds it (so a create writes the document
// once); the event pointing at the row gets the old document when the row
// changes or goes away, and no other event is touched.
func TestOutboxCopyOnWrite(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "o.db"), Options{Events: func(string) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data := func() []string {
		t.Helper()
		rows, err := s.r.Query(`SELECT data FROM outbox ORDER BY seq`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var d string
			rows.Scan(&d)
			out = append(out, d)
		}
		return out
	}
	docOf := func(id string) string {
		t.Helper()
		var d string
		if err := s.r.QueryRow(`SELECT doc FROM users WHERE id = ?`, id).Scan(&d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	a, err := s.Create(ctx, Actor{}, Users, map[string]any{"userName": "a@x", "displayName": "A1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, Actor{}, Users, map[string]any{"userName": "b@x"}); err != nil {
		t.Fatal(err)
	}
	if d := data(); len(d) != 2 || d[0] != "" || d[1] != "" {
		t.Fatalf("after two creates the events hold %q; want no copies", d)
	}
	v1 := docOf(a.ID)
	if _, err := s.Replace(ctx, Actor{}, Users, a.ID, map[string]any{"userName": "a@x", "displayName": "A2"}, ""); err != nil {
		t.Fatal(err)
	}
	v2 := docOf(a.ID)
	if d := data(); len(d) != 3 || d[0] != v1 || d[1] != "" || d[2] != "" {
		t.Fatalf("after replacing a the events hold %q; want a's first document %q in the first only", d, v1)
	}
	if err := s.Delete(ctx, Actor{}, Users, a.ID, ""); err != nil {
		t.Fatal(err)
	}
	if d := data(); len(d) != 4 || d[0] != v1 || d[1] != "" || d[2] != v2 || !strings.Contains(d[3], a.ID) {
		t.Fatalf("after deleting a the events hold %q; want v1, b's pointer, v2, user.deleted", d)
	}
}

// TestOutboxMigrationKeepsCursorsValid: migration 0012 gives outbox.seq up
// AUTOINCREMENT, after which a new event gets the highest seq kept + 1.
// An endpoint whose cursor is past every kept event (all of them pruned)
// is brought back to that highest seq, so the first event after the
// upgrade is still past its cursor and delivered.
func TestOutboxMigrationKeepsCursorsValid(t *testing.T) {
	ctx := context.Background()
	for _, kept := range []int{0, 2} {
		path := filepath.Join(t.TempDir(), "m.db")
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		// Make it a version-11 file whose outbox counted to 500 and was
		// pruned down to its last kept events.
		db, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		stmts := []string{
			`DROP TRIGGER users_outbox_keep_upd`, `DROP TRIGGER users_outbox_keep_del`,
			`DROP TRIGGER groups_outbox_keep_upd`, `DROP TRIGGER groups_outbox_keep_del`,
			`ALTER TABLE users DROP COLUMN event_seq`, `ALTER TABLE groups DROP COLUMN event_seq`,
			`DROP TABLE outbox`,
			`CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, msg_id TEXT NOT NULL, type TEXT NOT NULL, time TEXT NOT NULL,
				resource_id TEXT NOT NULL, data TEXT NOT NULL, created TEXT, modified TEXT, version INTEGER, refs TEXT)`,
		}
		for i := range kept {
			stmts = append(stmts, fmt.Sprintf(`INSERT INTO outbox (seq, msg_id, type, time, resource_id, data) VALUES (%d, 'msg_%d', 'user.deleted', '2026-01-01T00:00:00.000Z', 'u%d', '{}')`, 499+i, i, i))
		}
		stmts = append(stmts, `INSERT OR REPLACE INTO sqlite_sequence (name, seq) VALUES ('outbox', 500)`,
			`INSERT INTO webhook_endpoints (name, cursor) VALUES ('a', 500)`, `PRAGMA user_version = 11`)
		for _, q := range stmts {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		db.Close()

		s, err = Open(path, Options{Events: func(string) bool { return true }})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Create(ctx, Actor{}, Users, map[string]any{"userName": "after@x"}); err != nil {
			t.Fatal(err)
		}
		if evs, _, err := s.NewEvents(ctx, "a", nil, 100); err != nil || len(evs) != 1 {
			t.Errorf("%d events kept: the first event after the upgrade gave %d new events, %v; want 1", kept, len(evs), err)
		}
		s.Close()
	}
}
