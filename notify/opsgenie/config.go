// Package opsgenie sends incident events to Opsgenie through the Alert API
// v2 (https://docs.opsgenie.com/docs/alert-api).
//
// Settings:
//
//	api_key: ${credential:opsgenie_api_key}   # required; an API integration key
//	url: https://api.eu.opsgenie.com          # optional; default https://api.opsgenie.com
//	priority: P2                              # optional; overrides the severity mapping
//
// Opened creates an alert with alias = the incident key; updated and
// reminder add a note to it; resolved closes it. A test event creates a P5
// alert tagged "test" (see Notifier.Notify).
package opsgenie

import (
	"errors"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/notify"
	"github.com/authwatch/authwatch/notify/internal/httpsend"
)

// Opsgenie's API hosts.
const (
	DefaultURL = "https://api.opsgenie.com"
	EUURL      = "https://api.eu.opsgenie.com"
)

var priorities = []string{"P1", "P2", "P3", "P4", "P5"}

func init() {
	notify.Register(notify.Kind{
		Name:      "opsgenie",
		Doc:       "Create, annotate and close Opsgenie alerts (Alert API v2).",
		NewConfig: func() notify.Config { return &Config{} },
	})
}

// Config is the opsgenie notifier's settings.
type Config struct {
	// APIKey is the key of an Opsgenie API integration: a secret, resolved
	// on every send.
	APIKey conf.Template `yaml:"api_key" json:"api_key" jsonschema:"required,description=API integration key\\, e.g. ${credential:opsgenie_api_key}."`
	// URL is the API host: https://api.opsgenie.com (default) or
	// https://api.eu.opsgenie.com for EU accounts.
	URL string `yaml:"url,omitempty" json:"url,omitempty" jsonschema:"description=API base URL (default https://api.opsgenie.com; EU accounts: https://api.eu.opsgenie.com)."`
	// Priority overrides the severity mapping: P1 (highest) to P5.
	Priority string `yaml:"priority,omitempty" json:"priority,omitempty" jsonschema:"enum=P1,enum=P2,enum=P3,enum=P4,enum=P5"`
}

var _ notify.Config = (*Config)(nil)

// Validate checks the settings and sets defaults.
func (c *Config) Validate() error {
	return errors.Join(
		httpsend.CheckAPISettings("api_key", c.APIKey, &c.URL, DefaultURL, "the API key"),
		httpsend.CheckOneOf("priority", c.Priority, priorities),
	)
}

// New makes the notifier.
func (c *Config) New(d notify.Deps) (notify.Notifier, error) {
	return newNotifier(*c, d), nil
}
