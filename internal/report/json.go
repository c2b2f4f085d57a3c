// Package report renders flow results for people (a compact table) and for
// machines (JSON Lines: one object per line, each of a type that
// docs/check-json.schema.json defines). Results are already redacted by
// the flows package; nothing here adds a value that could be a secret.
package report

import (
	"encoding/json"
	"io"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
)

// SchemaVersion is the version of the `check --json` records
// (docs/check-json.schema.json), carried by the summary record. It changes
// only when a field changes its name or meaning; added fields keep it.
const SchemaVersion = 1

// Record types: the "type" field of every `check --json` line.
const (
	TypeStep    = "step"
	TypeFlow    = "flow"
	TypeSummary = "summary"
	TypeError   = "error"
)

// StepJSON is one step result as a JSON line (`authwatch check --json`).
type StepJSON struct {
	Type string `json:"type"` // "step"
	Flow string `json:"flow"`
	Step string `json:"step"`
	Kind string `json:"kind"`
	// OK is true for pass and warn, false for fail, and absent for a
	// skipped step (not run: neither passed nor failed).
	OK     *bool            `json:"ok,omitempty"`
	Status flows.StepStatus `json:"status"`
	// Reason, Layer, Summary and NextStep are the failure of a failed
	// step, or the first warning of a warned one.
	Reason     flows.Reason    `json:"reason,omitempty"`
	Layer      flows.Layer     `json:"layer,omitempty"`
	Summary    string          `json:"summary,omitempty"`
	NextStep   string          `json:"next_step,omitempty"`
	HTTPStatus int             `json:"http_status,omitempty"`
	DurationMS float64         `json:"duration_ms"`
	RetryAfter string          `json:"retry_after,omitempty"`
	Findings   []FindingJSON   `json:"findings,omitempty"`
	Notes      []string        `json:"notes,omitempty"`
	Evidence   *flows.Evidence `json:"evidence,omitempty"`
	// Measurements feed the status page's trends (token lifetime, cert expiry).
	Measurements []flows.Measurement `json:"measurements,omitempty"`
}

// FindingJSON is a secondary finding with its layer.
type FindingJSON struct {
	Reason  flows.Reason `json:"reason"`
	Layer   flows.Layer  `json:"layer"`
	Warning bool         `json:"warning,omitempty"`
	Summary string       `json:"summary"`
	Facts   []flows.Fact `json:"facts,omitempty"`
}

