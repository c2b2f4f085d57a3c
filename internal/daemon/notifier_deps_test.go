package daemon

import (
	"testing"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/notify/notifytest"
)

// TestNotifierDepsReasonLayer: notifiers learn a reason's layer from the
// reason table through Deps (notify does not import flows): every code of
// the table gives its layer, an unknown code "" (Alertmanager then keeps
// the event's own), and the notifier test kit's short table agrees with the
// real one, so what notifier tests assert about layers holds in the daemon.
func TestNotifierDepsReasonLayer(t *testing.T) {
	deps := notifierDeps(&Main{})
	if deps.ReasonLayer == nil {
		t.Fatal("notifierDeps gives no ReasonLayer")
	}
	for _, info := range flows.ReasonTable {
		if got := deps.ReasonLayer(string(info.Code)); got != string(info.Layer) {
			t.Errorf("ReasonLayer(%s) = %q, want %q", info.Code, got, info.Layer)
		}
	}
	if got := deps.ReasonLayer("no_such_reason"); got != "" {
		t.Errorf("ReasonLayer(no_such_reason) = %q, want \"\"", got)
	}
	kit, _ := notifytest.Deps(t, nil)
	compared := 0
	for _, ev := range notifytest.Events() {
		for _, code := range []string{ev.Reason, ev.PreviousReason} {
			got := kit.ReasonLayer(code)
			if got == "" {
				continue
			}
			compared++
			if got != deps.ReasonLayer(code) {
				t.Errorf("notifytest says %s is in layer %q, the reason table says %q", code, got, deps.ReasonLayer(code))
			}
		}
	}
	if compared == 0 {
		t.Error("notifytest's events carry no reason its ReasonLayer knows")
	}
}
