// Package teams is the notifier kind "teams": events are posted to a
// Microsoft Teams channel through a Workflows webhook (the "Post to a
// channel when a webhook request is received" template, or any flow started
// by "When a Teams webhook request is received"), as an Adaptive Card 1.4:
// the headline, the reason and summary, a few facts (flow, step, layer,
// severity, failing since, streak), the next step, the target's request
// ids, and a button to the status page. Resolved and test events are
// short.
//
// Office 365 connector webhooks (MessageCard) are retired; Workflows
// accept Adaptive Cards only.
//
// # Settings
//
//	url: ${credential:teams_workflow_url}   # required; https://…/workflows/…/invoke?…&sig=…, a secret
//
// The URL's sig parameter is a credential: keep the URL in the environment,
// a file or a systemd credential; it is read on every send (rotation needs
// no restart) and never shown in errors, which name its host only.
package teams

import (
	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/notify"
	"github.com/authwatch/authwatch/notify/internal/httpsend"
)

func init() {
	notify.Register(notify.Kind{
		Name:      "teams",
		Doc:       "Post an Adaptive Card to a Microsoft Teams channel through a Workflows webhook.",
		NewConfig: func() notify.Config { return &Config{} },
	})
}

// Config is the teams notifier's settings.
type Config struct {
	// URL is the workflow's HTTP trigger URL: a secret (its sig parameter
	// authorizes posting), resolved on every send.
	URL conf.Template `yaml:"url" json:"url" jsonschema:"required,description=Workflows webhook URL\\, e.g. ${credential:teams_workflow_url}."`
}

var _ notify.Config = (*Config)(nil)

// Validate checks the settings; each error is a conf.FieldError.
func (c *Config) Validate() error {
	return httpsend.CheckURLTemplate("url", c.URL, false)
}

// New makes the notifier.
func (c *Config) New(d notify.Deps) (notify.Notifier, error) {
	return newNotifier(*c, d), nil
}
