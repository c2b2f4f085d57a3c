package postgres

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

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

// Held does not wait for a Check in progress: Check's reconnection hangs
// (a server that accepts and never answers) while Held answers, from what
// the last Check found.
func testInstanceLockHeldDuringCheck(t *testing.T, pg *testenv.PostgresServer) {
	ctx := context.Background()
	dsn := newDatabase(t, pg)
	a, b := openOn(t, dsn, Options{}), openOn(t, dsn, Options{})
	l, err := a.LockInstance(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	l.checkTimeout = time.Hour // the test ends the Check, not a timeout

	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := silent.Accept(); err == nil {
			accepted <- c
		}
	}()
	// The lock's connection drops, and the server now is one that never answers.
	if _, err := b.pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'authwatch single %'`); err != nil {
		t.Fatal(err)
	}
	a.connCfg.Host, a.connCfg.Port, a.connCfg.Fallbacks = "127.0.0.1", uint16(silent.Addr().(*net.TCPAddr).Port), nil
	checkCtx, endCheck := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer endCheck()
	wg.Go(func() { _ = l.Check(checkCtx) })
	var conn net.Conn
	select {
	case conn = <-accepted:
		defer conn.Close()
	case <-time.After(30 * time.Second):
		t.Fatal("Check did not reconnect within 30s")
	}
	answered := make(chan bool, 1)
	go func() {
		held, _ := l.Held()
		answered <- held
	}()
	select {
	case held := <-answered:
		if !held {
			t.Error("Held during the Check: false, want what the last Check found (held)")
		}
	case <-time.After(30 * time.Second):
		t.Error("Held waited behind a Check in progress (30s)")
	}
	endCheck()
	wg.Wait()
	if held, why := l.Held(); held || why == nil {
		t.Errorf("Held after the failed Check: %v, %v; want false with the reason", held, why)
	}
}

// The holders named in a refusal are the instance lock's: a session
// holding the two-int4 advisory lock of the same bits (objsubid 2, another
// lock for PostgreSQL) is not one of them.
func testInstanceLockHolders(t *testing.T, pg *testenv.PostgresServer) {
	ctx := context.Background()
	dsn := newDatabase(t, pg)
	a, b := openOn(t, dsn, Options{}), openOn(t, dsn, Options{})
	if _, err := a.LockInstance(ctx, false); err != nil {
		t.Fatal(err)
	}
	other, err := b.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Release()
	if _, err := other.Exec(ctx, `SET application_name = 'not authwatch'`); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec(ctx, `SELECT pg_advisory_lock($1::int4, $2::int4)`, int32(instanceLock>>32), int32(instanceLock&0xffffffff)); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = other.Exec(ctx, `SELECT pg_advisory_unlock_all()`) }()
	_, err = b.LockInstance(ctx, false)
	if err == nil || !strings.Contains(err.Error(), `"authwatch single `) || strings.Contains(err.Error(), "not authwatch") {
		t.Errorf("LockInstance beside a single daemon and an int4-pair lock of the same bits: %v; want only the daemon named", err)
	}
}
