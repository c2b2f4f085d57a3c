// Package config reads the daemon's configuration file
// (/etc/authwatch/authwatch.yaml): where state lives, where to listen,
// where the flows are, and defaults. It is decoded strictly, and every
// problem is reported with file:line:column, like flow files.
package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/heartbeat"
	"github.com/authwatch/authwatch/internal/incident"
	"github.com/authwatch/authwatch/internal/routing"
	"github.com/authwatch/authwatch/internal/statuspage"
	"github.com/authwatch/authwatch/internal/store"
)

// DefaultPath is where the systemd unit's ConfigurationDirectory puts it.
const DefaultPath = "/etc/authwatch/authwatch.yaml"

// Config is the daemon's configuration.
type Config struct {
	// StateDir holds the state database (history, streaks, rotated refresh tokens).
	StateDir string `yaml:"state_dir" jsonschema:"description=Directory of the state database (run history\\, incident streaks\\, rotated refresh tokens). Default /var/lib/authwatch."`
	// Listen is the address of /metrics, /healthz and /readyz. Loopback by default.
	Listen string `yaml:"listen" jsonschema:"description=host:port of the status page\\, API\\, /metrics\\, /healthz and /readyz. Default 127.0.0.1:9464; beyond loopback status_page.auth is required."`
	// FlowsDir is the directory of flow files.
	FlowsDir string `yaml:"flows_dir" jsonschema:"description=Directory of flow files (*.yaml\\, *.yml). Default /etc/authwatch/flows.d."`
	// Watch reloads when a file in FlowsDir changes (debounced), besides SIGHUP.
	Watch *bool `yaml:"watch" jsonschema:"description=Reload when a file in flows_dir changes (SIGHUP always reloads). Default true."`
	// MaxConcurrent bounds how many flow runs happen at once; 0 is a limit
	// that follows the load (scheduler.AutoMinConcurrent..AutoMaxConcurrent).
	MaxConcurrent int `yaml:"max_concurrent" jsonschema:"minimum=0,maximum=10000,description=How many flow runs happen at once: a hard limit; 0 (the default) is a limit that follows the load (the runs' latency times the schedule's rate\\, with headroom\\, 64..1024)."`
	// Browsers bounds how many headless browsers (browser: true login
	// steps) run at once; each needs 100-200 MiB.
	Browsers int `yaml:"browsers" jsonschema:"minimum=0,maximum=64,description=How many headless browsers (browser: true steps) run at once; each needs 100-200 MiB. Default 2."`
	// StoreCheck is how much of the state database is verified before the
	// daemon starts on it: quick (default), full or none.
	StoreCheck string `yaml:"store_check" jsonschema:"enum=quick,enum=full,enum=none,description=How much of the state database is verified before the daemon starts on it. Default quick."`
	// Store selects the state store (SQLite in StateDir unless postgres is set).
	Store StoreConfig `yaml:"store" jsonschema:"description=The state store: SQLite in state_dir by default\\, or store.postgres."`
	// Cluster makes the daemon one node of several on store.postgres.
	Cluster ClusterConfig `yaml:"cluster" jsonschema:"description=Several nodes on one store.postgres database (docs/cluster.md)."`
	// HTTP bounds the listener of the status page, API and metrics.
	HTTP HTTPConfig `yaml:"http" jsonschema:"description=Bounds of the listener: connections and timeouts."`
	// Metrics chooses the costlier series of /metrics.
	Metrics MetricsConfig `yaml:"metrics" jsonschema:"description=Optional series of /metrics."`
	// Heartbeat pings a dead man's switch while the daemon is healthy.
	Heartbeat *heartbeat.Config `yaml:"heartbeat" jsonschema:"description=A dead man's switch pinged while the daemon is healthy."`

	Defaults  DefaultsConfig  `yaml:"defaults" jsonschema:"description=Settings for flows that do not set them."`
	Retention RetentionConfig `yaml:"retention" jsonschema:"description=How long whole run records (failures\\, warnings\\, state changes\\, the newest passing runs) are kept."`
	History   HistoryConfig   `yaml:"history" jsonschema:"description=History tiers: how many passing runs are kept whole and how long the per-minute and per-hour roll-ups of all runs are kept."`

	// StatusPage configures the status page's authentication.
	StatusPage statuspage.Config `yaml:"status_page" jsonschema:"description=Authentication of the status page\\, API and metrics."`
	// StatusURL links pages to the status page (optional).
	StatusURL string `yaml:"status_url" jsonschema:"description=The status page's public URL\\, linked from pages (optional)."`
	// Notifiers are the configured receivers by name.
	Notifiers map[string]*NotifierSpec `yaml:"notifiers" jsonschema:"description=Receivers of pages by name: lower-case letters\\, digits\\, - and _."`
	// Routes send events to notifiers by labels.
	Routes []routing.Route `yaml:"routes" jsonschema:"description=Which notifiers receive which events\\, by labels; a default route takes what no other matched."`
	// Policy overrides the default alert policy.
	Policy incident.Override `yaml:"policy" jsonschema:"description=When an incident opens\\, resolves and reminds; overrides the defaults."`
	// Silences and MaintenanceWindows mute pages by label.
	Silences           []incident.Silence           `yaml:"silences" jsonschema:"description=Pages muted by label until a time."`
	MaintenanceWindows []incident.MaintenanceWindow `yaml:"maintenance_windows" jsonschema:"description=Pages muted by label on a cron schedule\\, for a duration."`
}

