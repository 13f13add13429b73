package main

// The status page in a real browser (issue 14): Debian's chromium, driven
// by chromedp, loads the page from the binary's admin listener after real
// SCIM traffic and reads what a person would see.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// artifactDir is where tests leave files for a person to look at
// (screenshots): $SCIMD_ARTIFACTS when set, else testdata/artifacts, which
// git ignores.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SCIMD_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("testdata", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser starts a headless chromium with a fresh profile; the flags are
// those that work as root in a container.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium not found: run .ci/deps, which installs Debian's chromium package")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

// TestStatusPageInBrowser: the page renders without scripts; its figures
// are the ones scimd status reads from the database; a token 5 days from
// expiry is marked red and announced; a failed request appears, newest
// first, and the filters and paging work through plain links and forms.
// Names from the identity provider are shown escaped, with bidirectional
// overrides neutralised. A screenshot goes to the artefact folder.
func TestStatusPageInBrowser(t *testing.T) {
	s := newAdminE2E(t, "[admin]\nlisten = \"127.0.0.1:0\"\n")
	entra := s.issue("entra")
	s.issue("soon", "--expires", "5d", "--idp", "okta")
	s.start()
	admin := adminBase(t, s)

	user := func(name string, active bool) string {
		return fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"active":%v}`, name, active)
	}
	ids := []string{}
	for i := range 52 { // more than one page of activity
		ids = append(ids, s.do(entra, "POST", "/Users", user(fmt.Sprintf("user%02d@example.com", i), i%5 != 0)).must(t, 201).str("id"))
	}
	s.do(entra, "POST", "/Users", user("<script>alert(1)</script>@example.com", true)).must(t, 201)
	s.do(entra, "POST", "/Users", user("eve\u202Egnp.exe@example.com", true)).must(t, 201)
	s.do(entra, "POST", "/Groups", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Sales","members":[{"value":%q},{"value":%q}]}`, ids[1], ids[2])).must(t, 201)
	s.do(entra, "POST", "/Users", user("user01@example.com", true)).must(t, 409) // the failure

	out, _, _ := runScimd(s.dir, nil, "status", "--json", "--config", s.cfg) // exits 1: token soon expires
	var st statusReport
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}

	ctx := browser(t)
	b := &page{t: t, ctx: ctx}
	b.do(chromedp.Navigate(admin+"/"), chromedp.WaitVisible(chromedp.ID("activity")))
	active, inactive := b.text("#users-active"), b.text("#users-inactive")
	groups, members, failed24 := b.text("#groups"), b.text("#memberships"), b.text("#failed-24h")
	soonDays, soonClass := b.text(`tr[data-token="soon"] .days`), b.attr(`tr[data-token="soon"] .days`, "class")
	entraDays, entraClass := b.text(`tr[data-token="entra"] .days`), b.attr(`tr[data-token="entra"] .days`, "class")
	alerts := b.text("#alerts")
	firstRow, failedRow := b.text("#events tbody tr:first-child"), b.text("#events tbody tr.failed")
	rows, failedRows := b.count("#events tbody tr"), b.count("#events tbody tr.failed")
	scripts := b.count("script")
	bodyText := b.text("body")
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("chromium screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(artifactDir(t), "status-page.png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}

	for _, f := range []struct {
		name, got string
		want      int64
	}{
		{"active users", active, st.Users.Active},
		{"inactive users", inactive, st.Users.Inactive},
		{"groups", groups, st.Groups},
		{"memberships", members, st.Memberships},
		{"failed requests", failed24, st.Log.Failed},
	} {
		if n, err := strconv.ParseInt(strings.TrimSpace(f.got), 10, 64); err != nil || n != f.want {
			t.Errorf("page shows %s %q, the database holds %d", f.name, f.got, f.want)
		}
	}
	if st.Users.Active != 43 || st.Users.Inactive != 11 || st.Groups != 1 || st.Memberships != 2 || st.Log.Failed != 1 {
		t.Errorf("scimd status: %+v, want 43 active, 11 inactive, 1 group, 2 memberships, 1 failure", st)
	}
	if strings.TrimSpace(soonDays) != "5" || !strings.Contains(soonClass, "bad") {
		t.Errorf("token soon: days %q class %q, want 5 marked bad", soonDays, soonClass)
	}
	if strings.TrimSpace(entraDays) != "365" || !strings.Contains(entraClass, "ok") {
		t.Errorf("token entra: days %q class %q, want 365 marked ok", entraDays, entraClass)
	}
	if !strings.Contains(alerts, "soon expires in 5 days") {
		t.Errorf("alerts %q: want token soon announced", alerts)
	}
	if firstRow != failedRow || !strings.Contains(firstRow, "failure 409") || !strings.Contains(firstRow, "create user") ||
		!strings.Contains(firstRow, "uniqueness") || !strings.Contains(firstRow, "entra") {
		t.Errorf("newest row %q, failed row %q: want the refused create (409 uniqueness) first", firstRow, failedRow)
	}
	if rows != 50 || failedRows != 1 {
		t.Errorf("first page: %d rows, %d failed; want 50 and 1", rows, failedRows)
	}
	if scripts != 0 {
		t.Errorf("the page has %d script elements, want none (the <script> userName must be text)", scripts)
	}
	if !strings.Contains(bodyText, "<script>alert(1)</script>@example.com") {
		t.Errorf("the <script> userName is not shown as text")
	}
	if strings.Contains(bodyText, "\u202E") || !strings.Contains(bodyText, "eve\uFFFDgnp.exe@example.com") {
		t.Errorf("the right-to-left override in a userName reached the page unneutralised")
	}

	// Paging: the older page holds the rest, the first creates.
	b.do(chromedp.Click(chromedp.ID("older")), chromedp.WaitVisible(chromedp.CSS(`a[href="/"]`)))
	olderRows, lastRow := b.count("#events tbody tr"), b.text("#events tbody tr:last-child")
	if olderRows != 56-50 || !strings.Contains(lastRow, "user00@example.com") {
		t.Errorf("older page: %d rows, last %q; want 6 ending with user00's creation", olderRows, lastRow)
	}

	// Filters, through the form as a person uses it: a userName in any
	// case finds that user's entries.
	b.do(chromedp.Navigate(admin+"/"), chromedp.WaitVisible(chromedp.ID("activity")),
		chromedp.SendKeys(chromedp.CSS(`input[name="user"]`), "USER02@example.com"),
		chromedp.Submit(chromedp.CSS(`input[name="user"]`)),
		chromedp.WaitVisible(chromedp.ID("clear")))
	if n, text := b.count("#events tbody tr"), b.text("#events"); n != 1 || !strings.Contains(text, "user02@example.com") {
		t.Errorf("filter by user02: %d rows: %q", n, text)
	}
	b.do(chromedp.Navigate(admin + "/?token=soon"))
	if none := b.text("#activity"); !strings.Contains(none, "No provisioning activity matches this filter") {
		t.Errorf("filter by an unused token: %q", none)
	}
	b.do(chromedp.Navigate(admin + "/?failed=1"))
	if n, f := b.count("#events tbody tr"), b.count("#events tbody tr.failed"); n != 1 || f != 1 {
		t.Errorf("failures only: %d rows, %d failed; want the one failure", n, f)
	}
}

// page runs chromedp actions for a test, failing it on an error.
type page struct {
	t   *testing.T
	ctx context.Context
}

func (p *page) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		p.t.Fatalf("chromium: %v", err)
	}
}

// text is the visible text of the first element matching css.
func (p *page) text(css string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		p.t.Fatalf("chromium, text of %s: %v", css, err)
	}
	return s
}

// attr is an attribute of the first element matching css.
func (p *page) attr(css, name string) string {
	p.t.Helper()
	a, err := chromedp.Run(p.ctx, chromedp.AttributeValue(chromedp.CSS(css), name))
	if err != nil || !a.Exists {
		p.t.Fatalf("chromium, %s of %s: %v (exists %v)", name, css, err, a.Exists)
	}
	return a.Value
}

// count is how many elements match css (none is not an error).
func (p *page) count(css string) int {
	p.t.Helper()
	n, err := chromedp.Run(p.ctx, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", css)))
	if err != nil {
		p.t.Fatalf("chromium, counting %s: %v", css, err)
	}
	return n
}
