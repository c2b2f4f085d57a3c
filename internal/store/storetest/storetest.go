// Package storetest is the conformance suite of store backends: tests
// written against the interfaces of internal/store only, run on every
// backend (SQLite in this package's tests, PostgreSQL in
// internal/store/postgres), so that the daemon and the status page see the
// same behaviour whichever holds their state.
package storetest

import (
	"context"
	"testing"

	"github.com/authwatch/authwatch/internal/store"
)

// Backend is what the daemon and the status page use of a store: every
// interface they type-assert on.
type Backend interface {
	store.Store
	store.Outbox
	store.Restorer
	store.RollupReader
	store.Baselines
	// RunsBefore pages a flow's history (statuspage.RunPager).
	RunsBefore(ctx context.Context, flow string, before int64, limit int) ([]store.Run, error)
}

// Opener prepares an empty store for one test and returns a function that
// opens it; it may be called again after the store it returned is closed
// (a restart). The test closes what it opens only when it reopens; the
// Opener's cleanup closes the rest.
type Opener func(t *testing.T) (open func() Backend)

// Run runs the suite on the backend that newStore opens.
func Run(t *testing.T, newStore Opener) {
	for _, tc := range []struct {
		name string
		test func(t *testing.T, open func() Backend)
	}{
		{"RecordRunStreaks", testRecordRunStreaks},
		{"RecordRunRejectsInvalid", testRecordRunRejectsInvalid},
		{"RecordRunEndedContext", testRecordRunEndedContext},
		{"RunsOrderLimitAndPages", testRunsOrderLimitAndPages},
		{"RunRoundTrip", testRunRoundTrip},
		{"Prune", testPrune},
		{"ForgetFlows", testForgetFlows},
		{"PassingRunsBeyondKeptAreRolledUp", testPassingRunsBeyondKept},
		{"RepeatedFailuresBeyondKept", testRepeatedFailuresBeyondKept},
		{"RollupsAndTotals", testRollupsAndTotals},
		{"PruneRollupTiers", testPruneRollupTiers},
		{"RestoreRuns", testRestoreRuns},
		{"Secrets", testSecrets},
		{"Outbox", testOutbox},
		{"ReopenKeepsEverything", testReopen},
		{"ConcurrentRunsOfOneFlow", testConcurrentRuns},
		{"LocationRoundTrip", testLocationRoundTrip},
		{"StatesPerLocation", testStatesPerLocation},
		{"Baselines", testBaselines},
		{"PruneBySize", testPruneBySize},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, newStore(t)) })
	}
}
