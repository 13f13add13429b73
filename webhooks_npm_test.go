package main

// The npm verifier test (issue 12): deliveries captured from the real
// server are verified with the Standard Webhooks reference package from
// the npm registry (standardwebhooks, Webhook.verify), so a receiver in any
// language can use its ecosystem's verifier unchanged. .ci/deps installs
// the package into .cache/npm.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// verifyScript reads captured deliveries on stdin and verifies each with
// Webhook.verify; it also checks that a tampered body is refused, so the
// test cannot pass by accepting everything. It prints one line per event.
const verifyScript = `
const { Webhook } = require(process.argv[1]);
const wh = new Webhook(process.argv[2]);
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
let bad = 0;
for (const d of input) {
  const headers = { 'webhook-id': d.id, 'webhook-timestamp': d.timestamp, 'webhook-signature': d.signature };
  try {
    const payload = wh.verify(d.body, headers);
    console.log('verified ' + d.id + ' ' + payload.type);
  } catch (e) {
    console.log('REFUSED ' + d.id + ': ' + e.message);
    bad++;
  }
  try {
    wh.verify(d.body.replace('"data":', '"data" :'), headers);
    console.log('ACCEPTED TAMPERED ' + d.id);
    bad++;
  } catch (e) {}
}
process.exit(bad ? 1 : 0);
`

func TestWebhookSignaturesVerifyWithNPMPackage(t *testing.T) {
	wd, _ := os.Getwd()
	pkg := filepath.Join(wd, ".cache", "npm", "node_modules", "standardwebhooks")
	if _, err := os.Stat(filepath.Join(pkg, "package.json")); err != nil {
		t.Fatalf("the npm package standardwebhooks is not installed in .cache/npm: run .ci/deps (%v)", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed: install Node.js, then run .ci/deps (%v)", err)
	}

	rx := newHookReceiver(t)
	e := newAdmEnv(t, hookConfig("50ms", hookTable("rx", rx.url())))
	tok := e.issue("entra")
	e.start()
	u := e.mustCall(201, tok, "POST", "/Users", `{"userName":"npm@example.org","name":{"givenName":"Zoë","familyName":"Ünïcode"},"active":true}`)
	id := u["id"].(string)
	e.mustCall(200, tok, "PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`)
	e.mustCall(201, tok, "POST", "/Groups", `{"displayName":"npm <&> group","members":[{"value":"`+id+`"}]}`)
	e.mustCall(204, tok, "DELETE", "/Users/"+id, "")
	got := rx.wait(5, 20*time.Second)

	type captured struct {
		ID        string `json:"id"`
		Timestamp string `json:"timestamp"`
		Signature string `json:"signature"`
		Body      string `json:"body"`
	}
	var in []captured
	for _, d := range got {
		in = append(in, captured{d.ID, d.Timestamp, d.Signature, string(d.Body)})
	}
	b, _ := json.Marshal(in)
	cmd := exec.Command(node, "-e", verifyScript, "--", pkg, testSecret)
	cmd.Stdin = strings.NewReader(string(b))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("standardwebhooks refused scimd's deliveries: %v\n%s", err, out)
	}
	for _, want := range []string{"user.created", "user.deactivated", "group.created", "group.members.added", "user.deleted"} {
		if !strings.Contains(string(out), "verified msg_") || !strings.Contains(string(out), " "+want+"\n") {
			t.Errorf("node did not verify a %s event:\n%s", want, out)
		}
	}
}
