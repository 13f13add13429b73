package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kong"

	"scimd/store"
)

// TokenCmd is "scimd token ...".
type TokenCmd struct {
	Issue  TokenIssueCmd  `cmd:"" help:"Create a bearer token; prints the secret once on stdout."`
	List   TokenListCmd   `cmd:"" help:"List tokens (never their secrets)."`
	Revoke TokenRevokeCmd `cmd:"" help:"Revoke a token at once."`
	Rotate TokenRotateCmd `cmd:"" help:"Issue a successor; the old secret works until the grace period ends."`
}

// Help shows examples.
func (TokenCmd) Help() string {
	return `Each identity-provider connection has one named token. Secrets are shown once and stored
only as SHA-256 hashes. Tokens expire ([tokens] lifetime, 365d by default): rotate them
before they do, or the identity provider gets 401 (Entra then quarantines the app).

Examples:
  scimd token issue --name entra
  scimd token list
  scimd token rotate entra --grace 7d
  scimd token rotate --due --out-dir /var/lib/scimd/new-tokens
  scimd token revoke okta`
}

// TokenIssueCmd is "scimd token issue".
type TokenIssueCmd struct {
	Name    string    `required:"" help:"A unique name for the connection, e.g. entra or okta (letters, digits, '.', '-', '_')."`
	Expires *Duration `help:"Lifetime, e.g. 365d or 720h (default: [tokens] lifetime)." placeholder:"DUR"`
	IDP     string    `name:"idp" default:"entra" enum:"entra,okta,generic" help:"Which client uses it: entra, okta or generic (decides how PATCH replace on members is read)."`
	Scope   string    `name:"scope" default:"write" enum:"read,write" help:"write (default): everything SCIM allows; read: GET, lists and .search only, writes get 403."`
}

// Help shows examples.
func (TokenIssueCmd) Help() string {
	return `Prints the secret alone on stdout (once: only its hash is kept); metadata goes to stderr.

Examples:
  scimd token issue --name entra
  scimd token issue --name okta --idp okta --expires 180d
  scimd token issue --name wiki --idp generic --scope read
  TOKEN=$(scimd token issue --name test --idp generic --expires 1d)`
}

// Run issues the token. Without --idp the token is for Entra ID, and one
// line on stderr says so: the choice changes what PATCH replace on members
// does, which an Okta or script user should not learn from lost members.
func (c TokenIssueCmd) Run(cli *CLI, kctx *kong.Context) error {
	cfg, err := Load(cli.Config)
	if err != nil {
		return err
	}
	life, err := tokenLifetime(cfg, c.Expires)
	if err != nil {
		return err
	}
	if !store.ValidTokenName(c.Name) {
		return fmt.Errorf("--name %q: %v", c.Name, store.ErrTokenName)
	}
	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	secret, t, err := st.IssueScopedToken(context.Background(), c.Name, c.IDP, c.Scope, life)
	if err != nil {
		if errors.Is(err, store.ErrTokenExists) {
			return fmt.Errorf("token %q already exists: pick another --name, or use 'scimd token rotate %s'", c.Name, c.Name)
		}
		return err
	}
	fmt.Println(secret)
	if !flagGiven(kctx, "idp") {
		fmt.Fprintf(os.Stderr, "no --idp given: token %q is for entra, so PATCH replace on a group's members adds them; use --idp okta or --idp generic for RFC 7644 replace\n", t.Name)
	}
	scope := ""
	if t.Scope == store.ScopeRead {
		scope = " (read-only)"
	}
	fmt.Fprintf(os.Stderr, "issued token %q for %s%s, expires %s (%s); it is shown only once\n",
		t.Name, t.IDP, scope, t.Expires.Local().Format("2006-01-02 15:04"), humanDays(life))
	return nil
}

// fmtDuration renders d as the config does: whole days as "30d".
func fmtDuration(d time.Duration) string {
	b, _ := Duration(d).MarshalText()
	return string(b)
}

