package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"scimd/admin"
	"scimd/server"
	"scimd/store"
	"scimd/webhook"
)

// ServeCmd is "scimd serve".
type ServeCmd struct{}

// Help shows examples.
func (ServeCmd) Help() string {
	return `Logs on stderr. In the background it warns about tokens within 30 days of expiry (at
startup and daily) and deletes provisioning-log entries older than [log] retention.

Examples:
  scimd serve
  scimd serve --config /etc/scimd/config.toml`
}

// Run serves until SIGINT or SIGTERM, then drains in-flight requests.
func (ServeCmd) Run(cli *CLI) error {
	cfg, err := Load(cli.Config)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return serve(ctx, cfg, os.Stderr, nil)
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	if cfg.Server.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// requestLogText is w when request lines are text (server.Config.RequestLog
// formats them itself), nil for JSON.
func requestLogText(cfg Config, w io.Writer) io.Writer {
	if cfg.Server.LogFormat == "json" {
		return nil
	}
	return w
}

// openStore opens the configured database with the configured catalogue.
func openStore(cfg Config) (*store.Store, error) {
	cat, err := cfg.Catalog()
	if err != nil {
		return nil, err
	}
	// With [replica], Litestream owns checkpoints, also against admin commands.
	return store.Open(cfg.Database.Path, store.Options{Catalog: cat, OnDelete: cfg.Users.OnDelete, NoAutoCheckpoint: cfg.Replica.URL != ""})
}

// serve runs the server until ctx ends, then drains in-flight requests for
// up to [server] shutdown_timeout. With [tls] domains it serves HTTPS on
// https_port with certificates from ACME (tls.go) and answers challenges and
// redirects on http_port; otherwise plain HTTP on [server] listen (behind a
// reverse proxy). ready, when set, receives the bound address (the HTTPS one
// with TLS) once the database is open and the listeners are bound; systemd
// hears READY=1 at the same moment (sdnotify.go).
func serve(ctx context.Context, cfg Config, logw io.Writer, ready func(addr string)) error {
	lw := newLogWriter(logw) // one write for lines logged together (logwriter.go)
	defer lw.Flush()         // runs last: every line, up to the store's closing, is out
	log := newLogger(cfg, lw)
	server.TuneRuntime()
	if err := checkTLS(cfg.TLS); err != nil {
		return err
	}
	useTLS := len(cfg.TLS.Domains) > 0
	adm, err := newAdminListener(cfg.Admin) // cli_admin.go
	if err != nil {
		return err
	}
	cat, err := cfg.Catalog()
	if err != nil {
		return err
	}
	hooks, err := cfg.webhookEndpoints() // secret files are read once, here
	if err != nil {
		return err
	}
	// Only one server per database (store/files.go): a second one would
	// run its own migrations, index changes and log pruning beside the
	// first. Taken before Open, released after Close (defers run last-in
	// first-out).
	lock, err := store.LockServer(cfg.Database.Path)
	if err != nil {
		return err
	}
	defer lock.Release()
	st, err := store.Open(cfg.Database.Path, store.Options{Catalog: cat, OnDelete: cfg.Users.OnDelete, SyncIndexes: true,
		NoAutoCheckpoint: cfg.Replica.URL != "", Events: cfg.webhookEvents(),
		OnBatch: adm.onBatch(), QueryTimeout: time.Duration(cfg.Limits.QueryTimeout)})
	if err != nil {
		return err
	}
	defer st.Close()
	// Continuous replication ([replica], cli_restore.go); closed before the
	// store, after the listeners have drained, so its last upload holds
	// every acknowledged write.
	rep, err := startReplica(cfg, st.Path(), log)
	if err != nil {
		return err
	}
	if rep != nil {
		defer rep.Close(context.Background())
		if adm != nil { // the replica's metrics and status-page section
			c, sec := admin.Replica(func() admin.ReplicaStat {
				r := rep.Status()
				return admin.ReplicaStat{URL: r.URL, LastSync: r.LastSync, Lag: r.Lag, Errors: r.Errors, LastError: r.LastError, LastErrorAt: r.LastErrorAt}
			})
			adm.collectors, adm.sections = append(adm.collectors, c), append(adm.sections, sec)
		}
	}
	defer startAdminJobs(ctx, cfg, st, log)() // token expiry warnings, log retention (cli_log.go)
	srv := server.New(st, server.Config{
		BasePath:   cfg.Server.BasePath,
		PublicURL:  publicURL(cfg), // tls.go
		MaxBody:    cfg.Limits.MaxBodyBytes,
		MaxResults: cfg.Limits.MaxResults,
		Limits:     cfg.scimLimits(),
		Logger:     log,
		HSTS:       useTLS,
		// Request lines may wait a few milliseconds to share a write.
		RequestLogger: newLogger(cfg, lw.Deferred()),
		RequestLog:    requestLogText(cfg, lw.Deferred()),

		AuthFailuresPerMinute: cfg.Limits.AuthFailuresPerMinute,
		Observer:              adm.observer(),
	})
	newHTTP := func(h http.Handler) *http.Server {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: time.Duration(cfg.Server.ReadHeaderTimeout),
			ReadTimeout:       time.Duration(cfg.Server.ReadTimeout),
			WriteTimeout:      time.Duration(cfg.Server.WriteTimeout),
			IdleTimeout:       time.Duration(cfg.Server.IdleTimeout),
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
	}
	hs := newHTTP(srv.Handler())
	servers := []*http.Server{hs}
	var run []func() error // each blocks serving one listener
	// The webhook deliverer exists before the admin listener, which
	// reports its Stats (metrics, status page); it starts further down.
	var hookBase string // set once the listeners are bound, before Start
	deliverer := webhook.New(st, webhook.Options{Endpoints: hooks, Logger: log,
		Retention: time.Duration(cfg.Events.Retention), RetryBase: time.Duration(cfg.Events.RetryBase),
		Render: func(k store.Kind, r *store.Resource) map[string]any { return srv.RenderAt(hookBase, k, r) },
		AppendStored: func(b []byte, k store.Kind, r *store.Resource) ([]byte, bool) {
			return srv.AppendStoredAt(b, hookBase, k, r)
		}})
	if adm != nil {
		c, s := admin.Webhooks(func() []admin.WebhookStat { return webhookStats(deliverer) })
		adm.collectors, adm.sections = append(adm.collectors, c), append(adm.sections, s)
	}
	ahs, aln, err := adm.listen(st, log)
	if err != nil {
		return err
	}
	if ahs != nil {
		defer aln.Close() // when serve fails before serving it
		servers = append(servers, ahs)
		run = append(run, func() error { return ahs.Serve(aln) })
	}

	var addr, url string
	if !useTLS {
		ln, err := net.Listen("tcp", cfg.Server.Listen)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.Server.Listen, err)
		}
		addr = ln.Addr().String()
		url = "http://" + addr + cfg.Server.BasePath
		run = append(run, func() error { return hs.Serve(ln) })
	} else {
		a, err := newACME(cfg, log)
		if err != nil {
			return err
		}
		defer a.stop()
		tln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.TLS.HTTPSPort)))
		if err != nil {
			return fmt.Errorf("listen on HTTPS port %d: %w", cfg.TLS.HTTPSPort, err)
		}
		hln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.TLS.HTTPPort)))
		if err != nil {
			tln.Close()
			return fmt.Errorf("listen on HTTP port %d (ACME challenges and redirects): %w", cfg.TLS.HTTPPort, err)
		}
		hs.TLSConfig = a.tlsConfig()
		redirect := newHTTP(a.httpHandler())
		servers = append(servers, redirect)
		// Loads stored certificates now; obtains missing ones in the
		// background, through the listeners bound above.
		if err := a.manage(ctx); err != nil {
			tln.Close()
			hln.Close()
			return fmt.Errorf("[tls]: %w", err)
		}
		addr = tln.Addr().String()
		url = "https://" + cfg.TLS.Domains[0]
		if cfg.TLS.HTTPSPort != 443 {
			url += ":" + strconv.Itoa(cfg.TLS.HTTPSPort)
		}
		url += cfg.Server.BasePath
		run = append(run, func() error { return hs.ServeTLS(tln, "", "") }, func() error { return redirect.Serve(hln) })
		log.Info("answering ACME challenges and redirecting to HTTPS", "addr", hln.Addr().String(), "certificates", certStorage(cfg))
	}
	// Webhooks start before any request is served, so every event
	// committed from now on has its endpoints set up (cli_webhooks.go).
	// Their resources name the public URL, else the one served here.
	hookBase = url
	if pu := publicURL(cfg); pu != "" {
		hookBase = strings.TrimRight(pu, "/") + "/" + strings.Trim(cfg.Server.BasePath, "/")
	}
	if err := deliverer.Start(ctx); err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	defer deliverer.Stop()
	for _, h := range hooks {
		log.Info("webhook endpoint", "webhook", h.Name, "events", strings.Join(h.Events, ","))
	}
	log.Info("listening", "addr", addr, "url", url, "database", st.Path(), "version", version)
	if ready != nil {
		ready(addr)
	}
	if err := sdNotify("READY=1\nSTATUS=serving " + url); err != nil {
		log.Warn("telling systemd we are ready failed", "error", err)
	}
	errc := make(chan error, len(run))
	for _, r := range run {
		go func() { errc <- r() }()
	}
	wctx, stopWatchdog := context.WithCancel(ctx)
	defer stopWatchdog()
	if every := watchdogInterval(); every > 0 {
		go watchdog(wctx, every, func(ctx context.Context) error { _, err := st.SchemaVersion(ctx); return err },
			func(err error) { log.Error("watchdog: not pinging systemd", "error", err) })
	}
	// SIGHUP: there are no log files to reopen (logs go to stderr) and
	// certificates renew by themselves, so it is ignored rather than fatal;
	// config changes need a restart.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	flush := time.NewTicker(5 * time.Second)
	defer flush.Stop()
	for {
		select {
		case err := <-errc:
			// One listener failed: stop the others rather than half-serve.
			for _, s := range servers {
				s.Close()
			}
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return err
		case <-flush.C:
			if err := srv.FlushUsage(context.Background()); err != nil {
				log.Warn("recording token use failed", "error", err)
			}
		case <-hup:
			log.Info("SIGHUP ignored: nothing to reload; restart scimd to apply config changes")
		case <-ctx.Done():
			if err := sdNotify("STOPPING=1"); err != nil {
				log.Warn("telling systemd we are stopping failed", "error", err)
			}
			log.Info("shutting down: draining in-flight requests", "timeout", time.Duration(cfg.Server.ShutdownTimeout).String())
			sctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.Server.ShutdownTimeout))
			var wg sync.WaitGroup
			errs := make([]error, len(servers))
			for i, s := range servers {
				wg.Go(func() { errs[i] = s.Shutdown(sctx) })
			}
			wg.Wait()
			cancel()
			if ferr := srv.FlushUsage(context.Background()); ferr != nil {
				log.Warn("recording token use failed", "error", ferr)
			}
			if err := errors.Join(errs...); err != nil {
				for _, s := range servers {
					s.Close()
				}
				return fmt.Errorf("shutdown: %w", err)
			}
			log.Info("stopped")
			return nil
		}
	}
}
