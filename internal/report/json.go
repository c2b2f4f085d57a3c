// Package report renders flow results for people (a compact table) and for
// machines (one JSON object per line). Results are already redacted by the
// flows package; nothing here adds a value that could be a secret.
package report

import (
	"encoding/json"
	"io"

	"github.com/authwatch/authwatch/flows"
)

// StepJSON is one step result as a JSON line (`authwatch check --json`).
type StepJSON struct {
	Type       string           `json:"type"` // "step"
	Flow       string           `json:"flow"`
	Step       string           `json:"step"`
	Kind       string           `json:"kind"`
	OK         bool             `json:"ok"`
	Status     flows.StepStatus `json:"status"`
	Reason     flows.Reason     `json:"reason,omitempty"`
	Layer      flows.Layer      `json:"layer,omitempty"`
	Summary    string           `json:"summary,omitempty"`
	NextStep   string           `json:"next_step,omitempty"`
	HTTPStatus int              `json:"http_status,omitempty"`
	DurationMS float64          `json:"duration_ms"`
	RetryAfter string           `json:"retry_after,omitempty"`
	Findings   []FindingJSON    `json:"findings,omitempty"`
	Notes      []string         `json:"notes,omitempty"`
	Evidence   *flows.Evidence  `json:"evidence,omitempty"`
	// Measurements feed the status page's trends (token lifetime, cert expiry).
	Measurements []flows.Measurement `json:"measurements,omitempty"`
}

// FindingJSON is a secondary finding with its layer.
type FindingJSON struct {
	Reason  flows.Reason `json:"reason"`
	Layer   flows.Layer  `json:"layer"`
	Warning bool         `json:"warning,omitempty"`
	Summary string       `json:"summary"`
}

// FlowJSON closes a flow's lines with its outcome.
type FlowJSON struct {
	Type       string            `json:"type"` // "flow"
	Flow       string            `json:"flow"`
	OK         bool              `json:"ok"`
	Reason     flows.Reason      `json:"reason,omitempty"`
	Layer      flows.Layer       `json:"layer,omitempty"`
	Summary    string            `json:"summary,omitempty"`
	FailedStep string            `json:"failed_step,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	Start      string            `json:"start"`
	DurationMS float64           `json:"duration_ms"`
	Steps      int               `json:"steps"`
	Warnings   int               `json:"warnings"`
}

// JSON writes each step result and then the flow's outcome, one object per line.
func JSON(w io.Writer, r *flows.Result) error {
	enc := json.NewEncoder(w)
	for _, s := range r.Steps {
		if err := enc.Encode(stepJSON(r, s)); err != nil {
			return err
		}
	}
	return enc.Encode(flowJSON(r))
}

func stepJSON(r *flows.Result, s flows.StepResult) StepJSON {
	out := StepJSON{Type: "step", Flow: r.Flow, Step: s.ID, Kind: s.Kind, OK: s.OK(), Status: s.Status,
		HTTPStatus: s.HTTPStatus, DurationMS: ms(s.Duration.Seconds()), Notes: s.Notes, Measurements: s.Measurements}
	for _, f := range s.Findings {
		info := f.Reason.Info()
		out.Findings = append(out.Findings, FindingJSON{Reason: f.Reason, Layer: info.Layer, Warning: info.Warning, Summary: f.Summary})
	}
	if f := s.Failure; f != nil {
		out.Reason, out.Layer, out.Summary, out.NextStep = f.Reason, f.Reason.Layer(), f.Summary, f.NextStep()
		ev := f.Evidence
		out.Evidence = &ev
		if !f.RetryAfter.IsZero() {
			out.RetryAfter = f.RetryAfter.UTC().Format("2006-01-02T15:04:05Z")
		}
	}
	return out
}

func flowJSON(r *flows.Result) FlowJSON {
	out := FlowJSON{Type: "flow", Flow: r.Flow, OK: r.OK, Labels: r.Labels, Start: r.Start.UTC().Format("2006-01-02T15:04:05.000Z"),
		DurationMS: ms(r.Duration.Seconds()), Steps: len(r.Steps)}
	for _, s := range r.Steps {
		if s.Status == flows.StepWarned {
			out.Warnings++
		}
		if s.Failure != nil && out.FailedStep == "" {
			out.FailedStep, out.Reason, out.Layer, out.Summary = s.ID, s.Failure.Reason, s.Failure.Reason.Layer(), s.Failure.Summary
		}
	}
	return out
}

func ms(seconds float64) float64 { return float64(int64(seconds*1e6)) / 1000 }