// humanDays renders a lifetime as days when it is at least one.
func humanDays(d time.Duration) string {
	if d >= 24*time.Hour {
		return fmt.Sprintf("%d days", int(d.Hours()/24))
	}
	return d.String()
}

// TokenListCmd is "scimd token list".
type TokenListCmd struct {
	JSON bool `name:"json" help:"Print a JSON array."`
}

// Help shows examples.
func (TokenListCmd) Help() string {
	return `One row per secret: a rotated token shows its old secret (state rotating until the
grace period ends, then rotated) beside the new one. LAST USED and CLIENT (the
User-Agent) are written by the server every few seconds. States: active, expiring
(within 30 days), expired, revoked, rotating, rotated.

Examples:
  scimd token list
  scimd token list --json | jq '.[] | select(.state == "expiring")'`
}

// tokenRow is one token as token list and status show it.
type tokenRow struct {
	Name      string     `json:"name"`
	IDP       string     `json:"idp"`
	Scope     string     `json:"scope"`
	Created   time.Time  `json:"created"`
	Expires   time.Time  `json:"expires"`
	DaysLeft  int        `json:"days_left"`
	Retires   *time.Time `json:"retires,omitempty"`
	Current   bool       `json:"current"`
	LastUsed  *time.Time `json:"last_used"`
	LastAgent string     `json:"last_user_agent"`
	State     string     `json:"state"`
}

func newTokenRow(t *store.Token, now time.Time) tokenRow {
	return tokenRow{Name: t.Name, IDP: t.IDP, Scope: t.Scope, Created: t.Created, Expires: t.Expires, DaysLeft: store.DaysLeft(t.Expires, now),
		Retires: t.Retires, Current: t.Current(), LastUsed: t.LastUsed, LastAgent: t.LastAgent, State: t.State(now)}
}

// inTime says how long until t, in days, or in hours on the last day.
func inTime(t, now time.Time) string {
	if d := t.Sub(now); d < 24*time.Hour {
		return fmt.Sprintf("%d hours", int(math.Ceil(d.Hours())))
	}
	return fmt.Sprintf("%d days", store.DaysLeft(t, now))
}

