package admin

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"scimd/store"
)

// Section is a table that another feature adds to the status page, such as
// webhook delivery or replica health. Rows runs at each page view.
type Section struct {
	Title string
	Rows  func(ctx context.Context) (Table, error)
}

// Table is a section's content. Cells are plain text: the page escapes
// them.
type Table struct {
	Columns []string
	Rows    []Row
	Empty   string // shown when there are no rows
}

// Row is one line of a section; Level colours its first cell.
type Row struct {
	Level Level
	Cells []string
}

// Level is how healthy a row is.
type Level int

// Levels, from fine to needing action now.
const (
	OK Level = iota
	Warn
	Bad
)

func (l Level) class() string {
	switch l {
	case Warn:
		return "warn"
	case Bad:
		return "bad"
	}
	return "ok"
}

//go:embed status.html
var statusHTML string

//go:embed status.css
var statusCSS string

// styleHash lets the Content-Security-Policy allow exactly the embedded
// style sheet and nothing else: no scripts, no other source of anything.
var styleHash = func() string {
	h := sha256.Sum256([]byte(statusCSS))
	return "'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'"
}()

var statusTmpl = template.Must(template.New("status").Funcs(template.FuncMap{
	"clean":      clean,
	"when":       func(t any) string { return when(deref(t)) },
	"ago":        func(t any) string { return agoText(deref(t)) },
	"date":       func(t time.Time) string { return t.Local().Format("2006-01-02") },
	"stamp":      func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") },
	"zone":       func(t time.Time) string { z, _ := t.Local().Zone(); return z },
	"daysClass":  daysClass,
	"stateClass": stateClass,
	"action":     action,
	"details":    details,
}).Parse(statusHTML))

// eventsPerPage is the size of one page of provisioning activity.
const eventsPerPage = 50

type alert struct{ Level, Text string }

type sectionView struct {
	Title string
	Err   string
	Rows  []rowView
	Table Table
}

type rowView struct {
	Class string
	Cells []string
}

type statusPage struct {
	CSS        template.CSS
	Version    string
	DB         string
	Now        time.Time
	Alerts     []alert
	Counts     store.Counts
	LastWrite  *time.Time
	Failed24h  int64
	Tokens     []tokenView
	Sections   []sectionView
	TokenNames []string
	Filter     struct {
		Token, User string
		Failed      bool
	}
	Filtered  bool
	Events    []*store.Event
	OlderURL  string
	NewestURL string
}

