package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/internal/testenv"
)

// A single daemon holds its database alone: a second single daemon and a
// cluster node are refused, naming the holder; cluster nodes share it; a
// lock whose connection dropped is taken again, unless another daemon
// took it meanwhile.
func testInstanceLock(t *testing.T, pg *testenv.PostgresServer) {
	ctx := context.Background()
	dsn := newDatabase(t, pg)
	a, b := openOn(t, dsn, Options{}), openOn(t, dsn, Options{})
	single, err := a.LockInstance(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	var locked ErrInstanceLocked
	for _, shared := range []bool{false, true} {
		_, err := b.LockInstance(ctx, shared)
		if !errors.As(err, &locked) || !strings.Contains(err.Error(), `held by "authwatch single `) {
			t.Errorf("LockInstance(shared %v) beside a single daemon: %v", shared, err)
		}
	}

	// The lock's connection dies (a server restart, a proxy's idle cut):
	// Check takes the lock again.
	if _, err := b.pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'authwatch single %'`); err != nil {
		t.Fatal(err)
	}
	if err := single.Check(ctx); err != nil {
		t.Fatalf("Check after the connection dropped: %v", err)
	}
	if held, _ := single.Held(); !held {
		t.Fatal("not held after a successful Check")
	}

	// Dropped again, and another daemon takes the lock meanwhile: Check
	// fails and Held says so.
	if _, err := b.pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'authwatch single %'`); err != nil {
		t.Fatal(err)
	}
	other, err := b.LockInstance(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := single.Check(ctx); !errors.As(err, &locked) {
		t.Errorf("Check with the lock taken by another: %v", err)
	}
	if held, why := single.Held(); held || why == nil {
		t.Errorf("Held: %v, %v; want false with the reason", held, why)
	}
	if err := other.Release(); err != nil {
		t.Fatal(err)
	}

	// Cluster nodes share it, and keep a single daemon out.
	n1, err := a.LockInstance(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	n2, err := b.LockInstance(ctx, true)
	if err != nil {
		t.Fatalf("a second cluster node: %v", err)
	}
	if _, err := b.LockInstance(ctx, false); !errors.As(err, &locked) || !strings.Contains(err.Error(), "authwatch cluster ") {
		t.Errorf("a single daemon beside cluster nodes: %v", err)
	}
	_ = n1.Release()
	_ = n2.Release()
	if _, err := b.LockInstance(ctx, false); err != nil {
		t.Errorf("a single daemon once the nodes left: %v", err)
	}
}
