package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/notify"
	"github.com/authwatch/authwatch/notify/webhook"
)

// Notifier posts events to one Slack incoming webhook.
type Notifier struct {
	cfg     Config
	client  *http.Client
	secrets flows.SecretSource
	now     func() time.Time
}

var _ notify.Notifier = (*Notifier)(nil)

func newNotifier(c Config, d notify.Deps) *Notifier {
	n := &Notifier{cfg: c, client: webhook.NoRedirects(d.HTTP), secrets: d.Secrets, now: d.Now}
	if n.now == nil {
		n.now = time.Now
	}
	return n
}

// Notify makes one delivery attempt; see notify.Notifier. Slack answers
// 200 "ok", or 4xx with an error code in the body (invalid_payload,
// no_service, channel_not_found, ...), which the error shows.
func (n *Notifier) Notify(ctx context.Context, ev notify.Event) (bool, error) {
	u, retry, err := webhook.ResolveURL("slack", "url", n.cfg.URL, n.secrets, false)
	if err != nil {
		return retry, err
	}
	body, err := json.Marshal(render(ev, n.cfg))
	if err != nil {
		return false, fmt.Errorf("slack: encoding the message: %w", err)
	}
	hdr := http.Header{"Content-Type": {"application/json; charset=utf-8"}, "User-Agent": {webhook.UserAgent}}
	return webhook.Post(ctx, n.client, n.now(), webhook.Request{Kind: "slack", URL: u, Header: hdr, Body: body})
}
