package flows

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"golang.org/x/oauth2"

	"github.com/authwatch/authwatch/internal/redact"
)

// checkRotated enforces expect.rotated: a refresh must bring a new refresh
// token. An IdP that does not rotate is a configuration the flow did not
// expect, not a refused grant, so it is an assertion.
func (s *RefreshStep) checkRotated(sent string, tok *oauth2.Token) error {
	if !s.Expect.Rotated && !s.Expect.OldTokenRefused {
		return nil
	}
	switch tok.RefreshToken {
	case "":
		return Fail(ReasonAssertionFailed, "the IdP did not rotate the refresh token: the answer has no refresh_token, so the client goes on with the one it sent (%s)",
			redact.Fingerprint(sent)).With(F("refresh_token_sent", redact.Fingerprint(sent)))
	case sent:
		return Fail(ReasonAssertionFailed, "the IdP did not rotate the refresh token: it sent back the one it was given (%s)",
			redact.Fingerprint(sent)).With(F("refresh_token_sent", redact.Fingerprint(sent)), F("refresh_token_received", redact.Fingerprint(tok.RefreshToken)))
	}
	return nil
}

// checkOldTokenRefused enforces expect.old_token_refused: the refresh
// token rotation replaced is sent again and must be refused, as rotation
// promises (RFC 9700 §4.14.2). Nothing the replay brings is published.
func (s *RefreshStep) checkOldTokenRefused(ctx context.Context, st *State, old string) error {
	tok, endpoint, _, err := s.requestToken(ctx, st, grantRefresh, url.Values{"refresh_token": {old}})
	if err == nil {
		st.Secrets.Add(tok.AccessToken, tok.RefreshToken)
		if id, ok := tok.Extra("id_token").(string); ok {
			st.Secrets.Add(id)
		}
		return Fail(ReasonRevocationIneffective, "the IdP rotated the refresh token but still accepts the one it replaced (%s): sending it again got new tokens, so a leaked refresh token stays usable after the client refreshed",
			redact.Fingerprint(old)).With(F("refresh_token_replayed", redact.Fingerprint(old)), F("token_endpoint", endpoint))
	}
	if f := (*Failure)(nil); errors.As(err, &f) {
		return f
	}
	err = classifyTokenError(st, grantRefresh, endpoint, err)
	f, ok := err.(*Failure)
	if !ok {
		return err // the network failed: the runner classifies it
	}
	if f.Reason == ReasonRefreshTokenRejected {
		st.Note("the replaced refresh token was refused (%s), as rotation promises; an IdP with reuse detection has now revoked the whole grant, so this step's new refresh token may no longer work", factOr(f, "error", "refused"))
		return nil
	}
	f.Summary = "sending the replaced refresh token again (expect.old_token_refused): " + f.Summary
	return f
}

func factOr(f *Failure, name, def string) string {
	for _, fact := range f.Evidence.Facts {
		if fact.Name == name {
			return fact.Value
		}
	}
	return def
}

// TokenLocker is a TokenStore that can hold a stored refresh token locked
// from before it is read until the token the IdP rotated in is stored
// (a cluster node's PostgreSQL store: the secret's row FOR UPDATE). With
// it, two processes sharing the store never present the same refresh
// token: the second one waits, then reads the first one's new token.
type TokenLocker interface {
	TokenStore
	LockSecret(ctx context.Context, key string) (LockedToken, error)
}

// LockedToken is a refresh token held by TokenLocker.LockSecret.
type LockedToken interface {
	Value() (string, bool)
	// Replace stores value and releases the lock.
	Replace(ctx context.Context, value string) error
	// Release releases the lock, the value unchanged (a no-op after
	// Replace).
	Release()
}

// lockStored locks the stored token of a persist step when the store can
// (nil otherwise). Waiting for another node's refresh counts against the
// run's deadline.
func (s *RefreshStep) lockStored(ctx context.Context, st *State) (LockedToken, error) {
	locker, ok := st.runner.Tokens.(TokenLocker)
	if !s.Persist || !ok {
		return nil, nil
	}
	held, err := locker.LockSecret(ctx, s.storeKey(st))
	if err != nil {
		return nil, fmt.Errorf("reading the stored refresh token: %w", err)
	}
	return held, nil
}
