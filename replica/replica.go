// Package replica replicates scimd's SQLite database continuously to an
// object store, an SFTP or WebDAV server, NATS or a folder (Schemes), and
// restores it from there, with Litestream
// (github.com/benbjohnson/litestream) embedded as a library so that scimd
// stays one static binary.
//
// How it fits together: every sync interval Litestream reads new WAL
// frames into its own local staging files (the ".NAME-litestream" folder
// beside the database) and checkpoints the WAL itself, and this package
// uploads the staged changes. scimd's writer therefore runs with SQLite's
// automatic checkpoint off (store.Options.NoAutoCheckpoint): Litestream
// must see every frame before it is folded into the database file.
//
// serve and "scimd status" are separate processes, so the replicator
// publishes its state in a small JSON file beside the database
// (StatusPath), replaced atomically after every sync attempt. A row in the
// database would not do: writing it would itself be a change to replicate,
// every second, forever.
package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/litestream"
	"github.com/benbjohnson/litestream/abs"
	"github.com/benbjohnson/litestream/file"
	"github.com/benbjohnson/litestream/nats"
	"github.com/benbjohnson/litestream/oss"
	"github.com/benbjohnson/litestream/s3"
	"github.com/benbjohnson/litestream/sftp"
	"github.com/benbjohnson/litestream/webdav"
	"golang.org/x/crypto/ssh"
)

// Config is [replica] with its secrets already read.
type Config struct {
	// URL is where the replica lives, in one of the Schemes.
	URL string
	// Endpoint is an S3-compatible store's address (MinIO, Backblaze B2,
	// Wasabi, Garage, versitygw; empty means AWS), or an Azure Blob or
	// Alibaba OSS endpoint other than the public cloud's.
	Endpoint string
	// Region is the S3 region; empty lets Litestream find it (AWS) or uses
	// us-east-1 (with Endpoint). For oss:// the OSS region.
	Region string
	// AccessKeyID and SecretAccessKey authenticate to S3 or OSS; empty
	// means the SDK's usual chain (environment, ~/.aws, instance role).
	// For abs:// SecretAccessKey is the storage account key.
	AccessKeyID     string
	SecretAccessKey string
	// Password is the WebDAV, SFTP or NATS password of the URL's user,
	// read from password_file: never part of the URL.
	Password string
	// SSHKeyFile is the private key file for sftp:// (read by Litestream
	// when it connects) and SSHHostKey the server's public key in
	// authorized_keys form, which the server must present.
	SSHKeyFile string
	SSHHostKey string
	// SyncInterval is how often staged changes are uploaded: the recovery
	// point objective when the store is reachable.
	SyncInterval time.Duration
	// Retention is how long history is kept for point-in-time restores.
	Retention time.Duration
}

// Schemes are the URL schemes scimd accepts: every back end of
// Litestream v0.5.18 whose credentials can come from a file or the
// environment, and that adds at most 25 MB to the static binary
// (measured with CGO_ENABLED=0 over 43.0 MB without any: abs +4.0 MB,
// nats +2.6 MB, oss +1.6 MB, sftp +1.1 MB, webdav +0.2 MB). Google Cloud
// Storage (gs://) is left out: its SDK (gRPC, OpenTelemetry) adds 31.6 MB
// and 80 s to a cold build, while Google Cloud Storage also speaks S3
// (s3:// with endpoint https://storage.googleapis.com and an HMAC key).
var Schemes = []string{"s3", "file", "abs", "oss", "sftp", "webdav", "webdavs", "nats"}

// Scheme is the scheme of a replica URL ("" when it has none).
func Scheme(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Scheme
}

