package postgres

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Secrets (rotated refresh tokens) are stored encrypted with AES-256-GCM:
// value is nonce || ciphertext, sealed with the key's name as additional
// data (a value copied under another key does not open), and key_id says
// which key sealed it (SHA-256 of the key, 8 bytes), so that a wrong key is
// reported as such. Errors name the key, never the value.

// SecretKeySize is the size of the key in bytes (AES-256).
const SecretKeySize = 32

// ErrNoSecretKey is returned by SaveSecret when the store has no key. It is
// a store.ErrRefused: the same secret is refused however often it is
// saved again.
var ErrNoSecretKey error = refusal{errors.New("no secret key configured (store.postgres.secret_key): secrets are not stored in PostgreSQL unencrypted")}

// ParseSecretKey reads a key written as base64 (openssl rand -base64 32)
// or as 64 hexadecimal digits. The error never quotes the key.
func ParseSecretKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*SecretKeySize {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != SecretKeySize {
				return nil, fmt.Errorf("secret key: %d bytes, want %d (openssl rand -base64 32)", len(k), SecretKeySize)
			}
			return k, nil
		}
	}
	return nil, fmt.Errorf("secret key: want %d bytes as base64 or hexadecimal (openssl rand -base64 32)", SecretKeySize)
}

type secretBox struct {
	aead cipher.AEAD
	id   []byte
}

func newSecretBox(key []byte) (*secretBox, error) {
	if len(key) != SecretKeySize {
		return nil, fmt.Errorf("secret key: %d bytes, want %d", len(key), SecretKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(key)
	return &secretBox{aead: aead, id: sum[:8]}, nil
}

func (b *secretBox) seal(key, value string) []byte {
	nonce := make([]byte, b.aead.NonceSize())
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails (Go 1.24+)
	return b.aead.Seal(nonce, nonce, []byte(value), []byte(key))
}

func (b *secretBox) open(key string, sealed []byte) (string, error) {
	n := b.aead.NonceSize()
	if len(sealed) < n {
		return "", errors.New("sealed value too short")
	}
	plain, err := b.aead.Open(nil, sealed[:n], sealed[n:], []byte(key))
	if err != nil {
		return "", errors.New("it does not decrypt (altered, or moved from another key)")
	}
	return string(plain), nil
}

// StoresSecrets reports whether the store has a secret key, without which
// SaveSecret refuses.
func (s *Store) StoresSecrets() bool { return s.secrets != nil }

// SaveSecret stores value under key, encrypted; it refuses without a key.
// It returns after the commit (synchronous_commit=on).
func (s *Store) SaveSecret(ctx context.Context, key, value string) error {
	key = storableText(key) // the row's key and the seal's AAD: the same bytes
	switch {
	case key == "":
		return errors.New("store: save secret: empty key")
	case s.secrets == nil:
		return fmt.Errorf("store: save secret %q: %w", key, ErrNoSecretKey)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO secrets (key, key_id, value) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET key_id = excluded.key_id, value = excluded.value`,
		key, s.secrets.id, s.secrets.seal(key, value)); err != nil {
		return s.errorf("store: save secret %q: %w", key, err)
	}
	return nil
}

// LoadSecret returns the value saved under key, and false if none is. A
// value sealed with another key than the store's is an error.
func (s *Store) LoadSecret(ctx context.Context, key string) (string, bool, error) {
	key = storableText(key) // as SaveSecret stored it
	var keyID, sealed []byte
	err := s.pool.QueryRow(ctx, `SELECT key_id, value FROM secrets WHERE key = $1`, key).Scan(&keyID, &sealed)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, s.errorf("store: load secret %q: %w", key, err)
	case s.secrets == nil:
		return "", false, fmt.Errorf("store: load secret %q: %w", key, ErrNoSecretKey)
	case !bytes.Equal(keyID, s.secrets.id):
		return "", false, fmt.Errorf("store: load secret %q: it was encrypted with another secret key than store.postgres.secret_key", key)
	}
	value, err := s.secrets.open(key, sealed)
	if err != nil {
		return "", false, fmt.Errorf("store: load secret %q: %w", key, err)
	}
	return value, true, nil
}

// DeleteSecret removes key, if present.
func (s *Store) DeleteSecret(ctx context.Context, key string) error {
	key = storableText(key)
	if _, err := s.pool.Exec(ctx, `DELETE FROM secrets WHERE key = $1`, key); err != nil {
		return s.errorf("store: delete secret %q: %w", key, err)
	}
	return nil
}
