package demo

import (
	"time"

	"github.com/authwatch/authwatch/internal/incident"
)

// IncidentPolicy is the demo's alert policy: the default, except that the
// first failure opens an incident. The demo's broken flows fail on every
// run and the point is to show their incidents at once; a daemon waits for
// a second failure in a row (incident.DefaultPolicy) to skip blips.
func IncidentPolicy() incident.Policy {
	p := incident.DefaultPolicy()
	p.OpenAfter = 1
	return p
}

// NoReceivers withholds every incident event: the demo has no notifier,
// and its page says so ("withheld by …") instead of "notified".
type NoReceivers struct{}

// Muted mutes everything.
func (NoReceivers) Muted(map[string]string, time.Time) (bool, string) {
	return true, "the demo (it has no notifier)"
}
