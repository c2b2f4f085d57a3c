package idp

import (
	"fmt"
	"time"

	"github.com/zitadel/oidc/v3/example/server/storage"
)

// Demo-only credentials. They are published in this source file on purpose so a
// newcomer can run `authwatch demo` without any setup; they grant nothing outside
// the throwaway IdP on 127.0.0.1 and must never be reused anywhere else.
const (
	// OrdersClientID is the well-behaved service client of the demo: its tokens
	// carry aud api://orders and may hold orders.read and orders.write.
	OrdersClientID = "orders-client"
	// OrdersClientSecret is the demo-only secret of OrdersClientID.
	OrdersClientSecret = "demo-only-orders-secret"

	// BillingClientID gets tokens for api://billing only, which is the wrong
	// audience for the orders API (the audience_mismatch scenario).
	BillingClientID = "billing-client"
	// BillingClientSecret is the demo-only secret of BillingClientID.
	BillingClientSecret = "demo-only-billing-secret"

	// ReaderClientID may only hold orders.read; a request for orders.write is
	// silently narrowed (the insufficient_scope scenario).
	ReaderClientID = "reader-client"
	// ReaderClientSecret is the demo-only secret of ReaderClientID.
	ReaderClientSecret = "demo-only-reader-secret"

	// LegacyClientID is served by a token service whose clock runs
	// LegacyClockDrift behind, so its tokens are already expired when issued
	// (the token_expired scenario, with a clock hint in iat).
	LegacyClientID = "legacy-client"
	// LegacyClientSecret is the demo-only secret of LegacyClientID.
	LegacyClientSecret = "demo-only-legacy-secret"

	// DriftClientID is a service client like ReaderClientID whose tokens
	// last DriftClientLifetime at first and DriftClientShortLifetime from
	// Options.DriftClientShortensAfter on: an IdP change that breaks
	// nothing yet (the baseline_changed scenario).
	DriftClientID = "drift-client"
	// DriftClientSecret is the demo-only secret of DriftClientID.
	DriftClientSecret = "demo-only-drift-secret"

	// WebClientID is a confidential login client (authorization code, PKCE
	// optional, refresh tokens with offline_access). It may not use the
	// client_credentials grant, so trying it shows unauthorized_client.
	WebClientID = "web-client"
	// WebClientSecret is the demo-only secret of WebClientID.
	WebClientSecret = "demo-only-web-secret"

	// KeyClientID is a service client like OrdersClientID without a secret:
	// it authenticates with a JWT signed by its private key (private_key_jwt,
	// RFC 7523), the key generated when the process first needs it (see
	// KeyClientPrivateKeyPEM).
	KeyClientID = "orders-key-client"
	// KeyClientKeyID is the kid its key is registered under.
	KeyClientKeyID = "demo-key-1"

	// DPoPClientID is a key client like KeyClientID that must ask for
	// DPoP-bound tokens (RFC 9449): a token request without a DPoP proof is
	// refused with invalid_dpop_proof, as for a client registered with
	// dpop_bound_access_tokens (§5.2). Its key: DPoPClientPrivateKeyPEM.
	DPoPClientID = "orders-dpop-client"
	// DPoPClientKeyID is the kid its key is registered under.
	DPoPClientKeyID = "demo-dpop-client-key-1"

	// NativeClientID is a public login client: no secret, PKCE required, and
	// any port on RedirectURI's loopback host (RFC 8252 §7.3).
	NativeClientID = "native-client"

	// RedirectURI is registered for WebClientID (exact match) and NativeClientID
	// (any port). Nothing needs to listen there: a login flow stops at the
	// redirect and reads the code from its Location.
	RedirectURI = "http://127.0.0.1/callback"

	// UserName is the login name of zitadel's example user "id1"; the example
	// user store derives its domain from the issuer host, which is always
	// 127.0.0.1 here.
	UserName = "test-user@127.0.0.1"
	// UserPassword is the demo-only password of UserName (zitadel's example value).
	UserPassword = "verysecure"
)

// Audiences and scopes the demo IdP knows about.
const (
	// OrdersAudience identifies the orders API.
	OrdersAudience = "api://orders"
	// BillingAudience identifies a billing API that the demo does not run.
	BillingAudience = "api://billing"

	// ScopeOrdersRead allows GET /orders.
	ScopeOrdersRead = "orders.read"
	// ScopeOrdersWrite allows POST /orders.
	ScopeOrdersWrite = "orders.write"
	// ScopeBillingRead is a billing API scope.
	ScopeBillingRead = "billing.read"
)

// LegacyClockDrift is how far the legacy client's token service clock runs
// behind: its tokens are stamped at now-1h and expire 5 minutes after that.
const LegacyClockDrift = time.Hour

// The drift client's access token lifetimes before and after the switch.
// DriftClientLifetime is the example storage's lifetime, which every other
// client's tokens keep.
const (
	DriftClientLifetime      = 5 * time.Minute
	DriftClientShortLifetime = 2 * time.Minute
)

// serviceClients are the client_credentials clients. The first audience of each
// is the one its tokens get when the request names none.
func serviceClients() (map[string]*serviceClient, error) {
	key, err := keyClientKey()
	if err != nil {
		return nil, fmt.Errorf("key client: %w", err)
	}
	dpopKey, err := dpopClientKey()
	if err != nil {
		return nil, fmt.Errorf("dpop client: %w", err)
	}
	list := []*serviceClient{
		{id: OrdersClientID, secret: OrdersClientSecret,
			audiences: []string{OrdersAudience}, scopes: []string{ScopeOrdersRead, ScopeOrdersWrite}},
		{id: BillingClientID, secret: BillingClientSecret,
			audiences: []string{BillingAudience}, scopes: []string{ScopeBillingRead}},
		{id: ReaderClientID, secret: ReaderClientSecret,
			audiences: []string{OrdersAudience}, scopes: []string{ScopeOrdersRead}},
		{id: LegacyClientID, secret: LegacyClientSecret,
			audiences: []string{OrdersAudience}, scopes: []string{ScopeOrdersRead, ScopeOrdersWrite},
			clockDrift: LegacyClockDrift},
		{id: DriftClientID, secret: DriftClientSecret,
			audiences: []string{OrdersAudience}, scopes: []string{ScopeOrdersRead},
			shortensTokens: true},
		{id: KeyClientID, publicKey: &key.PublicKey, keyID: KeyClientKeyID,
			audiences: []string{OrdersAudience}, scopes: []string{ScopeOrdersRead}},
		{id: DPoPClientID, publicKey: &dpopKey.PublicKey, keyID: DPoPClientKeyID,
			audiences: []string{OrdersAudience}, scopes: []string{ScopeOrdersRead},
			requiresDPoP: true},
	}
	m := make(map[string]*serviceClient, len(list))
	for _, c := range list {
		m[c.id] = c
	}
	return m, nil
}

// loginClients are the authorization-code clients, built with zitadel's example
// constructors so the example login UI, PKCE and refresh handling apply as-is.
// A fresh map per IdP: storage.RegisterClients would mutate a package global.
func loginClients(extraRedirectURIs []string) map[string]*storage.Client {
	uris := append([]string{RedirectURI}, extraRedirectURIs...)
	return map[string]*storage.Client{
		WebClientID:    storage.WebClient(WebClientID, WebClientSecret, uris...),
		NativeClientID: storage.NativeClient(NativeClientID, uris...),
	}
}
