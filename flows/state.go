package flows

import (
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"time"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/exchange"
	"github.com/authwatch/authwatch/internal/jwtinspect"
	"github.com/authwatch/authwatch/internal/redact"
)

// State is what one run of one flow knows: step outputs, the secrets it has
// seen, its cookie jar, and the current step's recorder. It lives for one
// run; steps read and write it, never the Flow.
type State struct {
	Flow    *Flow
	Secrets *redact.Secrets

	runner  *Runner
	outputs map[string]map[string]string
	secret  map[string]bool // "step.output" names whose values are credentials
	jar     http.CookieJar
	step    *stepRecord
	// sharedTokens maps the access tokens this run took from, or put in,
	// the shared token cache to their cache keys.
	sharedTokens map[string]string
	// lastJWT is the token parseJWT decoded last.
	lastJWT parsedJWT
	// dpop is the run's DPoP keys and nonces; nil until a step uses DPoP.
	dpop *dpopRun
}

// parsedJWT is a token's decoding by jwtinspect.Parse.
type parsedJWT struct {
	raw string
	tok *jwtinspect.Token
	err error
}

// parseJWT is jwtinspect.Parse, remembered for the last token: a run
// decodes its access token for the token checks, for its lifetime and for
// the shared cache. The token it returns is shared: read it only.
func (st *State) parseJWT(raw string) (*jwtinspect.Token, error) {
	if st.lastJWT.raw != raw || (st.lastJWT.tok == nil && st.lastJWT.err == nil) {
		tok, err := jwtinspect.Parse(raw)
		st.lastJWT = parsedJWT{raw: raw, tok: tok, err: err}
	}
	return st.lastJWT.tok, st.lastJWT.err
}

// inspectJWT is inspectBearer through parseJWT.
func (st *State) inspectJWT(raw string) *jwtinspect.Token {
	if raw == "" {
		return nil
	}
	t, err := st.parseJWT(raw)
	if err != nil {
		return nil
	}
	return t
}

// stepRecord collects what the current step observed besides its result.
type stepRecord struct {
	spec     *StepSpec
	start    time.Time
	rec      *exchange.Recorder
	findings []Finding
	notes    []note
	measured []Measurement
	// tokenReceived is when a token from the shared cache was received
	// (zero: the token the step checks was received now).
	tokenReceived time.Time
	// fromCache: the step's token came from the shared cache, so its
	// duration is no latency figure.
	fromCache bool
	// keys is the key set a signature was checked against, for the shape.
	keys *KeySet
	// answer is the step's own answer when probes follow it (negative
	// checks whose refusals must not stand as the step's status); nil:
	// the last exchange is.
	answer *exchange.Exchange
}

func newState(r *Runner, f *Flow) *State {
	jar, _ := cookiejar.New(nil) // never fails without options
	return &State{Flow: f, Secrets: &redact.Secrets{}, runner: r, outputs: map[string]map[string]string{}, secret: map[string]bool{}, jar: jar}
}

func (st *State) beginStep(spec *StepSpec, rec *exchange.Recorder) {
	st.step = &stepRecord{spec: spec, rec: rec, start: st.Now()}
}

// Now is the run's clock (injected in tests).
func (st *State) Now() time.Time { return st.runner.now() }

// Skew is the allowed clock difference.
func (st *State) Skew() time.Duration { return st.Flow.Skew() }

// StepID is the current step's id.
func (st *State) StepID() string { return st.step.spec.ID }

// Expand resolves a template. A missing secret yields a credentials_missing
// Failure; a missing step output an assertion_failed one. Secret values,
// every expansion that contains one, and the value of a secret-bearing
// field (a literal client_secret too) are registered for redaction.
func (st *State) Expand(t conf.Template) (string, error) {
	if err := t.LoadErr(); err != nil {
		return "", Fail(ReasonConfigInvalid, "%v", err)
	}
	secret := false
	v, err := t.Expand(func(ref conf.Ref) (string, error) {
		v, isSecret, err := st.resolve(ref)
		secret = secret || isSecret
		return v, err
	})
	if err != nil {
		return "", err
	}
	if secret || t.SecretField() {
		st.Secrets.Add(v)
	}
	return v, nil
}

