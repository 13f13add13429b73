package main

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"time"
)

// sdNotify sends one state message (e.g. "READY=1") to the service manager
// over the unix datagram socket named in $NOTIFY_SOCKET (sd_notify(3)). It
// does nothing when the variable is unset, so scimd runs the same outside
// systemd. A name starting with "@" is an abstract socket; Go's net package
// maps it.
func sdNotify(state string) error {
	name := os.Getenv("NOTIFY_SOCKET")
	if name == "" {
		return nil
	}
	if name[0] != '/' && name[0] != '@' {
		return errors.New("sd_notify: NOTIFY_SOCKET is neither a path nor an abstract socket: " + name)
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write([]byte(state))
	return err
}

// watchdogInterval is how often to send WATCHDOG=1: half of $WATCHDOG_USEC,
// as sd_watchdog_enabled(3) recommends, or 0 when the watchdog is off or
// meant for another process ($WATCHDOG_PID).
func watchdogInterval() time.Duration {
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 || os.Getenv("NOTIFY_SOCKET") == "" {
		return 0
	}
	return time.Duration(usec) * time.Microsecond / 2
}

// watchdog sends WATCHDOG=1 every interval for as long as healthy answers
// nil, until ctx ends. A failed check skips the ping, so a service whose
// database stopped answering is restarted by systemd (WatchdogSec=).
func watchdog(ctx context.Context, every time.Duration, healthy func(context.Context) error, onErr func(error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			hctx, cancel := context.WithTimeout(ctx, every)
			err := healthy(hctx)
			cancel()
			if err == nil {
				err = sdNotify("WATCHDOG=1")
			}
			if err != nil && ctx.Err() == nil {
				onErr(err)
			}
		}
	}
}
