package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// buildStatic builds scimd the way a release is built (README, "Install on
// a VPS") into a temporary folder and returns its path.
func buildStatic(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "scimd")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=test -X main.commit=0123abc", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestStaticBuild: CGO_ENABLED=0 gives a static binary (no interpreter, no
// dynamic section) that reports its build information.
func TestStaticBuild(t *testing.T) {
	bin := buildStatic(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_DYNAMIC || p.Type == elf.PT_INTERP {
			t.Errorf("program header %v: the binary is dynamically linked", p.Type)
		}
	}
	for _, s := range []string{".dynamic", ".interp", ".dynsym"} {
		if f.Section(s) != nil {
			t.Errorf("section %s present: the binary is dynamically linked", s)
		}
	}

	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("scimd version: %v", err)
	}
	got := string(out)
	for _, want := range []string{"scimd test\n", "commit 0123abc\n", runtime.Version() + " "} {
		if !strings.Contains(got, want) {
			t.Errorf("scimd version printed %q, want it to contain %q", got, want)
		}
	}

	// Replication (Litestream and its S3 client) is inside the static
	// binary, not a separate tool (issue 13).
	mods, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"github.com/benbjohnson/litestream", "github.com/aws/aws-sdk-go-v2/service/s3"} {
		if !strings.Contains(string(mods), "\tdep\t"+want+"\t") {
			t.Errorf("the static binary does not contain %s", want)
		}
	}
	if out, err := exec.Command(bin, "restore", "--help").CombinedOutput(); err != nil || !strings.Contains(string(out), "--at") {
		t.Errorf("scimd restore --help: %v\n%s", err, out)
	}
}

// scimAllowed are the only packages outside the standard library that scim
// may depend on: golang.org/x/text/unicode/norm and what it imports.
var scimAllowed = map[string]bool{"golang.org/x/text/unicode/norm": true, "golang.org/x/text/transform": true}

// TestDependencyDirection keeps the house rule: only main imports kong,
// go-toml and certmagic (and certmagic's zap); scim, store and server do not.
func TestDependencyDirection(t *testing.T) {
	forbidden := []string{"github.com/alecthomas/kong", "github.com/pelletier/go-toml", "github.com/caddyserver/certmagic", "go.uber.org/zap"}
	extra := map[string][]string{
		// scim is the protocol alone: no HTTP, no SQL (STYLE.md).
		"./scim":  {"net/http", "database/sql", "scimd/store", "scimd/server"},
		"./store": {"net/http", "scimd/server"},
		// webhook delivers what store wrote; the server's renderer is
		// handed to it, so it never depends on the HTTP API.
		"./webhook": {"scimd/server"},
		// replica wires Litestream alone; the store and server know
		// nothing of it (issue 13).
		"./replica": {"scimd/store", "scimd/server", "scimd/scim"},
		// Metrics live in admin (issue 14): store and server only offer
		// observer hooks, so neither depends on Prometheus.
		"./admin": {"modernc.org/sqlite"},
	}
	for _, pkg := range []string{"./store", "./server", "./webhook"} {
		extra[pkg] = append(extra[pkg], "github.com/prometheus", "scimd/admin")
	}
	for _, pkg := range []string{"./scim", "./store", "./server"} {
		extra[pkg] = append(extra[pkg], "scimd/replica", "github.com/benbjohnson/litestream")
	}
	// server and webhook reach SQLite only through store: they never import
	// the driver.
	for _, pkg := range []string{"./server", "./webhook"} {
		out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, imp := range strings.Fields(string(out)) {
			if strings.HasPrefix(imp, "modernc.org/sqlite") || imp == "database/sql" {
				t.Errorf("%s imports %s; it must go through store", pkg, imp)
			}
		}
	}
	for _, pkg := range []string{"./scim", "./store", "./server", "./webhook", "./admin", "./replica"} {
		if pkg == "./admin" {
			// admin reaches SQLite through store only: check its own imports.
			out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, pkg).Output()
			if err != nil {
				t.Fatalf("go list %s: %v", pkg, err)
			}
			for _, imp := range strings.Fields(string(out)) {
				for _, f := range append(forbidden, extra[pkg]...) {
					if imp == f || strings.HasPrefix(imp, f+"/") || imp == "database/sql" {
						t.Errorf("admin imports %s", imp)
					}
				}
			}
			continue
		}
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}}", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			dep, std, _ := strings.Cut(line, " ")
			for _, f := range append(forbidden, extra[pkg]...) {
				if dep == f || strings.HasPrefix(dep, f+"/") {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
			// Besides the standard library, scim may use the Go project's
			// Unicode normaliser (NFC for userName and group names, scim.NameKey).
			if pkg == "./scim" && std != "true" && dep != "scimd/scim" && !scimAllowed[dep] {
				t.Errorf("scim imports %s; it must use the standard library only (and golang.org/x/text/unicode/norm)", dep)
			}
		}
	}
}
