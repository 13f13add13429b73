package main

// The disaster drill of replica_test.go against the replica schemes other
// than file:// and s3:// (issue 13's "the other schemes Litestream
// supports"), each against a real server started by the test: WebDAV
// from golang.org/x/net/webdav, and SFTP from github.com/pkg/sftp over an
// SSH server from golang.org/x/crypto/ssh (the libraries Litestream's
// own SFTP client is built on).

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
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

// sftpServer is an SSH server on loopback that serves SFTP under root to
// the one client key it accepts.
type sftpServer struct {
	root    string
	addr    string
	hostKey string // its public key, authorized_keys form
	logins  atomic.Int64
}

// startSFTP starts the server and returns it with the path of the client's
// private key file.
func startSFTP(t *testing.T, user string) (*sftpServer, string) {
	t.Helper()
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	clientPub, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(clientPriv, "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	allowed, err := ssh.NewPublicKey(clientPub)
	if err != nil {
		t.Fatal(err)
	}
	s := &sftpServer{root: t.TempDir(), hostKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hostSigner.PublicKey())))}
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(c ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		if c.User() == user && subtle.ConstantTimeCompare(k.Marshal(), allowed.Marshal()) == 1 {
			s.logins.Add(1)
			return nil, nil
		}
		return nil, errors.New("key not accepted")
	}}
	cfg.AddHostKey(hostSigner)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s.addr = ln.Addr().String()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(conn, cfg)
		}
	}()
	return s, keyFile
}

// serve runs one SSH connection: every session may start the sftp
// subsystem.
func (s *sftpServer) serve(conn net.Conn, cfg *ssh.ServerConfig) {
	defer conn.Close()
	_, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "sessions only")
			continue
		}
		ch, requests, err := nc.Accept()
		if err != nil {
			return
		}
		go func() {
			defer ch.Close()
			for req := range requests {
				ok := req.Type == "subsystem" && len(req.Payload) > 4 && string(req.Payload[4:]) == "sftp"
				req.Reply(ok, nil)
				if !ok {
					continue
				}
				srv, err := sftp.NewServer(ch, sftp.WithServerWorkingDirectory(s.root))
				if err != nil {
					return
				}
				srv.Serve()
				srv.Close()
				return
			}
		}()
	}
}

// TestReplicaKillRestoreSFTP runs the disaster drill with an sftp://
// replica: key from ssh_key_file, the server's key pinned by ssh_host_key.
func TestReplicaKillRestoreSFTP(t *testing.T) {
	srv, keyFile := startSFTP(t, "backup")
	rpKillRestore(t, fmt.Sprintf("[replica]\nurl = \"sftp://backup@%s/backups/scimd\"\nssh_key_file = %q\nssh_host_key = %q\nsync_interval = \"1s\"\n", srv.addr, keyFile, srv.hostKey))
	var files int
	filepath.WalkDir(filepath.Join(srv.root, "backups", "scimd"), func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.HasSuffix(p, ".ltx") {
			files++
		}
		return nil
	})
	if srv.logins.Load() == 0 || files == 0 {
		t.Fatalf("the SFTP server saw %d logins and holds %d replica files under backups/scimd", srv.logins.Load(), files)
	}
	t.Logf("the SFTP server accepted %d logins and holds %d replica files", srv.logins.Load(), files)
}

// TestReplicaSFTPWrongHostKey: a server whose key is not ssh_host_key
// gets nothing, and restore says why.
func TestReplicaSFTPWrongHostKey(t *testing.T) {
	srv, keyFile := startSFTP(t, "backup")
	other, _ := startSFTP(t, "backup")
	s := hdNew(t, "", fmt.Sprintf("[replica]\nurl = \"sftp://backup@%s/scimd\"\nssh_key_file = %q\nssh_host_key = %q\n", srv.addr, keyFile, other.hostKey))
	_, errOut, err := s.cli("restore", "--to", filepath.Join(t.TempDir(), "r.db"))
	if err == nil || !strings.Contains(errOut, "host key mismatch") {
		t.Fatalf("restore from a server with another host key: %v\n%s", err, errOut)
	}
	if srv.logins.Load() != 0 {
		t.Errorf("the client logged in to a server whose host key it should have refused")
	}
}

