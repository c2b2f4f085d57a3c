package httpsend

import (
	"context"
	"fmt"
	"net/http"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/notify"
)

// Hook posts to one https URL setting that holds a token (a chat
// service's incoming webhook: slack, teams).
type Hook struct {
	kind string
	url  conf.Template
	send Sender
}

// NewHook makes the Hook of kind posting to url, with d's client (made not
// to follow redirects), secrets and clock.
func NewHook(kind string, url conf.Template, d notify.Deps) *Hook {
	return &Hook{kind: kind, url: url, send: NewSender(d)}
}

// Post makes one delivery attempt of a JSON body; see notify.Notifier. The
// URL is resolved on every call, so a rotated one is used at once, and
// errors show its host only.
func (h *Hook) Post(ctx context.Context, body []byte) (bool, error) {
	u, retry, err := ResolveURL(h.kind, "url", h.url, h.send.Secrets, false)
	if err != nil {
		return retry, err
	}
	hdr := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	r := Request{URL: u, Header: hdr, Body: body, Secrets: URLSecrets(u)}
	if retry, err := h.send.Post(ctx, r); err != nil {
		return retry, fmt.Errorf("%s: %w", h.kind, err)
	}
	return false, nil
}
