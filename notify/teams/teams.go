package teams

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/authwatch/authwatch/notify"
	"github.com/authwatch/authwatch/notify/internal/httpsend"
)

// Notifier posts events to one Teams workflow.
type Notifier struct {
	hook *httpsend.Hook
}

var _ notify.Notifier = (*Notifier)(nil)

func newNotifier(c Config, d notify.Deps) *Notifier {
	return &Notifier{hook: httpsend.NewHook("teams", c.URL, d)}
}

// Notify makes one delivery attempt; see notify.Notifier. A workflow
// answers 202 Accepted once it has the request (the post itself happens
// after), 429 when throttled.
func (n *Notifier) Notify(ctx context.Context, ev notify.Event) (bool, error) {
	body, err := json.Marshal(render(ev))
	if err != nil {
		return false, fmt.Errorf("teams: encoding the card: %w", err)
	}
	return n.hook.Post(ctx, body)
}