// HTTPConfig bounds the listener: slow or idle clients cannot hold
// connections (and file descriptors) for ever.
type HTTPConfig struct {
	// MaxConnections caps open connections; more wait to be accepted.
	MaxConnections int `yaml:"max_connections" jsonschema:"minimum=1,maximum=100000,description=Open connections at most; more wait to be accepted. Default 256."`
	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout are
	// net/http.Server's.
	ReadHeaderTimeout conf.Duration `yaml:"read_header_timeout" jsonschema:"description=net/http.Server's ReadHeaderTimeout (at most 1h). Default 10s."`
	ReadTimeout       conf.Duration `yaml:"read_timeout" jsonschema:"description=net/http.Server's ReadTimeout (at most 1h). Default 30s."`
	WriteTimeout      conf.Duration `yaml:"write_timeout" jsonschema:"description=net/http.Server's WriteTimeout (at most 1h). Default 60s."`
	IdleTimeout       conf.Duration `yaml:"idle_timeout" jsonschema:"description=net/http.Server's IdleTimeout (at most 1h). Default 2m."`
	// PProf serves net/http/pprof under /debug/pprof/, behind
	// status_page.auth, which it requires: a profile costs CPU and shows
	// the daemon's internals.
	PProf bool `yaml:"pprof" jsonschema:"description=Serve Go profiles under /debug/pprof/ (needs status_page.auth\\, which protects them). Default false."`
}

// MetricsConfig chooses optional series.
type MetricsConfig struct {
	// StepHistograms exports step durations by flow and step: ~1.3 KB of
	// every scrape per step.
	StepHistograms bool `yaml:"step_histograms" jsonschema:"description=Export authwatch_step_duration_seconds by flow\\, step and kind: about 1.3 KB of every scrape per step. Default false: step durations by kind and each flow's last run duration only."`
}

// DefaultsConfig applies to flows that do not set the field themselves.
type DefaultsConfig struct {
	Timeout          conf.Duration `yaml:"timeout" jsonschema:"description=A flow's deadline when it sets none."`
	ClockSkew        conf.Duration `yaml:"clock_skew" jsonschema:"description=Clock difference tolerated in token times when a flow sets none."`
	TLSExpiryWarning conf.Duration `yaml:"tls_expiry_warning" jsonschema:"description=How far ahead an expiring certificate is warned about (tls_certificate_expiring)."`
}

