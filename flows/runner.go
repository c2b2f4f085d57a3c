package flows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/authwatch/authwatch/internal/browser"
	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/exchange"
)

// Runner runs flows. It holds what runs share: pooled transports, the clock,
// the secret source and cached IdP metadata. It is safe for concurrent use;
// the zero value is not: use NewRunner.
type Runner struct {
	Transport http.RoundTripper
	Now       func() time.Time
	Secrets   conf.SecretSource
	Logger    *slog.Logger
	// Tokens keeps rotated refresh tokens (nil: none are kept).
	Tokens TokenStore
	// TLSExpiryWarning is the horizon of tls_certificate_expiring (default 14 days).
	TLSExpiryWarning time.Duration
	// Browsers runs the browser-mode login steps (nil: a pool of
	// MaxBrowsers, default 2, made on first use).
	Browsers    *browser.Pool
	MaxBrowsers int
	// FailedEvidenceOnly skips building the exchange evidence of passing
	// steps (StepResult.Exchanges): nothing the daemon records or shows
	// reads it, and building it is a measurable part of a run's cost.
	FailedEvidenceOnly bool
	// TokenCacheEntries bounds the shared token cache of token steps with
	// cache: shared (default DefaultTokenCacheEntries; least recently
	// used first out).
	TokenCacheEntries int

	transports     sync.Map // transportKey → http.RoundTripper, without a client certificate
	certTransports certTransportCache
	browsersOnce   sync.Once
	meta           metadataCache
	tokensOnce     sync.Once
	tokens         tokenCache
}

// NewRunner returns a Runner with a pooled transport, the system clock and
// the process environment as secret source.
func NewRunner() *Runner {
	return &Runner{Transport: NewTransport(), Now: time.Now, Logger: slog.New(slog.DiscardHandler)}
}

// sharedTokens is the token cache shared by all runs of this Runner.
func (r *Runner) sharedTokens() *tokenCache {
	r.tokensOnce.Do(func() { r.tokens.max = r.TokenCacheEntries })
	return &r.tokens
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Run runs every step of f in order, within the flow's deadline, and
// returns the classified result. Steps after a failed one are skipped: they
// depend on what came before. Run never panics on a target's behaviour.
func (r *Runner) Run(ctx context.Context, f *Flow) *Result {
	ctx, cancel := context.WithTimeout(ctx, f.RunTimeout())
	defer cancel()
	res := &Result{Flow: f.Name, Labels: f.Labels, Start: r.now(), OK: true, Steps: make([]StepResult, 0, len(f.Steps))}
	st := newState(r, f)
	for _, spec := range f.Steps {
		if !res.OK {
			res.Steps = append(res.Steps, StepResult{ID: spec.ID, Kind: spec.Kind, Status: StepSkipped})
			continue
		}
		sr := r.runStep(ctx, st, spec)
		res.OK = sr.OK()
		res.Steps = append(res.Steps, sr)
	}
	res.Duration = r.now().Sub(res.Start)
	res.Cancelled = errors.Is(context.Cause(ctx), context.Canceled)
	boundResult(res)
	return res
}

func (r *Runner) runStep(ctx context.Context, st *State, spec *StepSpec) StepResult {
	if spec.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, spec.Timeout)
		defer cancel()
	}
	rec := &exchange.Recorder{Base: r.Transport, Now: r.now}
	st.beginStep(spec, rec)
	start := r.now()
	err := safeRun(ctx, spec.Step, st)
	sr := StepResult{ID: spec.ID, Kind: spec.Kind, Duration: r.now().Sub(start), Status: StepPassed}
	r.observeExchanges(st, rec.Exchanges())
	if err != nil {
		sr.Failure = r.classify(ctx, st, spec, err)
		sr.Status = StepFailed
	}
	if err != nil || !r.FailedEvidenceOnly {
		for _, ex := range rec.Exchanges() {
			sr.Exchanges = append(sr.Exchanges, exchangeEvidence(ex, st.Secrets))
		}
	}
	if last := rec.Last(); st.step.answer != nil {
		sr.HTTPStatus = st.step.answer.Status
	} else if last != nil {
		sr.HTTPStatus = last.Status
	}
	sr.Findings = st.redactFindings(st.step.findings)
	for _, n := range st.step.notes {
		if n.literal {
			sr.Notes = append(sr.Notes, n.text)
		} else {
			sr.Notes = append(sr.Notes, st.redactText(n.text))
		}
	}
	sr.Measurements = st.step.measured
	sr.TokenFromCache = st.step.fromCache
	if err == nil && st.Flow.Baseline.Enabled() {
		sr.Shape = st.shape(rec.Exchanges())
	}
	if sr.Status == StepPassed && hasWarning(sr.Findings) {
		sr.Status = StepWarned
	}
	if sr.Failure != nil {
		sr.Failure.Evidence.Exchanges = sr.Exchanges
		st.redactFailure(sr.Failure)
	}
	return sr
}

