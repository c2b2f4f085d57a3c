package statuspage

import (
	"errors"
	"net"
	"strings"
	"unicode"

	"github.com/authwatch/authwatch/internal/conf"
)

// Config is the status page's section of authwatch.yaml (status_page:).
//
//	status_page:
//	  auth:
//	    basic:
//	      username: ops
//	      password: ${credential:statuspage-password}
//	    bearer: ${env:AUTHWATCH_STATUS_TOKEN}
type Config struct {
	// Auth protects every page, API call and asset. Required when the
	// listener is not loopback (see CheckListen); optional otherwise.
	Auth *AuthConfig `yaml:"auth"`
	// MetricsAuth "none" serves /metrics without authentication, for a
	// scraper that cannot send credentials (it names every flow and
	// reason: prefer basic_auth or authorization in the scrape config).
	// Default, or "required": behind Auth like every route.
	MetricsAuth string `yaml:"metrics_auth"`
	// HealthAuth "none" answers /healthz and /readyz without
	// authentication, for load balancers, with the status only (ok or
	// unhealthy); the detail (errors, paths) needs credentials. Default, or
	// "required": behind Auth like every route.
	HealthAuth string `yaml:"health_auth"`
}

// Route opt-outs of MetricsAuth and HealthAuth.
const (
	AuthRequired = "required"
	AuthNone     = "none"
)

// MetricsPublic reports whether /metrics is served without authentication.
func (c Config) MetricsPublic() bool { return c.Auth == nil || c.MetricsAuth == AuthNone }

// HealthPublic reports whether /healthz and /readyz answer (their status
// only) without authentication.
func (c Config) HealthPublic() bool { return c.Auth == nil || c.HealthAuth == AuthNone }

// AuthConfig lists the accepted credentials; a request passes with any
// one of them. Secrets are references (${env:…}, ${file:…},
// ${credential:…}), resolved on every request so that a rotated
// credential is used without a restart.
type AuthConfig struct {
	Basic *BasicAuth `yaml:"basic"`
	// Bearer is a token for API clients: Authorization: Bearer <token>.
	Bearer conf.Template `yaml:"bearer"`
}

// BasicAuth is HTTP Basic authentication (RFC 7617), what browsers prompt for.
type BasicAuth struct {
	Username string        `yaml:"username"`
	Password conf.Template `yaml:"password"`
}

// Validate checks the section; paths are relative to it (prefix them with
// "status_page" via conf.PrefixErrors).
func (c Config) Validate() error {
	var errs []error
	for _, opt := range []struct{ name, v string }{{"metrics_auth", c.MetricsAuth}, {"health_auth", c.HealthAuth}} {
		if opt.v != "" && opt.v != AuthRequired && opt.v != AuthNone {
			errs = append(errs, conf.FieldErrorf(opt.name, "must be %q or %q, got %q", AuthRequired, AuthNone, opt.v))
		}
	}
	if c.Auth != nil {
		errs = append(errs, conf.PrefixErrors("auth", c.Auth.Validate()))
	}
	return errors.Join(errs...)
}

// Validate checks the credentials' form (not their values, which are read
// per request).
func (a *AuthConfig) Validate() error {
	if a.Basic == nil && a.Bearer.IsZero() {
		return conf.FieldErrorf("", "give basic (username and password), bearer, or both")
	}
	var errs []error
	if b := a.Basic; b != nil {
		switch {
		case b.Username == "":
			errs = append(errs, conf.FieldErrorf("basic.username", "must not be empty"))
		case strings.Contains(b.Username, ":"):
			errs = append(errs, conf.FieldErrorf("basic.username", "must not contain ':' (RFC 7617)"))
		case strings.IndexFunc(b.Username, unicode.IsControl) >= 0:
			errs = append(errs, conf.FieldErrorf("basic.username", "must not contain control characters"))
		}
		errs = append(errs, secretRefErr("basic.password", b.Password))
	}
	if !a.Bearer.IsZero() {
		errs = append(errs, secretRefErr("bearer", a.Bearer))
	}
	return errors.Join(errs...)
}

// secretRefErr: a credential must come from a secret reference, never be
// written into authwatch.yaml, and cannot use step outputs.
func secretRefErr(path string, t conf.Template) error {
	if t.IsZero() {
		return conf.FieldErrorf(path, "must not be empty")
	}
	if t.HasStepRefs() {
		return conf.FieldErrorf(path, "step outputs are not available here; use ${env:…}, ${file:…} or ${credential:…}")
	}
	for _, r := range t.Refs() {
		if r.IsSecret() {
			return nil
		}
	}
	// A malformed reference has no Refs either; the loader reports its
	// parse error at the same path.
	return conf.FieldErrorf(path, "must be a secret reference (${env:NAME}, ${file:/path} or ${credential:NAME}), not a literal value")
}

// RequireAuth reports whether a listener on listenAddr must be protected:
// true unless it is bound to a loopback address (127.0.0.0/8, ::1,
// localhost). An empty host (":9464": every interface) or an address that
// does not parse requires it.
func RequireAuth(listenAddr string) bool {
	host, _, err := net.SplitHostPort(listenAddr)
	if err != nil {
		return true
	}
	if strings.EqualFold(host, "localhost") {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// CheckListen refuses to serve the status page beyond loopback without
// authentication. Call it when validating authwatch.yaml with the
// listener's address (after flags override it).
func (c Config) CheckListen(listenAddr string) error {
	if c.Auth == nil && RequireAuth(listenAddr) {
		return conf.FieldErrorf("auth", "the status page would listen on %s, beyond loopback, without authentication: configure basic or bearer credentials (an auth monitor's evidence must not leak), or listen on 127.0.0.1", listenAddr)
	}
	return nil
}