// Validate checks the URL, scheme, keys and intervals without contacting
// the store or reading secrets.
func (c Config) Validate() error {
	u, err := url.Parse(c.URL)
	if err != nil {
		return fmt.Errorf("url %q: %v", Redact(c.URL), err)
	}
	// Secrets never sit in the configuration file, so not in the URL
	// either: Litestream would take them from there, and the URL is
	// written in config.toml, shown by status and logged.
	if _, ok := u.User.Password(); ok {
		return fmt.Errorf("url %q carries a password: remove it from the URL and put it in a file named by password_file (or secret_access_key_file)", Redact(c.URL))
	}
	needHost := func(what, form string) error {
		if u.Host == "" {
			return fmt.Errorf("url %q names no %s: use %s", Redact(c.URL), what, form)
		}
		return nil
	}
	var check error
	switch u.Scheme {
	case "s3":
		check = needHost("bucket", "s3://BUCKET/PATH")
	case "file":
		if u.Host != "" || !filepath.IsAbs(u.Path) {
			check = fmt.Errorf("url %q: use file:///ABSOLUTE/PATH", Redact(c.URL))
		}
	case "abs":
		check = needHost("container", "abs://ACCOUNT@CONTAINER/PATH")
		if check == nil && u.User.Username() == "" && c.Endpoint == "" {
			check = fmt.Errorf("url %q names no storage account: use abs://ACCOUNT@CONTAINER/PATH", Redact(c.URL))
		}
	case "oss":
		check = needHost("bucket", "oss://BUCKET[.oss-REGION.aliyuncs.com]/PATH")
	case "sftp":
		check = needHost("host", "sftp://USER@HOST[:PORT]/PATH")
		if check == nil && u.User.Username() == "" {
			check = fmt.Errorf("url %q names no user: use sftp://USER@HOST[:PORT]/PATH", Redact(c.URL))
		}
		// Without the server's key anyone on the path could pose as the
		// server and receive the whole directory.
		if check == nil && c.SSHHostKey == "" {
			check = errors.New("sftp:// needs ssh_host_key, the server's public key (a line of ssh-keyscan's output without the host name)")
		}
		if check == nil {
			if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(c.SSHHostKey)); err != nil {
				check = fmt.Errorf("ssh_host_key: %v", err)
			}
		}
	case "webdav", "webdavs":
		check = needHost("host", u.Scheme+"://[USER@]HOST[:PORT]/PATH")
	case "nats":
		check = needHost("server", "nats://[USER@]HOST[:PORT]/BUCKET")
		if check == nil && strings.Trim(u.Path, "/") == "" {
			check = fmt.Errorf("url %q names no object store bucket: use nats://[USER@]HOST[:PORT]/BUCKET", Redact(c.URL))
		}
	default:
		check = fmt.Errorf("url %q: scheme must be one of %s:// (S3-compatible stores through endpoint)", Redact(c.URL), strings.Join(Schemes, ":// "))
	}
	if check != nil {
		return check
	}
	for key, set := range map[string]bool{"endpoint": c.Endpoint != "", "region": c.Region != "", "access_key_id": c.AccessKeyID != "",
		"ssh_key_file": c.SSHKeyFile != "", "ssh_host_key": c.SSHHostKey != ""} {
		if set && !Applies(u.Scheme, key) {
			return fmt.Errorf("%s does not apply to %s:// URLs", key, u.Scheme)
		}
	}
	if c.SyncInterval <= 0 {
		return errors.New("sync_interval must be positive")
	}
	if c.Retention < time.Hour {
		return errors.New("retention must be at least 1h")
	}
	return nil
}

// schemeKeys are the optional [replica] keys each scheme uses; Validate
// refuses the others, and config.go the secret-file keys through Applies.
var schemeKeys = map[string][]string{
	"s3":      {"endpoint", "region", "access_key_id", "secret_access_key_file"},
	"abs":     {"endpoint", "secret_access_key_file"},
	"oss":     {"endpoint", "region", "access_key_id", "secret_access_key_file"},
	"sftp":    {"password_file", "ssh_key_file", "ssh_host_key"},
	"webdav":  {"password_file"},
	"webdavs": {"password_file"},
	"nats":    {"password_file"},
}

