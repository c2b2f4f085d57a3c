package teams

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

// Notifier posts events to one Teams workflow.
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

// Notify makes one delivery attempt; see notify.Notifier. A workflow
// answers 202 Accepted once it has the request (the post itself happens
// after), 429 when throttled.
func (n *Notifier) Notify(ctx context.Context, ev notify.Event) (bool, error) {
	u, retry, err := webhook.ResolveURL("teams", "url", n.cfg.URL, n.secrets, false)
	if err != nil {
		return retry, err
	}
	body, err := json.Marshal(render(ev))
	if err != nil {
		return false, fmt.Errorf("teams: encoding the card: %w", err)
	}
	hdr := http.Header{"Content-Type": {"application/json; charset=utf-8"}, "User-Agent": {webhook.UserAgent}}
	return webhook.Post(ctx, n.client, n.now(), webhook.Request{Kind: "teams", URL: u, Header: hdr, Body: body})
}
