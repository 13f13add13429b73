package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"scimd/scim"
	"scimd/store"
)

// UsersCmd is "scimd users ...".
type UsersCmd struct {
	List   UsersListCmd   `cmd:"" help:"List users as a table (or JSON)."`
	Show   UsersShowCmd   `cmd:"" help:"Show one user, by userName or id."`
	Export UsersExportCmd `cmd:"" help:"Export users with every attribute and their groups (CSV, JSON or JSON Lines), streaming."`
}

// Help shows examples.
func (UsersCmd) Help() string {
	return `Read-only views of the users the identity providers provisioned. They work while
scimd serve is running.

Examples:
  scimd users list --inactive
  scimd users show bjensen@example.com
  scimd users export --format csv --output users.csv`
}

// Selection is the --active/--inactive/--filter trio of users list and
// users export (exported: kong sets only exported embedded structs).
type Selection struct {
	Active   bool   `help:"Only active users." xor:"active"`
	Inactive bool   `help:"Only inactive (disabled) users." xor:"active"`
	Filter   string `help:"A SCIM filter (RFC 7644 §3.4.2.2), e.g. 'emails.value ew \"@example.com\"'." placeholder:"FILTER"`
}

// openSelected loads the configuration, checks the selection against its
// schema catalogue and opens the database.
func openSelected(cli *CLI, sel Selection) (*store.Store, store.ScanOptions, error) {
	cfg, err := Load(cli.Config)
	if err != nil {
		return nil, store.ScanOptions{}, err
	}
	opt, err := sel.options(cfg)
	if err != nil {
		return nil, store.ScanOptions{}, err
	}
	st, err := openStore(cfg)
	return st, opt, err
}

func (s Selection) options(cfg Config) (store.ScanOptions, error) {
	var opt store.ScanOptions
	if s.Active || s.Inactive {
		a := s.Active
		opt.Active = &a
	}
	if strings.TrimSpace(s.Filter) != "" {
		e, err := scim.ParseFilter(s.Filter, cfg.scimLimits().Filter)
		if err != nil {
			return opt, fmt.Errorf("--filter: %w", plainErr(err))
		}
		opt.Filter = e
	}
	return opt, nil
}

// plainErr turns a SCIM error into its detail alone: the CLI's one line
// needs no HTTP status.
func plainErr(err error) error {
	var se *scim.Error
	if errors.As(err, &se) {
		return errors.New(se.Detail)
	}
	return err
}

// UsersExportCmd is "scimd users export".
type UsersExportCmd struct {
	ExportFlags
	Selection
}

// ExportFlags are the flags of every export.
type ExportFlags struct {
	Format string `help:"csv, json (one array) or jsonl (one object per line). Default: from the --output extension, else csv." placeholder:"csv|json|jsonl"`
	Output string `short:"o" help:"Write to FILE (created with mode 0600, replaced only once the export is complete) instead of stdout." placeholder:"FILE"`
}

// Help shows examples.
func (UsersExportCmd) Help() string {
	return `Every user with every attribute: core, enterprise extension, operator-declared ([[attributes]])
and the groups the user belongs to. Users are streamed in creation order from one consistent
snapshot, in constant memory. A progress bar is drawn on stderr when stderr is a terminal and
the export is large; never when stderr is piped.

CSV has a header row and one column per attribute path, fixed by the schema: single-valued
complex attributes as name.givenName, multi-valued ones one column per type (emails.work,
phoneNumbers.mobile, addresses.work.locality; no or other types go in the plain column,
e.g. emails), enterprise attributes as enterprise.employeeNumber, other extensions under
their full URN, groups as displayNames; several values in one cell are joined with ";".
JSON and JSON Lines hold each user's complete SCIM representation.

Examples:
  scimd users export --output users.csv
  scimd users export --format jsonl | jq -r .userName
  scimd users export --inactive --format json --output disabled.json
  scimd users export --filter 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "Sales"'`
}

// Run exports users.
func (c UsersExportCmd) Run(cli *CLI) error {
	return runExport(cli, store.Users, c.ExportFlags, c.Selection)
}

