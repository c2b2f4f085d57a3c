package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
)

// With retention.max_size, a stream of failing runs (each a whole record)
// does not grow the file past the bound plus what one prune interval
// writes: Prune deletes the oldest records and SQLite reuses their pages.
// Each prune that deleted anything logs one warning.
func TestPruneBySizeBoundsTheFile(t *testing.T) {
	var logs bytes.Buffer
	path := filepath.Join(t.TempDir(), "authwatch.db")
	s, err := OpenWith(path, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const (
		bound       = 4 << 20
		perInterval = 800 // runs between two prunes: about 1 MiB of whole records
		intervals   = 12
		flows       = 10
	)
	ret := store.Retention{MaxBytes: bound}
	fileSize := func() int64 {
		t.Helper()
		if _, err := s.write.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	var growth, largest int64 // one interval's growth of the file, before any prune
	i := 0
	warned := 0
	for interval := range intervals {
		before := fileSize()
		for range perInterval {
			f := fmt.Sprintf("flow-%d", i%flows)
			r := store.Run{Flow: f, Start: t0.Add(time.Duration(i) * time.Second), DurationMS: 90, OK: false,
				Reason: "invalid_token", Layer: "app", FailedStep: "userinfo",
				Summary: fmt.Sprintf("failure %d", i), Steps: sampleSteps}
			if i%2 == 0 {
				r.Reason = "server_error" // alternate: every run is a whole record
			}
			record(t, s, r)
			i++
		}
		if interval == 0 {
			growth = fileSize() - before
		}
		largest = max(largest, fileSize())
		if _, err := s.Prune(ctx, t0.Add(time.Duration(i)*time.Second), ret); err != nil {
			t.Fatal(err)
		}
		used, err := s.UsedBytes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if used > bound {
			t.Fatalf("interval %d: %d bytes used after Prune, bound %d", interval, used, bound)
		}
		if p := s.LastSizePrune(); !p.At.IsZero() && p.At.Equal(t0.Add(time.Duration(i)*time.Second)) {
			warned++
		}
	}
	if growth <= 0 || growth > bound/2 {
		t.Fatalf("one interval grew the file by %d bytes: the test's premise is off", growth)
	}
	if largest > bound+growth+growth/2 {
		t.Errorf("the file reached %d bytes; bound %d + one interval's growth %d", largest, bound, growth)
	}
	if got := strings.Count(logs.String(), "level=WARN"); got != warned || warned < 3 {
		t.Errorf("%d warnings logged, %d prunes by size (of %d prunes)", got, warned, intervals)
	}
	p := s.LastSizePrune()
	if p.Runs == 0 || p.UsedAfter > bound*sizeTargetPercent/100 || p.UsedBefore <= bound {
		t.Errorf("last prune by size: %+v", p)
	}
	// The newest runs are kept, the oldest went.
	runs, err := s.Runs(ctx, "flow-0", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) == 0 || !runs[0].Start.Equal(t0.Add(time.Duration(i-flows)*time.Second)) {
		t.Fatalf("flow-0's newest run is not the last recorded: %d runs", len(runs))
	}
	oldest := runs[len(runs)-1].Start
	if !oldest.After(t0) || oldest.Before(p.OldestRunKept) {
		t.Errorf("flow-0's oldest run %s; oldest kept per the prune %s", oldest, p.OldestRunKept)
	}
	// The flow's state is not touched.
	st, _, err := s.FlowState(ctx, "flow-0")
	if err != nil || st.Runs != int64(i/flows) {
		t.Errorf("flow-0's state counts %d runs (err %v), want %d", st.Runs, err, i/flows)
	}
}

// The oldest minute roll-ups go before any whole record (their hours stay
// in the hour tier), and a flow's last run is never deleted.
func TestPruneBySizeDeletesMinuteRollups(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	// Roll-ups of 300 flows for 3 hours, and few runs.
	tx, err := s.write.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for f := range 200 {
		if _, err := tx.Exec(`INSERT INTO flow_ids (id, flow) VALUES (?, ?)`, f+1, fmt.Sprintf("f%d", f)); err != nil {
			t.Fatal(err)
		}
		for m := range 360 {
			for _, tier := range []int{0, 1} {
				if tier == 1 && m%60 != 0 {
					continue
				}
				if _, err := tx.Exec(`INSERT INTO rollups VALUES (?,?,?,1,1,0,0,0,1000,1000,1000,x'',1)`,
					tier, f+1, int64(29000000+m)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	record(t, s, sampleRun("a", 0))
	used, err := s.UsedBytes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bound := used * 3 / 4
	if _, err := s.Prune(ctx, t0, store.Retention{MaxBytes: bound}); err != nil {
		t.Fatal(err)
	}
	p := s.LastSizePrune()
	// The minute roll-ups go first; flow a's only run is its last: kept.
	if p.MinuteRollups == 0 || p.Runs != 0 || p.UsedAfter > bound {
		t.Fatalf("prune by size: %+v (bound %d)", p, bound)
	}
	var minutes, hours int
	var oldest sql.NullInt64
	if err := s.read.QueryRow(`SELECT count(*) FILTER (WHERE tier = 0), count(*) FILTER (WHERE tier = 1),
		min(start_min) FILTER (WHERE tier = 0) FROM rollups`).Scan(&minutes, &hours, &oldest); err != nil {
		t.Fatal(err)
	}
	if hours != 200*6 || minutes >= 200*360 || oldest.Valid && oldest.Int64 == 29000000 {
		t.Errorf("left %d minute roll-ups (oldest %d), %d hour roll-ups", minutes, oldest.Int64, hours)
	}
}
