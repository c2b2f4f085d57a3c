package diagnose

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/jwtinspect"
	"github.com/authwatch/authwatch/internal/redact"
	"github.com/authwatch/authwatch/internal/setcookie"
)

// runStep runs one step as a one-step flow through the shared runner.
func (d *diagnosis) runStep(id, kind string, step flows.Step) flows.StepResult {
	if err := step.Validate(); err != nil {
		return flows.StepResult{ID: id, Kind: kind, Status: flows.StepFailed,
			Failure: &flows.Failure{Reason: flows.ReasonConfigInvalid, Summary: err.Error()}}
	}
	f := &flows.Flow{Name: "diagnose", Timeout: conf.Dur(d.o.Timeout),
		Steps: []*flows.StepSpec{{ID: id, Kind: kind, Step: step}}}
	return d.runner.Run(d.ctx, f).Steps[0]
}

func (d *diagnosis) httpStep(withCredential bool) *flows.HTTPStep {
	s := &flows.HTTPStep{Method: d.o.Method, URL: conf.NewTemplate(d.o.URL), TLSOptions: d.tls()}
	if !withCredential {
		s.Expect.Status = flows.Statuses(401, 403)
		return s
	}
	s.Auth = &flows.HTTPAuth{Audience: d.o.Audience}
	if d.o.CredentialKind == "basic" {
		s.Auth.Basic = &flows.BasicAuth{Username: conf.NewTemplate("${env:" + basicUserVar + "}"), Password: conf.NewTemplate("${env:" + basicPassVar + "}")}
	} else {
		s.Auth.Bearer = d.o.Credential
	}
	return s
}

// withoutCredential sends the request bare: it shows the network path, TLS,
// and the challenge the API offers.
func (d *diagnosis) withoutCredential() {
	res := d.runStep("without_credential", "http", d.httpStep(false))
	d.network(res)
	d.clock(res)
	switch {
	case res.Failure == nil:
		d.r.add("without credential", Pass, "", "answered %d%s", res.HTTPStatus, challengeText(res))
	case isNetwork(res.Failure.Reason):
		d.r.add("without credential", Skip, "", "no answer (see above)")
	case res.Failure.Reason == flows.ReasonAuthNotEnforced:
		d.r.add("without credential", Warn, res.Failure.Reason, "%s", res.Failure.Summary)
		d.bareAnswer = res.Failure
	default:
		d.r.add("without credential", Warn, res.Failure.Reason, "answered %d%s: %s", res.HTTPStatus, challengeText(res), res.Failure.Summary)
	}
}

// network reports DNS/connect/TLS from the first exchange, or the failure.
func (d *diagnosis) network(res flows.StepResult) {
	if f := res.Failure; f != nil && isNetwork(f.Reason) {
		d.r.add("connect", Fail, f.Reason, "%s", f.Summary)
		d.r.conclude(f)
		return
	}
	if len(res.Exchanges) == 0 {
		return
	}
	ex := res.Exchanges[0]
	t := ex.TimingsMS
	d.r.add("connect", Pass, "", "%s (connect %.1f ms, first byte %.1f ms)", ex.RemoteAddr, t["connect"], t["first_byte"])
	if tls := ex.TLS; tls != nil {
		left := time.Until(tls.NotAfter).Round(time.Hour)
		st := Pass
		if left < 14*24*time.Hour {
			st = Warn
		}
		d.r.add("tls", st, "", "%s, certificate %s (issuer %s) valid until %s (%s left)", tls.Version, tls.Subject, tls.Issuer,
			tls.NotAfter.UTC().Format(time.DateOnly), left)
	} else if d.u.Scheme == "http" {
		d.r.add("tls", Skip, "", "plain http: credentials cross the network unencrypted")
	}
}

func (d *diagnosis) clock(res flows.StepResult) {
	for _, f := range res.Findings {
		if f.Reason == flows.ReasonClockSkew {
			d.r.add("clock", Warn, f.Reason, "%s", f.Summary)
			return
		}
	}
	for _, ex := range res.Exchanges {
		if date := ex.ResponseHeaders["Date"]; len(date) > 0 {
			d.r.add("clock", Pass, "", "the server's Date (%s) agrees with this host's clock", date[0])
			return
		}
	}
}

func (d *diagnosis) discovery() {
	res := d.runStep("issuer", "discovery", &flows.DiscoveryStep{Issuer: conf.LiteralTemplate(d.o.Issuer), TLSOptions: d.tls()})
	if f := res.Failure; f != nil {
		d.r.add("issuer", Fail, f.Reason, "%s", f.Summary)
		d.r.conclude(f)
		return
	}
	d.r.add("issuer", Pass, "", "%s publishes discovery and a JWKS", d.o.Issuer)
}

