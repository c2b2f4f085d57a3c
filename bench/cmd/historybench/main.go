// Command historybench measures the state database's size with history
// tiers (docs/history.md) and extrapolates it to -target-flows.
//
// It fills a fresh database in a temporary directory through the store's
// own RecordRun with -flows flows each running every -every for -days of
// synthetic time (start times in the past, recorded as fast as the store
// takes them, each flow's runs in order), every run failing with
// probability -fail independently (so nearly every failure is two state
// changes: the worst case for whole records), and calls Prune with the
// daemon's retention every synthetic hour, as the daemon does. It then
// closes the store (writing the open minutes), checkpoints, and reports
// the bytes of each table and index (SQLite's dbstat), the rows of each
// kind, and the extrapolation:
//
//   - whole runs that are failures, state changes and warnings grow with
//     the days (up to retention.max_age) and the flows;
//
//   - plain passing runs kept whole (passing_runs_kept per flow) and
//     minute roll-ups (minute_rollups) are at their steady state once
//     -days covers their retention, and grow with the flows;
//
//   - hour roll-ups grow with the days (up to hour_rollups) and the flows.
//
//     go run ./bench/cmd/historybench -flows 40 -days 2
//
// With -postgres DSN it fills that PostgreSQL database instead (empty: the
// store migrates it) through the PostgreSQL store's RecordRun and Prune,
// and reports pg_total_relation_size (tables with their indexes and TOAST)
// in place of dbstat; the file is pg_database_size.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/postgres"
	"github.com/authwatch/authwatch/internal/store/sqlite"
)

// historyStore is what the fill uses of either store.
type historyStore interface {
	RecordRun(ctx context.Context, r store.Run) (store.FlowState, error)
	Prune(ctx context.Context, now time.Time, ret store.Retention) (int, error)
	Close() error
}

func main() {
	flows := flag.Int("flows", 40, "flows to fill")
	days := flag.Float64("days", 2, "days of synthetic history to fill")
	every := flag.Duration("every", 10*time.Second, "each flow's interval")
	failRate := flag.Float64("fail", 0.01, "probability that a run fails")
	kept := flag.Int("kept", 50, "history.passing_runs_kept")
	minutes := flag.Duration("minutes", 48*time.Hour, "history.minute_rollups")
	hours := flag.Duration("hours", 30*24*time.Hour, "history.hour_rollups")
	maxAge := flag.Duration("max-age", 30*24*time.Hour, "retention.max_age")
	passBlob := flag.Int("pass-steps", 300, "bytes of a passing run's steps JSON")
	failBlob := flag.Int("fail-steps", 1000, "bytes of a failing run's steps JSON")
	streak := flag.Int("streak", 1, "failures come in streaks of this many runs in a row, same reason (-fail stays the share of runs failing)")
	failuresKept := flag.Int("failures-kept", 10, "history.failures_kept_per_streak")
	maxSize := flag.Int64("max-size", 0, "retention.max_size in bytes (0: none)")
	targetFlows := flag.Int("target-flows", 10000, "flows to extrapolate to")
	targetDays := flag.Float64("target-days", 30, "days to extrapolate to")
	pgDSN := flag.String("postgres", "", "fill this PostgreSQL database (empty) instead of a SQLite file")
	flag.Parse()

	dir, err := os.MkdirTemp("", "historybench-")
	check(err)
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "authwatch.db")
	ctx := context.Background()
	var st historyStore
	if *pgDSN != "" {
		st, err = postgres.Open(ctx, *pgDSN, postgres.Options{})
	} else {
		st, err = sqlite.Open(path)
	}
	check(err)
	ret := store.Retention{MaxAge: *maxAge, MaxRunsPerFlow: 10000, PassingRunsKept: *kept,
		MinuteRollups: *minutes, HourRollups: *hours, FailuresKeptPerStreak: *failuresKept, MaxBytes: *maxSize}
	check2(st.Prune(ctx, time.Now().Add(-time.Duration(*days*24*float64(time.Hour))), ret))
	streakLeft := make([]int, *flows)

	steps := func(n int) json.RawMessage {
		b, _ := json.Marshal([]map[string]any{{"id": "token", "kind": "client_credentials", "status": "passed",
			"detail": strings.Repeat("x", max(0, n-70))}})
		return b
	}
	passSteps, failSteps := steps(*passBlob), steps(*failBlob)
	rounds := int(time.Duration(*days*24*float64(time.Hour)) / *every)
	base := time.Now().Add(-time.Duration(rounds) * *every).Truncate(time.Hour)
	roundsPerHour := int(time.Hour / *every)
	started := time.Now()
	var failures int
	for from := 0; from < rounds; from += roundsPerHour {
		to := min(from+roundsPerHour, rounds)
		var wg sync.WaitGroup
		var mu sync.Mutex
		for f := range *flows {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(f), uint64(from)))
				n := 0
				for i := from; i < to; i++ {
					r := store.Run{Flow: fmt.Sprintf("flow-%05d", f), OK: true, Summary: "ok", Steps: passSteps,
						Start:      base.Add(time.Duration(i)**every + time.Duration(f)*time.Millisecond),
						DurationMS: 80 + 40*rng.Float64()}
					if streakLeft[f] == 0 && rng.Float64() < *failRate/float64(*streak) {
						streakLeft[f] = *streak
					}
					if streakLeft[f] > 0 {
						streakLeft[f]--
						r.OK, r.Reason, r.Layer, r.FailedStep, r.Summary, r.Steps = false, "invalid_token", "app", "token",
							"the token endpoint says invalid_client", failSteps
						n++
					}
					if _, err := st.RecordRun(ctx, r); err != nil {
						check(err)
					}
				}
				mu.Lock()
				failures += n
				mu.Unlock()
			})
		}
		wg.Wait()
		_, err := st.Prune(ctx, base.Add(time.Duration(to)**every), ret)
		check(err)
	}
	fill := time.Since(started)
	check(st.Close()) // writes the open minutes and checkpoints the WAL
	var m measured
	if *pgDSN != "" {
		m = measurePostgres(ctx, *pgDSN)
	} else {
		m = measureSQLite(path)
	}
	report(m, *flows, rounds, failures, *days, *kept, *minutes, *hours, *maxAge, *targetFlows, *targetDays, fill)
}

