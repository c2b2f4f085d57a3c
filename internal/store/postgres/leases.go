package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// LeaseRequest is one node's lease cycle (see RenewLeases).
type LeaseRequest struct {
	Node, Location string
	Shards         int           // shards of the location, 0..Shards-1
	Lease          time.Duration // how long a claim or renewal lasts
	// Live is how recent a node's heartbeat must be for it to count as
	// live: a node killed stops counting after Live, before its leases
	// expire, so that the others' fair share has grown by then.
	Live time.Duration
}

// LeaseGrant is what a lease cycle left the node with.
type LeaseGrant struct {
	Held      map[int]int64 // shard → generation, every shard the node holds now
	LiveNodes int           // in the location, this node included
	FairShare int           // ceil(Shards / LiveNodes)
	Claimed   []int         // shards taken in this cycle (a new generation)
	Released  []int         // shards given back in this cycle (surplus)
	// Orphans counts shards still leased to nodes that are no longer
	// live: they become claimable when their lease ends, so the node
	// should come back soon.
	Orphans int
}

// RenewLeases runs one lease cycle of a node in one transaction, on the
// server's clock: it records the node's heartbeat, counts the live nodes
// of its location, renews every lease the node holds (a holder keeps its
// generation), gives back the shards beyond its fair share
// (ceil(Shards / live nodes)), and claims free or expired shards up to it
// with FOR UPDATE SKIP LOCKED (a claim bumps the shard's generation, which
// fences the writes of the previous holder: store.Fence). Five round trips
// besides BEGIN and COMMIT.
func (s *Store) RenewLeases(ctx context.Context, req LeaseRequest) (LeaseGrant, error) {
	var g LeaseGrant
	err := pgx.BeginFunc(ctx, s.leasePool, func(tx pgx.Tx) error {
		var err error
		g, err = renewLeases(ctx, tx, req)
		return err
	})
	if err != nil {
		return LeaseGrant{}, s.faultf("store: lease cycle of node %s: %w", req.Node, err)
	}
	return g, nil
}

