package flows

import (
	"fmt"
	"time"
)

// Failure is a classified failure of one step: the target misbehaved, and
// the evidence says how. It unwraps to the library error underneath, so
// errors.As works on every path.
type Failure struct {
	Flow, Step string
	Reason     Reason
	Summary    string   // one line, built from the evidence
	Next       string   // a next step more specific than the reason table's, if any
	Evidence   Evidence // redacted before it leaves the run
	// RetryAfter is when a rate-limited target allows the next try (zero: unknown).
	RetryAfter time.Time
	// Err is the library error underneath; never encoded (it can hold a
	// request with its credentials).
	Err error `json:"-"`
}

// Error implements error.
func (f *Failure) Error() string {
	return fmt.Sprintf("%s/%s: %s: %s", f.Flow, f.Step, f.Reason, f.Summary)
}

// Unwrap returns the library error underneath, if any.
func (f *Failure) Unwrap() error { return f.Err }

// NextStep is what a person should do next.
func (f *Failure) NextStep() string {
	if f.Next != "" {
		return f.Next
	}
	return f.Reason.Info().NextStep
}

// Fail builds a Failure with a formatted summary.
func Fail(reason Reason, format string, args ...any) *Failure {
	return &Failure{Reason: reason, Summary: fmt.Sprintf(format, args...)}
}

// With adds facts to the failure's evidence and returns it.
func (f *Failure) With(facts ...Fact) *Failure {
	f.Evidence.Facts = append(f.Evidence.Facts, facts...)
	return f
}

// Wrap sets the underlying error and returns the failure.
func (f *Failure) Wrap(err error) *Failure {
	f.Err = err
	return f
}

// Evidence is what proves a reason. It never holds a secret: tokens appear as
// fingerprints and decoded claims, headers and bodies are redacted.
type Evidence struct {
	Facts     []Fact             `json:"facts,omitempty"`
	Token     *TokenEvidence     `json:"token,omitempty"`
	Exchanges []ExchangeEvidence `json:"exchanges,omitempty"`
}

// Fact is one named piece of evidence, e.g. {"expected_audience", "api://orders"}.
type Fact struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// F makes a Fact.
func F(name string, value any) Fact { return Fact{Name: name, Value: fmt.Sprint(value)} }

// TokenEvidence is a token shown safely: a fingerprint and its decoded claims
// (never the signature or the raw value).
type TokenEvidence struct {
	Fingerprint string         `json:"fingerprint"`
	Kind        string         `json:"kind,omitempty"`
	Header      map[string]any `json:"header,omitempty"`
	Claims      map[string]any `json:"claims,omitempty"`
}

// Finding is a secondary observation: a warning on a passing step, or a
// clue beside the primary reason (clock_skew beside token_not_yet_valid).
type Finding struct {
	Reason  Reason `json:"reason"`
	Summary string `json:"summary"`
	// Facts are the finding's evidence, when it has its own (a
	// baseline_changed warning: each value before and after).
	Facts []Fact `json:"facts,omitempty"`
}