// Applies reports whether the optional [replica] key applies to scheme.
func Applies(scheme, key string) bool {
	return slices.Contains(schemeKeys[scheme], key)
}

// client builds the Litestream client for c.URL. Options that Litestream
// reads from the URL's query (S3's forcePathStyle, skipVerify, ...) keep
// working; endpoint, region and the secrets from the config are added.
func (c Config) client() (litestream.ReplicaClient, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	u, _ := url.Parse(c.URL)
	if u.Scheme == "file" {
		return file.NewReplicaClient(filepath.Clean(u.Path)), nil
	}
	q := u.Query()
	if c.Endpoint != "" && q.Get("endpoint") == "" {
		q.Set("endpoint", c.Endpoint)
	}
	if c.Region != "" && q.Get("region") == "" {
		q.Set("region", c.Region)
	}
	u.RawQuery = q.Encode()
	lc, err := litestream.NewReplicaClientFromURL(u.String())
	if err != nil {
		return nil, fmt.Errorf("url %q: %w", Redact(c.URL), err)
	}
	switch lc := lc.(type) {
	case *s3.ReplicaClient:
		if c.AccessKeyID != "" {
			lc.AccessKeyID = c.AccessKeyID
		}
		if c.SecretAccessKey != "" {
			lc.SecretAccessKey = c.SecretAccessKey
		}
	case *abs.ReplicaClient:
		// Without a key Litestream tries LITESTREAM_AZURE_SAS_TOKEN,
		// LITESTREAM_AZURE_ACCOUNT_KEY, then Azure's default chain
		// (AZURE_CLIENT_ID/SECRET/TENANT_ID, a managed identity).
		lc.AccountKey = c.SecretAccessKey
	case *oss.ReplicaClient:
		// Without a key pair Litestream reads OSS_ACCESS_KEY_ID and
		// OSS_ACCESS_KEY_SECRET.
		lc.AccessKeyID, lc.AccessKeySecret = c.AccessKeyID, c.SecretAccessKey
		if c.Endpoint != "" {
			lc.Endpoint = c.Endpoint
		}
		if c.Region != "" {
			lc.Region = c.Region
		}
	case *sftp.ReplicaClient:
		if c.Password == "" && c.SSHKeyFile == "" {
			return nil, errors.New("sftp:// needs ssh_key_file (a private key the server accepts) or password_file")
		}
		lc.Password, lc.KeyPath, lc.HostKey = c.Password, c.SSHKeyFile, c.SSHHostKey
	case *webdav.ReplicaClient:
		lc.Password = c.Password
	case *nats.ReplicaClient:
		lc.Password = c.Password
	default:
		return nil, fmt.Errorf("url %q: unexpected %s client", Redact(c.URL), lc.Type())
	}
	return lc, nil
}

// Redact returns u without credentials: no user:password and no query
// parameter that could hold a key, so it can be logged and shown.
func Redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparseable URL)"
	}
	p.User = nil
	q := p.Query()
	for k := range q {
		lk := strings.ToLower(k)
		if strings.Contains(lk, "key") || strings.Contains(lk, "secret") || strings.Contains(lk, "token") || strings.Contains(lk, "pass") {
			q.Set(k, "REDACTED")
		}
	}
	p.RawQuery = q.Encode()
	return p.String()
}

// StatusPath is the file where serve publishes the replicator's state for
// "scimd status": beside the database, named after it.
func StatusPath(dbPath string) string { return dbPath + "-replica.json" }

// localStateDir is Litestream's staging folder for dbPath.
func localStateDir(dbPath string) string {
	dir, name := filepath.Split(dbPath)
	return filepath.Join(dir, "."+name+litestream.MetaDirSuffix)
}

