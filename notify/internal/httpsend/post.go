// Package httpsend makes one HTTP delivery attempt for a notifier kind that
// POSTs JSON (webhook, slack, teams, pagerduty, opsgenie, alertmanager):
// it builds the request, sends it without following redirects, and
// classifies the answer per notify.Notifier, with every secret the caller
// names scrubbed from the error. It also holds the checks of the settings
// such an attempt needs: URLs, and templates that reference secrets.
package httpsend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/authwatch/authwatch/internal/redact"
	"github.com/authwatch/authwatch/internal/version"
	"github.com/authwatch/authwatch/notify"
)

// UserAgent is sent with every request that does not set its own:
// "authwatch/1.2.0 (+https://github.com/authwatch/authwatch)".
var UserAgent = version.UserAgent()

// Limits of a delivery's error.
const (
	maxExcerpt    = 300            // runes of a refusal's body in the error
	maxRetryAfter = 24 * time.Hour // a longer Retry-After is a broken header
	drainLimit    = 64 << 10       // bytes read to reuse the connection
	readLimit     = 8 * maxExcerpt // bytes read for the excerpt
)

// Request is one delivery: a POST of Body to URL.
type Request struct {
	// URL is where to POST. Errors show its scheme and host only (ShowURL),
	// as a webhook's URL holds a token; put URLSecrets(URL) in Secrets when
	// it does, so an echo of it is scrubbed too.
	URL string
	// Header is sent as is; Content-Type defaults to application/json and
	// User-Agent to UserAgent.
	Header http.Header
	Body   []byte
	// Secrets are resolved secret values (URLSecrets of a URL holding a
	// token, header values, keys) to scrub from errors, should the receiver
	// echo them.
	Secrets []string
}

// StatusError is a receiver's refusal: a status other than 2xx.
type StatusError struct {
	Code int
	// Status is the status line, e.g. "404 Not Found".
	Status string
	// Target is the URL as shown: scheme and host only.
	Target string
	// Excerpt is the start of the response body, on one line, with every
	// known secret replaced.
	Excerpt string
}

func (e *StatusError) Error() string {
	s := "POST " + e.Target + ": " + e.Status
	if e.Excerpt != "" {
		s += ": " + strconv.Quote(e.Excerpt)
	}
	return s
}

// Post makes one POST attempt within ctx and classifies the outcome per
// notify.Notifier: a 2xx is delivered (false, nil); 408, 429 and 5xx may
// succeed later (retry true, wrapping a *notify.RetryAfterError when the
// receiver sent Retry-After, read against now); a network error or an
// expired context may too, even when an answer came as it expired; other
// statuses, redirects included, will not. Errors do not name the kind:
// the caller adds it, with its own context.
//
// The client must not follow redirects (see NoRedirects): a receiver that
// moved is a configuration to fix, and following it would send the payload
// (and its headers) to a place nobody configured.
func Post(ctx context.Context, client *http.Client, now time.Time, r Request) (retry bool, err error) {
	sec, longest := scrubber(r)
	req, err := newRequest(ctx, r)
	if err != nil {
		return false, errors.New("url is not a valid URL") // not err: it quotes the URL
	}
	resp, err := client.Do(req)
	if err != nil {
		cause := transportCause(err)
		return true, &sendError{msg: "POST " + ShowURL(r.URL) + ": " + sec.String(cause.Error()), err: cause}
	}
	defer resp.Body.Close()
	switch {
	case ctx.Err() != nil:
		// The answer raced the attempt's deadline: the caller has given up on
		// this attempt, so it counts as failed whatever the status, and the
		// event may be sent again (delivery is at least once).
		return true, fmt.Errorf("POST %s: %w (answer %s came too late)", ShowURL(r.URL), ctx.Err(), resp.Status)
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
		return false, nil
	}
	return refused(resp, r.URL, now, excerpt(resp.Body, sec, longest))
}

func newRequest(ctx context.Context, r Request) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return nil, err
	}
	for k, v := range r.Header {
		req.Header[k] = v
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", UserAgent)
	}
	return req, nil
}

// refused is the outcome of a status other than 2xx: the StatusError, with
// where a redirect points (scheme and host) so the URL can be fixed.
func refused(resp *http.Response, rawURL string, now time.Time, excerpt string) (bool, error) {
	var err error = &StatusError{Code: resp.StatusCode, Status: resp.Status, Target: ShowURL(rawURL), Excerpt: excerpt}
	if loc := resp.Header.Get("Location"); resp.StatusCode >= 300 && resp.StatusCode < 400 && loc != "" {
		err = fmt.Errorf("%w (the receiver redirects to %s: configure the final URL)", err, ShowURL(resolveRef(rawURL, loc)))
	}
	if !retryable(resp.StatusCode) {
		return false, err
	}
	if d, ok := RetryAfter(resp.Header.Get("Retry-After"), now); ok {
		return true, &notify.RetryAfterError{After: d, Err: err}
	}
	return true, err
}

func retryable(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

// sendError is a network failure: its message is scrubbed, and it unwraps
// to the cause without the URL (a *url.Error would still hold it).
type sendError struct {
	msg string
	err error
}

func (e *sendError) Error() string { return e.msg }
func (e *sendError) Unwrap() error { return e.err }

// transportCause strips the *url.Error (which holds the full URL).
func transportCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// scrubber knows every secret of a request. It also returns the longest
// one's length, escaped forms included (they are scrubbed too).
func scrubber(r Request) (*redact.Secrets, int) {
	var s redact.Secrets
	s.Add(r.Secrets...)
	return &s, s.Longest()
}

// excerpt reads the start of a body as one line, secrets replaced, and
// drains the rest (bounded) so the connection can be reused. When the read
// stopped at its limit, the last longest bytes are dropped: a secret cut
// there would escape the scrubbing.
func excerpt(body io.Reader, sec *redact.Secrets, longest int) string {
	b, _ := io.ReadAll(io.LimitReader(body, readLimit))
	_, _ = io.Copy(io.Discard, io.LimitReader(body, drainLimit))
	if len(b) == readLimit {
		b = b[:max(len(b)-longest, 0)]
	}
	s := sec.String(strings.ToValidUTF8(string(b), "\uFFFD"))
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > maxExcerpt {
		s = string(r[:maxExcerpt-1]) + "…"
	}
	return s
}

// RetryAfter reads a Retry-After header: delay-seconds or an HTTP date
// (RFC 9110 §10.2.3), against now. A value more than a day away is a broken
// header, not an instruction.
func RetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 || n > int64(maxRetryAfter/time.Second) { // checked before multiplying: no overflow
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := max(t.Sub(now), 0)
	return d, d <= maxRetryAfter
}

// NoRedirects returns a copy of c that does not follow redirects: Post
// reports them instead (a redirected POST becomes a GET without its body,
// so a 2xx at the end of one would not mean delivered). Without c, it is a
// default client with a 30s timeout, so that an attempt always ends.
func NoRedirects(c *http.Client) *http.Client {
	out := http.Client{Timeout: 30 * time.Second}
	if c != nil {
		out = *c
	}
	out.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &out
}