// Run lists tokens.
func (c TokenListCmd) Run(cli *CLI) error {
	st, err := openConfigured(cli)
	if err != nil {
		return err
	}
	defer st.Close()
	list, err := st.Tokens(context.Background())
	if err != nil {
		return err
	}
	now := time.Now()
	rows := make([]tokenRow, 0, len(list))
	for _, t := range list {
		rows = append(rows, newTokenRow(t, now))
	}
	if c.JSON {
		return writeJSONValue(os.Stdout, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(os.Stderr, "no tokens yet: create one with 'scimd token issue --name NAME'")
		return nil
	}
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tIDP\tSCOPE\tCREATED\tEXPIRES\tDAYS LEFT\tLAST USED\tCLIENT\tSTATE")
	for _, r := range rows {
		state := r.State
		if r.State == "rotating" && r.Retires != nil {
			state += " until " + r.Retires.Local().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", safeText(r.Name), safeText(r.IDP), r.Scope, r.Created.Local().Format("2006-01-02"),
			r.Expires.Local().Format("2006-01-02"), r.DaysLeft, timeOrNever(r.LastUsed), safeText(dash(r.LastAgent)), state)
	}
	return tw.Flush()
}

func timeOrNever(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// TokenRevokeCmd is "scimd token revoke".
type TokenRevokeCmd struct {
	Name string `arg:"" help:"The token's name."`
	Old  bool   `help:"Revoke only the old secrets still in their grace period after a rotation; keep the current one."`
}

// Help shows examples.
func (TokenRevokeCmd) Help() string {
	return `Revokes every secret of the token, including an old one still in its grace period.
A running server refuses it on the next request (401, "was revoked"). With --old only the
secrets replaced by a rotation are revoked: use it once the identity provider has switched
to the new secret (token list shows the new row's LAST USED).

Examples:
  scimd token revoke okta
  scimd token revoke entra --old`
}

// Run revokes.
func (c TokenRevokeCmd) Run(cli *CLI) error {
	st, err := openConfigured(cli)
	if err != nil {
		return err
	}
	defer st.Close()
	if c.Old {
		n, err := st.RevokeReplaced(context.Background(), c.Name)
		if errors.Is(err, store.ErrNoToken) {
			return fmt.Errorf("no token is named %q (see 'scimd token list')", c.Name)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "revoked %d old secret(s) of token %q; its current secret keeps working\n", n, c.Name)
		return nil
	}
	if err := st.RevokeToken(context.Background(), c.Name); err != nil {
		if errors.Is(err, store.ErrNoToken) {
			return fmt.Errorf("no token is named %q (see 'scimd token list')", c.Name)
		}
		return err
	}
	fmt.Fprintf(os.Stderr, "revoked token %q: the next request with it gets 401\n", c.Name)
	return nil
}

// TokenRotateCmd is "scimd token rotate".
type TokenRotateCmd struct {
	Name    string    `arg:"" optional:"" help:"The token's name (or use --due)."`
	Grace   *Duration `help:"How long the old secret keeps working (default 7d, never past its expiry)." placeholder:"DUR"`
	Expires *Duration `help:"Lifetime of the new secret (default: [tokens] lifetime)." placeholder:"DUR"`
	Due     bool      `help:"Rotate every token that expires within --within; the old secrets work until their own expiry."`
	Within  *Duration `help:"With --due: the window (default 30d)." placeholder:"DUR"`
	OutDir  string    `name:"out-dir" help:"With --due: write each new secret to DIR/NAME.token (mode 0600) instead of stdout." placeholder:"DIR" type:"path"`
}

// Help shows examples.
func (TokenRotateCmd) Help() string {
	return `With NAME: issues a successor with the same name and idp and prints its secret alone on
stdout. The old secret keeps working for --grace (default 7d), so you can paste the new one
into the identity provider without an outage.

With --due: rotates every token expiring within --within (default 30d). Each old secret
keeps working until its own expiry. With --out-dir each new secret goes to DIR/NAME.token
(mode 0600) and stdout lists what was rotated, so a systemd timer can run it; without it,
stdout has one "NAME SECRET" line per rotated token. Tokens that have already expired are
skipped (rotate them by name).

Examples:
  scimd token rotate entra
  scimd token rotate okta --grace 14d
  scimd token rotate --due --out-dir /var/lib/scimd/new-tokens
  scimd token rotate --due --within 45d`
}

// Run rotates one token, or the due ones.
func (c TokenRotateCmd) Run(cli *CLI) error {
	switch {
	case c.Due && c.Name != "":
		return errors.New("give a token NAME or --due, not both")
	case !c.Due && c.Name == "":
		return errors.New("name the token to rotate (see 'scimd token list'), or use --due")
	case c.Due && c.Grace != nil:
		return errors.New("--grace applies to one named token; with --due old secrets work until their own expiry")
	case !c.Due && (c.Within != nil || c.OutDir != ""):
		return errors.New("--within and --out-dir apply only with --due")
	}
	cfg, err := Load(cli.Config)
	if err != nil {
		return err
	}
	life, err := tokenLifetime(cfg, c.Expires)
	if err != nil {
		return err
	}
	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if c.Due {
		return c.rotateDue(st, life)
	}
	grace := 7 * 24 * time.Hour
	if c.Grace != nil {
		grace = time.Duration(*c.Grace)
	}
	if grace < 0 {
		return errors.New("--grace must not be negative")
	}
	secret, t, err := st.RotateToken(context.Background(), c.Name, life, grace, false)
	if err != nil {
		if errors.Is(err, store.ErrNoToken) {
			return fmt.Errorf("no active token is named %q (see 'scimd token list')", c.Name)
		}
		return err
	}
	fmt.Println(secret)
	fmt.Fprintf(os.Stderr, "rotated token %q: the new secret expires %s; the old one keeps working until %s\n",
		t.Name, t.Expires.Local().Format("2006-01-02"), oldUntil(st, t.Name))
	return nil
}

// oldUntil says until when the previous secret of name works.
func oldUntil(st *store.Store, name string) string {
	list, err := st.Tokens(context.Background())
	if err != nil {
		return "its grace period ends"
	}
	var until *time.Time
	for _, t := range list {
		if t.Name == name && t.Retires != nil && t.Revoked == nil && (until == nil || t.Retires.After(*until)) {
			until = t.Retires
		}
	}
	if until == nil {
		return "its grace period ends"
	}
	return until.Local().Format("2006-01-02 15:04")
}

func (c TokenRotateCmd) rotateDue(st *store.Store, life time.Duration) error {
	within := 30 * 24 * time.Hour
	if c.Within != nil {
		within = time.Duration(*c.Within)
	}
	if c.OutDir != "" {
		if fi, err := os.Stat(c.OutDir); err != nil || !fi.IsDir() {
			return fmt.Errorf("--out-dir %s: not a directory", c.OutDir)
		}
	}
	ctx := context.Background()
	due, err := st.DueTokens(ctx, within)
	if err != nil {
		return err
	}
	now := time.Now()
	rotated := 0
	var failed []string
	for _, t := range due {
		if !now.Before(t.Expires) {
			fmt.Fprintf(os.Stderr, "skipped %q: it already expired on %s; rotate it by name: scimd token rotate %s\n",
				t.Name, t.Expires.Local().Format("2006-01-02"), t.Name)
			continue
		}
		if err := c.rotateOne(st, t, life); err != nil {
			fmt.Fprintf(os.Stderr, "token %q: %v\n", t.Name, err)
			failed = append(failed, t.Name)
			continue
		}
		rotated++
	}
	if len(failed) > 0 {
		return fmt.Errorf("could not rotate %d of %d due tokens: %v", len(failed), len(due), failed)
	}
	if rotated == 0 {
		fmt.Fprintf(os.Stderr, "no token expires within %s: nothing to rotate\n", fmtDuration(within))
	}
	return nil
}

// rotateOne rotates t, keeping its old secret until its own expiry. With
// --out-dir the secret file is created (0600) before the rotation, so an
// unwritable directory fails before anything changes, and renamed into
// place after it.
func (c TokenRotateCmd) rotateOne(st *store.Store, t *store.Token, life time.Duration) error {
	if c.OutDir == "" {
		secret, nt, err := st.RotateToken(context.Background(), t.Name, life, 0, true)
		if err != nil {
			return err
		}
		fmt.Printf("%s %s\n", nt.Name, secret)
		fmt.Fprintf(os.Stderr, "rotated %q: new secret expires %s; the old one works until %s\n",
			nt.Name, nt.Expires.Local().Format("2006-01-02"), t.Expires.Local().Format("2006-01-02 15:04"))
		return nil
	}
	if filepath.Base(t.Name) != t.Name || t.Name == "." || t.Name == ".." {
		return fmt.Errorf("its name cannot be a file name; rotate it by name instead")
	}
	dest := filepath.Join(c.OutDir, t.Name+".token")
	f, err := os.CreateTemp(c.OutDir, "."+t.Name+".token-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	secret, nt, err := st.RotateToken(context.Background(), t.Name, life, 0, true)
	if err != nil {
		f.Close()
		return err
	}
	_, err = f.WriteString(secret + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dest)
	}
	if err != nil {
		return fmt.Errorf("rotated, but the new secret could not be written (%v); the old secret still works until %s: run 'scimd token rotate %s' to get a new one",
			err, t.Expires.Local().Format("2006-01-02"), t.Name)
	}
	fmt.Printf("rotated %s: new secret in %s, expires %s; old secret works until %s\n", nt.Name, dest,
		nt.Expires.Local().Format("2006-01-02"), t.Expires.Local().Format("2006-01-02 15:04"))
	return nil
}

// tokenWarnWindow is how long before expiry serve starts warning.
const tokenWarnWindow = 30 * 24 * time.Hour

// watchTokens logs, at startup and then once a day for each token, a
// warning for every current token within 30 days of expiry (an error once
// it has expired), and for every old secret still used by a client after
// its successor was issued. It returns when ctx ends.
func watchTokens(ctx context.Context, st *store.Store, log *slog.Logger) {
	warned := map[int64]time.Time{}
	check := func() {
		list, err := st.Tokens(ctx)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("checking token expiry failed", "error", err)
			}
			return
		}
		now := time.Now()
		bySeq := map[int64]*store.Token{}
		for _, t := range list {
			bySeq[t.Seq] = t
		}
		for _, t := range list {
			if last, ok := warned[t.Seq]; ok && now.Sub(last) < 24*time.Hour {
				continue
			}
			switch {
			case t.Current() && !now.Before(t.Expires):
				log.Error("token expired: its client gets 401 (Entra quarantines the app); rotate it and paste the new secret into the identity provider",
					"token", t.Name, "expired", t.Expires.Format(time.RFC3339), "fix", "scimd token rotate "+t.Name)
			case t.Current() && t.Expires.Sub(now) <= tokenWarnWindow:
				log.Warn("token expires soon: rotate it and paste the new secret into the identity provider",
					"token", t.Name, "expires", t.Expires.Format(time.RFC3339), "days_left", store.DaysLeft(t.Expires, now),
					"fix", "scimd token rotate "+t.Name)
			case t.Revoked == nil && t.Retires != nil && now.Before(*t.Retires) && t.Retires.Sub(now) <= tokenWarnWindow &&
				t.LastUsed != nil && bySeq[t.Successor] != nil && t.LastUsed.After(bySeq[t.Successor].Created):
				log.Warn("a rotated token's old secret is still in use: paste the new secret into the identity provider before the old one stops",
					"token", t.Name, "old_secret_stops", t.Retires.Format(time.RFC3339), "last_used", t.LastUsed.Format(time.RFC3339),
					"user_agent", t.LastAgent)
			default:
				continue
			}
			warned[t.Seq] = now
		}
	}
	everyHour(ctx, check)
}

