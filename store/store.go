// Package store keeps scimd's users, groups, memberships, tokens and
// provisioning log in one SQLite file (modernc.org/sqlite, no cgo).
//
// One connection writes and a pool reads (WAL lets readers run beside the
// writer). Every write runs on the writer goroutine: concurrent requests are
// grouped into one transaction, each in its own savepoint, and acknowledged
// only after that transaction has committed with synchronous=FULL. That is
// group commit: a 2xx means the change is on disk, and many concurrent
// writes share one fsync.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"scimd/scim"
)

//go:embed migrations/*.sql
var migrations embed.FS

func init() {
	// scim_fold(x) is the Unicode case folding of RFC 7643 caseExact=false
	// comparisons, the same function Go code uses (scim.Fold). Only query
	// text calls it, never the stored schema (indexes, triggers, views),
	// so that any sqlite3 shell can open and check the file; indexed
	// values are folded in Go (attrindex.go).
	sqlite.MustRegisterDeterministicScalarFunction("scim_fold", 1,
		func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			switch v := args[0].(type) {
			case string:
				return scim.Fold(v), nil
			case []byte:
				return scim.Fold(string(v)), nil
			}
			return args[0], nil
		})
}

// ErrBusy is returned when the writer queue is full or the store is closing.
var ErrBusy = errors.New("store: busy")

// Store is an open database.
type Store struct {
	path  string
	w     *sql.DB // the one writing connection
	r     *sql.DB // read-only pool
	cat   *scim.Catalog
	opt   Options
	jobs  chan *job
	done  chan struct{}
	wg    sync.WaitGroup
	now   func() time.Time
	close sync.Once

	auth authCache
	// mayHaveKept is false while users_deleted is known to be empty, so a
	// POST need not look there; only this process soft-deletes users.
	mayHaveKept atomic.Bool
	marks       pageMarks
	stmts       stmtCache // prepared statements, a bounded LRU (stmts.go)

	// heavy is a small read-only pool for list queries that no index
	// narrows (filters scanning the table, sortBy): at most half the CPUs
	// (at least one) run them at once, the others waiting for a
	// connection within their budget, so however many clients send them,
	// lookups on r still find a connection and a CPU (issue 11: lookup p99
	// stays under 100 ms while 8 clients send the costliest filters).
	heavy *sql.DB
	// attrIdx lists, per table, the declared attributes whose values the
	// writer keeps in the side tables (declared_indexes); set by Open.
	attrIdx map[string][]attrIndex
	// dirGen counts committed (or attempted) batches that wrote users,
	// groups or memberships; page marks and lookup snapshots
	// (snapshot.go) are valid for one generation.
	dirGen atomic.Int64
	// snaps are the lookup connections that keep a read snapshot
	// (snapshot.go).
	snaps snapPool

	// hookMask selects the webhook event types written to the outbox
	// (outbox.go); emitted is set when a job wrote one, and outboxReady
	// then tells the deliverer after the commit.
	hookMask    uint32
	emitted     atomic.Bool
	outboxReady chan struct{}
}

// Options tune Open.
type Options struct {
	// Catalog is the schema catalogue (with operator attributes). Nil means
	// the standard one.
	Catalog *scim.Catalog
	// OnDelete is what DELETE /Users does: "delete" (the default) removes
	// the user; "deactivate" keeps the record, inactive and invisible, so a
	// later POST of the same userName brings it back under its old id.
	OnDelete string
	// QueryTimeout bounds the database time of one read request ([limits]
	// query_timeout): when it runs out SQLite is interrupted and the
	// request gets 400 tooMany. Zero means DefaultQueryTimeout.
	QueryTimeout time.Duration
	// SyncIndexes creates and drops the indexes of declared attributes to
	// match Catalog. Only the server sets it: an admin command run with
	// another config file must not drop the indexes the server uses.
	SyncIndexes bool
	// Events says which webhook event types to store in the outbox (in the
	// transaction of each change). Nil stores none: only a server with
	// [[webhooks]] configured sets it, to the types they subscribe to.
	Events func(typ string) bool
	// NoAutoCheckpoint turns off SQLite's automatic checkpoint on this
	// process's writing connection (wal_autocheckpoint 0), for when another
	// component owns checkpoints: the replicator (package replica) must copy
	// every WAL frame before it is folded into the database, so it alone
	// decides when to checkpoint and keeps the WAL bounded.
	NoAutoCheckpoint bool
	// OnBatch, when set, hears about every write transaction once it has
	// committed or failed (metrics.go). It runs on the writer goroutine, so
	// it must be quick.
	OnBatch func(BatchStats)
}

