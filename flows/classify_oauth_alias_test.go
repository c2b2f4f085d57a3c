package flows

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// TestTokenErrorsOfRealIdPs feeds the token endpoint answers real IdPs
// send (bodies as reported verbatim in the sources named in oauthAliases,
// ids shortened) through a real oauth2 client and the classifier.
func TestTokenErrorsOfRealIdPs(t *testing.T) {
	const jsonCT = "application/json; charset=utf-8"
	tests := []struct {
		name    string
		grant   grantType
		status  int
		ct      string
		header  map[string]string
		body    string
		want    Reason
		summary []string // parts the summary must hold
		alias   bool     // recognised through the alias table
	}{
		{name: "Entra AADSTS7000215 bad secret (standard)", status: 401, ct: jsonCT,
			body: `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app 'a8fd'.\r\nTrace ID: 6f6c\r\nCorrelation ID: 5fc8\r\nTimestamp: 2023-05-06 06:03:00Z","error_codes":[7000215],"timestamp":"2023-05-06 06:03:00Z","trace_id":"6f6c","correlation_id":"5fc8","error_uri":"https://login.microsoftonline.com/error?code=7000215"}`,
			want: ReasonInvalidClient, summary: []string{"AADSTS7000215"}},
		{name: "Entra AADSTS7000222 expired secret (standard)", status: 401, ct: jsonCT,
			body: `{"error":"invalid_client","error_description":"AADSTS7000222: The provided client secret keys for app '***' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret","error_codes":[7000222]}`,
			want: ReasonInvalidClient, summary: []string{"AADSTS7000222", "expired"}},
		{name: "Entra AADSTS700016 unknown app as unauthorized_client", status: 400, ct: jsonCT,
			body: `{"error":"unauthorized_client","error_description":"AADSTS700016: Application with identifier 'my_client_id' was not found in the directory 'tenant_directory'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.","error_codes":[700016],"timestamp":"2021-03-23 06:46:31Z","trace_id":"xxx","correlation_id":"xxx","error_uri":"https://login.windows.net/error?code=700016"}`,
			want: ReasonInvalidClient, summary: []string{"AADSTS700016", `non-standard answer: the IdP said "unauthorized_client", recognised as invalid_client`, "Entra ID"}, alias: true},
		{name: "Entra AADSTS500011 invalid_resource", status: 400, ct: jsonCT,
			body: `{"error":"invalid_resource","error_description":"AADSTS500011: The resource principal named api://8e82 was not found in the tenant named contoso. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.\r\nTrace ID: \r\nCorrelation ID: \r\nTimestamp: 2021-06-01 09:55:53Z","error_codes":[500011],"error_uri":"https://login.microsoftonline.com/error?code=500011"}`,
			want: ReasonInvalidTarget, summary: []string{"resource principal named api://8e82", `the IdP said "invalid_resource", recognised as invalid_target`}, alias: true},
		{name: "Entra AADSTS70011 invalid_scope (standard)", status: 400, ct: jsonCT,
			body: `{"error":"invalid_scope","error_description":"AADSTS70011: The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid.","error_codes":[70011]}`,
			want: ReasonInvalidScope, summary: []string{"AADSTS70011"}},
		{name: "Entra AADSTS50053 locked", grant: grantPassword, status: 400, ct: jsonCT,
			body: `{"error":"invalid_grant","error_description":"AADSTS50053: The account is locked, you've tried to sign in too many times with an incorrect user ID or password.","error_codes":[50053]}`,
			want: ReasonAccountLocked, summary: []string{"locked or disabled", "recognised from the IdP's description"}, alias: true},
		{name: "Entra AADSTS50076 MFA", grant: grantPassword, status: 400, ct: jsonCT,
			body: `{"error":"invalid_grant","error_description":"AADSTS50076: Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '00000003-0000-0000-c000-000000000000'.","error_codes":[50076],"suberror":"basic_action"}`,
			want: ReasonMFARequired, summary: []string{"second factor", "AADSTS50076"}, alias: true},
		{name: "Entra AADSTS50079 interaction_required", grant: grantRefresh, status: 400, ct: jsonCT,
			body: `{"error":"interaction_required","error_description":"AADSTS50079: The user is required to use multi-factor authentication.\r\nTrace ID: 8d47","error_codes":[50079],"suberror":"basic_action"}`,
			want: ReasonMFARequired, summary: []string{"AADSTS50079"}, alias: true},
		{name: "Keycloak 401 unauthorized_client for bad credentials", status: 401, ct: "application/json",
			body: `{"error":"unauthorized_client","error_description":"Invalid client or Invalid client credentials"}`,
			want: ReasonInvalidClient, summary: []string{`the IdP said "unauthorized_client", recognised as invalid_client (Keycloak)`}, alias: true},
		{name: "Keycloak 403 unauthorized_client Invalid client secret", status: 403, ct: "application/json",
			body: `{"error":"unauthorized_client","error_description":"Invalid client secret"}`,
			want: ReasonInvalidClient, alias: true},
		{name: "Keycloak UNKNOWN_CLIENT", status: 400, ct: "application/json",
			body: `{"error":"unauthorized_client","error_description":"UNKNOWN_CLIENT: Client was not identified by any client authenticator"}`,
			want: ReasonInvalidClient, alias: true},
		{name: "Keycloak Account disabled", grant: grantPassword, status: 400, ct: "application/json",
			body: `{"error":"invalid_grant","error_description":"Account disabled"}`,
			want: ReasonAccountLocked, summary: []string{`"Account disabled"`}, alias: true},
		{name: "Keycloak Invalid user credentials (standard)", grant: grantPassword, status: 401, ct: "application/json",
			body: `{"error":"invalid_grant","error_description":"Invalid user credentials"}`,
			want: ReasonInvalidGrant},
		{name: "Auth0 Service not found", status: 403, ct: jsonCT,
			body: `{"error":"access_denied","error_description":"Service not found: https://api.example.com/billing"}`,
			want: ReasonInvalidTarget, summary: []string{"https://api.example.com/billing", `the IdP said "access_denied", recognised as invalid_target (Auth0`}, alias: true},
		{name: "Keycloak Requested audience not available", grant: grantTokenExchange, status: 400, ct: jsonCT,
			body: `{"error":"invalid_request","error_description":"Requested audience not available: orders-api"}`,
			want: ReasonInvalidTarget, summary: []string{"orders-api", `the IdP said "invalid_request", recognised as invalid_target (Keycloak`}, alias: true},
		{name: "Keycloak Audience not found", grant: grantTokenExchange, status: 400, ct: jsonCT,
			body: `{"error":"invalid_client","error_description":"Audience not found"}`,
			want: ReasonInvalidTarget, summary: []string{`the IdP said "invalid_client", recognised as invalid_target (Keycloak`}, alias: true},
		{name: "Hydra audience not whitelisted", status: 400, ct: jsonCT,
			body: `{"error":"invalid_request","error_description":"The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed. Requested audience 'https://api.example.com' has not been whitelisted by the OAuth 2.0 Client."}`,
			want: ReasonInvalidTarget, summary: []string{"https://api.example.com", "recognised as invalid_target (ORY Hydra"}, alias: true},
		{name: "oidc-provider unknown resource (standard)", status: 400, ct: jsonCT,
			body: `{"error":"invalid_target","error_description":"resource indicator is missing, or unknown"}`,
			want: ReasonInvalidTarget},
		{name: "Auth0 scopes not granted", status: 403, ct: jsonCT,
			body: `{"error":"access_denied","error_description":"Client has not been granted scopes: read:messages"}`,
			want: ReasonInvalidScope, summary: []string{"read:messages"}, alias: true},
		{name: "Auth0 Unauthorized", status: 401, ct: jsonCT,
			body: `{"error":"access_denied","error_description":"Unauthorized"}`,
			want: ReasonInvalidClient, alias: true},
		{name: "Auth0 grant not allowed (standard)", status: 403, ct: jsonCT,
			body: `{"error":"unauthorized_client","error_description":"Grant type 'password' not allowed for the client."}`,
			want: ReasonGrantNotAllowed},
		{name: "Okta policy evaluation failed", status: 400, ct: jsonCT,
			body: `{"error":"access_denied","error_description":"Policy evaluation failed for this request, please check the policy configurations."}`,
			want: ReasonGrantNotAllowed, summary: []string{"Policy evaluation failed", "recognised as unauthorized_client (Okta"}, alias: true},
		{name: "oidc-provider grant not allowed (invalid_request)", status: 400, ct: jsonCT,
			body: `{"error":"invalid_request","error_description":"requested grant type is not allowed for this client"}`,
			want: ReasonGrantNotAllowed, summary: []string{"inferred from the description"}},
		{name: "scope_invalid", status: 400, ct: jsonCT, body: `{"error":"scope_invalid","error_description":"scope billing:write is not known"}`,
			want: ReasonInvalidScope, summary: []string{`"scope_invalid"`, "billing:write is not known", "non-standard answer"}, alias: true},
		{name: "invalid_scopes", status: 400, ct: jsonCT, body: `{"error":"invalid_scopes"}`,
			want: ReasonInvalidScope, alias: true},
		{name: "invented invalid_client_credentials", status: 401, ct: jsonCT, body: `{"error":"invalid_client_credentials"}`,
			want: ReasonInvalidClient, alias: true},
		{name: "invented refresh_token_revoked on a refresh", grant: grantRefresh, status: 400, ct: jsonCT, body: `{"error":"refresh_token_revoked"}`,
			want: ReasonRefreshTokenRejected, alias: true},
		{name: "bare 401", status: 401, want: ReasonInvalidClient,
			summary: []string{"401 without an OAuth error code", "non-standard answer", "RFC 6749 §5.2", "unless a gateway"}},
		{name: "401 plain text", status: 401, ct: "text/plain", body: "Unauthorized", want: ReasonInvalidClient},
		{name: "401 Basic challenge", status: 401, header: map[string]string{"WWW-Authenticate": `Basic realm="token"`}, want: ReasonInvalidClient,
			summary: []string{"Basic challenge"}},
		{name: "bare 403", status: 403, want: ReasonGrantNotAllowed,
			summary: []string{"403 without an OAuth error code", "non-standard answer", "WAF"}},
		{name: "403 HTML page", status: 403, ct: "text/html", body: "<html><body><h1>403 Forbidden</h1></body></html>", want: ReasonGrantNotAllowed},
		{name: "user denied stays idp_error", status: 400, ct: jsonCT,
			body: `{"error":"access_denied","error_description":"End-User denied the authorization request"}`, want: ReasonIdPError},
		{name: "unknown code stays idp_error", status: 400, ct: jsonCT, body: `{"error":"quota_flux","error_description":"?"}`, want: ReasonIdPError},
		{name: "bare 400 stays idp_error", status: 400, want: ReasonIdPError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := realRetrieveError(t, tc.status, tc.ct, tc.header, tc.body)
			grant := tc.grant
			if grant == "" {
				grant = grantClientCredentials
			}
			st := newState(&Runner{}, &Flow{})
			var f *Failure
			if !errors.As(classifyTokenError(st, grant, "http://idp/token", err), &f) {
				t.Fatalf("not a *Failure: %v", err)
			}
			if f.Reason != tc.want {
				t.Fatalf("reason %s, want %s: %s", f.Reason, tc.want, f.Summary)
			}
			for _, part := range tc.summary {
				if !strings.Contains(f.Summary, part) {
					t.Errorf("summary %q lacks %q", f.Summary, part)
				}
			}
			_, recognised := factOf(f, "error_alias_source")
			if recognised != tc.alias {
				t.Errorf("recognised through the alias table: %v, want %v (%s)", recognised, tc.alias, f.Summary)
			}
		})
	}
}

// realRetrieveError has golang.org/x/oauth2 ask an httptest token endpoint
// that answers as given, so the error is the one a real run classifies.
func realRetrieveError(t *testing.T, status int, ct string, header map[string]string, body string) error {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		if ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	cfg := clientcredentials.Config{ClientID: "c", ClientSecret: "s", TokenURL: srv.URL, AuthStyle: oauth2.AuthStyleInHeader}
	_, err := cfg.Token(context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client()))
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("want a *oauth2.RetrieveError, got %v", err)
	}
	return err
}

func factOf(f *Failure, name string) (string, bool) {
	for _, fact := range f.Evidence.Facts {
		if fact.Name == name {
			return fact.Value, true
		}
	}
	return "", false
}