func renewLeases(ctx context.Context, tx pgx.Tx, req LeaseRequest) (LeaseGrant, error) {
	lease, live := req.Lease.Microseconds(), req.Live.Microseconds()
	g := LeaseGrant{Held: map[int]int64{}}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO shard_lease (location, shard) SELECT $1, s FROM generate_series(0, $2 - 1) AS s
		ON CONFLICT DO NOTHING`, req.Location, req.Shards)
	b.Queue(`INSERT INTO cluster_nodes (node, location, seen, seen_until) VALUES ($1, $2, now(), now() + $3 * interval '1 microsecond')
		ON CONFLICT (node) DO UPDATE SET location = excluded.location, seen = excluded.seen, seen_until = excluded.seen_until`,
		req.Node, req.Location, lease)
	b.Queue(`DELETE FROM cluster_nodes WHERE seen_until < now() - interval '1 hour'`)
	b.Queue(`SELECT count(*) FROM cluster_nodes WHERE location = $1 AND seen > now() - $2 * interval '1 microsecond'`,
		req.Location, live).QueryRow(func(row pgx.Row) error { return row.Scan(&g.LiveNodes) })
	b.Queue(`SELECT count(*) FROM shard_lease AS l WHERE l.location = $1 AND l.node NOT IN ('', $2) AND l.claimed_until > now()
		AND NOT EXISTS (SELECT 1 FROM cluster_nodes AS n WHERE n.node = l.node AND n.seen > now() - $3 * interval '1 microsecond')`,
		req.Location, req.Node, live).QueryRow(func(row pgx.Row) error { return row.Scan(&g.Orphans) })
	b.Queue(`UPDATE shard_lease SET claimed_until = now() + $3 * interval '1 microsecond'
		WHERE location = $1 AND node = $2 AND claimed_until > '-infinity' RETURNING shard, generation`, req.Location, req.Node, lease).
		Query(func(rows pgx.Rows) error { return scanHeld(rows, g.Held, nil) })
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return LeaseGrant{}, err
	}
	g.FairShare = (req.Shards + max(g.LiveNodes, 1) - 1) / max(g.LiveNodes, 1)
	switch {
	case len(g.Held) > g.FairShare:
		return g, release(ctx, tx, req, &g)
	case len(g.Held) < g.FairShare:
		return g, claim(ctx, tx, req, &g)
	}
	return g, nil
}

// release gives back the highest-numbered shards beyond the fair share.
// A shard given back keeps its node and generation, only its lease ends
// ('-infinity': the node does not renew it, any node may claim it): the
// node's runs of it in progress still record until another node claims it
// and the claim moves the generation on (store.Fence).
func release(ctx context.Context, tx pgx.Tx, req LeaseRequest, g *LeaseGrant) error {
	rows, err := tx.Query(ctx, `UPDATE shard_lease SET claimed_until = '-infinity'
		WHERE location = $1 AND node = $2 AND shard IN (
			SELECT shard FROM shard_lease WHERE location = $1 AND node = $2 AND claimed_until > '-infinity'
			ORDER BY shard DESC LIMIT $3)
		RETURNING shard, generation`, req.Location, req.Node, len(g.Held)-g.FairShare)
	if err != nil {
		return err
	}
	released := map[int]int64{}
	if err := scanHeld(rows, released, &g.Released); err != nil {
		return err
	}
	for shard := range released {
		delete(g.Held, shard)
	}
	return nil
}

// claim takes free or expired shards, in random order so that nodes
// claiming together rarely want the same rows, skipping rows another
// claim has locked.
func claim(ctx context.Context, tx pgx.Tx, req LeaseRequest, g *LeaseGrant) error {
	rows, err := tx.Query(ctx, `UPDATE shard_lease AS l SET node = $2, generation = l.generation + 1,
			claimed_until = now() + $4 * interval '1 microsecond'
		FROM (SELECT shard FROM shard_lease WHERE location = $1 AND claimed_until < now()
			ORDER BY random() LIMIT $3 FOR UPDATE SKIP LOCKED) AS free
		WHERE l.location = $1 AND l.shard = free.shard RETURNING l.shard, l.generation`,
		req.Location, req.Node, g.FairShare-len(g.Held), req.Lease.Microseconds())
	if err != nil {
		return err
	}
	return scanHeld(rows, g.Held, &g.Claimed)
}

// scanHeld reads (shard, generation) rows into held, and their shards
// into list when it is not nil.
func scanHeld(rows pgx.Rows, held map[int]int64, list *[]int) error {
	defer rows.Close()
	for rows.Next() {
		var shard int
		var gen int64
		if err := rows.Scan(&shard, &gen); err != nil {
			return err
		}
		held[shard] = gen
		if list != nil {
			*list = append(*list, shard)
		}
	}
	return rows.Err()
}

// ReleaseLeases gives back every lease of node (a clean stop), so that
// other nodes claim its shards at their next cycle instead of after the
// lease time, and removes its heartbeat. As in a rebalance, the leases
// keep node and generation until claimed (see release).
func (s *Store) ReleaseLeases(ctx context.Context, node, location string) error {
	err := pgx.BeginFunc(ctx, s.leasePool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`UPDATE shard_lease SET claimed_until = '-infinity' WHERE location = $1 AND node = $2`, location, node)
		b.Queue(`DELETE FROM cluster_nodes WHERE node = $1`, node)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return s.faultf("store: releasing the leases of node %s: %w", node, err)
	}
	return nil
}

// newLeasePool is the lease cycle's pool: one connection, opened at the
// first renewal (a single daemon never opens it).
func newLeasePool(ctx context.Context, main *pgxpool.Config) (*pgxpool.Pool, error) {
	cfg := main.Copy()
	cfg.MaxConns, cfg.MinConns, cfg.MinIdleConns = 1, 0, 0
	return pgxpool.NewWithConfig(ctx, cfg)
}