// token decodes the credential locally (never sending it anywhere) and, with
// --issuer, verifies it against the issuer's JWKS.
func (d *diagnosis) token() {
	if d.o.CredentialKind == "basic" {
		return
	}
	raw, err := d.resolveCredential()
	if err != nil {
		d.r.add("token", Fail, flows.ReasonCredentialsMissing, "%v", err)
		d.r.conclude(flows.Fail(flows.ReasonCredentialsMissing, "%v", err))
		return
	}
	if !jwtinspect.LooksLikeJWT(raw) {
		d.r.add("token", Skip, "", "opaque token %s: only the issuer can introspect it", redact.Fingerprint(raw))
		return
	}
	t, err := jwtinspect.Parse(raw)
	if err != nil {
		d.r.add("token", Warn, "", "looks like a JWT but does not decode: %v", err)
		return
	}
	kind, why := t.Kind()
	d.r.Token = &flows.TokenEvidence{Fingerprint: redact.Fingerprint(raw), Kind: kind,
		Header: map[string]any{"alg": t.Alg, "kid": t.Kid, "typ": t.Typ}, Claims: t.SafeClaims()}
	d.r.add("token", Pass, "", "%s token %s: iss %s, aud %v, %s (%s)", kind, redact.Fingerprint(raw), t.Issuer, t.Audience, lifetime(t), why)
	step := &flows.TokenCheckStep{Token: d.o.Credential, Issuer: conf.LiteralTemplate(d.o.Issuer), TLSOptions: d.tls()}
	if d.o.Audience != "" {
		step.Expect.Audience = []string{d.o.Audience}
	}
	res := d.runStep("token", "token_check", step)
	switch {
	case res.Failure != nil:
		d.r.add("token checks", Fail, res.Failure.Reason, "%s", res.Failure.Summary)
		d.r.conclude(res.Failure)
	case d.o.Issuer != "":
		d.r.add("token checks", Pass, "", "signature verifies against %s's JWKS; iss and times are valid", d.o.Issuer)
	default:
		d.r.add("token checks", Pass, "", "times are valid (give --issuer to verify the signature)")
	}
}

func (d *diagnosis) resolveCredential() (string, error) {
	refs := d.o.Credential.Refs()
	if len(refs) != 1 {
		return "", fmt.Errorf("the credential must be one secret reference")
	}
	return d.runner.Secrets.Resolve(refs[0])
}

func (d *diagnosis) withCredential() {
	res := d.runStep("with_credential", "http", d.httpStep(true))
	d.redirects(res)
	d.cookies(res)
	if f := res.Failure; f != nil {
		d.r.add("with credential", Fail, f.Reason, "%s", f.Summary)
		if d.r.Reason == f.Reason { // the API's answer adds its own words
			d.r.Summary = f.Summary
		}
		d.r.conclude(f)
		return
	}
	d.r.add("with credential", Pass, "", "answered %d", res.HTTPStatus)
	if d.bareAnswer != nil && res.HTTPStatus == d.bareStatus() {
		d.r.conclude(d.bareAnswer)
	}
}

func (d *diagnosis) bareStatus() int {
	for _, f := range d.bareAnswer.Evidence.Facts {
		if f.Name == "status" {
			var n int
			fmt.Sscan(f.Value, &n)
			return n
		}
	}
	return 0
}

func (d *diagnosis) redirects(res flows.StepResult) {
	if len(res.Exchanges) < 2 {
		return
	}
	var hops []string
	for _, ex := range res.Exchanges {
		auth := "no Authorization"
		if len(ex.RequestHeaders["Authorization"]) > 0 {
			auth = "with Authorization"
		}
		hops = append(hops, fmt.Sprintf("%d %s (%s)", ex.Status, ex.URL, auth))
	}
	d.r.add("redirects", Warn, "", "%s", strings.Join(hops, " → "))
}

func (d *diagnosis) cookies(res flows.StepResult) {
	for _, ex := range res.Exchanges {
		for _, line := range ex.ResponseHeaders["Set-Cookie"] {
			c, err := http.ParseSetCookie(withPlaceholderValue(line))
			if err != nil {
				continue
			}
			problems := setcookie.Check(c, d.u)
			if len(problems) == 0 {
				d.r.add("cookie "+c.Name, Pass, "", "%s", setcookie.Describe(c))
				continue
			}
			d.r.add("cookie "+c.Name, Warn, flows.ReasonCookieAttributesInvalid, "%s: %s", problems[0].Attribute, problems[0].Detail)
		}
	}
}

// withPlaceholderValue swaps a redacted cookie value for a parseable one:
// the checks look at attributes only.
func withPlaceholderValue(setCookie string) string {
	first, attrs, _ := strings.Cut(setCookie, ";")
	name, _, _ := strings.Cut(first, "=")
	if attrs != "" {
		attrs = ";" + attrs
	}
	return name + "=redacted" + attrs
}

func (d *diagnosis) preflight() {
	step := &flows.PreflightStep{URL: conf.NewTemplate(d.o.URL), Origin: d.o.Origin, Method: d.o.Method, TLSOptions: d.tls()}
	if !d.o.Credential.IsZero() {
		step.Headers = []string{"Authorization"}
	}
	res := d.runStep("preflight", "preflight", step)
	if f := res.Failure; f != nil {
		d.r.add("cors preflight", Fail, f.Reason, "%s", f.Summary)
		d.r.conclude(f)
		return
	}
	d.r.add("cors preflight", Pass, "", "OPTIONS from %s answered %d and allows the request", d.o.Origin, res.HTTPStatus)
}

func isNetwork(r flows.Reason) bool { return r.Layer() == flows.LayerNetwork }

func challengeText(res flows.StepResult) string {
	if n := len(res.Exchanges); n > 0 {
		if c := res.Exchanges[n-1].ResponseHeaders["Www-Authenticate"]; len(c) > 0 {
			return "; challenge: " + strings.Join(c, ", ")
		}
	}
	return ""
}

func lifetime(t *jwtinspect.Token) string {
	if t.ExpiresAt == nil {
		return "no exp"
	}
	left := time.Until(*t.ExpiresAt).Round(time.Second)
	if left < 0 {
		return fmt.Sprintf("expired %s ago", -left)
	}
	return fmt.Sprintf("expires in %s", left)
}

func (d *diagnosis) tls() flows.TLSOptions { return flows.TLSOptions{CAFile: d.o.CAFile} }
