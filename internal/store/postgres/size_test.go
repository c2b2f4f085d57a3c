package postgres

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/testenv"
)

var sizeT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// sizeSteps is a run's steps of about 600 bytes, as a failing login's are.
var sizeSteps = []byte(`[{"name":"token","kind":"client_credentials","ok":true,"duration_ms":41.7,` +
	`"request":{"method":"POST","url":"https://idp.example/oauth2/token"},"response":{"status":200}},` +
	`{"name":"api","kind":"http","ok":false,"reason":"invalid_token","duration_ms":12.3,` +
	`"request":{"method":"GET","url":"https://api.example/v1/orders?limit=10"},` +
	`"response":{"status":401,"headers":{"www-authenticate":"Bearer error=\"invalid_token\", error_description=\"the access token expired\""}}}]`)

// fillForSize records perFlow failing runs of each of flows flows, one a
// minute from sizeT0 (so each run has its minute roll-up), alternating
// reasons so that every run is a whole record; it returns the time of the
// last run.
func fillForSize(t *testing.T, s *Store, flows, perFlow int) time.Time {
	t.Helper()
	ctx := context.Background()
	var last time.Time
	for i := range perFlow {
		for f := range flows {
			last = sizeT0.Add(time.Duration(i) * time.Minute)
			r := store.Run{Flow: fmt.Sprintf("flow-%d", f), Start: last, DurationMS: 90, Reason: "invalid_token",
				Layer: "app", FailedStep: "api", Summary: fmt.Sprintf("failure %d of flow %d", i, f), Steps: sizeSteps}
			if i%2 == 0 {
				r.Reason = "server_error"
			}
			if _, err := s.RecordRun(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	return last
}

// rollupCounts counts the minute roll-ups older than lastHour (a minute
// number) and all hour roll-ups.
func rollupCounts(t *testing.T, s *Store, lastHour int64) (oldMinutes, hours int) {
	t.Helper()
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE tier = 0 AND start_min < $1),
		count(*) FILTER (WHERE tier = 1) FROM rollups`, lastHour).Scan(&oldMinutes, &hours); err != nil {
		t.Fatal(err)
	}
	return oldMinutes, hours
}

// Over retention.max_size, Prune deletes the minute roll-ups older than an
// hour, then the oldest whole records of all flows, never a flow's last
// run, until the live bytes are under 90 % of the bound; it logs one
// warning. The hour roll-ups and the flows' states are not touched.
func testPruneBySize(t *testing.T, pg *testenv.PostgresServer) {
	const (
		flows   = 8
		perFlow = 240 // 4 hours of runs: about 1.8 MB live
		bound   = 1 << 20
	)
	ctx := context.Background()
	var logs bytes.Buffer
	s := openOn(t, newDatabase(t, pg), Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	last := fillForSize(t, s, flows, perFlow)
	now := last.Add(time.Minute)
	before, err := s.LiveBytes(ctx)
	if err != nil || before < bound*3/2 {
		t.Fatalf("live bytes before: %d, %v; the test wants over 1.5 times the bound %d", before, err, bound)
	}
	onDisk, err := s.UsedBytes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lastHour := now.Unix()/60 - 60
	oldMinutes, hours := rollupCounts(t, s, lastHour)
	if oldMinutes == 0 {
		t.Fatal("no minute roll-up older than an hour: the test's premise is off")
	}

	n, err := s.Prune(ctx, now, store.Retention{MaxBytes: bound})
	if err != nil {
		t.Fatal(err)
	}
	p := s.LastSizePrune()
	if !p.At.Equal(now) || p.UsedBefore != before || p.Runs != n || n == 0 || p.MinuteRollups != oldMinutes ||
		p.UsedAfter > bound*sizeTargetPercent/100 || p.StillOverAfterDelete {
		t.Errorf("prune by size %+v, Prune = %d; before %d live bytes, %d old minute roll-ups", p, n, before, oldMinutes)
	}
	after, err := s.LiveBytes(ctx)
	if err != nil || after > bound*sizeTargetPercent/100 {
		t.Errorf("live bytes after the prune: %d, %v; want under %d", after, err, bound*sizeTargetPercent/100)
	}
	// Roll-ups first: every minute roll-up older than an hour went before
	// any run; the hour tier holds their counts.
	if gotOld, gotHours := rollupCounts(t, s, lastHour); gotOld != 0 || gotHours != hours {
		t.Errorf("%d minute roll-ups older than an hour left, %d hour roll-ups (want 0, %d)", gotOld, gotHours, hours)
	}
	// The oldest records went, the newest stayed, every flow's last run too.
	for f := range flows {
		flow := fmt.Sprintf("flow-%d", f)
		st, _, err := s.FlowState(ctx, flow)
		if err != nil || st.Runs != perFlow {
			t.Fatalf("%s: state counts %d runs, %v; want %d", flow, st.Runs, err, perFlow)
		}
		runs, err := s.Runs(ctx, flow, 0)
		if err != nil || len(runs) == 0 || runs[0].ID != st.LastRunID || !runs[0].Start.Equal(last) {
			t.Fatalf("%s: %d runs left, %v; the newest is not the last run %d", flow, len(runs), err, st.LastRunID)
		}
		if oldest := runs[len(runs)-1].Start; !oldest.After(sizeT0) || oldest.Before(p.OldestRunKept) {
			t.Errorf("%s: oldest run %s, oldest kept per the prune %s", flow, oldest, p.OldestRunKept)
		}
	}
	if got := strings.Count(logs.String(), "level=WARN"); got != 1 || !strings.Contains(logs.String(), "retention.max_size") {
		t.Errorf("%d warnings logged, want 1 about retention.max_size:\n%s", got, logs.String())
	}
	// The tables' size on disk does not shrink (no VACUUM FULL).
	if used, err := s.UsedBytes(ctx); err != nil || used < onDisk*9/10 {
		t.Errorf("size on disk %d after the prune, %d before (%v)", used, onDisk, err)
	}
	t.Logf("live bytes %d → %d (bound %d), on disk %d; deleted %d runs, %d minute roll-ups", before, after, bound, onDisk, p.Runs, p.MinuteRollups)

	// Under the bound now: the next prune deletes nothing, logs nothing.
	logs.Reset()
	if n, err := s.Prune(ctx, now.Add(time.Hour), store.Retention{MaxBytes: bound}); err != nil || n != 0 || logs.Len() != 0 {
		t.Errorf("second Prune = %d, %v; logged %q", n, err, logs.String())
	}
}

// Under retention.max_size, Prune deletes nothing and logs nothing.
func testPruneBySizeUnderBound(t *testing.T, pg *testenv.PostgresServer) {
	ctx := context.Background()
	var logs bytes.Buffer
	s := openOn(t, newDatabase(t, pg), Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	last := fillForSize(t, s, 4, 90) // about 0.35 MB live, minute roll-ups older than an hour
	now := last.Add(time.Minute)
	lastHour := now.Unix()/60 - 60
	oldMinutes, hours := rollupCounts(t, s, lastHour)
	live, err := s.LiveBytes(ctx)
	if err != nil || live > 1<<20 || oldMinutes == 0 {
		t.Fatalf("live bytes %d (%v), %d old minute roll-ups: the test's premise is off", live, err, oldMinutes)
	}
	n, err := s.Prune(ctx, now, store.Retention{MaxBytes: 1 << 20})
	if err != nil || n != 0 || !s.LastSizePrune().At.IsZero() || logs.Len() != 0 {
		t.Errorf("Prune = %d, %v; last prune by size %+v; logged %q", n, err, s.LastSizePrune(), logs.String())
	}
	if gotOld, gotHours := rollupCounts(t, s, lastHour); gotOld != oldMinutes || gotHours != hours {
		t.Errorf("roll-ups deleted: %d/%d minute, %d/%d hour", gotOld, oldMinutes, gotHours, hours)
	}
	for f := range 4 {
		if runs, err := s.Runs(ctx, fmt.Sprintf("flow-%d", f), 0); err != nil || len(runs) != 90 {
			t.Errorf("flow-%d: %d runs left, %v; want 90", f, len(runs), err)
		}
	}
}

// insertRuns inserts n runs of flows flows straight into the table, a
// failure with its steps every third, the others plain passing runs: a
// history of millions of rows in seconds.
func insertRuns(t testing.TB, s *Store, n, flows int) {
	t.Helper()
	if _, err := s.pool.Exec(context.Background(), `INSERT INTO runs (flow, start_ns, duration_ms, waited_ms, ok,
		cancelled, reason, layer, summary, failed_step, warnings, steps, plain)
		SELECT 'flow-' || (i % $2), i::bigint * 1000000000, 90, 0, i % 3 <> 0, false,
			CASE WHEN i % 3 = 0 THEN 'invalid_token' ELSE '' END, CASE WHEN i % 3 = 0 THEN 'app' ELSE '' END,
			CASE WHEN i % 3 = 0 THEN 'failure ' || i ELSE '' END, CASE WHEN i % 3 = 0 THEN 'api' ELSE '' END, 0,
			CASE WHEN i % 3 = 0 THEN $3::bytea ELSE '[]'::bytea END, CASE WHEN i % 3 = 0 THEN 0 ELSE 1 END
		FROM generate_series(1, $1::int) AS i`, n, flows, sizeSteps); err != nil {
		t.Fatal(err)
	}
}

// On a table larger than the sample, with holes that prunes left, the
// estimate (the live rows' bytes in sampled pages, scaled) is within 5 %
// of the table measured whole.
func testLiveBytesSampled(t *testing.T, pg *testenv.PostgresServer) {
	const samplePages = 256
	ctx := context.Background()
	dsn := newDatabase(t, pg)
	whole := openOn(t, dsn, Options{SizeSamplePages: 1 << 30})
	insertRuns(t, whole, 40_000, 50)
	// Holes: 4 in 10 of the runs, in stretches, as prunes leave them.
	if _, err := whole.pool.Exec(ctx, `DELETE FROM runs WHERE id % 1000 < 400`); err != nil {
		t.Fatal(err)
	}
	sampled := openOn(t, dsn, Options{SizeSamplePages: samplePages})
	var pages int64
	if err := sampled.pool.QueryRow(ctx, `SELECT pg_relation_size('runs') / current_setting('block_size')::bigint`).Scan(&pages); err != nil || pages < 4*samplePages {
		t.Fatalf("runs has %d pages (%v): the test wants several times the sample", pages, err)
	}
	exact, err := whole.LiveBytes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	est, err := sampled.LiveBytes(ctx)
	if err != nil || est < exact*95/100 || est > exact*105/100 {
		t.Errorf("estimate %d bytes (%v), measured whole %d (runs: %d pages, %d sampled)", est, err, exact, pages, samplePages)
	}
	t.Logf("estimate %d bytes, measured whole %d (runs: %d pages, %d sampled)", est, exact, pages, samplePages)
}
