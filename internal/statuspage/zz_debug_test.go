package statuspage

import (
	"context"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

func TestZZDebugShots(t *testing.T) {
	dir := os.Getenv("SHOTS")
	if dir == "" {
		t.Skip()
	}
	f := getFixture(t)
	st, _ := f.newStore(t, 4*time.Hour, 7*24*time.Hour)
	opts, _ := authOptions(t, true, false)
	opts.Flows, opts.Title = f.infos, "authwatch demo"
	srv := httptest.NewServer(New(st, opts))
	defer srv.Close()
	alloc, c1 := chromedp.NewExecAllocator(t.Context(), chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()))
	defer c1()
	ctx, c2 := chromedp.NewContext(alloc)
	defer c2()
	chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": basicHeader(testUser, testPassword)}})
	shot := func(name, path string, w, h int64, mobile bool) {
		opts := []chromedp.EmulateViewportOption{}
		if mobile {
			opts = append(opts, chromedp.EmulateMobile)
		}
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, h, opts...), chromedp.Navigate(srv.URL+path), chromedp.Sleep(700*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(dir+"/"+name+".png", png, 0o644)
	}
	_ = context.Background
	shot("overview", "/", 1280, 800, false)
	shot("flow-create-top", "/flows/create-order", 1280, 800, false)
	shot("phone-flow-top", "/flows/create-order", 390, 844, true)
	shot("overview-team", "/?group=team", 1280, 800, false)
	shot("flow-create", "/flows/create-order", 1280, 800, false)
	shot("flow-legacy", "/flows/legacy-client-token", 1280, 800, false)
	shot("flow-orders", "/flows/orders-api", 1280, 800, false)
	shot("incidents", "/incidents", 1280, 800, false)
	shot("phone-overview", "/", 390, 844, true)
	shot("phone-flow", "/flows/create-order", 390, 844, true)
}
