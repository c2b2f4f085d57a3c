package statuspage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/report"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/sqlite"
)

// hostileRun runs a flow against a target answering 401 with a 200 KiB
// WWW-Authenticate and a 1 MiB body of characters that grow when escaped,
// and returns the run as the daemon records it.
func hostileRun(t *testing.T) store.Run {
	t.Helper()
	filler := strings.Repeat(`<"&>é€😀'`, 30000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+strings.ReplaceAll(filler[:200<<10], `"`, "'")+`"`)
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(filler))
	}))
	defer srv.Close()
	set, err := flows.LoadBytes(flows.LoadOptions{}, "hostile.yaml", []byte(fmt.Sprintf(`name: hostile
every: 1m
steps:
  - id: call
    kind: http
    url: %s
    expect: {status: 200}
`, srv.URL)))
	if err != nil {
		t.Fatal(err)
	}
	res := flows.NewRunner().Run(context.Background(), set.Flows[0])
	var lines bytes.Buffer
	if err := report.JSON(&lines, res); err != nil {
		t.Fatal(err)
	}
	steps := "[" + strings.Join(strings.Split(strings.TrimSpace(lines.String()), "\n"), ",") + "]"
	f := res.Failure()
	return store.Run{Flow: "hostile", DurationMS: 1, Reason: string(f.Reason), Layer: string(f.Reason.Layer()),
		Summary: f.Summary, FailedStep: "call", Steps: json.RawMessage(steps)}
}

// legacyRun is a run recorded before flows bounded evidence: an 8 MiB
// summary and step.
func legacyRun() store.Run {
	huge := strings.Repeat("<", 8<<20)
	step, _ := json.Marshal(map[string]any{"type": "step", "step": "call", "kind": "http", "status": "fail", "summary": huge})
	return store.Run{Flow: "hostile", DurationMS: 1, Reason: "invalid_token", Layer: "app", Summary: huge, FailedStep: "call",
		Steps: json.RawMessage("[" + string(step) + "]")}
}

// pagedStore records 300 hostile runs of one flow, after 3 legacy ones.
func pagedStore(t *testing.T) (*sqlite.Store, int) {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "authwatch.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	hostile, n := hostileRun(t), 0
	for i := range 303 {
		r := hostile
		if i < 3 {
			r = legacyRun()
		}
		r.Start = start.Add(time.Duration(i) * time.Minute)
		if _, err := st.RecordRun(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		n++
	}
	return st, n
}

// Bound of every answer TestRunsPaged reads.
const pagedAnswerBound = 1 << 20

var olderLink = regexp.MustCompile(`<a href="(/flows/hostile\?before=[0-9]+[^"]*)">Older runs</a>`)

// TestRunsPaged: a flow with 303 recorded runs of hostile evidence (three
// of them recorded before evidence was bounded, with an 8 MiB summary)
// is read whole, newest first, without a repeat, by following the API's
// next_before and the page's "Older runs" link; every answer and page
// stays under 1 MiB.
func TestRunsPaged(t *testing.T) {
	st, total := pagedStore(t)
	h := New(st, Options{})
	for _, tt := range []struct {
		name  string
		first string
		next  func(body string) (string, []int64)
	}{
		{name: "api", first: "/api/v1/flows/hostile/runs?limit=200", next: func(body string) (string, []int64) {
			page := decode[RunsJSON](t, body)
			var ids []int64
			for _, r := range page.Runs {
				ids = append(ids, r.ID)
			}
			if page.NextBefore == 0 {
				return "", ids
			}
			return fmt.Sprintf("/api/v1/flows/hostile/runs?limit=200&before=%d", page.NextBefore), ids
		}},
		{name: "page", first: "/flows/hostile", next: func(body string) (string, []int64) {
			var ids []int64
			for _, m := range regexp.MustCompile(`data-run="([0-9]+)"`).FindAllStringSubmatch(body, -1) {
				var id int64
				fmt.Sscan(m[1], &id)
				ids = append(ids, id)
			}
			if m := olderLink.FindStringSubmatch(body); m != nil {
				path, _, _ := strings.Cut(html.UnescapeString(m[1]), "#") // a browser keeps the fragment
				return path, ids
			}
			return "", ids
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			seen, pages, last, largest := map[int64]bool{}, 0, int64(1<<62), 0
			for path := tt.first; path != ""; pages++ {
				if pages > total {
					t.Fatal("the pages do not end")
				}
				resp, body := get(t, h, path)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("GET %s: %d", path, resp.StatusCode)
				}
				largest = max(largest, len(body))
				if len(body) > pagedAnswerBound {
					t.Errorf("GET %s: %d bytes, want at most %d", path, len(body), pagedAnswerBound)
				}
				var ids []int64
				path, ids = tt.next(body)
				for _, id := range ids {
					if seen[id] || id >= last {
						t.Fatalf("run %d repeated or out of order", id)
					}
					seen[id], last = true, id
				}
			}
			if len(seen) != total {
				t.Errorf("read %d runs in %d pages, want %d", len(seen), pages, total)
			}
			t.Logf("%d runs in %d pages, the largest %d bytes", len(seen), pages, largest)
		})
	}
}

func TestRunsPageParameters(t *testing.T) {
	st, _ := pagedStore(t)
	h := New(st, Options{})
	for _, path := range []string{"runs?limit=201", "runs?limit=0", "runs?before=x", "runs?before=0", "runs?before=-3"} {
		resp, body := get(t, h, "/api/v1/flows/hostile/"+path)
		if resp.StatusCode != http.StatusBadRequest || decode[errorJSON](t, body).Error == "" {
			t.Errorf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
	if resp, _ := get(t, h, "/flows/hostile?limit=101"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("page limit=101: %d", resp.StatusCode)
	}
	_, body := get(t, h, "/api/v1/flows/hostile/runs?before=1")
	if page := decode[RunsJSON](t, body); len(page.Runs) != 0 || page.NextBefore != 0 {
		t.Errorf("before the oldest run: %+v", page)
	}
	_, body = get(t, h, "/api/v1/flows/hostile/runs?limit=2&before=3")
	page := decode[RunsJSON](t, body)
	if len(page.Runs) != 2 || page.Runs[0].ID != 2 || page.NextBefore != 0 {
		t.Fatalf("before=3: %+v", page)
	}
	if !strings.Contains(page.Runs[0].StepsError, "more than the 65536 served") || !strings.Contains(page.Runs[0].Summary, "…truncated") {
		t.Errorf("a legacy run shows %q, %.100q", page.Runs[0].StepsError, page.Runs[0].Summary)
	}
}
