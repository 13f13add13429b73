package scim

import (
	"reflect"
	"testing"
)

// fzResourceSeeds are POST/PUT bodies as Entra ID, Okta and RFC 7643 §8
// show them, and shapes the decoder has to refuse.
var fzResourceSeeds = []string{
	fzUserDoc,
	fzGroupDoc,
	`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@b.c","active":"True","name":{"givenName":"A"}}`,
	`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
	  "userName":"x","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":"123","department":"D"}}`,
	`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"G","members":[{"value":"u1","display":"U"},"u2"]}`,
	`{"userName":"x","emails":{"value":"a@b.c"},"roles":[{"value":"r","primary":"False"}]}`,
	`{"userName":"x","password":"hunter2","id":"mine","meta":{"created":"2020-01-01T00:00:00Z"},"groups":[{"value":"g"}]}`,
	`{"userName":"x","active":"maybe"}`,
	`{"userName":"x","emails":"x"}`,
	`{"userName":42}`,
	`{"schemas":"x"}`,
	`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"userName":"x"}`,
	`{"userName":"x","x509Certificates":[{"value":"MIIB"}],"timezone":"Europe/Berlin","locale":"de-DE"}`,
	`{"userName":"x","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":"no"}`,
	`{"userName":"x","name":{"givenName":null},"nickName":null}`,
	`{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
	`{"userName":"x"} trailing`,
	`"just a string"`,
	"{\"userName\":\"\xff\"}",
}

// FuzzNormalizeUser decodes arbitrary bodies as a POST to /Users would.
// It must never panic, must fail only with a 400 SCIM error, and what it
// accepts must be a fixed point: normalizing the stored form again changes
// nothing (a GET-modify-PUT round trip is lossless).
func FuzzNormalizeUser(f *testing.F) { fzNormalize(f, false) }

// FuzzNormalizeGroup is FuzzNormalizeUser for /Groups.
func FuzzNormalizeGroup(f *testing.F) { fzNormalize(f, true) }

func fzNormalize(f *testing.F, group bool) {
	cat, err := NewCatalog(nil)
	if err != nil {
		f.Fatal(err)
	}
	rt := cat.User
	if group {
		rt = cat.Group
	}
	for _, s := range fzResourceSeeds {
		f.Add([]byte(s))
	}
	lim := Limits{MaxDepth: 16, MaxValueLen: 1024, MaxOperations: 50, MaxMembers: 100}
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := DecodeObject(body, lim)
		if err != nil {
			fzWant400(t, "DecodeObject", err)
			return
		}
		doc, err := rt.Normalize(in, lim)
		if err != nil {
			fzWant400(t, "Normalize", err)
			return
		}
		if err := rt.Validate(doc); err != nil {
			fzWant400(t, "Validate", err)
		}
		stored := fzJSON(t, doc)
		again, err := rt.Normalize(fzJSON(t, doc), lim)
		if err != nil {
			t.Fatalf("Normalize refused its own output: %v\n%s", err, fzText(t, stored))
		}
		if got := fzJSON(t, again); !reflect.DeepEqual(got, stored) {
			t.Fatalf("Normalize is not idempotent:\nonce  %s\ntwice %s", fzText(t, stored), fzText(t, got))
		}
	})
}
