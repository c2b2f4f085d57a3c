// Package lognotify is the notifier kind "log": every event becomes one
// structured line of the daemon's log (log/slog), tagged notifier=log, at
// level WARN for opened, updated and reminder events and INFO for resolved
// and test events. It never fails, so it suits a first setup, a journald or
// Loki pipeline that alerts on its own, and a fallback route.
//
// # Settings
//
// None; the kind is selected and that is all:
//
//	kind: log
//
// # Line
//
// The message is the event's headline (notify.Event.Title); the attributes
// are the event's fields under their JSON names (event, id, incident_key,
// severity, flow, step, reason, layer, summary, next_step, previous_reason,
// first_failure, consecutive_failures, host, region, status_url) and the
// groups labels, evidence and request_ids. Empty fields are left out.
package lognotify

import (
	"log/slog"

	"github.com/authwatch/authwatch/notify"
)

func init() {
	notify.Register(notify.Kind{
		Name:      "log",
		Doc:       "Write every event as one structured line to authwatch's own log (warn while failing, info when resolved).",
		NewConfig: func() notify.Config { return &Config{} },
	})
}

// Config is the log notifier's settings: there are none.
type Config struct{}

var _ notify.Config = (*Config)(nil)

// Validate accepts the empty settings.
func (c *Config) Validate() error { return nil }

// New makes the notifier; it logs to d.Logger (slog.Default when nil).
func (c *Config) New(d notify.Deps) (notify.Notifier, error) {
	l := d.Logger
	if l == nil {
		l = slog.Default()
	}
	return &Notifier{log: l.With("notifier", "log")}, nil
}
