package main

// The database stays a plain SQLite file (issue 11): after a SIGKILL under
// write load on declared filterable and unique attributes, Debian's sqlite3
// shell, which knows none of scimd's functions, finds the file sound.
// .ci/run runs this test on its own as a CI step as well. TestQueryTimeoutConfig
// drives [limits] query_timeout through the built binary.

import (
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"scimd/store"
)

// sqlite3Pragmas runs PRAGMA integrity_check and PRAGMA foreign_key_check
// with the sqlite3 shell and returns their output.
func sqlite3Pragmas(t *testing.T, db string) string {
	t.Helper()
	bin, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Fatal("the sqlite3 shell is missing: .ci/deps installs it (Debian package sqlite3)")
	}
	out, err := exec.Command(bin, "-bail", db, "PRAGMA integrity_check;", "PRAGMA foreign_key_check;").CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3 on %s: %v\n%s", db, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestSQLite3ChecksFileAfterKill(t *testing.T) {
	const ext = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
	s := hdNew(t, "", `[users]
on_delete = "deactivate"
[[attributes]]
name = "urn:ietf:params:scim:schemas:core:2.0:User:microsoftId"
filterable = true
[[attributes]]
name = "`+ext+`:badge"
unique = true
filterable = true
[[attributes]]
name = "`+ext+`:seat"
type = "integer"
unique = true
`)
	for round := 0; round < 3; round++ {
		s.start()
		var acked atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < 6; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					n := (round*6+w)*100000 + i
					status, body, err := s.request("POST", "/Users", map[string]any{
						"userName": fmt.Sprintf("k%d@example.com", n), "microsoftId": fmt.Sprintf("MS-%d", n),
						ext: map[string]any{"badge": fmt.Sprintf("B-%d", n), "seat": n}})
					if err != nil {
						return
					}
					if status != 201 {
						t.Errorf("create: %d %v", status, body)
						return
					}
					acked.Add(1)
					id, _ := body["id"].(string)
					var patch map[string]any
					switch i % 3 {
					case 0: // change the unique value
						patch = map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
							"Operations": []any{map[string]any{"op": "replace", "path": ext + ":badge", "value": fmt.Sprintf("b2-%d", n)}}}
						if st, _, err := s.request("PATCH", "/Users/"+id, patch); err != nil || st != 200 {
							return
						}
					case 1: // keep it aside (on_delete = deactivate)
						if st, _, err := s.request("DELETE", "/Users/"+id, nil); err != nil || st != 204 {
							return
						}
					}
					// A lookup through the side table.
					if st, _, err := s.request("GET", fmt.Sprintf(`/Users?filter=microsoftId+eq+%%22ms-%d%%22`, n), nil); err != nil || st != 200 {
						return
					}
				}
			}()
		}
		deadline := time.Now().Add(15 * time.Second)
		for acked.Load() < 30 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Duration(50+round*70) * time.Millisecond)
		if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-s.exited
		close(stop)
		wg.Wait()
		if acked.Load() == 0 {
			t.Fatalf("round %d: no write acknowledged before the kill:\n%s", round, s.log)
		}
		// The file as the crash left it, before scimd opens it again.
		if out := sqlite3Pragmas(t, s.db); out != "ok" {
			t.Fatalf("round %d: sqlite3 PRAGMA integrity_check / foreign_key_check after SIGKILL:\n%s", round, out)
		}
		out, err := exec.Command("sqlite3", s.db, "SELECT count(*) FROM sqlite_master WHERE sql LIKE '%scim_fold%'; SELECT count(*) FROM user_attrs;").CombinedOutput()
		if err != nil {
			t.Fatalf("sqlite3: %v\n%s", err, out)
		}
		if f := strings.Fields(string(out)); len(f) != 2 || f[0] != "0" || f[1] == "0" {
			t.Fatalf("round %d: schema objects calling scim_fold, and indexed values: %q; want 0 and some", round, out)
		}
		t.Logf("round %d: %d users acknowledged before SIGKILL; sqlite3 says ok", round, acked.Load())
	}
}

// TestQueryTimeoutConfig: [limits] query_timeout reaches the server: a
// filter no index helps, over 20,000 users, outlives a 30ms budget and is
// answered 400 tooMany (RFC 7644 §3.12), while a userName lookup works.
func TestQueryTimeoutConfig(t *testing.T) {
	s := hdNew(t, "", "[limits]\nquery_timeout = \"30ms\"\n")
	st, err := store.Open(s.db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	docs := make([]map[string]any, 0, 20000)
	for i := 0; i < 20000; i++ {
		docs = append(docs, map[string]any{"userName": fmt.Sprintf("q%05d@example.com", i),
			"emails": []any{map[string]any{"value": fmt.Sprintf("q%05d@example.com", i)}}})
	}
	if _, err := st.BulkCreate(context.Background(), store.Users, docs); err != nil {
		t.Fatal(err)
	}
	st.Close()
	s.start()
	var terms []string
	for i := 0; i < 100; i++ {
		terms = append(terms, fmt.Sprintf(`emails.value co "zz%d"`, i))
	}
	status, body, err := s.request("GET", "/Users?filter="+url.QueryEscape(strings.Join(terms, " or ")), nil)
	if err != nil {
		t.Fatal(err)
	}
	if status != 400 || body["scimType"] != "tooMany" || body["status"] != "400" {
		t.Fatalf("costly filter with query_timeout 30ms: %d %v; want 400 tooMany", status, body)
	}
	status, body, err = s.request("GET", "/Users?filter="+url.QueryEscape(`userName eq "Q00042@example.com"`), nil)
	if err != nil || status != 200 || body["totalResults"] != float64(1) {
		t.Fatalf("lookup: %d %v %v", status, body, err)
	}
}
