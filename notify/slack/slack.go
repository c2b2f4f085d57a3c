package slack

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/authwatch/authwatch/notify"
	"github.com/authwatch/authwatch/notify/internal/httpsend"
)

// Notifier posts events to one Slack incoming webhook.
type Notifier struct {
	cfg  Config
	hook *httpsend.Hook
}

var _ notify.Notifier = (*Notifier)(nil)

func newNotifier(c Config, d notify.Deps) *Notifier {
	return &Notifier{cfg: c, hook: httpsend.NewHook("slack", c.URL, d)}
}

// Notify makes one delivery attempt; see notify.Notifier. Slack answers
// 200 "ok", or 4xx with an error code in the body (invalid_payload,
// no_service, channel_not_found, ...), which the error shows.
func (n *Notifier) Notify(ctx context.Context, ev notify.Event) (bool, error) {
	body, err := json.Marshal(render(ev, n.cfg))
	if err != nil {
		return false, fmt.Errorf("slack: encoding the message: %w", err)
	}
	return n.hook.Post(ctx, body)
}
