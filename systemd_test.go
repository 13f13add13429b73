package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var units = []string{"scimd.service", "scimd-token-rotate.service", "scimd-token-rotate.timer", "scimd-check.service", "scimd-check.timer"}

// needTool returns the path of a systemd tool; .ci/run installs Debian's
// systemd package so that these tests run everywhere.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: install it with `apt-get install systemd` (.ci/run does)", name)
	}
	return p
}

// unitDirectives reads a unit file into "Section.Key" -> values.
func unitDirectives(t *testing.T, name string) map[string][]string {
	t.Helper()
	f, err := os.Open(filepath.Join("systemd", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "["):
			section = strings.Trim(l, "[]")
		default:
			k, v, _ := strings.Cut(l, "=")
			out[section+"."+k] = append(out[section+"."+k], v)
		}
	}
	return out
}

// sandboxRoot lays out a root folder for systemd-analyze: the host's
// systemd units (for default dependencies such as sysinit.target), ours in
// /etc/systemd/system, and the real static scimd in /usr/local/bin, so that
// verify also checks the ExecStart= binaries exist and are executable.
func sandboxRoot(t *testing.T, bin string) string {
	t.Helper()
	root := t.TempDir()
	copyFile := func(src, dst string, mode os.FileMode) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		in, err := os.Open(src)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
	}
	hostUnits, err := filepath.Glob("/usr/lib/systemd/system/*")
	if err != nil || len(hostUnits) == 0 {
		t.Fatal("no units in /usr/lib/systemd/system: install Debian's systemd package (`apt-get install systemd`)")
	}
	for _, u := range hostUnits {
		if fi, err := os.Stat(u); err == nil && fi.Mode().IsRegular() {
			copyFile(u, filepath.Join(root, "usr/lib/systemd/system", filepath.Base(u)), 0o644)
		}
	}
	for _, u := range units {
		copyFile(filepath.Join("systemd", u), filepath.Join(root, "etc/systemd/system", u), 0o644)
	}
	copyFile(bin, filepath.Join(root, "usr/local/bin/scimd"), 0o755)
	return root
}

