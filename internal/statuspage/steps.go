package statuspage

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/exchange"
	"github.com/authwatch/authwatch/internal/report"
	"github.com/authwatch/authwatch/internal/store"
)

// StepJSON is one step of a run as the API serves it: the step line of
// `authwatch check --json` (report.StepJSON), plus the step's measurements
// when the recorded run carries them. Fields unknown to this version are
// dropped on decoding (an allow-list), and exchanges' request bodies are
// never served (see stripRequestBodies).
type StepJSON struct {
	report.StepJSON
	Measurements []flows.Measurement `json:"measurements,omitempty"`
}

// RunJSON is one recorded run.
type RunJSON struct {
	ID   int64  `json:"id"`
	Flow string `json:"flow"`
	// Location is the probe location the run was made from (clustered
	// daemons; left out for a single daemon).
	Location   string    `json:"location,omitempty"`
	Start      time.Time `json:"start"`
	DurationMS float64   `json:"duration_ms"`
	// WaitedMS is the part of DurationMS spent in wait steps (left out when 0).
	WaitedMS   float64    `json:"waited_ms,omitempty"`
	OK         bool       `json:"ok"`
	Cancelled  bool       `json:"cancelled,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	Layer      string     `json:"layer,omitempty"`
	Summary    string     `json:"summary,omitempty"`
	NextStep   string     `json:"next_step,omitempty"`
	FailedStep string     `json:"failed_step,omitempty"`
	Warnings   int        `json:"warnings"`
	Steps      []StepJSON `json:"steps"`
	// StepsError says why the recorded steps could not be read (never
	// expected: the daemon writes them), so the run still shows.
	StepsError string `json:"steps_error,omitempty"`
}

// decodeSteps reads a run's recorded steps: the step objects, in order,
// and the closing flow object if present.
func decodeSteps(raw json.RawMessage) ([]StepJSON, *report.FlowJSON, error) {
	if len(raw) == 0 {
		return nil, nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, nil, fmt.Errorf("recorded steps are not a JSON array: %w", err)
	}
	var steps []StepJSON
	var flow *report.FlowJSON
	for _, it := range items {
		var head struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(it, &head); err != nil {
			return nil, nil, fmt.Errorf("recorded step: %w", err)
		}
		switch head.Type {
		case "step":
			var s StepJSON
			if err := json.Unmarshal(it, &s); err != nil {
				return nil, nil, fmt.Errorf("recorded step: %w", err)
			}
			stripRequestBodies(&s)
			steps = append(steps, s)
		case "flow":
			var f report.FlowJSON
			if err := json.Unmarshal(it, &f); err != nil {
				return nil, nil, fmt.Errorf("recorded flow outcome: %w", err)
			}
			flow = &f
		}
	}
	return steps, flow, nil
}

// stripRequestBodies drops what the monitor sent in request bodies (token
// requests carry grants and client credentials; they are redacted, but the
// page has no need to show them at all).
func stripRequestBodies(s *StepJSON) {
	if s.Evidence == nil {
		return
	}
	for i := range s.Evidence.Exchanges {
		s.Evidence.Exchanges[i].RequestBody = ""
	}
}

// Bounds of what is served of a recorded run. The flows package bounds
// what it records (flows.MaxRunEvidence); these hold for runs recorded
// before it did (an 8 MiB header kept whole).
const (
	maxServedSteps = 64 << 10 // a run's recorded steps, as stored
	maxServedText  = 1 << 10  // a summary, as JSON
)

// servedText bounds a recorded text, keeping its end.
func servedText(s string) string { return exchange.TruncateMiddle(s, maxServedText) }

// runJSON converts a recorded run for the API and the pages.
func runJSON(r store.Run) RunJSON {
	out := RunJSON{ID: r.ID, Flow: r.Flow, Location: r.Location, Start: r.Start, DurationMS: r.DurationMS, WaitedMS: r.WaitedMS, OK: r.OK, Cancelled: r.Cancelled,
		Reason: r.Reason, Layer: r.Layer, Summary: servedText(r.Summary), FailedStep: r.FailedStep, Warnings: r.Warnings, Steps: []StepJSON{}}
	if len(r.Steps) > maxServedSteps {
		out.StepsError = fmt.Sprintf("the recorded steps take %d bytes, more than the %d served (recorded before authwatch bounded evidence)",
			len(r.Steps), maxServedSteps)
		return out
	}
	steps, _, err := decodeSteps(r.Steps)
	if err != nil {
		out.StepsError = err.Error()
		return out
	}
	if steps != nil {
		out.Steps = steps
	}
	for _, s := range steps {
		if s.Step == r.FailedStep && s.NextStep != "" {
			out.NextStep = s.NextStep
			break
		}
	}
	return out
}

// measurementsOf returns what a step measured: its recorded measurements
// when the run carries them, or else what its evidence shows (a failed
// step's token claims and certificates), relative to the run's start.
func measurementsOf(s StepJSON, start time.Time) []flows.Measurement {
	if len(s.Measurements) > 0 {
		return s.Measurements
	}
	ev := s.Evidence
	if ev == nil {
		return nil
	}
	var out []flows.Measurement
	if tok := ev.Token; tok != nil && tok.Kind != "id" {
		if exp, ok := number(tok.Claims["exp"]); ok {
			out = append(out, flows.Measurement{Name: flows.MeasureTokenLifetime,
				Value: exp - float64(start.UnixNano())/1e9})
		}
	}
	for _, ex := range ev.Exchanges {
		if ex.TLS == nil || ex.TLS.NotAfter.IsZero() {
			continue
		}
		host := ""
		if u, err := url.Parse(ex.URL); err == nil {
			host = u.Host
		}
		out = append(out, flows.Measurement{Name: flows.MeasureTLSExpiry, Host: host,
			Value: ex.TLS.NotAfter.Sub(start).Seconds()})
	}
	return out
}

// number reads a decoded JSON number.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, !math.IsNaN(n) && !math.IsInf(n, 0)
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// firstWarning is the first warning finding of the steps.
func firstWarning(steps []StepJSON) (reason, summary string) {
	for _, s := range steps {
		for _, f := range s.Findings {
			if f.Warning {
				return string(f.Reason), f.Summary
			}
		}
	}
	return "", ""
}
