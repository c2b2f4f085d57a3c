package httpsend

import (
	"errors"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/authwatch/authwatch/internal/conf"
)

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

// URLSecrets lists the secrets of a URL that holds a token, for
// Request.Secrets: the URL whole and in parts (path, query, each long path
// segment and query value, userinfo), as a receiver may echo any of them.
func URLSecrets(raw string) []string {
	out := []string{raw}
	u, err := url.Parse(raw)
	if err != nil {
		return out
	}
	out = append(out, u.EscapedPath(), u.Path, u.RawQuery)
	for _, seg := range strings.Split(u.Path, "/") {
		if len(seg) >= 8 { // a shorter one is the API's own (v2, hooks), not a token
			out = append(out, seg)
		}
	}
	for _, vs := range u.Query() {
		out = append(out, vs...)
	}
	if u.User != nil {
		out = append(out, u.User.String())
		if p, ok := u.User.Password(); ok {
			out = append(out, p)
		}
	}
	return out
}

// CheckURL checks a resolved URL that may hold a secret, without showing
// it: absolute, https (or http to a loopback address when allowHTTP), no
// credentials in it.
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
	case u.Scheme == "http" && !IsLoopback(u.Hostname()):
		return errors.New("may use http only to localhost or a loopback address (allow_http is for local receivers); use https")
	}
	return nil
}

// CheckAPIURL checks the base URL setting of a vendor's API (pagerduty,
// opsgenie), to which request paths are appended: absolute, no
// credentials, query or fragment, and https, or http to a loopback address
// (a local stand-in). The URL holds no secret, so the error may show it;
// what names the secret the request carries, which http would expose.
func CheckAPIURL(path, raw, what string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return conf.FieldErrorf(path, "must be an absolute https URL, got %q", raw)
	case u.User != nil:
		return conf.FieldErrorf(path, "must not carry credentials")
	case u.RawQuery != "" || u.Fragment != "":
		return conf.FieldErrorf(path, "must not have a query or fragment")
	case u.Scheme == "http" && !IsLoopback(u.Hostname()):
		return conf.FieldErrorf(path, "must use https (http is allowed only to localhost and loopback addresses): %s would travel in clear", what)
	}
	return nil
}

// CheckAPISettings checks the two settings of a vendor's API kind
// (pagerduty, opsgenie): its key, a required secret at keyPath, and the
// base URL "url" (CheckAPIURL, what naming the key), set to def when empty.
func CheckAPISettings(keyPath string, key conf.Template, url *string, def, what string) error {
	if *url == "" {
		*url = def
	}
	return errors.Join(CheckTemplate(keyPath, key, true), CheckAPIURL("url", *url, what))
}

// CheckOneOf checks an optional setting that takes one of valid values.
func CheckOneOf(path, v string, valid []string) error {
	if v != "" && !slices.Contains(valid, v) {
		return conf.FieldErrorf(path, "must be one of %s, got %q", strings.Join(valid, ", "), v)
	}
	return nil
}

// IsLoopback reports whether host is localhost or a loopback IP address:
// the only places plain http may carry a secret to. A name is not looked
// up, so "localhost" is the only name accepted.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
