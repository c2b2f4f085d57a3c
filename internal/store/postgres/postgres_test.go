package postgres

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"

	"github.com/authwatch/authwatch/internal/store/storetest"
	"github.com/authwatch/authwatch/internal/testenv"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

var dbSeq atomic.Int64

// newDatabase creates an empty database on pg and returns its DSN.
func newDatabase(t *testing.T, pg *testenv.PostgresServer) string {
	t.Helper()
	return pg.CreateDatabase(t, fmt.Sprintf("t%d", dbSeq.Add(1)))
}

// openOn opens a store on dsn, closed at cleanup.
func openOn(t *testing.T, dsn string, o Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// One PostgreSQL server for the package's tests (a start costs seconds),
// a database per test.
func TestPostgres(t *testing.T) {
	pg := testenv.Postgres(t)
	t.Run("Conformance", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) func() storetest.Backend {
			dsn := newDatabase(t, pg)
			return func() storetest.Backend { return openOn(t, dsn, Options{SecretKey: testKey}) }
		})
	})
	for _, tc := range []struct {
		name string
		test func(t *testing.T, pg *testenv.PostgresServer)
	}{
		{"MigratesOnce", testMigratesOnce},
		{"RefusesForeignAndNewerSchemas", testRefusesForeignAndNewer},
		{"SecretsEncrypted", testSecretsEncrypted},
		{"SecretsNeedAKey", testSecretsNeedAKey},
		{"PasswordNotInErrors", testPasswordNotInErrors},
		{"LeasesBalance", testLeasesBalance},
		{"LeasesExpire", testLeasesExpire},
		{"LeasesRenewWithMainPoolBusy", testLeasesRenewWithMainPoolBusy},
		{"FencedWrites", testFencedWrites},
		{"StepIncidentOnce", testStepIncidentOnce},
		{"ReleaseKeepsWritesUntilClaimed", testReleaseKeepsWritesUntilClaimed},
		{"OutboxClaims", testOutboxClaims},
		{"OutcomeOfLostClaim", testOutcomeOfLostClaim},
		{"RetentionAtOpen", testRetentionAtOpen},
		{"StoresAnyText", testStoresAnyText},
		{"DataErrorsRefused", testDataErrorsRefused},
		{"SecretOfNonUTF8Key", testSecretOfNonUTF8Key},
		{"InstanceLock", testInstanceLock},
		{"InstanceLockHeldDuringCheck", testInstanceLockHeldDuringCheck},
		{"InstanceLockHolders", testInstanceLockHolders},
		{"RecordRunAfterForget", testRecordRunAfterForget},
		{"PruneInBatches", testPruneInBatches},
		{"PruneBySize", testPruneBySize},
		{"PruneBySizeUnderBound", testPruneBySizeUnderBound},
		{"LiveBytesSampled", testLiveBytesSampled},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, pg) })
	}
}

// Stores opened at once on a new database migrate it once (the advisory
// lock), and a reopen finds nothing to do.
func testMigratesOnce(t *testing.T, pg *testenv.PostgresServer) {
	dsn := newDatabase(t, pg)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			s, err := Open(context.Background(), dsn, Options{})
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	s := openOn(t, dsn, Options{})
	var versions []int
	rows, err := s.pool.Query(context.Background(), `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v int
		_ = rows.Scan(&v)
		versions = append(versions, v)
	}
	rows.Close()
	want := make([]int, len(migrations))
	for i := range want {
		want[i] = i + 1
	}
	if fmt.Sprint(versions) != fmt.Sprint(want) {
		t.Errorf("schema_migrations %v, want one row per migration (%d)", versions, len(migrations))
	}
}

func testRefusesForeignAndNewer(t *testing.T, pg *testenv.PostgresServer) {
	ctx := context.Background()
	foreign := newDatabase(t, pg)
	s := openOn(t, newDatabase(t, pg), Options{})
	// Another application's runs table.
	other, err := Open(ctx, foreign, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.pool.Exec(ctx, `DROP TABLE schema_migrations; DROP TABLE runs; CREATE TABLE runs (x int)`); err != nil {
		t.Fatal(err)
	}
	other.Close()
	if _, err := Open(ctx, foreign, Options{}); err == nil || !strings.Contains(err.Error(), "not an authwatch database") {
		t.Errorf("Open on a foreign runs table: %v", err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO schema_migrations VALUES (99, 0)`); err != nil {
		t.Fatal(err)
	}
	dsn := s.pool.Config().ConnString()
	if _, err := Open(ctx, dsn, Options{}); err == nil || !strings.Contains(err.Error(), "newer than this authwatch knows") {
		t.Errorf("Open on a newer schema: %v", err)
	}
}

