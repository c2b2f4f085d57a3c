package idp_test

import (
	"sync"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/demo/idp"
)

// testClock is a clock the test moves forward by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// The drift client's tokens last 5 minutes until DriftClientShortensAfter
// has passed on the IdP's clock, and 2 minutes from then on; the other
// clients' tokens keep their 5 minutes.
func TestDriftClientTokensShortenAfterTheSwitch(t *testing.T) {
	clock := &testClock{now: time.Now()}
	p, err := idp.Start(t.Context(), idp.Options{DriftClientShortensAfter: time.Minute, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	var d discovery
	getJSON(t, p.Issuer()+"/.well-known/openid-configuration", &d)
	lifetime := func(id, secret string) float64 {
		t.Helper()
		tok := mustToken(t, d.TokenEndpoint, id, secret, nil, idp.ScopeOrdersRead)
		_, c := verifiedJWT(t, d, tok.AccessToken)
		exp, _ := c["exp"].(float64)
		iat, _ := c["iat"].(float64)
		return exp - iat
	}
	// A second either way: the op reads the time for exp and iat apart.
	near := func(got, want float64) bool { return got >= want-1 && got <= want+1 }

	clock.Advance(time.Minute - time.Second)
	if got := lifetime(idp.DriftClientID, idp.DriftClientSecret); !near(got, 300) {
		t.Errorf("before the switch: drift client's token lasts %v s, want 300", got)
	}
	clock.Advance(time.Second)
	if got := lifetime(idp.DriftClientID, idp.DriftClientSecret); !near(got, 120) {
		t.Errorf("after the switch: drift client's token lasts %v s, want 120", got)
	}
	if got := lifetime(idp.OrdersClientID, idp.OrdersClientSecret); !near(got, 300) {
		t.Errorf("after the switch: orders client's token lasts %v s, want 300 (only the drift client changes)", got)
	}
}
