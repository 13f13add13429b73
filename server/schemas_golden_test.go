package server

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"scimd/scim"
	"scimd/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenCustom are the operator declarations whose /Schemas output the
// golden file pins: Timeneye's two attributes in the core User namespace,
// and an operator extension with a filterable, unique integer and a
// multi-valued complex attribute.
var goldenCustom = []scim.CustomAttribute{
	{Name: "urn:ietf:params:scim:schemas:core:2.0:User:microsoftId", Type: "string", Filterable: true,
		Description: "The user's Entra object id (Timeneye's matching attribute)."},
	{Name: "urn:ietf:params:scim:schemas:core:2.0:User:role", Type: "string",
		CanonicalValues: []string{"owner", "admin", "member"}},
	{Name: "urn:ietf:params:scim:schemas:extension:acme:2.0:User:badge", Type: "integer", Filterable: true, Unique: true,
		Description: "Badge number."},
	{Name: "urn:ietf:params:scim:schemas:extension:acme:2.0:User:sites", Type: "complex", MultiValued: true,
		Description: "Sites the user may enter.",
		SubAttributes: []scim.CustomAttribute{
			{Name: "code", Type: "string", CaseExact: true, Required: true, Pattern: `^[A-Z]{3}[0-9]{2}$`},
			{Name: "since", Type: "dateTime"},
			{Name: "level", Type: "string", CanonicalValues: []string{"visitor", "staff"}},
		}},
}

// TestSchemasGolden pins GET /Schemas (RFC 7643 §7) for a catalogue with
// operator-declared attributes. Run with -update to rewrite
// testdata/schemas_custom.golden.json, then read the diff.
func TestSchemasGolden(t *testing.T) {
	cat, err := scim.NewCatalog(goldenCustom)
	if err != nil {
		t.Fatalf("NewCatalog: %v", err)
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "scimd.db"), store.Options{Catalog: cat})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	defer st.Close()
	secret, _, err := st.IssueToken(context.Background(), "golden", "entra", time.Hour)
	if err != nil {
		t.Fatalf("IssueToken: %v", err)
	}
	ts := httptest.NewServer(New(st, Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
	defer ts.Close()

	req, err := http.NewRequest("GET", ts.URL+"/scim/v2/Schemas", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	res, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/scim+json" {
		t.Fatalf("GET /Schemas: %d %s\n%s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}

	// meta.location carries the test server's address.
	body = bytes.ReplaceAll(body, []byte(ts.URL), []byte("https://scim.example.org"))
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var doc any
	if err := d.Decode(&doc); err != nil {
		t.Fatalf("GET /Schemas: not JSON: %v\n%s", err, body)
	}
	var got bytes.Buffer
	enc := json.NewEncoder(&got)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		t.Fatal(err)
	}

	golden := filepath.Join("testdata", "schemas_custom.golden.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./server -run TestSchemasGolden -update to create it)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("GET /Schemas differs from %s (rerun with -update and read the diff):\n%s", golden, lineDiff(string(want), got.String()))
	}
}

// lineDiff shows the first lines where want and got differ.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out []string
	for i := 0; i < max(len(w), len(g)) && len(out) < 20; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			out = append(out, "line "+strconv.Itoa(i+1)+":\n  want "+wl+"\n  got  "+gl)
		}
	}
	return strings.Join(out, "\n")
}
