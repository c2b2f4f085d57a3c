package opsgenie

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/authwatch/authwatch/notify"
)

// noRedirects is the shared client (or a default one) that does not follow
// redirects: a redirected POST becomes a GET without its body, so a 200 at
// the end of one would not mean delivered. A 3xx is reported instead.
func noRedirects(c *http.Client) *http.Client {
	out := &http.Client{Timeout: 30 * time.Second}
	if c != nil {
		cp := *c
		out = &cp
	}
	out.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return out
}

// maxErrBody bounds how much of a refusal's body goes into an error.
const maxErrBody = 512

// postJSON makes one POST and classifies the answer: 2xx is delivered; 429
// and 5xx may succeed later (with the receiver's Retry-After when it sent
// one); other statuses will not. Every secret value is scrubbed from the
// error, even if the receiver echoed it.
func postJSON(ctx context.Context, c *http.Client, url string, hdr http.Header, body any, now time.Time, secrets ...string) (retry bool, err error) {
	b, err := json.Marshal(body)
	if err != nil {
		return false, fmt.Errorf("encoding the request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return false, fmt.Errorf("building the request: %w", scrubbed(err, secrets))
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "authwatch")
	resp, err := c.Do(req)
	if err != nil {
		return true, scrubbed(err, secrets) // refused, reset, timed out: may work later
	}
	defer resp.Body.Close()
	if err := ctx.Err(); err != nil {
		// An answer raced the attempt's deadline: the caller has given up on
		// this attempt, so it counts as failed (every kind here is idempotent
		// per incident, so a retry cannot page twice).
		return true, fmt.Errorf("POST %s: %w (answer %s came too late)", req.URL.Path, err, resp.Status)
	}
	return classify(resp, now, secrets)
}

func classify(resp *http.Response, now time.Time, secrets []string) (bool, error) {
	excerpt := readExcerpt(resp.Body, secrets)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, nil
	}
	err := fmt.Errorf("POST %s: %s", resp.Request.URL.Path, strings.TrimSuffix(resp.Status+": "+excerpt, ": "))
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < 500 {
		return false, err
	}
	if d, ok := retryAfter(resp.Header.Get("Retry-After"), now); ok {
		return true, &notify.RetryAfterError{After: d, Err: err}
	}
	return true, err
}

// readExcerpt reads the start of a body as one line, secrets scrubbed
// before it is cut (so no part of one survives), and drains the rest
// (bounded) so the connection can be reused.
func readExcerpt(r io.Reader, secrets []string) string {
	const window = 8 * maxErrBody
	b, _ := io.ReadAll(io.LimitReader(r, window))
	_, _ = io.Copy(io.Discard, io.LimitReader(r, 64<<10))
	if len(b) == window { // a secret cut at the window's end would survive scrubbing
		for _, v := range secrets {
			b = b[:max(len(b)-len(v), 0)]
		}
	}
	s := scrub(strings.ToValidUTF8(string(b), "?"), secrets)
	return truncate(strings.Join(strings.Fields(s), " "), maxErrBody)
}

// retryAfter reads delay-seconds or an HTTP-date (RFC 9110 §10.2.3); a value
// more than a day away is a broken header, not an instruction.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil {
		d := time.Duration(n) * time.Second
		return d, n >= 0 && d <= 24*time.Hour
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := max(t.Sub(now), 0)
	return d, d <= 24*time.Hour
}

// scrubbed is err, or only its text when that showed a secret: the chain
// (a *url.Error, context.DeadlineExceeded) stays for errors.Is and As.
func scrubbed(err error, secrets []string) error {
	if s := scrub(err.Error(), secrets); s != err.Error() {
		return errors.New(s)
	}
	return err
}

// scrub replaces every secret value in s.
func scrub(s string, secrets []string) string {
	for _, v := range secrets {
		if v != "" {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	return s
}

// truncate shortens s to at most n runes, marking the cut with "…".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
