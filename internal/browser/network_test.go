package browser

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
)

// A submitted form's navigation is requested before its request is sent:
// in between, the old page must not look settled.
func TestRequestedNavigationIsNotQuiet(t *testing.T) {
	now := time.Unix(1000, 0)
	var tr tracker
	tr.init(func() time.Time { return now })
	now = now.Add(time.Second)
	if q := tr.quietFor(); q != time.Second {
		t.Fatalf("idle tab: quiet for %s, want 1s", q)
	}

	tr.event(&page.EventFrameRequestedNavigation{FrameID: "main", Reason: page.ClientNavigationReasonFormSubmissionPost})
	now = now.Add(time.Second)
	if q := tr.quietFor(); q != 0 {
		t.Errorf("a requested navigation that has not started: quiet for %s, want 0", q)
	}
	tr.event(&page.EventFrameStartedLoading{FrameID: "main"})
	tr.event(&page.EventFrameStoppedLoading{FrameID: "main"})
	now = now.Add(500 * time.Millisecond)
	if q := tr.quietFor(); q != 500*time.Millisecond {
		t.Errorf("after the load: quiet for %s, want 500ms", q)
	}

	// A requested navigation Chromium dropped holds Settle for navStartWait only.
	tr.event(&page.EventFrameRequestedNavigation{FrameID: "main"})
	now = now.Add(navStartWait + time.Millisecond)
	if q := tr.quietFor(); q <= navStartWait {
		t.Errorf("a navigation that never started still holds the tab: quiet for %s", q)
	}
}

// A refused Set-Cookie is kept without its value.
func TestRefusedCookieHasNoValue(t *testing.T) {
	var tr tracker
	tr.init(time.Now)
	tr.event(&network.EventRequestWillBeSent{RequestID: "r1", Type: network.ResourceTypeDocument, Request: &network.Request{Method: "POST", URL: "http://127.0.0.1:8080/login"}})
	tr.event(&network.EventResponseReceivedExtraInfo{RequestID: "r1", BlockedCookies: []*network.BlockedSetCookieWithReason{{
		BlockedReasons: []network.SetCookieBlockedReason{network.SetCookieBlockedReasonInvalidDomain},
		CookieLine:     "sid=s3cr3t-session-value; Path=/; Domain=app.example.com; HttpOnly",
	}}})
	s := &Session{}
	s.net.refused = tr.refused
	got := s.RefusedCookies()
	if len(got) != 1 {
		t.Fatalf("refused: %+v", got)
	}
	r := got[0]
	if r.Name != "sid" || r.URL != "http://127.0.0.1:8080/login" || len(r.Reasons) != 1 || r.Reasons[0] != "InvalidDomain" {
		t.Errorf("refused cookie: %+v", r)
	}
	if strings.Contains(r.SetCookie, "s3cr3t") || !strings.Contains(r.SetCookie, "Domain=app.example.com") {
		t.Errorf("SetCookie %q: want the attributes without the value", r.SetCookie)
	}
}
