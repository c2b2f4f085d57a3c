package flows_test

// Shared helpers of the real-component integration tests (integration_*_test.go):
// load a flow from YAML, run it, find the failed step, and check that nothing
// a person or a machine can read holds a secret.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/report"
)

// itJwtCandidate matches what may start a compact JWS/JWT: a base64url
// segment beginning "eyJ" (base64url of `{"`) and the dot after it.
var itJwtCandidate = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.`)

// itFindJWT returns the start of the first JWT in text: a candidate whose
// first segment decodes to a JSON object with an "alg" member, as every
// JWS header does. A random id that happens to start with "eyJ" (an
// oidc-provider interaction id in a cookie path did, and failed a run)
// does not decode to that. A cut token still counts: only its header
// and the dot after it are needed.
func itFindJWT(text string) string {
	for _, m := range itJwtCandidate.FindAllString(text, -1) {
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimSuffix(m, "."))
		var header map[string]any
		if err != nil || json.Unmarshal(raw, &header) != nil {
			continue
		}
		if _, ok := header["alg"]; ok {
			return m
		}
	}
	return ""
}

// lookupFrom is a secret source over a map, falling back to next (may be nil).
func itLookupFrom(m map[string]string, next func(string) (string, bool)) func(string) (string, bool) {
	return func(name string) (string, bool) {
		if v, ok := m[name]; ok {
			return v, true
		}
		if next != nil {
			return next(name)
		}
		return "", false
	}
}

// newRunner is flows.NewRunner with the given env lookup as secret source.
func itNewRunner(lookup func(string) (string, bool)) *flows.Runner {
	r := flows.NewRunner()
	r.Secrets = conf.SecretSource{LookupEnv: lookup}
	return r
}

// itTappedRunner is itNewRunner with its transport tapped (itReceived).
// Such a runner cannot run steps with ca_file or insecure_skip_verify:
// the runner derives their transports from an *http.Transport.
func itTappedRunner(lookup func(string) (string, bool)) *flows.Runner {
	r := itNewRunner(lookup)
	tap := &itTokenTap{base: r.Transport}
	r.Transport = tap
	itTaps.Store(r, tap)
	return r
}

// itTaps maps each runner of itTappedRunner to its tap.
var itTaps sync.Map // *flows.Runner → *itTokenTap

// itReceived returns the tokens the flows of r received and the
// credentials they sent, as seen on the wire (see itTokenTap): the values
// the leak checks look for. Nil for a runner not made by itTappedRunner.
func itReceived(r *flows.Runner) []string {
	tap, ok := itTaps.Load(r)
	if !ok {
		return nil
	}
	return tap.(*itTokenTap).seen()
}

// itTokenTap is a transport that keeps the tokens in JSON answers and the
// credentials in form bodies, by the names OAuth gives them (RFC 6749,
// 7523, 8628, 8693; not the production list of secret names, which this
// checks). Browser requests do not pass through it; the token requests
// of a browser login do.
type itTokenTap struct {
	base http.RoundTripper

	mu     sync.Mutex
	values []string
}

var (
	itTokenMembers = []string{"access_token", "id_token", "refresh_token", "device_code", "issued_token"}
	itSentFields   = []string{"code", "code_verifier", "refresh_token", "client_secret", "password", "client_assertion", "subject_token", "actor_token", "device_code"}
)

// itMinSecretLen keeps short values ("x", "pw") out of the leak checks:
// they occur in any text by chance. Issued tokens and codes are longer.
const itMinSecretLen = 12

func (tp *itTokenTap) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.GetBody != nil && strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if body, err := req.GetBody(); err == nil {
			b, _ := io.ReadAll(io.LimitReader(body, 1<<20))
			body.Close()
			if form, err := url.ParseQuery(string(b)); err == nil {
				for _, name := range itSentFields {
					tp.keep(form[name]...)
				}
			}
		}
	}
	if _, pass, ok := req.BasicAuth(); ok {
		tp.keep(pass)
	}
	resp, err := tp.base.RoundTrip(req)
	if err != nil || !strings.Contains(resp.Header.Get("Content-Type"), "json") {
		return resp, err
	}
	// Read along with the step (its timing and limits stay its own); the
	// JSON is looked at when the step closes the body.
	resp.Body = &itTapBody{ReadCloser: resp.Body, tap: tp}
	return resp, nil
}

// itTapBody keeps the first MiBs of a JSON answer as the step reads it.
type itTapBody struct {
	io.ReadCloser
	tap  *itTokenTap
	buf  bytes.Buffer
	done bool
}

func (b *itTapBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if b.buf.Len() < 4<<20 {
		b.buf.Write(p[:n])
	}
	return n, err
}

func (b *itTapBody) Close() error {
	if !b.done {
		b.done = true
		var m map[string]any
		if json.Unmarshal(b.buf.Bytes(), &m) == nil {
			for _, name := range itTokenMembers {
				if v, ok := m[name].(string); ok {
					b.tap.keep(v)
				}
			}
		}
	}
	return b.ReadCloser.Close()
}

func (tp *itTokenTap) keep(vs ...string) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	for _, v := range vs {
		if len(v) >= itMinSecretLen && !slices.Contains(tp.values, v) {
			tp.values = append(tp.values, v)
		}
	}
}

func (tp *itTokenTap) seen() []string {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return slices.Clone(tp.values)
}

// loadFlow loads exactly one flow from YAML (the test fails if it does not load).
func itLoadFlow(t *testing.T, r *flows.Runner, yaml string) *flows.Flow {
	t.Helper()
	name := strings.ReplaceAll(t.Name(), "/", "_") + ".yaml"
	set, err := flows.LoadBytes(flows.LoadOptions{Secrets: r.Secrets}, name, []byte(yaml))
	if err != nil {
		t.Fatalf("flow does not load:\n%v\n--- yaml:\n%s", err, yaml)
	}
	if len(set.Flows) != 1 {
		t.Fatalf("want 1 flow, got %d", len(set.Flows))
	}
	return set.Flows[0]
}

// runYAML loads one flow and runs it once.
func itRunYAML(t *testing.T, r *flows.Runner, yaml string) *flows.Result {
	t.Helper()
	return r.Run(t.Context(), itLoadFlow(t, r, yaml))
}

// describe renders a result for failure messages: every step, its reason,
// summary, facts, findings and notes.
func itDescribe(res *flows.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "flow %s ok=%v cancelled=%v\n", res.Flow, res.OK, res.Cancelled)
	for _, s := range res.Steps {
		fmt.Fprintf(&b, "  step %s (%s): %s http=%d\n", s.ID, s.Kind, s.Status, s.HTTPStatus)
		if f := s.Failure; f != nil {
			fmt.Fprintf(&b, "    reason %s: %s\n", f.Reason, f.Summary)
			for _, itFact := range f.Evidence.Facts {
				fmt.Fprintf(&b, "    fact %s = %s\n", itFact.Name, itFact.Value)
			}
			if f.Err != nil {
				fmt.Fprintf(&b, "    err: %v\n", f.Err)
			}
		}
		for _, fd := range s.Findings {
			fmt.Fprintf(&b, "    finding %s: %s\n", fd.Reason, fd.Summary)
		}
		for _, n := range s.Notes {
			fmt.Fprintf(&b, "    note: %s\n", n)
		}
	}
	return b.String()
}

// step returns the result of the step with the given id.
func itStep(t *testing.T, res *flows.Result, id string) *flows.StepResult {
	t.Helper()
	for i := range res.Steps {
		if res.Steps[i].ID == id {
			return &res.Steps[i]
		}
	}
	t.Fatalf("no step %q in result:\n%s", id, itDescribe(res))
	return nil
}

// mustPass fails the test unless every step passed (or passed with a warning).
func itMustPass(t *testing.T, res *flows.Result) {
	t.Helper()
	if !res.OK {
		t.Fatalf("flow failed, want pass:\n%s", itDescribe(res))
	}
	for _, s := range res.Steps {
		if !s.OK() {
			t.Fatalf("step %s is %s, want pass:\n%s", s.ID, s.Status, itDescribe(res))
		}
	}
}

// mustFail asserts that step id failed with reason and returns its failure.
// Every later step must have been skipped.
func itMustFail(t *testing.T, res *flows.Result, id string, reason flows.Reason) *flows.Failure {
	t.Helper()
	if res.OK {
		t.Fatalf("flow passed, want %s at step %s:\n%s", reason, id, itDescribe(res))
	}
	s := itStep(t, res, id)
	if s.Status != flows.StepFailed || s.Failure == nil {
		t.Fatalf("step %s is %s, want failed with %s:\n%s", id, s.Status, reason, itDescribe(res))
	}
	if s.Failure.Reason != reason {
		t.Fatalf("step %s failed with %s, want %s:\n%s", id, s.Failure.Reason, reason, itDescribe(res))
	}
	if s.Failure.Step != id || s.Failure.Flow != res.Flow {
		t.Errorf("failure names %s/%s, want %s/%s", s.Failure.Flow, s.Failure.Step, res.Flow, id)
	}
	if got := res.Failure(); got != s.Failure {
		t.Errorf("Result.Failure() is not the failure of step %s", id)
	}
	after := false
	for _, other := range res.Steps {
		if after && other.Status != flows.StepSkipped {
			t.Errorf("step %s after the failed step is %s, want skip", other.ID, other.Status)
		}
		after = after || other.ID == id
	}
	if s.Failure.Reason.Info().Layer == flows.LayerMonitor && reason != flows.ReasonInternalError && reason != flows.ReasonConfigInvalid {
		t.Errorf("reason %s is not in the reason table", reason)
	}
	return s.Failure
}

// summaryHas asserts that the failure's summary contains every part.
func itSummaryHas(t *testing.T, f *flows.Failure, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(f.Summary, p) {
			t.Errorf("summary lacks %q:\n  %s", p, f.Summary)
		}
	}
}

// fact returns the value of a named fact of the failure's evidence.
func itFact(f *flows.Failure, name string) (string, bool) {
	for _, fc := range f.Evidence.Facts {
		if fc.Name == name {
			return fc.Value, true
		}
	}
	return "", false
}

// factIs asserts a fact's value.
func itFactIs(t *testing.T, f *flows.Failure, name, want string) {
	t.Helper()
	got, ok := itFact(f, name)
	if !ok {
		t.Errorf("evidence has no fact %q; facts: %+v", name, f.Evidence.Facts)
		return
	}
	if got != want {
		t.Errorf("fact %s = %q, want %q", name, got, want)
	}
}

// finding returns the first finding of the given reason in the result.
func itFinding(res *flows.Result, reason flows.Reason) (flows.Finding, bool) {
	for _, f := range res.Findings() {
		if f.Reason == reason {
			return f, true
		}
	}
	return flows.Finding{}, false
}

// renderings returns every form in which a result leaves the run: the
// --json lines, the human table, %+v and %#v of the result and of every
// failure, evidence, exchange and finding, and their JSON encodings.
func itRenderings(t *testing.T, results ...*flows.Result) map[string]string {
	t.Helper()
	out := map[string]string{}
	var js bytes.Buffer
	for _, r := range results {
		if err := report.JSON(&js, r); err != nil {
			t.Fatalf("report.JSON: %v", err)
		}
	}
	out["report.JSON"] = js.String()
	var human bytes.Buffer
	if err := report.Human(&human, results, report.Style{}); err != nil {
		t.Fatalf("report.Human: %v", err)
	}
	out["report.Human"] = human.String()
	add := func(name string, v any) {
		out[name+" %+v"] += fmt.Sprintf("%+v\n", v)
		out[name+" %v"] += fmt.Sprintf("%v\n", v)
		b, err := json.Marshal(v)
		if err != nil {
			out[name+" json.Marshal error"] += err.Error() + "\n"
			return
		}
		out[name+" json.Marshal"] += string(b) + "\n"
	}
	for _, r := range results {
		add("Result", r)
		add("*Result", *r)
		for _, s := range r.Steps {
			add("StepResult", s)
			for _, ex := range s.Exchanges {
				add("ExchangeEvidence", ex)
			}
			for _, fd := range s.Findings {
				add("Finding", fd)
			}
			if f := s.Failure; f != nil {
				add("*Failure", f)
				add("Failure", itFailureFields(f))
				add("Evidence", f.Evidence)
				out["Failure.Error()"] += f.Error() + "\n"
				if f.Evidence.Token != nil {
					add("TokenEvidence", *f.Evidence.Token)
				}
			}
		}
	}
	return out
}

// failureFields is a Failure's fields without its method set, so %+v prints
// every field (Err included) instead of calling Error().
type itFailureView struct {
	Flow, Step, Reason, Summary, Next string
	Evidence                          flows.Evidence
	RetryAfter                        string
	Err                               error
}

func itFailureFields(f *flows.Failure) itFailureView {
	return itFailureView{Flow: f.Flow, Step: f.Step, Reason: string(f.Reason), Summary: f.Summary, Next: f.NextStep(),
		Evidence: f.Evidence, RetryAfter: f.RetryAfter.String(), Err: f.Err}
}

// assertNoSecrets fails the test once for every secret (and once for any
// JWT) that appears in some rendering of results, naming every rendering.
// secrets are the values the test knows: the secrets it configured and
// the tokens its flows received (itReceived); the JWT check is the net
// for tokens a test did not collect.
func itAssertNoSecrets(t *testing.T, secrets []string, results ...*flows.Result) {
	t.Helper()
	rs := itRenderings(t, results...)
	names := make([]string, 0, len(rs))
	for name := range rs {
		names = append(names, name)
	}
	slices.Sort(names)
	report := func(what, needle string, where []string) {
		t.Helper()
		t.Errorf("%s appears in %d renderings (%s); e.g. in %s:\n%s", what, len(where), strings.Join(where, ", "), where[0], itExcerpt(rs[where[0]], needle))
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		var where []string
		for _, name := range names {
			if strings.Contains(rs[name], s) {
				where = append(where, name)
			}
		}
		if len(where) > 0 {
			report("secret "+itMask(s), s, where)
		}
	}
	var where []string
	var first string
	for _, name := range names {
		if m := itFindJWT(rs[name]); m != "" {
			where = append(where, name)
			if first == "" {
				first = m
			}
		}
	}
	if len(where) > 0 {
		report("a JWT ("+first[:min(len(first), 12)]+"…)", first, where)
	}
}

// assertTextHasNoSecrets is assertNoSecrets for any text (logs, command output).
func itAssertTextHasNoSecrets(t *testing.T, where, text string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("secret %s appears in %s:\n%s", itMask(s), where, itExcerpt(text, s))
		}
	}
	if m := itFindJWT(text); m != "" {
		t.Errorf("a JWT (%s…) appears in %s:\n%s", m[:min(len(m), 12)], where, itExcerpt(text, m))
	}
}

// mask shows a secret's first characters only, so a test failure does not
// print a real token in full either.
func itMask(s string) string {
	if len(s) <= 6 {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q…(%d chars)", s[:6], len(s))
}

func itExcerpt(text, needle string) string {
	i := strings.Index(text, needle)
	if i < 0 {
		return ""
	}
	from, to := max(i-160, 0), min(i+len(needle)+80, len(text))
	return "…" + strings.ReplaceAll(text[from:to], needle, "<<"+itMask(needle)+">>") + "…"
}

// closedPort returns a 127.0.0.1 port that nothing listens on (it was bound
// and released a moment ago).
func itClosedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
