package main

// The demo's status page in headless Chromium: every flow that failed its
// first run shows an open incident (the page said "No open incident" while
// six demo flows failed, for nothing ran the alert policy), withheld, as
// the demo sends nothing.

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/demo"
)

func TestDemoPageOpensAnIncidentOnTheFirstFailure(t *testing.T) {
	const chromium = "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Chromium is required in CI (apt-get install chromium): %v", err)
		}
		t.Skipf("no Chromium at %s: %v", chromium, err)
	}
	ctx := t.Context()
	env, err := demo.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	set, err := flows.LoadBytes(flows.LoadOptions{Secrets: conf.SecretSource{LookupEnv: demo.LookupEnv}}, demo.FlowsFile, env.Flows())
	if err != nil {
		t.Fatal(err)
	}
	runner := flows.NewRunner()
	runner.Secrets.LookupEnv = demo.LookupEnv
	page, err := startDemoStatusPage(ctx, set.Flows, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer page.Close()
	results := runAll(ctx, runner, set.Flows, len(set.Flows))
	page.record(results)
	var failed []string
	for _, r := range results {
		if !r.OK {
			failed = append(failed, r.Flow)
		}
	}
	slices.Sort(failed)
	if len(failed) < 2 {
		t.Fatalf("the demo's broken flows did not fail: %v", failed)
	}

	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-dev-shm-usage", true))
	defer cancelAlloc()
	bctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	tctx, cancelT := context.WithTimeout(bctx, 30*time.Second)
	defer cancelT()
	if err := chromedp.Do(tctx, chromedp.Navigate(page.URL+"incidents"), chromedp.WaitVisible(`#open`)); err != nil {
		t.Fatal(err)
	}
	open, err := chromedp.Run(tctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('#open .incident.open h3 a')].map(a => a.textContent).sort()`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(open, failed) {
		t.Errorf("open incidents on the demo's page: %v, want one for each failed flow: %v", open, failed)
	}
	// Nothing is sent: the page must not say "notified".
	withheld, err := chromedp.Run(tctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('#open .incident.open .notif-withheld')].map(d => d.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(withheld) != len(failed) || !strings.Contains(strings.Join(withheld, ""), "no notifier") {
		t.Errorf("the demo's incidents' notification: %q, want each withheld, for the demo has no notifier", withheld)
	}
	unexplained, err := chromedp.Run(tctx, chromedp.Evaluate[string](`document.querySelector('#unopened') ? document.querySelector('#unopened').textContent : ''`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(unexplained) != "" {
		t.Errorf("failing flows without an incident on the demo's page: %s", unexplained)
	}
}
