package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"time"
)

// pagePath is one status page request to time: Paths are tried in turn
// (one flow's page per history flow).
type pagePath struct {
	Name  string
	Paths []string
}

// page is the timing of one kind of status page request.
type page struct {
	Name     string  `json:"name"`
	Path     string  `json:"path"`
	N        int     `json:"requests"`
	P50MS    float64 `json:"p50_ms"`
	P95MS    float64 `json:"p95_ms"`
	MaxMS    float64 `json:"max_ms"`
	Bytes    int     `json:"bytes_median"`
	Errors   int     `json:"errors"`
	FirstErr string  `json:"first_error,omitempty"`
	Note     string  `json:"note,omitempty"`
}

// pagePaths are the overview, the flows API's first page, and the page
// and API of the flows with history (the first flow when none has).
func pagePaths(historyFlows []string, sc scenario) []pagePath {
	flows := historyFlows
	what := fmt.Sprintf("%d flows with prefilled history", len(flows))
	if len(flows) == 0 {
		flows, what = flowNames(1), "no prefilled history"
	}
	var pages, apis []string
	for _, f := range flows {
		pages = append(pages, "/flows/"+f)
		apis = append(apis, "/api/v1/flows/"+f)
	}
	return []pagePath{
		{Name: fmt.Sprintf("overview (%d flows)", sc.flows), Paths: []string{"/"}},
		{Name: "flows API, first page", Paths: []string{"/api/v1/flows"}},
		{Name: "flow page (" + what + ")", Paths: pages},
		{Name: "flow API (" + what + ")", Paths: apis},
	}
}

// timePages requests each page n times in turn, one request at a time,
// each kind for at most budget (and at least 3 requests), and reports the
// response times and sizes (decompressed, as Go's client reads them).
func timePages(ctx context.Context, base string, pages []pagePath, n int, budget time.Duration) []page {
	c := &http.Client{Timeout: 2 * time.Minute}
	var out []page
	for _, pp := range pages {
		p := page{Name: pp.Name, Path: pp.Paths[0]}
		if len(pp.Paths) > 1 {
			p.Path += fmt.Sprintf(" (and %d more)", len(pp.Paths)-1)
		}
		var took []float64
		var sizes []int
		t0 := time.Now()
		for i := range n {
			if ctx.Err() != nil || (i >= 3 && time.Since(t0) > budget) {
				p.Note = fmt.Sprintf("stopped after %d of %d requests: budget %s", i, n, budget)
				break
			}
			ms, size, err := timeGet(ctx, c, base+pp.Paths[i%len(pp.Paths)])
			if err != nil {
				p.Errors++
				if p.FirstErr == "" {
					p.FirstErr = err.Error()
				}
				continue
			}
			took, sizes = append(took, ms), append(sizes, size)
		}
		p.N = len(took)
		if len(took) > 0 {
			sort.Float64s(took)
			slices.Sort(sizes)
			p.P50MS, p.P95MS, p.MaxMS = pct(took, 0.5), pct(took, 0.95), took[len(took)-1]
			p.Bytes = sizes[len(sizes)/2]
		}
		fmt.Fprintf(os.Stderr, "authwatch-bench: page %s: %d requests, p50 %.1f ms, p95 %.1f ms, max %.1f ms, %d B\n", p.Name, p.N, p.P50MS, p.P95MS, p.MaxMS, p.Bytes)
		out = append(out, p)
	}
	return out
}

// timeGet is one authenticated GET: its time to the last byte and size.
func timeGet(ctx context.Context, c *http.Client, u string) (float64, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, 0, err
	}
	authorize(req)
	t0 := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, 0, err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	ms := float64(time.Since(t0).Microseconds()) / 1000
	if err != nil {
		return 0, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("%s: status %d", u, resp.StatusCode)
	}
	return ms, int(n), nil
}

// pct is the nearest-rank percentile q of sorted v.
func pct(v []float64, q float64) float64 {
	i := int(q*float64(len(v))+0.999999) - 1
	return v[max(0, min(i, len(v)-1))]
}
