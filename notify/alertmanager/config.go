// Package alertmanager posts incident events to Prometheus Alertmanager's
// API v2 (POST /api/v2/alerts), so authwatch failures are routed, grouped,
// silenced and inhibited with everything else an organisation alerts on.
//
// Settings:
//
//	url: http://alertmanager:9093            # the base URL; or urls: for an HA set (posted to each)
//	urls: [http://am-1:9093, http://am-2:9093]
//	bearer: ${credential:alertmanager_token} # optional; or basic_auth: {username, password}
//	alert_ttl: 24h                           # optional; how long a firing alert lasts without a reminder
//
// Each alert's labels are alertname="AuthwatchFlowFailing", flow, reason,
// layer, severity and the flow's labels (renamed to valid label names); its
// annotations carry the summary, next step, evidence and status link.
package alertmanager

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/notify"
	"github.com/authwatch/authwatch/notify/internal/httpsend"
)

// DefaultAlertTTL is how long a firing alert stays firing in Alertmanager
// when no reminder re-posts it.
const DefaultAlertTTL = 24 * time.Hour

func init() {
	notify.Register(notify.Kind{
		Name:      "alertmanager",
		Doc:       "Post alerts to Prometheus Alertmanager (API v2).",
		NewConfig: func() notify.Config { return &Config{} },
	})
}

// Config is the alertmanager notifier's settings.
type Config struct {
	// URL is one Alertmanager's base URL (without /api/v2).
	URL string `yaml:"url,omitempty" json:"url,omitempty" jsonschema:"description=Alertmanager base URL\\, e.g. http://alertmanager:9093."`
	// URLs are more Alertmanagers (an HA cluster): each gets every alert,
	// and delivery succeeds when one of them accepts it.
	URLs []string `yaml:"urls,omitempty" json:"urls,omitempty" jsonschema:"description=More Alertmanager base URLs (an HA cluster); each gets every alert."`
	// BasicAuth authenticates with HTTP Basic; exclusive with Bearer.
	BasicAuth *BasicAuth `yaml:"basic_auth,omitempty" json:"basic_auth,omitempty"`
	// Bearer is a bearer token (a secret); exclusive with BasicAuth.
	Bearer conf.Template `yaml:"bearer,omitempty" json:"bearer,omitempty" jsonschema:"description=Bearer token\\, e.g. ${credential:alertmanager_token}."`
	// AlertTTL is how long a firing alert lasts (its endsAt) unless a
	// reminder re-posts it; keep it above the alert policy's reminder interval.
	AlertTTL conf.Duration `yaml:"alert_ttl,omitempty" json:"alert_ttl,omitempty" jsonschema:"type=string,description=How long a firing alert lasts without a reminder (default 24h); keep it above the reminder interval."`
}

// BasicAuth is HTTP Basic credentials (RFC 7617), both secrets.
type BasicAuth struct {
	Username conf.Template `yaml:"username" json:"username" jsonschema:"required"`
	Password conf.Template `yaml:"password" json:"password" jsonschema:"required"`
}

var _ notify.Config = (*Config)(nil)

// Validate checks the settings and sets defaults.
func (c *Config) Validate() error {
	var errs []error
	if c.URL == "" && len(c.URLs) == 0 {
		errs = append(errs, conf.FieldErrorf("url", "required (or urls)"))
	}
	hasAuth := c.BasicAuth != nil || !c.Bearer.IsZero()
	if c.URL != "" {
		errs = append(errs, checkURL("url", c.URL, hasAuth))
	}
	for i, u := range c.URLs {
		errs = append(errs, checkURL(fmt.Sprintf("urls[%d]", i), u, hasAuth))
	}
	if c.BasicAuth != nil && !c.Bearer.IsZero() {
		errs = append(errs, conf.FieldErrorf("bearer", "give bearer or basic_auth, not both"))
	}
	if c.BasicAuth != nil {
		errs = append(errs, httpsend.CheckTemplate("basic_auth.username", c.BasicAuth.Username, true),
			httpsend.CheckTemplate("basic_auth.password", c.BasicAuth.Password, true))
	}
	if !c.Bearer.IsZero() {
		errs = append(errs, httpsend.CheckTemplate("bearer", c.Bearer, true))
	}
	errs = append(errs, c.checkTTL())
	return errors.Join(errs...)
}

// New makes the notifier.
func (c *Config) New(d notify.Deps) (notify.Notifier, error) {
	return newNotifier(*c, d), nil
}

// endpoints are every configured base URL, url first.
func (c *Config) endpoints() []string {
	var out []string
	if c.URL != "" {
		out = append(out, c.URL)
	}
	return append(out, c.URLs...)
}

func (c *Config) checkTTL() error {
	raw := c.AlertTTL.String()
	if raw == "0s" || raw == "" {
		return nil
	}
	d, err := conf.ParseDuration(raw)
	switch {
	case err != nil:
		return conf.FieldErrorf("alert_ttl", "bad duration %q: write e.g. 30m, 4h, 24h, 1d", raw)
	case d < time.Minute:
		return conf.FieldErrorf("alert_ttl", "must be at least 1m, got %s", raw)
	}
	return nil
}

// checkURL requires an absolute http(s) base URL without credentials;
// credentials may go over plain http only to loopback hosts.
func checkURL(path, raw string, hasAuth bool) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return conf.FieldErrorf(path, "must be an absolute http or https URL, got %q", raw)
	case u.User != nil:
		return conf.FieldErrorf(path, "must not carry credentials: use basic_auth")
	case u.RawQuery != "" || u.Fragment != "":
		return conf.FieldErrorf(path, "must not have a query or fragment")
	case strings.Contains(u.Path, "/api/"):
		return conf.FieldErrorf(path, "give the base URL (e.g. http://alertmanager:9093), not an API path")
	case hasAuth && u.Scheme == "http" && !httpsend.IsLoopback(u.Hostname()):
		return conf.FieldErrorf(path, "must use https when basic_auth or bearer is set (http is allowed only to localhost and loopback addresses): the credentials would travel in clear")
	}
	return nil
}
