package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"scimd/admin"
	"scimd/server"
	"scimd/store"
)

// adminListener is serve's [admin] listener for /metrics and the status
// page (package admin). It is built before the store and the SCIM server,
// which report to its metrics, and bound after them. A nil *adminListener
// is a listener that is turned off; its methods accept that.
type adminListener struct {
	cfg      AdminConfig
	password string
	metrics  *admin.Metrics
	// collectors and sections are what other features append before
	// listen, when the listener is on (a != nil): their metrics (webhook
	// backlog, replica lag) and their part of the status page, e.g.
	//	c, s := admin.Webhooks(func() []admin.WebhookStat { … from the deliverer's Stats() … })
	//	adm.collectors, adm.sections = append(adm.collectors, c), append(adm.sections, s)
	collectors []prometheus.Collector
	sections   []admin.Section
}

// newAdminListener checks [admin] and reads the password file. It refuses
// a listener reachable from other hosts without a password, so serve does
// not start with its directory's figures open to the network.
func newAdminListener(cfg AdminConfig) (*adminListener, error) {
	if cfg.Listen == "" {
		return nil, nil
	}
	if err := admin.Check(cfg.Listen, cfg.PasswordFile); err != nil {
		return nil, err
	}
	a := &adminListener{cfg: cfg, metrics: admin.NewMetrics(version)}
	if cfg.PasswordFile != "" {
		p, err := admin.ReadPassword(cfg.PasswordFile)
		if err != nil {
			return nil, err
		}
		a.password = p
	}
	return a, nil
}

// onBatch is store.Options.OnBatch: nil when the listener is off, so the
// writer does not even measure.
func (a *adminListener) onBatch() func(store.BatchStats) {
	if a == nil {
		return nil
	}
	return a.metrics.ObserveBatch
}

// observer is server.Config.Observer; a nil interface when off.
func (a *adminListener) observer() server.Observer {
	if a == nil {
		return nil
	}
	return a.metrics
}

// listen binds the admin listener and returns its server, to be served on
// the returned listener; nil, nil when it is off.
//
// The default address being taken is not fatal: Prometheus itself
// defaults to 9090, and an upgrade must not stop provisioning on a machine
// that runs both; serve warns and runs without the admin listener. An
// address the operator chose that cannot be bound stops serve.
func (a *adminListener) listen(st *store.Store, log *slog.Logger) (*http.Server, net.Listener, error) {
	if a == nil {
		return nil, nil, nil
	}
	h, err := admin.New(admin.Options{Store: st, Metrics: a.metrics, Password: a.password, Version: version, Logger: log,
		Collectors: a.collectors, Sections: a.sections})
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		if a.cfg.Listen == defaultAdminListen && errors.Is(err, syscall.EADDRINUSE) {
			log.Warn("admin listener off: its default address is in use; set [admin] listen to another address, or \"\" to silence this",
				"addr", a.cfg.Listen)
			return nil, nil, nil
		}
		return nil, nil, fmt.Errorf("[admin] listen on %s: %w", a.cfg.Listen, err)
	}
	log.Info("admin listening", "addr", ln.Addr().String(), "url", "http://"+ln.Addr().String()+"/", "auth", a.password != "")
	return admin.NewHTTPServer(h, log), ln, nil
}
