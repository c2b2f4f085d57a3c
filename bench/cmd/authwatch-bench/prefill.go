package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/sqlite"
)

// prefillResult is the synthetic history written before the daemon starts.
type prefillResult struct {
	Flows       int     `json:"flows"`
	Days        float64 `json:"days"`
	EveryS      float64 `json:"every_s"`
	RunsPerFlow int     `json:"runs_per_flow"`
	Runs        int64   `json:"runs"`
	Failures    int64   `json:"failures"`
	TookS       float64 `json:"took_s"`
	RunsPerS    float64 `json:"runs_per_s"`
	DBBytes     int64   `json:"db_bytes"`
	BytesPerRun float64 `json:"bytes_per_run"`
	// ProjectedBytes is BytesPerRun for every flow of the benchmark over
	// Days: the state store's size for the whole fleet.
	ProjectedBytes float64 `json:"projected_fleet_db_bytes"`
}

// prefillFailEvery makes about 1 % of the synthetic runs fail.
const prefillFailEvery = 100

// prefillHistory writes days of runs, one every every, for each of names
// into a new state database in stateDir, through store.Store's RecordRun
// (whatever the store does with passing runs, it does here too). Each
// flow's runs are recorded in start order by one goroutine, as the
// scheduler does; the flows go in parallel so that the store's writer can
// commit several runs at once.
func prefillHistory(ctx context.Context, stateDir string, names []string, days float64, every time.Duration, fleet int, progress io.Writer) (prefillResult, error) {
	res := prefillResult{Flows: len(names), Days: days, EveryS: every.Seconds()}
	per := int(time.Duration(days*24*float64(time.Hour)) / every)
	res.RunsPerFlow = per
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return res, err
	}
	// The daemon's default history tiers and retention, given at Open as
	// the daemon gives them, so the prefill keeps what the daemon would.
	ret := config.Default().RetentionPolicy()
	ret.MaxAge = time.Duration(days*24*float64(time.Hour)) + time.Hour
	db, err := sqlite.OpenWith(filepath.Join(stateDir, "authwatch.db"), sqlite.Options{Retention: ret})
	if err != nil {
		return res, err
	}
	var st store.Store = db
	t0 := time.Now()
	end := t0.Add(-every).Truncate(time.Second)
	var done, failed atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, len(names))
	stopProgress := make(chan struct{})
	go func() {
		tick := time.NewTicker(15 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-tick.C:
				n := done.Load()
				fmt.Fprintf(progress, "authwatch-bench: history prefill %d of %d runs (%.0f runs/s)\n", n, int64(per)*int64(len(names)), float64(n)/time.Since(t0).Seconds())
			}
		}
	}()
	for fi, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			phase := time.Duration(fi) * every / time.Duration(max(len(names), 1))
			for i := range per {
				if ctx.Err() != nil {
					errs[fi] = ctx.Err()
					return
				}
				start := end.Add(-time.Duration(per-1-i)*every + phase - every)
				r := syntheticRun(name, start, (i+fi)%prefillFailEvery == prefillFailEvery-1)
				if !r.OK {
					failed.Add(1)
				}
				if _, err := st.RecordRun(ctx, r); err != nil {
					errs[fi] = fmt.Errorf("history prefill: %s: %w", name, err)
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	close(stopProgress)
	res.TookS = time.Since(t0).Seconds()
	res.Runs, res.Failures = done.Load(), failed.Load()
	res.RunsPerS = float64(res.Runs) / max(res.TookS, 1e-9)
	if err := errors.Join(errs...); err != nil {
		_ = st.Close()
		return res, err
	}
	// The daemon's first prune (at its start): minute roll-ups past their
	// day go; the size counted is the pages in use, as the daemon's
	// authwatch_state_store_used_bytes (freed pages are reused, not
	// returned to the file system).
	if _, err := st.Prune(ctx, time.Now(), ret); err != nil {
		_ = st.Close()
		return res, err
	}
	used, err := db.UsedBytes(ctx)
	if err := errors.Join(err, st.Close()); err != nil {
		return res, err
	}
	res.DBBytes = used
	if res.Runs > 0 {
		res.BytesPerRun = float64(res.DBBytes) / float64(res.Runs)
		res.ProjectedBytes = res.BytesPerRun * float64(fleet) * float64(per)
	}
	return res, nil
}

// syntheticRun is a run of a benchmark flow as the daemon records it: the
// steps are the redacted JSON lines of `authwatch check --json` (a
// passing step carries no evidence; a failing one carries its exchange).
func syntheticRun(flow string, start time.Time, fail bool) store.Run {
	r := store.Run{Flow: flow, Start: start, DurationMS: 4.2, OK: !fail}
	token := fmt.Sprintf(`{"type":"step","flow":%q,"step":"token","kind":"client_credentials","ok":true,"status":"pass","duration_ms":2.913}`, flow)
	if !fail {
		r.Steps = fmt.Appendf(nil, `[%s,{"type":"step","flow":%q,"step":"api","kind":"http","ok":true,"status":"pass","duration_ms":1.187}]`, token, flow)
		return r
	}
	r.Reason, r.Layer, r.FailedStep = "unexpected_status", "app", "api"
	r.Summary = "GET /api answered 503, expected 200"
	r.Steps = fmt.Appendf(nil, `[%s,{"type":"step","flow":%q,"step":"api","kind":"http","ok":false,"status":"fail","reason":"unexpected_status","layer":"app",`+
		`"summary":%q,"next_step":"Look at the API's own logs for the time of the run.","duration_ms":1.187,"evidence":{"facts":[{"name":"status","value":"503"}],`+
		`"exchanges":[{"method":"GET","url":"http://127.0.0.1:8080/api","request_headers":{"User-Agent":["authwatch/dev"]},"status":503,`+
		`"response_headers":{"Content-Type":["application/json"]},"body":"{\"error\":\"unavailable\"}","timings_ms":{"connect":0.2,"total":1.1}}]}}]`, token, flow, r.Summary)
	return r
}

// copyDir copies the regular files of src into dst (a prefilled state
// directory, so that every binary starts on the same history).
func copyDir(src, dst string) error {
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		in, err := os.Open(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		out, err := os.OpenFile(filepath.Join(dst, e.Name()), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			in.Close()
			return err
		}
		_, err = io.Copy(out, in)
		err = errors.Join(err, in.Close(), out.Close())
		if err != nil {
			return err
		}
	}
	return nil
}
