package flows_test

// The token_exchange step (RFC 8693) against zitadel's example OP, which
// implements token exchange: alice's (id1's) access token from a login is
// exchanged for a token for another client, which then introspects it.
// The OP's storage is the example's, with one policy added as a real
// deployment's storage has one: audiences it does not know are refused
// with invalid_target.

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/authwatch/authwatch/flows"
)

const (
	teClientID     = "exchange-client"
	teClientSecret = "canary-exchange-client-secret-3c90"
	teAPIClientID  = "api-client"
	teAPISecret    = "canary-api-client-secret-77e1"
	teUserPassword = "verysecure" // the example OP's users' password
)

// teStorage is the example storage with an audience policy.
type teStorage struct {
	*storage.Storage
	audiences []string
}

// ValidateTokenExchangeRequest refuses an audience or resource it does not
// know (RFC 8693 §2.2.2: invalid_target), then asks the example storage.
func (s *teStorage) ValidateTokenExchangeRequest(ctx context.Context, req op.TokenExchangeRequest) error {
	for _, a := range append(slices.Clone(req.GetAudience()), req.GetResourses()...) {
		if !slices.Contains(s.audiences, a) {
			return oidc.ErrInvalidTarget().WithDescription("the audience %s is not a client of this OP", a)
		}
	}
	return s.Storage.ValidateTokenExchangeRequest(ctx, req)
}

// teStartOP serves the example OP with two web clients: one that logs in
// and exchanges, one the exchanged token is for.
func teStartOP(t *testing.T) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	clients := map[string]*storage.Client{
		teClientID:    storage.WebClient(teClientID, teClientSecret, "http://127.0.0.1/callback"),
		teAPIClientID: storage.WebClient(teAPIClientID, teAPISecret, "http://127.0.0.1/api-callback"),
	}
	store := &teStorage{Storage: storage.NewStorageWithClients(storage.NewUserStore(issuer), clients), audiences: []string{teAPIClientID}}
	srv.Config.Handler = exampleop.SetupServer(issuer, store, nil, false)
	srv.Start()
	t.Cleanup(srv.Close)
	return issuer
}

// teFlow logs test-user in and exchanges the access token; exchange holds
// the lines of the exchange step besides its id, kind and client.
func teFlow(issuer, exchange string, more ...string) string {
	host := strings.Split(strings.TrimPrefix(issuer, "http://"), ":")[0]
	return fmt.Sprintf(`
name: te
every: 1m
steps:
  - id: login
    kind: login
    issuer: "%[1]s"
    redirect_uri: http://127.0.0.1/callback
    timeout: 20s
    client_id: %[2]s
    client_secret: ${env:EXCHANGE_SECRET}
    username: test-user@%[3]s
    password: ${env:USER_PASSWORD}
    scopes: [openid, profile]
  - id: exchange
    kind: token_exchange
    issuer: "%[1]s"
    client_id: %[2]s
    client_secret: ${env:EXCHANGE_SECRET}
    subject_token: ${steps.login.access_token}
%[4]s%[5]s`, issuer, teClientID, host, exchange, strings.Join(more, ""))
}

// proves: invalid_target, invalid_client, idp_error
func TestZitadelTokenExchange(t *testing.T) {
	t.Parallel()
	issuer := teStartOP(t)
	canary := []string{teClientSecret, teAPISecret, "canary-wrong-exchange-secret-41aa"}
	r := itTappedRunner(itLookupFrom(map[string]string{"EXCHANGE_SECRET": teClientSecret, "API_SECRET": teAPISecret,
		"USER_PASSWORD": teUserPassword, "WRONG_SECRET": "canary-wrong-exchange-secret-41aa"}, nil))
	run := func(t *testing.T, yaml string) *flows.Result {
		t.Helper()
		res := itRunYAML(t, r, yaml)
		itAssertNoSecrets(t, append(canary, itReceived(r)...), res)
		return res
	}
	introspect := `  - id: check
    kind: introspect
    issuer: "` + issuer + `"
    client_id: ` + teAPIClientID + `
    client_secret: ${env:API_SECRET}
    token: ${steps.exchange.access_token}
    expect: {client_id: ` + teClientID + `}
`

	t.Run("pass: exchanged for the API client, which introspects it", func(t *testing.T) {
		t.Parallel()
		res := run(t, teFlow(issuer, "    audience: "+teAPIClientID+"\n    requested_token_type: access_token\n", introspect))
		itMustPass(t, res)
		req := irLastRequest(t, res, "exchange")
		for _, want := range []string{"grant_type=urn:ietf:params:oauth:grant-type:token-exchange", "subject_token=[redacted",
			"subject_token_type=urn:ietf:params:oauth:token-type:access_token", "audience=" + teAPIClientID} {
			if !strings.Contains(req, want) {
				t.Errorf("token exchange request %q lacks %q", req, want)
			}
		}
	})
	t.Run("fail: unknown audience is invalid_target", func(t *testing.T) {
		t.Parallel()
		f := itMustFail(t, run(t, teFlow(issuer, "    audience: https://unknown.example.test/\n")), "exchange", flows.ReasonInvalidTarget)
		itSummaryHas(t, f, "invalid_target", "https://unknown.example.test/ is not a client of this OP")
	})
	t.Run("fail: wrong client secret", func(t *testing.T) {
		t.Parallel()
		yaml := strings.Replace(teFlow(issuer, "    audience: "+teAPIClientID+"\n"), "client_secret: ${env:EXCHANGE_SECRET}\n    subject_token", "client_secret: ${env:WRONG_SECRET}\n    subject_token", 1)
		itMustFail(t, run(t, yaml), "exchange", flows.ReasonInvalidClient)
	})
	t.Run("fail: a token type the OP cannot issue", func(t *testing.T) {
		t.Parallel()
		// The example OP issues access, refresh and ID tokens only.
		f := itMustFail(t, run(t, teFlow(issuer, "    audience: "+teAPIClientID+"\n    requested_token_type: jwt\n")), "exchange", flows.ReasonIdPError)
		itSummaryHas(t, f, "invalid_request", "requested_token_type is invalid")
	})
}
