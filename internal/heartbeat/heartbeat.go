// Package heartbeat is the daemon's dead man's switch: it pings an outside
// service (healthchecks.io, Cronitor, Better Stack, Dead Man's Snitch, an
// Uptime Kuma push monitor, ...) at a fixed interval while the daemon is
// healthy, so that a monitor that died, hung or cannot record anything is
// noticed by something that is not itself.
//
// A ping is withheld, not sent, while the daemon says it is unhealthy: the
// service then raises its own alarm after its grace period.
package heartbeat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/version"
)

// Config is the heartbeat section of authwatch.yaml:
//
//	heartbeat:
//	  url: https://hc-ping.com/${credential:healthchecks_uuid}
//	  every: 1m
//	  method: POST
type Config struct {
	// URL is pinged; it may hold secret references (${env:}, ${file:},
	// ${credential:}), resolved at every ping, as ping URLs are capabilities.
	URL conf.Template `yaml:"url"`
	// Every is the interval (default 1m, at least 1s).
	Every conf.Duration `yaml:"every"`
	// Method is GET (default), HEAD or POST (a short status text as body).
	Method string `yaml:"method"`
	// Timeout bounds one ping (default 10s, at most Every).
	Timeout conf.Duration `yaml:"timeout"`
}

// Defaults.
const (
	DefaultEvery   = time.Minute
	DefaultTimeout = 10 * time.Second
)

// Validate checks the section; paths are relative to it.
func (c *Config) Validate() error {
	var errs []error
	switch raw := c.URL.String(); {
	case raw == "":
		errs = append(errs, conf.FieldErrorf("url", "required: the ping URL of the dead man's switch"))
	case c.URL.HasStepRefs():
		errs = append(errs, conf.FieldErrorf("url", "may reference secrets (${env:}, ${file:}, ${credential:}), not steps"))
	case strings.HasPrefix(raw, "${"): // the whole URL is a secret: checked when resolved
	default:
		if u, err := url.Parse(raw); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, conf.FieldErrorf("url", "must be an http(s) URL"))
		}
	}
	if d := c.Every.Std(); d != 0 && d < time.Second {
		errs = append(errs, conf.FieldErrorf("every", "must be at least 1s, got %s", d))
	}
	if d := c.Timeout.Std(); d < 0 || (d > 0 && d > c.every()) {
		errs = append(errs, conf.FieldErrorf("timeout", "must be positive and at most every (%s)", c.every()))
	}
	switch strings.ToUpper(c.Method) {
	case "", http.MethodGet, http.MethodHead, http.MethodPost:
	default:
		errs = append(errs, conf.FieldErrorf("method", "must be GET, HEAD or POST, got %q", c.Method))
	}
	return errors.Join(errs...)
}

func (c *Config) every() time.Duration {
	if d := c.Every.Std(); d > 0 {
		return d
	}
	return DefaultEvery
}

func (c *Config) timeout() time.Duration {
	if d := c.Timeout.Std(); d > 0 {
		return d
	}
	return min(DefaultTimeout, c.every())
}

func (c *Config) method() string {
	if c.Method == "" {
		return http.MethodGet
	}
	return strings.ToUpper(c.Method)
}

// Pinger sends the heartbeats.
type Pinger struct {
	Config  Config
	Secrets conf.SecretSource
	// Healthy says whether to ping, and why not (for the log).
	Healthy func() (ok bool, why string)
	// Status is the POST body (a line such as "12 flows, store writable").
	Status    func() string
	Client    *http.Client // default: bounded, no redirects
	Logger    *slog.Logger
	OnOutcome func(result string) // success, failure, withheld
	UserAgent string              // default: version.UserAgent()
}

// Run pings at once and then every interval until ctx ends. A failed or
// withheld ping is logged when the outcome changes, not at every interval.
func (p *Pinger) Run(ctx context.Context) {
	ticker := time.NewTicker(p.Config.every())
	defer ticker.Stop()
	last := ""
	for {
		outcome, detail := p.beat(ctx)
		if p.OnOutcome != nil {
			p.OnOutcome(outcome)
		}
		if outcome != last {
			p.logOutcome(outcome, detail)
			last = outcome
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

func (p *Pinger) logOutcome(outcome, detail string) {
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	switch outcome {
	case "success":
		log.Info("heartbeat: pinging", "target", p.target())
	case "withheld":
		log.Warn("heartbeat: withheld while the daemon is unhealthy; the dead man's switch will raise the alarm", "why", detail)
	default:
		log.Error("heartbeat: ping failed", "target", p.target(), "err", detail)
	}
}

// beat pings once if healthy.
func (p *Pinger) beat(ctx context.Context) (outcome, detail string) {
	if p.Healthy != nil {
		if ok, why := p.Healthy(); !ok {
			return "withheld", why
		}
	}
	if err := p.ping(ctx); err != nil {
		return "failure", err.Error()
	}
	return "success", ""
}

// ErrRedirect is a ping answered with a redirect: not followed, as the
// URL's secret would travel on.
var ErrRedirect = errors.New("answered with a redirect (not followed)")

func (p *Pinger) ping(ctx context.Context) error {
	raw, err := p.Config.URL.ExpandSecrets(p.Secrets)
	if err != nil {
		return err // names the reference, never a value
	}
	ctx, cancel := context.WithTimeout(ctx, p.Config.timeout())
	defer cancel()
	var body io.Reader
	if p.Config.method() == http.MethodPost && p.Status != nil {
		body = strings.NewReader(p.Status())
	}
	req, err := http.NewRequestWithContext(ctx, p.Config.method(), raw, body)
	if err != nil {
		return fmt.Errorf("bad ping URL (after resolving its references)")
	}
	if body != nil {
		req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	}
	req.Header.Set("User-Agent", p.userAgent())
	resp, err := p.client().Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // *url.Error repeats the URL, which holds the secret
		}
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return fmt.Errorf("%s %w", resp.Status, ErrRedirect)
	case resp.StatusCode >= 300:
		return fmt.Errorf("answered %s", resp.Status)
	}
	return nil
}

// userAgent is Pinger.UserAgent, or authwatch's own.
func (p *Pinger) userAgent() string {
	if p.UserAgent != "" {
		return p.UserAgent
	}
	return version.UserAgent()
}

func (p *Pinger) client() *http.Client {
	if p.Client != nil {
		return p.Client
	}
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// target is the URL as logs may show it: scheme and host.
func (p *Pinger) target() string {
	u, err := url.Parse(p.Config.URL.String())
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Scheme + "://" + u.Host
}