// runExport streams every selected resource of kind k in the chosen format.
func runExport(cli *CLI, k store.Kind, f ExportFlags, sel Selection) error {
	format := f.Format
	if format == "" {
		switch strings.ToLower(filepath.Ext(f.Output)) {
		case ".json":
			format = "json"
		case ".jsonl", ".ndjson":
			format = "jsonl"
		default:
			format = "csv"
		}
	}
	if format != "csv" && format != "json" && format != "jsonl" {
		return fmt.Errorf("--format must be csv, json or jsonl, not %q", format)
	}
	st, opt, err := openSelected(cli, sel)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()

	out := &outputFile{st: st, path: f.Output}
	w, err := out.open()
	if err != nil {
		return err
	}
	defer out.abort()
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := newEncoder(format, bw, st, k)

	noun := "users"
	if k == store.Groups {
		noun = "groups"
	}
	var bar *progress
	if isTerminal(os.Stderr) && (f.Output != "" || !isTerminal(os.Stdout)) {
		if n, err := st.Count(ctx, k, opt); err == nil && n >= progressMin {
			bar = newProgress(os.Stderr, "exporting "+noun, n)
		}
	}
	var n int64
	err = st.Scan(ctx, k, opt, func(r *store.Resource) error {
		n++
		bar.add(1)
		return enc.write(st.Document(k, r))
	})
	if err != nil {
		return fmt.Errorf("export: %w", plainErr(err))
	}
	if err := enc.close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := out.commit(); err != nil {
		return err
	}
	bar.finish()
	dest := "stdout"
	if out.path != "" {
		dest = out.path
	}
	fmt.Fprintf(os.Stderr, "exported %d %s as %s to %s\n", n, noun, format, dest)
	return nil
}

// outputFile is stdout, or a file written under a temporary name and
// renamed into place once complete, so a failed export never leaves a
// truncated file where a good one was.
type outputFile struct {
	st   *store.Store
	path string
	f    *os.File
	tmp  string
	done bool
}

func (o *outputFile) open() (io.Writer, error) {
	if o.path == "" || o.path == "-" {
		o.path = ""
		return os.Stdout, nil
	}
	// Only a regular file (or nothing) is replaced: never a link, a
	// device, a pipe or the live database (store.CheckDestination).
	if err := o.st.CheckDestination(o.path); err != nil {
		return nil, fmt.Errorf("--output %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(o.path), "."+filepath.Base(o.path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("--output %s: cannot create a file in its folder: %w", o.path, errors.Unwrap(err))
	}
	o.f, o.tmp = f, f.Name()
	// Exports hold personal data: 0600 whatever the umask (CreateTemp's
	// mode is subject to it).
	if err := f.Chmod(0o600); err != nil {
		return nil, fmt.Errorf("--output %s: %w", o.path, err)
	}
	return f, nil
}

func (o *outputFile) commit() error {
	if o.f == nil {
		return nil
	}
	err := o.f.Sync()
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// What the destination is now is what is replaced: look again.
		if cerr := o.st.CheckDestination(o.path); cerr != nil {
			return fmt.Errorf("--output %w", cerr)
		}
		err = os.Rename(o.tmp, o.path)
	}
	if err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	o.done = true
	return nil
}

func (o *outputFile) abort() {
	if o.f != nil && !o.done {
		o.f.Close()
		os.Remove(o.tmp)
	}
}

// encoder writes documents in one export format.
type encoder interface {
	write(doc map[string]any) error
	close() error
}

func newEncoder(format string, w io.Writer, st *store.Store, k store.Kind) encoder {
	switch format {
	case "json":
		return &jsonEncoder{w: w, array: true}
	case "jsonl":
		return &jsonEncoder{w: w}
	}
	return &csvEncoder{w: csv.NewWriter(w), cols: st.Columns(k)}
}

type jsonEncoder struct {
	w     io.Writer
	array bool
	n     int
}

func (e *jsonEncoder) write(doc map[string]any) error {
	b, err := marshalCompact(doc)
	if err != nil {
		return err
	}
	sep := ""
	if e.array {
		sep = ",\n"
		if e.n == 0 {
			sep = "[\n"
		}
	}
	e.n++
	if _, err := io.WriteString(e.w, sep); err != nil {
		return err
	}
	if _, err := e.w.Write(b); err != nil {
		return err
	}
	if !e.array {
		_, err = io.WriteString(e.w, "\n")
	}
	return err
}