// Status is the replicator's state, cheap to read (for "scimd status" and
// the metrics scimd_replica_lag_seconds,
// scimd_replica_last_sync_timestamp_seconds and scimd_replica_errors_total).
type Status struct {
	// URL is the replica's URL without credentials.
	URL string `json:"url"`
	// LastSync is when the last successful sync began: every write
	// committed before it is in the replica. Zero before the first one.
	LastSync time.Time `json:"last_sync"`
	// Lag is how far the replica is behind: now minus LastSync (since
	// serve started, while it has not synced yet). Writes newer than Lag
	// would be lost with the machine.
	Lag time.Duration `json:"-"`
	// LastError is the last failed attempt's error ("" after a success)
	// and LastErrorAt when it happened.
	LastError   string    `json:"last_error"`
	LastErrorAt time.Time `json:"last_error_at"`
	// Errors counts failed sync attempts since serve started.
	Errors int64 `json:"errors"`
	// Published is when serve wrote this status (read from StatusPath).
	Published time.Time `json:"published"`
	// Started is when the replicator started (the lag's origin before the
	// first sync).
	Started time.Time `json:"started"`
}

// lagAt is the lag seen at now.
func (s Status) lagAt(now time.Time) time.Duration {
	from := s.LastSync
	if from.IsZero() {
		from = s.Started
	}
	if from.IsZero() || now.Before(from) {
		return 0
	}
	return now.Sub(from)
}

// Replicator replicates one database while serve runs.
type Replicator struct {
	cfg    Config
	dbPath string
	log    *slog.Logger
	db     *litestream.DB
	ls     *litestream.Store
	cancel context.CancelFunc
	done   chan struct{}

	mu           sync.Mutex
	status       Status
	stageFailing bool
	errs         atomic.Int64
	stagedAt     atomic.Pointer[time.Time] // when the last successful staging began
	stagedSig    chan struct{}             // a staging has finished
}

// Start begins replicating the database at dbPath in the background. It
// fails only on a configuration error; an unreachable store is retried
// forever, with warnings that show the growing lag, and never affects the
// database's own readers and writers.
func Start(dbPath string, cfg Config, log *slog.Logger) (*Replicator, error) {
	client, err := cfg.client()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dbPath)
	if err != nil {
		return nil, err
	}
	// Litestream logs at Info for routine events (compactions, snapshots);
	// scimd reports replication itself, so only its warnings pass.
	llog := slog.New(levelFilter{log.Handler(), slog.LevelWarn}).With("component", "litestream")
	db := litestream.NewDB(abs)
	db.Logger = llog
	r := litestream.NewReplicaWithClient(db, client)
	// The replicator's loops stage and upload (so that they see every
	// error and measure the lag themselves) instead of Litestream's
	// monitors.
	r.MonitorEnabled = false
	// Staging and checkpoints run on the replicator's schedule too (stage).
	db.MonitorInterval = 0
	db.Replica = r
	ls := litestream.NewStore([]*litestream.DB{db}, litestream.DefaultCompactionLevels)
	ls.Logger = llog
	db.SetLogger(llog) // NewStore gave it the default logger
	// A stopping serve tries this long to upload what is staged.
	ls.SetShutdownSyncTimeout(5 * time.Second)
	// A full snapshot a day (or per retention period, when shorter) is the
	// start of every restore; older snapshots and the compacted changes
	// between them are deleted after retention.
	ls.SnapshotInterval = min(24*time.Hour, cfg.Retention)
	ls.SnapshotRetention = cfg.Retention
	rep := &Replicator{cfg: cfg, dbPath: abs, log: log, db: db, ls: ls, done: make(chan struct{}), stagedSig: make(chan struct{}, 1)}
	rep.status = Status{URL: Redact(cfg.URL), Started: time.Now()}
	ctx, cancel := context.WithCancel(context.Background())
	rep.cancel = cancel
	go rep.run(ctx)
	return rep, nil
}