// measured is what report reads of a filled database.
type measured struct {
	q         func(query string) float64
	sizes     map[string]float64 // bytes per table or index (runs, rollups...)
	fileBytes float64
	failed    string // the SQL condition of a failed run
}

func measureSQLite(path string) measured {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	check(err)
	q := func(query string) (v float64) {
		check(db.QueryRow(query).Scan(&v))
		return v
	}
	sizes := map[string]float64{}
	rows, err := db.Query(`SELECT name, sum(pgsize) FROM dbstat GROUP BY name`)
	check(err)
	for rows.Next() {
		var name string
		var n float64
		check(rows.Scan(&name, &n))
		sizes[name] = n
	}
	check(rows.Err())
	fi, err := os.Stat(path)
	check(err)
	return measured{q: q, sizes: sizes, fileBytes: float64(fi.Size()), failed: "ok = 0"}
}

// measurePostgres reads sizes after a VACUUM ANALYZE (the space of
// pruned rows is free for reuse inside the tables, and counted in them).
func measurePostgres(ctx context.Context, dsn string) measured {
	conn, err := pgx.Connect(ctx, dsn)
	check(err)
	_, err = conn.Exec(ctx, `VACUUM ANALYZE`)
	check(err)
	q := func(query string) (v float64) {
		check(conn.QueryRow(ctx, "SELECT ("+query+")::float8").Scan(&v))
		return v
	}
	sizes := map[string]float64{}
	for _, table := range []string{"runs", "rollups", "flow_state", "flow_ids", "outbox", "incident_state"} {
		sizes[table] = q(`SELECT pg_total_relation_size('` + table + `')`)
	}
	return measured{q: q, sizes: sizes, fileBytes: q(`SELECT pg_database_size(current_database())`), failed: "NOT ok"}
}

