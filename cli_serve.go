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
	"syscall"
	"time"

	"scimd/server"
	"scimd/store"
)

// ServeCmd is "scimd serve".
type ServeCmd struct{}

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

// openStore opens the configured database with the configured catalogue.
func openStore(cfg Config) (*store.Store, error) {
	cat, err := cfg.Catalog()
	if err != nil {
		return nil, err
	}
	return store.Open(cfg.Database.Path, store.Options{Catalog: cat, OnDelete: cfg.Users.OnDelete})
}

// serve runs the server until ctx ends. ready, when set, receives the bound
// address once the database is open and the listener is bound.
func serve(ctx context.Context, cfg Config, logw io.Writer, ready func(addr string)) error {
	log := newLogger(cfg, logw)
	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	srv := server.New(st, server.Config{
		BasePath:   cfg.Server.BasePath,
		PublicURL:  cfg.Server.PublicURL,
		MaxBody:    cfg.Limits.MaxBodyBytes,
		MaxResults: cfg.Limits.MaxResults,
		Limits:     cfg.scimLimits(),
		Logger:     log,
	})
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Server.Listen, err)
	}
	addr := ln.Addr().String()
	log.Info("listening", "addr", addr, "url", "http://"+addr+cfg.Server.BasePath, "database", st.Path(), "version", version)
	if ready != nil {
		ready(addr)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()

	flush := time.NewTicker(5 * time.Second)
	defer flush.Stop()
	for {
		select {
		case err := <-errc:
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return err
		case <-flush.C:
			if err := srv.FlushUsage(context.Background()); err != nil {
				log.Warn("recording token use failed", "error", err)
			}
		case <-ctx.Done():
			log.Info("shutting down: draining in-flight requests", "timeout", time.Duration(cfg.Server.ShutdownTimeout).String())
			sctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.Server.ShutdownTimeout))
			err := hs.Shutdown(sctx)
			cancel()
			if ferr := srv.FlushUsage(context.Background()); ferr != nil {
				log.Warn("recording token use failed", "error", ferr)
			}
			if err != nil {
				hs.Close()
				return fmt.Errorf("shutdown: %w", err)
			}
			log.Info("stopped")
			return nil
		}
	}
}
