package demo_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/authwatch/authwatch/internal/demo"
	"github.com/authwatch/authwatch/internal/demo/idp"
	"github.com/authwatch/authwatch/internal/demo/internal/leakcheck"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// One full round trip, then Close: no goroutine of either server, of the
// API's JWKS client or of its key refresh may survive.
func TestEnvRoundTripAndCloseLeavesNoGoroutines(t *testing.T) {
	baseline := leakcheck.Baseline()
	env, err := demo.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	client := &http.Client{Transport: tr}
	cfg := clientcredentials.Config{ClientID: idp.OrdersClientID, ClientSecret: idp.OrdersClientSecret,
		TokenURL: env.IdP.Issuer() + "/oauth/token", Scopes: []string{idp.ScopeOrdersRead},
		AuthStyle: oauth2.AuthStyleInHeader}
	tok, err := cfg.Token(context.WithValue(t.Context(), oauth2.HTTPClient, client))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, env.API.URL()+"/orders", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /orders: %s", resp.Status)
	}
	if err := env.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	tr.CloseIdleConnections()
	leakcheck.Check(t, baseline)
}
