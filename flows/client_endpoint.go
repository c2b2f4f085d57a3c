package flows

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"github.com/authwatch/authwatch/internal/conf"
)

// The IdP endpoints besides the token endpoint that take client
// credentials, and the flow fields that set their addresses.
var (
	introspectionEndpoint = &credentialEndpoint{"introspection endpoint", "introspection_url"}
	revocationEndpoint    = &credentialEndpoint{"revocation endpoint", "revocation_url"}
)

// EndpointClient is who the client is at an IdP endpoint that is not the
// token endpoint (introspection, RFC 7662; revocation, RFC 7009): the same
// fields, client authentication methods and secret handling as a token
// step, so a step authenticates there exactly as the token steps do.
type EndpointClient struct {
	Issuer       conf.Template `yaml:"issuer,omitempty" json:"issuer,omitempty" jsonschema:"description=Issuer URL: the endpoint comes from its discovery document. May be a template such as ${env:ISSUER}."`
	ClientID     conf.Template `yaml:"client_id" json:"client_id" jsonschema:"required"`
	ClientSecret conf.Template `yaml:"client_secret,omitempty" json:"client_secret,omitempty" jsonschema:"description=A secret reference such as ${env:CLIENT_SECRET}; never a literal in production."`
	ClientAuth   string        `yaml:"client_auth,omitempty" json:"client_auth,omitempty" jsonschema:"enum=client_secret_basic,enum=client_secret_post,enum=private_key_jwt,enum=client_secret_jwt,enum=tls_client_auth,enum=self_signed_tls_client_auth,enum=none,description=Client authentication method (default client_secret_basic)\\, as on token steps. A client assertion's aud is the endpoint called unless client_assertion_audience says otherwise."`
	TLSOptions   `yaml:",inline"`

	// The options of client_auth private_key_jwt and client_secret_jwt.
	ClientAssertion `yaml:",inline"`
}

// tokenRequest is the client as a token request, whose client
// authentication code (validation, assertions, refusals) is reused.
func (c *EndpointClient) tokenRequest() *TokenRequest {
	return &TokenRequest{Issuer: c.Issuer, ClientID: c.ClientID, ClientSecret: c.ClientSecret, ClientAuth: c.ClientAuth,
		TLSOptions: c.TLSOptions, ClientAssertion: c.ClientAssertion}
}

// validate checks the client fields; urlField names the step's own
// endpoint field, which may replace issuer.
func (c *EndpointClient) validate(urlField string, endpointURL conf.Template) []error {
	var errs []error
	if c.Issuer.IsZero() && endpointURL.IsZero() {
		errs = append(errs, conf.FieldErrorf("issuer", "give issuer (discovery finds the endpoint) or %s", urlField))
	}
	errs = append(errs, validateEndpoint("issuer", c.Issuer, true), validateEndpoint(urlField, endpointURL, false))
	if c.ClientID.IsZero() {
		errs = append(errs, conf.FieldErrorf("client_id", "required"))
	}
	tr := c.tokenRequest()
	switch c.ClientAuth {
	case "", authClientSecretBasic, authClientSecretPost:
		if c.ClientSecret.IsZero() {
			errs = append(errs, conf.FieldErrorf("client_secret", "required for %s (use client_auth: none for a public client)", tr.authMethod()))
		}
	case authNone, authPrivateKeyJWT, authClientSecretJWT, authTLSClientAuth, authSelfSignedTLSClientAuth:
	default:
		errs = append(errs, conf.FieldErrorf("client_auth", "must be client_secret_basic, client_secret_post, private_key_jwt, client_secret_jwt, tls_client_auth, self_signed_tls_client_auth or none, got %q", c.ClientAuth))
	}
	errs = append(errs, tr.validateTLSClientAuth()...)
	if c.AssertionAudience == assertionAudTokenEndpoint {
		errs = append(errs, conf.FieldErrorf("client_assertion_audience", "token_endpoint is not the endpoint this step calls: leave it out (the assertion's aud is then this endpoint), or give issuer or a literal audience"))
	}
	errs = append(errs, tr.validateAssertion()...)
	return append(errs, c.TLSOptions.Validate())
}

// checkLoadSecrets parses the client key at load, as token steps do.
func (c *EndpointClient) checkLoadSecrets(resolve func(conf.Ref) (string, error)) error {
	return c.tokenRequest().checkLoadSecrets(resolve)
}

// endpoint finds the endpoint: the step's own URL, or discovery's field.
func (c *EndpointClient) endpoint(ctx context.Context, st *State, urlField string, endpointURL conf.Template, discoveryField string) (string, *DiscoveryDoc, error) {
	u, err := expandEndpoint(st, urlField, endpointURL, false)
	if err != nil {
		return "", nil, err
	}
	issuer, err := expandEndpoint(st, "issuer", c.Issuer, true)
	if err != nil || issuer == "" {
		return u, nil, err
	}
	need := []string{discoveryField}
	if u != "" {
		need = nil
	}
	doc, err := st.Discover(ctx, issuer, c.TLSOptions, false, need...)
	if err != nil {
		return "", nil, err
	}
	if u != "" {
		return u, doc, nil
	}
	switch discoveryField {
	case "introspection_endpoint":
		return mtlsEndpoint(st, c.TLSOptions, doc, discoveryField, doc.IntrospectionEndpoint), doc, nil
	case "revocation_endpoint":
		return mtlsEndpoint(st, c.TLSOptions, doc, discoveryField, doc.RevocationEndpoint), doc, nil
	}
	return "", doc, fmt.Errorf("flows: no discovery field %q", discoveryField)
}