// TestReplicaConfigSchemes: each scheme's secrets come from its files or
// environment variables, and a key that does not apply to the scheme is
// refused rather than silently ignored.
func TestReplicaConfigSchemes(t *testing.T) {
	_, secret, load := replicaConfigLoader(t)
	const hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
	for _, tc := range []struct{ name, body, want string }{
		{"password in url", "url = \"webdavs://u:pw@dav.example.org/p\"\n", "carries a password"},
		{"password_file for s3", fmt.Sprintf("url = \"s3://b/p\"\npassword_file = %q\n", secret), "password_file does not apply to s3://"},
		{"secret file for webdav", fmt.Sprintf("url = \"webdav://dav.lan/p\"\nsecret_access_key_file = %q\n", secret), "secret_access_key_file does not apply to webdav://"},
		{"ssh key for s3", "url = \"s3://b/p\"\nssh_key_file = \"/k\"\n", "ssh_key_file does not apply to s3://"},
		{"sftp without host key", "url = \"sftp://u@host/p\"\nssh_key_file = \"/k\"\n", "needs ssh_host_key"},
		{"gs", "url = \"gs://b/p\"\n", "scheme must be one of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := load("[replica]\n" + tc.body); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}

	t.Setenv("AWS_ACCESS_KEY_ID", "aws-id")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
	t.Setenv("AZURE_STORAGE_ACCOUNT_KEY", "azure-key")
	for _, tc := range []struct {
		name, body              string
		keyID, secret, password string
	}{
		{"abs from the environment", "url = \"abs://acct@container/p\"\n", "", "azure-key", ""},
		{"abs from the file", fmt.Sprintf("url = \"abs://acct@container/p\"\nsecret_access_key_file = %q\n", secret), "", "s3cr3t", ""},
		{"oss ignores AWS variables", "url = \"oss://b/p\"\n", "", "", ""},
		{"oss from the file", fmt.Sprintf("url = \"oss://b/p\"\naccess_key_id = \"LTAI\"\nsecret_access_key_file = %q\n", secret), "LTAI", "s3cr3t", ""},
		{"webdav password", fmt.Sprintf("url = \"webdavs://u@dav.example.org/p\"\npassword_file = %q\n", secret), "", "", "s3cr3t"},
		{"nats password", fmt.Sprintf("url = \"nats://u@nats.lan/bucket\"\npassword_file = %q\n", secret), "", "", "s3cr3t"},
		{"sftp password", fmt.Sprintf("url = \"sftp://u@host/p\"\npassword_file = %q\nssh_host_key = %q\n", secret, hostKey), "", "", "s3cr3t"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := load("[replica]\n" + tc.body)
			if err != nil {
				t.Fatal(err)
			}
			rc, err := cfg.replicaConfig()
			if err != nil || rc.AccessKeyID != tc.keyID || rc.SecretAccessKey != tc.secret || rc.Password != tc.password {
				t.Errorf("got key id %q, secret %q, password %q (%v); want %q, %q, %q", rc.AccessKeyID, rc.SecretAccessKey, rc.Password, err, tc.keyID, tc.secret, tc.password)
			}
		})
	}

	// An sftp replica needs a way to log in; restore says so before
	// connecting anywhere.
	s := hdNew(t, "", fmt.Sprintf("[replica]\nurl = \"sftp://u@127.0.0.1:1/p\"\nssh_host_key = %q\n", hostKey))
	if _, errOut, err := s.cli("restore", "--to", filepath.Join(t.TempDir(), "r.db")); err == nil || !strings.Contains(errOut, "needs ssh_key_file") {
		t.Errorf("restore from sftp:// without a key or password: %v\n%s", err, errOut)
	}
}
