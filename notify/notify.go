// Package notify delivers incident events to people: PagerDuty, Slack,
// Microsoft Teams, Opsgenie, Alertmanager, email, a generic webhook, the log.
//
// A notifier knows the Event, not the flow's internals. Each kind lives in
// its own sub-package and registers in the one kinds table (kinds.go); the
// daemon's outbox calls Notify with retries, so a notifier makes exactly one
// delivery attempt per call and says whether another attempt may succeed.
package notify

import (
	"context"
	"time"
)

// EventType is what happened to an incident.
type EventType string

// Incident events.
const (
	// Opened: a flow started failing (per the alert policy).
	Opened EventType = "opened"
	// Updated: still failing, but for another primary reason.
	Updated EventType = "updated"
	// Reminder: still failing, reminding at the policy's interval.
	Reminder EventType = "reminder"
	// Resolved: the flow passes again (per the policy).
	Resolved EventType = "resolved"
	// Test: `authwatch notify test ROUTE`; receivers must show it as a test.
	Test EventType = "test"
)

// Severity of the event, from the flow's labels or the policy.
type Severity string

// Severities.
const (
	SeverityCritical Severity = "critical"
	SeverityWarning  Severity = "warning"
	SeverityInfo     Severity = "info"
)

// Event is one notification about one incident. It carries only redacted
// evidence: no secret ever reaches a notifier.
type Event struct {
	// ID is unique per event (idempotency keys, log correlation).
	ID string `json:"id"`
	// IncidentKey is stable for the life of an incident: PagerDuty's
	// dedup_key, Alertmanager's labels, Opsgenie's alias.
	IncidentKey string    `json:"incident_key"`
	Type        EventType `json:"type"`
	Severity    Severity  `json:"severity"`
	Time        time.Time `json:"time"`

	Flow   string            `json:"flow"`
	Step   string            `json:"step,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`

	Reason         string `json:"reason,omitempty"` // reason code (REASONS.md)
	Layer          string `json:"layer,omitempty"`
	Summary        string `json:"summary,omitempty"`
	NextStep       string `json:"next_step,omitempty"`
	PreviousReason string `json:"previous_reason,omitempty"` // on Updated

	// Evidence is short, redacted key/values (status, aud, kid, ...).
	Evidence []Fact `json:"evidence,omitempty"`
	// RequestIDs are the target's request/correlation ids, for support.
	RequestIDs map[string]string `json:"request_ids,omitempty"`

	FirstFailure time.Time `json:"first_failure,omitzero"`
	Failures     int       `json:"consecutive_failures,omitempty"`
	Host         string    `json:"host,omitempty"`   // the monitor's host name
	Region       string    `json:"region,omitempty"` // from labels, when set
	StatusURL    string    `json:"status_url,omitempty"`
}

// Fact is one piece of evidence.
type Fact struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Title is a one-line headline for chat and email subjects.
func (e Event) Title() string {
	switch e.Type {
	case Resolved:
		return "RESOLVED " + e.Flow
	case Test:
		return "TEST authwatch notification (no action needed)"
	}
	t := string(e.Type)
	if e.Type == Opened {
		t = "FAILING"
	}
	return upper(t) + " " + e.Flow + ": " + e.Reason
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

// Notifier delivers events of one configured receiver.
//
// Notify makes one delivery attempt within ctx (the outbox sets a
// per-attempt timeout under an overall deadline). It returns nil when the
// receiver accepted the event; otherwise retry says whether another attempt
// may succeed (network errors, 408, 429, 5xx, an answer after the attempt's
// deadline: true; other 4xx, a redirect, bad configuration: false). An error must never contain a secret (a webhook
// URL with a token in it, an API key).
type Notifier interface {
	Notify(ctx context.Context, ev Event) (retry bool, err error)
}

// RetryAfterError is returned (wrapped) when the receiver said when to try
// again (429/503 with Retry-After); the outbox honours it.
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *RetryAfterError) Unwrap() error { return e.Err }
