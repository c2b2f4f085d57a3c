// Package slack is the notifier kind "slack": events are posted to a Slack
// incoming webhook (https://api.slack.com/messaging/webhooks) as Block Kit
// messages: a header with the headline, the reason and summary, a few
// facts (flow, step, layer, failing since, streak), the next step, and a
// context line with the target's request ids and a link to the status
// page. Resolved and test events are short. The full event goes to the
// webhook kind; chat shows what a person needs to start.
//
// # Settings
//
//	url: ${env:SLACK_WEBHOOK_URL}   # required; https://hooks.slack.com/services/T…/B…/…, a secret
//	channel: "#identity-alerts"     # optional; legacy webhooks only (an app's webhook posts to its own channel)
//	username: authwatch             # optional; legacy webhooks only
//
// The URL holds a token: keep it in the environment, a file or a systemd
// credential; it is read on every send (rotation needs no restart) and
// never shown in errors, which name its host only.
package slack

import (
	"errors"
	"regexp"
	"strings"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/notify"
	"github.com/authwatch/authwatch/notify/internal/httpsend"
)

func init() {
	notify.Register(notify.Kind{
		Name:      "slack",
		Doc:       "Post to a Slack channel through an incoming webhook (Block Kit: headline, reason, summary, next step).",
		NewConfig: func() notify.Config { return &Config{} },
	})
}

// Config is the slack notifier's settings.
type Config struct {
	// URL is the incoming webhook's URL: a secret, resolved on every send.
	URL conf.Template `yaml:"url" json:"url" jsonschema:"required,description=Incoming webhook URL\\, e.g. ${env:SLACK_WEBHOOK_URL}."`
	// Channel overrides the webhook's channel (legacy webhooks only).
	Channel string `yaml:"channel,omitempty" json:"channel,omitempty" jsonschema:"description=#channel\\, @user or a channel id (legacy webhooks only)."`
	// Username overrides the poster's name (legacy webhooks only).
	Username string `yaml:"username,omitempty" json:"username,omitempty" jsonschema:"description=Poster name (legacy webhooks only)."`
}

var _ notify.Config = (*Config)(nil)

// channelPattern: #name (Slack's channel names: lowercase letters, digits,
// - and _, at most 80), @user, or a conversation id (C…, G…, D…).
var channelPattern = regexp.MustCompile(`^(#[\p{Ll}\p{Lo}\p{N}_.-]{1,80}|@[\w.-]{1,80}|[CGD][A-Z0-9]{6,20})$`)

// Validate checks the settings; each error is a conf.FieldError.
func (c *Config) Validate() error {
	errs := []error{httpsend.CheckURLTemplate("url", c.URL, false)}
	if c.Channel != "" && !channelPattern.MatchString(c.Channel) {
		errs = append(errs, conf.FieldErrorf("channel", "must be #channel-name (lowercase, no spaces), @user or a channel id such as C0123ABCD, got %q", c.Channel))
	}
	if len([]rune(c.Username)) > 80 || strings.ContainsAny(c.Username, "\r\n") {
		errs = append(errs, conf.FieldErrorf("username", "must be one line of at most 80 characters"))
	}
	return errors.Join(errs...)
}

// New makes the notifier.
func (c *Config) New(d notify.Deps) (notify.Notifier, error) {
	return newNotifier(*c, d), nil
}
