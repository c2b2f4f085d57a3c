// Package pagerduty sends incident events to PagerDuty through the Events
// API v2 (https://developer.pagerduty.com/docs/events-api-v2/overview/).
//
// Settings:
//
//	routing_key: ${credential:pagerduty_routing_key}   # required; the integration key
//	url: https://events.pagerduty.com                   # optional; https, or http on loopback
//	severity: critical                                  # optional; overrides the event's
//
// Opened, updated and reminder events trigger with dedup_key = the incident
// key, so later events amend the same PagerDuty alert; resolved resolves it.
// A test event triggers an info alert and resolves it at once.
package pagerduty

import (
	"errors"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/notify"
	"github.com/authwatch/authwatch/notify/internal/httpsend"
)

// DefaultURL is PagerDuty's Events API (US and EU accounts alike).
const DefaultURL = "https://events.pagerduty.com"

// severities are PagerDuty's payload.severity values.
var severities = []string{"critical", "error", "warning", "info"}

func init() {
	notify.Register(notify.Kind{
		Name:      "pagerduty",
		Doc:       "Trigger and resolve PagerDuty alerts (Events API v2).",
		NewConfig: func() notify.Config { return &Config{} },
	})
}

// Config is the pagerduty notifier's settings.
type Config struct {
	// RoutingKey is the Events API v2 integration key: a secret, resolved on
	// every send.
	RoutingKey conf.Template `yaml:"routing_key" json:"routing_key" jsonschema:"required,description=Events API v2 integration (routing) key\\, e.g. ${credential:pagerduty_routing_key}."`
	// URL overrides the Events API base URL (tests, proxies).
	URL string `yaml:"url,omitempty" json:"url,omitempty" jsonschema:"description=Events API base URL (default https://events.pagerduty.com)."`
	// Severity overrides the event's severity: critical, error, warning or info.
	Severity string `yaml:"severity,omitempty" json:"severity,omitempty" jsonschema:"enum=critical,enum=error,enum=warning,enum=info"`
}

var _ notify.Config = (*Config)(nil)

// Validate checks the settings and sets defaults.
func (c *Config) Validate() error {
	return errors.Join(
		httpsend.CheckAPISettings("routing_key", c.RoutingKey, &c.URL, DefaultURL, "the routing key"),
		httpsend.CheckOneOf("severity", c.Severity, severities),
	)
}

// New makes the notifier.
func (c *Config) New(d notify.Deps) (notify.Notifier, error) {
	return newNotifier(*c, d), nil
}
