package webhook

import (
	"errors"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/notify"
	"github.com/authwatch/authwatch/notify/internal/httpsend"
)

func init() {
	notify.Register(notify.Kind{
		Name:      "webhook",
		Doc:       "POST every event as versioned JSON to any HTTPS endpoint, optionally signed with HMAC-SHA256.",
		NewConfig: func() notify.Config { return &Config{} },
	})
}

// Config is the webhook notifier's settings.
type Config struct {
	// URL receives the POSTs; a secret (it may hold a token), resolved on
	// every send. https, or http to a loopback address with AllowHTTP.
	URL conf.Template `yaml:"url" json:"url" jsonschema:"required,description=Receiver URL (https); may reference secrets\\, e.g. ${env:WEBHOOK_URL}."`
	// AllowHTTP permits http:// URLs to localhost and loopback addresses
	// (a local relay, tests). It MUST NOT be used to reach another host: the
	// payload and headers would travel in clear; other hosts stay refused.
	AllowHTTP bool `yaml:"allow_http,omitempty" json:"allow_http,omitempty" jsonschema:"description=Allow http:// to localhost and loopback addresses only."`
	// Headers are extra request headers (e.g. Authorization); values may
	// reference secrets. Content-Type, User-Agent, Host, Content-Length and
	// X-Authwatch-* are authwatch's own.
	Headers map[string]conf.Template `yaml:"headers,omitempty" json:"headers,omitempty" jsonschema:"description=Extra headers; values may reference secrets."`
	// HMACSecret, when set, signs every request (X-Authwatch-Signature-256).
	HMACSecret conf.Template `yaml:"hmac_secret,omitempty" json:"hmac_secret,omitempty" jsonschema:"description=Key for X-Authwatch-Signature-256\\, e.g. ${credential:webhook_hmac}."`
	// Timeout bounds one attempt, under the outbox's per-attempt timeout.
	Timeout conf.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty" jsonschema:"description=Per-attempt timeout\\, e.g. 10s (default: the outbox's)."`
}

var _ notify.Config = (*Config)(nil)

// headerToken is an RFC 9110 field name.
var headerToken = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// ownHeaders are set by authwatch; a configured one would break the
// payload's framing or its signature.
var ownHeaders = []string{"Content-Type", "Content-Length", "Host", "User-Agent", "Transfer-Encoding", "Connection"}

// Validate checks the settings; each error is a conf.FieldError.
func (c *Config) Validate() error {
	errs := []error{
		httpsend.CheckURLTemplate("url", c.URL, c.AllowHTTP),
		httpsend.CheckTemplate("hmac_secret", c.HMACSecret, false),
	}
	for _, name := range slices.Sorted(maps.Keys(c.Headers)) {
		errs = append(errs, checkHeader(name, c.Headers[name]))
	}
	return errors.Join(errs...)
}

func checkHeader(name string, v conf.Template) error {
	path := "headers." + name
	canon := http.CanonicalHeaderKey(name)
	switch {
	case !headerToken.MatchString(name):
		return conf.FieldErrorf(path, "not a valid header name")
	case slices.Contains(ownHeaders, canon) || strings.HasPrefix(canon, "X-Authwatch-"):
		return conf.FieldErrorf(path, "%s is set by authwatch and cannot be configured", canon)
	}
	if err := httpsend.CheckTemplate(path, v, false); err != nil {
		return err
	}
	if len(v.Refs()) == 0 {
		if s, _ := v.ExpandSecrets(conf.SecretSource{}); strings.ContainsAny(s, "\r\n\x00") {
			return conf.FieldErrorf(path, "a header value must be one line")
		}
	}
	return nil
}

// New makes the notifier.
func (c *Config) New(d notify.Deps) (notify.Notifier, error) {
	return newNotifier(*c, d), nil
}
