package flows_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/demo"
)

const shapeFlow = `
name: shape
every: 1m
steps:
  - id: token
    kind: client_credentials
    issuer: "{{issuer}}"
    client_id: orders-client
    client_secret: ${env:DEMO_ORDERS_CLIENT_SECRET}
    scopes: [orders.read]
  - id: list
    kind: http
    url: "{{api}}/orders"
    auth: {bearer: "${steps.token.access_token}", audience: api://orders}
`

// The shapes of a passing run against the demo IdP and API: what a
// baseline learns (internal/baseline).
func TestShapeOfPassingSteps(t *testing.T) {
	t.Parallel()
	_, fill := itStartDemo(t)
	r := itNewRunner(demo.LookupEnv)
	res := itRunYAML(t, r, fill.Replace(shapeFlow))
	itMustPass(t, res)

	tok := itStep(t, res, "token").Shape
	if tok == nil || len(tok.Tokens) == 0 {
		t.Fatalf("token step shape: %+v", tok)
	}
	at := tok.Tokens[0]
	if at.Kind != "access_token" || at.Alg != "RS256" || at.Kid == "" || at.Lifetime < time.Minute ||
		!slices.Contains(at.Scopes, "orders.read") || !slices.Contains(at.Audience, "api://orders") {
		t.Errorf("access token shape: %+v", at)
	}
	if at.ClaimTypes["exp"] != "number" || at.ClaimTypes["iss"] != "string" || at.Claims["exp"] != "" || at.Claims["iss"] == "" {
		t.Errorf("claims: types %v values %v (exp is a time: no value)", at.ClaimTypes, at.Claims)
	}
	if len(tok.JWKS) == 0 || !strings.HasPrefix(tok.JWKS[0], at.Kid) && !slices.ContainsFunc(tok.JWKS, func(k string) bool { return strings.HasPrefix(k, at.Kid+" ") }) {
		t.Errorf("JWKS %v lacks the token's kid %s", tok.JWKS, at.Kid)
	}
	list := itStep(t, res, "list").Shape
	if list == nil || len(list.Endpoints) != 1 || list.Endpoints[0].Status != 200 || list.Endpoints[0].Headers["content-type"] != "application/json" {
		t.Fatalf("list step shape: %+v", list)
	}
	// No secret in a shape: the token itself is nowhere.
	itAssertTextHasNoSecrets(t, "shape", fmtShape(tok)+fmtShape(list), itDemoSecrets)

	off := itRunYAML(t, r, fill.Replace(strings.Replace(shapeFlow, "every: 1m", "every: 1m\nbaseline: false", 1)))
	itMustPass(t, off)
	if s := itStep(t, off, "token").Shape; s != nil {
		t.Errorf("baseline: false, yet a shape: %+v", s)
	}
	failed := itRunYAML(t, r, fill.Replace(strings.Replace(shapeFlow, "scopes: [orders.read]", "scopes: [no.such.scope]", 1)))
	if failed.OK || itStep(t, failed, "token").Shape != nil {
		t.Errorf("a failed step has a shape (ok %v)", failed.OK)
	}
}

func fmtShape(s *flows.Shape) string {
	var b strings.Builder
	for _, t := range s.Tokens {
		b.WriteString(t.Kid + t.Alg + t.Typ)
		for k, v := range t.Claims {
			b.WriteString(k + "=" + v + " ")
		}
	}
	for _, e := range s.Endpoints {
		b.WriteString(e.Endpoint)
	}
	return b.String()
}
