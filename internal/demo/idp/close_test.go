package idp_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/authwatch/authwatch/internal/demo/idp"
	"github.com/authwatch/authwatch/internal/demo/internal/leakcheck"
	"golang.org/x/oauth2"
)

func TestCloseLeavesNoGoroutines(t *testing.T) {
	baseline := leakcheck.Baseline()
	p, err := idp.Start(context.Background(), idp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Exercise the server over kept-alive connections first, so Close has
	// open connections to tear down.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, &http.Client{Transport: tr})
	if _, err := clientToken(ctx, p.Issuer()+"/oauth/token", idp.OrdersClientID, idp.OrdersClientSecret, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	tr.CloseIdleConnections()
	leakcheck.Check(t, baseline)
}

func TestContextCancelClosesServer(t *testing.T) {
	baseline := leakcheck.Baseline()
	ctx, cancel := context.WithCancel(context.Background())
	p, err := idp.Start(ctx, idp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	leakcheck.Check(t, baseline) // Serve returned, so the port is closed
	if _, err := http.Get(p.Issuer() + "/healthz"); err == nil {
		t.Error("server still answers after its context was cancelled")
	}
	if err := p.Close(); err != nil {
		t.Errorf("Close after cancel: %v", err)
	}
}
