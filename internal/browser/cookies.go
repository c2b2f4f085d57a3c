package browser

import (
	"context"
	"math"
	"net/http"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"
)

// Cookies returns every cookie of the browser, of every site, as net/http
// cookies with their attributes. Domain is as the browser keeps it: a
// leading dot marks a domain cookie, none a host-only one. Expires is zero
// for a session cookie.
func (s *Session) Cookies(ctx context.Context) ([]*http.Cookie, error) {
	var res storage.GetCookiesResult
	err := s.call(ctx, "cookies", func(c context.Context) error {
		var err error
		res, err = chromedp.CallBrowser(c, storage.GetCookies, storage.GetCookiesParams{})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]*http.Cookie, 0, len(res.Cookies))
	for _, c := range res.Cookies {
		if c != nil {
			out = append(out, httpCookie(c))
		}
	}
	return out, nil
}

// httpCookie converts a browser cookie.
func httpCookie(c *network.Cookie) *http.Cookie {
	h := &http.Cookie{
		Name:        c.Name,
		Value:       c.Value,
		Domain:      c.Domain,
		Path:        c.Path,
		Secure:      c.Secure,
		HttpOnly:    c.HTTPOnly,
		Partitioned: c.PartitionKey != nil,
	}
	if !c.Session && c.Expires > 0 && !math.IsInf(c.Expires, 0) && !math.IsNaN(c.Expires) {
		sec, frac := math.Modf(c.Expires)
		h.Expires = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	}
	switch c.SameSite {
	case network.CookieSameSiteStrict:
		h.SameSite = http.SameSiteStrictMode
	case network.CookieSameSiteLax:
		h.SameSite = http.SameSiteLaxMode
	case network.CookieSameSiteNone:
		h.SameSite = http.SameSiteNoneMode
	default:
		h.SameSite = http.SameSiteDefaultMode
	}
	return h
}