func (st *State) resolve(ref conf.Ref) (value string, secret bool, err error) {
	if ref.Kind == conf.RefStep {
		v, ok := st.outputs[ref.Name][ref.Output]
		if !ok || v == "" {
			return "", false, Fail(ReasonAssertionFailed, "%s is empty: step %q produced no %s", ref, ref.Name, ref.Output)
		}
		return v, st.isSecretOutput(ref.Name, ref.Output), nil
	}
	v, err := st.runner.Secrets.Resolve(ref)
	if msg, ok := conf.SecretMessage(err); ok {
		return "", true, Fail(ReasonCredentialsMissing, "%s: %s", ref, msg).Wrap(err)
	}
	if err != nil {
		return "", true, err
	}
	st.Secrets.Add(v)
	return v, true, nil
}

// isSecretOutput reports whether an output's value is a credential.
func (st *State) isSecretOutput(step, name string) bool {
	return redact.SensitiveKey(name) || st.secret[step+"."+name]
}

// SetOutput publishes a value for later steps as ${steps.ID.NAME}. Secret
// values are registered for redaction.
func (st *State) SetOutput(name, value string, secret bool) {
	id := st.step.spec.ID
	if st.outputs[id] == nil {
		st.outputs[id] = map[string]string{}
	}
	st.outputs[id][name] = value
	if secret {
		st.Secrets.Add(value)
		st.secret[id+"."+name] = true
	}
}

// Output returns an earlier step's output.
func (st *State) Output(step, name string) (string, bool) {
	v, ok := st.outputs[step][name]
	return v, ok
}

// Finding records a secondary observation on the current step.
func (st *State) Finding(reason Reason, format string, args ...any) {
	summary := fmt.Sprintf(format, args...)
	for _, f := range st.step.findings {
		if f.Reason == reason && f.Summary == summary {
			return
		}
	}
	st.step.findings = append(st.step.findings, Finding{Reason: reason, Summary: summary})
}

// Note records something a person should know about how the step ran, such
// as disabled TLS verification. format is a constant (go vet checks it);
// what a target said goes in args, which the value net redacts.
func (st *State) Note(format string, args ...any) {
	n := note{text: format, literal: ownWords(args)}
	if len(args) > 0 {
		n.text = fmt.Sprintf(format, args...)
	}
	for _, have := range st.step.notes {
		if have.text == n.text {
			return
		}
	}
	st.step.notes = append(st.step.notes, n)
}

// note is a step's note. A literal one is authwatch's own text (a constant
// format, its args ownText), which holds no secret: it is shown without the
// value net, so a passing run that only notes such a text ("the access
// token's signature was not verified") never builds the redaction forms of
// its secrets (a fifth of the bytes a passing token run allocated).
type note struct {
	text    string
	literal bool
}

// ownText is a note's argument that authwatch wrote itself, such as "access
// token" in "the %s's signature was not verified": never anything a target
// sent or a configuration holds.
type ownText string

func ownWords(args []any) bool {
	for _, a := range args {
		if _, ok := a.(ownText); !ok {
			return false
		}
	}
	return true
}

// Recorder returns the current step's exchange recorder.
func (st *State) Recorder() *exchange.Recorder { return st.step.rec }

// Measure records a number worth graphing; a later value for the same name
// and host replaces the earlier one.
func (st *State) Measure(name, host string, value float64) {
	for i, m := range st.step.measured {
		if m.Name == name && m.Host == host {
			st.step.measured[i].Value = value
			return
		}
	}
	st.step.measured = append(st.step.measured, Measurement{Name: name, Host: host, Value: value})
}
