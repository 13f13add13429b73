package main

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// numericKey is one number or duration of the configuration.
type numericKey struct {
	section, name string
	duration      bool
	zeroOff       bool
	max           string
}

// numericKeys lists every number and duration of Config by reflection, so
// a key added later is tested without editing this file.
func numericKeys(typ reflect.Type, section string) []numericKey {
	var out []numericKey
	for f := range typ.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" || name == "-" {
			continue
		}
		switch {
		case f.Type.Kind() == reflect.Struct:
			out = append(out, numericKeys(f.Type, name)...)
		case f.Type == reflect.TypeOf(Duration(0)):
			out = append(out, numericKey{section: section, name: name, duration: true, zeroOff: f.Tag.Get("zero") == "off"})
		case f.Type.Kind() >= reflect.Int && f.Type.Kind() <= reflect.Uint64:
			out = append(out, numericKey{section: section, name: name, zeroOff: f.Tag.Get("zero") == "off", max: f.Tag.Get("max")})
		}
	}
	return out
}

// TestConfigRefusesSenselessNumbers: every size, limit, count, port and
// duration refuses zero (unless 0 means off) and negative values, with an
// error that names the key; the defaults pass.
func TestConfigRefusesSenselessNumbers(t *testing.T) {
	keys := numericKeys(reflect.TypeOf(Config{}), "")
	var names []string
	for _, k := range keys {
		names = append(names, k.section+"."+k.name)
	}
	// The table must reach the keys this test was written for.
	for _, want := range []string{"server.shutdown_timeout", "server.read_timeout", "limits.max_body_bytes",
		"limits.max_results", "limits.max_filter_nodes", "limits.auth_failures_per_minute", "tokens.lifetime",
		"log.retention", "tls.https_port"} {
		if !slices.Contains(names, want) {
			t.Fatalf("numeric keys %v lack %s", names, want)
		}
	}
	dir := t.TempDir()
	load := func(t *testing.T, k numericKey, value string) error {
		t.Helper()
		p := filepath.Join(dir, "c.toml")
		text := "[" + k.section + "]\n" + k.name + " = " + value + "\n"
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p)
		return err
	}
	for _, k := range keys {
		t.Run(k.section+"."+k.name, func(t *testing.T) {
			zero, neg, big := "0", "-1", "99999999"
			if k.duration {
				zero, neg, big = `"0s"`, `"-5m"`, `"720h"`
			}
			want := "[" + k.section + "] " + k.name + " must be"
			if err := load(t, k, neg); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s = %s: got %v, want an error containing %q", k.name, neg, err, want)
			}
			err := load(t, k, zero)
			switch {
			case k.zeroOff && err != nil:
				t.Errorf("%s = %s (off): got %v, want it accepted", k.name, zero, err)
			case !k.zeroOff && (err == nil || !strings.Contains(err.Error(), want)):
				t.Errorf("%s = %s: got %v, want an error containing %q", k.name, zero, err, want)
			}
			err = load(t, k, big)
			switch {
			case k.max != "" && (err == nil || !strings.Contains(err.Error(), want+" at most "+k.max)):
				t.Errorf("%s = %s: got %v, want at most %s", k.name, big, err, k.max)
			case k.max == "" && err != nil:
				t.Errorf("%s = %s: got %v, want it accepted", k.name, big, err)
			}
		})
	}
	if _, err := Load(""); err != nil {
		t.Errorf("the defaults fail validation: %v", err)
	}
}
