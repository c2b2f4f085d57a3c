package statuspage

// The status page at 10,000 flows (issue 15): a real SQLite store holding
// many flows with a few runs each, in the mix of states a large install
// has, and the configuration the daemon would pass.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/incident"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/sqlite"
)

// scaleBase is when the big store's last runs started; the handler's
// clock is a minute later.
var scaleBase = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

// scaleReasons are the failing flows' reasons, in turn.
var scaleReasons = []string{"invalid_client", "token_expired", "audience_mismatch"}

// scaleFlow is flow i of the big store: its name, configuration and the
// state its runs leave it in. Every 50th fails, every 37th passes with a
// warning, every 101st is paused, every 97th has never run.
type scaleFlow struct {
	info    FlowInfo
	state   string
	reason  string
	noState bool
}

func scaleFlowAt(i int) scaleFlow {
	sf := scaleFlow{info: FlowInfo{Name: fmt.Sprintf("flow-%05d", i), Schedule: "every 10s", Every: 10 * time.Second,
		Labels: map[string]string{"team": fmt.Sprintf("team-%d", i%10), "env": []string{"prod", "staging"}[i%2]}}, state: StatePassing}
	switch {
	case i%101 == 0:
		sf.info.Paused, sf.info.Schedule, sf.state = true, "not scheduled", StatePaused
	case i%97 == 0:
		sf.noState, sf.state = true, StateUnknown
	case i%50 == 0:
		sf.state, sf.reason = StateFailing, scaleReasons[(i/50)%len(scaleReasons)]
	case i%37 == 0:
		sf.state, sf.reason = StateWarning, "token_lifetime_short"
	}
	return sf
}

// scaleRun is run k (of runs) of flow sf: runs 0..runs-1 end at scaleBase,
// 10 s apart; the last one decides the state.
func scaleRun(sf scaleFlow, k, runs int) store.Run {
	r := store.Run{Flow: sf.info.Name, Start: scaleBase.Add(-time.Duration(runs-1-k) * 10 * time.Second),
		DurationMS: float64(20 + k%7), OK: true, Steps: json.RawMessage(`[]`)}
	if k == runs-1 {
		switch sf.state {
		case StateFailing:
			r.OK, r.Reason, r.Layer, r.FailedStep, r.Summary = false, sf.reason, "client", "token", "the token endpoint refused the client"
		case StateWarning:
			r.Warnings = 1
		}
	}
	return r
}

// scaleIncident is the incident state the alerting would have stored.
func scaleIncident(sf scaleFlow) (json.RawMessage, bool) {
	st := incident.State{Flow: sf.info.Name, Labels: sf.info.Labels}
	switch sf.state {
	case StateFailing:
		st.Open, st.Key, st.Reason, st.ConsecutiveFailures = true, "authwatch/"+sf.info.Name+"/1", sf.reason, 1
		st.OpenedAt, st.FirstFailure = scaleBase, scaleBase
		st.Last = &incident.Detail{Step: "token", Layer: "client", Summary: "the token endpoint refused the client"}
	case StateWarning:
		st.Warning = &incident.WarningState{Open: true, Key: "authwatch/" + sf.info.Name + "/w1", Reason: sf.reason, OpenedAt: scaleBase,
			Findings: []incident.Finding{{Reason: sf.reason, Summary: "the access token lives 5m0s, less than 48h0m0s"}}}
	default:
		return nil, false
	}
	b, _ := json.Marshal(st)
	return b, true
}

// bigStore is a store of n flows with runs runs each, and their
// configuration.
func bigStore(tb testing.TB, n, runs int) (*sqlite.Store, []FlowInfo) {
	tb.Helper()
	st, err := sqlite.Open(filepath.Join(tb.TempDir(), "authwatch.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	ctx := context.Background()
	infos := make([]FlowInfo, n)
	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range 64 { // concurrent RecordRun calls share commits
		wg.Go(func() {
			for i := range work {
				if err := recordScaleFlow(ctx, st, scaleFlowAt(i), runs); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		infos[i] = scaleFlowAt(i).info
		work <- i
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		tb.Fatal(firstErr)
	}
	return st, infos
}

func recordScaleFlow(ctx context.Context, st *sqlite.Store, sf scaleFlow, runs int) error {
	if sf.noState {
		return nil
	}
	for k := range runs {
		if _, err := st.RecordRun(ctx, scaleRun(sf, k, runs)); err != nil {
			return err
		}
	}
	if inc, ok := scaleIncident(sf); ok {
		return st.CommitIncident(ctx, sf.info.Name, inc, nil)
	}
	return nil
}

// scaleHandler serves the big store with the daemon's options.
func scaleHandler(src Source, infos []FlowInfo) http.Handler {
	return New(src, Options{Flows: func() []FlowInfo { return infos }, Now: func() time.Time { return scaleBase.Add(time.Minute) }})
}

// BenchmarkOverview10k serves the overview, the API's first page and a
// filtered page at 10,000 flows with 3 runs each. "idle": nothing ran
// since the last view; "busy": every flow ran since (at 1,000 runs/s, a
// view every 10 s sees that).
func BenchmarkOverview10k(b *testing.B) {
	const n, runs = 10000, 3
	st, infos := bigStore(b, n, runs)
	for _, path := range []string{"/", "/api/v1/flows", "/api/v1/flows?state=failing&label=team%3Dteam-0"} {
		b.Run("idle"+path, func(b *testing.B) {
			h := scaleHandler(st, infos)
			size := serveOK(b, h, path) // the caches' first load
			b.ResetTimer()
			for b.Loop() {
				serveOK(b, h, path)
			}
			b.ReportMetric(float64(size), "bytes/answer")
		})
	}
	b.Run("busy/", func(b *testing.B) {
		h := scaleHandler(st, infos)
		serveOK(b, h, "/")
		k := runs
		for b.Loop() {
			b.StopTimer()
			for i := 0; i < n; i += 128 { // every flow runs once, in batches
				var wg sync.WaitGroup
				for j := i; j < min(i+128, n); j++ {
					sf := scaleFlowAt(j)
					if sf.noState {
						continue
					}
					wg.Go(func() {
						r := scaleRun(sf, k, k+1)
						r.Start = scaleBase.Add(time.Duration(k-runs+1) * time.Second)
						if _, err := st.RecordRun(context.Background(), r); err != nil {
							b.Error(err)
						}
					})
				}
				wg.Wait()
			}
			k++
			b.StartTimer()
			serveOK(b, h, "/")
		}
	})
}

func serveOK(tb testing.TB, h http.Handler, path string) int {
	tb.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	if rec.Code != http.StatusOK {
		tb.Fatalf("GET %s: %d %.300s", path, rec.Code, rec.Body.String())
	}
	return rec.Body.Len()
}