// RetentionConfig bounds the run history.
type RetentionConfig struct {
	MaxAge         conf.Duration `yaml:"max_age" jsonschema:"description=Runs older than this are deleted. Default 720h (30 days)."`
	MaxRunsPerFlow int           `yaml:"max_runs_per_flow" jsonschema:"minimum=0,description=Runs kept per flow at most. Default 10000."`
	// MaxSize bounds the used bytes of a SQLite store, the live bytes of
	// a PostgreSQL one (postgres.Store.LiveBytes; docs/cluster.md).
	MaxSize ByteSize `yaml:"max_size" jsonschema:"description=Bound on the state database's size: on SQLite its pages in use (the WAL is left out); on PostgreSQL the live bytes of authwatch's tables (rows and index entries\\, estimated from a sample of pages; the tables' size on disk stays at its high-water mark\\, the space of deleted rows reused). Over it\\, the hourly prune deletes the per-minute roll-ups older than an hour\\, then the oldest whole records of all flows (never a flow's last run)\\, down to 90 % of it\\, and logs a warning. As Prometheus's --storage.tsdb.retention.size. E.g. 512MiB\\, 2GiB\\, 1GB; 0 for no bound. Default 1.7GiB."`
}

// HistoryConfig sets the history tiers (docs/history.md): a failure, a
// warning, a cancelled run and the first run of each pass/fail state are
// kept whole under retention; other passing runs only while they are
// among the flow's newest PassingRunsKept; every run is counted in
// per-minute and per-hour roll-ups.
type HistoryConfig struct {
	PassingRunsKept       int           `yaml:"passing_runs_kept" jsonschema:"minimum=0,maximum=1000,description=Passing runs kept whole per flow (the newest; the writer holds their ids in memory\\, hence at most 1000); older ones live on in the roll-ups only. 0 keeps every run whole. Default 50."`
	MinuteRollups         conf.Duration `yaml:"minute_rollups" jsonschema:"description=How long the per-flow roll-ups per minute are kept (at least 1h). Default 24h: at 10\\,000 flows a day of them is about 0.7 GB."`
	FailuresKeptPerStreak int           `yaml:"failures_kept_per_streak" jsonschema:"minimum=0,maximum=1000,description=In a failing streak whose reason and failed step do not change\\, the first this many failures are kept whole; later ones only while among the flow's newest this many such repeats (all are counted in the roll-ups and the flow's state; the timeline keeps every change). 0 keeps every failure whole. Default 10."`
	HourRollups           conf.Duration `yaml:"hour_rollups" jsonschema:"description=How long the per-flow roll-ups per hour are kept (at least 24h). Default 720h (30 days)."`
}

func (h HistoryConfig) validate() error {
	var errs []error
	if h.PassingRunsKept < 0 || h.PassingRunsKept > 1000 {
		errs = append(errs, conf.FieldErrorf("passing_runs_kept", "must be 0..1000, got %d", h.PassingRunsKept))
	}
	if h.FailuresKeptPerStreak < 0 || h.FailuresKeptPerStreak > 1000 {
		errs = append(errs, conf.FieldErrorf("failures_kept_per_streak", "must be 0..1000, got %d", h.FailuresKeptPerStreak))
	}
	if d := h.MinuteRollups.Std(); d < time.Hour {
		errs = append(errs, conf.FieldErrorf("minute_rollups", "must be at least 1h, got %s", d))
	}
	if d := h.HourRollups.Std(); d < 24*time.Hour {
		errs = append(errs, conf.FieldErrorf("hour_rollups", "must be at least 24h (the status page's 24 h figures), got %s", d))
	}
	return errors.Join(errs...)
}

// DefaultMaxSize is retention.max_size's default, 1.7 GiB: the file runs
// about 5 % over the bound between hourly prunes, so this keeps it under
// 2·10⁹ B, the target for 10,000 flows at one run per 10 s for 30 days
// (whose tiers alone take about 1.35 GB when nothing fails).
const DefaultMaxSize = 17 << 30 / 10

// minMaxSize is the least retention.max_size: below it a prune by size
// would empty the history of a handful of flows.
const minMaxSize = 1 << 20