func report(m measured, flows, rounds, failures int, days float64, kept int, minutes, hours, maxAge time.Duration,
	targetFlows int, targetDays float64, fill time.Duration) {
	q, sizes := m.q, m.sizes
	runs := flows * rounds
	runsBytes := sizes["runs"] + sizes["runs_flow_start"] + sizes["runs_start"]
	wholeRows := q(`SELECT count(*) FROM runs`)
	plainRows := q(`SELECT count(*) FROM runs WHERE plain = 1`)
	stepsAll := q(`SELECT coalesce(sum(length(steps)), 0) FROM runs`)
	overhead := (runsBytes - stepsAll) / wholeRows
	plainBytes := overhead + q(`SELECT coalesce(avg(length(steps)), 0) FROM runs WHERE plain = 1`)
	otherBytes := overhead + q(`SELECT coalesce(avg(length(steps)), 0) FROM runs WHERE plain != 1`)
	failBytes := overhead + q(`SELECT coalesce(avg(length(steps)), 0) FROM runs WHERE `+m.failed)
	minuteRows, hourRows := q(`SELECT count(*) FROM rollups WHERE tier = 0`), q(`SELECT count(*) FROM rollups WHERE tier = 1`)
	rollupBytes := sizes["rollups"] / (minuteRows + hourRows)

	fmt.Printf("filled: %d flows × %d runs (every run of %.1f days at one per flow per interval) = %d runs, %d failed (%.2f %%), in %s (%.0f runs/s)\n",
		flows, rounds, days, runs, failures, 100*float64(failures)/float64(runs), fill.Round(time.Second), float64(runs)/fill.Seconds())
	fmt.Printf("repeated failures kept whole: %.0f\n", q(`SELECT count(*) FROM runs WHERE plain = 2`))
	fmt.Printf("file: %.1f MB = %.1f B per run recorded\n", m.fileBytes/1e6, m.fileBytes/float64(runs))
	for name, n := range sizes {
		fmt.Printf("  %-28s %10.1f MB\n", name, n/1e6)
	}
	fmt.Printf("whole runs kept: %.0f (%.0f plain passing, %.0f failures/state changes/warnings); %.0f B each incl. indexes (plain %.0f B, others %.0f B, failures %.0f B)\n",
		wholeRows, plainRows, wholeRows-plainRows, runsBytes/wholeRows, plainBytes, otherBytes, failBytes)
	fmt.Printf("roll-ups: %.0f minute rows, %.0f hour rows, %.1f B per row\n", minuteRows, hourRows, rollupBytes)

	// Extrapolation, per flow.
	scaleFlows := float64(targetFlows) / float64(flows)
	dayFactor := min(targetDays, maxAge.Hours()/24) / days
	others := (wholeRows - plainRows) * otherBytes * dayFactor
	plain := plainRows * plainBytes
	if days < minutes.Hours()/24 {
		minuteRows *= minutes.Hours() / 24 / days
	}
	mins := minuteRows * rollupBytes
	hrs := hourRows * rollupBytes * min(targetDays, hours.Hours()/24) / days
	total := (others + plain + mins + hrs) * scaleFlows
	fmt.Printf("extrapolated to %d flows × %.0f days (passing_runs_kept %d, minute_rollups %s, hour_rollups %s, max_age %s):\n",
		targetFlows, targetDays, kept, minutes, hours, maxAge)
	fmt.Printf("  failures, state changes, warnings  %8.1f MB  (grow with days)\n", others*scaleFlows/1e6)
	fmt.Printf("  plain passing runs kept whole      %8.1f MB  (steady)\n", plain*scaleFlows/1e6)
	fmt.Printf("  minute roll-ups                    %8.1f MB  (steady at %s)\n", mins*scaleFlows/1e6, minutes)
	fmt.Printf("  hour roll-ups                      %8.1f MB  (grow with days)\n", hrs*scaleFlows/1e6)
	fmt.Printf("  total                              %8.1f MB  (flow states, ids and free pages left out)\n", total/1e6)
}

func check2(_ int, err error) { check(err) }

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "historybench:", err)
		os.Exit(1)
	}
}