// TestSystemdUnits verifies the units with systemd's own tools, rates the
// service's sandbox, and runs both ExecStart= command lines against the
// real binary.
func TestSystemdUnits(t *testing.T) {
	analyze := needTool(t, "systemd-analyze")
	bin := buildStatic(t)
	root := sandboxRoot(t, bin)

	t.Run("verify", func(t *testing.T) {
		args := []string{"verify", "--root=" + root, "--man=no"}
		for _, u := range units {
			args = append(args, filepath.Join(root, "etc/systemd/system", u))
		}
		out, err := exec.Command(analyze, args...).CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	})

	t.Run("security", func(t *testing.T) {
		out, err := exec.Command(analyze, "security", "--offline=true", "--no-pager", filepath.Join("systemd", "scimd.service")).CombinedOutput()
		if err != nil {
			t.Fatalf("systemd-analyze security: %v\n%s", err, out)
		}
		m := regexp.MustCompile(`Overall exposure level for scimd\.service: (\d+\.\d) (\w+)`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("no overall exposure level in:\n%s", out)
		}
		score, _ := strconv.ParseFloat(string(m[1]), 64)
		if score > 2.0 {
			t.Errorf("scimd.service exposure %s %s, want at most 2.0:\n%s", m[1], m[2], out)
		}
		t.Logf("systemd-analyze security: %s %s", m[1], m[2])
		// The score is recorded where operators read it.
		want := fmt.Sprintf("%s %s", m[1], m[2])
		for _, f := range []string{"README.md", "systemd/scimd.service"} {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), "rates this unit "+want) && !strings.Contains(string(b), "rates scimd.service "+want) {
				t.Errorf("%s does not record the systemd-analyze security score %q", f, want)
			}
		}
	})

	t.Run("sysusers", func(t *testing.T) {
		sysusers := needTool(t, "systemd-sysusers")
		conf, err := filepath.Abs(filepath.Join("systemd", "scimd.sysusers"))
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(sysusers, "--dry-run", "--root="+t.TempDir(), conf).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Creating user 'scimd'") {
			t.Errorf("systemd-sysusers --dry-run: %v\n%s", err, out)
		}
	})

	t.Run("service", func(t *testing.T) {
		d := unitDirectives(t, "scimd.service")
		for key, want := range map[string]string{
			"Service.Type":                    "notify",
			"Service.ExecStart":               "/usr/local/bin/scimd serve --config /etc/scimd/config.toml",
			"Service.Restart":                 "on-failure",
			"Service.User":                    "scimd",
			"Service.StateDirectory":          "scimd",
			"Service.ConfigurationDirectory":  "scimd",
			"Service.AmbientCapabilities":     "CAP_NET_BIND_SERVICE",
			"Service.CapabilityBoundingSet":   "CAP_NET_BIND_SERVICE",
			"Service.NoNewPrivileges":         "yes",
			"Service.ProtectSystem":           "strict",
			"Service.ProtectHome":             "yes",
			"Service.PrivateTmp":              "yes",
			"Service.PrivateDevices":          "yes",
			"Service.RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
			"Service.SystemCallArchitectures": "native",
			"Service.MemoryDenyWriteExecute":  "yes",
			"Service.LockPersonality":         "yes",
			"Service.RestrictNamespaces":      "yes",
		} {
			if got := d[key]; len(got) != 1 || got[0] != want {
				t.Errorf("%s = %q, want %q", key, got, want)
			}
		}
		// systemd must not kill scimd while it drains for shutdown_timeout.
		stop, err := time.ParseDuration(strings.Join(d["Service.TimeoutStopSec"], ""))
		if err != nil || stop <= time.Duration(Default().Server.ShutdownTimeout) {
			t.Errorf("TimeoutStopSec=%q must exceed the default shutdown_timeout %v", d["Service.TimeoutStopSec"], time.Duration(Default().Server.ShutdownTimeout))
		}
	})

	t.Run("every line commented", func(t *testing.T) {
		for _, u := range append(units, "scimd.sysusers") {
			b, err := os.ReadFile(filepath.Join("systemd", u))
			if err != nil {
				t.Fatal(err)
			}
			commented := false // the block of directives we are in has a comment
			for i, l := range strings.Split(string(b), "\n") {
				switch {
				case strings.HasPrefix(l, "#"):
					commented = true
				case l == "" || strings.HasPrefix(l, "["):
					commented = false
				case !commented:
					t.Errorf("%s:%d %q has no comment above it", u, i+1, l)
				}
			}
		}
	})

	// The timer's job, run as the timer would (minus systemd): it rotates a
	// token that expires within 30 days into the new-tokens folder.
	t.Run("token rotation job", func(t *testing.T) {
		d := unitDirectives(t, "scimd-token-rotate.service")
		args := strings.Fields(strings.Join(d["Service.ExecStart"], ""))
		if len(args) == 0 || args[0] != "/usr/local/bin/scimd" {
			t.Fatalf("ExecStart=%q", args)
		}
		if got := d["Service.StateDirectory"]; len(got) != 1 || !strings.Contains(got[0], "scimd/new-tokens") {
			t.Errorf("StateDirectory=%q must create the --out-dir folder", got)
		}
		dir := t.TempDir()
		cfgPath := filepath.Join(dir, "config.toml")
		if err := os.WriteFile(cfgPath, fmt.Appendf(nil, "[database]\npath = %q\n", filepath.Join(dir, "scimd.db")), 0o600); err != nil {
			t.Fatal(err)
		}
		outDir := filepath.Join(dir, "new-tokens")
		if err := os.Mkdir(outDir, 0o700); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(bin, "token", "issue", "--name", "entra", "--expires", "10d", "--config", cfgPath).CombinedOutput(); err != nil {
			t.Fatalf("token issue: %v\n%s", err, out)
		}
		for i, a := range args {
			switch a {
			case "/usr/local/bin/scimd":
				args[i] = bin
			case "/etc/scimd/config.toml":
				args[i] = cfgPath
			case "/var/lib/scimd/new-tokens":
				args[i] = outDir
			}
		}
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v\n%s", args, err, out)
		}
		fi, err := os.Stat(filepath.Join(outDir, "entra.token"))
		if err != nil {
			t.Fatalf("the rotation job wrote no new secret: %v\n%s", err, out)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("entra.token mode %v, want 0600", fi.Mode().Perm())
		}
		if !strings.Contains(string(out), "entra") {
			t.Errorf("the rotation job's output does not name the rotated token:\n%s", out)
		}
	})

	t.Run("serve command line", func(t *testing.T) {
		args := strings.Fields(strings.Join(unitDirectives(t, "scimd.service")["Service.ExecStart"], ""))
		out, err := exec.Command(bin, append(args[1:], "--help")...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "serve") {
			t.Errorf("scimd %q --help: %v\n%s", args[1:], err, out)
		}
	})
}
