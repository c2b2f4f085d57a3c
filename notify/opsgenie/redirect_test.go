package opsgenie_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/authwatch/authwatch/notify"
	"github.com/authwatch/authwatch/notify/notifytest"
)

// A redirected POST would arrive as a GET without its body: the notifier
// reports the redirect instead of following it.
func TestRedirectNotFollowed(t *testing.T) {
	var followed atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			followed.Add(1)
			return
		}
		http.Redirect(w, r, "/moved", http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	n, _ := newNotifier(t, srv.URL)
	retry, err := n.Notify(context.Background(), notifytest.Event(notify.Opened))
	if err == nil || retry || !strings.Contains(err.Error(), "302") {
		t.Fatalf("Notify = (%v, %v), want (false, an error naming 302)", retry, err)
	}
	if followed.Load() != 0 {
		t.Error("the redirect was followed")
	}
}
