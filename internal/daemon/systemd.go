package daemon

import (
	"fmt"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// SystemdNotifier speaks sd_notify (a no-op when not run by systemd).
type SystemdNotifier struct{}

var _ Notifier = SystemdNotifier{}

func (SystemdNotifier) send(state string) error {
	_, err := daemon.SdNotify(false, state)
	return err
}

// Starting implements Notifier: STATUS= and EXTEND_TIMEOUT_USEC= (systemd 236+).
func (n SystemdNotifier) Starting(status string, extend time.Duration) error {
	return n.send(fmt.Sprintf("STATUS=%s\nEXTEND_TIMEOUT_USEC=%d", status, extend.Microseconds()))
}

// Status implements Notifier: STATUS=, which `systemctl status` shows.
func (n SystemdNotifier) Status(status string) error {
	return n.send("STATUS=" + strings.ReplaceAll(status, "\n", " "))
}

// Ready implements Notifier.
func (n SystemdNotifier) Ready() error { return n.send(daemon.SdNotifyReady) }

// Reloading implements Notifier; systemd 253+ wants MONOTONIC_USEC with it.
func (n SystemdNotifier) Reloading() error {
	return n.send(fmt.Sprintf("%s\nMONOTONIC_USEC=%d", daemon.SdNotifyReloading, monotonicUsec()))
}

// Stopping implements Notifier.
func (n SystemdNotifier) Stopping() error { return n.send(daemon.SdNotifyStopping) }

// Watchdog implements Notifier.
func (n SystemdNotifier) Watchdog() error { return n.send(daemon.SdNotifyWatchdog) }

// WatchdogInterval is half of WatchdogSec, or 0 when the watchdog is off.
func (SystemdNotifier) WatchdogInterval() time.Duration {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil || d == 0 {
		return 0
	}
	return d / 2
}
