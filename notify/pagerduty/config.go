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
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/notify"
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
	RoutingKey flows.Template `yaml:"routing_key" json:"routing_key" jsonschema:"required,description=Events API v2 integration (routing) key\\, e.g. ${credential:pagerduty_routing_key}."`
	// URL overrides the Events API base URL (tests, proxies).
	URL string `yaml:"url,omitempty" json:"url,omitempty" jsonschema:"description=Events API base URL (default https://events.pagerduty.com)."`
	// Severity overrides the event's severity: critical, error, warning or info.
	Severity string `yaml:"severity,omitempty" json:"severity,omitempty" jsonschema:"enum=critical,enum=error,enum=warning,enum=info"`
}

var _ notify.Config = (*Config)(nil)

// Validate checks the settings and sets defaults.
func (c *Config) Validate() error {
	if c.URL == "" {
		c.URL = DefaultURL
	}
	errs := []error{
		checkSecret("routing_key", c.RoutingKey),
		checkURL("url", c.URL),
	}
	if c.Severity != "" && !slices.Contains(severities, c.Severity) {
		errs = append(errs, flows.FieldErrorf("severity", "must be one of %s, got %q", strings.Join(severities, ", "), c.Severity))
	}
	return errors.Join(errs...)
}

// New makes the notifier.
func (c *Config) New(d notify.Deps) (notify.Notifier, error) {
	return newNotifier(*c, d), nil
}

// checkSecret checks a required secret setting without resolving it: step
// outputs do not exist outside flows, and a malformed reference is reported
// without echoing the text (it may be a literal secret).
func checkSecret(path string, t flows.Template) error {
	switch {
	case t.IsZero():
		return flows.FieldErrorf(path, "required: write e.g. ${env:NAME}, ${file:/path} or ${credential:NAME}")
	case t.HasStepRefs():
		return flows.FieldErrorf(path, "step outputs (${steps.ID.NAME}) are not available in notifier settings; use ${env:NAME}, ${file:/path} or ${credential:NAME}")
	case len(t.Refs()) == 0:
		// No reference: expanding reads nothing and reports a parse error.
		if _, err := t.ExpandSecrets(flows.SecretSource{}); err != nil {
			return flows.FieldErrorf(path, "malformed reference: write ${env:NAME}, ${file:/absolute/path} or ${credential:NAME}, and $${ for a literal ${")
		}
	}
	return nil
}

// checkURL requires an absolute https URL without credentials; plain http
// is allowed only to loopback hosts (the routing key travels in the body).
func checkURL(path, raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return flows.FieldErrorf(path, "must be an absolute https URL, got %q", raw)
	case u.User != nil:
		return flows.FieldErrorf(path, "must not carry credentials")
	case u.RawQuery != "" || u.Fragment != "":
		return flows.FieldErrorf(path, "must not have a query or fragment")
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return flows.FieldErrorf(path, "must use https (http is allowed only to localhost and loopback addresses): the routing key would travel in clear")
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
