package flows

import (
	"encoding/json"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/authwatch/authwatch/internal/exchange"
	"github.com/authwatch/authwatch/internal/jwtinspect"
)

// Shape is what a passing step showed of the target's behaviour that is
// expected to stay the same from run to run: the facts a baseline
// (internal/baseline) learns and compares. It holds no secret: tokens
// appear as their decoded header and redacted claims, cookies without
// their values.
type Shape struct {
	Tokens []TokenShape `json:"tokens,omitempty"`
	// Endpoints are the step's exchanges, one per method, host and path
	// (the query left out), in the order first seen.
	Endpoints []EndpointShape `json:"endpoints,omitempty"`
	// Hosts are the hosts the step's requests went to, in the order first
	// seen; Redirects counts the 3xx answers the step followed.
	Hosts     []string      `json:"hosts,omitempty"`
	Redirects int           `json:"redirects"`
	Cookies   []CookieShape `json:"cookies,omitempty"`
	// JWKS lists the keys of the key set a signature was checked against,
	// each "kid alg".
	JWKS []string `json:"jwks,omitempty"`
}

// TokenShape is one token a step received.
type TokenShape struct {
	Kind          string `json:"kind"` // access_token, id_token
	Alg, Typ, Kid string
	// Lifetime is exp - iat, or the token response's expires_in (0: unknown).
	Lifetime time.Duration `json:"lifetime"`
	// ClaimTypes maps each top-level claim to its JSON type.
	ClaimTypes map[string]string `json:"claim_types,omitempty"`
	// Claims holds the top-level claims whose values are short scalars
	// (never time stamps), redacted.
	Claims   map[string]string `json:"claims,omitempty"`
	Scopes   []string          `json:"scopes,omitempty"`
	Audience []string          `json:"audience,omitempty"`
}

// EndpointShape is the answer of one endpoint: its status and the
// response headers worth watching (lower-case names; absent ones are "").
type EndpointShape struct {
	Endpoint string            `json:"endpoint"` // "POST host/path"
	Status   int               `json:"status"`
	Headers  map[string]string `json:"headers,omitempty"`
}

// CookieShape is a cookie a step was given: its name and attributes.
type CookieShape struct {
	Name       string `json:"name"`
	Attributes string `json:"attributes"`
}

// shapeHeaders are the response headers a baseline watches: caching of
// tokens and CORS answers change behaviour without failing a flow.
var shapeHeaders = []string{"Cache-Control", "Pragma", "Content-Type", "Strict-Transport-Security",
	"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers"}

// shapeHeaderKeys are shapeHeaders in lower case, the shape's keys, made
// once rather than on every run.
var shapeHeaderKeys = func() []string {
	keys := make([]string, len(shapeHeaders))
	for i, h := range shapeHeaders {
		keys[i] = strings.ToLower(h)
	}
	return keys
}()

// Bounds of a shape: a hostile target cannot make one large.
const (
	maxShapeEndpoints = 16
	maxShapeCookies   = 32
	maxShapeClaims    = 64
	maxShapeValue     = 120
	maxShapeKeys      = 32
)

// shape builds the current step's shape from its exchanges and outputs.
func (st *State) shape(exs []*exchange.Exchange) *Shape {
	sh := &Shape{}
	seen := map[string]int{}
	for _, ex := range exs {
		st.shapeExchange(sh, seen, ex)
	}
	for _, kind := range []string{"access_token", "id_token"} {
		if t := st.tokenShape(kind); t != nil {
			sh.Tokens = append(sh.Tokens, *t)
		}
	}
	if ks := st.step.keys; ks != nil {
		for _, k := range ks.Keys[:min(len(ks.Keys), maxShapeKeys)] {
			sh.JWKS = append(sh.JWKS, k.KeyID+" "+k.Algorithm)
		}
	}
	return sh
}

