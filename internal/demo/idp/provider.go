package idp

import (
	"crypto/rand"
	"net/http"

	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/authwatch/authwatch/internal/demo/internal/dpopproof"
)

// loggedOutPath is where end_session lands without a post_logout_redirect_uri.
const loggedOutPath = "/logged-out"

// newProvider configures zitadel's op like exampleop does, minus what the demo
// does not need (request objects, device flow). private_key_jwt is announced
// in discovery; the storage checks the assertions of client_credentials
// (client_key.go), which the op leaves to it.
func newProvider(issuer string, store *demoStorage) (*op.Provider, error) {
	// The key encrypts opaque access tokens and auth request ids; a fresh one
	// per run means nothing issued by a previous run is ever accepted.
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, err
	}
	config := &op.Config{
		CryptoKey:                key,
		CryptoKeyId:              "demo",
		DefaultLogoutRedirectURI: loggedOutPath,
		CodeMethodS256:           true, // PKCE
		AuthMethodPost:           true, // client_secret_post besides Basic
		AuthMethodPrivateKeyJWT:  true, // KeyClientID
		GrantTypeRefreshToken:    true,
		SupportedUILocales:       []language.Tag{language.English},
		SupportedScopes:          knownScopes,
	}
	return op.NewProvider(config, store, op.StaticIssuer(issuer),
		// The demo runs on plain http on loopback; without this the op
		// refuses an http issuer.
		op.WithAllowInsecure(),
	)
}

// newHandler puts the login UI and the op behind one mux.
func newHandler(provider *op.Provider, store *demoStorage) http.Handler {
	mux := http.NewServeMux()
	login := &loginUI{
		users:    store,
		callback: op.AuthCallbackURL(provider),
		issuer:   op.NewIssuerInterceptor(provider.IssuerFromRequest),
	}
	login.register(mux)
	mux.HandleFunc("GET "+loggedOutPath, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("signed out successfully"))
	})
	tokenPath := provider.TokenEndpoint().Relative()
	proofs := dpopproof.NewVerifier(dpopproof.Options{})
	mux.Handle("/", withDPoPDiscovery(withDPoP(tokenPath, store.tokenEndpoint, proofs,
		withRequestedAudience(tokenPath, provider))))
	return mux
}
