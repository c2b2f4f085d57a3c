package flows

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// metadataTTL is how long discovery documents and key sets are reused, as
// relying parties do; an unknown kid forces a refetch, as go-oidc does.
const metadataTTL = 5 * time.Minute

// DiscoveryDoc is the part of an OpenID Provider's metadata authwatch uses
// (OpenID Connect Discovery 1.0 §3, RFC 8414 §2).
type DiscoveryDoc struct {
	Issuer                           string   `json:"issuer"`
	AuthorizationEndpoint            string   `json:"authorization_endpoint"`
	TokenEndpoint                    string   `json:"token_endpoint"`
	UserinfoEndpoint                 string   `json:"userinfo_endpoint"`
	JWKSURI                          string   `json:"jwks_uri"`
	RevocationEndpoint               string   `json:"revocation_endpoint"`
	IntrospectionEndpoint            string   `json:"introspection_endpoint"`
	DeviceAuthorizationEndpoint      string   `json:"device_authorization_endpoint"`
	EndSessionEndpoint               string   `json:"end_session_endpoint"`
	PAREndpoint                      string   `json:"pushed_authorization_request_endpoint"`
	ResponseTypesSupported           []string `json:"response_types_supported"`
	SubjectTypesSupported            []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported"`
	GrantTypesSupported              []string `json:"grant_types_supported"`
	TokenEndpointAuthMethods         []string `json:"token_endpoint_auth_methods_supported"`

	fields map[string]json.RawMessage
}

// Has reports whether the document has a non-empty field.
func (d *DiscoveryDoc) Has(field string) bool {
	v, ok := d.fields[field]
	s := strings.TrimSpace(string(v))
	return ok && s != `""` && s != "null" && s != "[]"
}

// requiredDiscoveryFields are REQUIRED by OpenID Connect Discovery §3
// (token_endpoint too, unless only the implicit flow is used).
var requiredDiscoveryFields = []string{"issuer", "authorization_endpoint", "token_endpoint", "jwks_uri",
	"response_types_supported", "subject_types_supported", "id_token_signing_alg_values_supported"}

// KeySet is a fetched JWKS.
type KeySet struct {
	URI     string
	Keys    []jose.JSONWebKey
	Fetched time.Time
}

// Kids lists the key ids.
func (k *KeySet) Kids() []string {
	out := make([]string, 0, len(k.Keys))
	for _, key := range k.Keys {
		out = append(out, key.KeyID)
	}
	return out
}

type cached struct {
	value   any
	fetched time.Time
}

// metadataCache holds discovery documents and key sets across runs.
type metadataCache struct {
	mu      sync.Mutex
	entries map[string]cached
}

func (c *metadataCache) get(key string, now time.Time) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || now.Sub(e.fetched) > metadataTTL {
		return nil, false
	}
	return e.value, true
}

func (c *metadataCache) put(key string, v any, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]cached{}
	}
	c.entries[key] = cached{value: v, fetched: now}
}

// DiscoveryURL is where an issuer publishes its metadata.
func DiscoveryURL(issuer string) string {
	return strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
}

// Discover fetches (or reuses) the issuer's discovery document and checks
// that it is JSON, names the same issuer, and has the fields in need.
func (st *State) Discover(ctx context.Context, issuer string, tlsOpts TLSOptions, fresh bool, need ...string) (*DiscoveryDoc, error) {
	key := "discovery " + issuer
	if !fresh {
		if v, ok := st.runner.meta.get(key, st.Now()); ok {
			doc := v.(*DiscoveryDoc)
			return doc, checkDiscoveryFields(doc, DiscoveryURL(issuer), need)
		}
	}
	body, err := st.fetchJSON(ctx, DiscoveryURL(issuer), tlsOpts, ReasonDiscoveryFailed, "discovery document")
	if err != nil {
		return nil, err
	}
	doc := &DiscoveryDoc{}
	if err := json.Unmarshal(body, &doc.fields); err != nil {
		return nil, Fail(ReasonDiscoveryFailed, "the discovery document at %s is not a JSON object: %v", DiscoveryURL(issuer), err).Wrap(err)
	}
	if err := json.Unmarshal(body, doc); err != nil {
		return nil, Fail(ReasonDiscoveryFailed, "the discovery document at %s has fields of the wrong type: %v", DiscoveryURL(issuer), err).Wrap(err)
	}
	if doc.Issuer != issuer {
		return nil, issuerMismatch("the discovery document", doc.Issuer, issuer)
	}
	st.runner.meta.put(key, doc, st.Now())
	return doc, checkDiscoveryFields(doc, DiscoveryURL(issuer), need)
}

