package main

// The disaster drill of replica_test.go against the replica schemes other
// than file:// and s3:// (issue 13's "the other schemes Litestream
// supports"), each against a real server started by the test: WebDAV
// from golang.org/x/net/webdav.

import (
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/net/webdav"
)

// davServer is a WebDAV server on loopback that wants HTTP basic
// authentication as user with password.
type davServer struct {
	root           string // the folder it serves
	addr           string
	authed, denied atomic.Int64
}

func startDAV(t *testing.T, user, password string) *davServer {
	t.Helper()
	d := &davServer{root: t.TempDir()}
	h := &webdav.Handler{FileSystem: webdav.Dir(d.root), LockSystem: webdav.NewMemLS()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d.addr = ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || subtle.ConstantTimeCompare([]byte(p), []byte(password)) != 1 {
			d.denied.Add(1)
			w.Header().Set("WWW-Authenticate", `Basic realm="scimd test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		d.authed.Add(1)
		h.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return d
}

// TestReplicaKillRestoreWebDAV runs the disaster drill with a webdav://
// replica whose password comes from password_file.
func TestReplicaKillRestoreWebDAV(t *testing.T) {
	const password = "dav-s3cr3t"
	dav := startDAV(t, "scimd", password)
	pwFile := filepath.Join(t.TempDir(), "dav-password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rpKillRestore(t, fmt.Sprintf("[replica]\nurl = \"webdav://scimd@%s/backups/scimd\"\npassword_file = %q\nsync_interval = \"1s\"\n", dav.addr, pwFile))
	if dav.authed.Load() == 0 {
		t.Fatal("the WebDAV server saw no authenticated request")
	}
	var files int
	filepath.WalkDir(filepath.Join(dav.root, "backups", "scimd"), func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.HasSuffix(p, ".ltx") {
			files++
		}
		return nil
	})
	if files == 0 {
		t.Fatalf("no replica files under the WebDAV server's backups/scimd")
	}
	t.Logf("the WebDAV server answered %d authenticated requests (%d without credentials) and holds %d replica files", dav.authed.Load(), dav.denied.Load(), files)
}