// DefaultQueryTimeout is [limits] query_timeout's default.
const DefaultQueryTimeout = 10 * time.Second

// Open opens (creating if needed) the database at path and brings its
// schema up to date.
func Open(path string, opt Options) (*Store, error) {
	if opt.Catalog == nil {
		c, err := scim.NewCatalog(nil)
		if err != nil {
			return nil, err
		}
		opt.Catalog = c
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if err := createDatabase(abs); err != nil {
		return nil, err
	}
	s := &Store{path: abs, cat: opt.Catalog, opt: opt, jobs: make(chan *job, 4096), done: make(chan struct{}), now: time.Now,
		hookMask: eventMask(opt.Events), outboxReady: make(chan struct{}, 1)}
	base := "file:" + (&url.URL{Path: abs}).EscapedPath()
	pragmas := "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)"
	wpragmas := pragmas
	if opt.NoAutoCheckpoint {
		wpragmas += "&_pragma=wal_autocheckpoint(0)"
	}
	s.w, err = sql.Open("sqlite", base+"?_txlock=immediate&_pragma=journal_mode(WAL)&_pragma=temp_store(MEMORY)&"+wpragmas)
	if err != nil {
		return nil, err
	}
	// Writes are serialised by the writer goroutine, not by the pool: the
	// second connection only serves statement preparation (see writeQ).
	s.w.SetMaxOpenConns(2)
	s.w.SetMaxIdleConns(2)
	s.w.SetConnMaxLifetime(0)
	if err := s.migrate(); err != nil {
		s.w.Close()
		return nil, err
	}
	if err := s.rekeyNames(); err != nil {
		s.w.Close()
		return nil, err
	}
	if err := s.convertAttrIndexes(); err != nil {
		s.w.Close()
		return nil, fmt.Errorf("store: open %s: converting declared-attribute indexes: %w", s.path, err)
	}
	if opt.SyncIndexes {
		if err := s.syncAttrIndexes(); err != nil {
			s.w.Close()
			return nil, err
		}
	}
	if err := s.refoldAttrIndexes(); err != nil {
		s.w.Close()
		return nil, fmt.Errorf("store: open %s: refolding declared-attribute values: %w", s.path, err)
	}
	if err := s.loadAttrIndexes(); err != nil {
		s.w.Close()
		return nil, fmt.Errorf("store: open %s: %w", s.path, err)
	}
	var kept int
	if err := s.w.QueryRow(`SELECT count(*) FROM users_deleted`).Scan(&kept); err != nil {
		s.w.Close()
		return nil, fmt.Errorf("store: open %s: %w", s.path, err)
	}
	s.mayHaveKept.Store(kept > 0)
	s.r, err = sql.Open("sqlite", base+"?_pragma=query_only(1)&"+pragmas)
	if err != nil {
		s.w.Close()
		return nil, err
	}
	n := runtime.GOMAXPROCS(0) * 4
	s.r.SetMaxOpenConns(n)
	s.r.SetMaxIdleConns(n)
	s.heavy, err = sql.Open("sqlite", base+"?_pragma=query_only(1)&"+pragmas)
	if err != nil {
		s.r.Close()
		s.w.Close()
		return nil, err
	}
	s.snaps.max = snapConnections(n)
	h := max(1, runtime.GOMAXPROCS(0)/2)
	s.heavy.SetMaxOpenConns(h)
	s.heavy.SetMaxIdleConns(h)
	if s.opt.QueryTimeout <= 0 {
		s.opt.QueryTimeout = DefaultQueryTimeout
	}
	s.wg.Add(2)
	go s.writer()
	go s.sweepSnaps()
	return s, nil
}

// Catalog returns the schema catalogue the store was opened with.
func (s *Store) Catalog() *scim.Catalog { return s.cat }

// Path is the database file's absolute path.
func (s *Store) Path() string { return s.path }

// Close finishes queued writes and closes the database.
func (s *Store) Close() error {
	s.close.Do(func() { close(s.done) })
	s.wg.Wait()
	s.closeSnaps()
	s.stmts.closeAll()
	err1 := s.r.Close()
	err2 := s.w.Close()
	err3 := s.heavy.Close()
	// After SQLite's connections: closing this descriptor of the -shm
	// releases every POSIX lock of this process on it (see shmFile).
	s.auth.shmOpen.Lock()
	if f := s.auth.shm.Swap(nil); f != nil {
		if m := s.auth.shmMem.Swap(nil); m != nil {
			unmapShm(*m)
		}
		f.Close()
	}
	s.auth.shmOpen.Unlock()
	return errors.Join(err1, err2, err3)
}

// migrate applies the embedded numbered migrations not yet applied, each in
// its own transaction, tracked by PRAGMA user_version.
func (s *Store) migrate() error {
	ctx := context.Background()
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	latest, _ := strconv.Atoi(strings.SplitN(names[len(names)-1], "_", 2)[0])
	var have int
	if err := s.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&have); err != nil {
		return fmt.Errorf("store: open %s: %w", s.path, err)
	}
	if have > latest {
		// A newer scimd migrated this file; this one would misread it.
		return fmt.Errorf("store: %s has schema version %d, newer than this scimd knows (%d): run the newer scimd, or restore a backup made before the upgrade", s.path, have, latest)
	}
	for _, name := range names {
		n, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("store: migration %s: bad number", name)
		}
		body, err := fs.ReadFile(migrations, "migrations/"+name)
		if err != nil {
			return err
		}
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("store: open %s: %w", s.path, err)
		}
		var cur int
		if err := tx.QueryRow("PRAGMA user_version").Scan(&cur); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: open %s: %w", s.path, err)
		}
		if cur >= n {
			tx.Rollback()
			continue
		}
		if _, err := tx.Exec(string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migration %s: %w", name, err)
		}
		if _, err := tx.Exec(fmt.Sprintf("PRAGMA user_version = %d", n)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store: migration %s: %w", name, err)
		}
	}
	return nil
}