func checkDiscoveryFields(doc *DiscoveryDoc, url string, need []string) error {
	var missing []string
	for _, f := range need {
		if !doc.Has(f) {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return Fail(ReasonDiscoveryFailed, "the discovery document at %s lacks %s", url, strings.Join(missing, ", ")).
			With(F("missing_fields", strings.Join(missing, ",")))
	}
	return nil
}

func issuerMismatch(where, got, want string) *Failure {
	hint := ""
	switch {
	case strings.TrimSuffix(got, "/") == strings.TrimSuffix(want, "/"):
		hint = " (they differ only in the trailing slash)"
	case strings.Replace(got, "http://", "https://", 1) == want || strings.Replace(want, "http://", "https://", 1) == got:
		hint = " (they differ in scheme: is the IdP's public URL configured behind its proxy?)"
	case strings.EqualFold(got, want):
		hint = " (they differ only in letter case)"
	}
	return Fail(ReasonIssuerMismatch, "%s says issuer %q, the flow expects %q%s", where, got, want, hint).
		With(F("issuer", got), F("expected_issuer", want))
}

// Keys fetches (or reuses) a JWKS and checks it holds usable signing keys.
func (st *State) Keys(ctx context.Context, uri string, tlsOpts TLSOptions, fresh bool) (*KeySet, error) {
	key := "jwks " + uri
	if !fresh {
		if v, ok := st.runner.meta.get(key, st.Now()); ok {
			return v.(*KeySet), nil
		}
	}
	body, err := st.fetchJSON(ctx, uri, tlsOpts, ReasonJWKSUnavailable, "JWKS")
	if err != nil {
		return nil, err
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, Fail(ReasonJWKSUnavailable, "the JWKS at %s is not a valid key set: %v", uri, err).Wrap(err)
	}
	ks := &KeySet{URI: uri, Fetched: st.Now()}
	for _, k := range set.Keys {
		if k.Valid() && k.IsPublic() && k.Use != "enc" {
			ks.Keys = append(ks.Keys, k)
		}
	}
	if len(ks.Keys) == 0 {
		return nil, Fail(ReasonJWKSUnavailable, "the JWKS at %s has no usable signing keys (%d keys, none public and valid for signatures)", uri, len(set.Keys))
	}
	st.runner.meta.put(key, ks, st.Now())
	return ks, nil
}

// fetchJSON GETs a metadata URL; any answer but 200 is a failure of reason.
func (st *State) fetchJSON(ctx context.Context, url string, tlsOpts TLSOptions, reason Reason, what string) ([]byte, error) {
	client, err := st.Client(ClientOptions{TLS: tlsOpts})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, Fail(ReasonConfigInvalid, "bad %s URL %q: %v", what, url, err).Wrap(err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	body, err := readBodyUpTo(resp, MaxBodySize+1)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		return nil, rateLimited(resp, st.Now(), "the "+what+" at "+url)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, Fail(reason, "the %s at %s answered %d %s", what, url, resp.StatusCode, http.StatusText(resp.StatusCode)).
			With(F("status", resp.StatusCode))
	}
	if len(body) > MaxBodySize {
		return nil, tooLarge(reason, what, url, resp.ContentLength)
	}
	return body, nil
}

// readBodyUpTo reads at most n bytes and closes the body; reading one byte
// past a limit tells a body cut at the limit from one that fits.
func readBodyUpTo(resp *http.Response, n int64) ([]byte, error) {
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, n))
}

// tooLarge says a metadata document was cut at MaxBodySize, rather than
// letting the JSON decoder call it broken ("unexpected end of JSON input").
func tooLarge(reason Reason, what, url string, contentLength int64) *Failure {
	size := fmt.Sprintf("is larger than %d bytes, the most authwatch reads", MaxBodySize)
	if contentLength > MaxBodySize {
		size = fmt.Sprintf("is %d bytes (Content-Length), more than the %d authwatch reads", contentLength, MaxBodySize)
	}
	return Fail(reason, "the %s at %s %s (%d MiB): it was cut at the limit", what, url, size, MaxBodySize>>20).
		With(F("limit_bytes", MaxBodySize))
}

// MaxRetryAfter bounds how long a Retry-After defers a flow: a target
// asking for a week must not blind the monitor for a week. A run still
// refused after it defers again.
const MaxRetryAfter = time.Hour

// rateLimited builds a rate_limited failure honouring Retry-After.
func rateLimited(resp *http.Response, now time.Time, what string) *Failure {
	f := Fail(ReasonRateLimited, "%s answered %d", what, resp.StatusCode)
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if at, capped, ok := parseRetryAfter(ra, now); ok {
			f.RetryAfter = at
			f.Summary += fmt.Sprintf("; Retry-After: %s (next try allowed at %s", ra, at.UTC().Format(time.RFC3339))
			if capped {
				f.Summary += fmt.Sprintf(": a longer wait is capped at %s", MaxRetryAfter)
			}
			f.Summary += ")"
		}
		f.With(F("retry_after", ra))
	}
	return f
}

// parseRetryAfter reads delay-seconds or an HTTP-date (RFC 9110 §10.2.3)
// into when the next try is allowed, at most MaxRetryAfter from now
// (capped says the header asked for longer). A date more than a day past
// is a broken header, not an instruction.
func parseRetryAfter(v string, now time.Time) (at time.Time, capped, ok bool) {
	v = strings.TrimSpace(v)
	limit := now.Add(MaxRetryAfter)
	if v != "" && strings.Trim(v, "0123456789") == "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n > int64(MaxRetryAfter/time.Second) { // too many digits for int64: longer still
			return limit, true, true
		}
		return now.Add(time.Duration(n) * time.Second), false, true
	}
	t, err := http.ParseTime(v)
	switch {
	case err != nil || t.Before(now.Add(-24*time.Hour)):
		return time.Time{}, false, false
	case t.After(limit):
		return limit, true, true
	}
	return t, false, true
}
