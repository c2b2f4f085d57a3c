// Package cluster lets several authwatch nodes share one PostgreSQL store
// and run each flow once (docs/cluster.md): a location's flows are hashed
// into Shards shards, a node runs only the flows of the shards it leases,
// and the live nodes of a location share the shards evenly.
//
// A Member renews its node's leases every Renew; a lease lasts Lease. It
// admits runs only while its last renewal is recent enough that no other
// node can have taken its shards (Lease - Margin after that renewal
// began, on this node's monotonic clock; the leases themselves are on the
// server's): a node cut from the database stops running flows before its
// leases can expire, says so (Ready, one log line), and resumes when a
// renewal succeeds. Every admitted run carries its shard's lease
// generation (Fence): the store refuses the run's writes once another
// node has claimed the shard, so a node paused past its lease does not
// write over its successor. When the node stops holding a fence (the
// lapse, a shard given back or taken), OnLose says so, and the daemon
// cancels the runs in progress under it.
//
// Lifecycle: New, then Cycle once (optional: the first lease cycle before
// the scheduler starts), Run until its context ends (it gives the leases
// back then, so that other nodes take over at their next cycle).
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"hash/fnv"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/postgres"
)

// Shards is how many shards a location's flows are hashed into: enough to
// spread them over a handful of nodes, few enough that a lease cycle is
// one small transaction.
const Shards = 64

// Defaults of Options.
const (
	DefaultRenew    = 5 * time.Second
	DefaultLease    = 15 * time.Second
	DefaultLocation = "default"
)

// LeaseStore keeps the leases: *postgres.Store.
type LeaseStore interface {
	RenewLeases(ctx context.Context, req postgres.LeaseRequest) (postgres.LeaseGrant, error)
	ReleaseLeases(ctx context.Context, node, location string) error
}

var _ LeaseStore = (*postgres.Store)(nil)

// Options configure a Member; the zero value is usable.
type Options struct {
	Node     string // this node's id; default: host name and random digits
	Location string // default DefaultLocation
	Renew    time.Duration
	Lease    time.Duration
	// Margin is how long before its lease could end a node stops
	// admitting runs when it cannot renew (default Renew): it covers the
	// renewal's round trip and the difference of clock rates.
	Margin time.Duration
	Logger *slog.Logger
	// OnClaim is called with the shards a cycle claimed (new to this
	// node, or under a new generation), before their flows are admitted:
	// the daemon reloads those flows' incident states, which their
	// previous holder wrote. While it fails, those shards' flows are not
	// admitted; the next cycle calls it again.
	OnClaim func(shards []int) error
	// OnLose is called with the fences of the shards this node no
	// longer holds under them: given back or taken by another node (a
	// cycle's answer), or all held ones when the leases may have expired
	// (the lapse, Lease - Margin after the last renewal began). The
	// daemon cancels the runs admitted under them. It is called after
	// Admit stopped admitting runs under those fences, from the goroutine
	// of Run or Cycle, and must not block.
	OnLose func(lost []store.Fence)
	Now    func() time.Time // monotonic; default time.Now
}

// Member is one node's membership. It is safe for concurrent use.
type Member struct {
	leases LeaseStore
	o      Options

	mu         sync.Mutex
	held       map[int]int64 // shard → generation
	validUntil time.Time     // runs are admitted until then
	lost       bool          // the lapse was logged
	liveNodes  int
	lastErr    error
	unread     map[int]bool // held shards whose OnClaim failed: not admitted
}

// New returns a Member holding no shard yet.
func New(leases LeaseStore, o Options) *Member {
	if o.Node == "" {
		o.Node = NodeID()
	}
	if o.Location == "" {
		o.Location = DefaultLocation
	}
	if o.Renew <= 0 {
		o.Renew = DefaultRenew
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.Margin <= 0 {
		o.Margin = o.Renew
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Member{leases: leases, o: o, held: map[int]int64{}, unread: map[int]bool{}}
}

// NodeID is a new node id: the host name and 8 random hex digits (a node
// restarted is a new node: its old leases expire or are given back).
func NodeID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	host, _ := os.Hostname()
	if host == "" {
		host = "node"
	}
	return host + "-" + hex.EncodeToString(b)
}

// Node is this member's node id; Location its location.
func (m *Member) Node() string     { return m.o.Node }
func (m *Member) Location() string { return m.o.Location }

// ShardOf is the shard of a flow: FNV-1a of its name, modulo Shards; the
// same in every node and every version.
func ShardOf(flow string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(flow))
	return int(h.Sum32() % Shards)
}
