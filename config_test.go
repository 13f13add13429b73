package main

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
)

func readExample(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("config.toml.example")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// configKeys lists every "section.key" of a TOML-tagged struct type;
// arrays of tables ([[attributes]]) are listed by their own name only.
func configKeys(typ reflect.Type, prefix string) []string {
	var out []string
	for f := range typ.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" || name == "-" {
			continue
		}
		switch {
		case f.Type.Kind() == reflect.Struct:
			out = append(out, configKeys(f.Type, prefix+name+".")...)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			out = append(out, prefix+name+"[]")
		default:
			out = append(out, prefix+name)
		}
	}
	return out
}

// exampleKeys lists the "section.key" pairs set in a decoded TOML document.
func exampleKeys(m map[string]any, prefix string) []string {
	var out []string
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			out = append(out, exampleKeys(sub, prefix+k+".")...)
			continue
		}
		out = append(out, prefix+k)
	}
	return out
}

// TestConfigExample: config.toml.example sets every key (other than the
// [[attributes]] declarations, which are commented out) to exactly its
// built-in default, and decodes with Load's strict decoder.
func TestConfigExample(t *testing.T) {
	text := readExample(t)
	var got Config
	if err := decodeStrict([]byte(text), &got); err != nil {
		t.Fatalf("decodeStrict(config.toml.example): %v", err)
	}
	if want := Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("config.toml.example does not hold the defaults:\n got  %+v\n want %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}

	var doc map[string]any
	if err := toml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	have := exampleKeys(doc, "")
	for _, k := range configKeys(reflect.TypeFor[Config](), "") {
		if strings.HasSuffix(k, "[]") {
			continue // documented in comments; see TestConfigExampleAttributes
		}
		if !slices.Contains(have, k) {
			t.Errorf("config.toml.example lacks %s: add it, commented, with its default", k)
		}
	}

	// Every key has a comment right above it (or above its section).
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "[") {
			continue
		}
		if i == 0 || !strings.HasPrefix(lines[i-1], "#") {
			t.Errorf("config.toml.example line %d %q has no comment above it", i+1, l)
		}
	}
}

// TestConfigExampleAttributes: the commented Timeneye declarations decode
// and validate once uncommented, and every [[attributes]] key is explained.
func TestConfigExampleAttributes(t *testing.T) {
	text := readExample(t)
	for _, k := range configKeys(reflect.TypeFor[AttributeConfig](), "") {
		k = strings.TrimSuffix(k, "[]")
		if !strings.Contains(text, "#   "+k+" ") {
			t.Errorf("config.toml.example does not explain the [[attributes]] key %s", k)
		}
	}

	// Settings ready to uncomment are "#" followed directly by TOML.
	uncommented := regexp.MustCompile(`(?m)^#([^ \n#])`).ReplaceAllString(text, "$1")
	cfg := Default()
	if err := decodeStrict([]byte(uncommented), &cfg); err != nil {
		t.Fatalf("config.toml.example with its settings uncommented: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config.toml.example with its settings uncommented: %v", err)
	}
	want := []AttributeConfig{
		{Name: "urn:ietf:params:scim:schemas:core:2.0:User:microsoftId", Type: "string", Filterable: true},
		{Name: "urn:ietf:params:scim:schemas:core:2.0:User:role", Type: "string", CanonicalValues: []string{"owner", "admin", "member"}},
	}
	if len(cfg.Attributes) != len(want) {
		t.Fatalf("uncommented attributes: got %d, want %d", len(cfg.Attributes), len(want))
	}
	for i, w := range want {
		g := cfg.Attributes[i]
		g.Description = ""
		if !reflect.DeepEqual(g, w) {
			t.Errorf("attribute %d: got %+v, want %+v", i, g, w)
		}
	}
	cat, err := cfg.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	core := cat.User.Schema
	for _, name := range []string{"microsoftId", "role"} {
		if core.Attr(name) == nil {
			t.Errorf("catalogue: core User schema lacks %s", name)
		}
	}
}

// TestConfigREADME: every TOML block in the README's "Install on a VPS"
// section is a valid config, decoded as Load does.
func TestConfigREADME(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := installSection(t, string(b))
	blocks := regexp.MustCompile("(?s)```toml\n(.*?)```").FindAllStringSubmatch(section, -1)
	if len(blocks) == 0 {
		t.Fatal(`README "Install on a VPS" has no toml block`)
	}
	for i, m := range blocks {
		cfg := Default()
		if err := decodeStrict([]byte(m[1]), &cfg); err != nil {
			t.Errorf("README toml block %d: %v", i+1, err)
			continue
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("README toml block %d: %v", i+1, err)
		}
		if err := checkTLS(cfg.TLS); err != nil {
			t.Errorf("README toml block %d: %v", i+1, err)
		}
	}
}

// installSection returns the README's "Install on a VPS" section.
func installSection(t *testing.T, readme string) string {
	t.Helper()
	_, rest, ok := strings.Cut(readme, "\n## Install on a VPS\n")
	if !ok {
		t.Fatal(`README has no "## Install on a VPS" section`)
	}
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.Index(rest, "\n<!-- section:"); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// TestQueryTimeoutValidated: [limits] query_timeout defaults to 10s and a
// zero or negative budget is refused with the key's name.
func TestQueryTimeoutValidated(t *testing.T) {
	if d := Default().Limits.QueryTimeout; d != Duration(10*time.Second) {
		t.Errorf("default query_timeout %v, want 10s", d)
	}
	for _, v := range []string{`"0s"`, `"-1s"`} {
		cfg := Default()
		if err := decodeStrict([]byte("[limits]\nquery_timeout = "+v+"\n"), &cfg); err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "query_timeout") {
			t.Errorf("query_timeout = %s: %v, want an error naming query_timeout", v, err)
		}
	}
}
