package flows_test

import "testing"

// TestLoadRevocationSteps: bad introspect, revoke, token_exchange, userinfo
// and expect.revoked settings are load errors at the field.
func TestLoadRevocationSteps(t *testing.T) {
	src := `name: a
steps:
  - id: token
    kind: client_credentials
    issuer: https://idp.example.com
    client_id: c
    client_secret: ${env:S}
  - id: check
    kind: introspect
    client_id: c
    client_secret: ${env:S}
    token_type_hint: id_token
    expect: {revoked: true, active: true, scopes: [a], cnf: dpop}
  - id: revoke
    kind: revoke
    issuer: https://idp.example.com
    client_id: c
    client_auth: private_key_jwt
    client_key: ${env:K}
    client_assertion_audience: token_endpoint
    token: ${steps.token.access_token}
  - id: exchange
    kind: token_exchange
    issuer: https://idp.example.com
    client_id: c
    client_secret: ${env:S}
    subject_token: ${steps.token.access_token}
    subject_token_type: not a type
    actor_token_type: jwt
    params: {subject_token: x}
  - id: me
    kind: userinfo
    userinfo_url: https://idp.example.com/userinfo
    token: ${steps.token.access_token}
    expect: {signed: true}
  - id: api
    kind: http
    url: https://api.example.com
    expect: {revoked: true}
  - id: api2
    kind: http
    url: https://api.example.com
    auth: {bearer: "${steps.token.access_token}"}
    expect: {revoked: true, status: [200]}
`
	loadAssertHas(t, loadProblems(t, src),
		"x.yaml:8:5: steps[1].issuer: give issuer (discovery finds the endpoint) or introspection_url",
		"x.yaml:8:5: steps[1].token: required",
		"x.yaml:12:22: steps[1].token_type_hint: must be access_token or refresh_token",
		"steps[1].expect.revoked: a revoked token cannot be expected active",
		"steps[1].expect.active: an inactive token's answer holds nothing else",
		"steps[1].expect.cnf: must be present, absent, jkt or x5t#S256",
		"x.yaml:20:32: steps[2].client_assertion_audience: token_endpoint is not the endpoint this step calls",
		"x.yaml:28:25: steps[3].subject_token_type: must be access_token",
		"steps[3].actor_token_type: only goes with actor_token",
		"steps[3].params.subject_token: subject_token is set by the step itself",
		"steps[4].expect.signed: needs issuer",
		"steps[5].expect.revoked: needs auth.bearer",
		"steps[6].expect.status: with expect.revoked only refusals")
}

// TestLoadEndpointMutualTLS: introspect and revoke authenticate with the
// client certificate as token steps do (RFC 8705 §2), and refuse the same
// missing certificate or extra secret at load.
func TestLoadEndpointMutualTLS(t *testing.T) {
	src := `name: a
steps:
  - id: check
    kind: introspect
    issuer: https://idp.example.com
    client_id: c
    client_auth: tls_client_auth
    token: ${env:T}
  - id: revoke
    kind: revoke
    issuer: https://idp.example.com
    client_id: c
    client_auth: self_signed_tls_client_auth
    client_secret: ${env:S}
    tls_client_certificate: ${env:CERT}
    tls_client_key: ${env:KEY}
    token: ${env:T}
  - id: bad
    kind: revoke
    issuer: https://idp.example.com
    client_id: c
    client_auth: tls_client_certificate
    token: ${env:T}
`
	loadAssertHas(t, loadProblems(t, src),
		"steps[0].tls_client_certificate: required for tls_client_auth",
		"steps[1].client_secret: not used with self_signed_tls_client_auth",
		"steps[2].client_auth: must be client_secret_basic, client_secret_post, private_key_jwt, client_secret_jwt, tls_client_auth, self_signed_tls_client_auth or none")
}

// TestLoadExpectClientCertificate: expect.client_certificate is refused
// or nothing, and a check on its own.
func TestLoadExpectClientCertificate(t *testing.T) {
	src := `name: a
steps:
  - id: api
    kind: http
    url: https://api.example.com
    expect: {client_certificate: rejected}
  - id: api2
    kind: http
    url: https://api.example.com
    expect: {client_certificate: refused, status: 400}
`
	loadAssertHas(t, loadProblems(t, src),
		`steps[0].expect.client_certificate: must be refused, got "rejected"`,
		"steps[1].expect.client_certificate: refused is a check on its own")
}
