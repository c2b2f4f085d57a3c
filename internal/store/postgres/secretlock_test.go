package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/testenv"
)

// TestPostgresSecretLock: LockSecret of a key another store (another
// node) holds waits until the holder replaces the value, then reads the
// new one; a release leaves the value; a holder whose session ends
// (a node killed) frees the key; a key never stored locks too (its
// placeholder row), and reads as not stored.
func TestPostgresSecretLock(t *testing.T) {
	if testing.Short() {
		t.Skip("real PostgreSQL")
	}
	t.Parallel()
	pg := testenv.Postgres(t)
	dsn := newDatabase(t, pg)
	a := openOn(t, dsn, Options{SecretKey: testKey})
	b := openOn(t, dsn, Options{SecretKey: testKey})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const key = "refresh_token/f/refresh"

	type locked struct {
		l   store.SecretLock
		err error
	}
	lockAsync := func(s *Store) chan locked {
		ch := make(chan locked, 1)
		go func() {
			l, err := s.LockSecret(ctx, key)
			ch <- locked{l, err}
		}()
		return ch
	}
	// waiting blocks until a session of the database waits for a row
	// lock, and checks that ch has no answer yet.
	waiting := func(ch chan locked) {
		t.Helper()
		for i := 0; ; i++ {
			var n int
			if err := a.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				break
			}
			if i == 400 {
				t.Fatal("the second LockSecret never waited for the lock")
			}
			time.Sleep(25 * time.Millisecond)
		}
		select {
		case got := <-ch:
			t.Fatalf("LockSecret returned while another store held the key: %v", got.err)
		default:
		}
	}
	answer := func(ch chan locked) store.SecretLock {
		t.Helper()
		select {
		case got := <-ch:
			if got.err != nil {
				t.Fatal(got.err)
			}
			return got.l
		case <-ctx.Done():
			t.Fatal("LockSecret still waiting after the holder let go")
		}
		return nil
	}

	// Never stored: both race for the placeholder row.
	first, err := a.LockSecret(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := first.Value(); ok {
		t.Fatalf("a key never stored reads %q", v)
	}
	ch := lockAsync(b)
	waiting(ch)
	if err := first.Replace(ctx, "rt-2"); err != nil {
		t.Fatal(err)
	}
	second := answer(ch)
	if v, ok := second.Value(); !ok || v != "rt-2" {
		t.Fatalf("after the holder replaced it: %q %v, want rt-2", v, ok)
	}
	first.Release() // a no-op after Replace

	// Released unchanged.
	ch = lockAsync(a)
	waiting(ch)
	second.Release()
	third := answer(ch)
	if v, _ := third.Value(); v != "rt-2" {
		t.Fatalf("after a release: %q, want rt-2", v)
	}
	third.Release()

	// A holder whose session ends, as a killed node's does.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM secrets WHERE key = $1 FOR UPDATE`, key); err != nil {
		t.Fatal(err)
	}
	ch = lockAsync(b)
	waiting(ch)
	if _, err := a.pool.Exec(ctx, `SELECT pg_terminate_backend($1)`, conn.PgConn().PID()); err != nil {
		t.Fatal(err)
	}
	fourth := answer(ch)
	if err := fourth.Replace(ctx, "rt-3"); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := a.LoadSecret(ctx, key); err != nil || !ok || v != "rt-3" {
		t.Fatalf("LoadSecret: %q %v %v, want rt-3", v, ok, err)
	}
	_ = conn.Close(ctx)

	// A rolled-back placeholder leaves nothing.
	l, err := a.LockSecret(ctx, "refresh_token/g/refresh")
	if err != nil {
		t.Fatal(err)
	}
	l.Release()
	if _, ok, err := a.LoadSecret(ctx, "refresh_token/g/refresh"); ok || err != nil {
		t.Fatalf("a released placeholder is stored (%v %v)", ok, err)
	}
	if _, err := openOn(t, dsn, Options{}).LockSecret(ctx, key); err == nil {
		t.Error("LockSecret without a secret key succeeded")
	}
}