// Secret values are not in the table in clear, and do not open under
// another key or another name.
func testSecretsEncrypted(t *testing.T, pg *testenv.PostgresServer) {
	ctx := context.Background()
	dsn := newDatabase(t, pg)
	s := openOn(t, dsn, Options{SecretKey: testKey})
	const canary = "refresh-token-canary-9c2e"
	if err := s.SaveSecret(ctx, "a", canary); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM secrets WHERE position(convert_to($1, 'UTF8') in value) > 0`, canary).Scan(&n); err != nil || n != 0 {
		t.Errorf("the value is stored in clear (%d rows, %v)", n, err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO secrets (key, key_id, value) SELECT 'b', key_id, value FROM secrets WHERE key = 'a'`); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LoadSecret(ctx, "b"); err == nil || strings.Contains(err.Error(), canary) {
		t.Errorf("a value copied under another name: %v; want an error without the value", err)
	}
	other := openOn(t, dsn, Options{SecretKey: []byte("another key, 32 bytes long......")})
	if _, _, err := other.LoadSecret(ctx, "a"); err == nil || !strings.Contains(err.Error(), "another secret key") {
		t.Errorf("LoadSecret under another key: %v", err)
	}
}

func testSecretsNeedAKey(t *testing.T, pg *testenv.PostgresServer) {
	ctx := context.Background()
	s := openOn(t, newDatabase(t, pg), Options{})
	if err := s.SaveSecret(ctx, "a", "v"); err == nil || !strings.Contains(err.Error(), "no secret key configured") {
		t.Errorf("SaveSecret without a key: %v", err)
	}
	if _, found, err := s.LoadSecret(ctx, "a"); found || err != nil {
		t.Errorf("LoadSecret of nothing without a key: %v, %v", found, err)
	}
	for _, bad := range []string{"", "short", strings.Repeat("z", 64)} {
		if _, err := ParseSecretKey(bad); err == nil {
			t.Errorf("ParseSecretKey(%q) accepted", bad)
		}
	}
	for _, good := range []string{"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n", strings.Repeat("ab", 32)} {
		if k, err := ParseSecretKey(good); err != nil || len(k) != 32 {
			t.Errorf("ParseSecretKey(%q) = %d bytes, %v", good, len(k), err)
		}
	}
}

// The connection string's password appears in no error: not in a parse
// error, not in a connection error, not in an error of a store whose
// server went away.
func testPasswordNotInErrors(t *testing.T, pg *testenv.PostgresServer) {
	const canary = "pw-canary-71be"
	ctx := context.Background()
	for _, dsn := range []string{
		"postgres://authwatch:" + canary + "@/nope?host=/nonexistent-dir&sslmode=disable",
		"host=/nonexistent-dir user=authwatch password=" + canary + " dbname=x",
		"postgres://authwatch:" + canary + "@[::1:bad/x",
		"host=" + pg.Dir + " user=authwatch password=" + canary + " dbname=missing_db sslmode=disable",
		"host=" + pg.Dir + " user=authwatch password=" + canary + " dbname=x connect_timeout=nope",
	} {
		_, err := Open(ctx, dsn, Options{})
		if err == nil {
			t.Errorf("Open(%q) succeeded", strings.ReplaceAll(dsn, canary, "…"))
			continue
		}
		if strings.Contains(err.Error(), canary) {
			t.Errorf("the password is in the error: %v", err)
		}
	}
}

// The numbers of runs kept whole given at Open apply from the first run,
// before any Prune has run (the daemon prunes only after its start).
func testRetentionAtOpen(t *testing.T, pg *testenv.PostgresServer) {
	s := openOn(t, newDatabase(t, pg), Options{Retention: store.Retention{PassingRunsKept: 2}})
	ctx := context.Background()
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 6 {
		r := store.Run{Flow: "f", Start: start.Add(time.Duration(i) * time.Second), DurationMS: 10, OK: true, Steps: []byte(`[]`)}
		if _, err := s.RecordRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	runs, err := s.Runs(ctx, "f", 0)
	if err != nil {
		t.Fatal(err)
	}
	// The first run (a change of state) and the two newest stay whole.
	if len(runs) != 3 {
		t.Errorf("%d runs kept whole, want 3 (the first and the 2 newest)", len(runs))
	}
}
