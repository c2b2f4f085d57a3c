package daemon

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/authwatch/authwatch/internal/delivery"
	"github.com/authwatch/authwatch/internal/store/buffered"
)

// The store guard: while the state store refuses writes, results, incidents
// and pages are held in memory by the buffered store; the guard pages about
// it (authwatch's own incident), delivers the held pages directly, tries to
// write what memory holds with a growing interval, and starves the systemd
// watchdog after watchdogStoreFailures failed tries so that systemd
// restarts a daemon whose store stays broken.
const (
	guardTick             = time.Second
	firstProbeDelay       = 2 * time.Second
	maxProbeDelay         = 30 * time.Second
	watchdogStoreFailures = 5
	directWorkers         = 8
	finalFlushTimeout     = 5 * time.Second
)

// guardStore runs until ctx ends.
func (m *Main) guardStore(ctx context.Context) {
	ticker := time.NewTicker(guardTick)
	defer ticker.Stop()
	var nextProbe time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-m.store.Signal():
		}
		nextProbe = m.checkStore(ctx, time.Now(), nextProbe)
		m.checkSkips(time.Now())
		m.checkLateness(time.Now())
	}
}

// checkStore is one look at the store; it returns when to try writing next.
func (m *Main) checkStore(ctx context.Context, now, nextProbe time.Time) time.Time {
	h := m.store.Health()
	if !h.OK && !now.Before(nextProbe) {
		nextProbe = m.probeStore(ctx, now)
		h = m.store.Health()
	}
	m.setStoreHealth(h)
	m.alert.observeStore(ctx, h, now)
	m.updateStatus()
	if !h.OK {
		m.deliverHeld(ctx, now)
	}
	return nextProbe
}

// probeStore tries to write what memory holds.
func (m *Main) probeStore(ctx context.Context, now time.Time) time.Time {
	before := m.store.Health()
	err := m.store.Flush(ctx)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err == nil {
		m.log.Info("state store writable again: everything held in memory is written",
			"down_for", now.Sub(before.Since).Round(time.Second).String(), "runs", before.PendingRuns, "dropped_runs", before.Dropped)
		m.storeProbeFailures = 0
		return now
	}
	m.storeProbeFailures++
	if m.storeProbeFailures == 1 {
		m.log.Error("state store unwritable: results, incidents and pages are held in memory and pages are sent directly",
			"err", err)
	}
	if m.storeProbeFailures == watchdogStoreFailures {
		m.log.Error("state store still unwritable: no longer feeding the systemd watchdog, so that systemd restarts authwatch",
			"failed_writes", m.storeProbeFailures, "err", err)
	}
	delay := min(firstProbeDelay<<min(m.storeProbeFailures-1, 10), maxProbeDelay)
	return now.Add(delay)
}

func (m *Main) setStoreHealth(h buffered.Health) {
	m.metrics.StoreHealth(h.OK, h.PendingRuns, h.Dropped)
}

// watchdogFed reports whether the watchdog may be fed: not once the store
// refused watchdogStoreFailures tries in a row.
func (m *Main) watchdogFed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.storeProbeFailures < watchdogStoreFailures
}

// deliverHeld sends the pages held in memory that are due, directly,
// directWorkers at a time, and records each outcome in memory. A cluster
// node sends those of its own incident only: a flow's pages are committed
// under the flow's lease fence, and the buffered store does not hold
// fenced writes; a flow's page held all the same (none is) would wait for
// the flush rather than be sent by a node that may not run the flow.
func (m *Main) deliverHeld(ctx context.Context, now time.Time) {
	sem := make(chan struct{}, directWorkers)
	var wg sync.WaitGroup
	for _, it := range m.store.Unsent(now) {
		if m.cluster != nil && it.Flow != MonitorFlow {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			m.deliverOne(ctx, it)
		}()
	}
	wg.Wait()
}

func (m *Main) deliverOne(ctx context.Context, it buffered.Item) {
	retry, err := m.alert.sender.DeliverNow(ctx, it.OutboxItem)
	switch {
	case err == nil:
		m.log.Info("page sent directly (the state store is unwritable)", "notifier", it.Notifier, "incident", it.IncidentKey)
		m.store.MarkSent(it.Seq, true, time.Time{}, "")
	case retry:
		wait := max(m.alert.sender.Backoff(it.Attempts+1), delivery.RetryAfter(err))
		m.log.Warn("direct page failed; will retry", "notifier", it.Notifier, "incident", it.IncidentKey,
			"retry_in", wait.Round(time.Second).String(), "err", err)
		m.store.MarkSent(it.Seq, false, time.Now().Add(wait), err.Error())
	default:
		m.log.Error("direct page refused by the receiver; not retrying", "notifier", it.Notifier, "incident", it.IncidentKey, "err", err)
		m.store.MarkSent(it.Seq, true, time.Time{}, err.Error())
	}
}

// flushBeforeExit writes what memory holds one last time, briefly; what
// cannot be written is lost with the process, and the log says so.
func (m *Main) flushBeforeExit() {
	ctx, cancel := context.WithTimeout(context.Background(), finalFlushTimeout)
	defer cancel()
	h := m.store.Health()
	if h.OK {
		return
	}
	if err := m.store.Flush(ctx); err != nil {
		h = m.store.Health()
		m.log.Error("stopping with the state store unwritable: what was held in memory is lost",
			"runs", h.PendingRuns, "pages", h.PendingItems, "err", err)
	}
}

func (m *Main) markActivity() { m.lastActivity.Store(time.Now().UnixNano()) }

// schedulerHealthy reports whether runs are happening: some run started,
// skipped or finished within twice the shortest every: interval plus a
// minute (cron-only and empty flow sets are taken as healthy).
func (m *Main) schedulerHealthy(now time.Time) (bool, string) {
	shortest := time.Duration(0)
	for _, f := range m.currentFlows() {
		if d := f.Every.Std(); d > 0 && (shortest == 0 || d < shortest) {
			shortest = d
		}
	}
	if shortest == 0 {
		return true, ""
	}
	idle := now.Sub(time.Unix(0, m.lastActivity.Load()))
	if limit := 2*shortest + time.Minute; idle > limit {
		return false, fmt.Sprintf("no run started or finished for %s (flows run every %s)", idle.Round(time.Second), shortest)
	}
	return true, ""
}
