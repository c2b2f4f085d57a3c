package idp_test

import (
	"math"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/demo/idp"
)

func TestDiscovery(t *testing.T) {
	p, d := startIdP(t)
	if d.Issuer != p.Issuer() {
		t.Errorf("discovery issuer %q, want %q", d.Issuer, p.Issuer())
	}
	for _, g := range []string{"client_credentials", "refresh_token", "authorization_code"} {
		if !slices.Contains(d.GrantTypesSupported, g) {
			t.Errorf("grant_types_supported %v lacks %s", d.GrantTypesSupported, g)
		}
	}
	if !slices.Contains(d.ScopesSupported, idp.ScopeOrdersWrite) {
		t.Errorf("scopes_supported %v lacks %s", d.ScopesSupported, idp.ScopeOrdersWrite)
	}
}

func TestClientCredentialsClaims(t *testing.T) {
	_, d := startIdP(t)
	tests := []struct {
		name, id, secret string
		params           url.Values
		scopes           []string
		wantAud          []any
		wantScope        string
	}{
		{"orders", idp.OrdersClientID, idp.OrdersClientSecret, nil,
			[]string{idp.ScopeOrdersRead}, []any{idp.OrdersAudience}, idp.ScopeOrdersRead},
		{"orders default scopes", idp.OrdersClientID, idp.OrdersClientSecret, nil,
			nil, []any{idp.OrdersAudience}, "orders.read orders.write"},
		{"orders resource param", idp.OrdersClientID, idp.OrdersClientSecret,
			url.Values{"resource": {idp.OrdersAudience}}, []string{idp.ScopeOrdersWrite},
			[]any{idp.OrdersAudience}, idp.ScopeOrdersWrite},
		{"orders audience param", idp.OrdersClientID, idp.OrdersClientSecret,
			url.Values{"audience": {idp.OrdersAudience}}, []string{idp.ScopeOrdersRead},
			[]any{idp.OrdersAudience}, idp.ScopeOrdersRead},
		{"billing", idp.BillingClientID, idp.BillingClientSecret, nil,
			[]string{idp.ScopeBillingRead}, []any{idp.BillingAudience}, idp.ScopeBillingRead},
		{"reader asks for write: dropped", idp.ReaderClientID, idp.ReaderClientSecret, nil,
			[]string{idp.ScopeOrdersRead, idp.ScopeOrdersWrite}, []any{idp.OrdersAudience}, idp.ScopeOrdersRead},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := mustToken(t, d.TokenEndpoint, tc.id, tc.secret, tc.params, tc.scopes...)
			// RFC 6749 §5.1: scope in the response says what was granted.
			if got, _ := tok.Extra("scope").(string); got != tc.wantScope {
				t.Errorf("response scope %q, want %q", got, tc.wantScope)
			}
			h, c := verifiedJWT(t, d, tok.AccessToken)
			if h.Algorithm != "RS256" {
				t.Errorf("alg %s", h.Algorithm)
			}
			if c["iss"] != d.Issuer || c["sub"] != tc.id || c["client_id"] != tc.id {
				t.Errorf("iss/sub/client_id = %v/%v/%v", c["iss"], c["sub"], c["client_id"])
			}
			if aud, _ := c["aud"].([]any); !slices.Equal(aud, tc.wantAud) {
				t.Errorf("aud %v, want %v", c["aud"], tc.wantAud)
			}
			if c["scope"] != tc.wantScope {
				t.Errorf("scope claim %v, want %q", c["scope"], tc.wantScope)
			}
			exp, iat := c["exp"].(float64), c["iat"].(float64)
			if exp-iat != 300 || math.Abs(iat-float64(time.Now().Unix())) > 5 {
				t.Errorf("iat %v exp %v: want iat≈now, exp=iat+300", iat, exp)
			}
		})
	}
}

// The legacy client's token service runs an hour slow: everything it stamps
// is an hour in the past, while expires_in still says 5 minutes.
func TestLegacyClientTokenIsBornExpired(t *testing.T) {
	_, d := startIdP(t)
	tok := mustToken(t, d.TokenEndpoint, idp.LegacyClientID, idp.LegacyClientSecret, nil, idp.ScopeOrdersRead)
	if left := time.Until(tok.Expiry); left < 4*time.Minute || left > 5*time.Minute+time.Second {
		t.Errorf("expires_in gives %v, want about 5m", left)
	}
	_, c := verifiedJWT(t, d, tok.AccessToken)
	shiftedNow := float64(time.Now().Add(-idp.LegacyClockDrift).Unix())
	for _, claim := range []string{"iat", "nbf"} {
		if v, _ := c[claim].(float64); math.Abs(v-shiftedNow) > 5 {
			t.Errorf("%s %v, want now-1h (%v)", claim, c[claim], shiftedNow)
		}
	}
	if exp, _ := c["exp"].(float64); exp-c["iat"].(float64) != 300 || exp >= float64(time.Now().Unix()) {
		t.Errorf("exp %v: want iat+300, in the past", c["exp"])
	}
}

func TestClientCredentialsErrors(t *testing.T) {
	_, d := startIdP(t)
	tests := []struct {
		name, id, secret string
		params           url.Values
		scopes           []string
		want             string
	}{
		{"wrong secret", idp.OrdersClientID, "wrong", nil, nil, "invalid_client"},
		{"unknown client", "nobody", "x", nil, nil, "invalid_client"},
		{"undefined scope", idp.OrdersClientID, idp.OrdersClientSecret, nil, []string{"orders.delete"}, "invalid_scope"},
		{"audience not allowed", idp.BillingClientID, idp.BillingClientSecret,
			url.Values{"resource": {idp.OrdersAudience}}, nil, "invalid_target"},
		{"login client", idp.WebClientID, idp.WebClientSecret, nil, nil, "unauthorized_client"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := clientToken(t.Context(), d.TokenEndpoint, tc.id, tc.secret, tc.params, tc.scopes...)
			if err == nil {
				t.Fatal("got a token")
			}
			if got := retrieveErrorCode(t, err); got != tc.want {
				t.Errorf("error %q, want %q (%v)", got, tc.want, err)
			}
		})
	}
}
