// Package api runs the demo "orders" API of `authwatch demo`: a small resource
// server on 127.0.0.1 that validates bearer tokens the way real APIs do
// (RFC 6750), and DPoP-bound tokens with their proofs (RFC 9449), with one
// deliberate bug (GET /admin/export does not enforce
// authentication) for the demo to find.
//
// Everything here is demo-only; nothing in the product's path may import it.
package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/authwatch/authwatch/internal/demo/internal/dpopproof"
	"github.com/authwatch/authwatch/internal/exchange"
	"github.com/authwatch/authwatch/internal/version"
)

const (
	// DefaultAudience is the aud the API accepts when Options.Audience is empty.
	DefaultAudience = "api://orders"
	// Realm is the realm of every WWW-Authenticate challenge.
	Realm = "orders"
	// ScopeRead is needed for GET /orders.
	ScopeRead = "orders.read"
	// ScopeWrite is needed for POST /orders.
	ScopeWrite = "orders.write"
	// AllowedOrigin is the one browser origin CORS lets call /orders.
	AllowedOrigin = "https://app.example.com"
)

// Options configures the API.
type Options struct {
	// Issuer is the OpenID provider whose tokens are accepted; its discovery
	// document is fetched by Start and its JWKS when a token is first checked.
	Issuer string
	// Audience must be in a token's aud; default DefaultAudience.
	Audience string
	// HTTPClient fetches discovery and JWKS; default a client of its own
	// with a 10s timeout.
	HTTPClient *http.Client
}

// API is a running orders API.
type API struct {
	url       string
	srv       *http.Server
	served    chan struct{}
	ownClient *http.Client // closed on Close; nil when the caller gave one
	stopAfter func() bool
	closeOnce sync.Once
	closeErr  error
}

// shutdownTimeout bounds how long Close waits for in-flight requests.
const shutdownTimeout = 5 * time.Second

// Start fetches the issuer's discovery document, listens on 127.0.0.1 on a
// free port and serves until Close is called or ctx is done.
func Start(ctx context.Context, opts Options) (*API, error) {
	if opts.Issuer == "" {
		return nil, errors.New("demo api: Options.Issuer is required")
	}
	if opts.Audience == "" {
		opts.Audience = DefaultAudience
	}
	a := &API{served: make(chan struct{})}
	client := opts.HTTPClient
	if client == nil {
		a.ownClient = &http.Client{
			Transport: exchange.AgentTransport{Agent: version.UserAgent(), Base: http.DefaultTransport.(*http.Transport).Clone()},
			Timeout:   10 * time.Second,
		}
		client = a.ownClient
	}
	// go-oidc keeps this context's HTTP client for later JWKS fetches but not
	// its cancellation, so a short-lived ctx is fine.
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, client), opts.Issuer)
	if err != nil {
		a.closeClient()
		return nil, fmt.Errorf("demo api: discovery: %w", err)
	}
	verifier := newTokenVerifier(opts.Issuer, opts.Audience, provider.Verifier(verifierConfig()))

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		a.closeClient()
		return nil, fmt.Errorf("demo api: listen: %w", err)
	}
	a.url = "http://" + ln.Addr().String()
	a.srv = &http.Server{
		Handler:           newHandler(verifier, &bindingChecker{baseURL: a.url, proofs: dpopproof.NewVerifier(dpopproof.Options{})}, newOrderStore()),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		defer close(a.served)
		_ = a.srv.Serve(ln) // always non-nil; ErrServerClosed after Close
	}()
	a.stopAfter = context.AfterFunc(ctx, func() { _ = a.Close() })
	return a, nil
}

// URL is the API's base URL, http://127.0.0.1:PORT without a trailing slash.
func (a *API) URL() string { return a.url }

// Close stops the server, waits until its goroutines have ended and drops the
// idle connections of its own HTTP client. It is safe to call more than once.
func (a *API) Close() error {
	a.closeOnce.Do(func() {
		a.stopAfter()
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		a.closeErr = a.srv.Shutdown(ctx)
		if errors.Is(a.closeErr, context.DeadlineExceeded) {
			a.closeErr = a.srv.Close()
		}
		<-a.served
		a.closeClient()
	})
	return a.closeErr
}

func (a *API) closeClient() {
	if a.ownClient != nil {
		a.ownClient.CloseIdleConnections()
	}
}
