package config

import (
	"errors"
	"net/url"
	"strings"

	"github.com/authwatch/authwatch/internal/conf"
)

// StoreConfig selects the state store: SQLite in state_dir (the default)
// or PostgreSQL.
type StoreConfig struct {
	Postgres *PostgresConfig `yaml:"postgres" jsonschema:"description=Keep the state in PostgreSQL instead of SQLite in state_dir (docs/cluster.md). state_dir still holds the daemon's lock."`
}

// PostgresConfig is the PostgreSQL state store's connection and the key
// secrets are encrypted with.
type PostgresConfig struct {
	// DSN is a libpq connection string or postgres:// URL; it may hold a
	// password, so a password must come from a secret reference.
	DSN conf.Template `yaml:"dsn" jsonschema:"description=libpq connection string or postgres:// URL\\, e.g. ${credential:pg_dsn}. A password must not be written in the file: reference the whole string (${credential:…}\\, ${file:…}\\, ${env:…}). Read once at start."`
	// SecretKey encrypts secrets at rest (rotated refresh tokens), AES-256.
	SecretKey conf.Template `yaml:"secret_key" jsonschema:"description=32 bytes as base64 or hex (openssl rand -base64 32)\\, from a secret reference\\, e.g. ${credential:pg_secret_key}: secrets (rotated refresh tokens) are stored encrypted with it (AES-256-GCM). Without it the store refuses to save secrets\\, so a flow with persist: true is refused at load."`
}

func (s StoreConfig) validate() error {
	if s.Postgres == nil {
		return nil
	}
	return conf.PrefixErrors("postgres", s.Postgres.validate())
}

func (p *PostgresConfig) validate() error {
	var errs []error
	switch {
	case p.DSN.IsZero():
		errs = append(errs, conf.FieldErrorf("dsn", "required: a connection string, e.g. ${credential:pg_dsn}"))
	case p.DSN.HasStepRefs():
		errs = append(errs, conf.FieldErrorf("dsn", "may reference secrets (${env:}, ${file:}, ${credential:}), not steps"))
	case p.DSN.IsLiteral() && literalHasPassword(p.DSN.String()):
		errs = append(errs, conf.FieldErrorf("dsn", "holds a password: put the connection string in a secret (dsn: ${credential:pg_dsn}) or the password in ~/.pgpass or PGPASSWORD"))
	}
	switch {
	case p.SecretKey.IsZero():
	case p.SecretKey.HasStepRefs() || p.SecretKey.IsLiteral():
		errs = append(errs, conf.FieldErrorf("secret_key", "must be a secret reference (${credential:…}, ${file:…} or ${env:…}), not written in the file"))
	}
	return errors.Join(errs...)
}

// literalHasPassword reports whether a connection string written in the
// file holds a password (URL user info or a password= pair). A URL that
// does not parse as one, or whose fragment holds an '@' (a '#' in the
// password), counts as holding one if it has an '@' at all: better refused
// than a password left in the file.
func literalHasPassword(dsn string) bool {
	if i := strings.Index(dsn, "://"); i >= 0 {
		u, err := url.Parse(dsn)
		if err != nil || strings.Contains(u.Fragment, "@") {
			return strings.Contains(dsn[i+3:], "@")
		}
		_, set := u.User.Password()
		return set || u.Query().Has("password")
	}
	for _, f := range strings.Fields(dsn) {
		if strings.HasPrefix(f, "password") {
			return true
		}
	}
	return false
}

// UsesPostgres reports whether the state store is PostgreSQL.
func (c *Config) UsesPostgres() bool { return c.Store.Postgres != nil }