// SchemaVersion is the number of the last migration applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.r.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
	return v, err
}

// job is one write waiting for the writer goroutine.
type job struct {
	fn   func(tx *sql.Tx) error
	done chan error
	dir  bool // writes users, groups or memberships (see dirGen)
}

// maxBatch bounds how many writes share one transaction, so one commit
// never waits on an unbounded amount of work.
const maxBatch = 256

// write runs fn in a transaction on the writer and returns once that
// transaction is durably committed (or fn failed, in which case nothing fn
// did is kept). fn must not keep tx after returning.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.queue(ctx, &job{fn: fn, done: make(chan error, 1)})
}

// writeDir is write for changes to users, groups or memberships: it moves
// the directory generation on, so that page marks taken before are no
// longer used.
func (s *Store) writeDir(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.queue(ctx, &job{fn: fn, done: make(chan error, 1), dir: true})
}

func (s *Store) queue(ctx context.Context, j *job) error {
	select {
	case s.jobs <- j:
	case <-s.done:
		return ErrBusy
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued the job runs to its end even if the client goes away: its
	// outcome must be decided by the commit, not by the client's patience.
	return <-j.done
}

// idleCheckpoint is how long the writer waits after its last commit
// before it checkpoints the WAL (see writer).
const idleCheckpoint = 500 * time.Millisecond

func (s *Store) writer() {
	defer s.wg.Done()
	batch := make([]*job, 0, maxBatch)
	// When writes pause, the writer copies the WAL back into the database
	// file (a passive checkpoint: it waits for no reader and blocks none).
	// SQLite does so by itself only once the WAL reaches 1000 pages, and
	// until then every read looks each page up in the WAL and reads it
	// with a pread; once every frame is copied back, reads skip the WAL
	// and read pages from the database file. What is committed, and when a
	// write is acknowledged, does not change.
	idle := time.NewTimer(idleCheckpoint)
	idle.Stop()
	defer idle.Stop()
	for {
		var first *job
		select {
		case first = <-s.jobs:
		case <-idle.C:
			s.w.Exec("PRAGMA wal_checkpoint(PASSIVE)") // best effort: SQLite's own checkpoints still run
			continue
		case <-s.done:
			// drain what is queued, then stop
			select {
			case first = <-s.jobs:
			default:
				return
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxBatch {
			select {
			case j := <-s.jobs:
				batch = append(batch, j)
			default:
				break fill
			}
		}
		s.runBatch(batch)
		if !s.opt.NoAutoCheckpoint { // the replicator owns checkpoints
			idle.Reset(idleCheckpoint)
		}
	}
}

// runBatch runs jobs in one transaction, each inside a savepoint so that a
// failing job is rolled back alone.
func (s *Store) runBatch(batch []*job) {
	// The directory generation moves before and after a transaction that
	// writes users, groups or memberships: a page read while it runs sees a
	// changed generation when it ends, and a page read after it starts from
	// the new one. The second move happens before any job is acknowledged,
	// so a client that reads after its write returned never keeps a page
	// mark from before it.
	settled := true
	for _, j := range batch {
		if j.dir {
			s.dirGen.Add(1)
			settled = false
			break
		}
	}
	settle := func() {
		if !settled {
			settled = true
			s.dirGen.Add(1)
		}
	}
	ctx := context.Background()
	results := make([]error, len(batch))
	var commit time.Duration
	if s.opt.OnBatch != nil {
		defer s.observeBatch(time.Now(), results, &commit)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		for i, j := range batch {
			results[i] = classify(err)
			settle()
			j.done <- results[i]
		}
		return
	}
	for i, j := range batch {
		if len(batch) == 1 {
			results[i] = safeRun(j.fn, tx)
			if results[i] != nil {
				tx.Rollback()
				settle()
				j.done <- results[i]
				return
			}
			continue
		}
		if _, err := s.writeQ(tx).Exec("SAVEPOINT job"); err != nil {
			results[i] = classify(err)
			continue
		}
		results[i] = safeRun(j.fn, tx)
		if results[i] != nil {
			if _, err := s.writeQ(tx).Exec("ROLLBACK TO job"); err != nil {
				// The transaction is unusable: fail everything.
				tx.Rollback()
				for k, j := range batch {
					if results[k] == nil {
						results[k] = classify(err)
					}
					settle()
					j.done <- results[k]
				}
				return
			}
		}
		if _, err := s.writeQ(tx).Exec("RELEASE job"); err != nil {
			results[i] = classify(err)
		}
	}
	for _, r := range results {
		if r == nil {
			// One bookkeeping row per batch, not per write: when the
			// directory last changed (shown by 'scimd status').
			if _, err := s.writeQ(tx).Exec(`INSERT INTO state (key, value) VALUES ('last_write', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, s.stamp()); err != nil {
				tx.Rollback()
				err = classify(err)
				for i, j := range batch {
					results[i] = err
					settle()
					j.done <- err
				}
				return
			}
			break
		}
	}
	committing := time.Now()
	err = tx.Commit()
	commit = time.Since(committing)
	if err != nil {
		tx.Rollback()
		err = classify(err)
		for i, j := range batch {
			results[i] = err
			settle()
			j.done <- err
		}
		return
	}
	if s.emitted.Swap(false) {
		select {
		case s.outboxReady <- struct{}{}:
		default:
		}
	}
	for i, j := range batch {
		settle()
		j.done <- results[i]
	}
}

// safeRun turns a panic in a job into an error, so one bad request cannot
// take the writer (and every other request) down.
func safeRun(fn func(*sql.Tx) error, tx *sql.Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("store: write panicked: %v", r)
		}
	}()
	return fn(tx)
}

// ErrUnavailable wraps database errors that mean writes cannot be made now
// (disk full, read-only file, I/O error). The server answers 503.
var ErrUnavailable = errors.New("store: database cannot accept writes")

// classify maps SQLite failures to the errors callers act on. Codes, never
// message text, decide (soft-serve's pkg/db/errors.go does the same).
func classify(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return err
}

// isUnique reports a UNIQUE constraint violation.
func isUnique(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

// timeFormat is fixed-width UTC so that text order is time order.
const timeFormat = "2006-01-02T15:04:05.000Z"

func (s *Store) stamp() string { return s.now().UTC().Format(timeFormat) }

// IntegrityCheck runs PRAGMA integrity_check and returns its first problem.
func (s *Store) IntegrityCheck(ctx context.Context) error {
	var res string
	if err := s.r.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&res); err != nil {
		return err
	}
	if res != "ok" {
		return fmt.Errorf("store: integrity check: %s", res)
	}
	return nil
}