// run opens Litestream (retrying while the store cannot be reached: S3
// without a region asks the bucket's region), then runs two loops, each
// once per sync interval: staging (Litestream reads new WAL frames into
// local files and checkpoints) and uploading. They are separate so that an
// upload hanging on an unreachable store never stops checkpoints, and the
// WAL stays bounded; staging runs once per interval, not more, because a
// page rewritten by many transactions in between is staged once.
func (rep *Replicator) run(ctx context.Context) {
	defer close(rep.done)
	w := warner{rep: rep}
	tick := time.NewTicker(rep.cfg.SyncInterval)
	defer tick.Stop()
	rep.publish()
	fail := func(err error) {
		rep.errs.Add(1)
		rep.mu.Lock()
		rep.status.LastError, rep.status.LastErrorAt = err.Error(), time.Now()
		rep.mu.Unlock()
		w.failed()
		rep.publish()
	}
	for {
		octx, cancel := context.WithTimeout(ctx, rep.attemptTimeout())
		err := rep.ls.Open(octx)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		fail(fmt.Errorf("open replica: %w", err))
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
	var staging sync.WaitGroup
	staging.Go(func() { rep.stage(ctx, &w) })
	defer staging.Wait()
	for {
		// Upload as soon as a staging is done, so a write is off the
		// machine within one interval and one upload.
	idle:
		for {
			select {
			case <-ctx.Done():
				return
			case <-rep.stagedSig:
				break idle
			case <-tick.C:
				w.check()
				rep.publish()
			}
		}
		// Everything committed before the last staging began is staged,
		// and so in the replica once this upload succeeds.
		staged := rep.stagedAt.Load()
		result := make(chan error, 1)
		go func() {
			actx, cancel := context.WithTimeout(ctx, rep.attemptTimeout())
			defer cancel()
			result <- rep.db.Replica.Sync(actx)
		}()
	wait:
		for {
			select {
			case err := <-result:
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					fail(fmt.Errorf("upload: %w", err))
					break wait
				}
				rep.mu.Lock()
				if staged != nil {
					rep.status.LastSync = *staged
				}
				if !rep.stageFailing {
					rep.status.LastError = ""
				}
				caughtUp := rep.status.LastError == ""
				rep.mu.Unlock()
				if caughtUp {
					w.synced()
				}
				rep.publish()
				break wait
			case <-tick.C:
				w.check()
				rep.publish()
			case <-ctx.Done():
				<-result
				return
			}
		}
	}
}