// status renders the page. A part that cannot be read is reported on the
// page instead of failing it whole.
func (a *Admin) status(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := a.ctx(r)
	defer cancel()
	now := a.opt.Now()
	p := statusPage{CSS: template.CSS(statusCSS), Version: a.opt.Version, DB: a.opt.Store.Path(), Now: now}
	problem := func(what string, err error) {
		a.opt.Logger.Warn("status page: "+what, "error", err)
		p.Alerts = append(p.Alerts, alert{"bad", "could not read " + what + ": see the server log"})
	}
	var err error
	if p.Counts, err = a.opt.Store.Counts(ctx); err != nil {
		problem("the directory counts", err)
	}
	if p.LastWrite, err = a.opt.Store.LastWrite(ctx); err != nil {
		problem("the last change", err)
	}
	if p.Failed24h, err = a.opt.Store.FailuresSince(ctx, now.Add(-24*time.Hour)); err != nil {
		problem("the failed requests", err)
	}
	if p.Tokens, err = tokenViews(ctx, a.opt.Store, now); err != nil {
		problem("the tokens", err)
	}
	for _, t := range p.Tokens {
		p.TokenNames = append(p.TokenNames, t.Name)
		switch {
		case t.DaysLeft <= 0:
			p.Alerts = append(p.Alerts, alert{"bad", fmt.Sprintf("Token %s has expired: run scimd token rotate %s and paste the new secret into the identity provider.", clean(t.Name), clean(t.Name))})
		case t.DaysLeft <= 7:
			p.Alerts = append(p.Alerts, alert{"bad", fmt.Sprintf("Token %s expires in %d days (%s): run scimd token rotate %s.", clean(t.Name), t.DaysLeft, t.Expires.Local().Format("2006-01-02"), clean(t.Name))})
		case t.DaysLeft <= 30:
			p.Alerts = append(p.Alerts, alert{"warn", fmt.Sprintf("Token %s expires in %d days (%s).", clean(t.Name), t.DaysLeft, t.Expires.Local().Format("2006-01-02"))})
		}
	}
	for _, s := range a.opt.Sections {
		v := sectionView{Title: s.Title}
		t, err := s.Rows(ctx)
		if err != nil {
			a.opt.Logger.Warn("status page: section "+s.Title, "error", err)
			v.Err = "could not read this part: see the server log"
		}
		v.Table = t
		for _, r := range t.Rows {
			v.Rows = append(v.Rows, rowView{Class: r.Level.class(), Cells: r.Cells})
			if r.Level == Bad && len(r.Cells) > 0 {
				p.Alerts = append(p.Alerts, alert{"bad", s.Title + ": " + clean(r.Cells[0]) + " needs attention."})
			}
		}
		p.Sections = append(p.Sections, v)
	}

	q := r.URL.Query()
	p.Filter.Token = clip(strings.TrimSpace(q.Get("token")), 64)
	p.Filter.User = clip(strings.TrimSpace(q.Get("user")), 256)
	p.Filter.Failed = q.Get("failed") != ""
	p.Filtered = p.Filter.Token != "" || p.Filter.User != "" || p.Filter.Failed
	if p.Filter.Token != "" && !slices.Contains(p.TokenNames, p.Filter.Token) {
		// A revoked token's name: its entries are still in the log.
		p.TokenNames = append(p.TokenNames, p.Filter.Token)
	}
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	evs, err := a.opt.Store.RecentEvents(ctx, store.EventQuery{Token: p.Filter.Token, User: p.Filter.User, Failed: p.Filter.Failed}, before, eventsPerPage+1)
	if err != nil {
		problem("the provisioning log", err)
	}
	if len(evs) > eventsPerPage {
		evs = evs[:eventsPerPage]
		p.OlderURL = a.pageURL(p.Filter.Token, p.Filter.User, p.Filter.Failed, evs[len(evs)-1].Seq)
	}
	if before > 0 {
		p.NewestURL = a.pageURL(p.Filter.Token, p.Filter.User, p.Filter.Failed, 0)
	}
	p.Events = evs

	var buf bytes.Buffer
	if err := statusTmpl.Execute(&buf, &p); err != nil {
		a.opt.Logger.Error("status page", "error", err)
		http.Error(w, "the status page could not be rendered: see the server log", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src "+styleHash+"; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	w.Write(buf.Bytes())
}

func (a *Admin) pageURL(token, user string, failed bool, before int64) string {
	v := url.Values{}
	if token != "" {
		v.Set("token", token)
	}
	if user != "" {
		v.Set("user", user)
	}
	if failed {
		v.Set("failed", "1")
	}
	if before > 0 {
		v.Set("before", strconv.FormatInt(before, 10))
	}
	if len(v) == 0 {
		return "/"
	}
	return "/?" + v.Encode()
}

// clean makes text that came from an identity provider (names, ids,
// User-Agents, error details) safe to show beyond HTML escaping, which
// html/template does: control characters and the invisible characters
// that reorder text (bidirectional overrides, isolates and marks, as in
// "Trojan Source") are replaced by U+FFFD, so a name cannot make a row
// read differently from what it holds.
func clean(s string) string {
	ok := true
	for _, r := range s {
		if suspicious(r) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	return strings.Map(func(r rune) rune {
		if suspicious(r) {
			return '\uFFFD'
		}
		return r
	}, s)
}

func suspicious(r rune) bool {
	switch {
	case r == '\u061C', r == '\u200E', r == '\u200F', r >= '\u202A' && r <= '\u202E', r >= '\u2066' && r <= '\u2069':
		return true
	}
	return unicode.IsControl(r)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

func deref(t any) time.Time {
	switch v := t.(type) {
	case time.Time:
		return v
	case *time.Time:
		if v != nil {
			return *v
		}
	}
	return time.Time{}
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04:05 MST")
}

// agoText renders an elapsed time coarsely, as people say it.
func agoText(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < 2*time.Minute:
		return "1 minute ago"
	case d < time.Hour:
		return fmt.Sprintf("%d minutes ago", int(d.Minutes()))
	case d < 2*time.Hour:
		return "1 hour ago"
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

// daysClass colours days left: red within 7 days (and once expired), amber
// within 30, the thresholds of the alert rules and of scimd status.
func daysClass(days int) string {
	switch {
	case days <= 7:
		return "bad"
	case days <= 30:
		return "warn"
	}
	return "ok"
}

func stateClass(state string) string {
	switch state {
	case "active":
		return "ok"
	case "expiring", "rotating":
		return "warn"
	}
	return "bad"
}

// action names what an entry did, as Entra's provisioning log does
// ("Create", "Update"): the operation and the resource type.
func action(e *store.Event) string {
	t := strings.ToLower(e.ResourceType)
	if e.Op == "" {
		return t
	}
	return strings.TrimSpace(e.Op + " " + t)
}

// details is the changed attribute names of a change, or scimType and
// detail of a failure (details in the log are already redacted of values).
func details(e *store.Event) string {
	if e.Failed() {
		d := e.Detail
		if e.ScimType != "" {
			d = e.ScimType + ": " + d
		}
		return clean(d)
	}
	d := strings.Join(e.Attrs, ", ")
	if e.Detail != "" {
		if d != "" {
			d += " "
		}
		d += "(" + e.Detail + ")"
	}
	return clean(d)
}