func (st *State) shapeExchange(sh *Shape, seen map[string]int, ex *exchange.Exchange) {
	if ex.URL == nil || ex.ResponseHeader == nil {
		return
	}
	if !slices.Contains(sh.Hosts, ex.URL.Host) && len(sh.Hosts) < maxShapeEndpoints {
		sh.Hosts = append(sh.Hosts, ex.URL.Host)
	}
	if ex.Status >= 300 && ex.Status < 400 {
		sh.Redirects++
	}
	p := ex.URL.Path
	if p == "" {
		p = "/"
	}
	ep := ex.Method + " " + ex.URL.Host + p
	if _, ok := seen[ep]; !ok && len(sh.Endpoints) < maxShapeEndpoints {
		seen[ep] = len(sh.Endpoints)
		headers := make(map[string]string, len(shapeHeaders))
		for i, h := range shapeHeaders {
			headers[shapeHeaderKeys[i]] = shapeHeader(h, ex.ResponseHeader.Get(h))
		}
		sh.Endpoints = append(sh.Endpoints, EndpointShape{Endpoint: st.redactText(ep), Status: ex.Status, Headers: headers})
	}
	for _, line := range ex.ResponseHeader.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil || len(sh.Cookies) >= maxShapeCookies {
			continue
		}
		sh.Cookies = append(sh.Cookies, CookieShape{Name: st.redactText(truncate(c.Name, maxShapeValue)), Attributes: cookieAttributes(c)})
	}
}

// shapeHeader normalises a header value: a Content-Type's parameters
// (charset, boundary) are noise.
func shapeHeader(name, v string) string {
	if name == "Content-Type" && v != "" {
		if mt, _, err := mime.ParseMediaType(v); err == nil {
			return mt
		}
	}
	return truncate(v, maxShapeValue)
}

// cookieAttributes lists the attributes that decide where a cookie goes
// and who reads it; its value and expiry change by design.
func cookieAttributes(c *http.Cookie) string {
	var parts []string
	if c.Secure {
		parts = append(parts, "Secure")
	}
	if c.HttpOnly {
		parts = append(parts, "HttpOnly")
	}
	if s := sameSite(c.SameSite); s != "" {
		parts = append(parts, "SameSite="+s)
	}
	if c.Partitioned {
		parts = append(parts, "Partitioned")
	}
	if c.Domain != "" {
		parts = append(parts, "Domain="+truncate(c.Domain, maxShapeValue))
	}
	parts = append(parts, "Path="+truncate(c.Path, maxShapeValue))
	return strings.Join(parts, "; ")
}

func sameSite(s http.SameSite) string {
	switch s {
	case http.SameSiteLaxMode:
		return "Lax"
	case http.SameSiteStrictMode:
		return "Strict"
	case http.SameSiteNoneMode:
		return "None"
	}
	return ""
}

// tokenShape describes the token the current step published as kind, if
// it is a JWT (or, for an opaque access token, what the token response
// said of it).
func (st *State) tokenShape(kind string) *TokenShape {
	raw, ok := st.outputs[st.step.spec.ID][kind]
	if !ok || raw == "" {
		return nil
	}
	out := &TokenShape{Kind: kind}
	if kind == "access_token" {
		out.Lifetime = seconds(st.outputs[st.step.spec.ID]["expires_in"])
		out.Scopes = strings.Fields(st.outputs[st.step.spec.ID]["scope"])
	}
	tok := st.inspectJWT(raw)
	if tok == nil {
		if kind == "access_token" {
			out.Typ = "opaque"
			return out
		}
		return nil
	}
	out.Alg, out.Typ, out.Kid = tok.Alg, tok.Typ, st.redactText(truncate(tok.Kid, maxShapeValue))
	if tok.ExpiresAt != nil && tok.IssuedAt != nil {
		out.Lifetime = tok.ExpiresAt.Sub(*tok.IssuedAt)
	}
	if len(tok.Scopes) > 0 {
		out.Scopes = tok.Scopes
	}
	out.Audience = tok.Audience
	out.ClaimTypes, out.Claims = st.claimShapes(tok)
	return out
}

// claimShapes maps each claim to its JSON type, and short scalar claims
// to their redacted values. Numbers that look like times (exp, iat and the
// like) are left out: they differ on every run.
func (st *State) claimShapes(tok *jwtinspect.Token) (types, values map[string]string) {
	types, values = map[string]string{}, map[string]string{}
	for name, v := range tok.SafeClaims() {
		if len(types) >= maxShapeClaims {
			break
		}
		name = truncate(name, maxShapeValue)
		types[name] = jsonType(v)
		switch v := v.(type) {
		case string:
			if len(v) <= maxShapeValue {
				values[name] = st.redactText(v)
			}
		case bool:
			values[name] = strconv.FormatBool(v)
		case json.Number:
			if f, err := v.Float64(); err == nil && f < 1e8 && f > -1e8 {
				values[name] = v.String()
			}
		}
	}
	return types, values
}

func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number, float64:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case nil:
		return "null"
	}
	return "unknown"
}

func seconds(s string) time.Duration {
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n <= 0 || n > 1e9 {
		return 0
	}
	return time.Duration(n) * time.Second
}
