package scim

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// fzUserDoc is the stored user every PATCH fuzz input is applied to: every
// kind of attribute (simple, complex, multi-valued with primary, extension,
// manager) so that operations have something to hit.
const fzUserDoc = `{
	"userName": "bjensen@example.com", "externalId": "ext-1", "displayName": "Babs Jensen",
	"active": true, "title": "Tour Guide",
	"name": {"givenName": "Barbara", "familyName": "Jensen", "formatted": "Ms. Barbara J Jensen"},
	"emails": [{"value": "bjensen@example.com", "type": "work", "primary": true},
		{"value": "babs@jensen.org", "type": "home"}],
	"phoneNumbers": [{"value": "555-555-5555", "type": "work"}],
	"addresses": [{"type": "work", "streetAddress": "100 Universal City Plaza", "primary": true}],
	"roles": [{"value": "admin", "primary": true}],
	"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
		"employeeNumber": "701984", "department": "Tour Operations", "manager": {"value": "26118915"}}
}`

const fzGroupDoc = `{"displayName": "Tour Guides", "externalId": "g-1"}`

// fzPatchSeeds are PATCH bodies as Entra ID, Okta and RFC 7644 §3.5.2 send
// them, plus the malformed shapes the decoder special-cases.
var fzPatchSeeds = []string{
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`,
	`{"Operations":[{"op":"Replace","path":"active","value":"False"}]}`,
	`{"Operations":[{"op":"Add","path":"emails[type eq \"work\"].value","value":"new@example.com"}]}`,
	`{"Operations":[{"op":"replace","path":"phoneNumbers[type eq \"mobile\"].value","value":"555"}]}`,
	`{"Operations":[{"op":"remove","path":"emails[value eq \"babs@jensen.org\"]"}]}`,
	`{"Operations":[{"op":"replace","value":{"displayName":"X","name.givenName":"Y","active":true}}]}`,
	`{"Operations":[{"op":"add","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"R&D"}}]}`,
	`{"Operations":[{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"42"}]}`,
	`{"Operations":[{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}]}`,
	`{"Operations":[{"op":"replace","path":"name","value":{"familyName":"Doe"}}]}`,
	`{"Operations":[{"op":"add","path":"roles","value":[{"value":"user","primary":"True"}]}]}`,
	`{"Operations":[{"op":"replace","path":"emails[type eq \"work\"].primary","value":false}]}`,
	`{"Operations":[{"op":"replace","path":"title","value":""}]}`,
	`{"Operations":[{"op":"replace","path":"id","value":"x"}]}`,
	`{"Operations":[{"op":"remove"}]}`,
	`{"Operations":[]}`,
	`{"Operations":[{"op":"add","path":"members","value":[{"value":"u1"},{"value":"u2"}]}]}`,
	`{"Operations":[{"op":"remove","path":"members[value eq \"u1\" or value eq \"u2\"]"}]}`,
	`{"Operations":[{"op":"replace","path":"members","value":[]}]}`,
	`{"Operations":[{"op":"remove","path":"members","value":[{"value":"u1"}]}]}`,
	`{"Operations":[{"op":"add","path":"members","value":"u3"}]}`,
	`{"Operations":[{"op":"replace","value":{"id":"g","displayName":"Renamed"}}]}`,
	`{"Operations":[{"op":"replace","path":"members.value","value":"x"}]}`,
	`{"Operations":[{"op":"frobnicate","path":"title","value":"x"}]}`,
	`{"Operations":[{"op":"add","path":"x509Certificates","value":[{"value":"AAAA"}]}]}`,
	`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[`,
	`{"Operations":{"op":"add"}}`,
}

// FuzzApplyPatchUser decodes arbitrary PATCH bodies and applies them to a
// fixed user. It must never panic, must fail only with a 400 SCIM error,
// must be deterministic, and must leave a document that is already in the
// form POST would store (Normalize changes nothing), so stored documents
// do not depend on which request wrote them.
func FuzzApplyPatchUser(f *testing.F) {
	fzPatch(f, false)
}

// FuzzApplyPatchGroup is FuzzApplyPatchUser for a group, whose member
// operations become set changes instead of document edits.
func FuzzApplyPatchGroup(f *testing.F) {
	fzPatch(f, true)
}

func fzPatch(f *testing.F, group bool) {
	cat, err := NewCatalog(nil)
	if err != nil {
		f.Fatal(err)
	}
	rt, base := cat.User, fzUserDoc
	if group {
		rt, base = cat.Group, fzGroupDoc
	}
	for _, s := range fzPatchSeeds {
		f.Add([]byte(s), false)
	}
	f.Add([]byte(fzPatchSeeds[18]), true)
	lim := Limits{MaxDepth: 16, MaxValueLen: 1024, MaxOperations: 50, MaxMembers: 100}
	f.Fuzz(func(t *testing.T, body []byte, entra bool) {
		ops, err := DecodePatch(body, lim)
		if err != nil {
			fzWant400(t, "DecodePatch", err)
			return
		}
		opt := PatchOptions{ReplaceMembersAdds: entra, Limits: lim}
		doc := fzDoc(t, rt, base)
		changes, err := rt.ApplyPatch(doc, ops, opt)
		if err != nil {
			fzWant400(t, "ApplyPatch", err)
			return
		}
		n := 0
		for _, c := range changes {
			n += len(c.IDs)
		}
		if n > lim.MaxMembers {
			t.Fatalf("ApplyPatch returned %d member ids; the limit is %d", n, lim.MaxMembers)
		}
		if !group && len(changes) > 0 {
			t.Fatalf("ApplyPatch on a user returned member changes %v", changes)
		}
		// Validate may refuse (a required attribute removed) but not panic.
		_ = rt.Validate(doc)

		again := fzDoc(t, rt, base)
		changes2, err := rt.ApplyPatch(again, ops, opt)
		if err != nil || !reflect.DeepEqual(fzJSON(t, doc), fzJSON(t, again)) || !reflect.DeepEqual(changes, changes2) {
			t.Fatalf("applying the same operations twice gave different results (err %v)", err)
		}

		stored := fzJSON(t, doc)
		norm, err := rt.Normalize(fzJSON(t, doc), lim)
		if err != nil {
			t.Fatalf("Normalize refused a patched document: %v\n%s", err, fzText(t, doc))
		}
		if got := fzJSON(t, norm); !reflect.DeepEqual(got, stored) {
			t.Fatalf("patched document is not in stored form:\npatched    %s\nnormalized %s", fzText(t, stored), fzText(t, got))
		}
	})
}

// fzDoc is a fresh stored document, as the store would hand it to
// ApplyPatch.
func fzDoc(t *testing.T, rt *ResourceType, text string) map[string]any {
	t.Helper()
	in, err := DecodeObject([]byte(text), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := rt.Normalize(in, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// fzWant400 fails unless err is a 400 SCIM error with a detail.
func fzWant400(t *testing.T, what string, err error) {
	t.Helper()
	var se *Error
	if !errors.As(err, &se) {
		t.Fatalf("%s: error %T %v, want *scim.Error", what, err, err)
	}
	if se.Status != 400 || se.Detail == "" {
		t.Fatalf("%s: got %d %q %q, want 400 with a detail", what, se.Status, se.ScimType, se.Detail)
	}
}

// fzJSON round-trips v through JSON the way the store does (UseNumber).
func fzJSON(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("document does not encode as JSON: %v", err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	if m == nil {
		m = map[string]any{}
	}
	return m
}

func fzText(t *testing.T, v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
