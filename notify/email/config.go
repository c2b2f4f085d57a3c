// Package email sends incident events as mail over SMTP
// (github.com/wneessen/go-mail), one mail per event, threaded per incident.
//
// Settings:
//
//	host: smtp.example.com
//	port: 587                                  # default: 587 (starttls), 465 (tls), 25 (none)
//	tls: starttls                              # starttls (default, mandatory) | tls | none (loopback only)
//	username: alerts@example.com               # optional; with password
//	password: ${credential:smtp_password}
//	from: "authwatch <alerts@example.com>"
//	to: [oncall@example.com, identity-team@example.com]
//	subject_prefix: "[authwatch] "
//	ca_file: /etc/authwatch/mail-ca.pem        # optional; extra trusted CAs (private PKI)
package email

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"os"
	"slices"
	"strings"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/notify"
)

// TLS modes.
const (
	// TLSStartTLS upgrades a plain connection with STARTTLS, and fails when
	// the server does not offer it (never falls back to clear text).
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (SMTPS, port 465).
	TLSImplicit = "tls"
	// TLSNone sends mail, and never credentials, in clear. It is allowed
	// only to a relay on localhost or a loopback address.
	TLSNone = "none"
)

var tlsModes = []string{TLSStartTLS, TLSImplicit, TLSNone}

func init() {
	notify.Register(notify.Kind{
		Name:      "email",
		Doc:       "Send mail over SMTP (STARTTLS by default), threaded per incident.",
		NewConfig: func() notify.Config { return &Config{} },
	})
}

// Config is the email notifier's settings.
type Config struct {
	Host string `yaml:"host" json:"host" jsonschema:"required,description=SMTP server host name."`
	Port int    `yaml:"port,omitempty" json:"port,omitempty" jsonschema:"description=SMTP port (default 587 for starttls\\, 465 for tls\\, 25 for none)."`
	// TLS is starttls (default), tls or none (loopback hosts only).
	TLS string `yaml:"tls,omitempty" json:"tls,omitempty" jsonschema:"enum=starttls,enum=tls,enum=none,description=starttls (default; mandatory)\\, tls (SMTPS) or none (only to localhost/loopback)."`
	// Username and Password authenticate (SMTP AUTH); both secrets, both or neither.
	Username conf.Template `yaml:"username,omitempty" json:"username,omitempty"`
	Password conf.Template `yaml:"password,omitempty" json:"password,omitempty" jsonschema:"description=SMTP password\\, e.g. ${credential:smtp_password}."`
	From     string        `yaml:"from" json:"from" jsonschema:"required,description=Sender\\, e.g. authwatch <alerts@example.com>."`
	To       []string      `yaml:"to" json:"to" jsonschema:"required,minItems=1"`
	// SubjectPrefix goes before every subject, e.g. "[authwatch] ".
	SubjectPrefix string `yaml:"subject_prefix,omitempty" json:"subject_prefix,omitempty"`
	// CAFile adds trusted CA certificates (PEM) for a relay with a private PKI.
	CAFile string `yaml:"ca_file,omitempty" json:"ca_file,omitempty" jsonschema:"description=PEM file of additional trusted CA certificates."`
}

var _ notify.Config = (*Config)(nil)

// Validate checks the settings and sets defaults.
func (c *Config) Validate() error {
	if c.TLS == "" {
		c.TLS = TLSStartTLS
	}
	errs := []error{c.checkHost(), c.checkTLS(), c.checkAuth(), checkAddress("from", c.From)}
	if c.Port == 0 {
		c.Port = defaultPort(c.TLS)
	}
	if c.Port < 1 || c.Port > 65535 {
		errs = append(errs, conf.FieldErrorf("port", "must be 1..65535, got %d", c.Port))
	}
	if len(c.To) == 0 {
		errs = append(errs, conf.FieldErrorf("to", "required: at least one address"))
	}
	for i, a := range c.To {
		errs = append(errs, checkAddress(fmt.Sprintf("to[%d]", i), a))
	}
	if c.CAFile != "" {
		if _, err := loadCAFile(c.CAFile); err != nil {
			errs = append(errs, conf.FieldErrorf("ca_file", "%v", err))
		}
	}
	if strings.ContainsAny(c.SubjectPrefix, "\r\n") {
		errs = append(errs, conf.FieldErrorf("subject_prefix", "must be one line"))
	}
	return errors.Join(errs...)
}

func (c *Config) checkHost() error {
	switch {
	case c.Host == "":
		return conf.FieldErrorf("host", "required")
	case net.ParseIP(c.Host) == nil && strings.ContainsAny(c.Host, ":/@ "):
		return conf.FieldErrorf("host", "give a host name or IP address only (the port goes in port), got %q", c.Host)
	}
	return nil
}

func (c *Config) checkTLS() error {
	switch {
	case !slices.Contains(tlsModes, c.TLS):
		return conf.FieldErrorf("tls", "must be one of %s, got %q", strings.Join(tlsModes, ", "), c.TLS)
	case c.TLS == TLSNone && !isLoopback(c.Host):
		return conf.FieldErrorf("tls", "none sends mail in clear: allowed only to localhost or a loopback address (a local relay), not %q; use starttls or tls", c.Host)
	}
	return nil
}

func (c *Config) checkAuth() error {
	hasUser, hasPass := !c.Username.IsZero(), !c.Password.IsZero()
	switch {
	case !hasUser && !hasPass:
		return nil
	case !hasPass:
		return conf.FieldErrorf("password", "required with username")
	case !hasUser:
		return conf.FieldErrorf("username", "required with password")
	case c.TLS == TLSNone:
		return conf.FieldErrorf("password", "credentials are never sent without TLS: use tls: starttls or tls, or drop username and password for a local relay")
	}
	return errors.Join(checkSecret("username", c.Username), checkSecret("password", c.Password))
}

func defaultPort(mode string) int {
	switch mode {
	case TLSImplicit:
		return 465
	case TLSNone:
		return 25
	}
	return 587
}

func checkAddress(path, a string) error {
	if a == "" {
		return conf.FieldErrorf(path, "required")
	}
	if _, err := mail.ParseAddress(a); err != nil {
		return conf.FieldErrorf(path, "not a mail address (%v): %q", err, a)
	}
	return nil
}

// checkSecret checks a secret setting without resolving it: step outputs
// do not exist outside flows, and a malformed reference is reported without
// echoing the text (it may be a literal secret).
func checkSecret(path string, t conf.Template) error {
	switch {
	case t.HasStepRefs():
		return conf.FieldErrorf(path, "step outputs (${steps.ID.NAME}) are not available in notifier settings; use ${env:NAME}, ${file:/path} or ${credential:NAME}")
	case len(t.Refs()) == 0:
		// No reference: expanding reads nothing and reports a parse error.
		if _, err := t.ExpandSecrets(conf.SecretSource{}); err != nil {
			return conf.FieldErrorf(path, "malformed reference: write ${env:NAME}, ${file:/absolute/path} or ${credential:NAME}, and $${ for a literal ${")
		}
	}
	return nil
}

// loadCAFile reads a PEM bundle on top of the system roots.
func loadCAFile(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool, _ := x509.SystemCertPool()
	if pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
