package idp_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/internal/demo/idp"
	"golang.org/x/oauth2"
)

// loginFlow drives the authorization endpoint and the login form the way a
// browser would, stopping at the redirect to the client's callback. It returns
// the final login page body if the login did not redirect.
func loginFlow(t *testing.T, authURL, redirectURI, user, password string) (callback *url.URL, page string) {
	t.Helper()
	ru, err := url.Parse(redirectURI)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Host == ru.Host && req.URL.Path == ru.Path {
			return http.ErrUseLastResponse // the callback: nobody listens there
		}
		return nil
	}}
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Request.URL.Query().Get("authRequestID")
	if resp.StatusCode != http.StatusOK || id == "" {
		t.Fatalf("authorize ended at %s (%s), want the login form", resp.Request.URL, resp.Status)
	}
	form := url.Values{"id": {id}, "username": {user}, "password": {password}}
	resp, err = c.PostForm(resp.Request.URL.String(), form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		body, _ := io.ReadAll(resp.Body)
		return nil, string(body)
	}
	loc, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	return loc, ""
}

func TestLoginCodePKCEAndRefresh(t *testing.T) {
	_, d := startIdP(t)
	cfg := oauth2.Config{
		ClientID: idp.WebClientID, ClientSecret: idp.WebClientSecret, RedirectURL: idp.RedirectURI,
		Scopes: []string{"openid", "profile", "offline_access"},
		Endpoint: oauth2.Endpoint{AuthURL: d.AuthorizationEndpoint, TokenURL: d.TokenEndpoint,
			AuthStyle: oauth2.AuthStyleInHeader},
	}
	verifier := oauth2.GenerateVerifier()
	cb, page := loginFlow(t, cfg.AuthCodeURL("st4te", oauth2.S256ChallengeOption(verifier)),
		idp.RedirectURI, idp.UserName, idp.UserPassword)
	if cb == nil {
		t.Fatalf("login did not redirect; page:\n%s", page)
	}
	if cb.Query().Get("state") != "st4te" || cb.Query().Get("code") == "" {
		t.Fatalf("callback %s", cb)
	}

	// A wrong verifier is refused before the right one consumes the code.
	_, err := cfg.Exchange(t.Context(), cb.Query().Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier()))
	if got := retrieveErrorCode(t, err); got != "invalid_grant" {
		t.Errorf("wrong PKCE verifier: %q, want invalid_grant", got)
	}
	tok, err := cfg.Exchange(t.Context(), cb.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if tok.RefreshToken == "" || tok.Extra("id_token") == nil {
		t.Fatalf("want refresh and id tokens, got %+v", tok)
	}

	// Refresh rotates the refresh token; the old one is then rejected.
	fresh, err := cfg.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if fresh.AccessToken == "" || fresh.RefreshToken == "" || fresh.RefreshToken == tok.RefreshToken {
		t.Errorf("refresh gave %+v, want a new access and refresh token", fresh)
	}
	_, err = cfg.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if got := retrieveErrorCode(t, err); got != "invalid_grant" {
		t.Errorf("reused refresh token: %q, want invalid_grant", got)
	}
}

func TestLoginNativeClientAnyLoopbackPort(t *testing.T) {
	_, d := startIdP(t)
	redirect := "http://127.0.0.1:54321/callback" // RFC 8252 §7.3: port is free
	cfg := oauth2.Config{
		ClientID: idp.NativeClientID, RedirectURL: redirect, Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: d.AuthorizationEndpoint, TokenURL: d.TokenEndpoint,
			AuthStyle: oauth2.AuthStyleInParams},
	}
	verifier := oauth2.GenerateVerifier()
	cb, page := loginFlow(t, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)),
		redirect, idp.UserName, idp.UserPassword)
	if cb == nil {
		t.Fatalf("login did not redirect; page:\n%s", page)
	}
	if _, err := cfg.Exchange(t.Context(), cb.Query().Get("code"), oauth2.VerifierOption(verifier)); err != nil {
		t.Fatalf("exchange: %v", err)
	}
}

func TestLoginWrongPassword(t *testing.T) {
	_, d := startIdP(t)
	cfg := oauth2.Config{ClientID: idp.WebClientID, RedirectURL: idp.RedirectURI, Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: d.AuthorizationEndpoint}}
	cb, page := loginFlow(t, cfg.AuthCodeURL("s"), idp.RedirectURI, idp.UserName, "wrong")
	if cb != nil {
		t.Fatalf("logged in with a wrong password: %s", cb)
	}
	if !strings.Contains(page, "username or password wrong") || !strings.Contains(page, `name="password"`) {
		t.Errorf("want the form again with an error, got:\n%s", page)
	}
}