// stage runs Litestream's staging and checkpointing every sync interval
// until ctx ends.
func (rep *Replicator) stage(ctx context.Context, w *warner) {
	tick := time.NewTicker(rep.cfg.SyncInterval)
	defer tick.Stop()
	ready := false // Litestream has opened its hold on the database
	for {
		begin := time.Now()
		sctx, cancel := context.WithTimeout(ctx, rep.attemptTimeout())
		var err error
		if !ready {
			// Litestream's first staging opens a descriptor of the
			// database file and then asks the store where the replica
			// stands; when that fails, it closes the descriptor again. On
			// Unix that releases every POSIX lock of this process on the
			// file, SQLite's shared lock among them, and another process
			// closing the database (an admin command) could then
			// checkpoint and delete the WAL under serve. So the store is
			// asked first, and Litestream gets to begin only once it
			// answers.
			err = rep.reachable(sctx)
		}
		if err == nil {
			err = rep.db.Sync(sctx)
			ready = ready || err == nil
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
		rep.mu.Lock()
		rep.stageFailing = err != nil
		if err != nil {
			rep.status.LastError, rep.status.LastErrorAt = "stage: "+err.Error(), time.Now()
		}
		rep.mu.Unlock()
		if err != nil {
			rep.errs.Add(1)
			w.failed()
			rep.publish()
		} else {
			rep.stagedAt.Store(&begin)
			select {
			case rep.stagedSig <- struct{}{}:
			default:
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// reachable asks the store what Litestream's first staging asks it (its
// check that the database is not behind the replica).
func (rep *Replicator) reachable(ctx context.Context) error {
	_, err := rep.db.Replica.MaxLTXFileInfo(ctx, 0)
	return err
}

// attemptTimeout bounds one staging or upload attempt, so that a hung
// connection is retried rather than waited on forever.
func (rep *Replicator) attemptTimeout() time.Duration {
	return max(time.Minute, 10*rep.cfg.SyncInterval)
}

// warner logs a replica that falls behind: at the first failure, then each
// time the lag has doubled (10 s, 20 s, 40 s, ..., then every 5 minutes),
// so an outage is visible without flooding the log; and once it has
// caught up again.
type warner struct {
	mu     sync.Mutex // staging and uploading both report
	rep    *Replicator
	warned bool
	next   time.Duration // lag at which to warn next
}

func (w *warner) failed() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.warned {
		w.warn()
	}
}

func (w *warner) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.rep.Status()
	if w.next == 0 {
		w.next = max(10*time.Second, 5*w.rep.cfg.SyncInterval)
	}
	if st.Lag >= w.next {
		w.warn()
	}
}

func (w *warner) warn() {
	st := w.rep.Status()
	last := st.LastError
	if last == "" {
		last = "the current attempt has not finished"
	}
	w.rep.log.Warn("replica: cannot sync, retrying; writes are safe on this machine but not yet off it",
		"replica", st.URL, "lag", st.Lag.Round(time.Second).String(), "error", last)
	w.warned = true
	if w.next == 0 {
		w.next = max(10*time.Second, 5*w.rep.cfg.SyncInterval)
	}
	for w.next <= st.Lag {
		w.next = min(2*w.next, w.next+5*time.Minute)
	}
}

func (w *warner) synced() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.warned {
		w.rep.log.Info("replica: caught up", "replica", w.rep.Status().URL)
	}
	w.warned, w.next = false, 0
}

// Status returns the current state, with the lag computed now.
func (rep *Replicator) Status() Status {
	rep.mu.Lock()
	st := rep.status
	rep.mu.Unlock()
	st.Errors = rep.errs.Load()
	st.Lag = st.lagAt(time.Now())
	return st
}

// publish writes the status for "scimd status" (write then rename, so a
// reader never sees half a file; no fsync: it is advice, rewritten every
// interval).
func (rep *Replicator) publish() {
	st := rep.Status()
	st.Published = time.Now()
	if err := writeStatus(StatusPath(rep.dbPath), st); err != nil {
		rep.log.Warn("replica: cannot publish status for scimd status", "error", err)
	}
}

// Close stops replicating after a last attempt to upload what is staged.
func (rep *Replicator) Close(ctx context.Context) error {
	rep.cancel()
	<-rep.done
	begin := time.Now()
	err := rep.ls.Close(ctx) // stages and uploads what is left
	if err == nil {
		rep.mu.Lock()
		rep.status.LastSync, rep.status.LastError = begin, ""
		rep.mu.Unlock()
	}
	rep.publish()
	return err
}

// levelFilter passes records at or above min to h.
type levelFilter struct {
	h   slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.h.Enabled(ctx, l)
}
func (f levelFilter) Handle(ctx context.Context, r slog.Record) error { return f.h.Handle(ctx, r) }
func (f levelFilter) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFilter{f.h.WithAttrs(a), f.min}
}
func (f levelFilter) WithGroup(n string) slog.Handler { return levelFilter{f.h.WithGroup(n), f.min} }

// RemoveLocalState deletes Litestream's staging folder for dbPath. A
// restored database must start from the replica's position, not from
// staging files that belonged to the database it replaces.
func RemoveLocalState(dbPath string) error {
	abs, err := filepath.Abs(dbPath)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(localStateDir(abs)); err != nil {
		return err
	}
	if err := os.Remove(StatusPath(abs)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
