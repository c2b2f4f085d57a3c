package httpsend

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/notify"
)

// Sender is what a kind that POSTs needs of notify.Deps, defaults filled
// in: a client that does not follow redirects (NoRedirects), the secret
// source, the clock and the logger.
type Sender struct {
	Client  *http.Client
	Secrets conf.SecretSource
	Now     func() time.Time
	Log     *slog.Logger
}

// NewSender makes the Sender of d: time.Now without a clock, a discarding
// logger without one.
func NewSender(d notify.Deps) Sender {
	s := Sender{Client: NoRedirects(d.HTTP), Secrets: d.Secrets, Now: d.Now, Log: d.Logger}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Post makes one attempt of r (see Post), with Retry-After read against
// the Sender's clock.
func (s Sender) Post(ctx context.Context, r Request) (bool, error) {
	return Post(ctx, s.Client, s.Now(), r)
}

// PostJSON encodes v and makes one attempt of posting it to url with hdr
// (see Post); secrets are the resolved values to scrub from the error.
func (s Sender) PostJSON(ctx context.Context, url string, hdr http.Header, v any, secrets ...string) (bool, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return false, fmt.Errorf("encoding the request: %w", err)
	}
	return s.Post(ctx, Request{URL: url, Header: hdr, Body: body, Secrets: secrets})
}
