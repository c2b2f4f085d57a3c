package webhook

// HTTP delivery shared by the kinds that POST JSON to a URL holding a
// secret (webhook, slack, teams): one attempt, classified per the
// notify.Notifier contract, with every secret scrubbed from the error.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/authwatch/authwatch/internal/redact"
	"github.com/authwatch/authwatch/notify"
)

// Limits of a delivery's error.
const (
	maxExcerpt    = 300            // runes of a refusal's body in the error
	maxRetryAfter = 24 * time.Hour // a longer Retry-After is a broken header
	drainLimit    = 64 << 10       // bytes read to reuse the connection
	readLimit     = 8 * maxExcerpt // bytes read for the excerpt
)

// Request is one delivery: a POST of Body to URL.
type Request struct {
	// Kind names the notifier kind in errors ("slack").
	Kind string
	// URL is the resolved URL. It is treated as a secret: errors show its
	// scheme and host only.
	URL string
	// Header is sent as is; the caller sets Content-Type.
	Header http.Header
	Body   []byte
	// Secrets are other resolved secret values (header values, keys) to
	// scrub from errors, should the receiver echo them.
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
// expired context may too; other statuses, redirects included, will not.
//
// The client must not follow redirects (see NoRedirects): a receiver that
// moved is a configuration to fix, and following it would send the payload
// (and its headers) to a place nobody configured.
func Post(ctx context.Context, client *http.Client, now time.Time, r Request) (retry bool, err error) {
	sec, longest := scrubber(r)
	target := ShowURL(r.URL)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return false, fmt.Errorf("%s: url is not a valid URL", r.Kind)
	}
	for k, v := range r.Header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return true, &sendError{msg: fmt.Sprintf("%s: POST %s: %s", r.Kind, target, sec.String(transportCause(err).Error())), err: transportCause(err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
		return false, nil
	}
	se := &StatusError{Code: resp.StatusCode, Status: resp.Status, Target: target, Excerpt: excerpt(resp.Body, sec, longest)}
	err = fmt.Errorf("%s: %w", r.Kind, se)
	if loc := resp.Header.Get("Location"); resp.StatusCode >= 300 && resp.StatusCode < 400 && loc != "" {
		err = fmt.Errorf("%w (the receiver redirects to %s: configure the final URL)", err, ShowURL(resolveRef(r.URL, loc)))
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

// scrubber knows every secret of a request: the URL whole and in parts
// (path, query, each long path segment and query value, userinfo). It also
// returns the longest secret's length.
func scrubber(r Request) (*redact.Secrets, int) {
	var s redact.Secrets
	longest := len(r.URL)
	for _, v := range r.Secrets {
		longest = max(longest, len(v))
	}
	s.Add(r.Secrets...)
	s.Add(r.URL)
	u, err := url.Parse(r.URL)
	if err != nil {
		return &s, longest
	}
	s.Add(u.EscapedPath(), u.Path, u.RawQuery)
	for _, seg := range strings.Split(u.Path, "/") {
		if len(seg) >= 8 {
			s.Add(seg)
		}
	}
	for _, vs := range u.Query() {
		s.Add(vs...)
	}
	if u.User != nil {
		s.Add(u.User.String())
		if p, ok := u.User.Password(); ok {
			s.Add(p)
		}
	}
	return &s, longest
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

// ShowURL returns what errors may show of a URL that may hold a secret:
// scheme and host, with "/…" when there was more.
func ShowURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(url not shown)"
	}
	s := u.Scheme + "://" + u.Host
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		s += "/…"
	}
	return s
}

func resolveRef(base, ref string) string {
	b, err := url.Parse(base)
	if err != nil {
		return ""
	}
	r, err := b.Parse(ref)
	if err != nil {
		return ""
	}
	return r.String()
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
		if n < 0 || n > int64(maxRetryAfter/time.Second) {
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

// NoRedirects returns a copy of c (or of a default client when c is nil)
// that does not follow redirects: Post reports them instead.
func NoRedirects(c *http.Client) *http.Client {
	var out http.Client
	if c != nil {
		out = *c
	}
	out.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &out
}

// CheckURL checks a resolved URL without showing it: absolute, https (or
// http to a loopback address when allowHTTP), no credentials in it.
func CheckURL(raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New("is not a valid URL")
	case u.Scheme != "https" && u.Scheme != "http", u.Host == "":
		return errors.New("must be an absolute https:// URL")
	case u.User != nil:
		return errors.New("must not carry a user name or password (use headers)")
	case u.Scheme == "http" && !allowHTTP:
		return errors.New("must use https (the payload and any token in the URL would travel in clear)")
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return errors.New("may use http only to localhost or a loopback address (allow_http is for local receivers); use https")
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
