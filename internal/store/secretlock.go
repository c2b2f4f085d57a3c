package store

import "context"

// SecretLocker is a store that can hold a secret locked while it is used
// and replaced (PostgreSQL: the secret's row FOR UPDATE in a transaction
// open until the new value is committed, on a connection outside the
// pool that leases and runs use), so that two cluster nodes never
// present the same rotating refresh token (docs/cluster.md "Rotating
// refresh tokens"). SQLite has a single writer, one daemon per state
// directory, and needs no such lock.
type SecretLocker interface {
	// LockSecret waits (bounded by ctx) until no one else holds key, then
	// holds it and returns its value. The caller must Release the lock,
	// or Replace the value, which releases it.
	LockSecret(ctx context.Context, key string) (SecretLock, error)
}

// SecretLock is a secret held by LockSecret.
type SecretLock interface {
	// Value is the secret's value when it was locked, and false if none
	// was stored.
	Value() (string, bool)
	// Replace stores value and releases the lock, in one commit: whoever
	// locks the key next reads value.
	Replace(ctx context.Context, value string) error
	// Release releases the lock and leaves the value as it was (a no-op
	// after Replace).
	Release()
}
