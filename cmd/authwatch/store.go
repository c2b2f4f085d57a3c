package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/store/postgres"
	"github.com/authwatch/authwatch/internal/store/storemigrate"
)

func newStoreCommand() *cobra.Command {
	storeCmd := &cobra.Command{
		Use:   "store",
		Short: "manage the state store",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return fmt.Errorf("missing subcommand: %s migrate --from sqlite:PATH --to postgres:DSN", cmd.CommandPath())
		},
	}
	var o migrateOptions
	migrate := &cobra.Command{
		Use:   "migrate --from sqlite:PATH --to postgres:DSN",
		Short: "copy the state (history, states, incidents, outbox, secrets, baselines) from SQLite into an empty PostgreSQL",
		Long: "Copies everything the SQLite state database holds (run history with its roll-ups, flow\n" +
			"states, incident states, the notification outbox, rotated refresh tokens, learned baselines\n" +
			"and their accepts) into an empty\n" +
			"PostgreSQL database, in one transaction. Stop the daemon first. DSN and --secret-key may be\n" +
			"secret references (${env:PG_DSN}, ${file:/path}, ${credential:NAME}), which keeps a password\n" +
			"off the command line. Secrets are encrypted with --secret-key (the daemon's\n" +
			"store.postgres.secret_key); without it a database that holds secrets is refused. Exit status:\n" +
			"0 copied, 1 the copy failed (nothing is copied), 2 a usage error.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return exit(cmdStoreMigrate(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr()))
		},
	}
	migrate.Flags().StringVar(&o.from, "from", "", "the source: sqlite:PATH (e.g. sqlite:/var/lib/authwatch/authwatch.db)")
	migrate.Flags().StringVar(&o.to, "to", "", "the target: postgres:DSN (a libpq string, a postgres:// URL, or a secret reference)")
	migrate.Flags().StringVar(&o.secretKey, "secret-key", "", "the key secrets are encrypted with, as a secret reference (e.g. ${file:/etc/authwatch/pg_key})")
	storeCmd.AddCommand(migrate)
	return storeCmd
}

type migrateOptions struct{ from, to, secretKey string }

// migrateTimeout bounds a whole migration: a large history copies at tens
// of thousands of runs a second.
const migrateTimeout = time.Hour

// cmdStoreMigrate is `authwatch store migrate`.
func cmdStoreMigrate(ctx context.Context, o migrateOptions, stdout, stderr io.Writer) int {
	path, ok := strings.CutPrefix(o.from, "sqlite:")
	if !ok || path == "" {
		fmt.Fprintf(stderr, "store migrate: --from must be sqlite:PATH, got %q\n", o.from)
		return exitInvalid
	}
	rawDSN, ok := strings.CutPrefix(o.to, "postgres:")
	if !ok || rawDSN == "" {
		// Not quoted: it may hold a password.
		fmt.Fprintln(stderr, "store migrate: --to must be postgres:DSN")
		return exitInvalid
	}
	secrets := conf.SecretSource{}
	dsn, err := conf.NewTemplate(rawDSN).ExpandSecrets(secrets)
	if err != nil {
		fmt.Fprintf(stderr, "store migrate: --to: %v\n", err)
		return exitInvalid
	}
	var key []byte
	if o.secretKey != "" {
		tmpl := conf.NewTemplate(o.secretKey)
		if tmpl.IsLiteral() {
			fmt.Fprintln(stderr, "store migrate: --secret-key must be a secret reference (${file:…}, ${env:…}, ${credential:…}), not the key itself")
			return exitInvalid
		}
		raw, err := tmpl.ExpandSecrets(secrets)
		if err == nil {
			key, err = postgres.ParseSecretKey(raw)
		}
		if err != nil {
			fmt.Fprintf(stderr, "store migrate: --secret-key: %v\n", err)
			return exitInvalid
		}
	}
	ctx, cancel := context.WithTimeout(ctx, migrateTimeout)
	defer cancel()
	dst, err := postgres.Open(ctx, dsn, postgres.Options{SecretKey: key})
	if err != nil {
		fmt.Fprintf(stderr, "store migrate: %v\n", err)
		return exitFailed
	}
	defer dst.Close()
	start := time.Now()
	counts, err := storemigrate.SQLiteToPostgres(ctx, path, dst)
	if err != nil {
		fmt.Fprintf(stderr, "store migrate: %v (nothing was copied)\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "copied %s from %s to PostgreSQL in %s\n", counts, path, time.Since(start).Round(time.Millisecond))
	return exitOK
}