func (e *jsonEncoder) close() error {
	if !e.array {
		return nil
	}
	end := "\n]\n"
	if e.n == 0 {
		end = "[]\n"
	}
	_, err := io.WriteString(e.w, end)
	return err
}

func marshalCompact(v any) ([]byte, error) {
	var b strings.Builder
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return jsonSafe([]byte(strings.TrimSuffix(b.String(), "\n"))), nil
}

type csvEncoder struct {
	w      *csv.Writer
	cols   []store.Column
	header bool
	row    []string
}

func (e *csvEncoder) writeHeader() error {
	e.header = true
	h := make([]string, len(e.cols))
	for i, c := range e.cols {
		h[i] = c.Header
	}
	return e.w.Write(h)
}

func (e *csvEncoder) write(doc map[string]any) error {
	if !e.header {
		if err := e.writeHeader(); err != nil {
			return err
		}
	}
	if e.row == nil {
		e.row = make([]string, len(e.cols))
	}
	for i, c := range e.cols {
		e.row[i] = csvNeutral(c.Cell(doc))
	}
	return e.w.Write(e.row)
}

func (e *csvEncoder) close() error {
	if !e.header {
		if err := e.writeHeader(); err != nil {
			return err
		}
	}
	e.w.Flush()
	return e.w.Error()
}

// progressMin is the size from which an export draws a progress bar.
const progressMin = 5000

// isTerminal reports whether f is a terminal (a character device) rather
// than a pipe or a file.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progress is a one-line progress bar redrawn in place with \r. A nil
// *progress draws nothing, so callers need no checks.
type progress struct {
	w     io.Writer
	label string
	total int64
	n     int64
	pct   int
	drawn time.Time
}

func newProgress(w io.Writer, label string, total int64) *progress {
	p := &progress{w: w, label: label, total: total, pct: -1}
	p.draw()
	return p
}

func (p *progress) add(k int64) {
	if p == nil {
		return
	}
	p.n += k
	pct := p.percent()
	if pct != p.pct || time.Since(p.drawn) > 500*time.Millisecond {
		p.draw()
	}
}

func (p *progress) percent() int {
	if p.total <= 0 {
		return 100
	}
	n := p.n
	if n > p.total {
		n = p.total
	}
	return int(n * 100 / p.total)
}

func (p *progress) draw() {
	const width = 30
	p.pct = p.percent()
	p.drawn = time.Now()
	fill := p.pct * width / 100
	fmt.Fprintf(p.w, "\r%s %3d%% [%s%s] %d/%d", p.label, p.pct, strings.Repeat("#", fill), strings.Repeat(" ", width-fill), p.n, p.total)
}

func (p *progress) finish() {
	if p == nil {
		return
	}
	p.draw()
	fmt.Fprintln(p.w)
}

// UsersListCmd is "scimd users list".
type UsersListCmd struct {
	Selection
	Limit int  `help:"Show at most N users (0: all)." placeholder:"N" default:"0"`
	JSON  bool `name:"json" help:"Print a JSON array of the same fields."`
}

// Help shows examples.
func (UsersListCmd) Help() string {
	return `One line per user, in creation order: userName, displayName, active, the work (or
primary, or first) email, how many groups, and the id.

Examples:
  scimd users list
  scimd users list --inactive --limit 20
  scimd users list --filter 'userName sw "a"' --json`
}

type userRow struct {
	ID          string `json:"id"`
	UserName    string `json:"userName"`
	DisplayName string `json:"displayName"`
	Active      bool   `json:"active"`
	Email       string `json:"email"`
	Groups      int    `json:"groups"`
	Modified    string `json:"lastModified"`
}

// Run lists users.
func (c UsersListCmd) Run(cli *CLI) error {
	st, opt, err := openSelected(cli, c.Selection)
	if err != nil {
		return err
	}
	defer st.Close()
	t := newTable(os.Stdout, c.JSON, "USERNAME", "DISPLAY NAME", "ACTIVE", "EMAIL", "GROUPS", "ID")
	n := 0
	err = st.Scan(context.Background(), store.Users, opt, func(r *store.Resource) error {
		if c.Limit > 0 && n >= c.Limit {
			return errStop
		}
		n++
		row := userRow{ID: r.ID, UserName: str(r.Doc["userName"]), DisplayName: str(r.Doc["displayName"]),
			Active: r.Doc["active"] != false, Email: pickEmail(r.Doc), Modified: r.Modified}
		if l, ok := r.Doc["groups"].([]any); ok {
			row.Groups = len(l)
		}
		return t.row(row, row.UserName, dash(row.DisplayName), fmt.Sprint(row.Active), dash(row.Email), fmt.Sprint(row.Groups), row.ID)
	})
	if err != nil && !errors.Is(err, errStop) {
		return plainErr(err)
	}
	if n == 0 && !c.JSON {
		fmt.Fprintln(os.Stderr, "no users match")
	}
	return t.close()
}

