package baseline

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/authwatch/authwatch/flows"
)

// Kind says how a feature is compared.
type Kind string

// Feature kinds: a scalar has one value; a set has elements, each present
// or not.
const (
	Scalar Kind = "scalar"
	Set    Kind = "set"
)

// Feature is one fact a passing run showed, named by a key that is stable
// across runs ("token.access_token.lifetime").
type Feature struct {
	Key   string
	Kind  Kind
	Label string // what people call it: "access token lifetime"
	Layer flows.Layer
	Value string   // a scalar's value
	Elems []string // a set's elements
	// Lost and Gained phrase a set's change, with the elements for %s:
	// "scope %s no longer granted", "scope %s now granted".
	Lost, Gained string
}

// Observation is what one passing run showed: its features and the
// latency of each step that measures one.
type Observation struct {
	At       time.Time
	Features []Feature
	Latency  map[string]time.Duration // by step id
}

// perRunClaims are claims whose values differ on every run by design (RFC
// 7519 §4.1.7, OIDC Core §2, §3.1.3.6, RFC 9068): their values are never
// learned. Any other claim whose value changed while learning is learned
// as varying too; this list only spares a baseline the runs in which a
// per-run value happened to repeat (two runs within one second).
var perRunClaims = []string{"jti", "nonce", "at_hash", "c_hash", "s_hash", "sid", "iat", "exp", "nbf", "auth_time", "uti", "rh", "aio"}

// setClaims are claims compared as sets (scopes, audience): their values
// as text would say the same change twice.
var setClaims = []string{"scope", "scp", "aud"}

// Observable reports whether FromResult observes the run: it passed and
// has shapes.
func Observable(r *flows.Result) bool {
	if r == nil || !r.OK || r.Cancelled {
		return false
	}
	for i := range r.Steps {
		if r.Steps[i].Shape != nil {
			return true
		}
	}
	return false
}

// FromResult extracts the observation of a passing run; ok is false for a
// run that did not pass (failed, cancelled) or has no shapes.
func FromResult(r *flows.Result) (obs Observation, ok bool) {
	if r == nil || !r.OK || r.Cancelled {
		return Observation{}, false
	}
	obs = Observation{At: r.Start, Latency: map[string]time.Duration{}}
	for i := range r.Steps {
		s := &r.Steps[i]
		if s.Shape == nil {
			continue
		}
		ok = true
		if s.IsLatency() {
			obs.Latency[s.ID] = s.Duration
		}
		obs.Features = append(obs.Features, stepFeatures(s.ID, s.Shape)...)
	}
	return obs, ok
}

// stepFeatures names the facts of one step's shape.
func stepFeatures(step string, sh *flows.Shape) []Feature {
	var out []Feature
	scalar := func(key, label string, layer flows.Layer, v string) {
		out = append(out, Feature{Key: step + "." + key, Kind: Scalar, Label: label, Layer: layer, Value: v})
	}
	set := func(key string, layer flows.Layer, elems []string, lost, gained string) {
		out = append(out, Feature{Key: step + "." + key, Kind: Set, Layer: layer, Elems: sorted(elems), Lost: lost, Gained: gained})
	}
	for _, t := range sh.Tokens {
		out = append(out, tokenFeatures(step, t)...)
	}
	if len(sh.JWKS) > 0 {
		set("jwks", flows.LayerIdP, sh.JWKS, "JWKS key %s no longer served", "JWKS now serves key %s")
	}
	if len(sh.Hosts) > 0 {
		set("hosts", flows.LayerNetwork, sh.Hosts, "requests no longer pass through %s", "requests now pass through %s")
		scalar("redirects", "redirects followed", flows.LayerGateway, strconv.Itoa(sh.Redirects))
	}
	names := make([]string, 0, len(sh.Cookies))
	for _, c := range sh.Cookies {
		names = append(names, c.Name)
		scalar("cookie."+c.Name, "cookie "+c.Name+" attributes", flows.LayerApp, c.Attributes)
	}
	if len(sh.Hosts) > 0 {
		set("cookies", flows.LayerApp, names, "cookie %s no longer set", "new cookie %s set")
	}
	for _, ep := range sh.Endpoints {
		scalar("status."+ep.Endpoint, ep.Endpoint+" status", flows.LayerApp, strconv.Itoa(ep.Status))
		for name, v := range ep.Headers {
			layer := flows.LayerApp
			if strings.HasPrefix(name, "access-control-") {
				layer = flows.LayerGateway
			}
			if v == "" {
				v = "(none)"
			}
			scalar("header."+ep.Endpoint+"."+name, ep.Endpoint+" "+headerName(name), layer, v)
		}
	}
	return out
}

func tokenFeatures(step string, t flows.TokenShape) []Feature {
	var out []Feature
	what := strings.ReplaceAll(t.Kind, "_", " ") // "access token"
	prefix := step + "." + t.Kind + "."
	scalar := func(key, label string, layer flows.Layer, v string) {
		out = append(out, Feature{Key: prefix + key, Kind: Scalar, Label: what + " " + label, Layer: layer, Value: v})
	}
	set := func(key string, layer flows.Layer, elems []string, lost, gained string) {
		out = append(out, Feature{Key: prefix + key, Kind: Set, Layer: layer, Elems: sorted(elems), Lost: lost, Gained: gained})
	}
	scalar("format", "format", flows.LayerToken, tokenFormat(t))
	if t.Typ != "opaque" {
		scalar("alg", "alg", flows.LayerIdP, orNone(t.Alg))
		scalar("typ", "typ", flows.LayerToken, orNone(t.Typ))
		scalar("kid", "kid", flows.LayerIdP, orNone(t.Kid))
	}
	if t.Lifetime > 0 {
		scalar("lifetime", "lifetime", flows.LayerToken, strconv.FormatInt(int64(t.Lifetime/time.Second), 10)+" s")
	}
	if t.Kind == "access_token" {
		set("scopes", flows.LayerToken, t.Scopes, "scope %s no longer granted", "scope %s now granted")
	}
	if t.Typ != "opaque" {
		set("audience", flows.LayerToken, t.Audience, what+" audience no longer includes %s", what+" audience now includes %s")
		claims := make([]string, 0, len(t.ClaimTypes))
		for name, typ := range t.ClaimTypes {
			claims = append(claims, name)
			scalar("claim_type."+name, "claim "+name+" type", flows.LayerToken, typ)
		}
		set("claims", flows.LayerToken, claims, what+" claim %s no longer present", what+" has a new claim %s")
		for name, v := range t.Claims {
			if !claimValueNotCompared(name) {
				scalar("claim."+name, "claim "+name, flows.LayerToken, strconv.Quote(v))
			}
		}
	}
	return out
}

func tokenFormat(t flows.TokenShape) string {
	if t.Typ == "opaque" {
		return "opaque"
	}
	return "JWT"
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// knownHeaders are the names of flows' shape headers as people read them,
// spelled out so that no run builds them again.
var knownHeaders = map[string]string{"cache-control": "Cache-Control", "pragma": "Pragma", "content-type": "Content-Type",
	"strict-transport-security": "Strict-Transport-Security", "access-control-allow-origin": "Access-Control-Allow-Origin",
	"access-control-allow-credentials": "Access-Control-Allow-Credentials", "access-control-allow-methods": "Access-Control-Allow-Methods",
	"access-control-allow-headers": "Access-Control-Allow-Headers"}

// headerName writes a lower-case header name the way people read it.
func headerName(name string) string {
	if known, ok := knownHeaders[name]; ok {
		return known
	}
	parts := strings.Split(name, "-")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "-")
}

func sorted(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}
