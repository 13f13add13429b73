package scim

import "testing"

// TestNestedCoreSchemaKey: core attributes nested under the core schema's
// URN, like an extension, are read as core attributes (POST and path-less
// PATCH), so an operator's core-namespace attribute arrives in either form.
func TestNestedCoreSchemaKey(t *testing.T) {
	cat, err := NewCatalog([]CustomAttribute{{Name: UserSchema + ":microsoftId", Type: "string"}})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := cat.User.Normalize(map[string]any{"userName": "a", UserSchema: map[string]any{"microsoftId": "m-1", "title": "T"}}, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if doc["microsoftId"] != "m-1" || doc["title"] != "T" {
		t.Fatalf("POST: got %v, want microsoftId and title at the top level", doc)
	}
	ops, err := DecodePatch([]byte(`{"Operations":[{"op":"replace","value":{"`+UserSchema+`":{"microsoftId":"m-2"}}}]}`), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cat.User.ApplyPatch(doc, ops, PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if doc["microsoftId"] != "m-2" {
		t.Fatalf("PATCH: got %v, want microsoftId m-2", doc["microsoftId"])
	}
}