// FlowJSON closes a flow's lines with its outcome.
type FlowJSON struct {
	Type string `json:"type"` // "flow"
	Flow string `json:"flow"`
	// OK is true for pass and warn, false for fail, and absent for a
	// skipped (cancelled) run.
	OK     *bool            `json:"ok,omitempty"`
	Status flows.StepStatus `json:"status"`
	// Cancelled runs were cut short by authwatch itself (Ctrl-C): skip.
	Cancelled bool `json:"cancelled,omitempty"`
	// Reason, Layer, Summary and NextStep are the failure (fail) or the
	// first warning (warn): the flow's primary reason.
	Reason     flows.Reason      `json:"reason,omitempty"`
	Layer      flows.Layer       `json:"layer,omitempty"`
	Summary    string            `json:"summary,omitempty"`
	NextStep   string            `json:"next_step,omitempty"`
	FailedStep string            `json:"failed_step,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	Start      string            `json:"start"`
	DurationMS float64           `json:"duration_ms"`
	Steps      int               `json:"steps"`
	Warnings   int               `json:"warnings"`
}

// SummaryJSON is the last line of `check --json`: flows counted by
// status, the exit code and the run's wall time.
type SummaryJSON struct {
	Type          string  `json:"type"` // "summary"
	SchemaVersion int     `json:"schema_version"`
	Flows         int     `json:"flows"`
	Pass          int     `json:"pass"`
	Warn          int     `json:"warn"`
	Fail          int     `json:"fail"`
	Skip          int     `json:"skip"`
	Errors        int     `json:"errors"`
	ExitCode      int     `json:"exit_code"`
	DurationMS    float64 `json:"duration_ms"`
}

// ErrorJSON is a configuration error: the configuration could not be run
// as written. File, Line and Column are absent when unknown; Path is the
// field's path in the file (e.g. flows[0].steps[2].kind).
type ErrorJSON struct {
	Type    string `json:"type"` // "error"
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

// JSON writes each step result and then the flow's outcome, one object per line.
func JSON(w io.Writer, r *flows.Result) error {
	b, err := AppendJSON(nil, r)
	if _, werr := w.Write(b); err == nil {
		err = werr
	}
	return err
}

// AppendJSON appends JSON's lines for r to b. If a record cannot be
// encoded (a NaN measurement), b ends with the lines before it.
func AppendJSON(b []byte, r *flows.Result) ([]byte, error) {
	for _, s := range r.Steps {
		line := stepJSON(r, s)
		n := len(b)
		var err error
		if b, err = line.appendJSON(b); err != nil {
			return b[:n], err
		}
		b = append(b, '\n')
	}
	line := flowJSON(r)
	n := len(b)
	b, err := line.appendJSON(b)
	if err != nil {
		return b[:n], err
	}
	return append(b, '\n'), nil
}

// Summary writes the summary record of results that ended in exitCode;
// errors counts the error records written before it.
func Summary(w io.Writer, results []*flows.Result, errors, exitCode int, took time.Duration) error {
	out := SummaryJSON{Type: TypeSummary, SchemaVersion: SchemaVersion, Flows: len(results), Errors: errors,
		ExitCode: exitCode, DurationMS: ms(took.Seconds())}
	for _, r := range results {
		switch r.Status() {
		case flows.StepPassed:
			out.Pass++
		case flows.StepWarned:
			out.Warn++
		case flows.StepFailed:
			out.Fail++
		default:
			out.Skip++
		}
	}
	return json.NewEncoder(w).Encode(out)
}

// Errors writes one error record per configuration problem.
func Errors(w io.Writer, ps conf.Problems) error {
	enc := json.NewEncoder(w)
	for _, p := range ps {
		if err := enc.Encode(ErrorJSON{Type: TypeError, File: p.Pos.File, Line: p.Pos.Line, Column: p.Pos.Column,
			Path: p.Path, Message: p.Message}); err != nil {
			return err
		}
	}
	return nil
}

func okOf(st flows.StepStatus) *bool {
	if st == flows.StepSkipped {
		return nil
	}
	ok := st == flows.StepPassed || st == flows.StepWarned
	return &ok
}

func stepJSON(r *flows.Result, s flows.StepResult) StepJSON {
	out := StepJSON{Type: TypeStep, Flow: r.Flow, Step: s.ID, Kind: s.Kind, OK: okOf(s.Status), Status: s.Status,
		HTTPStatus: s.HTTPStatus, DurationMS: ms(s.Duration.Seconds()), Notes: s.Notes, Measurements: s.Measurements}
	for _, f := range s.Findings {
		info := f.Reason.Info()
		out.Findings = append(out.Findings, FindingJSON{Reason: f.Reason, Layer: info.Layer, Warning: info.Warning, Summary: f.Summary, Facts: f.Facts})
	}
	if w := s.Warning(); w != nil {
		out.Reason, out.Layer, out.Summary, out.NextStep = w.Reason, w.Reason.Layer(), w.Summary, w.Reason.Info().NextStep
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
	st := r.Status()
	out := FlowJSON{Type: TypeFlow, Flow: r.Flow, OK: okOf(st), Status: st, Cancelled: r.Cancelled, Labels: r.Labels,
		Start: r.Start.UTC().Format("2006-01-02T15:04:05.000Z"), DurationMS: ms(r.Duration.Seconds()), Steps: len(r.Steps)}
	for _, s := range r.Steps {
		if s.Status == flows.StepWarned {
			out.Warnings++
		}
		if s.Failure != nil && out.FailedStep == "" {
			out.FailedStep, out.Reason, out.Layer, out.Summary, out.NextStep = s.ID, s.Failure.Reason, s.Failure.Reason.Layer(), s.Failure.Summary, s.Failure.NextStep()
		}
	}
	if w := r.Warning(); w != nil {
		out.Reason, out.Layer, out.Summary, out.NextStep = w.Reason, w.Reason.Layer(), w.Summary, w.Reason.Info().NextStep
	}
	return out
}

func ms(seconds float64) float64 { return float64(int64(seconds*1e6)) / 1000 }
