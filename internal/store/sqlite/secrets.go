package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Errors here name the key, never the value.

// SaveSecret stores value under key. It returns after the commit is synced
// to disk (synchronous=FULL).
func (s *Store) SaveSecret(ctx context.Context, key, value string) error {
	if key == "" {
		return errors.New("store: save secret: empty key")
	}
	if _, err := s.write.ExecContext(ctx, `INSERT INTO secrets (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value); err != nil {
		return fmt.Errorf("store: save secret %q: %w", key, err)
	}
	return nil
}

// LoadSecret returns the value saved under key, and false if none is.
func (s *Store) LoadSecret(ctx context.Context, key string) (string, bool, error) {
	var value string
	err := s.read.QueryRowContext(ctx, `SELECT value FROM secrets WHERE key = ?`, key).Scan(&value)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("store: load secret %q: %w", key, err)
	}
	return value, true, nil
}

// DeleteSecret removes key, if present.
func (s *Store) DeleteSecret(ctx context.Context, key string) error {
	if _, err := s.write.ExecContext(ctx, `DELETE FROM secrets WHERE key = ?`, key); err != nil {
		return fmt.Errorf("store: delete secret %q: %w", key, err)
	}
	return nil
}
