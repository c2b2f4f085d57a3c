package notifytest

import (
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/parser"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/notify"
)

// NewNotifier validates cfg and makes its notifier with Deps(t, env); it
// fails the test on an error of either.
func NewNotifier(t testing.TB, cfg notify.Config, env map[string]string) (notify.Notifier, *Log) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	d, log := Deps(t, env)
	n, err := cfg.New(d)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return n, log
}

// DecodeConfig decodes settings as the config loader does: into the
// kind's NewConfig, strictly, from a YAML node; then it validates them. The
// error is the decoding's, else Validate's.
func DecodeConfig(t testing.TB, kind, src string) (notify.Config, error) {
	t.Helper()
	f, err := parser.ParseBytes([]byte(src), 0)
	if err != nil {
		t.Fatalf("parsing %q: %v", src, err)
	}
	k, ok := notify.Lookup(kind)
	if !ok {
		t.Fatalf("kind %s is not registered", kind)
	}
	c := k.NewConfig()
	if err := conf.DecodeNode(f.Docs[0].Body, c); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// CheckConfig decodes src into cfg strictly (an unknown key fails the
// test; secret references are left to Validate, so its checks are the ones
// tested), validates it, and checks the error (CheckConfigError).
func CheckConfig(t testing.TB, cfg notify.Config, src string, want ...string) {
	t.Helper()
	if err := yaml.UnmarshalWithOptions([]byte(src), cfg, yaml.Strict()); err != nil {
		t.Fatalf("decode: %v", err)
	}
	CheckConfigError(t, cfg.Validate(), want...)
}

// CheckConfigError checks a config's error: nil when want holds nothing
// but "", else one holding every want. It must not echo a setting's text
// ("secretpart", the marker tests put in a malformed one) nor a canary.
func CheckConfigError(t testing.TB, err error, want ...string) {
	t.Helper()
	want = slices.DeleteFunc(want, func(w string) bool { return w == "" })
	switch {
	case len(want) == 0 && err != nil:
		t.Fatalf("Validate: %v", err)
	case len(want) > 0 && err == nil:
		t.Fatalf("Validate passed, want %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	if err != nil && strings.Contains(err.Error(), "secretpart") {
		t.Errorf("the error echoes the setting's text: %v", err)
	}
	CheckNoSecretInError(t, err)
}