// errStop ends a Scan early without being an error.
var errStop = errors.New("stop")

func str(v any) string {
	s, _ := v.(string)
	return s
}

// pickEmail is the work email, else the primary one, else the first.
func pickEmail(doc map[string]any) string {
	l, _ := doc["emails"].([]any)
	var primary, first string
	for _, el := range l {
		m, _ := el.(map[string]any)
		v := str(m["value"])
		if v == "" {
			continue
		}
		if strings.EqualFold(str(m["type"]), "work") {
			return v
		}
		if m["primary"] == true && primary == "" {
			primary = v
		}
		if first == "" {
			first = v
		}
	}
	if primary != "" {
		return primary
	}
	return first
}

// table streams rows as an aligned table, or as a JSON array. The table is
// flushed every tableBlock rows so that memory stays bounded (columns may
// widen between blocks).
type table struct {
	w    io.Writer
	tw   *tabwriter.Writer
	json bool
	n    int
}

const tableBlock = 1000

func newTable(w io.Writer, asJSON bool, header ...string) *table {
	t := &table{w: w, json: asJSON}
	if !asJSON {
		t.tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(t.tw, strings.Join(header, "\t"))
	}
	return t
}

func (t *table) row(v any, cells ...string) error {
	t.n++
	if t.json {
		b, err := marshalCompact(v)
		if err != nil {
			return err
		}
		sep := ",\n"
		if t.n == 1 {
			sep = "[\n"
		}
		_, err = fmt.Fprintf(t.w, "%s  %s", sep, b)
		return err
	}
	for i, c := range cells {
		cells[i] = safeText(c)
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
	if t.n%tableBlock == 0 {
		return t.tw.Flush()
	}
	return nil
}

func (t *table) close() error {
	if t.json {
		end := "\n]\n"
		if t.n == 0 {
			end = "[]\n"
		}
		_, err := io.WriteString(t.w, end)
		return err
	}
	if t.n == 0 {
		return nil // no header without rows
	}
	return t.tw.Flush()
}

// UsersShowCmd is "scimd users show".
type UsersShowCmd struct {
	User string `arg:"" help:"The user's userName (any case) or id."`
	JSON bool   `name:"json" help:"Print the user's complete SCIM representation."`
}

// Help shows examples.
func (UsersShowCmd) Help() string {
	return `Every attribute the user has, one per line, named as in the CSV export, then its groups.

Examples:
  scimd users show bjensen@example.com
  scimd users show 2819c223-7f76-453a-919d-413861904646 --json`
}

// Run shows one user.
func (c UsersShowCmd) Run(cli *CLI) error { return showNamed(cli, store.Users, c.User, c.JSON) }

// showNamed finds a user (by userName or id) or a group (by displayName or
// id) and prints it with showResource.
func showNamed(cli *CLI, k store.Kind, key string, asJSON bool) error {
	st, err := openConfigured(cli)
	if err != nil {
		return err
	}
	defer st.Close()
	find, what := st.FindUser, "user has the userName"
	if k == store.Groups {
		find, what = st.FindGroup, "group has the displayName"
	}
	r, err := find(context.Background(), key)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no %s or id %q (see 'scimd %s list')", what, key, strings.ToLower(k.Name())+"s")
	}
	if err != nil {
		return plainErr(err)
	}
	return showResource(st, k, r, asJSON)
}

// showResource prints a resource's non-empty columns as "name  value"
// lines, or its document as indented JSON.
func showResource(st *store.Store, k store.Kind, r *store.Resource, asJSON bool) error {
	doc := st.Document(k, r)
	if asJSON {
		return writeJSONValue(os.Stdout, doc)
	}
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	for _, col := range st.Columns(k) {
		if v := col.Cell(doc); v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", safeText(col.Header), safeText(v))
		}
	}
	return tw.Flush()
}
