package flows

import "time"

// Result is the outcome of one run of one flow.
type Result struct {
	Flow     string            `json:"flow"`
	Labels   map[string]string `json:"labels,omitempty"`
	Start    time.Time         `json:"start"`
	Duration time.Duration     `json:"-"`
	OK       bool              `json:"ok"`
	// Cancelled runs were cut short by authwatch itself (shutdown, Ctrl-C):
	// their outcome says nothing about the target and must not page.
	Cancelled bool         `json:"cancelled,omitempty"`
	Steps     []StepResult `json:"steps"`
}

// Failure returns the failure of the first failed step, or nil.
func (r *Result) Failure() *Failure {
	for i := range r.Steps {
		if r.Steps[i].Failure != nil {
			return r.Steps[i].Failure
		}
	}
	return nil
}

// Status is the flow's outcome: fail when a step failed, warn when every
// step passed and one warned, pass otherwise; skip when authwatch cut a
// failing run short itself (Cancelled): that failure says nothing about the
// target.
func (r *Result) Status() StepStatus {
	switch {
	case r.Cancelled && !r.OK:
		return StepSkipped
	case !r.OK:
		return StepFailed
	}
	for i := range r.Steps {
		if r.Steps[i].Status == StepWarned {
			return StepWarned
		}
	}
	return StepPassed
}

// Warning returns the primary warning of a run that passed with warnings:
// the first warning finding of the first warned step; nil otherwise.
func (r *Result) Warning() *Finding {
	if !r.OK {
		return nil
	}
	for i := range r.Steps {
		if w := r.Steps[i].Warning(); w != nil {
			return w
		}
	}
	return nil
}

// Warning returns the first warning finding of a warned step, or nil.
func (s *StepResult) Warning() *Finding {
	if s.Status != StepWarned {
		return nil
	}
	for i := range s.Findings {
		if s.Findings[i].Reason.Info().Warning {
			return &s.Findings[i]
		}
	}
	return nil
}

// Findings returns every secondary finding of the run.
func (r *Result) Findings() []Finding {
	var out []Finding
	for _, s := range r.Steps {
		out = append(out, s.Findings...)
	}
	return out
}

// StepStatus is a step's outcome.
type StepStatus string

// Step outcomes. A warned step passed with a warning finding.
const (
	StepPassed  StepStatus = "pass"
	StepWarned  StepStatus = "warn"
	StepFailed  StepStatus = "fail"
	StepSkipped StepStatus = "skip"
)

// StepResult is the outcome of one step.
type StepResult struct {
	ID         string             `json:"step"`
	Kind       string             `json:"kind"`
	Status     StepStatus         `json:"status"`
	HTTPStatus int                `json:"http_status,omitempty"`
	Duration   time.Duration      `json:"-"`
	Failure    *Failure           `json:"-"`
	Findings   []Finding          `json:"findings,omitempty"`
	Notes      []string           `json:"notes,omitempty"`
	Exchanges  []ExchangeEvidence `json:"-"`
	// Measurements are numbers worth graphing (token lifetime, certificate
	// expiry, clock offset, JWKS size), for metrics.
	Measurements []Measurement `json:"measurements,omitempty"`
	// TokenFromCache: the step's token came from the shared token cache
	// (cache: shared), so it sent no token request.
	TokenFromCache bool `json:"-"`
	// Shape is what the passing step showed of the target's behaviour, for
	// the flow's baseline (nil: failed, or the flow has no baseline).
	Shape *Shape `json:"-"`
}

// Measurement names. Host is set for per-host measurements.
const (
	MeasureTokenLifetime = "token_lifetime_seconds"  // remaining lifetime of the access token when received
	MeasureTLSExpiry     = "tls_cert_expiry_seconds" // seconds until the server certificate expires
	MeasureClockOffset   = "clock_offset_seconds"    // server Date minus this host's clock
	MeasureJWKSKeys      = "jwks_keys"               // signing keys the JWKS serves
)

// Measurement is one number a step observed.
type Measurement struct {
	Name  string  `json:"name"`
	Host  string  `json:"host,omitempty"`
	Value float64 `json:"value"`
}

// IsLatency reports whether the step's duration is a latency figure (for
// metrics and trends): a wait step's is time the flow chose to pass, and a
// token step served from the shared cache asked no token endpoint.
func (s *StepResult) IsLatency() bool { return s.Kind != KindWait && !s.TokenFromCache }

// Waited is the time the run spent in wait steps: part of Duration, but
// of no latency figure.
func (r *Result) Waited() time.Duration {
	var d time.Duration
	for i := range r.Steps {
		if r.Steps[i].Kind == KindWait {
			d += r.Steps[i].Duration
		}
	}
	return d
}

// OK reports whether the step passed (with or without warnings).
func (s *StepResult) OK() bool { return s.Status == StepPassed || s.Status == StepWarned }
