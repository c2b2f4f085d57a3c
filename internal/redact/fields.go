package redact

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// sensitiveHeaders carry credentials whatever their value looks like.
var sensitiveHeaders = map[string]bool{
	"Authorization": true, "Proxy-Authorization": true, "Cookie": true, "Set-Cookie": true,
	"X-Api-Key": true, "Api-Key": true, "X-Auth-Token": true, "X-Amz-Security-Token": true,
}

// SensitiveHeader reports whether a header carries credentials whatever
// its value looks like (Authorization, Cookie, X-Api-Key, ...).
func SensitiveHeader(name string) bool { return sensitiveHeaders[http.CanonicalHeaderKey(name)] }

// SensitiveKey reports whether a JSON or form field name holds a credential.
func SensitiveKey(name string) bool {
	n := strings.ToLower(name)
	for _, part := range []string{"token", "secret", "password", "passwd", "assertion", "api_key", "apikey", "private_key", "otp", "session",
		"authorization", "cookie", "credential"} {
		if strings.Contains(n, part) {
			return !hasAnySuffix(n, "_type", "_expires_in", "_endpoint", "_supported", "_uri", "_url", "_method", "_methods", "_hint")
		}
	}
	return n == "code" || n == "code_verifier" || n == "device_code" || n == "user_code"
}

// SecretFieldName reports whether a configuration field or map key (a
// header name, an extra parameter) holds a secret: a credential name, a
// bearer, client_key (a private key), or value, which in a flow is only a
// browser fill's value (a password, a one-time code). Flows mark and warn about these fields, and
// problem reports hide them on quoted source lines: one list for both.
func SecretFieldName(name string) bool {
	return name == "bearer" || name == "value" || name == "client_key" || SensitiveKey(strings.ReplaceAll(name, "-", "_"))
}

// Header returns a redacted copy of h: credential headers keep their scheme
// (or cookie names) and show a fingerprint instead of the value.
func (s *Secrets) Header(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for name, values := range h {
		for _, v := range values {
			switch canon := http.CanonicalHeaderKey(name); {
			case sensitiveHeaders[canon]:
				v = redactCredentialHeader(name, v)
			case canon == "Location" || canon == "Content-Location" || canon == "Refresh":
				v = URL(v) // an implicit or code redirect carries credentials
			}
			out[name] = append(out[name], s.String(v))
		}
	}
	return out
}

func redactCredentialHeader(name, v string) string {
	switch http.CanonicalHeaderKey(name) {
	case "Cookie":
		var parts []string
		for _, c := range strings.Split(v, ";") {
			k, val, _ := strings.Cut(strings.TrimSpace(c), "=")
			parts = append(parts, k+"="+Marker(val))
		}
		return strings.Join(parts, "; ")
	case "Set-Cookie":
		first, attrs, _ := strings.Cut(v, ";")
		k, val, _ := strings.Cut(first, "=")
		if attrs != "" {
			attrs = ";" + attrs
		}
		return k + "=" + Marker(val) + attrs
	case "Authorization", "Proxy-Authorization":
		if scheme, cred, ok := strings.Cut(v, " "); ok {
			return scheme + " " + Marker(strings.TrimSpace(cred))
		}
	}
	return Marker(v)
}

// Body returns a redacted, printable copy of a request or response body:
// sensitive JSON and form fields are replaced by fingerprints, then every
// registered secret is replaced wherever it appears.
func (s *Secrets) Body(contentType string, body []byte) string {
	mediaType, _, _ := mime.ParseMediaType(contentType)
	switch {
	case mediaType == "application/x-www-form-urlencoded":
		if q, err := url.ParseQuery(string(body)); err == nil {
			return s.String(redactForm(q))
		}
	case strings.Contains(mediaType, "json") || json.Valid(bytes.TrimSpace(body)):
		var v any
		if err := json.Unmarshal(body, &v); err == nil {
			out, _ := json.Marshal(s.redactJSON(v))
			return s.String(string(out))
		}
	}
	return s.String(string(body))
}

func redactForm(q url.Values) string {
	for k, vs := range q {
		if SensitiveKey(k) {
			for i, v := range vs {
				vs[i] = Marker(v)
			}
		}
	}
	// Unescaped on purpose: evidence is read by people.
	out, _ := url.QueryUnescape(q.Encode())
	return out
}

// redactJSON replaces sensitive members by name, and registered secrets
// in every decoded string: a secret echoed HTML-escaped or base64-encoded
// inside a JSON string is found before re-encoding turns its & into \u0026.
func (s *Secrets) redactJSON(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, val := range t {
			if SensitiveKey(k) && isScalar(val) {
				t[k] = Marker(fmt.Sprint(val))
				continue
			}
			t[k] = s.redactJSON(val)
		}
	case []any:
		for i := range t {
			t[i] = s.redactJSON(t[i])
		}
	case string:
		return s.String(t)
	}
	return v
}

func isScalar(v any) bool {
	switch v.(type) {
	case string, float64, bool, json.Number:
		return true
	}
	return false
}

func hasAnySuffix(s string, suffixes ...string) bool {
	for _, suf := range suffixes {
		if strings.HasSuffix(s, suf) {
			return true
		}
	}
	return false
}

// URL hides query and fragment values that carry credentials (code,
// access_token, id_token, ...), as in a redirect to a callback.
func URL(raw string) string {
	base, frag, hasFrag := strings.Cut(raw, "#")
	out := redactQuery(base)
	if hasFrag {
		out += "#" + redactParams(frag)
	}
	return out
}

func redactQuery(raw string) string {
	base, query, ok := strings.Cut(raw, "?")
	if !ok {
		return raw
	}
	return base + "?" + redactParams(query)
}

func redactParams(params string) string {
	parts := strings.Split(params, "&")
	for i, p := range parts {
		k, v, _ := strings.Cut(p, "=")
		if SensitiveKey(k) && v != "" {
			parts[i] = k + "=" + Marker(v)
		}
	}
	return strings.Join(parts, "&")
}
