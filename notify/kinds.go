package notify

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/authwatch/authwatch/internal/conf"
)

// Deps are what a notifier may use; the daemon provides them.
type Deps struct {
	HTTP    *http.Client      // shared, with sane timeouts; TLS verification on
	Secrets conf.SecretSource // resolves ${env:}, ${file:}, ${credential:} in configs, on every send
	Logger  *slog.Logger
	Now     func() time.Time
	// ReasonLayer is the layer the reason table (REASONS.md) gives a reason
	// code, "" for a code it does not have: the daemon passes
	// flows.ReasonLayer, so that notifiers need not import the flow engine.
	// An event carries its own reason's layer; Alertmanager needs that of an
	// updated incident's previous reason too. nil: the event's layer.
	ReasonLayer func(reason string) string
}

// Config is one kind's configuration, decoded strictly from authwatch.yaml.
//
// Lifecycle: the loader creates it with the kind's NewConfig (no side
// effects), decodes into it, calls Validate (FieldErrors with paths relative
// to the notifier's settings), then New once per (re)load.
type Config interface {
	Validate() error
	New(d Deps) (Notifier, error)
}

// Kind is one notifier kind.
type Kind struct {
	Name      string
	Doc       string
	NewConfig func() Config
}

// kinds is the one table of notifier kinds; each kind's package registers
// itself with Register from an init function, and cmd/authwatch imports
// every kind package (notify/all).
var kinds = map[string]Kind{}

// Register adds a kind; it panics on a duplicate name (a programming error
// found at start-up).
func Register(k Kind) {
	if _, dup := kinds[k.Name]; dup {
		panic("notify: kind registered twice: " + k.Name)
	}
	kinds[k.Name] = k
}

// Lookup returns a kind by name.
func Lookup(name string) (Kind, bool) {
	k, ok := kinds[name]
	return k, ok
}

// KindNames lists the registered kinds, sorted (for error messages).
func KindNames() string {
	names := make([]string, 0, len(kinds))
	for n := range kinds {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
