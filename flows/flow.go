package flows

import (
	"context"
	"time"

	"github.com/authwatch/authwatch/internal/conf"
)

// Flow is one monitored scenario: ordered steps that share values, run on a
// schedule. Flows are loaded from YAML files (see Load) and are immutable
// once loaded: a run keeps its values in a State, never in the Flow.
type Flow struct {
	Name    string            `yaml:"name" json:"name" jsonschema:"required,description=Unique name across all flow files."`
	Every   conf.Duration     `yaml:"every,omitempty" json:"every,omitempty" jsonschema:"description=Run interval (e.g. 1m). At most one of every and cron; a flow with neither is run only by authwatch check (the daemon does not schedule it)."`
	Cron    string            `yaml:"cron,omitempty" json:"cron,omitempty" jsonschema:"description=Five-field cron schedule (e.g. */5 * * * *). At most one of every and cron."`
	Timeout conf.Duration     `yaml:"timeout,omitempty" json:"timeout,omitempty" jsonschema:"description=Deadline for the whole run (default 30s)."`
	Labels  map[string]string `yaml:"labels,omitempty" json:"labels,omitempty" jsonschema:"description=Free key/values for routing and grouping (team\\, severity\\, env)."`
	// ClockSkew is the allowance used when comparing clocks and token times (default 60s).
	ClockSkew conf.Duration `yaml:"clock_skew,omitempty" json:"clock_skew,omitempty" jsonschema:"description=Allowed clock difference for exp/nbf/iat and Date checks (default 60s)."`
	// TLSExpiryWarning is the horizon of tls_certificate_expiring for the
	// flow's steps (a step's own wins; default the daemon's).
	TLSExpiryWarning conf.Duration `yaml:"tls_expiry_warning,omitempty" json:"tls_expiry_warning,omitempty" jsonschema:"description=How far ahead an expiring server certificate is warned about (tls_certificate_expiring) for this flow's steps\\, e.g. 30d; a step's tls_expiry_warning wins (default: the daemon's defaults.tls_expiry_warning\\, 14d)."`
	// UserAgent replaces authwatch's User-Agent on the flow's requests
	// (a step's own user_agent wins).
	UserAgent string `yaml:"user_agent,omitempty" json:"user_agent,omitempty" jsonschema:"maxLength=512,description=User-Agent of the flow's requests instead of authwatch/VERSION (+URL)\\, e.g. for a WAF's allow-list; a step's user_agent wins. Browser steps send Chromium's own unless this is set."`
	// Alert overrides the daemon's alert policy for this flow.
	Alert *AlertPolicy `yaml:"alert,omitempty" json:"alert,omitempty" jsonschema:"description=Per-flow overrides of the alert policy in authwatch.yaml."`
	// Locations are the probe locations the flow runs from in a cluster
	// (docs/cluster.md); none: every location with a live node.
	Locations []string `yaml:"locations,omitempty" json:"locations,omitempty" jsonschema:"description=Probe locations the flow runs from when the daemons are clustered (cluster.location of the nodes\\, e.g. [eu-west\\, us-east]). Default: every location that has a live node. A single daemon ignores it."`
	// LocationsPolicy says when failures from several locations page.
	LocationsPolicy string `yaml:"locations_policy,omitempty" json:"locations_policy,omitempty" jsonschema:"enum=all,enum=any,description=all (default): a failure incident opens only while the flow fails from every location that runs it; failing from some and passing from others is the warning location_disagreement. any: a failure from any location counts."`
	// Baseline is how the flow's normal behaviour is learned and compared
	// (nil: on, with its defaults).
	Baseline *BaselineOptions `yaml:"baseline,omitempty" json:"baseline,omitempty"`
	Steps    []*StepSpec      `yaml:"-" json:"steps" jsonschema:"required"`

	// Source is where the flow was defined, for messages.
	Source conf.Position `yaml:"-" json:"-"`
	// Digest identifies the flow's definition: a reload keeps the schedule
	// and state of a flow whose digest did not change.
	Digest string `yaml:"-" json:"-"`
}

// DefaultTimeout bounds a run when the flow sets no timeout.
const DefaultTimeout = 30 * time.Second

// DefaultClockSkew is the allowance for clock differences.
const DefaultClockSkew = 60 * time.Second

// Scheduled reports whether the flow has a schedule: one without is run
// only on demand (authwatch check), never by the daemon.
func (f *Flow) Scheduled() bool { return f.Cron != "" || !f.Every.IsZero() }

// RunTimeout is the flow's deadline.
func (f *Flow) RunTimeout() time.Duration { return f.Timeout.Or(DefaultTimeout) }

// Skew is the flow's clock allowance.
func (f *Flow) Skew() time.Duration { return f.ClockSkew.Or(DefaultClockSkew) }

// StepSpec is one step as loaded: its common fields and its kind's step.
type StepSpec struct {
	ID        string
	Kind      string
	Timeout   time.Duration // 0: bounded by the flow's deadline only
	UserAgent string        // "": the flow's, else authwatch's own
	// TLSExpiryWarning is the step's horizon of tls_certificate_expiring
	// (0: the flow's, else the runner's).
	TLSExpiryWarning time.Duration
	Step             Step
	Source           conf.Position
}

// Step is one kind of step. Implementations live one per file, registered in
// the kinds table; a new kind is one new file.
//
// Lifecycle: the loader creates the step with its kind's New function,
// decodes the YAML into it strictly, then calls Validate once. Run is called
// once per run, possibly concurrently for different runs: it must not modify
// the step; per-run values belong in the State.
type Step interface {
	// Validate checks the decoded step and prepares it (parses URLs,
	// compiles patterns). Errors should be FieldErrors so that the loader
	// can point at the offending line.
	Validate() error
	// Run performs the step. It returns nil on success, a *Failure when the
	// target misbehaved, or another error when authwatch itself broke.
	Run(ctx context.Context, st *State) error
}

// OutputLister is implemented by steps whose outputs other steps may
// reference as ${steps.ID.NAME}; the loader checks references against it.
type OutputLister interface {
	Outputs() []string
}

// AlertPolicy overrides the daemon's alert policy for one flow; unset
// fields keep the global value. It is data only: the incident policy that
// reads it lives with the daemon.
type AlertPolicy struct {
	OpenAfter    *int          `yaml:"open_after,omitempty" json:"open_after,omitempty" jsonschema:"description=Consecutive failures that open an incident."`
	ResolveAfter *int          `yaml:"resolve_after,omitempty" json:"resolve_after,omitempty" jsonschema:"description=Consecutive passes that resolve it."`
	RemindEvery  conf.Duration `yaml:"remind_every,omitempty" json:"remind_every,omitempty" jsonschema:"description=Remind while open (e.g. 4h)."`
	Warnings     *bool         `yaml:"warnings,omitempty" json:"warnings,omitempty" jsonschema:"description=Open warning incidents for passing runs with warnings."`
}
