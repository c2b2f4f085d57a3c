package cluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/postgres"
)

// Admit reports whether this node runs flow's run that falls due now, and
// the fence to record that run under (it belongs to that run: the
// scheduler hands it back with the run's result). It is Holds.
func (m *Member) Admit(flow string) (store.Fence, bool) { return m.Holds(flow) }

// Holds reports whether this node holds flow's shard now, with a fresh
// lease and its flows' incident states read since it claimed it, and the
// fence of a write made under it (runs, reminders of incidents).
func (m *Member) Holds(flow string) (store.Fence, bool) {
	shard := ShardOf(flow)
	now := m.o.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	gen, ok := m.held[shard]
	if !ok || !now.Before(m.validUntil) || m.unread[shard] {
		return store.Fence{}, false
	}
	return store.Fence{Location: m.o.Location, Shard: shard, Node: m.o.Node, Generation: gen}, true
}

// Status is a member's state, for /readyz and the status line.
type Status struct {
	Node, Location string
	Shards         int  // held now
	LiveNodes      int  // of the location, at the last renewal
	Lost           bool // the leases may have expired: no run is admitted
	LastError      error
}

// Status returns the member's state now.
func (m *Member) Status() Status {
	now := m.o.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	return Status{Node: m.o.Node, Location: m.o.Location, Shards: len(m.held), LiveNodes: m.liveNodes,
		Lost: !now.Before(m.validUntil), LastError: m.lastErr}
}

// Cycle runs one lease cycle: heartbeat, renewals, surplus given back,
// free shards claimed. On success the leases are fresh until Lease -
// Margin after the cycle began.
func (m *Member) Cycle(ctx context.Context) (postgres.LeaseGrant, error) {
	began := m.o.Now()
	ctx, cancel := context.WithTimeout(ctx, m.o.Renew)
	defer cancel()
	g, err := m.leases.RenewLeases(ctx, postgres.LeaseRequest{Node: m.o.Node, Location: m.o.Location, Shards: Shards,
		Lease: m.o.Lease, Live: 2 * m.o.Renew})
	if err != nil {
		m.mu.Lock()
		m.lastErr = err
		m.mu.Unlock()
		return g, err
	}
	claimed := m.claimed(g.Held)
	var unread error
	if len(claimed) > 0 && m.o.OnClaim != nil {
		if unread = m.o.OnClaim(claimed); unread != nil {
			m.o.Logger.Error("cluster: reading the state of claimed shards failed; not running their flows until it succeeds",
				"node", m.o.Node, "shards", len(claimed), "err", unread)
		}
	}
	m.mu.Lock()
	wasLost, before := m.lost || !began.Before(m.validUntil), len(m.held)
	lost := m.fences(func(shard int, gen int64) bool { return g.Held[shard] != gen })
	m.held, m.liveNodes, m.lastErr, m.lost = maps.Clone(g.Held), g.LiveNodes, nil, false
	m.validUntil = began.Add(m.o.Lease - m.o.Margin)
	clear(m.unread)
	if unread != nil {
		for _, shard := range claimed {
			m.unread[shard] = true
		}
	}
	m.mu.Unlock()
	m.lose(lost)
	if wasLost || before != len(g.Held) || len(claimed) > 0 {
		m.o.Logger.Info("cluster: leases held", "node", m.o.Node, "location", m.o.Location, "shards", len(g.Held),
			"live_nodes", g.LiveNodes, "claimed", len(claimed), "released", len(g.Released))
	}
	return g, nil
}

// fences are the fences of the held shards that lost selects; m.mu is
// held.
func (m *Member) fences(lost func(shard int, gen int64) bool) []store.Fence {
	var out []store.Fence
	for shard, gen := range m.held {
		if lost(shard, gen) {
			out = append(out, store.Fence{Location: m.o.Location, Shard: shard, Node: m.o.Node, Generation: gen})
		}
	}
	return out
}

// lose tells OnLose of the fences no longer held, if any.
func (m *Member) lose(lost []store.Fence) {
	if len(lost) > 0 && m.o.OnLose != nil {
		m.o.OnLose(lost)
	}
}

// claimed is the shards of held that are new to this node: not held
// before or under another generation (a cycle whose answer was lost, a
// commit the client timed out on, claimed them), and those whose state a
// previous OnClaim failed to read.
func (m *Member) claimed(held map[int]int64) []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []int
	for shard, gen := range held {
		if before, ok := m.held[shard]; !ok || before != gen || m.unread[shard] {
			out = append(out, shard)
		}
	}
	slices.Sort(out)
	return out
}

// Run renews the leases every Renew (every Renew/5 while shards of a dead
// node wait to be claimed, or while the database does not answer) until
// ctx ends; then it gives them back. When the leases may have expired it
// logs it once.
func (m *Member) Run(ctx context.Context) {
	defer m.release()
	next := m.o.Now() // the first cycle at once
	for {
		d := max(min(next.Sub(m.o.Now()), m.untilLapse()), 0)
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		m.checkLapse()
		if m.o.Now().Before(next) {
			continue // woke for the lapse
		}
		g, err := m.cycleBeforeLapse(ctx)
		wait := m.o.Renew
		switch {
		case err != nil && ctx.Err() == nil:
			m.o.Logger.Debug("cluster: lease renewal failed", "err", err)
			wait = m.o.Renew / 5
		case err == nil && g.Orphans > 0 && len(g.Held) < g.FairShare:
			wait = m.o.Renew / 5
		}
		next = m.o.Now().Add(wait)
	}
}

// cycleBeforeLapse runs a cycle that ends, if it has not succeeded, when
// the leases may expire: a renewal that hangs must not keep Run from
// noticing the lapse (and cancelling the runs) until its own timeout.
func (m *Member) cycleBeforeLapse(ctx context.Context) (postgres.LeaseGrant, error) {
	if d := m.untilLapse(); d > 0 && d < m.o.Renew {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	return m.Cycle(ctx)
}

// untilLapse is how long until the leases may expire (and admitting
// stops); a long time before the first renewal and once the lapse was
// logged.
func (m *Member) untilLapse() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lost || m.validUntil.IsZero() {
		return time.Hour
	}
	return m.validUntil.Sub(m.o.Now())
}

// checkLapse logs, once per lapse, that the leases may have expired.
func (m *Member) checkLapse() {
	now := m.o.Now()
	m.mu.Lock()
	lapsed := !m.lost && !m.validUntil.IsZero() && !now.Before(m.validUntil)
	if lapsed {
		m.lost = true
	}
	held, lastErr := len(m.held), m.lastErr
	var lost []store.Fence
	if lapsed {
		lost = m.fences(func(int, int64) bool { return true })
	}
	m.mu.Unlock()
	m.lose(lost)
	if lapsed {
		m.o.Logger.Error("cluster: lease lost: no renewal for "+(m.o.Lease-m.o.Margin).String()+"; not running flows until the database answers",
			"node", m.o.Node, "shards", held, "err", lastErr)
	}
}

// release gives the leases back on a clean stop.
func (m *Member) release() {
	m.mu.Lock()
	m.held, m.validUntil = map[int]int64{}, time.Time{}
	clear(m.unread)
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), m.o.Renew)
	defer cancel()
	if err := m.leases.ReleaseLeases(ctx, m.o.Node, m.o.Location); err != nil && !errors.Is(err, context.Canceled) {
		m.o.Logger.Warn("cluster: giving the leases back failed; other nodes take them when they expire", "err", fmt.Sprint(err))
	}
}
