package server

import (
	"context"
	"fmt"
	"testing"

	"scimd/store"
)

// TestLargeResponseIsStreamed: a group whose member list is larger than
// streamAt is sent in pieces (chunked, no Content-Length) and arrives as one
// complete, valid SCIM document; small responses keep their Content-Length.
func TestLargeResponseIsStreamed(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var docs []map[string]any
	for i := 0; i < 12000; i++ {
		docs = append(docs, map[string]any{"userName": fmt.Sprintf("member%04d@example.com", i), "displayName": fmt.Sprintf("Member %d", i)})
	}
	ids, err := e.st.BulkCreate(ctx, store.Users, docs)
	if err != nil {
		t.Fatal(err)
	}
	g, err := e.st.Create(ctx, store.Actor{}, store.Groups, map[string]any{"displayName": "Everyone"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.BulkAddMembers(ctx, g.ID, ids); err != nil {
		t.Fatal(err)
	}

	r := e.get("/Groups/"+g.ID).must(t, 200)
	if len(r.Body) <= streamAt {
		t.Fatalf("body is %d bytes; the test needs more than %d", len(r.Body), streamAt)
	}
	if r.Header.Get("Content-Length") != "" {
		t.Errorf("a streamed body has Content-Length %s", r.Header.Get("Content-Length"))
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/scim+json" {
		t.Errorf("Content-Type %q", ct)
	}
	members, _ := r.JSON["members"].([]any)
	if len(members) != len(ids) {
		t.Fatalf("got %d members, want %d", len(members), len(ids))
	}
	seen := map[string]bool{}
	for _, m := range members {
		seen[m.(map[string]any)["value"].(string)] = true
	}
	for _, id := range ids {
		if !seen[id] {
			t.Fatalf("member %s missing from the streamed body", id)
		}
	}

	small := e.get("/Groups/"+g.ID+"?excludedAttributes=members").must(t, 200)
	if small.Header.Get("Content-Length") == "" {
		t.Error("a small body has no Content-Length")
	}
}

// TestMemberProjections: attributes and excludedAttributes on members'
// sub-attributes work on the compact member form the store reads.
func TestMemberProjections(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ids, err := e.st.BulkCreate(ctx, store.Users, []map[string]any{{"userName": "a@x"}, {"userName": "b@x"}})
	if err != nil {
		t.Fatal(err)
	}
	g, err := e.st.Create(ctx, store.Actor{}, store.Groups, map[string]any{"displayName": "G"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.BulkAddMembers(ctx, g.ID, ids); err != nil {
		t.Fatal(err)
	}
	only := e.get("/Groups/"+g.ID+"?attributes=members.value").must(t, 200).JSON
	for _, m := range only["members"].([]any) {
		if mm := m.(map[string]any); len(mm) != 1 || mm["value"] == nil {
			t.Errorf("attributes=members.value: member %v, want only value", mm)
		}
	}
	if _, ok := only["displayName"]; ok {
		t.Error("attributes=members.value returned displayName")
	}
	without := e.get("/Groups/"+g.ID+"?excludedAttributes=members.display").must(t, 200).JSON
	for _, m := range without["members"].([]any) {
		mm := m.(map[string]any)
		if _, ok := mm["display"]; ok || mm["$ref"] == nil || mm["value"] == nil || mm["type"] != "User" {
			t.Errorf("excludedAttributes=members.display: member %v", mm)
		}
	}
}

// TestCursorPaginationOverHTTP: ?cursor= starts RFC 9865 pagination; the
// answers carry nextCursor (not startIndex) until the last page, and
// /ServiceProviderConfig advertises both pagination methods.
func TestCursorPaginationOverHTTP(t *testing.T) {
	e := newEnv(t)
	var docs []map[string]any
	for i := 0; i < 5; i++ {
		docs = append(docs, map[string]any{"userName": fmt.Sprintf("c%d@x", i)})
	}
	if _, err := e.st.BulkCreate(context.Background(), store.Users, docs); err != nil {
		t.Fatal(err)
	}
	seen := 0
	path := "/Users?count=2&cursor="
	for pages := 1; ; pages++ {
		r := e.get(path).must(t, 200)
		if _, ok := r.JSON["startIndex"]; ok {
			t.Error("a cursor page carries startIndex")
		}
		seen += len(r.JSON["Resources"].([]any))
		next, _ := r.JSON["nextCursor"].(string)
		if next == "" {
			if pages != 3 || seen != 5 {
				t.Fatalf("walk ended after %d pages with %d users, want 3 and 5", pages, seen)
			}
			break
		}
		path = "/Users?count=2&cursor=" + next
	}
	if r := e.get("/Users?cursor=bogus").must(t, 400); r.JSON["scimType"] != "invalidCursor" {
		t.Errorf("bogus cursor: %v", r.JSON)
	}
	p, _ := e.get("/ServiceProviderConfig").must(t, 200).JSON["pagination"].(map[string]any)
	if p["cursor"] != true || p["index"] != true || p["defaultPaginationMethod"] != "index" {
		t.Errorf("ServiceProviderConfig pagination %v", p)
	}
}
