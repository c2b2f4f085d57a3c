// Package config reads the daemon's configuration file
// (/etc/authwatch/authwatch.yaml): where state lives, where to listen,
// where the flows are, and defaults. It is decoded strictly, and every
// problem is reported with file:line:column, like flow files.
package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/heartbeat"
	"github.com/authwatch/authwatch/internal/incident"
	"github.com/authwatch/authwatch/internal/routing"
	"github.com/authwatch/authwatch/internal/statuspage"
)

// DefaultPath is where the systemd unit's ConfigurationDirectory puts it.
const DefaultPath = "/etc/authwatch/authwatch.yaml"

// Config is the daemon's configuration.
type Config struct {
	// StateDir holds the state database (history, streaks, rotated refresh tokens).
	StateDir string `yaml:"state_dir"`
	// Listen is the address of /metrics, /healthz and /readyz. Loopback by default.
	Listen string `yaml:"listen"`
	// FlowsDir is the directory of flow files.
	FlowsDir string `yaml:"flows_dir"`
	// Watch reloads when a file in FlowsDir changes (debounced), besides SIGHUP.
	Watch *bool `yaml:"watch"`
	// MaxConcurrent bounds how many flow runs happen at once.
	MaxConcurrent int `yaml:"max_concurrent"`
	// Browsers bounds how many headless browsers (browser: true login
	// steps) run at once; each needs 100-200 MiB.
	Browsers int `yaml:"browsers"`
	// StoreCheck is how much of the state database is verified before the
	// daemon starts on it: quick (default), full or none.
	StoreCheck string `yaml:"store_check"`
	// HTTP bounds the listener of the status page, API and metrics.
	HTTP HTTPConfig `yaml:"http"`
	// Heartbeat pings a dead man's switch while the daemon is healthy.
	Heartbeat *heartbeat.Config `yaml:"heartbeat"`

	Defaults  DefaultsConfig  `yaml:"defaults"`
	Retention RetentionConfig `yaml:"retention"`

	// StatusPage configures the status page's authentication.
	StatusPage statuspage.Config `yaml:"status_page"`
	// StatusURL links pages to the status page (optional).
	StatusURL string `yaml:"status_url"`
	// Notifiers are the configured receivers by name.
	Notifiers map[string]*NotifierSpec `yaml:"notifiers"`
	// Routes send events to notifiers by labels.
	Routes []routing.Route `yaml:"routes"`
	// Policy overrides the default alert policy.
	Policy incident.Override `yaml:"policy"`
	// Silences and MaintenanceWindows mute pages by label.
	Silences           []incident.Silence           `yaml:"silences"`
	MaintenanceWindows []incident.MaintenanceWindow `yaml:"maintenance_windows"`
}

// HTTPConfig bounds the listener: slow or idle clients cannot hold
// connections (and file descriptors) for ever.
type HTTPConfig struct {
	// MaxConnections caps open connections; more wait to be accepted.
	MaxConnections int `yaml:"max_connections"`
	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout are
	// net/http.Server's.
	ReadHeaderTimeout flows.Duration `yaml:"read_header_timeout"`
	ReadTimeout       flows.Duration `yaml:"read_timeout"`
	WriteTimeout      flows.Duration `yaml:"write_timeout"`
	IdleTimeout       flows.Duration `yaml:"idle_timeout"`
}

// DefaultsConfig applies to flows that do not set the field themselves.
type DefaultsConfig struct {
	Timeout          flows.Duration `yaml:"timeout"`
	ClockSkew        flows.Duration `yaml:"clock_skew"`
	TLSExpiryWarning flows.Duration `yaml:"tls_expiry_warning"`
}

// RetentionConfig bounds the run history.
type RetentionConfig struct {
	MaxAge         flows.Duration `yaml:"max_age"`
	MaxRunsPerFlow int            `yaml:"max_runs_per_flow"`
}