// safeRun turns a panic in a step into an internal_error: the daemon never
// crashes on a target's behaviour.
func safeRun(ctx context.Context, s Step, st *State) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &Failure{Reason: ReasonInternalError, Summary: fmt.Sprintf("authwatch bug: panic in step: %v", p),
				Err: fmt.Errorf("panic: %v\n%s", p, debug.Stack())}
		}
	}()
	return s.Run(ctx, st)
}

// classify turns whatever a step returned into a Failure with the flow and
// step filled in. Errors that are not Failures are transport errors (when an
// exchange failed) or bugs.
func (r *Runner) classify(ctx context.Context, st *State, spec *StepSpec, err error) *Failure {
	var f *Failure
	if !errors.As(err, &f) {
		f = classifyTransportError(ctx, err, st.lastExchange(), r.now())
		if f == nil {
			f = classifyOversized(err, st.lastExchange())
		}
		if f == nil {
			f = &Failure{Reason: ReasonInternalError, Summary: "authwatch bug: " + err.Error(), Err: err}
		}
	}
	f.Flow, f.Step = st.Flow.Name, spec.ID
	return f
}

func hasWarning(fs []Finding) bool {
	for _, f := range fs {
		if f.Reason.Info().Warning {
			return true
		}
	}
	return false
}

// cutMark ends what truncate kept of a text quoted in a summary or fact.
const cutMark = "…"

// redactText applies the value net to a text built while the step ran.
// Such texts quote what a target said, cut short (truncate) before they
// were redacted: a cut may have kept only a secret's start, which is
// redacted too.
func (st *State) redactText(s string) string { return st.Secrets.StringCut(s, cutMark) }

// redactFailure applies the value net to everything a failure shows.
func (st *State) redactFailure(f *Failure) {
	f.Summary = st.redactText(f.Summary)
	f.Next = st.redactText(f.Next)
	f.Err = redactError(f.Err, st.Secrets)
	for i := range f.Evidence.Facts {
		f.Evidence.Facts[i].Value = st.redactText(f.Evidence.Facts[i].Value)
	}
	if tok := f.Evidence.Token; tok != nil {
		tok.Header, _ = st.redactAny(tok.Header).(map[string]any)
		tok.Claims, _ = st.redactAny(tok.Claims).(map[string]any)
	}
}

// redactAny applies the value net to every string in decoded JSON.
func (st *State) redactAny(v any) any {
	switch v := v.(type) {
	case string:
		return st.Secrets.String(v)
	case map[string]any:
		if v == nil {
			return v
		}
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = st.redactAny(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = st.redactAny(x)
		}
		return out
	}
	return v
}

func (st *State) redactFindings(fs []Finding) []Finding {
	for i := range fs {
		fs[i].Summary = st.redactText(fs[i].Summary)
	}
	return fs
}
