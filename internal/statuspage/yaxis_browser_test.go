package statuspage

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/sqlite"
)

// valueAxis is what a chart's value axis drew (data-y-axis).
type valueAxis struct {
	Min, Max float64
	Ticks    []struct {
		V     float64
		Label string
	}
}

// yAxisRuns are flows whose values differ by tiny amounts: per run, the
// latency (ms) and the token lifetime (s).
var yAxisRuns = map[string]func(i int) (latencyMS, lifetimeS float64){
	// The live demo's "5 min" twice: lifetimes of 299.9 to 300.1 s.
	"lifetime-near-5min": func(i int) (float64, float64) { return 12 + float64(i%3), 299.9 + float64(i)*0.02 },
	// Sub-millisecond latency differences.
	"latency-sub-ms": func(i int) (float64, float64) { return 3.2 + float64(i)*0.003, 3600 },
	// Latencies on both sides of a second, a few ms apart.
	"latency-near-1s": func(i int) (float64, float64) { return 996 + float64(i)*1.5, 86400 + float64(i)*0.01 },
}

// TestBrowserChartValueLabelsDistinct: a value axis labels its ticks with
// the decimals their increment needs, so that no two adjacent labels read
// the same ("5 min", "5 min"), at every page width.
func TestBrowserChartValueLabelsDistinct(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "authwatch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	for flow, values := range yAxisRuns {
		for i := range 11 {
			latency, lifetime := values(i)
			steps, _ := json.Marshal([]map[string]any{{"type": "step", "flow": flow, "step": "token", "kind": "client_credentials",
				"status": "pass", "ok": true, "duration_ms": latency,
				"measurements": []map[string]any{{"name": "token_lifetime_seconds", "value": lifetime}}}})
			r := store.Run{Flow: flow, Start: chartBase.Add(time.Duration(i-10) * time.Minute), DurationMS: latency, OK: true, Steps: steps}
			if _, err := st.RecordRun(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	now := chartBase.Add(30 * time.Second)
	srv := httptest.NewServer(New(st, Options{Now: func() time.Time { return now }}))
	defer srv.Close()
	p := newBrowserPage(t, srv.URL)
	for _, width := range []int{1280, 390} {
		for flow := range yAxisRuns {
			p.open(width, "/flows/"+flow, `#chart-token[data-x-axis]`)
			for _, id := range []string{"chart-latency", "chart-token"} {
				where := fmt.Sprintf("%s %s at %d px", flow, id, width)
				a := evalJSON[valueAxis](p, `JSON.parse(document.getElementById('`+id+`').dataset.yAxis)`)
				if len(a.Ticks) < 2 {
					t.Errorf("%s: %d value labels, want at least 2: %+v", where, len(a.Ticks), a)
					continue
				}
				var labels []string
				for _, tk := range a.Ticks {
					labels = append(labels, tk.Label)
				}
				for i := 1; i < len(labels); i++ {
					if labels[i] == labels[i-1] {
						t.Errorf("%s: adjacent value labels read the same: %q", where, labels)
						break
					}
				}
				t.Logf("%s: %q", where, labels)
			}
		}
	}
}
