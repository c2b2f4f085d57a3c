package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/authwatch/authwatch/notify"
	"github.com/authwatch/authwatch/notify/internal/httpsend"
)

// Version is the payload schema's version (schema.json). Fields may be
// added within a version; a field is removed or changes meaning only with a
// new version.
const Version = "1"

// Headers of every request.
const (
	HeaderEvent     = "X-Authwatch-Event"         // the event type: opened, updated, reminder, resolved, test
	HeaderDelivery  = "X-Authwatch-Delivery"      // the event id: the same on every retry of one event
	HeaderTimestamp = "X-Authwatch-Timestamp"     // unix seconds when signed (with hmac_secret)
	HeaderSignature = "X-Authwatch-Signature-256" // "sha256=" + hex HMAC-SHA256 of timestamp + "." + body
)

// UserAgent names authwatch and its version on every request.
var UserAgent = httpsend.UserAgent

// Payload is the JSON body of every request; schema.json describes it.
type Payload struct {
	// Version is "1".
	Version string `json:"version"`
	// Title is a one-line headline ("FAILING flow: reason", "RESOLVED flow",
	// "TEST authwatch notification (no action needed)").
	Title string `json:"title"`
	// Text is the headline and the summary on one line, for receivers that
	// show a single string.
	Text string `json:"text"`
	// Event is the whole event.
	Event notify.Event `json:"event"`
}

// NewPayload makes the payload of ev.
func NewPayload(ev notify.Event) Payload {
	text := ev.Title()
	if ev.Summary != "" {
		text += " — " + ev.Summary
	}
	return Payload{Version: Version, Title: ev.Title(), Text: text, Event: ev}
}

// Notifier POSTs events to one webhook receiver.
type Notifier struct {
	cfg  Config
	send httpsend.Sender
}

var _ notify.Notifier = (*Notifier)(nil)

func newNotifier(c Config, d notify.Deps) *Notifier {
	return &Notifier{cfg: c, send: httpsend.NewSender(d)}
}

// Notify makes one delivery attempt; see notify.Notifier. The URL, headers
// and HMAC key are resolved on every call, so rotated secrets are used at
// once.
func (n *Notifier) Notify(ctx context.Context, ev notify.Event) (bool, error) {
	u, retry, err := httpsend.ResolveURL("webhook", "url", n.cfg.URL, n.send.Secrets, n.cfg.AllowHTTP)
	if err != nil {
		return retry, err
	}
	body, err := json.Marshal(NewPayload(ev))
	if err != nil {
		return false, fmt.Errorf("webhook: encoding the event: %w", err)
	}
	hdr, secrets, err := n.headers(ev)
	if err != nil {
		return true, err
	}
	now := n.send.Now()
	if !n.cfg.HMACSecret.IsZero() {
		key, err := httpsend.ResolveSecret("webhook", "hmac_secret", n.cfg.HMACSecret, n.send.Secrets)
		if err != nil {
			return true, err
		}
		secrets = append(secrets, key)
		hdr.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
		hdr.Set(HeaderSignature, Sign([]byte(key), now.Unix(), body))
	}
	if d := n.cfg.Timeout.Std(); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	r := httpsend.Request{URL: u, Header: hdr, Body: body, Secrets: append(secrets, httpsend.URLSecrets(u)...)}
	if retry, err := httpsend.Post(ctx, n.send.Client, now, r); err != nil {
		return retry, fmt.Errorf("webhook: %w", err)
	}
	return false, nil
}

// headers returns the request's headers and the resolved values of the
// configured ones (secrets to scrub from errors).
func (n *Notifier) headers(ev notify.Event) (http.Header, []string, error) {
	hdr := http.Header{}
	var secrets []string
	for _, name := range slices.Sorted(maps.Keys(n.cfg.Headers)) {
		v, err := httpsend.ResolveSecret("webhook", "headers."+name, n.cfg.Headers[name], n.send.Secrets)
		if err != nil {
			return nil, nil, err
		}
		hdr.Set(name, v)
		secrets = append(secrets, v) // a header value may be a credential, written literally or not

	}
	hdr.Set("Content-Type", "application/json")
	hdr.Set("User-Agent", UserAgent)
	hdr.Set(HeaderEvent, string(ev.Type))
	hdr.Set(HeaderDelivery, ev.ID)
	return hdr, secrets, nil
}

// Sign returns the X-Authwatch-Signature-256 value of body sent at
// timestamp (unix seconds): "sha256=" and the hex HMAC-SHA256, keyed with
// key, of the timestamp in decimal, ".", and the body.
func Sign(key []byte, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Errors of Verify.
var (
	ErrNotSigned    = errors.New("webhook: no " + HeaderSignature + " or " + HeaderTimestamp + " header")
	ErrStale        = errors.New("webhook: timestamp outside the allowed window (a replay, or a clock off)")
	ErrBadSignature = errors.New("webhook: signature does not match")
)

// Verify is the receiving side: it checks a request's signature against
// key and that its timestamp is within tolerance of now (replay
// protection; 5 minutes is a good default). Compare in constant time, as it
// does, and deduplicate on X-Authwatch-Delivery: a retried event is sent
// again with a new timestamp and signature but the same delivery id.
func Verify(key []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	sig, tsText := h.Get(HeaderSignature), h.Get(HeaderTimestamp)
	if sig == "" || tsText == "" {
		return ErrNotSigned
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return ErrNotSigned
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	want := Sign(key, ts, body)
	if !hmac.Equal([]byte(strings.ToLower(sig)), []byte(want)) {
		return ErrBadSignature
	}
	return nil
}

// Schema is schema.json: the JSON Schema (draft 2020-12) of Payload.
//
//go:embed schema.json
var Schema []byte