// Default returns the configuration used when there is no file.
func Default() *Config {
	return &Config{
		StateDir:      "/var/lib/authwatch",
		Listen:        "127.0.0.1:9464",
		FlowsDir:      "/etc/authwatch/flows.d",
		MaxConcurrent: 0, // adaptive
		Browsers:      2,
		StoreCheck:    "quick",
		HTTP: HTTPConfig{MaxConnections: 256, ReadHeaderTimeout: conf.Dur(10 * time.Second), ReadTimeout: conf.Dur(30 * time.Second),
			WriteTimeout: conf.Dur(60 * time.Second), IdleTimeout: conf.Dur(2 * time.Minute)},
		Retention: RetentionConfig{MaxAge: conf.Dur(30 * 24 * time.Hour), MaxRunsPerFlow: 10000, MaxSize: Bytes(DefaultMaxSize)},
		History:   HistoryConfig{PassingRunsKept: 50, FailuresKeptPerStreak: 10, MinuteRollups: conf.Dur(24 * time.Hour), HourRollups: conf.Dur(30 * 24 * time.Hour)},
	}
}

// Load reads path over the defaults. A missing file at the default path is
// not an error (flags may supply everything); a missing explicit file is.
// An empty or comment-only file is the defaults too. Every problem comes
// back at once as conf.Problems, each at file:line:column, unknown keys with
// the closest valid name.
func Load(path string, explicit bool) (*Config, error) {
	c := Default()
	data, err := readFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist) && !explicit:
		return c, nil
	case err != nil:
		return nil, err
	case isEmpty(data):
		return c, nil
	}
	if err := conf.DecodeFile(path, data, &document{config: c}); err != nil {
		return nil, pointAtUnknownKeys(data, err)
	}
	return c, nil
}

// MaxFileSize bounds the configuration file, as flows.MaxFlowFileSize
// bounds a flow file.
const MaxFileSize = flows.MaxFlowFileSize

// readFile reads a regular file of at most MaxFileSize bytes, opened without
// blocking: --config /dev/zero or a named pipe is an error, not a hang.
func readFile(path string) ([]byte, error) {
	if info, err := os.Stat(path); err != nil {
		return nil, err
	} else if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: the configuration must be a regular file", path)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err == nil && len(data) > MaxFileSize {
		err = fmt.Errorf("%s: the configuration is larger than %d MiB", path, MaxFileSize>>20)
	}
	return data, err
}

// document decodes a configuration itself, so that every unknown key and
// every invalid value is reported (the strict decoder DecodeFile uses
// stops at the first unknown key, without a suggestion).
type document struct {
	config    *Config
	decodeErr error
}

// UnmarshalYAML implements yaml.NodeUnmarshaler: unknown keys (with the
// closest valid name) and type errors, as FieldErrors relative to the file.
func (d *document) UnmarshalYAML(node ast.Node) error {
	d.decodeErr = conf.DecodeNode(node, d.config)
	return nil
}

// Validate reports the decoding problems with those of the values decoded.
func (d *document) Validate() error { return errors.Join(d.decodeErr, d.config.Validate()) }

// isEmpty reports whether data holds no YAML document: blank lines,
// comments and document markers only. It reads lines, not YAML, so that a
// hostile file reaches DecodeFile's limits before any parser.
func isEmpty(data []byte) bool {
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if line != "" && line != "---" && line != "..." && !strings.HasPrefix(line, "#") {
			return false
		}
	}
	return true
}

// CheckListen checks a listen address is host:port; a bare port, the usual
// mistake, gets its loopback form as the example.
func CheckListen(addr string) error {
	if err := checkListen(addr); err != nil {
		return fmt.Errorf("listen %w", err)
	}
	return nil
}

func checkListen(addr string) error {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return nil
	}
	example := "127.0.0.1:9464"
	if port, err := strconv.ParseUint(addr, 10, 16); err == nil {
		example = "127.0.0.1:" + strconv.FormatUint(port, 10)
	}
	return fmt.Errorf("must be host:port, e.g. %s, got %q", example, addr)
}

