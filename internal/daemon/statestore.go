package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/buffered"
	"github.com/authwatch/authwatch/internal/store/postgres"
	"github.com/authwatch/authwatch/internal/store/sqlite"
)

// stateBackend is the store behind the daemon's memory buffer: SQLite in
// state_dir, or PostgreSQL (store.postgres).
type stateBackend interface {
	buffered.Backend
	// UsedBytes is the store's size, for the metrics.
	UsedBytes(ctx context.Context) (int64, error)
}

// sizePruner is a backend that applies retention.max_size (SQLite).
type sizePruner interface {
	LastSizePrune() sqlite.SizePrune
}

// postgresOpenTimeout bounds connecting to PostgreSQL and migrating it at
// a start: a server that does not answer fails the start, and systemd
// retries it.
const postgresOpenTimeout = time.Minute

// openBackend opens the state store the configuration selects.
func openBackend(cfg *config.Config, check sqlite.Check, notify Notifier, log *slog.Logger) (stateBackend, error) {
	if !cfg.UsesPostgres() {
		db, err := openStore(filepath.Join(cfg.StateDir, "authwatch.db"), check, cfg.RetentionPolicy(), notify, log)
		if err != nil {
			return nil, err
		}
		db.SetCommitInterval(storeCommitInterval)
		return db, nil
	}
	return openPostgres(cfg.Store.Postgres, cfg.RetentionPolicy(), conf.SecretSource{}, log, recordedLocation(cfg))
}

// openPostgres resolves the connection string and the secret key and opens
// the PostgreSQL store. Neither value appears in its errors.
func openPostgres(pc *config.PostgresConfig, ret store.Retention, secrets conf.SecretSource, log *slog.Logger, location string) (*postgres.Store, error) {
	dsn, err := pc.DSN.ExpandSecrets(secrets)
	if err != nil {
		return nil, fmt.Errorf("store.postgres.dsn: %w", err)
	}
	var key []byte
	if !pc.SecretKey.IsZero() {
		raw, err := pc.SecretKey.ExpandSecrets(secrets)
		if err != nil {
			return nil, fmt.Errorf("store.postgres.secret_key: %w", err)
		}
		if key, err = postgres.ParseSecretKey(raw); err != nil {
			return nil, fmt.Errorf("store.postgres.secret_key: %w", err)
		}
	} else {
		log.Warn("store.postgres.secret_key is not set: secrets (rotated refresh tokens) cannot be saved")
	}
	ctx, cancel := context.WithTimeout(context.Background(), postgresOpenTimeout)
	defer cancel()
	return postgres.Open(ctx, dsn, postgres.Options{SecretKey: key, Logger: log.With("component", "store"), Retention: ret,
		Location: location})
}
