// Package idp runs the demo OpenID provider of `authwatch demo`: zitadel's op
// package with its example storage, on 127.0.0.1 over plain http.
//
// It issues RS256 JWT access tokens (with kid) through client_credentials for
// a handful of demo clients, each of which produces one failure scenario
// further down (see clients.go), and keeps zitadel's example login UI and users
// for authorization code + PKCE logins, with refresh tokens. Its token
// endpoint also speaks DPoP (RFC 9449), which the op itself does not: see
// dpop.go.
//
// Everything here is demo-only: published secrets, an in-memory store, a key
// pair generated at start. Nothing in the product's path may import it.
package idp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Options tunes the demo IdP. The zero value is ready to use.
type Options struct {
	// RedirectURIs are registered for the login clients in addition to
	// RedirectURI, e.g. a test's callback listener.
	RedirectURIs []string
	// DriftClientShortensAfter is how long after Start the drift client's
	// access tokens shorten from DriftClientLifetime to
	// DriftClientShortLifetime (the baseline_changed scenario); 0 means
	// DefaultDriftClientShortensAfter.
	DriftClientShortensAfter time.Duration
	// Now is the clock that decides when that time has come; nil means
	// time.Now. Tests drive the switch with it. Tokens are always stamped
	// with the real time.
	Now func() time.Time
}

// DefaultDriftClientShortensAfter is when the drift client's tokens
// shorten unless Options say otherwise: a minute, so that `authwatch demo`
// has learned the flow's baseline by then and warns soon after.
const DefaultDriftClientShortensAfter = time.Minute

// IdP is a running demo OpenID provider.
type IdP struct {
	issuer    string
	srv       *http.Server
	served    chan struct{} // closed when Serve returned
	stopAfter func() bool   // unregisters the ctx-done hook
	closeOnce sync.Once
	closeErr  error
}

// shutdownTimeout bounds how long Close waits for in-flight requests.
const shutdownTimeout = 5 * time.Second

// Start listens on 127.0.0.1 on a free port and serves the IdP until Close is
// called or ctx is done, whichever comes first.
func Start(ctx context.Context, opts Options) (*IdP, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo idp: listen: %w", err)
	}
	// The issuer must be known before the op is built, hence listen first.
	issuer := "http://" + ln.Addr().String()
	store, err := newDemoStorage(issuer, opts.RedirectURIs, newLifetimeSwitch(opts))
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("demo idp: %w", err)
	}
	provider, err := newProvider(issuer, store)
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("demo idp: %w", err)
	}
	store.tokenEndpoint = provider.TokenEndpoint().Absolute(issuer)
	i := &IdP{
		issuer: issuer,
		srv: &http.Server{
			Handler:           newHandler(provider, store),
			ReadHeaderTimeout: 10 * time.Second,
		},
		served: make(chan struct{}),
	}
	go func() {
		defer close(i.served)
		_ = i.srv.Serve(ln) // always non-nil; ErrServerClosed after Close
	}()
	i.stopAfter = context.AfterFunc(ctx, func() { _ = i.Close() })
	return i, nil
}

// Issuer is the issuer URL (http://127.0.0.1:PORT, no trailing slash); its
// discovery document is at Issuer()+"/.well-known/openid-configuration".
func (i *IdP) Issuer() string { return i.issuer }

// Close stops the server and waits until its goroutines have ended. It is safe
// to call more than once.
func (i *IdP) Close() error {
	i.closeOnce.Do(func() {
		i.stopAfter()
		i.closeErr = shutdown(i.srv, i.served)
	})
	return i.closeErr
}

// shutdown drains srv gracefully, forces it closed after shutdownTimeout, and
// waits for Serve to return so no goroutine outlives the call.
func shutdown(srv *http.Server, served <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = srv.Close()
	}
	<-served
	return err
}

// newLifetimeSwitch returns whether the drift client's tokens are short by
// now: from opts.DriftClientShortensAfter after the call on, by opts.Now.
func newLifetimeSwitch(opts Options) func() bool {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	after := opts.DriftClientShortensAfter
	if after <= 0 {
		after = DefaultDriftClientShortensAfter
	}
	at := now().Add(after)
	return func() bool { return !now().Before(at) }
}