// endpointAnswer is an endpoint's answer, its body read.
type endpointAnswer struct {
	resp *http.Response
	body []byte
}

// post sends form to an endpoint, the client authenticated as on a token
// step. A refusal (any status but 200) comes back classified as token
// errors are, in the endpoint's own words.
func (c *EndpointClient) post(ctx context.Context, st *State, ep *credentialEndpoint, endpoint string, form url.Values) (*endpointAnswer, error) {
	req, err := c.request(ctx, st, endpoint, form)
	if err != nil {
		return nil, err
	}
	client, err := st.Client(ClientOptions{TLS: c.TLSOptions, Endpoint: ep})
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	body, err := readBody(resp)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, c.refusal(st, ep, endpoint, resp, body)
	}
	return &endpointAnswer{resp: resp, body: body}, nil
}

// request builds the POST with the client's authentication: Basic, form
// fields, or a fresh client assertion whose aud is this endpoint.
func (c *EndpointClient) request(ctx context.Context, st *State, endpoint string, form url.Values) (*http.Request, error) {
	tr := c.tokenRequest()
	id, err := st.Expand(c.ClientID)
	if err != nil {
		return nil, err
	}
	form = cloneValues(form)
	var basicUser, basicPass string
	switch tr.authMethod() {
	case authNone, authTLSClientAuth, authSelfSignedTLSClientAuth:
		// A mutual TLS client is authenticated by the connection's
		// certificate: the body has only its client_id (RFC 8705 §2).
		form.Set("client_id", id)
	case authPrivateKeyJWT, authClientSecretJWT:
		setup, err := tr.setupAssertion(st, id, endpoint)
		if err != nil {
			return nil, err
		}
		assertion, err := setup.sign(st.Now())
		if err != nil {
			return nil, Fail(ReasonConfigInvalid, "%v", err).Wrap(err)
		}
		st.Secrets.Add(assertion)
		form.Set("client_id", id)
		form.Set("client_assertion_type", clientAssertionType)
		form.Set("client_assertion", assertion)
	default:
		secret, err := st.Expand(c.ClientSecret)
		if err != nil {
			return nil, err
		}
		st.Secrets.Add(base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret))))
		if tr.authMethod() == authClientSecretPost {
			form.Set("client_id", id)
			form.Set("client_secret", secret)
		} else {
			// RFC 6749 §2.3.1: the id and secret are form-encoded first.
			basicUser, basicPass = url.QueryEscape(id), url.QueryEscape(secret)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, Fail(ReasonConfigInvalid, "cannot build the request to %s: %v", endpoint, err).Wrap(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basicUser != "" {
		req.SetBasicAuth(basicUser, basicPass)
	}
	return req, nil
}

// refusal classifies an answer other than 200 as the token endpoint's
// refusals are (invalid_client, client_assertion_rejected, rate_limited,
// idp_error), with the endpoint's name in the summary.
func (c *EndpointClient) refusal(st *State, ep *credentialEndpoint, endpoint string, resp *http.Response, body []byte) error {
	re := &oauth2.RetrieveError{Response: resp, Body: body}
	err := classifyTokenError(st, grantType(ep.name), endpoint, re)
	f := (*Failure)(nil)
	if !errors.As(err, &f) {
		return err
	}
	tr := c.tokenRequest()
	for _, fact := range clientFacts(st, tr) {
		if fact.Name != "token_endpoint_request" {
			f.With(fact)
		}
	}
	tr.classifyAssertionRefusal(st, endpoint, f)
	tr.classifyCertificateRefusal(st, endpoint, f)
	f.Summary = strings.ReplaceAll(f.Summary, "the token endpoint", "the "+ep.name)
	if oe := factString(f, "error"); oe == "unsupported_token_type" {
		f.Summary += "; the IdP cannot " + verbOf(ep) + " this kind of token here (oidc-provider, for one, refuses JWT access tokens: ask for an opaque one, e.g. without resource)"
	}
	return f.With(F(ep.field, endpoint))
}

func verbOf(ep *credentialEndpoint) string {
	if ep == revocationEndpoint {
		return "revoke"
	}
	return "introspect"
}

// validTokenTypeHints are RFC 7009 §2.1's and RFC 7662 §2.1's hints.
var validTokenTypeHints = []string{"access_token", "refresh_token"}

// tokenToSend expands the step's token: it is a secret wherever it came from.
func tokenToSend(st *State, t conf.Template) (string, error) {
	raw, err := st.Expand(t)
	if err != nil {
		return "", err
	}
	st.Secrets.Add(raw)
	return raw, nil
}