// everyHour runs fn now and then every hour until ctx ends: the rhythm of
// serve's background jobs.
func everyHour(ctx context.Context, fn func()) {
	fn()
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			fn()
		}
	}
}

// tokenLifetime is --expires, or [tokens] lifetime without it.
func tokenLifetime(cfg Config, expires *Duration) (time.Duration, error) {
	life := time.Duration(cfg.Tokens.Lifetime)
	if expires != nil {
		life = time.Duration(*expires)
	}
	if life <= 0 {
		return 0, errors.New("--expires must be positive")
	}
	return life, nil
}

// openConfigured loads the configuration and opens its database.
func openConfigured(cli *CLI) (*store.Store, error) {
	cfg, err := Load(cli.Config)
	if err != nil {
		return nil, err
	}
	return openStore(cfg)
}

// writeJSONValue prints v as indented JSON.
func writeJSONValue(w *os.File, v any) error {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetIndent("", "  ")
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(jsonSafe(b.Bytes())) // cli_safe.go
	return err
}

// flagGiven reports whether the flag called name was on the command line
// (rather than taking its default).
func flagGiven(kctx *kong.Context, name string) bool {
	if kctx == nil {
		return false
	}
	for _, p := range kctx.Path {
		if p.Flag != nil && p.Flag.Name == name {
			return true
		}
	}
	return false
}
