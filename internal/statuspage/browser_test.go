package statuspage

// End-to-end in headless Chromium (Debian's chromium, driven with
// chromedp): the overview with passing and failing flows, a failing flow's
// page with its reason and summary, no secret anywhere in the pages,
// auto-refresh without a reload, charts drawn under the page's CSP, a
// phone-sized layout, and the screenshot in docs/.

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

// screenshotPath is the README's screenshot, rewritten when
// AUTHWATCH_UPDATE_SCREENSHOT=1.
var screenshotPath = filepath.Join("..", "..", "docs", "statuspage.png")

func TestBrowserEndToEnd(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Chromium is required in CI (apt-get install chromium): %v", err)
		}
		t.Skipf("no Chromium at %s: %v", chromiumPath, err)
	}
	start := time.Now()
	f := getFixture(t)
	st, rc := f.newStore(t, 6*time.Hour, 7*24*time.Hour)
	opts, _ := authOptions(t, true, false)
	opts.Flows, opts.RefreshInterval, opts.Title = f.infos, 500*time.Millisecond, "authwatch demo"
	srv := httptest.NewServer(New(st, opts)) // 127.0.0.1
	defer srv.Close()
	secrets := append(f.secrets(), testPassword, basicHeader(testUser, testPassword)[len("Basic "):])

	alloc, cancelAlloc := chromedp.NewExecAllocator(t.Context(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()

	// Every console message: JavaScript errors and CSP violations fail the test.
	var mu sync.Mutex
	var console []string
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.IsException() {
				mu.Lock()
				console = append(console, m.String())
				mu.Unlock()
			}
		}
	}()

	// The browser sends the page's basic credentials with every request,
	// the JSON API's included.
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders,
		network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": basicHeader(testUser, testPassword)}}); err != nil {
		t.Fatal(err)
	}
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			mu.Lock()
			msgs := strings.Join(console, "\n")
			mu.Unlock()
			t.Fatalf("%s: %v\nbrowser console:\n%s", what, err, msgs)
		}
	}
	eval := func(expr string) any {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[any](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	html := func(where string) {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.OuterHTML("html"))
		if err != nil {
			t.Fatal(err)
		}
		assertNoSecrets(t, where, s, secrets)
	}

	// The overview, with passing, failing and warning flows.
	step("overview", chromedp.EmulateViewport(1280, 800), chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(`li.flow[data-state="failing"]`))
	for state, want := range map[string]float64{StateFailing: 6, StatePassing: 6, StateWarning: 1} {
		if n := eval(`document.querySelectorAll('li.flow[data-state="` + state + `"]').length`); n != want {
			t.Errorf("%v %s flows on the overview, want %v", n, state, want)
		}
	}
	if got := eval(`document.querySelector('li.flow[data-flow="create-order"] [data-f="reason"]').textContent`); got != "insufficient_scope" {
		t.Errorf("create-order's reason on the overview: %q", got)
	}
	html("the overview")

	if os.Getenv("AUTHWATCH_UPDATE_SCREENSHOT") == "1" {
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(screenshotPath, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", screenshotPath, len(png))
	}

	// Auto-refresh: a new run shows without a reload.
	eval(`window.__noReload = 'still here'`)
	res := f.runner.Run(context.Background(), f.flow("orders-requires-auth"))
	rc.record(t, res)
	want := res.Start.UTC().Format("2006-01-02T15:04:05") // the API has nanoseconds, the page seconds
	step("auto-refresh", chromedp.Poll[chromedp.Void](
		`document.querySelector('li.flow[data-flow="orders-requires-auth"] [data-f="last"]').getAttribute('datetime').startsWith('`+want+`')`,
		chromedp.WithPollingTimeout(10*time.Second)))
	if got := eval(`window.__noReload`); got != "still here" {
		t.Errorf("the page reloaded to refresh (marker %v)", got)
	}
	if got := eval(`document.getElementById('refresh-status').classList.contains('error')`); got != false {
		t.Errorf("the refresh reports an error: %v", eval(`document.getElementById('refresh-status').textContent`))
	}

	// A failing flow's page: its reason, summary and next step.
	state, _, err := st.FlowState(context.Background(), "create-order")
	if err != nil || state.LastSummary == "" {
		t.Fatalf("create-order's state: %+v %v", state, err)
	}
	step("open a failing flow", chromedp.Click(`li.flow[data-flow="create-order"] a.name`, chromedp.NodeVisible),
		chromedp.WaitVisible(`#flow-head`), chromedp.WaitReady(`#chart-latency canvas`))
	if got := eval(`location.pathname`); got != "/flows/create-order" {
		t.Errorf("at %v after the click", got)
	}
	if got := eval(`document.querySelector('#flow-head [data-f="reason"]').textContent`); got != "insufficient_scope" {
		t.Errorf("reason %q, want insufficient_scope", got)
	}
	if got := eval(`document.querySelector('#flow-head [data-f="summary"]').textContent`); got != state.LastSummary {
		t.Errorf("summary %q, want %q", got, state.LastSummary)
	}
	for _, sel := range []string{`#flow-head .why-block`, `#flow-head .next`, `#runs details.run[open] .waterfall`, `#runs details.run[open] .exchange`} {
		if visible := eval(`(el => !!el && el.getClientRects().length > 0)(document.querySelector('` + sel + `'))`); visible != true {
			t.Errorf("%s is not shown", sel)
		}
	}
	if got := eval(`document.querySelector('#runs details.run[open] .step code.reason').textContent`); got != "insufficient_scope" {
		t.Errorf("the open run's failed step shows %q", got)
	}
	html("create-order's page")

	// The flow's page refreshes too: a new run appears at the top of the
	// history, open, and the reader's page stays.
	eval(`window.__noReload = 'still here'`)
	first := eval(`document.querySelector('#runs details.run').id`)
	rc.record(t, f.runner.Run(context.Background(), f.flow("create-order")))
	step("flow page refresh", chromedp.Poll[chromedp.Void](
		`document.querySelector('#runs details.run').id !== '`+first.(string)+`' && document.querySelector('#runs details.run').open`,
		chromedp.WithPollingTimeout(10*time.Second)))
	if got := eval(`window.__noReload`); got != "still here" {
		t.Errorf("the flow's page reloaded to refresh (marker %v)", got)
	}
	if got := eval(`document.querySelector('#flow-head [data-f="reason"]').textContent`); got != "insufficient_scope" {
		t.Errorf("after the refresh, reason %q", got)
	}
	html("create-order's page after a refresh")

	// A phone: no horizontal scrolling.
	for _, path := range []string{"/", "/flows/create-order", "/incidents"} {
		step("phone "+path, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(srv.URL+path),
			chromedp.WaitVisible(`main`))
		if fits := eval(`document.documentElement.scrollWidth <= window.innerWidth + 1`); fits != true {
			t.Errorf("%s on a phone scrolls sideways: %v > %v", path, eval(`document.documentElement.scrollWidth`), eval(`window.innerWidth`))
		}
		html(path + " on a phone")
	}
	step("idle", chromedp.Sleep(300*time.Millisecond)) // let a refresh run on the last page

	mu.Lock()
	defer mu.Unlock()
	for _, m := range console {
		if !strings.Contains(m, "favicon") {
			t.Errorf("browser console: %s", m)
		}
	}
	t.Logf("browser test took %s", time.Since(start).Round(time.Millisecond))
}