// Validate implements the check DecodeFile runs after decoding.
func (c *Config) Validate() error {
	var errs []error
	if c.Listen != "" {
		if err := checkListen(c.Listen); err != nil {
			errs = append(errs, conf.FieldError{Path: "listen", Err: err})
		}
	}
	if c.Browsers < 0 || c.Browsers > 64 {
		errs = append(errs, conf.FieldErrorf("browsers", "must be 1..64 (0: the default, 2), got %d", c.Browsers))
	}
	if c.MaxConcurrent < 0 || c.MaxConcurrent > 10000 {
		errs = append(errs, conf.FieldErrorf("max_concurrent", "must be 1..10000, or 0 for a limit that follows the load, got %d", c.MaxConcurrent))
	}
	switch c.StoreCheck {
	case "quick", "full", "none":
	default:
		errs = append(errs, conf.FieldErrorf("store_check", "must be quick, full or none, got %q", c.StoreCheck))
	}
	errs = append(errs, conf.PrefixErrors("store", c.Store.validate()))
	errs = append(errs, conf.PrefixErrors("cluster", c.Cluster.validate(c.UsesPostgres())))
	errs = append(errs, conf.PrefixErrors("http", c.HTTP.validate()))
	if c.HTTP.PProf && c.StatusPage.Auth == nil {
		errs = append(errs, conf.FieldErrorf("http.pprof", "needs status_page.auth: profiles cost CPU and show the daemon's internals"))
	}
	if c.Heartbeat != nil {
		errs = append(errs, conf.PrefixErrors("heartbeat", c.Heartbeat.Validate()))
	}
	if c.Retention.MaxRunsPerFlow < 0 {
		errs = append(errs, conf.FieldErrorf("retention.max_runs_per_flow", "must not be negative"))
	}
	if n := c.Retention.MaxSize.Int64(); c.Retention.MaxSize.LoadErr() == nil && n != 0 && n < minMaxSize {
		errs = append(errs, conf.FieldErrorf("retention.max_size", "must be 0 (no bound) or at least 1MiB, got %s", c.Retention.MaxSize))
	}
	errs = append(errs, conf.PrefixErrors("history", c.History.validate()))
	errs = append(errs, conf.PrefixErrors("status_page", c.StatusPage.Validate()))
	errs = append(errs, c.validateNotifiers())
	if len(errs) == 0 || errors.Join(errs...) == nil {
		errs = append(errs, c.validateAlerting())
	}
	return errors.Join(errs...)
}

func (h HTTPConfig) validate() error {
	var errs []error
	if h.MaxConnections < 1 || h.MaxConnections > 100000 {
		errs = append(errs, conf.FieldErrorf("max_connections", "must be 1..100000, got %d", h.MaxConnections))
	}
	for _, d := range []struct {
		name string
		v    conf.Duration
	}{{"read_header_timeout", h.ReadHeaderTimeout}, {"read_timeout", h.ReadTimeout}, {"write_timeout", h.WriteTimeout}, {"idle_timeout", h.IdleTimeout}} {
		if d.v.Std() <= 0 || d.v.Std() > time.Hour {
			errs = append(errs, conf.FieldErrorf(d.name, "must be more than 0 and at most 1h, got %s", d.v.Std()))
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

// RetentionPolicy returns the store's retention: the whole records' and
// the history tiers'.
func (c *Config) RetentionPolicy() store.Retention {
	return store.Retention{MaxAge: c.Retention.MaxAge.Std(), MaxRunsPerFlow: c.Retention.MaxRunsPerFlow,
		PassingRunsKept: c.History.PassingRunsKept, MinuteRollups: c.History.MinuteRollups.Std(),
		HourRollups: c.History.HourRollups.Std(), MaxBytes: c.Retention.MaxSize.Int64(),
		FailuresKeptPerStreak: c.History.FailuresKeptPerStreak}
}

// String names the main settings for the start-up log line.
func (c *Config) String() string {
	return fmt.Sprintf("state_dir=%s listen=%s flows_dir=%s max_concurrent=%d", c.StateDir, c.Listen, c.FlowsDir, c.MaxConcurrent)
}
