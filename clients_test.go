package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
)

func TestPublicURL(t *testing.T) {
	tests := []struct {
		name      string
		publicURL string
		domains   []string
		port      int
		want      string
	}{
		{"plain HTTP: from each request", "", nil, 443, ""},
		{"public_url wins", "https://scim.example.org", []string{"other.example.org"}, 443, "https://scim.example.org"},
		{"first domain on 443", "", []string{"Scim.Example.org", "b.example.org"}, 443, "https://scim.example.org"},
		{"first domain on another port", "", []string{"scim.example.org"}, 8443, "https://scim.example.org:8443"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			cfg.Server.PublicURL = tt.publicURL
			cfg.TLS.Domains, cfg.TLS.HTTPSPort = tt.domains, tt.port
			if got := publicURL(cfg); got != tt.want {
				t.Errorf("publicURL = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestClientTLSLocationIgnoresHost: with [tls] domains and no public_url,
// meta.location and Location name https://<first domain>:<https_port>,
// whatever Host header the client sent. It runs the real server with a
// certificate from a real ACME server (Pebble).
func TestClientTLSLocationIgnoresHost(t *testing.T) {
	bin := buildPebble(t)
	httpPort, httpsPort := freePort(t), freePort(t)
	pb := startPebble(t, bin, httpPort, freePort(t))
	cfg := acmeConfig(t, t.TempDir(), pb, httpPort, httpsPort)
	srv := startServe(t, cfg)
	srv.logs.wait(t, "certificate obtained", "domain=localhost")
	token := issueTestToken(t, cfg)
	client := httpsClient(pb.issuance)
	want := fmt.Sprintf("https://localhost:%d/scim/v2/Users/", httpsPort)
	for i, host := range []string{"evil.example", fmt.Sprintf("evil.example:%d", httpsPort), "127.0.0.1", ""} {
		t.Run("Host "+host, func(t *testing.T) {
			body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"host%d@example.org"}`, i)
			req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("https://localhost:%d/scim/v2/users", httpsPort), strings.NewReader(body))
			req.Host = host
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/scim+json")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var u struct {
				ID   string `json:"id"`
				Meta struct {
					Location string `json:"location"`
				} `json:"meta"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&u); err != nil || resp.StatusCode != http.StatusCreated {
				t.Fatalf("POST with Host %q: %d %v", host, resp.StatusCode, err)
			}
			if u.Meta.Location != want+u.ID {
				t.Errorf("meta.location %q, want %q", u.Meta.Location, want+u.ID)
			}
			if got := resp.Header.Get("Location"); got != want+u.ID {
				t.Errorf("Location %q, want %q", got, want+u.ID)
			}
		})
	}
}

func TestTokenIssueDefaultIdPNote(t *testing.T) {
	e := newAdmEnv(t, "")
	for _, tc := range []struct {
		args []string
		note bool
		idp  string
	}{
		{[]string{"--name", "plain"}, true, "entra"},
		{[]string{"--name", "explicit", "--idp", "entra"}, false, "entra"},
		{[]string{"--name", "okta", "--idp=okta"}, false, "okta"},
		{[]string{"--name", "script", "--idp", "generic"}, false, "generic"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, errOut := e.ok(append([]string{"token", "issue"}, tc.args...)...)
			if strings.Count(out, "\n") != 1 {
				t.Errorf("stdout %q, want the secret alone", out)
			}
			lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
			var notes []string
			for _, l := range lines {
				if strings.Contains(l, "--idp") {
					notes = append(notes, l)
				}
			}
			switch {
			case tc.note && (len(notes) != 1 || !strings.Contains(notes[0], "entra") || !strings.Contains(notes[0], "replace")):
				t.Errorf("stderr %q, want one line saying the token is for entra and what that means for replace", errOut)
			case !tc.note && len(notes) != 0:
				t.Errorf("stderr %q: a note about --idp although it was given", errOut)
			}
			if !strings.Contains(errOut, "for "+tc.idp+",") {
				t.Errorf("stderr %q does not say the token is for %s", errOut, tc.idp)
			}
		})
	}
}

// TestReadmeStandsAlone: the README is read in a clone with nothing
// beside it, so it names no file outside the repository, every repository
// path it names exists, and its quick start sets TOKEN before using it.
func TestReadmeStandsAlone(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, bad := range []string{"../", "/work/", "shared/"} {
		for _, loc := range regexp.MustCompile(regexp.QuoteMeta(bad)).FindAllStringIndex(text, -1) {
			i := loc[0]
			t.Errorf("README names %q, outside the repository: …%s…", bad, text[max(0, i-40):min(len(text), i+40)])
		}
	}
	for _, m := range regexp.MustCompile(`\]\(([^)\s]+)\)`).FindAllStringSubmatch(text, -1) {
		target := m[1]
		if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") || strings.HasPrefix(target, "#") {
			continue
		}
		if _, err := os.Stat(strings.SplitN(target, "#", 2)[0]); err != nil {
			t.Errorf("README links to %q, which is not in the repository", target)
		}
	}
	// Paths into the repository's own folders must exist.
	for _, m := range regexp.MustCompile("`([A-Za-z0-9_.-]+/[A-Za-z0-9_./-]*)`").FindAllStringSubmatch(text, -1) {
		p := strings.TrimSuffix(m[1], "/")
		top, _, _ := strings.Cut(p, "/")
		if st, err := os.Stat(top); err != nil || !st.IsDir() {
			continue // a media type or a path on the server, not one of ours
		}
		if top == ".cache" {
			continue // made on use (benchmarks, .ci/deps) and not in git, as the README says
		}
		if _, err := os.Stat(p); err != nil {
			t.Errorf("README names %s, which is not in the repository", p)
		}
	}
	_, quick, ok := strings.Cut(text, "\n## Quick start\n")
	if !ok {
		t.Fatal("README has no Quick start section")
	}
	quick, _, _ = strings.Cut(quick, "\n## ")
	set := strings.Index(quick, "TOKEN=")
	use := strings.Index(quick, "$TOKEN")
	if use >= 0 && (set < 0 || set > use) {
		t.Error("the quick start uses $TOKEN before setting it")
	}
}
