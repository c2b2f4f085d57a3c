// Package diagnose is the one-shot troubleshooter behind `authwatch
// diagnose`: it walks the layers a person debugs a 401 in (DNS, connection
// and TLS, the answer without and with the credential, the token itself,
// clocks, CORS, redirects, cookies) and ends in the primary reason and the
// next step. Every check runs through the flows package, so the reasons are
// the same ones the daemon pages with.
package diagnose

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
)

// Options describe what to diagnose.
type Options struct {
	URL    string
	Method string
	// Credential is a secret reference: ${env:VAR} or ${file:/path}. It never
	// leaves the machine except to URL (and is never printed).
	Credential conf.Template
	// CredentialKind is "bearer" or "basic" (basic: the secret is user:password).
	CredentialKind string
	Origin         string
	Issuer         string
	Audience       string
	Timeout        time.Duration
	// CAFile trusts a private CA (PEM) for every request.
	CAFile string
	// Secrets resolves the credential reference (default: the process).
	Secrets conf.SecretSource
}

// The basic credential ("user:password" in one secret) is split into these
// names, served only to the diagnosis's own runner.
const (
	basicUserVar = "AUTHWATCH_DIAGNOSE_BASIC_USER"
	basicPassVar = "AUTHWATCH_DIAGNOSE_BASIC_PASSWORD"
)

// Status of one check.
type Status string

// Check outcomes.
const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
	Skip Status = "skip"
)

// Check is one line of the checklist.
type Check struct {
	Name   string       `json:"name"`
	Status Status       `json:"status"`
	Detail string       `json:"detail"`
	Reason flows.Reason `json:"reason,omitempty"`
}

// Report is the checklist and its conclusion.
type Report struct {
	URL      string               `json:"url"`
	Checks   []Check              `json:"checks"`
	Token    *flows.TokenEvidence `json:"token,omitempty"`
	Reason   flows.Reason         `json:"reason,omitempty"`
	Layer    flows.Layer          `json:"layer,omitempty"`
	Summary  string               `json:"summary,omitempty"`
	NextStep string               `json:"next_step,omitempty"`
	// Evidence is the failing step's redacted evidence.
	Evidence *flows.Evidence `json:"evidence,omitempty"`
}

// OK reports whether nothing failed.
func (r *Report) OK() bool { return r.Reason == "" }

func (r *Report) add(name string, st Status, reason flows.Reason, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, Status: st, Reason: reason, Detail: fmt.Sprintf(format, args...)})
}

// conclude makes f the primary reason unless an earlier layer already is.
func (r *Report) conclude(f *flows.Failure) {
	if f == nil || r.Reason != "" {
		return
	}
	r.Reason, r.Layer, r.Summary, r.NextStep = f.Reason, f.Reason.Layer(), f.Summary, f.NextStep()
	ev := f.Evidence
	r.Evidence = &ev
}

// Run walks the layers in order. It never returns an error for what the
// target does: that is what the report is about.
func Run(ctx context.Context, o Options) (*Report, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("the URL must be an absolute http(s) URL, got %q", o.URL)
	}
	if o.Timeout == 0 {
		o.Timeout = 15 * time.Second
	}
	r := &Report{URL: u.Redacted()}
	runner := flows.NewRunner()
	runner.Secrets = o.Secrets
	d := &diagnosis{ctx: ctx, runner: runner, o: o, u: u, r: r}
	if o.CredentialKind == "basic" {
		if err := d.splitBasic(); err != nil {
			r.add("credential", Fail, flows.ReasonCredentialsMissing, "%v", err)
			r.conclude(flows.Fail(flows.ReasonCredentialsMissing, "%v", err))
			return r, nil
		}
	}
	if !d.resolve() {
		return r, nil
	}
	d.withoutCredential()
	if o.Issuer != "" {
		d.discovery()
	}
	if !o.Credential.IsZero() {
		d.token()
		d.withCredential()
	} else {
		r.add("with credential", Skip, "", "no credential given (--bearer-env, --bearer-file or --basic-env)")
	}
	if o.Origin != "" {
		d.preflight()
	}
	return r, nil
}

type diagnosis struct {
	ctx    context.Context
	runner *flows.Runner
	o      Options
	u      *url.URL
	r      *Report
	// bareAnswer is the failure of the request without credential when it
	// was answered 2xx: auth_not_enforced, if the credential changes nothing.
	bareAnswer *flows.Failure
}

// splitBasic reads "user:password" and serves the halves to the runner
// under private names, so both stay secrets.
func (d *diagnosis) splitBasic() error {
	value, err := d.resolveCredential()
	if err != nil {
		return err
	}
	user, pass, ok := strings.Cut(value, ":")
	if !ok {
		return fmt.Errorf("the basic credential must be user:password")
	}
	outer := d.runner.Secrets.LookupEnv
	if outer == nil {
		outer = os.LookupEnv
	}
	d.runner.Secrets.LookupEnv = func(name string) (string, bool) {
		switch name {
		case basicUserVar:
			return user, true
		case basicPassVar:
			return pass, true
		}
		return outer(name)
	}
	return nil
}

func (d *diagnosis) resolve() bool {
	host := d.u.Hostname()
	if net.ParseIP(host) != nil {
		d.r.add("dns", Skip, "", "%s is an IP address", host)
		return true
	}
	ctx, cancel := context.WithTimeout(d.ctx, 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil {
		f := flows.Fail(flows.ReasonDNSFailure, "host name %s does not resolve: %v", host, err)
		d.r.add("dns", Fail, f.Reason, "%s", f.Summary)
		d.r.conclude(f)
		return false
	}
	d.r.add("dns", Pass, "", "%s resolves to %v", host, addrs)
	return true
}
