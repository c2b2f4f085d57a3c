// Package demo starts the embedded demo environment of `authwatch demo`: the
// OpenID provider of package idp and the orders API of package api, wired to
// each other on 127.0.0.1. It lives apart from the product so nothing in the
// monitoring path can depend on demo-only code, secrets or planted bugs.
package demo

import (
	"context"
	"errors"

	"github.com/authwatch/authwatch/internal/demo/api"
	"github.com/authwatch/authwatch/internal/demo/idp"
)

// Env is a running demo environment.
type Env struct {
	// IdP issues the demo tokens; see the idp package for its clients.
	IdP *idp.IdP
	// API is the orders API, trusting IdP's tokens for audience api://orders.
	API *api.API
}

// Options tunes the demo environment. The zero value is the demo as
// `authwatch demo` runs it.
type Options struct {
	// IdP tunes the IdP, e.g. when its drift client's tokens shorten.
	IdP idp.Options
}

// Start starts the demo environment with the zero Options.
func Start(ctx context.Context) (*Env, error) { return StartWith(ctx, Options{}) }

// StartWith starts the IdP, then the API (which reads the IdP's discovery
// document on start). Both stop on Close or when ctx is done.
func StartWith(ctx context.Context, opts Options) (*Env, error) {
	p, err := idp.Start(ctx, opts.IdP)
	if err != nil {
		return nil, err
	}
	a, err := api.Start(ctx, api.Options{Issuer: p.Issuer(), Audience: idp.OrdersAudience})
	if err != nil {
		return nil, errors.Join(err, p.Close())
	}
	return &Env{IdP: p, API: a}, nil
}

// Close stops the API, then the IdP, and waits for both.
func (e *Env) Close() error {
	return errors.Join(e.API.Close(), e.IdP.Close())
}
