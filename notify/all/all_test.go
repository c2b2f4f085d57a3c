package all_test

import (
	"reflect"
	"testing"

	"github.com/authwatch/authwatch/notify"
	_ "github.com/authwatch/authwatch/notify/all"
)

// kinds is every kind authwatch ships; docs and the config schema list
// the same.
var kinds = []string{"alertmanager", "email", "log", "opsgenie", "pagerduty", "slack", "teams", "webhook"}

func TestEveryKindRegistered(t *testing.T) {
	want := ""
	for i, k := range kinds {
		if i > 0 {
			want += ", "
		}
		want += k
	}
	if got := notify.KindNames(); got != want {
		t.Errorf("registered kinds %q, want %q", got, want)
	}
}

// TestKindsWellFormed: a Doc, and NewConfig that makes a fresh config each
// time with no side effects (the loader makes one per notifier).
func TestKindsWellFormed(t *testing.T) {
	for _, name := range kinds {
		k, ok := notify.Lookup(name)
		if !ok {
			continue // reported above
		}
		if k.Name != name || k.Doc == "" || k.NewConfig == nil {
			t.Errorf("kind %s: %+v", name, k)
			continue
		}
		a, b := k.NewConfig(), k.NewConfig()
		// Pointers to zero-size settings (log's) may be equal, harmlessly.
		if a == nil || (a == b && reflect.TypeOf(a).Elem().Size() > 0) {
			t.Errorf("kind %s: NewConfig returned %p and %p", name, a, b)
		}
	}
}

// TestEmptySettings: every kind but log needs settings, and says which
// field, as a conf.FieldError the loader can place.
func TestEmptySettings(t *testing.T) {
	for _, name := range kinds {
		k, ok := notify.Lookup(name)
		if !ok {
			continue
		}
		err := k.NewConfig().Validate()
		if (err == nil) != (name == "log") {
			t.Errorf("kind %s: Validate of empty settings = %v", name, err)
		}
	}
}