// Default returns the configuration used when there is no file.
func Default() *Config {
	return &Config{
		StateDir:      "/var/lib/authwatch",
		Listen:        "127.0.0.1:9464",
		FlowsDir:      "/etc/authwatch/flows.d",
		MaxConcurrent: 64,
		Browsers:      2,
		StoreCheck:    "quick",
		HTTP: HTTPConfig{MaxConnections: 256, ReadHeaderTimeout: flows.Dur(10 * time.Second), ReadTimeout: flows.Dur(30 * time.Second),
			WriteTimeout: flows.Dur(60 * time.Second), IdleTimeout: flows.Dur(2 * time.Minute)},
		Retention: RetentionConfig{MaxAge: flows.Dur(30 * 24 * time.Hour), MaxRunsPerFlow: 10000},
	}
}

// Load reads path over the defaults. A missing file at the default path is
// not an error (flags may supply everything); a missing explicit file is.
func Load(path string, explicit bool) (*Config, error) {
	c := Default()
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist) && !explicit:
		return c, nil
	case err != nil:
		return nil, err
	}
	if err := flows.DecodeFile(path, data, c); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate implements the check DecodeFile runs after decoding.
func (c *Config) Validate() error {
	var errs []error
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			errs = append(errs, flows.FieldErrorf("listen", "must be host:port (e.g. 127.0.0.1:9464), got %q", c.Listen))
		}
	}
	if c.Browsers < 0 || c.Browsers > 64 {
		errs = append(errs, flows.FieldErrorf("browsers", "must be 1..64 (0: the default, 2), got %d", c.Browsers))
	}
	if c.MaxConcurrent < 1 || c.MaxConcurrent > 10000 {
		errs = append(errs, flows.FieldErrorf("max_concurrent", "must be 1..10000, got %d", c.MaxConcurrent))
	}
	switch c.StoreCheck {
	case "quick", "full", "none":
	default:
		errs = append(errs, flows.FieldErrorf("store_check", "must be quick, full or none, got %q", c.StoreCheck))
	}
	errs = append(errs, flows.PrefixErrors("http", c.HTTP.validate()))
	if c.Heartbeat != nil {
		errs = append(errs, flows.PrefixErrors("heartbeat", c.Heartbeat.Validate()))
	}
	if c.Retention.MaxRunsPerFlow < 0 {
		errs = append(errs, flows.FieldErrorf("retention.max_runs_per_flow", "must not be negative"))
	}
	errs = append(errs, flows.PrefixErrors("status_page", c.StatusPage.Validate()))
	errs = append(errs, c.validateNotifiers())
	if len(errs) == 0 || errors.Join(errs...) == nil {
		errs = append(errs, c.validateAlerting())
	}
	return errors.Join(errs...)
}

func (h HTTPConfig) validate() error {
	var errs []error
	if h.MaxConnections < 1 || h.MaxConnections > 100000 {
		errs = append(errs, flows.FieldErrorf("max_connections", "must be 1..100000, got %d", h.MaxConnections))
	}
	for _, d := range []struct {
		name string
		v    flows.Duration
	}{{"read_header_timeout", h.ReadHeaderTimeout}, {"read_timeout", h.ReadTimeout}, {"write_timeout", h.WriteTimeout}, {"idle_timeout", h.IdleTimeout}} {
		if d.v.Std() <= 0 || d.v.Std() > time.Hour {
			errs = append(errs, flows.FieldErrorf(d.name, "must be more than 0 and at most 1h, got %s", d.v.Std()))
		}
	}
	return errors.Join(errs...)
}

// WatchEnabled reports whether to watch the flows directory (default on).
func (c *Config) WatchEnabled() bool { return c.Watch == nil || *c.Watch }

// FlowDefaults are the defaults for the flow loader.
func (c *Config) FlowDefaults() flows.Defaults {
	return flows.Defaults{Timeout: c.Defaults.Timeout.Std(), ClockSkew: c.Defaults.ClockSkew.Std()}
}

// RetentionPolicy returns the store's retention.
func (c *Config) RetentionPolicy() (maxAge time.Duration, maxRuns int) {
	return c.Retention.MaxAge.Std(), c.Retention.MaxRunsPerFlow
}

// String names the main settings for the start-up log line.
func (c *Config) String() string {
	return fmt.Sprintf("state_dir=%s listen=%s flows_dir=%s max_concurrent=%d", c.StateDir, c.Listen, c.FlowsDir, c.MaxConcurrent)
}
