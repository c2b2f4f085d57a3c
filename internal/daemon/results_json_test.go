package daemon

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/report"
)

// TestStepsJSONAsBefore: the history record's steps are byte for byte
// what the earlier encoding (split the lines, join them with commas) made,
// for passing, warned, failed (with evidence, and text with newlines and
// commas) and cancelled runs, and decode as a JSON array of the lines.
func TestStepsJSONAsBefore(t *testing.T) {
	start := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	pass := flows.StepResult{ID: "token", Kind: "client_credentials", Status: flows.StepPassed, Duration: 3 * time.Millisecond,
		HTTPStatus: 200, Notes: []string{"a note, with a comma"}, Measurements: []flows.Measurement{{Name: flows.MeasureTokenLifetime, Value: 86399.5}}}
	warned := flows.StepResult{ID: "api", Kind: "http", Status: flows.StepWarned, Duration: time.Millisecond,
		Findings: []flows.Finding{{Reason: flows.ReasonClockSkew, Summary: "127.0.0.1's clock is 10m0s behind this host's"}}}
	failed := flows.StepResult{ID: "api", Kind: "http", Status: flows.StepFailed, Duration: time.Millisecond, HTTPStatus: 500,
		Failure: &flows.Failure{Flow: "f", Step: "api", Reason: flows.ReasonServerError, Summary: "the API answered 500\nsecond line, \"quoted\"",
			Evidence: flows.Evidence{Facts: []flows.Fact{{Name: "status", Value: "500"}},
				Exchanges: []flows.ExchangeEvidence{{Method: "GET", URL: "http://127.0.0.1/api", Status: 500, Body: "{\"error\":\"boom\"}\n[1,2]\n"}}}}}
	skipped := flows.StepResult{ID: "after", Kind: "http", Status: flows.StepSkipped}
	for name, r := range map[string]*flows.Result{
		"pass":      {Flow: "f", Start: start, OK: true, Duration: 4 * time.Millisecond, Steps: []flows.StepResult{pass}},
		"warn":      {Flow: "f", Start: start, OK: true, Labels: map[string]string{"team": "id"}, Steps: []flows.StepResult{pass, warned}},
		"fail":      {Flow: "f", Start: start, Steps: []flows.StepResult{pass, failed, skipped}},
		"cancelled": {Flow: "f", Start: start, Cancelled: true, Steps: []flows.StepResult{skipped}},
		"no steps":  {Flow: "f", Start: start, OK: true},
	} {
		got := stepsJSON(r)
		if want := stepsJSONBefore(r); !bytes.Equal(got, want) {
			t.Errorf("%s: steps JSON\n%s\nwant (as before)\n%s", name, got, want)
		}
		var lines []json.RawMessage
		if err := json.Unmarshal(got, &lines); err != nil || len(lines) != len(r.Steps)+1 {
			t.Errorf("%s: %d lines decoded (err %v), want %d", name, len(lines), err, len(r.Steps)+1)
		}
	}
}

// stepsJSONBefore is the encoding of toRun before stepsJSON.
func stepsJSONBefore(r *flows.Result) []byte {
	var steps bytes.Buffer
	_ = report.JSON(&steps, r)
	lines := bytes.Split(bytes.TrimSpace(steps.Bytes()), []byte("\n"))
	arr := append([]byte("["), bytes.Join(lines, []byte(","))...)
	return append(arr, ']')
}

// TestStepsJSONOwnsItsBytes: the record keeps the steps JSON until it is
// committed (and in memory while the backend refuses writes), so it must
// not share the pooled buffer it was written in, nor keep slack.
func TestStepsJSONOwnsItsBytes(t *testing.T) {
	start := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	first := &flows.Result{Flow: "first", Start: start, OK: true, Steps: []flows.StepResult{{ID: "a", Kind: "http", Status: flows.StepPassed}}}
	second := &flows.Result{Flow: "second-flow-with-a-longer-name", Start: start, OK: true,
		Steps: []flows.StepResult{{ID: "b", Kind: "http", Status: flows.StepPassed, Notes: []string{"something else entirely"}}}}
	got := stepsJSON(first)
	want := stepsJSONBefore(first)
	for range 10 {
		stepsJSON(second)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the first record's steps changed under later runs:\n%s\nwant\n%s", got, want)
	}
	if cap(got) != len(got) {
		t.Errorf("steps JSON of %d bytes keeps %d", len(got), cap(got))
	}
}
