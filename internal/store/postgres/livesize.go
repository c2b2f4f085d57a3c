package postgres

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/jackc/pgx/v5"
)

// The size retention.max_size bounds on PostgreSQL is the live bytes of the
// store's tables: what their rows would take with no free space, their
// index entries included. The tables' size on disk (UsedBytes) does not
// shrink when rows are deleted, so a bound on it could not be met; the
// live bytes fall with every row a prune deletes.
//
// The estimate reads no table whole (docs/cluster.md, "Size on
// PostgreSQL"): per table, the live rows' bytes in a sample of
// SizeSamplePages pages, scaled by the table's pages over the pages
// sampled, plus the indexes' size in the proportion of the heap that holds
// live rows. The sample is runs of sampleRunPages pages spread evenly over
// the table (TID range scans, PostgreSQL 14 and later; before,
// TABLESAMPLE SYSTEM, whose number of pages varies from draw to draw). A
// table of no more pages than the sample is read whole: the figure is
// exact. Rows deleted leave the sample at once, unlike the statistics'
// counts (pg_stat_user_tables), which are published within seconds and
// restart from zero after a crash; and bytes per page, unlike bytes per row
// times a row count, do not depend on which kinds of rows the sampled pages
// hold.

// DefaultSizeSamplePages is Options.SizeSamplePages's default: 1,024 pages
// (8 MiB) per table read by an estimate of the live bytes.
const DefaultSizeSamplePages = 1024

// sampleRunPages is the pages of one run of the sample, read in one go.
const sampleRunPages = 8

// heapRowBytes is, in SQL, the bytes the row of alias takes in a heap page:
// its tuple (pg_column_size of the whole row: header and data, with values
// stored out of line in TOAST counted as stored, compressed), padded to 8
// bytes, plus its 4-byte line pointer.
func heapRowBytes(alias string) string {
	return "((pg_column_size(" + alias + ".*) + 7) / 8 * 8 + 4)"
}

// tableSize is the live-bytes estimate of one table.
type tableSize struct {
	rows int64 // live rows (estimated unless measured whole)
	heap int64 // bytes of the live rows in the heap
	// perHeapByte is what one byte of live heap stands for, indexes
	// included: 1 + the indexes' size per byte of heap.
	perHeapByte float64
}

// live is the table's live bytes, indexes included.
func (t tableSize) live() int64 { return int64(float64(t.heap) * t.perHeapByte) }

// rowBytes is the live bytes of an average row, indexes included; 0 when
// the table has none.
func (t tableSize) rowBytes() float64 {
	if t.rows <= 0 {
		return 0
	}
	return float64(t.heap) * t.perHeapByte / float64(t.rows)
}

// liveSizes maps the store's tables to their estimates.
type liveSizes map[string]tableSize

func (l liveSizes) total() (n int64) {
	for _, t := range l {
		n += t.live()
	}
	return n
}

// LiveBytes is the estimated live bytes of the store's tables, the figure
// retention.max_size bounds on PostgreSQL (see the package comment). It
// reads the statistics and a sample of each table, not the tables.
func (s *Store) LiveBytes(ctx context.Context) (int64, error) {
	l, err := s.liveSizes(ctx, s.pool)
	if err != nil {
		return 0, s.errorf("store: live bytes: %w", err)
	}
	return l.total(), nil
}

// querier is a pool or a connection.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// liveSizes estimates every store table's live bytes.
func (s *Store) liveSizes(ctx context.Context, q querier) (liveSizes, error) {
	rows, err := q.Query(ctx, `SELECT t.name, pg_relation_size(c.oid), pg_indexes_size(c.oid),
		current_setting('block_size')::bigint, current_setting('server_version_num')::int >= 140000
		FROM unnest($1::text[]) AS t(name) JOIN pg_class AS c ON c.oid = to_regclass(t.name)`, storeTables)
	if err != nil {
		return nil, err
	}
	type relation struct {
		heapBytes, indexBytes, pageBytes int64
		tidRanges                        bool
	}
	all := map[string]relation{}
	for rows.Next() {
		var name string
		var r relation
		if err := rows.Scan(&name, &r.heapBytes, &r.indexBytes, &r.pageBytes, &r.tidRanges); err != nil {
			rows.Close()
			return nil, err
		}
		all[name] = r
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make(liveSizes, len(all))
	for name, r := range all {
		t := tableSize{perHeapByte: 1}
		if r.heapBytes > 0 {
			t.perHeapByte += float64(r.indexBytes) / float64(r.heapBytes)
		}
		if t.rows, t.heap, err = s.sampleHeap(ctx, q, name, r.heapBytes/max(r.pageBytes, 1), r.tidRanges); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// sampleHeap returns the live rows of table, of pages pages, and their heap
// bytes: measured whole when the table has no more pages than the sample,
// else those of the sampled pages scaled by the fraction sampled.
func (s *Store) sampleHeap(ctx context.Context, q querier, table string, pages int64, tidRanges bool) (rows, heap int64, err error) {
	samplePages := int64(s.sizeSamplePages)
	if samplePages <= 0 {
		samplePages = DefaultSizeSamplePages
	}
	measure := `SELECT count(*), coalesce(sum(` + heapRowBytes("t") + `), 0)::bigint FROM ` + pgx.Identifier{table}.Sanitize() + ` AS t`
	if pages <= samplePages {
		err = q.QueryRow(ctx, measure).Scan(&rows, &heap)
		return rows, heap, err
	}
	if !tidRanges {
		percent := 100 * float64(samplePages) / float64(pages)
		err = q.QueryRow(ctx, measure+` TABLESAMPLE SYSTEM ($1)`, percent).Scan(&rows, &heap)
		return int64(math.Round(float64(rows) * 100 / percent)), int64(math.Round(float64(heap) * 100 / percent)), err
	}
	// Runs of sampleRunPages pages, each in the middle of its stretch of
	// the table.
	runs := max(samplePages/sampleRunPages, 1)
	var b strings.Builder
	b.WriteString(`SELECT coalesce(sum(n), 0)::bigint, coalesce(sum(b), 0)::bigint FROM (`)
	for i := range runs {
		first := (2*i+1)*pages/(2*runs) - sampleRunPages/2
		if i > 0 {
			b.WriteString(" UNION ALL ")
		}
		fmt.Fprintf(&b, `%s WHERE t.ctid >= '(%d,0)' AND t.ctid < '(%d,0)'`, measure, first, first+sampleRunPages)
	}
	b.WriteString(`) AS sample(n, b)`)
	err = q.QueryRow(ctx, b.String()).Scan(&rows, &heap)
	scale := float64(pages) / float64(runs*sampleRunPages)
	return int64(math.Round(float64(rows) * scale)), int64(math.Round(float64(heap) * scale)), err
}
